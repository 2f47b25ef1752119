"""What every ``hearth`` command shares: exit codes, output helpers, model choice."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO, TypeAlias

from app.core.errors import HearthError, InvalidModelFile

if TYPE_CHECKING:
    from app.core.library import ModelEntry
    from app.core.options import LoadOptions
    from app.core.settings import Settings
    from app.engine.client import EngineClient
    from app.main import Services

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


Commands: TypeAlias = "argparse._SubParsersAction[Parser]"
"""What each command module's ``register`` adds its parser to."""


class UsageError(HearthError):
    """The command line asked for something impossible (exit code 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"hearth: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def load_services() -> Services:
    from app.main import build_services

    return build_services()


def exit_code_for(error: HearthError) -> int:
    from app.core.errors import UnknownModel
    from app.core.remote import UnknownEndpoint
    from app.core.settings import InvalidSetting, UnknownSetting
    from app.store.errors import NotFound

    usage = (
        InvalidModelFile,
        UnknownModel,
        UnknownEndpoint,
        NotFound,
        UnknownSetting,
        InvalidSetting,
        UsageError,
    )
    return EXIT_USAGE if isinstance(error, usage) else EXIT_ERROR


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def human_count(count: int) -> str:
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    if count >= 1e6:
        return f"{count / 1e6:.0f}M"
    return str(count)


def chosen_model(services: Services, reference: str | None) -> ModelEntry:
    """``-m`` or the default model: valid, and allowed by the machine policy."""
    from app.core.library import require_model_permitted

    library = services.library
    entry = (
        library.resolve(reference)
        if reference
        else library.default(services.settings.default_model)
    )
    if entry.info is None:
        raise InvalidModelFile(str(entry.path), entry.error)
    require_model_permitted(entry, services.policy)
    return entry


@dataclass(frozen=True)
class OpenedModel:
    """A model to use from the command line, local or remote, with its engine."""

    id: str
    name: str
    location: str
    """The file, or the remote server's address."""
    settings: Settings
    options: LoadOptions
    client: EngineClient


def open_model(
    services: Services,
    reference: str | None,
    *,
    context_length: int | None = None,
    gpu_layers: int | None = None,
) -> OpenedModel:
    """``-m`` (a local id or path, or ``remote:...``) or the default, and an engine for it.

    ``context_length`` and ``gpu_layers`` (from the command line) override the settings.
    """
    import dataclasses

    from app.core.remote import is_remote_reference, resolve_target

    reference = reference or services.settings.default_model
    target = None
    if reference and is_remote_reference(reference):
        target, _ = resolve_target(
            reference, services.settings, services.policy, secrets=services.secrets
        )
        model_id, name, location = target.id, target.model, target.endpoint.base_url
        settings = services.settings.for_model(model_id)
        options = settings.load_options(target.model)
    else:
        entry = chosen_model(services, reference)
        model_id, name, location = entry.id, entry.name, str(entry.path)
        settings = services.settings.for_model(model_id)
        options = settings.load_options(location)
    try:
        options = dataclasses.replace(
            options,
            context_length=context_length or options.context_length,
            gpu_layers=options.gpu_layers if gpu_layers is None else gpu_layers,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    client = services.new_engine() if target is None else services.new_remote_engine(target)
    return OpenedModel(model_id, name, location, settings, options, client)


def load_opened(opened: OpenedModel, progress: Progress) -> None:
    """Load the model into its engine, showing progress on the terminal.

    Ctrl+C cancels the load and the ``KeyboardInterrupt`` goes on; a failed load raises
    its error. Either way the caller shuts the engine down.
    """
    from app.engine.protocol import LoadProgress

    load = opened.client.load(opened.options)
    try:
        for event in load.events():
            if isinstance(event, LoadProgress):
                progress.show(f"Loading {opened.name}", event.fraction)
    except KeyboardInterrupt:
        load.cancel()
        raise
    finally:
        progress.clear()
    finished = load.wait()
    if finished.error is not None:
        raise finished.error
    if finished.finish_reason == "cancelled":
        raise KeyboardInterrupt


class Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._shown = False

    def show(self, label: str, fraction: float) -> None:
        if not self._enabled:
            return
        self._stream.write(f"\r{label}… {fraction * 100:3.0f}%")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False


def print_rows(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        sys.stdout.write(f"{name + ':':<{width + 1}} {value}\n")


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
