"""Manage document collections: add a folder, re-index it (progress, cancel), remove it.

Indexing runs on a worker thread (``IndexJob``); the dialog only shows its progress.
Files that could not be read are listed with the reason for the selected collection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HearthError
from app.docs.embedding import Embedder
from app.docs.indexer import Indexer, IndexReport
from app.store.documents import DocumentStore, collection_name_problem
from app.ui.bridges.indexing import IndexJob


class CollectionsDialog(QDialog):
    collectionsChanged = Signal()
    indexFinished = Signal(object)  # IndexReport (or None when it failed)

    def __init__(
        self,
        store: DocumentStore,
        parent: QWidget | None = None,
        embedder_for: Callable[[str], Embedder | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.embedder_for = embedder_for
        """The embedder of a model id, when that model can make vectors now (loaded)."""
        self.job: IndexJob | None = None
        self.last_report: IndexReport | None = None
        self.setObjectName("collectionsDialog")
        self.setWindowTitle("Document collections")
        self.resize(720, 480)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "A collection is a folder of documents Hearth has read. Choose collections "
                "for a conversation with its Documents button; answers cite their passages."
            )
        )
        self.list = QListWidget(self)
        self.list.setObjectName("collectionsList")
        self.list.setAccessibleName("Collections")
        self.list.currentRowChanged.connect(self._selected)
        layout.addWidget(self.list, 2)
        self.problems_label = QLabel("")
        layout.addWidget(self.problems_label)
        self.problems = QListWidget(self)
        self.problems.setObjectName("problemsList")
        self.problems.setAccessibleName("Files that could not be read")
        layout.addWidget(self.problems, 1)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("indexProgress")
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("indexStatus")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelIndexButton")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_index)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add folder…")
        self.add_button.setObjectName("addFolderButton")
        self.add_button.clicked.connect(self._choose_folder)
        self.reindex_button = QPushButton("Re-index")
        self.reindex_button.setObjectName("reindexButton")
        self.reindex_button.setToolTip("Read new and changed files; forget deleted ones")
        self.reindex_button.clicked.connect(self._reindex_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeCollectionButton")
        self.remove_button.setToolTip("Forget this collection (the files themselves stay)")
        self.remove_button.clicked.connect(self._remove_selected)
        for button in (self.add_button, self.reindex_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.refresh()

    # -- listing -------------------------------------------------------------------------

    def refresh(self, select: int | None = None) -> None:
        current = select if select is not None else self.selected_id()
        self.list.clear()
        for summary in self.store.list_collections():
            c = summary.collection
            problems = f", {summary.problems} unreadable" if summary.problems else ""
            item = QListWidgetItem(
                f"{c.name} — {summary.files} files, {summary.chunks} passages{problems}\n{c.folder}"
            )
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.list.addItem(item)
            if c.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentRow() < 0 and self.list.count():
            self.list.setCurrentRow(0)
        self._selected()

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _selected(self, _row: int = -1) -> None:
        collection_id = self.selected_id()
        self.problems.clear()
        problems = [] if collection_id is None else self.store.problems(collection_id)
        for problem in problems:
            self.problems.addItem(f"{problem.path}: {problem.reason}")
        self.problems_label.setText(
            f"{len(problems)} file(s) could not be read:" if problems else "No problems."
        )
        self._enable()

    def _enable(self) -> None:
        busy = self.job is not None and self.job.running
        chosen = self.selected_id() is not None
        self.add_button.setEnabled(not busy)
        self.reindex_button.setEnabled(chosen and not busy)
        self.remove_button.setEnabled(chosen and not busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)

    # -- actions -------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of documents", str(Path.home()))
        if not folder:
            return
        name, ok = QInputDialog.getText(
            self, "New collection", "Name of the collection:", text=Path(folder).name
        )
        if ok and name.strip():
            self.add_folder(Path(folder), name.strip())

    def add_folder(self, folder: Path, name: str) -> bool:
        problem = collection_name_problem(name)
        if problem:
            QMessageBox.warning(self, "Choose another name", problem)
            return False
        if self.store.find_collection(name) is not None:
            QMessageBox.warning(self, "Name taken", f"A collection named “{name}” exists.")
            return False
        collection = self.store.create_collection(name, folder=str(folder.resolve()))
        self.collectionsChanged.emit()
        self.refresh(select=collection.id)
        self.reindex(collection.id)
        return True

    def _reindex_selected(self) -> None:
        collection_id = self.selected_id()
        if collection_id is not None:
            self.reindex(collection_id)

    def reindex(self, collection_id: int) -> None:
        if self.job is not None and self.job.running:
            return
        collection = self.store.collection(collection_id)
        model = collection.embedding_model
        embedder = self.embedder_for(model) if model and self.embedder_for else None
        if model and embedder is None:
            answer = QMessageBox.question(
                self,
                "Vectors would be dropped",
                f"“{collection.name}” also has vectors for search by meaning, made by {model}, "
                "which is not the loaded model. Re-index by words only (the vectors are "
                "dropped)? To keep them, load that model first, or run "
                f"'hearth docs add {collection.name} --vectors -m {model}'.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        indexer = Indexer(self.store, embedder)
        job = IndexJob(self)
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        self.job = job
        self.progress.setRange(0, 0)
        self.status.setText(f"Reading {collection.name}…")
        job.start(lambda progress, cancel: indexer.index_folder(collection, progress, cancel))
        self._enable()

    def cancel_index(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping after the current file…")

    def _on_progress(self, done: int, total: int, path: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if path:
            self.status.setText(f"Reading {done + 1} of {total}: {Path(path).name}")

    def _on_finished(self, report: IndexReport | None, error: BaseException | None) -> None:
        self.job = None
        self.last_report = report
        if report is None:
            text = error.user_text() if isinstance(error, HearthError) else str(error)
            self.status.setText(f"Indexing failed: {text}")
        else:
            self.status.setText(f"{report.summary()} ({report.seconds:.1f} s).")
        self.refresh()
        self.collectionsChanged.emit()
        self.indexFinished.emit(report)

    def _remove_selected(self) -> None:
        collection_id = self.selected_id()
        if collection_id is None:
            return
        name = self.store.collection(collection_id).name
        answer = QMessageBox.question(
            self, "Remove collection", f"Forget “{name}”? The files themselves stay."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(collection_id)

    def remove(self, collection_id: int) -> None:
        self.store.remove_collection(collection_id)
        self.status.setText("Removed.")
        self.refresh()
        self.collectionsChanged.emit()

    def reject(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
        super().reject()
