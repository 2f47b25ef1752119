"""Read what a GGUF model file says about itself, without loading it.

The file is untrusted: a partial download, a renamed HTML page, a bit-flipped copy or a
crafted file. Every count and length is checked against hard caps and against the bytes
left in the file before anything is allocated or looped over, so inspection is fast and
bounded, and every defect becomes ``InvalidModelFile`` with a specific one-line reason.

We parse the header ourselves rather than through ``gguf.GGUFReader``: that reader maps
the whole file and fails on bad input with generic numpy/struct errors. From ``gguf`` we
take only constants (type ids, block sizes, file type names).

Format (little-endian): magic ``GGUF``, u32 version, u64 tensor count, u64 metadata
count, metadata entries (string key, u32 type, value), tensor infos (string name, u32
dims, u64 shape[dims], u32 type, u64 offset), padding to the alignment, tensor data.
"""

from __future__ import annotations

import itertools
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from app.core.errors import InvalidModelFile

__all__ = ["SUPPORTED_ARCHITECTURES", "GgufInfo", "inspect_gguf"]

# Caps far above any real model (the largest vocabularies are ~260k tokens, the largest
# models ~2k tensors and ~50 metadata keys) yet small enough that a hostile header can
# neither exhaust memory nor keep us walking for long.
MAX_KV_COUNT = 65_536
MAX_TENSOR_COUNT = 100_000
MAX_ARRAY_LENGTH = 16 * 1024 * 1024
MAX_STRING_BYTES = 16 * 1024 * 1024  # one string, kept or skipped
MAX_KEPT_STRING_BYTES = 64 * 1024 * 1024  # all keys and string values we keep, together
MAX_KEY_BYTES = 4096
MAX_TENSOR_NAME_BYTES = 256
MAX_HEADER_BYTES = 128 * 1024 * 1024  # everything before the tensor data
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSOR_ELEMENTS = 1 << 48
METADATA_STRING_CAP = 1024  # characters of a string shown in GgufInfo.metadata

_MAGIC = b"GGUF"
_SUPPORTED_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
_FILE_TYPE_GUESSED = 1024  # llama.cpp ORs this flag in when it guessed the file type
_CHUNK = 1024 * 1024

# Smallest possible encodings, to reject a count that cannot fit in the bytes left.
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, 1-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, 0 dims, type, offset

SUPPORTED_ARCHITECTURES: frozenset[str] = frozenset(
    # LLM_ARCH_NAMES in llama.cpp src/llama-arch.cpp, without the "clip" placeholder
    # (vision projectors are not models on their own) and "(unknown)".
    {
        "llama", "llama4", "deci", "falcon", "grok", "gpt2", "gptj", "gptneox", "mpt",
        "baichuan", "starcoder", "refact", "bert", "modern-bert", "nomic-bert",
        "nomic-bert-moe", "neo-bert", "jina-bert-v2", "jina-bert-v3", "eurobert", "bloom",
        "stablelm", "qwen", "qwen2", "qwen2moe", "qwen2vl", "qwen3", "qwen3moe", "qwen3next",
        "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe", "phi2", "phi3", "phimoe", "plamo",
        "plamo2", "plamo3", "codeshell", "orion", "internlm2", "minicpm", "minicpm3",
        "gemma", "gemma2", "gemma3", "gemma3n", "gemma4", "gemma4-assistant",
        "gemma-embedding", "starcoder2", "mamba", "mamba2", "jamba", "falcon-h1", "xverse",
        "command-r", "cohere2", "cohere2moe", "dbrx", "olmo", "olmo2", "olmoe", "openelm",
        "arctic", "deepseek", "deepseek2", "deepseek2-ocr", "deepseek32", "deepseek4",
        "chatglm", "glm4", "glm4moe", "glm-dsa", "bitnet", "t5", "t5encoder", "jais",
        "jais2", "nemotron", "nemotron_h", "nemotron_h_moe", "exaone", "exaone4",
        "exaone-moe", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7", "granite", "granitemoe",
        "granitehybrid", "chameleon", "wavtokenizer-dec", "plm", "bailingmoe", "bailingmoe2",
        "dots1", "arcee", "afmoe", "laguna", "ernie4_5", "ernie4_5-moe", "hunyuan-moe",
        "hunyuan-dense", "hunyuan_vl", "hy_v3", "smollm3", "gpt-oss", "lfm2", "lfm2moe",
        "dream", "smallthinker", "llada", "llada-moe", "seed_oss", "grovemoe", "apertus",
        "minimax-m2", "cogvlm", "rnd1", "pangu-embedded", "mistral3", "eagle3", "dflash",
        "mistral4", "paddleocr", "mimo2", "step35", "llama-embed", "maincoder",
        "kimi-linear", "talkie", "mellum",
    }
)  # fmt: skip

# GGUF value types: id -> (struct for scalars, short name for summaries).
_STRING, _ARRAY = 8, 9
_SCALARS: dict[int, tuple[struct.Struct, str]] = {
    0: (struct.Struct("<B"), "u8"),
    1: (struct.Struct("<b"), "i8"),
    2: (struct.Struct("<H"), "u16"),
    3: (struct.Struct("<h"), "i16"),
    4: (struct.Struct("<I"), "u32"),
    5: (struct.Struct("<i"), "i32"),
    6: (struct.Struct("<f"), "f32"),
    7: (struct.Struct("<B"), "bool"),
    10: (struct.Struct("<Q"), "u64"),
    11: (struct.Struct("<q"), "i64"),
    12: (struct.Struct("<d"), "f64"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# ggml tensor type id -> (name, elements per block, bytes per block).
_TENSOR_TYPES: dict[int, tuple[str, int, int]] = {
    int(t): (t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType if t in GGML_QUANT_SIZES
}

# First bytes of things people download by mistake, to say what the file is instead.
_KNOWN_MAGICS: dict[bytes, str] = {
    b"lmgg": "legacy GGML file; convert it to GGUF",
    b"fmgg": "legacy GGMF file; convert it to GGUF",
    b"tjgg": "legacy GGJT file; convert it to GGUF",
    b"<!DO": "looks like an HTML page",
    b"<htm": "looks like an HTML page",
    b"vers": "looks like a Git LFS pointer, not the model itself",
    b"PK\x03\x04": "looks like a ZIP archive",
}

Scalar = str | int | float | bool


@dataclass(frozen=True)
class GgufInfo:
    """What a GGUF file's header says, checked for consistency with the file's size."""

    path: str
    file_size: int
    version: int
    architecture: str
    name: str | None
    license: str | None
    parameter_count: int
    file_type: int | None
    quantization: str
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    tokenizer_model: str | None
    vocab_size: int | None
    chat_template: str | None
    bos_token_id: int | None
    eos_token_id: int | None
    tensor_count: int
    alignment: int
    data_offset: int
    expected_size: int
    # Scalars as stored, long strings cut, arrays summarised as "[array of N type]".
    metadata: Mapping[str, Scalar] = field(hash=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def size_mismatch(self) -> int:
        """Bytes after the last tensor's data: 0 for a normal file, > 0 for trailing data."""
        return self.file_size - self.expected_size


class _Invalid(Exception):
    """A reason, raised deep in the parser; ``inspect_gguf`` adds the path."""


def _show(text: str, limit: int = 80) -> str:
    """Quote text from the file for a one-line reason: escaped, and not too long."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


class _Reader:
    """Sequential little-endian reads over a file, bounded by its size and the header cap.

    Buffers in large chunks itself so that walking tens of thousands of short strings
    (token lists, merges) costs a few reads, not one per string.
    """

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self.size = size
        self._buf = b""
        self._start = 0  # file offset of _buf[0]; the file is positioned at its end
        self._i = 0

    @property
    def pos(self) -> int:
        return self._start + self._i

    def remaining(self) -> int:
        return self.size - self.pos

    def _check_span(self, n: int) -> None:
        if n > self.remaining():
            raise _Invalid(f"header truncated at offset {self.pos}")
        if self.pos + n > MAX_HEADER_BYTES:
            raise _Invalid(f"header larger than {MAX_HEADER_BYTES} bytes")

    def _fill(self, n: int) -> None:
        if len(self._buf) - self._i >= n:
            return
        self._check_span(n)
        have = self._buf[self._i :]
        # Never buffer past the cap, so the fast paths that stay in the buffer respect it.
        room = MAX_HEADER_BYTES - self.pos - len(have)
        more = self._file.read(max(n - len(have), min(_CHUNK, room)))
        self._start, self._i = self.pos, 0
        self._buf = have + more
        if len(self._buf) < n:  # the file shrank while we read it
            raise _Invalid(f"header truncated at offset {self.pos}")

    def take(self, n: int) -> bytes:
        self._fill(n)
        data = self._buf[self._i : self._i + n]
        self._i += n
        return data

    def unpack(self, fmt: struct.Struct) -> int | float:
        self._fill(fmt.size)
        (value,) = fmt.unpack_from(self._buf, self._i)
        self._i += fmt.size
        return value  # type: ignore[no-any-return]

    def u32(self) -> int:
        return int(self.unpack(_U32))

    def u64(self) -> int:
        return int(self.unpack(_U64))

    def skip(self, n: int) -> None:
        if len(self._buf) - self._i >= n:
            self._i += n
            return
        self._check_span(n)
        target = self.pos + n
        self._file.seek(target)
        self._buf, self._start, self._i = b"", target, 0

    def string_length(self, what: str) -> int:
        n = self.u64()
        if n > MAX_STRING_BYTES:
            raise _Invalid(f"{what} of {n} bytes exceeds limit")
        return n

    def skip_strings(self, count: int) -> None:
        """Walk ``count`` length-prefixed strings without keeping them."""
        unpack_u64 = _U64.unpack_from
        while count:
            # Fast path: both the length and the bytes are already buffered.
            buf, i = self._buf, self._i
            end = len(buf)
            while count and i + 8 <= end:
                (n,) = unpack_u64(buf, i)
                if n > MAX_STRING_BYTES:
                    self._i = i
                    raise _Invalid(f"string of {n} bytes exceeds limit")
                j = i + 8 + n
                if j > end:
                    break
                i = j
                count -= 1
            self._i = i
            if count:
                self.skip(self.string_length("string"))
                count -= 1


def _require_room(reader: _Reader, count: int, min_bytes: int, what: str) -> None:
    if count * min_bytes > reader.remaining():
        raise _Invalid(
            f"header truncated: {count} {what} need at least {count * min_bytes} bytes, "
            f"{reader.remaining()} left at offset {reader.pos}"
        )


def _read_text(reader: _Reader, n: int, what: str, strict: bool) -> str:
    at = reader.pos
    raw = reader.take(n)
    try:
        return raw.decode("utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError:
        raise _Invalid(f"invalid UTF-8 in {what} at offset {at}") from None


@dataclass
class _Metadata:
    values: dict[str, Scalar] = field(default_factory=dict)
    arrays: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (type, length)
    kept_bytes: int = 0


def _read_metadata(reader: _Reader, count: int) -> _Metadata:
    meta = _Metadata()
    for _ in range(count):
        n = reader.u64()
        if n > MAX_KEY_BYTES:
            raise _Invalid(f"key of {n} bytes exceeds limit")
        key = _read_text(reader, n, "key", strict=True)
        if key in meta.values or key in meta.arrays:
            raise _Invalid(f"duplicate key {_show(key)}")
        vtype = reader.u32()
        if vtype == _ARRAY:
            meta.arrays[key] = _skip_array(reader, key)
        else:
            meta.values[key] = _read_scalar(reader, vtype, key, meta)
        meta.kept_bytes += n
        if meta.kept_bytes > MAX_KEPT_STRING_BYTES:
            raise _Invalid(f"metadata strings exceed {MAX_KEPT_STRING_BYTES >> 20} MiB")
    return meta


def _read_scalar(reader: _Reader, vtype: int, key: str, meta: _Metadata) -> Scalar:
    if vtype == _STRING:
        n = reader.string_length("string")
        meta.kept_bytes += n
        # Values are shown, not parsed: a stray bad byte in a description should not
        # make an otherwise loadable model unusable.
        return _read_text(reader, n, f"value of {_show(key)}", strict=False)
    if vtype not in _SCALARS:
        raise _Invalid(f"unknown value type {vtype} for key {_show(key)}")
    fmt, type_name = _SCALARS[vtype]
    value = reader.unpack(fmt)
    return bool(value) if type_name == "bool" else value


def _skip_array(reader: _Reader, key: str) -> tuple[str, int]:
    etype = reader.u32()
    length = reader.u64()
    if length > MAX_ARRAY_LENGTH:
        raise _Invalid(f"array {_show(key)} of {length} elements exceeds limit")
    if etype == _STRING:
        _require_room(reader, length, 8, f"strings in {_show(key)}")
        reader.skip_strings(length)
        return "str", length
    if etype == _ARRAY:
        raise _Invalid(f"nested array in {_show(key)} is not supported")
    if etype not in _SCALARS:
        raise _Invalid(f"unknown array element type {etype} for key {_show(key)}")
    fmt, type_name = _SCALARS[etype]
    reader.skip(length * fmt.size)
    return type_name, length


@dataclass(frozen=True)
class _Tensor:
    name: str
    type_id: int
    elements: int
    offset: int  # relative to the start of tensor data
    nbytes: int


def _read_tensor_info(reader: _Reader, alignment: int) -> _Tensor:
    n = reader.u64()
    if n > MAX_TENSOR_NAME_BYTES:
        raise _Invalid(f"tensor name of {n} bytes exceeds limit")
    name = _read_text(reader, n, "tensor name", strict=True)
    n_dims = reader.u32()
    if n_dims > MAX_DIMS:
        raise _Invalid(f"tensor {_show(name)} has {n_dims} dimensions (max {MAX_DIMS})")
    shape = [reader.u64() for _ in range(n_dims)]
    elements = 1
    for dim in shape:
        elements *= dim
        if elements > MAX_TENSOR_ELEMENTS:  # checked per step: the product can be vast
            raise _Invalid(f"tensor {_show(name)} has absurd shape {shape}")
    type_id = reader.u32()
    offset = reader.u64()
    if type_id not in _TENSOR_TYPES:
        raise _Invalid(f"unknown tensor type {type_id} (tensor {_show(name)})")
    type_name, block, block_bytes = _TENSOR_TYPES[type_id]
    # ggml quantizes along rows, so the row length (not just the total) must fill blocks.
    row = shape[0] if shape else 1
    if row % block:
        raise _Invalid(
            f"tensor {_show(name)} row of {row} elements is not a multiple of the "
            f"{type_name} block size {block}"
        )
    if offset % alignment:
        raise _Invalid(f"tensor {_show(name)} offset {offset} not aligned to {alignment}")
    return _Tensor(name, type_id, elements, offset, elements // block * block_bytes)


def _read_tensors(reader: _Reader, count: int, alignment: int) -> list[_Tensor]:
    tensors: list[_Tensor] = []
    names: set[str] = set()
    for _ in range(count):
        tensor = _read_tensor_info(reader, alignment)
        if tensor.name in names:
            raise _Invalid(f"duplicate tensor {_show(tensor.name)}")
        names.add(tensor.name)
        tensors.append(tensor)
    by_offset = sorted(tensors, key=lambda t: (t.offset, t.nbytes))
    for before, after in itertools.pairwise(by_offset):
        if after.offset < before.offset + before.nbytes:
            raise _Invalid(f"overlapping tensors {_show(before.name)} and {_show(after.name)}")
    return tensors


def _alignment(meta: _Metadata) -> int:
    if "general.alignment" in meta.arrays:
        raise _Invalid("general.alignment is an array")
    value = meta.values.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(f"general.alignment is not an integer ({_show(str(value))})")
    if value <= 0 or value & (value - 1):
        raise _Invalid(f"bad alignment {value} (must be a power of two)")
    return value


def _architecture(meta: _Metadata) -> str:
    arch = meta.values.get("general.architecture")
    if arch is None and "general.architecture" not in meta.arrays:
        raise _Invalid("missing general.architecture")
    if not isinstance(arch, str):
        raise _Invalid("general.architecture is not a string")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise _Invalid(f"unsupported architecture {_show(arch)}")
    return arch


def _quantization(file_type: int | None, tensors: list[_Tensor]) -> str:
    if file_type is not None:
        try:
            name = LlamaFileType(file_type & ~_FILE_TYPE_GUESSED).name
        except ValueError:
            name = ""  # a type newer than our gguf package, or junk: use the tensors
        if name == "ALL_F32":
            return "F32"
        if name.startswith("MOSTLY_"):
            return name.removeprefix("MOSTLY_")
    by_type: dict[int, int] = {}
    for tensor in tensors:
        by_type[tensor.type_id] = by_type.get(tensor.type_id, 0) + tensor.nbytes
    dominant = max(by_type, key=lambda t: by_type[t])
    return _TENSOR_TYPES[dominant][0]


def _summary(meta: _Metadata) -> Mapping[str, Scalar]:
    out: dict[str, Scalar] = {}
    for key, value in meta.values.items():
        if isinstance(value, str) and len(value) > METADATA_STRING_CAP:
            out[key] = value[:METADATA_STRING_CAP] + "…"
        else:
            out[key] = value
    for key, (type_name, length) in meta.arrays.items():
        out[key] = f"[array of {length} {type_name}]"
    return MappingProxyType(out)


def _read_version(reader: _Reader) -> int:
    version = reader.u32()
    if version in _SUPPORTED_VERSIONS:
        return version
    # The magic reads the same either way; only the numbers give big-endian away.
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if swapped in (1, *_SUPPORTED_VERSIONS):
        raise _Invalid("big-endian GGUF is not supported")
    raise _Invalid(f"unsupported GGUF version {version}")


def _read_magic(reader: _Reader) -> None:
    magic = reader.take(min(4, reader.size))
    if magic == _MAGIC:
        return
    if _MAGIC.startswith(magic):
        raise _Invalid(f"header truncated at offset {len(magic)}")
    known = next((why for head, why in _KNOWN_MAGICS.items() if magic.startswith(head)), None)
    raise _Invalid(f"not a GGUF file (magic {magic!r}" + (f"; {known})" if known else ")"))


def _parse(file: BinaryIO, path: str, size: int) -> GgufInfo:
    reader = _Reader(file, size)
    _read_magic(reader)
    version = _read_version(reader)
    tensor_count = reader.u64()
    kv_count = reader.u64()
    if tensor_count > MAX_TENSOR_COUNT:
        raise _Invalid(f"absurd tensor count {tensor_count}")
    if kv_count > MAX_KV_COUNT:
        raise _Invalid(f"absurd metadata count {kv_count}")
    _require_room(reader, kv_count, _MIN_KV_BYTES, "metadata entries")
    meta = _read_metadata(reader, kv_count)
    arch = _architecture(meta)
    alignment = _alignment(meta)
    if tensor_count == 0:
        raise _Invalid("no tensors (a vocabulary-only file?)")
    _require_room(reader, tensor_count, _MIN_TENSOR_INFO_BYTES, "tensor infos")
    tensors = _read_tensors(reader, tensor_count, alignment)

    data_offset = -(-reader.pos // alignment) * alignment
    expected_size = data_offset + max(t.offset + t.nbytes for t in tensors)
    if size < expected_size:
        raise _Invalid(f"truncated: {expected_size - size} bytes missing")

    values = meta.values

    def text(key: str) -> str | None:
        value = values.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int | None:
        value = values.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    tokens = meta.arrays.get("tokenizer.ggml.tokens")
    file_type = number("general.file_type")
    return GgufInfo(
        path=path,
        file_size=size,
        version=version,
        architecture=arch,
        name=text("general.name"),
        license=text("general.license"),
        parameter_count=sum(t.elements for t in tensors),
        file_type=file_type,
        quantization=_quantization(file_type, tensors),
        context_length=number(f"{arch}.context_length"),
        block_count=number(f"{arch}.block_count"),
        embedding_length=number(f"{arch}.embedding_length"),
        head_count=number(f"{arch}.attention.head_count"),
        head_count_kv=number(f"{arch}.attention.head_count_kv"),
        tokenizer_model=text("tokenizer.ggml.model"),
        vocab_size=tokens[1] if tokens and tokens[0] == "str" else None,
        chat_template=text("tokenizer.chat_template"),
        bos_token_id=number("tokenizer.ggml.bos_token_id"),
        eos_token_id=number("tokenizer.ggml.eos_token_id"),
        tensor_count=tensor_count,
        alignment=alignment,
        data_offset=data_offset,
        expected_size=expected_size,
        metadata=_summary(meta),
    )


def inspect_gguf(path: str | os.PathLike[str]) -> GgufInfo:
    """Read and check a GGUF file's header. Raises ``InvalidModelFile`` with the cause."""
    shown = os.fspath(path)
    try:
        # stat first: opening a FIFO or device for reading could block forever.
        mode = os.stat(shown).st_mode
    except ValueError:  # e.g. an embedded NUL byte
        raise InvalidModelFile(shown, "invalid path") from None
    except FileNotFoundError:
        raise InvalidModelFile(shown, "file not found") from None
    except PermissionError:  # a folder on the way is closed to us
        raise InvalidModelFile(shown, "permission denied") from None
    except OSError as error:
        raise InvalidModelFile(shown, f"cannot read file: {error.strerror or error}") from None
    try:
        if stat.S_ISDIR(mode):
            raise _Invalid("is a directory")
        if not stat.S_ISREG(mode):
            raise _Invalid("not a regular file")
        with open(shown, "rb", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                raise _Invalid("empty file")
            return _parse(file, shown, size)
    except _Invalid as invalid:
        raise InvalidModelFile(shown, str(invalid)) from None
    except FileNotFoundError:
        raise InvalidModelFile(shown, "file not found") from None
    except IsADirectoryError:
        raise InvalidModelFile(shown, "is a directory") from None
    except PermissionError:
        raise InvalidModelFile(shown, "permission denied") from None
    except OSError as error:
        raise InvalidModelFile(shown, f"cannot read file: {error.strerror or error}") from None
