"""What ``hearth classify`` and ``hearth translate`` share: items in, a model, progress."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app.cli.common import (
    OpenedModel,
    Progress,
    UsageError,
    load_opened,
    open_model,
    positive_int,
)
from app.tasks.inputs import InputError, Items, decode_text, parse_csv, parse_lines, read_path

if TYPE_CHECKING:
    from app.engine.client import EngineClient
    from app.main import Services


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", help="model id from 'hearth models', or a .gguf path")
    parser.add_argument("--context-length", type=positive_int, help="context window in tokens")
    parser.add_argument("--gpu-layers", type=int, help="layers to offload: -1 all, 0 none")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", type=Path, help="text file (one item per line) or CSV file; default: stdin"
    )
    parser.add_argument("--column", help="read the items from this CSV column")
    parser.add_argument("--output", type=Path, help="write the results to this CSV file")


def read_items(args: argparse.Namespace, stdin: TextIO | None = None) -> Items:
    try:
        if args.input is not None:
            text = read_path(args.input)
            name = str(args.input)
        else:
            stream = stdin or sys.stdin
            buffer = getattr(stream, "buffer", None)
            text = decode_text(buffer.read(), "stdin") if buffer else stream.read()
            name = "stdin"
        if args.column:
            return parse_csv(text, args.column, name)
        return parse_lines(text)
    except InputError as error:
        raise UsageError(error.message, error.hint) from error


def load_model(services: Services, args: argparse.Namespace) -> tuple[EngineClient, OpenedModel]:
    """A new engine with the chosen model (local or remote) loaded; the caller shuts it down."""
    opened = open_model(
        services, args.model, context_length=args.context_length, gpu_layers=args.gpu_layers
    )
    try:
        load_opened(opened, Progress(sys.stderr, enabled=sys.stderr.isatty()))
    except BaseException:
        opened.client.shutdown()
        raise
    return opened.client, opened


class RateLine(Progress):
    """``done/total, items/s, ETA`` on one terminal line; silent when not a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr
        super().__init__(stream, enabled=stream.isatty())
        self._total = total
        self._started = time.perf_counter()
        self._last = 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self._enabled or (now - self._last < 0.2 and done < self._total):
            return
        self._last = now
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {(self._total - done) / rate:.0f} s" if rate > 0 else ""
        self._stream.write(f"\r{done}/{self._total} items, {rate:.1f} items/s{eta}\033[K")
        self._stream.flush()
        self._shown = True
