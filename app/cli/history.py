"""``hearth history``: list and export saved conversations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.common import EXIT_OK, Commands, Parser, UsageError, load_services, print_json


def register(commands: Commands) -> None:
    history = commands.add_parser("history", help="list or export saved conversations")
    history_commands = history.add_subparsers(
        dest="history_command", metavar="ACTION", required=True, parser_class=Parser
    )
    history_list = history_commands.add_parser("list", help="list conversations, newest first")
    history_list.add_argument("--json", action="store_true")
    history_export = history_commands.add_parser("export", help="export one conversation")
    history_export.add_argument("id", type=int, metavar="ID")
    history_export.add_argument("--format", choices=("md", "json"), default="md")
    history_export.add_argument("-o", "--output", metavar="FILE", help="write to FILE")
    history.set_defaults(run=run_history)


def run_history(args: argparse.Namespace) -> int:
    services = load_services()
    from app.store.database import HISTORY_FILE, open_database
    from app.store.documents import DocumentStore
    from app.store.export import export_json, export_markdown
    from app.store.history import HistoryStore

    path = services.paths.data_dir / HISTORY_FILE
    if not path.exists():
        if args.history_command == "list":
            print_json([]) if args.json else sys.stdout.write("No conversations yet.\n")
            return EXIT_OK
        raise UsageError(f"There is no conversation {args.id}: no history has been saved yet.")
    # Read the file the GUI may be writing: never move, repair or migrate it from here.
    with open_database(path, recover=False, quick_check=False) as database:
        store = HistoryStore(database)
        if args.history_command == "list":
            summaries = store.list_conversations(limit=100_000)
            if args.json:
                print_json(
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
            documents = DocumentStore(database)
            data = export_json(store, args.id, documents)
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        else:
            text = export_markdown(store, args.id, DocumentStore(database))
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"Could not write {args.output}: {exc.strerror}.") from exc
        sys.stderr.write(f"hearth: exported conversation {args.id} to {args.output}\n")
    else:
        sys.stdout.write(text)
    return EXIT_OK
