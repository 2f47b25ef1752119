"""Downloads with the real huggingface_hub client against the stand-in Hub (HF_ENDPOINT)."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest

from app.core.downloads import DownloadManager, NotEnoughSpace, read_origin
from app.core.hub import HubClient
from app.core.library import ModelLibrary
from app.core.policy import Policy, PolicyViolation
from tests.fakes.gguf_files import write_model
from tests.fakes.hub_server import FakeRepo

BLOB = os.urandom(3 * 1024 * 1024 + 123)  # not a model: for the transfer mechanics
TIMEOUT = 60


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> bytes:
    return write_model(tmp_path / "src.gguf").read_bytes()


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def manager_for(models: Path, token: str | None = None, **kwargs) -> DownloadManager:
    return DownloadManager(models, HubClient(token=token), kwargs.pop("policy", Policy()), **kwargs)


def pull(manager: DownloadManager, repo: str, name: str):
    file = manager.hub.repo_files(repo).find(name=name)
    return manager.start(file).wait(TIMEOUT)


def library_files(models: Path) -> list[str]:
    return sorted(p.name for p in models.rglob("*.gguf"))


def test_download_verified_into_the_library(fake_hub, models, tiny_gguf):
    fake_hub.add(FakeRepo("org/Tiny-GGUF", {"tiny.Q8_0.gguf": tiny_gguf}))
    manager = manager_for(models)
    seen = []
    manager.subscribe(seen.append)
    result = pull(manager, "org/Tiny-GGUF", "tiny.Q8_0.gguf")
    assert result.state == "done", result.error
    target = models / "tiny.Q8_0.gguf"
    assert result.target == target and target.read_bytes() == tiny_gguf
    assert {p.state for p in seen} >= {"downloading", "verifying", "done"}
    assert seen[-1].done_bytes == len(tiny_gguf)
    origin = read_origin(target)
    assert origin["repo"] == "org/Tiny-GGUF"
    assert origin["sha256"] == hashlib.sha256(tiny_gguf).hexdigest()
    entry = ModelLibrary(models, include_starter=False).entries()[0]
    assert entry.valid and entry.source == "library"
    assert not (models / ".downloads").exists() or not any((models / ".downloads").iterdir())


def test_connection_cut_mid_file_then_resumed(fake_hub, models):
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    fake_hub.cut_after["big.Q4_K_M.gguf"] = 1_000_000
    manager = manager_for(models)
    result = pull(manager, "org/Big-GGUF", "big.Q4_K_M.gguf")
    assert result.state == "done", result.error
    assert result.retries == 1
    assert (models / "big.Q4_K_M.gguf").read_bytes() == BLOB
    ranges = [r for m, p, r in fake_hub.requests if p.endswith("big.Q4_K_M.gguf") and m == "GET"]
    assert ranges[0] is None
    # The second request continued where the cut left off (less the one network chunk
    # that was in flight), not from the start.
    assert ranges[1] is not None
    assert 1_000_000 - 64 * 1024 <= int(ranges[1].split("=")[1].rstrip("-")) <= 1_000_000


def test_wrong_bytes_rejected_and_deleted(fake_hub, models, tiny_gguf):
    fake_hub.add(FakeRepo("org/Tiny-GGUF", {"tiny.Q8_0.gguf": tiny_gguf}))
    fake_hub.wrong_bytes.add("tiny.Q8_0.gguf")
    result = pull(manager_for(models), "org/Tiny-GGUF", "tiny.Q8_0.gguf")
    assert result.state == "failed"
    assert "does not match the Hub's checksum" in result.error
    assert library_files(models) == []
    assert not any(p.is_file() for p in models.rglob("*"))


def test_full_disk_leaves_nothing_in_the_library(fake_hub, models, monkeypatch):
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    # Not enough space: refused before a byte is fetched.
    tight = manager_for(models, free_space=lambda path: 1024 * 1024)
    file = tight.hub.repo_files("org/Big-GGUF").files[0]
    with pytest.raises(NotEnoughSpace, match="Not enough disk space"):
        tight.start(file)
    assert not [r for r in fake_hub.requests if "/resolve/" in r[1]]

    # The disk fills up while writing.
    manager = manager_for(models)
    written = {"bytes": 0}
    real_write = manager._write

    def write(handle, chunk):
        if written["bytes"] > 2_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        written["bytes"] += len(chunk)
        real_write(handle, chunk)

    monkeypatch.setattr(manager, "_write", write)
    result = manager.start(file).wait(TIMEOUT)
    assert result.state == "failed"
    assert "is full" in result.error
    assert library_files(models) == []
    assert ModelLibrary(models, include_starter=False).entries() == []


def test_gated_repo_needs_a_token(fake_hub, models, tiny_gguf):
    fake_hub.add(FakeRepo("meta/Gated-GGUF", {"g.Q4_0.gguf": tiny_gguf}, gated=True))
    fake_hub.tokens["hf_good"] = {"meta/Gated-GGUF"}
    result = pull(manager_for(models), "meta/Gated-GGUF", "g.Q4_0.gguf")
    assert result.state == "failed"
    assert "gated" in result.error and "token in Settings" in result.error
    no_access = pull(manager_for(models, token="hf_other"), "meta/Gated-GGUF", "g.Q4_0.gguf")
    assert no_access.state == "failed" and "accept the model's terms" in no_access.error
    assert library_files(models) == []
    ok = pull(manager_for(models, token="hf_good"), "meta/Gated-GGUF", "g.Q4_0.gguf")
    assert ok.state == "done", ok.error


def test_pause_then_resume_after_restart(fake_hub, models):
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    fake_hub.bytes_per_second = 2 * 1024 * 1024
    manager = manager_for(models)
    file = manager.hub.repo_files("org/Big-GGUF").files[0]
    download = manager.start(file)
    _wait_for(lambda: download.progress.done_bytes > 300_000)
    manager.pause(download.id)
    paused = download.wait(TIMEOUT)
    assert paused.state == "paused"
    assert 0 < paused.done_bytes < len(BLOB)
    assert library_files(models) == []

    # "Restart": a new manager finds the unfinished download and continues it.
    fake_hub.bytes_per_second = None
    again = manager_for(models)
    restored = again.restore()
    assert [d.progress.state for d in restored] == ["paused"]
    assert restored[0].progress.done_bytes == paused.done_bytes
    result = again.resume(restored[0].id).wait(TIMEOUT)
    assert result.state == "done", result.error
    assert (models / "big.Q4_K_M.gguf").read_bytes() == BLOB
    last_range = [r for m, p, r in fake_hub.requests if m == "GET" and "/resolve/" in p][-1]
    assert last_range == f"bytes={paused.done_bytes}-"


def test_cancel_removes_the_partial_file(fake_hub, models):
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    fake_hub.bytes_per_second = 1024 * 1024
    manager = manager_for(models)
    download = manager.start(manager.hub.repo_files("org/Big-GGUF").files[0])
    _wait_for(lambda: download.progress.done_bytes > 100_000)
    assert download.progress.speed_bps >= 0
    manager.cancel(download.id)
    assert download.wait(TIMEOUT).state == "cancelled"
    assert not any(p.is_file() for p in models.rglob("*"))


def test_policy_can_forbid_downloads(fake_hub, models, tiny_gguf):
    fake_hub.add(FakeRepo("org/Tiny-GGUF", {"tiny.Q8_0.gguf": tiny_gguf}))
    file = HubClient().repo_files("org/Tiny-GGUF").files[0]
    with pytest.raises(PolicyViolation, match="Downloads are disabled"):
        manager_for(models, policy=Policy(downloads_enabled=False)).start(file)
    with pytest.raises(PolicyViolation, match="not allowed"):
        manager_for(models, policy=Policy(model_allow=("mistralai/*",))).start(file)
    allowed = manager_for(models, policy=Policy(model_allow=("org/*",))).start(file)
    assert allowed.wait(TIMEOUT).state == "done"


def test_updated_upstream_revision_is_offered(fake_hub, models, tiny_gguf):
    repo = fake_hub.add(FakeRepo("org/Tiny-GGUF", {"tiny.Q8_0.gguf": tiny_gguf, "README.md": b"a"}))
    manager = manager_for(models)
    assert pull(manager, "org/Tiny-GGUF", "tiny.Q8_0.gguf").state == "done"
    target = models / "tiny.Q8_0.gguf"
    assert manager.check_update(target) is None
    # A new commit that only touches the README: no update for this file.
    repo.revision = "b" * 40
    repo.files["README.md"] = b"b"
    assert manager.check_update(target) is None
    # A new commit with new weights: offered, and replacing it works.
    repo.revision = "c" * 40
    repo.files["tiny.Q8_0.gguf"] = tiny_gguf + b"\0" * 32
    update = manager.check_update(target)
    assert update is not None and update.file.revision == "c" * 40
    result = manager.start(update.file, replace_existing=True).wait(TIMEOUT)
    assert result.state == "done", result.error
    assert read_origin(target)["revision"] == "c" * 40
    assert target.read_bytes().endswith(b"\0" * 32)


def _wait_for(condition, timeout: float = 30.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_file_without_a_hub_checksum_must_at_least_be_a_valid_model(fake_hub, models):
    good = write_model(models.parent / "good.gguf").read_bytes()
    fake_hub.add(
        FakeRepo(
            "org/NoLfs-GGUF",
            {"good.Q8_0.gguf": good, "junk.Q8_0.gguf": b"GGUF" + b"\0" * 64},
            without_lfs={"good.Q8_0.gguf", "junk.Q8_0.gguf"},
        )
    )
    manager = manager_for(models)
    assert pull(manager, "org/NoLfs-GGUF", "good.Q8_0.gguf").state == "done"
    junk = pull(manager, "org/NoLfs-GGUF", "junk.Q8_0.gguf")
    assert junk.state == "failed"
    assert "has no checksum on the Hub and is not a valid model file" in junk.error
    assert library_files(models) == ["good.Q8_0.gguf"]


@pytest.mark.parametrize("name", ["..\\..\\evil.gguf", "C:evil.gguf", ".hidden.gguf"])
def test_hub_file_names_that_could_leave_the_models_folder_are_refused(models, name):
    from app.core.downloads import UnsafeFileName, safe_file_name

    with pytest.raises(UnsafeFileName):
        safe_file_name(name)
    assert safe_file_name("sub/dir/model.Q4_K_M.gguf") == "model.Q4_K_M.gguf"


def test_closing_does_not_wait_on_downloads_restored_as_paused(fake_hub, models):
    import time

    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    fake_hub.bytes_per_second = 200_000
    first = manager_for(models)
    download = first.start(first.hub.repo_files("org/Big-GGUF").files[0])
    first.pause(download.id)
    assert download.wait(TIMEOUT).state == "paused"
    later = manager_for(models)  # the next start of Hearth
    assert [d.progress.state for d in later.restore()] == ["paused"]
    started = time.monotonic()
    later.shutdown(timeout=3.0)
    assert time.monotonic() - started < 1.0


def test_a_resume_right_after_a_pause_is_not_lost(fake_hub, models):
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_K_M.gguf": BLOB}))
    fake_hub.bytes_per_second = 1_000_000
    manager = manager_for(models)
    download = manager.start(manager.hub.repo_files("org/Big-GGUF").files[0])
    manager.pause(download.id)
    manager.resume(download.id)  # before the pause has landed
    result = download.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while result.state not in ("done", "failed") and time.monotonic() < deadline:
        result = download.wait(1)
    assert result.state == "done", result.error
    assert (models / "big.Q4_K_M.gguf").read_bytes() == BLOB
