"""Secrets stay in the OS keyring, or in memory for the session; never in files or logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordDeleteError

from app.core.secrets import HF_TOKEN, SecretStore

SECRET = "hf_SeCrEt-token-0123456789"


class _TestBackend(KeyringBackend):
    """Never chosen by keyring's own backend detection (not viable)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("test backend only")


class MemoryBackend(_TestBackend):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.threads: set[str] = set()

    def get_password(self, service: str, username: str) -> str | None:
        self.threads.add(threading.current_thread().name)
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class HangingBackend(_TestBackend):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.release.wait(5)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls += 1
        self.release.wait(5)

    def delete_password(self, service: str, username: str) -> None:
        self.calls += 1
        self.release.wait(5)


class LockedBackend(_TestBackend):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"Failed to unlock the collection to store {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let the abandoned worker thread finish


def files_containing(root: Path, text: str) -> list[Path]:
    if not root.exists():
        return []
    return [
        path for path in root.rglob("*") if path.is_file() and text.encode() in path.read_bytes()
    ]


def test_round_trip_through_the_keyring_on_a_worker_thread(hearth_home: Path, tmp_path: Path):
    backend = MemoryBackend()
    store = SecretStore(service="hearth-test", backend=backend)
    assert store.status == "keyring" and store.problem == ""
    assert store.get(HF_TOKEN) is None
    store.set(HF_TOKEN, SECRET)
    assert backend.items == {("hearth-test", HF_TOKEN): SECRET}
    assert store.get(HF_TOKEN) == SECRET
    store.delete(HF_TOKEN)
    assert store.get(HF_TOKEN) is None
    store.delete(HF_TOKEN)  # deleting a missing secret is fine
    assert store.status == "keyring"
    assert backend.threads and threading.current_thread().name not in backend.threads
    assert files_containing(hearth_home, SECRET) == []
    assert files_containing(tmp_path, SECRET) == []
    store.close()


def test_setting_an_empty_value_deletes():
    backend = MemoryBackend()
    store = SecretStore(backend=backend)
    store.set("api-key", SECRET)
    store.set("api-key", "")
    assert backend.items == {}
    with pytest.raises(ValueError, match="name"):
        store.get(" ")


@pytest.mark.parametrize("backend_class", [fail.Keyring, null.Keyring])
def test_no_keyring_keeps_secrets_in_memory_for_the_session(
    backend_class: type[KeyringBackend], hearth_home: Path
):
    store = SecretStore(backend=backend_class())
    assert store.status == "memory"
    assert store.problem.startswith("No system keyring is available (")
    assert "kept in memory until Hearth closes and are not saved" in store.problem
    store.set(HF_TOKEN, SECRET)
    assert store.get(HF_TOKEN) == SECRET
    store.delete(HF_TOKEN)
    assert store.get(HF_TOKEN) is None
    assert files_containing(hearth_home, SECRET) == []


def test_default_backend_is_detected_off_the_calling_thread(monkeypatch: pytest.MonkeyPatch):
    seen: list[str] = []

    def fake_get_keyring() -> KeyringBackend:
        seen.append(threading.current_thread().name)
        return fail.Keyring()

    monkeypatch.setattr(keyring, "get_keyring", fake_get_keyring)
    store = SecretStore()
    assert seen == []  # nothing touches the keyring on construction
    assert store.get(HF_TOKEN) is None
    assert store.status == "memory"
    assert seen and seen[0] != threading.current_thread().name
    store.set(HF_TOKEN, SECRET)
    assert store.get(HF_TOKEN) == SECRET
    assert len(seen) == 1


def test_hanging_keyring_times_out_and_switches_to_memory(release: threading.Event):
    backend = HangingBackend(release)
    store = SecretStore(timeout_s=0.2, backend=backend)
    started = time.monotonic()
    assert store.get(HF_TOKEN) is None
    assert time.monotonic() - started < 1.0
    assert store.status == "memory"
    assert "did not answer within 0.2 s" in store.problem
    started = time.monotonic()
    store.set(HF_TOKEN, SECRET)
    assert store.get(HF_TOKEN) == SECRET
    store.delete(HF_TOKEN)
    assert time.monotonic() - started < 0.1
    assert backend.calls == 1  # the hung keyring is never called again


def test_locked_keyring_switches_to_memory(caplog: pytest.LogCaptureFixture):
    store = SecretStore(backend=LockedBackend())
    with caplog.at_level(logging.DEBUG):
        store.set(HF_TOKEN, SECRET)
    assert store.status == "memory"
    assert store.problem.startswith("The system keyring is locked")
    assert SECRET not in store.problem  # the backend's message echoed it: scrubbed
    assert store.get(HF_TOKEN) == SECRET


def test_secret_never_appears_in_logs(caplog: pytest.LogCaptureFixture, release: threading.Event):
    with caplog.at_level(logging.DEBUG):
        for store in (
            SecretStore(backend=MemoryBackend()),
            SecretStore(backend=fail.Keyring()),
            SecretStore(backend=LockedBackend()),
            SecretStore(timeout_s=0.05, backend=HangingBackend(release)),
        ):
            store.set(HF_TOKEN, SECRET)
            assert store.get(HF_TOKEN) == SECRET
            store.delete(HF_TOKEN)
    assert caplog.records, "operations should be logged by name"
    assert any(HF_TOKEN in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
