"""The curated catalog (``resources/catalog.json``): model families we suggest, by purpose.

Each entry names its GGUF repository on the Hub, its purpose (chat, code, multilingual,
small), parameter count, context length and license. A license outside the catalog's
permissive list is *flagged*: the UI and ``hearth pull`` show its note before a download.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from app.core.errors import HearthError

Purpose = Literal["chat", "code", "multilingual", "small"]
PURPOSES: tuple[Purpose, ...] = ("chat", "code", "multilingual", "small")

CATALOG_NAME = "catalog.json"
CATALOG_PLACES = (
    Path(__file__).resolve().parents[2] / "resources",  # a checkout or editable install
    Path(sys.prefix) / "share" / "hearth",  # installed from a wheel (data-files)
)


def catalog_file() -> Path:
    for folder in CATALOG_PLACES:
        if (folder / CATALOG_NAME).is_file():
            return folder / CATALOG_NAME
    return CATALOG_PLACES[0] / CATALOG_NAME


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    family: str
    repo: str
    purposes: tuple[Purpose, ...]
    parameters: int
    context_length: int
    license: str
    default_quant: str
    license_note: str = ""
    flagged: bool = False
    """Restrictive or custom license: say so before downloading."""

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "repo": self.repo,
            "purposes": list(self.purposes),
            "parameters": self.parameters,
            "context_length": self.context_length,
            "license": self.license,
            "license_flagged": self.flagged,
            "license_note": self.license_note or None,
            "default_quant": self.default_quant,
        }


class CatalogError(HearthError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The model catalog {path} is damaged: {reason}.", "Reinstall Hearth to restore it."
        )


def _entry(raw: Any, permissive: frozenset[str]) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise ValueError("a model is not an object")
    purposes = tuple(raw.get("purposes", ()))
    for purpose in purposes:
        if purpose not in PURPOSES:
            raise ValueError(f"{raw.get('id')}: unknown purpose {purpose!r}")
    repo = str(raw["repo"])
    if repo.count("/") != 1:
        raise ValueError(f"{raw.get('id')}: repository {repo!r} is not ORG/NAME")
    license_id = str(raw["license"]).lower()
    return CatalogEntry(
        id=str(raw["id"]),
        name=str(raw["name"]),
        family=str(raw["family"]),
        repo=repo,
        purposes=cast(tuple[Purpose, ...], purposes),
        parameters=int(raw["parameters"]),
        context_length=int(raw["context_length"]),
        license=license_id,
        default_quant=str(raw.get("default_quant", "Q4_K_M")),
        license_note=str(raw.get("license_note", "")),
        flagged=license_id not in permissive,
    )


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    path = path or catalog_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        permissive = frozenset(str(x).lower() for x in data["permissive_licenses"])
        entries = [_entry(raw, permissive) for raw in data["models"]]
    except OSError as exc:
        raise CatalogError(path, exc.strerror or str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogError(path, str(exc)) from exc
    return entries


def catalog_entry_for(repo: str, entries: list[CatalogEntry]) -> CatalogEntry | None:
    lowered = repo.lower()
    return next((e for e in entries if e.repo.lower() == lowered), None)
