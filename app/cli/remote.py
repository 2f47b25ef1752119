"""``hearth remote``: the OpenAI-compatible servers Hearth can use instead of a local model."""

from __future__ import annotations

import argparse
import sys

from app.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    Commands,
    Parser,
    UsageError,
    load_services,
    print_json,
)


def register(commands: Commands) -> None:
    remote = commands.add_parser("remote", help="use models on an OpenAI-compatible server")
    actions = remote.add_subparsers(
        dest="remote_command", metavar="ACTION", required=True, parser_class=Parser
    )
    add = actions.add_parser("add", help="add (or replace) an endpoint")
    add.add_argument("name", metavar="NAME", help="a short name, used as remote:NAME")
    add.add_argument("url", metavar="URL", help="base URL, e.g. http://gpu-box:8000/v1")
    add.add_argument("--model", help="the model to use when none is named")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--key-file", metavar="FILE", help="a file holding the API key")
    key.add_argument(
        "--key-stdin", action="store_true", help="read the API key from stdin into the keyring"
    )
    add.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    add.add_argument("--no-check", action="store_true", help="do not contact the server now")
    listing = actions.add_parser("list", help="configured endpoints")
    listing.add_argument("--json", action="store_true")
    remove = actions.add_parser("remove", help="forget an endpoint and its key")
    remove.add_argument("name", metavar="NAME")
    remote.set_defaults(run=run_remote)


def run_remote(args: argparse.Namespace) -> int:
    services = load_services()
    from app.core.policy import require_remote, require_unlocked
    from app.core.remote import RemoteHttp, UnknownEndpoint, secret_name
    from app.core.settings import RemoteEndpointEntry

    store = services.settings_store
    own = store.load()
    if args.remote_command == "list":
        rows = [
            {
                "name": e.name,
                "base_url": e.base_url,
                "default_model": e.default_model,
                "allowed": services.policy.endpoint_allowed(e.base_url),
            }
            for e in own.remotes
        ]
        if args.json:
            print_json(rows)
        elif not rows:
            sys.stdout.write("No remote endpoints. Add one: hearth remote add NAME URL\n")
        for row in [] if args.json else rows:
            note = "" if row["allowed"] else "  (blocked by your organization's policy)"
            model = f"  model {row['default_model']}" if row["default_model"] else ""
            sys.stdout.write(f"{row['name']}  {row['base_url']}{model}{note}\n")
        return EXIT_OK
    require_unlocked(services.policy, "remotes")
    if args.remote_command == "remove":
        kept = [e for e in own.remotes if e.name != args.name]
        if len(kept) == len(own.remotes):
            raise UnknownEndpoint(args.name, [e.name for e in own.remotes])
        store.save(own.model_copy(update={"remotes": kept}))
        services.secrets.delete(secret_name(args.name))
        sys.stdout.write(f"Removed the endpoint {args.name}.\n")
        return EXIT_OK

    if not args.url.startswith(("http://", "https://")):
        raise UsageError(
            f"'{args.url}' is not a server address.",
            "Give its base URL, e.g. http://gpu-box:8000/v1",
        )
    require_remote(services.policy, args.url)
    try:
        endpoint = RemoteEndpointEntry(
            name=args.name,
            base_url=args.url,
            default_model=args.model,
            api_key_file=args.key_file,
            timeout_s=args.timeout,
        )
    except ValueError as exc:
        raise UsageError(f"Invalid endpoint: {_first_error(exc)}") from exc
    key = None
    if args.key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise UsageError("No key was given on stdin.")
        if services.secrets.status != "keyring":
            raise UsageError(
                "There is no system keyring to keep the key in. Put the key in a file only "
                "you can read and use --key-file FILE instead."
            )
    code = EXIT_OK
    if not args.no_check:
        http = RemoteHttp(endpoint, services.secrets, key=key)
        try:
            served = http.list_models()
        finally:
            http.close()
        if args.model and served and args.model not in served:
            sys.stderr.write(
                f"hearth: warning: {args.url} does not list the model {args.model} "
                f"(it serves: {', '.join(served[:10])}).\n"
            )
            code = EXIT_ERROR
        sys.stdout.write(f"{args.name}: reachable, {len(served)} model(s): ")
        sys.stdout.write(", ".join(served[:10]) + "\n")
    if key is not None:
        services.secrets.set(secret_name(args.name), key)
    else:
        previous = next((e for e in own.remotes if e.name == args.name), None)
        if previous is not None and previous.base_url.rstrip("/") != args.url.rstrip("/"):
            # A key stored for the old address must not go to a new server unasked.
            services.secrets.delete(secret_name(args.name))
    kept = [e for e in own.remotes if e.name != args.name]
    store.save(own.model_copy(update={"remotes": [*kept, endpoint]}))
    sys.stdout.write(f'Saved. Use it with: hearth ask -m remote:{args.name} "..."\n')
    return code


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}".lower()
    return str(exc)
