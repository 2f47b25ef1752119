"""The ``hearth`` command line. Imports no Qt unless the GUI is asked for.

Each command lives in its own module with a ``register(commands)`` function that adds
its parser and sets ``run``, the function that carries it out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.cli import ask, classify, config, docs, history, hub, models, remote, serve, translate
from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    Parser,
    exit_code_for,
    load_services,
)
from app.core.errors import HearthError

Registrar = Callable[[Commands], None]

# The order here is the order in `hearth --help`.
COMMANDS: tuple[Registrar, ...] = (
    ask.register,
    docs.register,
    classify.register,
    translate.register,
    models.register,
    hub.register,
    serve.register,
    remote.register,
    config.register,
    history.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hearth",
        description="Run large language models privately on your workstation.",
    )
    parser.add_argument("--version", action="version", version=f"hearth {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _no_command(parser)
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    except HearthError as error:
        sys.stderr.write(f"hearth: error: {error.user_text()}\n")
        return exit_code_for(error)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `hearth ask ... | head -1`: the reader left; not an error for us.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _no_command(parser: argparse.ArgumentParser) -> int:
    """``hearth`` alone opens the window; without a screen it explains the alternatives."""
    if not _has_display():
        parser.print_help()
        sys.stdout.write(
            "\nNo display was found, so the desktop window cannot open here. "
            "In a terminal, try:\n"
            '  hearth ask "Translate to French: good morning"\n'
        )
        return EXIT_OK
    from app.main import run_gui

    return run_gui(load_services())


__all__ = ["EXIT_USAGE", "build_parser", "main"]
