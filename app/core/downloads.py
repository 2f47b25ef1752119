"""Verified, resumable model downloads from the Hugging Face Hub into the models folder.

One worker thread per download streams the file through huggingface_hub's HTTP session
(its headers, token handling and error mapping) into a ``.part`` file kept with a small
state file under ``MODELS/.downloads/ID/``:

* a dropped connection is retried from where it stopped (HTTP ``Range``), a few times;
* pause keeps the ``.part``; resume continues it, also after Hearth restarted
  (``DownloadManager.restore``);
* the sha256 is computed while the bytes arrive (after a resume, the bytes already on
  disk are hashed first) and must equal the Hub's LFS hash; only then is the file
  renamed into the models folder (same file system, so the rename is atomic). A mismatch
  deletes the download and says so. Nothing half-written ever carries a ``.gguf`` name;
* free disk space is checked before starting; a full disk fails the download cleanly;
* the machine policy may forbid downloads or a repository/file.

Each finished model gets a ``.NAME.origin.json`` next to it (repository, revision, sha256),
which ``check_update`` compares with the Hub's current revision.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import httpx2
from huggingface_hub import get_session, hf_raise_for_status
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from app import __version__
from app.core.errors import HearthError
from app.core.hub import HubClient, HubError, HubFile
from app.core.policy import Policy, require_downloads, require_model_allowed

log = logging.getLogger(__name__)

State = Literal["queued", "downloading", "paused", "verifying", "done", "failed", "cancelled"]
FINISHED: tuple[State, ...] = ("done", "failed", "cancelled")

CHUNK = 1024 * 1024
NETWORK_CHUNK = 64 * 1024
"""Small enough that a dropped connection loses little of what already arrived."""
SPACE_MARGIN = 256 * 1024 * 1024
"""Free space left over after a download, for the system and other programs."""
RETRIES = 5
RETRY_WAIT_S = (0.5, 1.0, 2.0, 4.0, 8.0)
PROGRESS_INTERVAL_S = 0.1
STATE_DIR = ".downloads"


class NotEnoughSpace(HearthError):
    def __init__(self, folder: Path, needed: int, free: int) -> None:
        super().__init__(
            f"Not enough disk space in {folder}: the download needs {needed / 1e9:.1f} GB "
            f"and {free / 1e9:.1f} GB are free.",
            "Free some space, or choose another models folder in Settings.",
        )
        self.needed = needed
        self.free = free


class ChecksumMismatch(HearthError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{name} does not match the Hub's checksum (expected sha256 {expected[:12]}..., "
            f"got {actual[:12]}...); the download was deleted.",
            "Download it again; if it fails again, the file on the Hub or the connection "
            "is damaged.",
        )
        self.expected = expected
        self.actual = actual


class UnverifiedFileInvalid(HearthError):
    """A file the Hub gave no checksum for, and which is not a readable GGUF model."""


def _check_unverified(part: Path, name: str) -> None:
    # Without the Hub's sha256, at least refuse what is plainly not a model.
    from app.core.errors import InvalidModelFile
    from app.core.gguf_inspect import inspect_gguf

    try:
        inspect_gguf(part)
    except InvalidModelFile as exc:
        part.unlink(missing_ok=True)
        raise UnverifiedFileInvalid(
            f"{name.rsplit('/', 1)[-1]} has no checksum on the Hub and is not a valid model "
            f"file ({exc.reason}); the download was deleted."
        ) from exc


class UnsafeFileName(HearthError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"The Hub lists a file with a name Hearth will not write: {name!r}.",
            "Choose another file or repository.",
        )


def safe_file_name(name: str) -> str:
    """The last part of a Hub path, refused if it could leave the models folder on any OS."""
    base = name.rsplit("/", 1)[-1]
    unsafe = (
        not base
        or base.startswith(".")
        or "\\" in base
        or ":" in base
        or "\x00" in base
        or base != base.strip()
    )
    if unsafe:
        raise UnsafeFileName(name)
    return base


class AlreadyDownloaded(HearthError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path.name} is already in the models folder.", "")
        self.path = path


@dataclass(frozen=True)
class Progress:
    """A snapshot of one download, for a progress bar."""

    id: str
    file: HubFile
    state: State
    done_bytes: int
    total_bytes: int
    speed_bps: float = 0.0
    error: str = ""
    target: Path | None = None
    retries: int = 0
    """Connections re-opened after a drop so far."""

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.speed_bps <= 0 or self.state != "downloading":
            return None
        return (self.total_bytes - self.done_bytes) / self.speed_bps


Listener = Callable[[Progress], None]


@dataclass(frozen=True)
class Update:
    path: Path
    file: HubFile
    old_revision: str


def download_id(repo: str, name: str) -> str:
    return hashlib.sha1(f"{repo}/{name}".encode()).hexdigest()[:16]


def origin_file(model: Path) -> Path:
    return model.with_name(f".{model.name}.origin.json")


def read_origin(model: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(origin_file(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temp, path)


def _file_to_json(file: HubFile) -> dict[str, Any]:
    return {
        "repo": file.repo,
        "name": file.name,
        "quant": file.quant,
        "parts": list(file.parts),
        "sizes": list(file.sizes),
        "sha256s": list(file.sha256s),
        "revision": file.revision,
    }


def _file_from_json(data: dict[str, Any]) -> HubFile:
    return HubFile(
        repo=str(data["repo"]),
        name=str(data["name"]),
        quant=str(data["quant"]),
        parts=tuple(str(p) for p in data["parts"]),
        sizes=tuple(int(s) for s in data["sizes"]),
        sha256s=tuple(None if s is None else str(s) for s in data["sha256s"]),
        revision=str(data["revision"]),
    )


class _Stop(Exception):
    """The user paused or cancelled; raised inside the worker to unwind it."""


class Download:
    """One file (all its parts) being fetched. Control it through the manager."""

    def __init__(self, manager: DownloadManager, file: HubFile, replace_existing: bool) -> None:
        self.manager = manager
        self.file = file
        self.id = download_id(file.repo, file.name)
        self.folder = manager.state_root / self.id
        self.replace_existing = replace_existing
        self._lock = threading.Lock()
        self._stop: Literal["pause", "cancel"] | None = None
        self._thread: threading.Thread | None = None
        self._restart = False
        self._exiting = False
        self._finished = threading.Event()
        self._last_emit = 0.0
        self._speed = 0.0
        self._speed_mark = (time.monotonic(), 0)
        self._hasher = hashlib.sha256()
        self._progress = Progress(self.id, file, "queued", self._bytes_on_disk(), file.size)

    # -- what callers see ----------------------------------------------------------------

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def wait(self, timeout: float | None = None) -> Progress:
        self._finished.wait(timeout)
        return self.progress

    @property
    def finished(self) -> bool:
        """Ended: done, failed, cancelled or paused (until resumed)."""
        return self._finished.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- control (through the manager) ------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and not self._exiting:
                if self._stop is not None:
                    # A pause or cancel has not landed yet: the worker starts over once
                    # it has, instead of the resume being lost.
                    self._restart = True
                return
        if thread is not None:
            thread.join(5.0)  # it is past its last step: a moment at most
        self._launch()

    def _launch(self) -> None:
        self._stop = None
        self._exiting = False
        self._finished.clear()
        self._set(state="queued", error="")
        self._thread = threading.Thread(
            target=self._run, name=f"hearth-download-{self.id}", daemon=True
        )
        self._thread.start()

    def _request_stop(self, how: Literal["pause", "cancel"]) -> None:
        self._stop = how
        if not self.running:
            self._finish_stop(how)

    # -- worker ---------------------------------------------------------------------------

    def _part_path(self, index: int) -> Path:
        return self.folder / f"part{index}.part"

    def _bytes_on_disk(self) -> int:
        total = 0
        for index in range(len(self.file.parts)):
            with contextlib.suppress(OSError):
                total += self._part_path(index).stat().st_size
        return total

    def _set(self, force: bool = True, **changes: Any) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)
            progress = self._progress
        now = time.monotonic()
        if force or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self.manager._emit(progress)

    def _save_state(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"file": _file_to_json(self.file), "replace": self.replace_existing}
        _write_json(self.folder / "state.json", data)

    def _run(self) -> None:
        try:
            self._save_state()
            self._set(state="downloading", done_bytes=self._bytes_on_disk())
            targets = self._fetch_all()
            self._set(state="verifying")
            installed = self.manager._install(self, targets)
            self._set(state="done", done_bytes=self.file.size, target=installed, speed_bps=0.0)
        except _Stop:
            self._finish_stop(self._stop or "pause")
        except ChecksumMismatch as exc:
            shutil.rmtree(self.folder, ignore_errors=True)
            self._set(state="failed", error=exc.user_text(), done_bytes=0, speed_bps=0.0)
        except HearthError as exc:
            self._set(
                state="failed",
                error=exc.user_text(),
                speed_bps=0.0,
                done_bytes=self._bytes_on_disk(),
            )
        except Exception as exc:  # a worker must always end in a visible state
            log.exception("download %s failed", self.file.name)
            self._set(state="failed", error=f"The download failed: {exc}", speed_bps=0.0)
        finally:
            with self._lock:
                restart, self._restart = self._restart, False
                self._exiting = not restart
            if restart:
                self._launch()  # resumed (or restarted) while its stop was landing
            else:
                self._finished.set()

    def _finish_stop(self, how: Literal["pause", "cancel"]) -> None:
        if how == "cancel":
            shutil.rmtree(self.folder, ignore_errors=True)
            self._set(state="cancelled", done_bytes=0, speed_bps=0.0)
        else:
            self._set(state="paused", done_bytes=self._bytes_on_disk(), speed_bps=0.0)
        self._finished.set()

    def _fetch_all(self) -> list[Path]:
        done_before = 0
        for index, (name, size, expected) in enumerate(
            zip(self.file.parts, self.file.sizes, self.file.sha256s, strict=True)
        ):
            part = self._part_path(index)
            digest = self._fetch(name, part, size, done_before)
            if expected is not None and digest != expected.lower():
                raise ChecksumMismatch(name.rsplit("/", 1)[-1], expected, digest)
            if expected is None:
                _check_unverified(part, name)
            done_before += size
        return [self._part_path(i) for i in range(len(self.file.parts))]

    def _fetch(self, name: str, part: Path, size: int, done_before: int) -> str:
        """Bring ``part`` to ``size`` bytes; return its sha256."""
        have = self._rehash(part)
        if have > size:
            part.unlink()
            have = self._rehash(part)
        failures = 0
        while have < size:
            self._check_stop()
            try:
                have = self._stream(name, part, have, size, done_before)
                failures = 0
            except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
                # A dropped or stalled connection: continue from where it stopped.
                failures += 1
                if failures > RETRIES:
                    raise HearthError(
                        f"The connection to the Hub kept failing ({exc}).",
                        "The part downloaded so far is kept: resume when the network is back.",
                    ) from exc
                log.info("download %s: connection lost (%s), resuming", name, exc)
                self._set(retries=self.progress.retries + 1)
                self._sleep(RETRY_WAIT_S[failures - 1])
                have = self._rehash(part)
        return self._hasher.hexdigest()

    def _rehash(self, part: Path) -> int:
        """Start the part's hash over with the bytes already on disk; return their count."""
        self._hasher = hashlib.sha256()
        have = 0
        with contextlib.suppress(FileNotFoundError), part.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                self._hasher.update(chunk)
                have += len(chunk)
        return have

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check_stop()
            time.sleep(0.05)

    def _check_stop(self) -> None:
        if self._stop is not None:
            raise _Stop

    def _stream(self, name: str, part: Path, have: int, size: int, done_before: int) -> int:
        manager = self.manager
        url = manager.hub.file_url(self.file.repo, name, self.file.revision)
        headers = build_hf_headers(
            token=manager.hub.token or False, library_name="hearth", library_version=__version__
        )
        if have:
            headers["Range"] = f"bytes={have}-"
        timeout = httpx2.Timeout(30.0, connect=10.0)
        with get_session().stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    hf_raise_for_status(response)
                except Exception as exc:
                    raise manager.hub.translate(exc, self.file.repo) from exc
            if have and response.status_code != 206:
                have = 0  # the server sent the whole file: start over
                self._hasher = hashlib.sha256()
            mode = "ab" if have else "wb"
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open(mode) as handle:
                for chunk in response.iter_bytes(NETWORK_CHUNK):
                    self._check_stop()
                    if have + len(chunk) > size:
                        raise HearthError(
                            f"The Hub sent more bytes for {name} than its listing says.",
                            "Try again later.",
                        )
                    try:
                        manager._write(handle, chunk)
                    except OSError as exc:
                        if exc.errno == errno.ENOSPC:
                            raise manager._disk_full(exc) from exc
                        raise
                    self._hasher.update(chunk)
                    have += len(chunk)
                    self._tick(done_before + have)
                handle.flush()
                os.fsync(handle.fileno())
        if have < size:
            raise ConnectionError(f"the connection closed after {have} of {size} bytes")
        return have

    def _tick(self, done: int) -> None:
        now = time.monotonic()
        mark_time, mark_bytes = self._speed_mark
        if now - mark_time >= 0.5:
            current = (done - mark_bytes) / (now - mark_time)
            self._speed = current if self._speed == 0 else 0.7 * self._speed + 0.3 * current
            self._speed_mark = (now, done)
        self._set(force=False, done_bytes=done, speed_bps=self._speed)


class DownloadManager:
    """Starts, pauses, resumes and cancels downloads; tells listeners how they go.

    Listeners are called on the download threads: a GUI must hop to its own thread.
    """

    def __init__(
        self,
        models_dir: Path,
        hub: HubClient,
        policy: Policy,
        *,
        free_space: Callable[[Path], int] | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.state_root = models_dir / STATE_DIR
        self.hub = hub
        self.policy = policy
        self._free_space = free_space or (lambda path: shutil.disk_usage(path).free)
        self._downloads: dict[str, Download] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    # -- listeners --------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, progress: Progress) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(progress)
            except Exception:
                log.exception("a download listener failed")

    # -- control ----------------------------------------------------------------------

    def downloads(self) -> list[Download]:
        with self._lock:
            return list(self._downloads.values())

    def get(self, download_id: str) -> Download:
        with self._lock:
            return self._downloads[download_id]

    def target(self, file: HubFile) -> Path:
        return self.models_dir / safe_file_name(file.name)

    def start(self, file: HubFile, *, replace_existing: bool = False) -> Download:
        """Check policy, space and the target; then download on a worker thread."""
        require_downloads(self.policy)
        for part, sha in zip(file.parts, file.sha256s, strict=True):
            require_model_allowed(
                self.policy, repo=file.repo, filename=part.rsplit("/", 1)[-1], sha256=sha
            )
        target = self.target(file)
        if target.exists() and not replace_existing:
            raise AlreadyDownloaded(target)
        with self._lock:
            existing = self._downloads.get(download_id(file.repo, file.name))
        if existing is not None and existing.running:
            existing._start()  # a cancel or pause still landing: start again after it
            return existing
        if existing is not None and existing.progress.state == "paused":
            download = existing
        else:
            download = Download(self, file, replace_existing)
        self._check_space(file.size - download._bytes_on_disk())
        with self._lock:
            self._downloads[download.id] = download
        download._start()
        return download

    def _check_space(self, remaining: int) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        free = self._free_space(self.models_dir)
        if remaining + SPACE_MARGIN > free:
            raise NotEnoughSpace(self.models_dir, remaining + SPACE_MARGIN, free)

    def pause(self, download_id: str) -> None:
        self.get(download_id)._request_stop("pause")

    def resume(self, download_id: str) -> Download:
        download = self.get(download_id)
        if download.running:
            download._start()  # a pause still landing: go on after it
            return download
        require_downloads(self.policy)
        self._check_space(download.file.size - download._bytes_on_disk())
        download._start()
        return download

    def cancel(self, download_id: str) -> None:
        self.get(download_id)._request_stop("cancel")

    def forget(self, download_id: str) -> None:
        """Drop a finished download from the list."""
        with self._lock:
            download = self._downloads.get(download_id)
            if download is not None and download.progress.state in FINISHED:
                del self._downloads[download_id]

    def restore(self) -> list[Download]:
        """Downloads left unfinished by an earlier run, listed as paused."""
        restored = []
        try:
            folders = sorted(p for p in self.state_root.iterdir() if p.is_dir())
        except OSError:
            return []
        for folder in folders:
            try:
                data = json.loads((folder / "state.json").read_text(encoding="utf-8"))
                file = _file_from_json(data["file"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("removing an unreadable download state in %s", folder)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            with self._lock:
                if folder.name in self._downloads:
                    continue
                download = Download(self, file, bool(data.get("replace")))
                download._progress = replace(download._progress, state="paused")
                download._finished.set()  # no worker: nothing to wait for at shutdown
                self._downloads[download.id] = download
            restored.append(download)
        return restored

    def find_unfinished(self, repo: str, name: str) -> Download | None:
        self.restore()
        with self._lock:
            download = self._downloads.get(download_id(repo, name))
        if download is not None and download.progress.state not in FINISHED:
            return download
        return None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Pause every running download (their parts stay for the next start)."""
        for download in self.downloads():
            if download.running:
                download._request_stop("pause")
        for download in self.downloads():
            download.wait(timeout)

    # -- the worker's hooks -------------------------------------------------------------

    def _write(self, handle: IO[bytes], chunk: bytes) -> None:
        handle.write(chunk)

    def _disk_full(self, exc: OSError) -> HearthError:
        return HearthError(
            f"The disk holding {self.models_dir} is full.",
            "Free some space and resume the download; the part downloaded so far is kept "
            "outside the library.",
        )

    def _install(self, download: Download, parts: list[Path]) -> Path:
        """Move the verified parts into the models folder (atomic renames), record origin."""
        file = download.file
        targets = [self.models_dir / safe_file_name(name) for name in file.parts]
        for target in targets:
            if target.exists() and not download.replace_existing:
                raise AlreadyDownloaded(target)
        for part, target in zip(parts, targets, strict=True):
            os.replace(part, target)
        _write_json(
            origin_file(targets[0]),
            {
                "repo": file.repo,
                "file": file.name,
                "revision": file.revision,
                "sha256": file.sha256s[0],
                "parts": list(file.parts),
            },
        )
        shutil.rmtree(download.folder, ignore_errors=True)
        return targets[0]

    # -- updates --------------------------------------------------------------------------

    def check_update(self, model: Path) -> Update | None:
        """A newer revision of a downloaded model, when the Hub has a different file."""
        origin = read_origin(model)
        if origin is None:
            return None
        try:
            files = self.hub.repo_files(str(origin["repo"]))
        except KeyError:
            return None
        if files.revision == origin.get("revision"):
            return None
        try:
            current = files.find(name=str(origin["file"]))
        except HubError:
            return None  # the file is gone upstream: nothing to update to
        if current.sha256s[0] == origin.get("sha256"):
            return None  # a new commit that did not touch this file
        return Update(model, current, str(origin.get("revision")))
