"""The model library: the starter model plus GGUF files in Hearth's models folder.

Each model has a stable id derived from its file name, so scripts can refer to it.
Files that fail inspection are listed with their reason rather than hidden.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.discovery import discover, is_later_part
from app.core.errors import HearthError, InvalidModelFile, UnknownModel
from app.core.gguf_inspect import GgufInfo, inspect_gguf
from app.core.policy import Policy, require_model_allowed
from app.core.starter import INSTALL_HINT, STARTER_ID, STARTER_NAME, starter_model_path

Source = Literal[
    "starter", "library", "folder", "shared", "path", "hf-cache", "lm-studio", "gpt4all",
    "jan", "ollama",
]  # fmt: skip
"""library: Hearth's models folder; folder: an extra folder from settings; shared: a
read-only folder from the machine policy; the rest: found in another tool's folder
(app/core/discovery.py), used in place and never deleted by Hearth."""

ImportMode = Literal["copy", "link"]


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    path: Path
    size_bytes: int
    source: Source
    info: GgufInfo | None = None
    error: str = ""
    label: str = ""
    """How another tool names the model (``org/repo/file.gguf``, ``llama3:latest``)."""

    @property
    def valid(self) -> bool:
        return self.info is not None

    @property
    def owned(self) -> bool:
        """Hearth's own file (in its models folder): the only kind Hearth deletes."""
        return self.source == "library"

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
            "label": self.label or None,
            "license": info.license if info else None,
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


def _entry(path: Path, model_id: str, source: Source, label: str = "") -> ModelEntry:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    stem = label or path.stem
    try:
        info = inspect_gguf(path)
    except InvalidModelFile as exc:
        return ModelEntry(model_id, stem, path, size, source, None, exc.reason, label)
    return ModelEntry(model_id, info.name or stem, path, size, source, info, "", label)


class ModelLibrary:
    def __init__(
        self,
        models_dir: Path,
        include_starter: bool = True,
        *,
        extra_folders: Sequence[Path] = (),
        shared_folders: Sequence[Path] = (),
        discover_other_tools: bool = False,
        hidden: Collection[str] = (),
        home: Path | None = None,
    ) -> None:
        self.models_dir = models_dir
        self._include_starter = include_starter
        self._roots: list[tuple[Path, Source]] = [(models_dir, "library")]
        self._roots += [(folder, "folder") for folder in extra_folders]
        self._roots += [(folder, "shared") for folder in shared_folders]
        self._discover = discover_other_tools
        self._home = home
        self.hidden: set[str] = set(hidden)
        """Paths of models the user removed from the list without deleting the file."""

    def _files(self) -> Iterable[tuple[Path, Source, str]]:
        seen: set[Path] = set()
        for root, source in self._roots:
            try:
                if not root.is_dir():
                    continue
                paths = sorted(
                    p
                    for p in root.rglob("*.gguf")
                    if p.is_file() and not is_later_part(p) and not p.name.startswith(".")
                )
            except OSError:
                continue  # an unreachable network share must not break the list
            for path in paths:
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    yield path, source, ""
        if self._discover:
            for found in discover(self._home):
                real = found.path.resolve()
                if real not in seen:
                    seen.add(real)
                    yield found.path, found.tool, found.label

    def entries(self, include_hidden: bool = False) -> list[ModelEntry]:
        found: list[ModelEntry] = []
        starter = starter_model_path() if self._include_starter else None
        if starter is not None:
            entry = _entry(starter, STARTER_ID, "starter")
            # The file's own name field is a training-run label; show a friendly one.
            found.append(dataclasses.replace(entry, name=STARTER_NAME))
        files = [
            (path, source, label)
            for path, source, label in self._files()
            if (starter is None or path.resolve() != starter.resolve())
            and (include_hidden or str(path) not in self.hidden)
        ]

        def base_slug(path: Path, source: Source, label: str) -> str:
            # Ollama's blobs are named by hash; its manifest name is the useful one.
            return slugify(label if source == "ollama" else path.stem)

        slugs: dict[str, int] = {}
        for path, source, label in files:
            slug = base_slug(path, source, label)
            slugs[slug] = slugs.get(slug, 0) + 1
        taken = {STARTER_ID} if starter is not None else set()
        for path, source, label in files:
            slug = base_slug(path, source, label)
            if slugs[slug] > 1 or slug in taken:
                # Stable: from where the file is (inside the models folder, or absolute).
                where = str(path.relative_to(self.models_dir)) if source == "library" else str(path)
                slug = f"{slug}-{hashlib.sha1(where.encode()).hexdigest()[:6]}"
            taken.add(slug)
            found.append(_entry(path, slug, source, label))
        return found

    # -- changing the library -------------------------------------------------------------

    def import_file(self, source: Path, mode: ImportMode = "copy") -> Path:
        """Bring a GGUF file into the models folder (a copy, or a link to it).

        The file is checked first; a copy is written under a temporary name and renamed,
        so an interrupted import never leaves a half file that looks like a model.
        """
        source = source.expanduser().resolve()
        inspect_gguf(source)  # raises InvalidModelFile with the reason
        self.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.models_dir / source.name
        if target.exists() or target.is_symlink():
            raise HearthError(
                f"{target.name} is already in the models folder.",
                "Remove it first or rename the file you import.",
            )
        if mode == "link":
            target.symlink_to(source)
            return target
        partial = target.with_name(f".{target.name}.importing")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise HearthError(
                f"Could not copy {source.name} into {self.models_dir}: {exc.strerror or exc}.",
                "Check the free disk space, or import it as a link instead.",
            ) from exc
        return target

    def remove(self, entry: ModelEntry) -> Literal["deleted", "hidden"]:
        """Delete Hearth's own file; any other model is only hidden (see ``hidden``).

        Callers persist ``hidden`` in the settings (``storage.hidden_models``).
        """
        if entry.owned:
            try:
                entry.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise HearthError(f"Could not delete {entry.path}: {exc.strerror or exc}.") from exc
            return "deleted"
        self.hidden.add(str(entry.path))
        return "hidden"

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
