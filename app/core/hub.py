"""Search the Hugging Face Hub for GGUF models, through huggingface_hub.

The Hub address is ``HF_ENDPOINT`` (read when a client is made, so a mirror or the
tests' stand-in Hub can be used), else huggingface.co. The token comes from Hearth's
keyring (the caller passes it); no other token on the machine is used.

Every call here blocks on the network: run it off the GUI thread. Failures become
``HubError`` subclasses that say what happened: offline, Hub unavailable, gated,
not found.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from app.core.errors import HearthError

T = TypeVar("T")

SortKey = Literal["downloads", "likes", "recent"]
_SORTS: dict[SortKey, Literal["downloads", "likes", "last_modified"]] = {
    "downloads": "downloads",
    "likes": "likes",
    "recent": "last_modified",
}
CONNECT_TIMEOUT_S = 5.0

# Quantization names as they appear in GGUF file names, most specific first.
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(IQ\d_(?:XXS|XS|NL|S|M)|Q\d_K_(?:XL|S|M|L)|Q\d_K|Q\d_\d|Q\d|"
    r"BF16|F16|FP16|F32|TQ\d_\d|MXFP4)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_PART = re.compile(r"^(?P<stem>.+)-(?P<n>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)


class HubError(HearthError):
    """The Hub could not answer what was asked."""


class HubOffline(HubError):
    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(
            f"Cannot reach the Hugging Face Hub ({endpoint}): {reason}.",
            "Check the network connection. Models already on this machine still work.",
        )
        self.endpoint = endpoint


class HubUnavailable(HubError):
    def __init__(self, status: int) -> None:
        super().__init__(
            f"The Hugging Face Hub is not answering normally (HTTP {status}).",
            "Try again later. Models already on this machine still work.",
        )
        self.status = status


class GatedRepo(HubError):
    def __init__(self, repo: str, has_token: bool) -> None:
        hint = (
            "Your token has no access yet: accept the model's terms on its Hub page."
            if has_token
            else "Accept its terms on the Hub, then set your Hugging Face token in Settings."
        )
        super().__init__(f"{repo} is a gated model: the Hub requires permission.", hint)
        self.repo = repo
        self.has_token = has_token


class RepoNotFound(HubError):
    def __init__(self, repo: str) -> None:
        super().__init__(
            f"No model repository '{repo}' on the Hub (or it is private).",
            "Check the name, e.g. 'hearth search' to find one.",
        )
        self.repo = repo


@dataclass(frozen=True)
class HubModel:
    """A search result: one repository."""

    repo: str
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "repo": self.repo,
            "downloads": self.downloads,
            "likes": self.likes,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "gated": self.gated,
        }


@dataclass(frozen=True)
class HubFile:
    """One downloadable model: a GGUF file, or all parts of a split one."""

    repo: str
    name: str
    """The file to open: the only file, or the first part."""
    quant: str
    parts: tuple[str, ...]
    sizes: tuple[int, ...]
    sha256s: tuple[str | None, ...]
    """Each part's LFS sha256 (None when the Hub gave none)."""
    revision: str

    @property
    def size(self) -> int:
        return sum(self.sizes)

    @property
    def split(self) -> bool:
        return len(self.parts) > 1

    def as_json(self) -> dict[str, object]:
        return {
            "repo": self.repo,
            "file": self.name,
            "quant": self.quant,
            "size_bytes": self.size,
            "parts": list(self.parts),
            "sha256": list(self.sha256s),
            "revision": self.revision,
        }


@dataclass(frozen=True)
class RepoFiles:
    repo: str
    revision: str
    gated: bool
    license: str | None
    files: tuple[HubFile, ...]

    def by_quant(self) -> dict[str, list[HubFile]]:
        groups: dict[str, list[HubFile]] = {}
        for file in self.files:
            groups.setdefault(file.quant, []).append(file)
        return groups

    def find(self, *, name: str | None = None, quant: str | None = None) -> HubFile:
        if name is not None:
            for file in self.files:
                if name in (file.name, *file.parts) or file.name.endswith(f"/{name}"):
                    return file
            raise HubError(
                f"{self.repo} has no GGUF file named {name}.",
                "Run 'hearth pull REPO' without --file to list its files.",
            )
        if quant is not None:
            matches = [f for f in self.files if f.quant.upper() == quant.upper()]
            if matches:
                return matches[0]
            have = ", ".join(sorted(self.by_quant())) or "none"
            raise HubError(
                f"{self.repo} has no {quant.upper()} file.", f"Quantizations there: {have}."
            )
        if len(self.files) == 1:
            return self.files[0]
        raise HubError(
            f"{self.repo} has {len(self.files)} GGUF files.", "Choose one with --file or --quant."
        )


def quant_of(filename: str) -> str:
    """``Q4_K_M`` from ``model.Q4_K_M.gguf`` (the last match), or ``unknown``."""
    matches = _QUANT.findall(filename.rsplit("/", 1)[-1]) or _QUANT.findall(filename)
    return matches[-1].upper() if matches else "unknown"


def group_files(
    repo: str, revision: str, siblings: Sequence[tuple[str, int | None, str | None]]
) -> tuple[HubFile, ...]:
    """GGUF files as models: split parts joined, vision projectors left out."""
    singles: list[HubFile] = []
    split: dict[str, list[tuple[int, str, int, str | None]]] = {}
    for name, size, sha in siblings:
        base = name.rsplit("/", 1)[-1].lower()
        if not base.endswith(".gguf") or "mmproj" in base:
            continue
        match = _PART.match(name)
        if match:
            key = f"{match['stem']}|{match['total']}"
            split.setdefault(key, []).append((int(match["n"]), name, size or 0, sha))
        else:
            singles.append(
                HubFile(repo, name, quant_of(name), (name,), (size or 0,), (sha,), revision)
            )
    for key, parts in split.items():
        parts.sort()
        total = int(key.rsplit("|", 1)[1])
        if [n for n, *_ in parts] != list(range(1, total + 1)):
            continue  # an incomplete upload: not downloadable as a model
        first = parts[0][1]
        singles.append(
            HubFile(
                repo,
                first,
                quant_of(first),
                tuple(p[1] for p in parts),
                tuple(p[2] for p in parts),
                tuple(p[3] for p in parts),
                revision,
            )
        )
    return tuple(sorted(singles, key=lambda f: (f.size, f.name)))


def default_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class HubClient:
    def __init__(self, token: str | None = None, endpoint: str | None = None) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.token = token or None
        self._api = HfApi(endpoint=self.endpoint, token=self._token_arg)

    @property
    def _token_arg(self) -> str | Literal[False]:
        # False: never fall back to a token saved by other tools on this machine.
        return self.token or False

    # -- queries ------------------------------------------------------------------------

    def search(self, query: str, sort: SortKey = "downloads", limit: int = 30) -> list[HubModel]:
        """Repositories with GGUF files whose name matches ``query``."""
        self._check_reachable()

        def run() -> list[HubModel]:
            found = self._api.list_models(
                search=query or None, filter="gguf", sort=_SORTS[sort], limit=limit
            )
            return [
                HubModel(
                    repo=m.id,
                    downloads=m.downloads or 0,
                    likes=m.likes or 0,
                    last_modified=m.last_modified,
                    gated=bool(m.gated),
                    tags=tuple(m.tags or ()),
                )
                for m in found
            ]

        return self._call(run, query)

    def repo_files(self, repo: str, revision: str | None = None) -> RepoFiles:
        """The repository's GGUF models with sizes, LFS hashes and its current revision."""
        self._check_reachable()

        def run() -> RepoFiles:
            info = self._api.model_info(repo, revision=revision, files_metadata=True)
            sha = info.sha or revision or "main"
            siblings = [
                (s.rfilename, s.size, s.lfs.sha256 if s.lfs else None) for s in info.siblings or []
            ]
            card: Any = info.card_data
            license_id = card.get("license") if card is not None else None
            return RepoFiles(
                repo=info.id,
                revision=sha,
                gated=bool(info.gated),
                license=str(license_id) if license_id else None,
                files=group_files(info.id, sha, siblings),
            )

        return self._call(run, repo)

    def file_url(self, repo: str, filename: str, revision: str) -> str:
        return hf_hub_url(repo, filename, revision=revision, endpoint=self.endpoint)

    # -- errors -------------------------------------------------------------------------

    def _check_reachable(self) -> None:
        """Fail fast when offline (the client itself retries for half a minute)."""
        if constants.is_offline_mode():
            raise HubOffline(self.endpoint, "offline mode is on (HF_HUB_OFFLINE)")
        if any(
            os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
        ):
            return  # the proxy decides; let the client try
        parts = urlsplit(self.endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection(
                (parts.hostname or "", port), timeout=CONNECT_TIMEOUT_S
            ).close()
        except OSError as exc:
            raise HubOffline(self.endpoint, exc.strerror or str(exc)) from exc

    def translate(self, exc: BaseException, what: str) -> HubError:
        """A huggingface_hub or network exception as a ``HubError`` about ``what``."""
        if isinstance(exc, HubError):
            return exc
        if isinstance(exc, GatedRepoError):
            return GatedRepo(what, self.token is not None)
        if isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError):
            return RepoNotFound(what)
        if isinstance(exc, HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                return GatedRepo(what, self.token is not None)
            return HubUnavailable(status)
        if isinstance(exc, OfflineModeIsEnabled):
            return HubOffline(self.endpoint, "offline mode is on (HF_HUB_OFFLINE)")
        if isinstance(exc, httpx2.TransportError | OSError):
            return HubOffline(self.endpoint, str(exc) or type(exc).__name__)
        return HubError(f"The Hub answered something unexpected: {exc}")

    def _call(self, run: Callable[[], T], what: str) -> T:
        try:
            return run()
        except (HfHubHTTPError, OfflineModeIsEnabled, httpx2.TransportError, OSError) as exc:
            raise self.translate(exc, what) from exc
        except ValueError as exc:  # an answer that is not JSON, or not the expected shape
            raise HubError(f"The Hub answered something unexpected: {exc}") from exc
