"""Choosing a text or CSV file of items for the analyst panels (which column, too)."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from app.tasks.inputs import Items, parse_csv, parse_lines, read_path


def choose_items_file(parent: QWidget, verb: str) -> tuple[Path, str | None] | None:
    """Ask for a file; for a CSV, also which column holds the items. None if cancelled."""
    path, _ = QFileDialog.getOpenFileName(
        parent, "Open items", "", "Text or CSV (*.txt *.csv);;All files (*)"
    )
    if not path:
        return None
    column = None
    if path.lower().endswith(".csv"):
        header = csv_header(Path(path))
        if header:
            column, ok = QInputDialog.getItem(parent, "Column", f"{verb} column:", header, 0, False)
            if not ok:
                return None
    return Path(path), column


def read_items(path: Path, column: str | None) -> Items:
    """One item a line, or a CSV column's cells (slow for big files: off the GUI thread)."""
    text = read_path(path)
    return parse_csv(text, column, str(path)) if column else parse_lines(text)


def csv_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return []
    return next(csv.reader([first]), [])
