"""Machine-wide policy written by IT: locked settings and restricted features.

The policy is a TOML file, read-only for users. It lives at ``HEARTH_POLICY`` when that
is set, else in the platform's site config folder (``/etc/xdg/hearth/policy.toml`` on
Linux). No file means no policy: everything is allowed.

A broken policy never stops Hearth and never opens what it meant to close. Every
problem becomes a one-line sentence in ``Policy.problems`` naming the file, and the
feature it tried to control fails closed:

* unreadable file or invalid TOML: downloads, the API server and remote endpoints are
  disabled, no model is allowed and every setting is locked (``locked_everything``);
* any bad value, or unknown key, inside a section: that section's feature is disabled
  (``[downloads]``, ``[api]``, ``[remote]``), no model is allowed (``[models] allow``),
  no shared folder is added (``[models] shared_folders``), no default assistant is set;
* a lock whose value cannot be used: the key stays locked (``bad_locks``) and the caller
  keeps the setting at its default;
* ``[lock]`` that is not a table: every setting is locked.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from app.core.errors import HearthError
from app.core.paths import APP_NAME

POLICY_ENV = "HEARTH_POLICY"
POLICY_FILENAME = "policy.toml"
MAX_POLICY_BYTES = 1_048_576

_SECTION_KEYS: dict[str, frozenset[str]] = {
    "lock": frozenset(),  # any setting key
    "downloads": frozenset({"enabled"}),
    "models": frozenset({"allow", "shared_folders"}),
    "assistants": frozenset({"default"}),
    "api": frozenset({"enabled"}),
    "remote": frozenset({"enabled", "endpoints"}),
}
_SHA256_PREFIX = "sha256:"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCK_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EVERYTHING_CLOSED = (
    "downloads, the API server, remote endpoints and all models are disabled "
    "and every setting is locked until it is fixed"
)


def default_policy_path(environ: Mapping[str, str] | None = None) -> Path:
    """``HEARTH_POLICY`` if set (and not blank), else the platform's site config file."""
    env = os.environ if environ is None else environ
    override = env.get(POLICY_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)) / POLICY_FILENAME


def normalize_endpoint(url: str) -> str:
    """Compare-ready base URL: lower-case scheme and host, no default port, no trailing '/'."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, parts.fragment))


@dataclass(frozen=True)
class Policy:
    """The effective machine-wide policy. ``Policy()`` is "no policy": everything allowed."""

    source: Path | None = None
    """The policy file that was read; None when there is none."""
    locks: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Settings fixed by IT, by ``hearth config`` key, with the value they are fixed to."""
    bad_locks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Locked keys whose value cannot be used (key -> why): keep the setting's default."""
    locked_everything: bool = False
    """The file could not be understood: no setting may be changed."""
    downloads_enabled: bool = True
    model_allow: tuple[str, ...] = ()
    """Allow patterns; empty (and ``models_blocked`` false) means every model is allowed."""
    models_blocked: bool = False
    """The allow list was invalid: no model is allowed."""
    shared_folders: tuple[Path, ...] = ()
    default_assistant: str | None = None
    api_enabled: bool = True
    remote_enabled: bool = True
    remote_endpoints: tuple[str, ...] = ()
    """When not empty, the only remote base URLs allowed (normalized)."""
    problems: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.source is not None

    @property
    def models_restricted(self) -> bool:
        return self.models_blocked or bool(self.model_allow)

    def is_locked(self, key: str) -> bool:
        return self.locked_everything or key in self.locks or key in self.bad_locks

    def lock_value(self, key: str) -> object | None:
        """The value IT fixed ``key`` to; None when it is not locked or its value is bad."""
        return self.locks.get(key)

    def with_bad_lock(self, key: str, reason: str) -> Policy:
        """A copy where ``key``'s lock value is unusable (e.g. it failed the settings schema).

        The key stays locked; the caller keeps the setting at its default.
        """
        locks = {k: v for k, v in self.locks.items() if k != key}
        bad = {**self.bad_locks, key: reason}
        where = self.source if self.source is not None else "policy"
        problem = f"{where}: [lock] {key}: {reason}; the setting stays locked at its default value."
        return replace(
            self,
            locks=MappingProxyType(locks),
            bad_locks=MappingProxyType(bad),
            problems=(*self.problems, problem),
        )

    def model_allowed(self, *, repo: str | None, filename: str, sha256: str | None) -> bool:
        """Whether a model may be downloaded or loaded.

        Patterns: ``sha256:<hex>`` matches the file's hash; a pattern with a '/' matches the
        Hugging Face repo id (``org/repo``, or a glob such as ``org/*``); any other pattern is
        a shell-style glob on the file's name. Matching ignores case.
        """
        if self.models_blocked:
            return False
        if not self.model_allow:
            return True
        name = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
        repo_id = repo.strip().lower() if repo else None
        digest = sha256.strip().lower() if sha256 else None
        for pattern in self.model_allow:
            wanted = pattern.lower()
            if wanted.startswith(_SHA256_PREFIX):
                if digest is not None and digest == wanted[len(_SHA256_PREFIX) :]:
                    return True
            elif "/" in wanted:
                if repo_id is not None and fnmatch.fnmatchcase(repo_id, wanted):
                    return True
            elif fnmatch.fnmatchcase(name, wanted):
                return True
        return False

    def endpoint_allowed(self, url: str) -> bool:
        """Whether a remote base URL may be used (exact match after normalizing)."""
        if not self.remote_enabled:
            return False
        if not self.remote_endpoints:
            return True
        return normalize_endpoint(url) in self.remote_endpoints

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) rows for ``hearth policy show`` and the settings UI."""
        rows: list[tuple[str, str]] = [
            ("Policy file", str(self.source) if self.source is not None else "no policy file")
        ]
        if self.locked_everything:
            rows.append(("Locked settings", "all (the policy file has problems)"))
        for key in sorted(self.locks):
            rows.append((f"Locked: {key}", _show(self.locks[key])))
        for key in sorted(self.bad_locks):
            rows.append((f"Locked: {key}", "default value (the policy's value is invalid)"))
        rows.append(("Downloads", _allowed(self.downloads_enabled)))
        if self.models_blocked:
            models = "none (the allow list is invalid)"
        elif self.model_allow:
            models = ", ".join(self.model_allow)
        else:
            models = "all"
        rows.append(("Allowed models", models))
        rows.append(("Shared model folders", ", ".join(map(str, self.shared_folders)) or "none"))
        rows.append(("Default assistant", self.default_assistant or "not set"))
        rows.append(("API server", _allowed(self.api_enabled)))
        if not self.remote_enabled:
            remote = "disabled"
        elif self.remote_endpoints:
            remote = "only " + ", ".join(self.remote_endpoints)
        else:
            remote = "allowed"
        rows.append(("Remote endpoints", remote))
        rows.extend(("Problem", problem) for problem in self.problems)
        return rows

    def as_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source) if self.source is not None else None,
            "locked_everything": self.locked_everything,
            "locks": dict(self.locks),
            "bad_locks": dict(self.bad_locks),
            "downloads_enabled": self.downloads_enabled,
            "model_allow": list(self.model_allow),
            "models_blocked": self.models_blocked,
            "shared_folders": [str(folder) for folder in self.shared_folders],
            "default_assistant": self.default_assistant,
            "api_enabled": self.api_enabled,
            "remote_enabled": self.remote_enabled,
            "remote_endpoints": list(self.remote_endpoints),
            "problems": list(self.problems),
        }


NO_POLICY = Policy()


def load_policy(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Policy:
    """Read the policy file. Never raises: problems are recorded and fail closed."""
    source = path if path is not None else default_policy_path(environ)
    try:
        with source.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        return NO_POLICY
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _closed(source, f"{source}: could not be read ({reason}); {_EVERYTHING_CLOSED}.")
    if len(raw) > MAX_POLICY_BYTES:
        return _closed(
            source,
            f"{source}: is larger than {MAX_POLICY_BYTES // 1024} KiB and was not read; "
            f"{_EVERYTHING_CLOSED}.",
        )
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return _closed(source, f"{source}: is not UTF-8 text; {_EVERYTHING_CLOSED}.")
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        return _closed(source, f"{source}: is not valid TOML ({detail}); {_EVERYTHING_CLOSED}.")
    return _Parser(source).parse(data)


def _closed(source: Path, problem: str) -> Policy:
    return Policy(
        source=source,
        locked_everything=True,
        downloads_enabled=False,
        models_blocked=True,
        api_enabled=False,
        remote_enabled=False,
        problems=(problem,),
    )


class _Parser:
    def __init__(self, source: Path) -> None:
        self.source = source
        self.problems: list[str] = []
        self.closed: set[str] = set()
        """Sections whose feature fails closed."""

    def problem(self, detail: str, consequence: str) -> None:
        self.problems.append(f"{self.source}: {detail}; {consequence}.")

    def parse(self, data: dict[str, Any]) -> Policy:
        sections: dict[str, dict[str, Any]] = {}
        for name, value in data.items():
            if name not in _SECTION_KEYS:
                self._unknown_section(name)
            elif not isinstance(value, dict):
                self.problem(f"'{name}' must be a [{name}] section", _consequence(name))
                self.closed.add(name)
            else:
                sections[name] = value
        for name, body in sections.items():
            allowed = _SECTION_KEYS[name]
            if name == "lock":
                continue
            for key in body:
                if key not in allowed:
                    hint = _did_you_mean(key, allowed)
                    self.problem(f"unknown key '{key}' in [{name}]{hint}", _consequence(name))
                    self.closed.add(name)

        locks, bad_locks = self._locks(sections.get("lock", {}))
        models = sections.get("models", {})
        remote = sections.get("remote", {})
        downloads = self._flag(sections.get("downloads", {}), "downloads")
        api = self._flag(sections.get("api", {}), "api")
        remote_enabled = self._flag(remote, "remote")
        endpoints = self._endpoints(remote)
        allow = self._allow(models)
        folders = self._folders(models)
        assistant = self._assistant(sections.get("assistants", {}))
        return Policy(
            source=self.source,
            locks=MappingProxyType(locks),
            bad_locks=MappingProxyType(bad_locks),
            locked_everything="lock" in self.closed,
            downloads_enabled=downloads and "downloads" not in self.closed,
            model_allow=allow,
            models_blocked="models" in self.closed,
            shared_folders=folders,
            default_assistant=assistant,
            api_enabled=api and "api" not in self.closed,
            remote_enabled=remote_enabled and "remote" not in self.closed,
            remote_endpoints=endpoints,
            problems=tuple(self.problems),
        )

    def _unknown_section(self, name: str) -> None:
        guess = difflib.get_close_matches(name, list(_SECTION_KEYS), n=1, cutoff=0.75)
        if guess:
            # Most likely a typo of a real section: what it meant to restrict fails closed.
            self.problem(
                f"unknown section [{name}] (did you mean [{guess[0]}]?)", _consequence(guess[0])
            )
            self.closed.add(guess[0])
        else:
            known = ", ".join(f"[{section}]" for section in _SECTION_KEYS)
            self.problem(f"unknown section [{name}] (known: {known})", "it is ignored")

    def _flag(self, body: dict[str, Any], section: str) -> bool:
        value = body.get("enabled", True)
        if isinstance(value, bool):
            return value
        self.problem(
            f"[{section}] enabled must be true or false, not {_show(value)}",
            _consequence(section),
        )
        self.closed.add(section)
        return False

    def _locks(self, body: dict[str, Any]) -> tuple[dict[str, object], dict[str, str]]:
        locks: dict[str, object] = {}
        bad: dict[str, str] = {}
        for key, value in _flatten(body):
            if not _LOCK_KEY.fullmatch(key):
                self.problem(f"[lock] '{key}' is not a setting name", "it is ignored")
                continue
            reason = _lock_value_problem(value)
            if reason:
                bad[key] = reason
                self.problem(
                    f"[lock] {key}: {reason}", "the setting stays locked at its default value"
                )
            else:
                locks[key] = value
        return locks, bad

    def _strings(self, body: dict[str, Any], section: str, key: str) -> list[str] | None:
        """A list of non-empty strings, or None (problem recorded) when it is not one."""
        value = body.get(key, [])
        if not isinstance(value, list):
            self.problem(
                f"[{section}] {key} must be a list of strings, not {_show(value)}",
                _consequence(section, key),
            )
            return None
        bad = [item for item in value if not isinstance(item, str) or not item.strip()]
        if bad:
            self.problem(
                f"[{section}] {key} has an entry that is not a non-empty string: {_show(bad[0])}",
                _consequence(section, key),
            )
            return None
        return [item.strip() for item in value]

    def _allow(self, body: dict[str, Any]) -> tuple[str, ...]:
        items = self._strings(body, "models", "allow")
        if items is None:
            self.closed.add("models")
            return ()
        patterns: list[str] = []
        for item in items:
            reason = _pattern_problem(item)
            if reason:
                self.problem(f"[models] allow entry {item!r} {reason}", _consequence("models"))
                self.closed.add("models")
            else:
                patterns.append(item.lower() if item.lower().startswith(_SHA256_PREFIX) else item)
        return tuple(dict.fromkeys(patterns))

    def _folders(self, body: dict[str, Any]) -> tuple[Path, ...]:
        items = self._strings(body, "models", "shared_folders")
        if items is None:
            return ()
        folders: list[Path] = []
        for item in items:
            folder = Path(item).expanduser()
            if not folder.is_absolute():
                self.problem(
                    f"[models] shared_folders entry {item!r} is not an absolute path",
                    _consequence("models", "shared_folders"),
                )
                return ()
            folders.append(folder)
        return tuple(dict.fromkeys(folders))

    def _assistant(self, body: dict[str, Any]) -> str | None:
        value = body.get("default")
        if value is None:
            return None
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.problem(
            f"[assistants] default must be an assistant's name, not {_show(value)}",
            _consequence("assistants"),
        )
        return None

    def _endpoints(self, body: dict[str, Any]) -> tuple[str, ...]:
        if "endpoints" not in body:
            return ()
        items = self._strings(body, "remote", "endpoints")
        if items is None:
            self.closed.add("remote")
            return ()
        if not items:
            self.problem("[remote] endpoints is an empty list", _consequence("remote"))
            self.closed.add("remote")
            return ()
        endpoints: list[str] = []
        for item in items:
            parts = urlsplit(item)
            if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
                self.problem(
                    f"[remote] endpoints entry {item!r} is not an http(s) URL",
                    _consequence("remote"),
                )
                self.closed.add("remote")
            else:
                endpoints.append(normalize_endpoint(item))
        return tuple(dict.fromkeys(endpoints))


def _consequence(section: str, key: str = "") -> str:
    if section == "models" and key == "shared_folders":
        return "no shared model folder is used"
    return {
        "lock": "every setting is locked",
        "downloads": "downloads are disabled",
        "models": "no model is allowed",
        "assistants": "no default assistant is set",
        "api": "the API server is disabled",
        "remote": "remote endpoints are disabled",
    }[section]


def _did_you_mean(word: str, choices: frozenset[str]) -> str:
    guess = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{guess[0]}'?)" if guess else ""


def _flatten(body: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """``sampling.temperature = 0.2`` (unquoted) parses as a nested table: flatten it back."""
    items: list[tuple[str, object]] = []
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(_flatten(value, name + "."))
        else:
            items.append((name, value))
    return items


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _lock_value_problem(value: object) -> str:
    if _is_scalar(value):
        return ""
    if isinstance(value, list) and all(_is_scalar(item) for item in value):
        return ""
    return f"{_show(value)} is not a usable setting value"


def _pattern_problem(pattern: str) -> str:
    lowered = pattern.lower()
    if lowered.startswith(_SHA256_PREFIX):
        digest = lowered[len(_SHA256_PREFIX) :]
        return "" if _HEX64.fullmatch(digest) else "is not sha256: and 64 hex digits"
    if pattern.count("/") > 1 or pattern.startswith("/") or pattern.endswith("/"):
        return "is neither org/repo nor a file name pattern"
    return ""


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else _toml_text(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def _allowed(flag: bool) -> str:
    return "allowed" if flag else "disabled"


class PolicyViolation(HearthError):
    """Something was refused because of the machine-wide policy."""

    def __init__(self, refused: str, source: Path | None, hint: str = "") -> None:
        where = f" ({source})" if source is not None else ""
        super().__init__(
            f"{refused} by your organization's policy{where}.",
            hint or "Contact your IT department if you need this.",
        )
        self.refused = refused
        self.source = source


def _hint(policy: Policy, text: str = "") -> str:
    hint = text or "Contact your IT department if you need this."
    if policy.problems:
        hint += " The policy file has problems ('hearth policy show' lists them)."
    return hint


def require_downloads(policy: Policy) -> None:
    if not policy.downloads_enabled:
        raise PolicyViolation("Downloads are disabled", policy.source, _hint(policy))


def require_model_allowed(
    policy: Policy, *, repo: str | None, filename: str, sha256: str | None
) -> None:
    if not policy.model_allowed(repo=repo, filename=filename, sha256=sha256):
        name = f"{repo}/{filename}" if repo else filename
        raise PolicyViolation(
            f"The model {name} is not allowed",
            policy.source,
            _hint(policy, "Pick an allowed model, or ask your IT department to allow this one."),
        )


def require_api(policy: Policy) -> None:
    if not policy.api_enabled:
        raise PolicyViolation("The local API server is disabled", policy.source, _hint(policy))


def require_remote(policy: Policy, url: str) -> None:
    if not policy.remote_enabled:
        raise PolicyViolation("Remote endpoints are disabled", policy.source, _hint(policy))
    if not policy.endpoint_allowed(url):
        allowed = ", ".join(policy.remote_endpoints)
        raise PolicyViolation(
            f"The remote endpoint {url} is not allowed",
            policy.source,
            _hint(policy, f"Allowed endpoints: {allowed}."),
        )


def require_unlocked(policy: Policy, key: str) -> None:
    if not policy.is_locked(key):
        return
    if key in policy.locks:
        text = f"It stays at {_show(policy.locks[key])}."
    else:
        text = "It stays at its default value."
    raise PolicyViolation(
        f"The setting '{key}' is locked",
        policy.source,
        _hint(policy, f"{text} Contact your IT department if you need to change it."),
    )
