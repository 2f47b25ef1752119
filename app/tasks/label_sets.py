"""Saved label sets: a small JSON file in the data folder, written atomically. No Qt."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedLabelSet:
    name: str
    labels: str
    """As typed: one 'label: description' a line, or comma-separated."""
    examples: str = ""
    """One 'text => label' a line."""
    instruction: str = ""


class LabelSetStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[SavedLabelSet]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("cannot read saved label sets %s: %s", self.path, exc)
            return []
        sets = []
        for entry in data.get("label_sets", []) if isinstance(data, dict) else []:
            try:
                sets.append(
                    SavedLabelSet(
                        str(entry["name"]),
                        str(entry["labels"]),
                        str(entry.get("examples", "")),
                        str(entry.get("instruction", "")),
                    )
                )
            except (KeyError, TypeError):
                continue
        return sets

    def save(self, label_set: SavedLabelSet) -> list[SavedLabelSet]:
        """Add or replace (by name); returns the sets now saved, sorted by name."""
        sets = [s for s in self.load() if s.name != label_set.name]
        sets.append(label_set)
        sets.sort(key=lambda s: s.name.casefold())
        self._write(sets)
        return sets

    def delete(self, name: str) -> list[SavedLabelSet]:
        sets = [s for s in self.load() if s.name != name]
        self._write(sets)
        return sets

    def _write(self, sets: list[SavedLabelSet]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"label_sets": [s.__dict__ for s in sets]}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=2, ensure_ascii=False)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def parse_examples(text: str) -> list[tuple[str, str]]:
    """'text => label' lines; returns (text, label) pairs and skips blank lines."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        sample, separator, label = line.rpartition("=>")
        if not separator:
            raise ValueError(f"Cannot read the example line '{line.strip()}': use 'text => label'.")
        pairs.append((sample.strip(), label.strip()))
    return pairs
