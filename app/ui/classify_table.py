"""The classification results as a table model: one row per input item, in order.

The label column can be corrected by hand (to one of the labels); a corrected row is
flagged. Sorting and filtering happen in a proxy; the rows themselves keep input order.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from app.tasks.classify import Classification

COLUMNS = ("#", "Text", "Label", "Confidence", "Alternatives", "Flags")
LABEL_COLUMN = 2
SORT_ROLE = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex


class ClassifyTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[Classification | None] = []
        self.texts: list[str] = []
        self.labels: tuple[str, ...] = ()
        self.multi = False

    def reset(self, count: int, labels: tuple[str, ...], texts: list[str], multi: bool) -> None:
        self.beginResetModel()
        self.labels = labels
        self.multi = multi
        self.texts = texts
        self.rows = [None] * count
        self.endResetModel()

    def set_result(self, result: Classification) -> None:
        self.rows[result.index] = result
        self.dataChanged.emit(
            self.index(result.index, 0), self.index(result.index, len(COLUMNS) - 1)
        )

    def finished(self) -> list[Classification]:
        return [r for r in self.rows if r is not None]

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def flags(self, index: Index):
        base = super().flags(index)
        result = self.rows[index.row()] if index.isValid() else None
        if index.column() == LABEL_COLUMN and result is not None:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        result = self.rows[row]
        if role == SORT_ROLE:
            if column == 0:
                return row
            if column == 3:
                return -1.0 if result is None or result.confidence is None else result.confidence
            return self.data(index, Qt.ItemDataRole.DisplayRole) or ""
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if role == Qt.ItemDataRole.ToolTipRole and column == 1:
                return self.texts[row]
            return None
        if column == 0:
            return str(row + 1)
        if column == 1:
            return self.texts[row]
        if result is None:
            return "…" if column == LABEL_COLUMN else ""
        if column == LABEL_COLUMN:
            return "; ".join(result.labels) if self.multi and result.labels else result.label
        if column == 3:
            return "" if result.confidence is None else f"{result.confidence:.2f}"
        if column == 4:
            return ", ".join(f"{name} {p:.2f}" for name, p in result.alternatives)
        return ", ".join(result.flags)

    def setData(self, index: Index, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != LABEL_COLUMN:
            return False
        result = self.rows[index.row()]
        if result is None:
            return False
        wanted = str(value).strip().casefold()
        match = next((name for name in self.labels if name.casefold() == wanted), None)
        if match is None:
            return False
        self.rows[index.row()] = dataclasses.replace(
            result, label=match, labels=(match,), corrected=True
        )
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), 5))
        return True


class ClassifyFilterModel(QSortFilterProxyModel):
    """Case-insensitive filter over text, label and flags; numeric sorts."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(SORT_ROLE)
