"""``hearth serve``: the OpenAI-compatible API without a window."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from app.cli.common import EXIT_OK, Commands, UsageError, chosen_model, load_services


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("-m", "--model", help="model id from 'hearth models', or a .gguf path")
    serve.add_argument("--api-key-file", metavar="FILE", help="clients must send this key")
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients use to reach this server (repeatable; this machine's "
        "names and addresses are allowed already with --host 0.0.0.0)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page origin allowed to call the API (repeatable); default: none",
    )
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    services = load_services()
    from app.api.server import LOOPBACK_HOSTS, ApiConfig, create_app
    from app.core.network import WILDCARD_HOSTS, network_names
    from app.core.policy import require_api

    require_api(services.policy)
    key = None
    if args.api_key_file:
        try:
            key = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"Cannot read {args.api_key_file}: {exc.strerror}.") from exc
        if len(key) < 16:
            raise UsageError("The API key must be at least 16 characters long.")
    loopback = args.host in LOOPBACK_HOSTS
    if not loopback and key is None:
        raise UsageError(
            f"Refusing to listen on {args.host} without an API key: anyone on the network "
            "could use the model. Pass --api-key-file, or keep the default 127.0.0.1."
        )
    entry = chosen_model(services, args.model)
    settings = services.settings.for_model(entry.id)
    client = services.new_engine()
    try:
        loaded = client.load(settings.load_options(str(entry.path))).wait()
        if loaded.error is not None:
            raise loaded.error
        hosts = set(LOOPBACK_HOSTS) | {h.lower() for h in args.allowed_host}
        if not loopback:
            hosts.add(args.host.lower())
        if args.host in WILDCARD_HOSTS:
            # Clients reach it by this machine's names and addresses, not by "0.0.0.0".
            hosts |= network_names()[0]
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
