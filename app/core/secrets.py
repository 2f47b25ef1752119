"""Secrets (Hugging Face token, API keys) live only in the OS keyring, never in files.

Every keyring call runs on one daemon worker thread and is waited for at most
``timeout_s``: a locked or hung Secret Service cannot freeze the caller, nor keep Hearth
from exiting. When there is no usable keyring (headless Linux, a locked or hung one, any
keyring error), secrets are kept in memory for this session only, ``status`` becomes
``"memory"`` and ``problem`` says why. Once in memory mode the keyring is not called again.

Only a secret's name is ever logged, never its value.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal, TypeVar

from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, KeyringLocked, NoKeyringError, PasswordDeleteError

log = logging.getLogger(__name__)

T = TypeVar("T")
SecretStatus = Literal["keyring", "memory"]

HF_TOKEN = "huggingface-token"
"""The secret name of the Hugging Face token."""

_CONSEQUENCE = (
    "secrets such as the Hugging Face token are kept in memory until Hearth closes "
    "and are not saved. To save them, set up or unlock the system keyring "
    "(GNOME Keyring, KWallet, macOS Keychain, Windows Credential Manager) and restart Hearth."
)


class _DaemonWorker:
    """One daemon thread running submitted calls in order (a hung call never blocks exit)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._queue.put((future, fn))
        return future

    def close(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)


def _no_keyring_reason(backend: KeyringBackend) -> str:
    """Why ``backend`` is no real keyring, or "" when it is one."""
    if isinstance(backend, fail.Keyring):
        return "no keyring backend was found on this system"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled (null backend)"
    return ""


class SecretStore:
    """Get, set and delete named secrets in the OS keyring (service ``service``).

    Each call may block for up to ``timeout_s``; run it off the GUI thread when you can.
    Setting an empty value deletes the secret.
    """

    def __init__(
        self,
        service: str = "hearth",
        timeout_s: float = 5.0,
        backend: KeyringBackend | None = None,
    ) -> None:
        self.service = service
        self.timeout_s = timeout_s
        self.problem = ""
        """Why secrets are kept in memory; empty while the keyring is used."""
        self._lock = threading.RLock()
        self._memory: dict[str, str] = {}
        self._status: SecretStatus = "keyring"
        self._backend = backend
        self._worker = _DaemonWorker(f"hearth-keyring-{service}")
        if backend is not None:
            reason = _no_keyring_reason(backend)
            if reason:
                self._fall_back(f"No system keyring is available ({reason})", "")

    @property
    def status(self) -> SecretStatus:
        """``"keyring"`` or ``"memory"``. Finds the keyring backend if not done yet."""
        self._ensure_backend()
        return self._status

    def get(self, name: str) -> str | None:
        _check_name(name)
        ok, value = self._call(name, "", lambda b: b.get_password(self.service, name))
        if ok:
            return value if isinstance(value, str) else None
        with self._lock:
            return self._memory.get(name)

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        if not value:
            self.delete(name)
            return
        ok, _ = self._call(name, value, lambda b: b.set_password(self.service, name, value))
        if ok:
            log.info("secret %s saved in the system keyring", name)
            return
        with self._lock:
            self._memory[name] = value
        log.info("secret %s kept in memory for this session", name)

    def delete(self, name: str) -> None:
        _check_name(name)
        with self._lock:
            self._memory.pop(name, None)
        self._call(name, "", lambda b: self._delete(b, name))

    def close(self) -> None:
        """Stop the worker thread (a hung keyring call is left behind; it is a daemon)."""
        self._worker.close()

    def _delete(self, backend: KeyringBackend, name: str) -> None:
        with contextlib.suppress(PasswordDeleteError):  # there was nothing to delete
            backend.delete_password(self.service, name)
        log.info("secret %s deleted from the system keyring", name)

    def _ensure_backend(self) -> KeyringBackend | None:
        """The keyring backend, or None in memory mode. Detection runs on the worker."""
        with self._lock:
            if self._status == "memory":
                return None
            if self._backend is not None:
                return self._backend
        import keyring

        ok, found = self._run("", "", keyring.get_keyring)
        if not ok:
            return None
        reason = (
            _no_keyring_reason(found)
            if isinstance(found, KeyringBackend)
            else "keyring returned no backend"
        )
        with self._lock:
            if reason:
                self._fall_back(f"No system keyring is available ({reason})", "")
                return None
            if self._backend is None:
                self._backend = found
            return self._backend

    def _call(
        self, name: str, secret: str, fn: Callable[[KeyringBackend], T]
    ) -> tuple[bool, T | None]:
        backend = self._ensure_backend()
        if backend is None:
            return False, None
        return self._run(name, secret, lambda: fn(backend))

    def _run(self, name: str, secret: str, fn: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``fn`` on the worker. (True, result), or (False, None) after falling back."""
        future = self._worker.submit(fn)
        try:
            return True, future.result(timeout=self.timeout_s)
        except FutureTimeout:
            # The hung call keeps the worker busy: never submit to it again.
            self._fall_back(f"The system keyring did not answer within {self.timeout_s:g} s", name)
        except KeyringLocked as exc:
            self._fall_back(f"The system keyring is locked ({_reason(exc, secret)})", name)
        except NoKeyringError:
            self._fall_back("No system keyring is available (no usable backend)", name)
        except KeyringError as exc:
            self._fall_back(f"The system keyring failed ({_reason(exc, secret)})", name)
        except Exception as exc:  # backends leak D-Bus and OS errors unwrapped
            self._fall_back(f"The system keyring failed ({_reason(exc, secret)})", name)
        return False, None

    def _fall_back(self, what: str, name: str) -> None:
        with self._lock:
            if self._status == "memory":
                return
            self._status = "memory"
            self.problem = f"{what}: {_CONSEQUENCE}"
        if name:
            log.warning("keyring unusable while handling secret %s: %s", name, what)
        else:
            log.warning("keyring unusable: %s", what)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a secret needs a non-empty name")


def _reason(exc: BaseException, secret: str) -> str:
    """A short, single-line cause that can never contain the secret itself."""
    text = str(exc)
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
