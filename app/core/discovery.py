"""GGUF models other tools already downloaded, found where they keep them, never copied.

Looked at (each only if it exists):

* the Hugging Face cache (``HF_HUB_CACHE``, ``HF_HOME``/hub, ``~/.cache/huggingface/hub``):
  ``models--ORG--NAME/snapshots/REVISION/**.gguf``, symlinks into ``blobs/``;
* LM Studio (``~/.lmstudio/models``, ``~/.cache/lm-studio/models``): ``PUBLISHER/REPO/*.gguf``;
* GPT4All's data folder: ``*.gguf``;
* Jan (``~/jan/models`` and Jan's data folder): ``MODEL/*.gguf``;
* Ollama (``OLLAMA_MODELS``, ``~/.ollama/models``, the Linux service's folder): weights are
  content-addressed blobs without a ``.gguf`` name; their names come from the manifests
  (``manifests/HOST/NAMESPACE/MODEL/TAG``, the layer of media type
  ``application/vnd.ollama.image.model``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

OtherTool = Literal["hf-cache", "lm-studio", "gpt4all", "jan", "ollama"]

TOOL_NAMES: dict[OtherTool, str] = {
    "hf-cache": "Hugging Face cache",
    "lm-studio": "LM Studio",
    "gpt4all": "GPT4All",
    "jan": "Jan",
    "ollama": "Ollama",
}

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_DEFAULT_HOST = "registry.ollama.ai"
MAX_MANIFEST_BYTES = 1024 * 1024

_LATER_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def is_later_part(path: Path) -> bool:
    """Part 2, 3, ... of a split GGUF: llama.cpp opens the first part and finds the rest."""
    match = _LATER_PART.search(path.name)
    return match is not None and int(match.group(1)) > 1


@dataclass(frozen=True)
class Found:
    path: Path
    tool: OtherTool
    label: str
    """How the other tool names it: ``org/repo/file.gguf``, ``llama3:latest``."""


def _app_data(home: Path, environ: Mapping[str, str], name: str) -> list[Path]:
    """Per-platform application data folders named ``name``."""
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / name]
    if sys.platform == "win32":
        roots = [environ.get("APPDATA", ""), environ.get("LOCALAPPDATA", "")]
        return [Path(root) / name for root in roots if root]
    data_home = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return [Path(data_home) / name]


def hf_cache_dirs(home: Path, environ: Mapping[str, str]) -> list[Path]:
    if environ.get("HF_HUB_CACHE"):
        return [Path(environ["HF_HUB_CACHE"]).expanduser()]
    if environ.get("HF_HOME"):
        return [Path(environ["HF_HOME"]).expanduser() / "hub"]
    cache_home = environ.get("XDG_CACHE_HOME") or str(home / ".cache")
    return [Path(cache_home) / "huggingface" / "hub"]


def folders(home: Path, environ: Mapping[str, str]) -> list[tuple[Path, OtherTool]]:
    """Where each tool keeps GGUF files, for this platform (existing or not)."""
    found: list[tuple[Path, OtherTool]] = [(p, "hf-cache") for p in hf_cache_dirs(home, environ)]
    found += [
        (home / ".lmstudio" / "models", "lm-studio"),
        (home / ".cache" / "lm-studio" / "models", "lm-studio"),
    ]
    found += [(p / "GPT4All", "gpt4all") for p in _app_data(home, environ, "nomic.ai")]
    found.append((home / "jan" / "models", "jan"))
    for jan in _app_data(home, environ, "Jan"):
        found += [(jan / "data" / "models", "jan"), (jan / "data" / "llamacpp" / "models", "jan")]
    if environ.get("OLLAMA_MODELS"):
        found.append((Path(environ["OLLAMA_MODELS"]).expanduser(), "ollama"))
    found.append((home / ".ollama" / "models", "ollama"))
    if sys.platform.startswith("linux"):
        found.append((Path("/usr/share/ollama/.ollama/models"), "ollama"))
    return found


def _ggufs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.rglob("*.gguf") if p.is_file() and not is_later_part(p))
    except OSError:
        return []


def _hf_cache(root: Path) -> Iterator[Found]:
    for repo in sorted(root.glob("models--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snapshots = repo / "snapshots"
        for path in _ggufs(snapshots):
            relative = path.relative_to(snapshots).parts[1:]  # without the revision
            yield Found(path, "hf-cache", f"{repo_id}/{'/'.join(relative)}")


def ollama_name(manifest: Path, manifests: Path) -> str:
    """``llama3:latest`` for the default registry's library, else ``host/ns/model:tag``."""
    parts = manifest.relative_to(manifests).parts
    if len(parts) < 2:
        return manifest.name
    *where, model, tag = parts
    if where[:2] == [OLLAMA_DEFAULT_HOST, "library"]:
        where = []
    elif where[:1] == [OLLAMA_DEFAULT_HOST]:
        where = where[1:]
    return "/".join([*where, model]) + f":{tag}"


def _ollama(root: Path) -> Iterator[Found]:
    manifests = root / "manifests"
    try:
        files = sorted(p for p in manifests.rglob("*") if p.is_file())
    except OSError:
        return
    for manifest in files:
        try:
            if manifest.stat().st_size > MAX_MANIFEST_BYTES:
                continue
            data = json.loads(manifest.read_text(encoding="utf-8"))
            layers = data.get("layers", []) if isinstance(data, dict) else []
            digests = [
                layer.get("digest", "")
                for layer in layers
                if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_LAYER
            ]
        except (OSError, ValueError) as exc:
            log.info("skipping the Ollama manifest %s: %s", manifest, exc)
            continue
        for digest in digests:
            if not isinstance(digest, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                continue
            blob = root / "blobs" / digest.replace(":", "-")
            if blob.is_file():
                yield Found(blob, "ollama", ollama_name(manifest, manifests))


def discover(home: Path | None = None, environ: Mapping[str, str] | None = None) -> list[Found]:
    """Every GGUF model the other tools keep on this machine (first place wins)."""
    home = home or Path.home()
    environ = os.environ if environ is None else environ
    found: list[Found] = []
    seen: set[Path] = set()
    for root, tool in folders(home, environ):
        try:
            if not root.is_dir():
                continue
        except OSError:
            continue
        if tool == "hf-cache":
            items: Iterator[Found] = _hf_cache(root)
        elif tool == "ollama":
            items = _ollama(root)
        else:
            items = (
                Found(p, tool, str(p.relative_to(root)).replace(os.sep, "/")) for p in _ggufs(root)
            )
        for item in items:
            real = item.path.resolve()
            if real not in seen:
                seen.add(real)
                found.append(item)
    return found
