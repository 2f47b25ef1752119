"""``hearth classify``: one label per item, scored by the model, in input order."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.bulk import RateLine, add_input_arguments, add_model_arguments, load_model, read_items
from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Commands,
    UsageError,
    load_services,
    positive_int,
    print_json,
)
from app.tasks.classify import (
    Classification,
    Classifier,
    ClassifyOptions,
    Example,
    LabelError,
    LabelSet,
    parse_labels,
)
from app.tasks.inputs import InputError, Items, read_path, write_csv, write_file

RESULT_COLUMNS = ("label", "confidence", "alternatives", "flags")


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "classify",
        help="label many texts with one of your labels (lines, a file or a CSV column)",
        description="Label each item with one of the labels, scored from the model's "
        "probabilities (no free-form answers). Reads one item per line from --input or "
        "stdin, or a CSV column with --column. Rows in = rows out, in order.",
    )
    add_model_arguments(parser)
    parser.add_argument("--labels", help="comma-separated labels, e.g. positive,negative")
    parser.add_argument("--labels-file", type=Path, help="one 'label: description' a line")
    parser.add_argument(
        "--example",
        action="append",
        default=[],
        metavar="TEXT=LABEL",
        help="a worked example for the model (repeatable)",
    )
    parser.add_argument("--instruction", default="", help="extra guidance about the texts")
    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list, in input order")
    parser.add_argument("--multi-label", action="store_true", help="allow several labels")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.3,
        help="with --multi-label: the least probability a label needs (default 0.3)",
    )
    parser.add_argument(
        "--method",
        choices=("names", "letters"),
        default="names",
        help="score the label names (default) or option letters A, B, C",
    )
    parser.add_argument(
        "--no-calibrate", action="store_true", help="do not correct for the prompt's bias"
    )
    parser.add_argument(
        "--batch", type=positive_int, default=1, help="items per decode call (default 1)"
    )
    parser.add_argument(
        "--max-item-tokens", type=positive_int, help="cut longer items (they are flagged)"
    )
    parser.set_defaults(run=run_classify)


def label_set_from(args: argparse.Namespace) -> LabelSet:
    try:
        if args.labels_file is not None:
            if args.labels:
                raise UsageError("Give either --labels or --labels-file, not both.")
            base = parse_labels(read_path(args.labels_file))
        else:
            base = parse_labels(args.labels or "")
        examples = []
        for example in args.example:
            text, separator, label = example.rpartition("=")
            if not separator or not text.strip():
                raise UsageError(
                    f"Cannot read the example '{example}'.", "Write it as --example 'TEXT=LABEL'."
                )
            examples.append(Example(text.strip(), label.strip()))
        return LabelSet(base.labels, tuple(examples), args.instruction).validate()
    except (LabelError, InputError) as error:
        raise UsageError(error.message, error.hint) from error


def run_classify(args: argparse.Namespace) -> int:
    label_set = label_set_from(args)
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be between 0 and 1.")
    options = ClassifyOptions(
        method=args.method,
        calibrate=not args.no_calibrate,
        multi_label=args.multi_label,
        multi_threshold=args.threshold,
        items_per_decode=args.batch,
        max_item_tokens=args.max_item_tokens,
    )
    items = read_items(args)
    services = load_services()
    from app.tasks.scoring import scorer_for

    done: dict[int, Classification] = {}
    interrupted = False
    if items.texts:
        client, _entry = load_model(services, args)
        try:
            classifier = Classifier(scorer_for(client), label_set, options)
            rate = RateLine(len(items.texts))

            def on_result(result: Classification) -> None:
                done[result.index] = result
                rate.update(classifier.stats.done)

            try:
                classifier.run(list(items.texts), on_result)
            except KeyboardInterrupt:
                interrupted = True
                classifier.cancel()
            finally:
                rate.clear()
            interrupted = interrupted or classifier.cancelled
        finally:
            client.shutdown()
    # After an interruption: the rows that were finished, still in input order.
    results = [done[index] for index in sorted(done)]
    _report(items, results, args)
    _notes(results, len(items.texts), interrupted)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _alternatives(result: Classification) -> str:
    return "; ".join(f"{name} {p:.2f}" for name, p in result.alternatives)


def _confidence(result: Classification) -> str:
    return "" if result.confidence is None else f"{result.confidence:.3f}"


def _label(result: Classification, multi: bool) -> str:
    return "; ".join(result.labels) if multi and result.labels else result.label


def _report(items: Items, results: list[Classification], args: argparse.Namespace) -> None:
    multi = args.multi_label
    if args.output is not None:
        if items.header:
            header = [*items.header, *RESULT_COLUMNS]
            rows = [
                [
                    *items.rows[r.index],
                    _label(r, multi),
                    _confidence(r),
                    _alternatives(r),
                    ",".join(r.flags),
                ]
                for r in results
            ]
        else:
            header = ["text", *RESULT_COLUMNS]
            rows = [
                [r.text, _label(r, multi), _confidence(r), _alternatives(r), ",".join(r.flags)]
                for r in results
            ]
        try:
            write_file(args.output, write_csv(header, rows))
        except InputError as error:
            raise UsageError(error.message, error.hint) from error
    if args.json:
        print_json([_as_json(r, multi) for r in results])
    elif args.output is None:
        out = sys.stdout
        for r in results:
            text = r.text.replace("\t", " ")
            out.write(f"{_label(r, multi)}\t{_confidence(r)}\t{text}\n")
        out.flush()


def _as_json(result: Classification, multi: bool) -> dict[str, object]:
    value: dict[str, object] = {
        "index": result.index,
        "text": result.text,
        "label": result.label,
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "alternatives": [
            {"label": name, "confidence": round(p, 4)} for name, p in result.alternatives
        ],
        "truncated": result.truncated,
        "empty": result.empty,
    }
    if multi:
        value["labels"] = list(result.labels)
    return value


def _notes(results: list[Classification], total: int, interrupted: bool) -> None:
    empty = [r.index + 1 for r in results if r.empty]
    cut = [r.index + 1 for r in results if r.truncated]
    if empty:
        sys.stderr.write(
            f"hearth: note: {len(empty)} empty item(s) got no label (rows {_rows(empty)}).\n"
        )
    if cut:
        sys.stderr.write(
            f"hearth: note: {len(cut)} item(s) were cut to fit the context and flagged "
            f"'truncated' (rows {_rows(cut)}).\n"
        )
    if interrupted:
        sys.stderr.write(f"hearth: note: stopped after {len(results)} of {total} items.\n")


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (", …" if len(numbers) > 10 else "")
