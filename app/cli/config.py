"""``hearth config`` and ``hearth policy``."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.common import EXIT_OK, Commands, Parser, load_services, print_json, print_rows


def register(commands: Commands) -> None:
    config = commands.add_parser("config", help="show or change settings")
    config_commands = config.add_subparsers(
        dest="config_command", metavar="ACTION", required=True, parser_class=Parser
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
        dest="policy_command", metavar="ACTION", required=True, parser_class=Parser
    )
    policy_show = policy_commands.add_parser("show", help="the effective policy and its file")
    policy_show.add_argument("--json", action="store_true")
    config.set_defaults(run=run_config)
    policy.set_defaults(run=run_policy)


def run_config(args: argparse.Namespace) -> int:
    services = load_services()
    from app.core.settings import get_setting, setting_keys, with_setting

    settings, policy = services.settings, services.policy
    model_id = args.model
    if model_id:
        model_id = services.library.resolve(model_id).id  # a prefix or a path works too
        settings = settings.for_model(model_id)
    if args.config_command == "list":
        rows = [(key, get_setting(settings, key), policy.is_locked(key)) for key in setting_keys()]
        if args.json:
            print_json(
                [{"key": key, "value": value, "managed": managed} for key, value, managed in rows]
            )
        else:
            width = max(len(key) for key, _, _ in rows)
            for key, value, managed in rows:
                note = "  (managed by your organization)" if managed else ""
                sys.stdout.write(f"{key:<{width}}  {json.dumps(value)}{note}\n")
        return EXIT_OK
    if args.config_command == "get":
        print_json(get_setting(settings, args.key))
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


def run_policy(args: argparse.Namespace) -> int:
    services = load_services()
    policy = services.policy
    if args.json:
        print_json(policy.as_json())
    else:
        print_rows(policy.describe())
    return EXIT_OK
