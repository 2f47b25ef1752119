"""``hearth translate``: a text streamed, or many lines or a CSV column, translated."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.bulk import RateLine, add_input_arguments, add_model_arguments, load_model, read_items
from app.cli.common import EXIT_INTERRUPTED, EXIT_OK, Commands, UsageError, load_services
from app.tasks.inputs import InputError, Items, read_path, write_csv, write_file
from app.tasks.translate import (
    TranslateError,
    TranslateSpec,
    Translation,
    Translator,
    parse_glossary,
)


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "translate",
        help="translate a text, or each line or CSV cell, keeping paragraphs and fixed terms",
        description="Translate TEXT (streamed), or each line of --input or stdin, or a CSV "
        "column with --column. Paragraphs are kept; glossary terms get their fixed "
        "translation.",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the text ('-' reads stdin)")
    parser.add_argument("--to", required=True, metavar="LANG", help="target language")
    parser.add_argument("--from", dest="source", default="", metavar="LANG")
    add_model_arguments(parser)
    add_input_arguments(parser)
    parser.add_argument(
        "--glossary", type=Path, help="file of fixed terms: one 'term = translation' a line"
    )
    parser.add_argument(
        "--term",
        action="append",
        default=[],
        metavar="TERM=TRANSLATION",
        help="a fixed term translation (repeatable)",
    )
    parser.set_defaults(run=run_translate)


def spec_from(args: argparse.Namespace) -> TranslateSpec:
    try:
        lines: list[str] = []
        if args.glossary is not None:
            lines += read_path(args.glossary).splitlines()
        for term in args.term:
            if "=" not in term:
                raise UsageError(
                    f"Cannot read the term '{term}'.", "Write it as --term 'TERM=TRANSLATION'."
                )
            lines.append(term)
        return TranslateSpec(args.to, args.source, parse_glossary(lines)).validate()
    except (TranslateError, InputError) as error:
        raise UsageError(error.message, error.hint) from error


def run_translate(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    if args.text is not None and args.text != "-" and args.input is not None:
        raise UsageError("Give either TEXT or --input, not both.")
    single = args.text is not None and args.input is None and not args.column
    if single:
        text = sys.stdin.read() if args.text == "-" else args.text
        if not text.strip():
            raise UsageError("The text is empty.")
        items = Items((text,))
    else:
        items = read_items(args)
    services = load_services()
    from app.tasks.translate import EngineStreamer

    results: list[Translation] = []
    interrupted = False
    if any(t.strip() for t in items.texts):
        client, _entry = load_model(services, args)
        try:
            translator = Translator(EngineStreamer(client), spec)
            try:
                if single and args.output is None:
                    result = translator.translate(items.texts[0], _write)
                    sys.stdout.write("\n")
                    results = [] if result is None else [result]
                else:
                    rate = RateLine(len(items.texts))

                    def on_result(result: Translation) -> None:
                        results.append(result)  # kept if Ctrl+C stops the rest
                        rate.update(translator.stats.done)

                    try:
                        translator.translate_all(items.texts, on_result)
                    finally:
                        rate.clear()
            except KeyboardInterrupt:
                interrupted = True
                translator.cancel()
            interrupted = interrupted or translator.cancelled
        finally:
            client.shutdown()
    else:
        results = [Translation(i, t, t, empty=True) for i, t in enumerate(items.texts)]
    if not (single and args.output is None):
        _report(items, results, args)
    _notes(results, len(items.texts), interrupted)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _report(items: Items, results: list[Translation], args: argparse.Namespace) -> None:
    if args.output is not None:
        if items.header:
            column = f"{items.column} ({args.to})"
            header = [*items.header, column, "flags"]
            rows = [[*items.rows[r.index], r.text, _flags(r)] for r in results]
        else:
            header = ["text", "translation", "flags"]
            rows = [[r.source, r.text, _flags(r)] for r in results]
        try:
            write_file(args.output, write_csv(header, rows))
        except InputError as error:
            raise UsageError(error.message, error.hint) from error
        return
    for result in results:
        sys.stdout.write(result.text.replace("\n", " ") + "\n")
    sys.stdout.flush()


def _flags(result: Translation) -> str:
    flags = []
    if result.missed_terms:
        flags.append("glossary missed: " + "; ".join(result.missed_terms))
    if result.cut:
        flags.append("cut")
    if result.empty:
        flags.append("empty")
    return ", ".join(flags)


def _notes(results: list[Translation], total: int, interrupted: bool) -> None:
    missed = [r for r in results if r.missed_terms]
    for result in missed[:10]:
        terms = ", ".join(result.missed_terms)
        sys.stderr.write(
            f"hearth: note: item {result.index + 1}: the fixed translation of {terms} "
            "is not in the answer.\n"
        )
    cut = [r.index + 1 for r in results if r.cut]
    if cut:
        sys.stderr.write(f"hearth: note: {len(cut)} answer(s) hit the length limit.\n")
    if interrupted:
        sys.stderr.write(f"hearth: note: stopped after {len(results)} of {total} items.\n")
