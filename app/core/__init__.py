"""Pure-Python core: types, errors, paths, GGUF inspection, model library, prompting."""
