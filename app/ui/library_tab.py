"""The Library tab: every GGUF model on this machine, its details, fit, import and remove."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.discovery import TOOL_NAMES
from app.core.downloads import read_origin
from app.core.fit import estimate_memory, judge
from app.core.library import ModelEntry
from app.ui.background import run_in_background
from app.ui.fit_text import fit_label, human_size
from app.ui.tables import row_table

SOURCE_NAMES: dict[str, str] = {
    "starter": "Starter model",
    "library": "Hearth",
    "folder": "Extra folder",
    "shared": "Shared (IT)",
    "path": "File",
}
SOURCE_NAMES.update({str(tool): name for tool, name in TOOL_NAMES.items()})
COLUMNS = ("Name", "Quantization", "Size", "Source", "Status")


class LibraryTab(QWidget):
    loadRequested = Signal(object)  # ModelEntry
    changed = Signal()

    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.browser = browser
        self.entries: list[ModelEntry] = []
        self.table = row_table(self, COLUMNS, "libraryTable", "Models on this machine")
        self.table.itemSelectionChanged.connect(self._show_details)
        self.table.itemDoubleClicked.connect(lambda _item: self._load())
        self.details = QTextBrowser(self)
        self.details.setObjectName("modelDetails")
        self.details.setAccessibleName("Model details")
        self.details.setOpenLinks(False)
        self.status = QLabel("", self)
        self.status.setObjectName("libraryStatus")
        self.status.setWordWrap(True)

        self.load_button = self._button("Load", "loadModel", self._load)
        self.import_button = self._button("Import…", "importModel", self._import)
        self.remove_button = self._button("Remove", "removeModel", self._remove)
        self.update_button = self._button("Check for update", "checkUpdate", self._check_update)
        self.refresh_button = self._button("Refresh", "refreshLibrary", self.refresh)

        buttons = QHBoxLayout()
        for button in (self.load_button, self.import_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addWidget(self.update_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setSizes([320, 200])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._set_buttons(None)

    def _button(self, text: str, name: str, slot) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # -- listing ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Scan the folders on a background thread (inspection reads every header)."""
        self.status.setText("Looking for models…")
        self.refresh_button.setEnabled(False)
        run_in_background(self.browser.library.entries, self._listed, self)

    def _listed(self, entries, error) -> None:
        self.refresh_button.setEnabled(True)
        if error is not None:
            self.status.setText(f"Could not list the models: {error}")
            return
        selected = self.current()
        self.entries = list(entries)
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            info = entry.info
            cells = (
                entry.name,
                info.quantization if info else "-",
                human_size(entry.size_bytes),
                SOURCE_NAMES.get(entry.source, entry.source),
                "OK" if entry.valid else f"Invalid: {entry.error}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(entry.path) if column == 0 else text)
                self.table.setItem(row, column, item)
        invalid = sum(1 for e in self.entries if not e.valid)
        text = f"{len(self.entries)} model(s)"
        if invalid:
            text += f", {invalid} invalid (listed with the reason)"
        self.status.setText(text)
        if selected is not None:
            self.select(selected.id)
        self._show_details()

    def select(self, model_id: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.id == model_id:
                self.table.selectRow(row)
                return

    def current(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if rows and 0 <= rows[0].row() < len(self.entries):
            return self.entries[rows[0].row()]
        return None

    def _set_buttons(self, entry: ModelEntry | None) -> None:
        self.load_button.setEnabled(entry is not None and entry.valid)
        self.remove_button.setEnabled(entry is not None and entry.source not in ("starter", "path"))
        self.update_button.setEnabled(entry is not None and read_origin(entry.path) is not None)

    def _show_details(self) -> None:
        entry = self.current()
        self._set_buttons(entry)
        if entry is None:
            self.details.setPlainText("Select a model to see its details.")
            return
        rows = [("File", str(entry.path)), ("Source", SOURCE_NAMES.get(entry.source, entry.source))]
        if entry.label:
            rows.append(("Name in that app", entry.label))
        origin = read_origin(entry.path)
        if origin is not None:
            rows.append(
                ("Downloaded from", f"{origin.get('repo')} @ {str(origin.get('revision'))[:10]}")
            )
        info = entry.info
        if info is None:
            rows.append(("Problem", entry.error))
        else:
            rows += [
                ("Architecture", info.architecture),
                ("Parameters", f"{info.parameter_count / 1e9:.2f} B"),
                ("Quantization", info.quantization),
                ("Context length", str(info.context_length or "-")),
                ("Layers", str(info.block_count or "-")),
                (
                    "Chat template",
                    "yes" if info.has_chat_template else "no (a generic one is used)",
                ),
                ("License", info.license or "-"),
            ]
            machine = self.browser.machine
            if machine is not None:
                hardware, offload = machine
                context = min(
                    self.browser.settings.model.context_length, info.context_length or 1 << 30
                )
                fit = judge(estimate_memory(info, context), hardware, offload)
                layers = {-1: "all", 0: "none"}.get(fit.gpu_layers, str(fit.gpu_layers))
                rows.append((f"Fit ({context} tokens)", fit_label(fit)))
                rows.append(("GPU layers when automatic", layers))
        self.details.setPlainText("\n".join(f"{name}: {value}" for name, value in rows))

    # -- actions ----------------------------------------------------------------------

    def _load(self) -> None:
        entry = self.current()
        if entry is not None and entry.valid:
            self.loadRequested.emit(entry)

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if path:
            self.import_file(Path(path), link=False)

    def import_file(self, path: Path, link: bool) -> None:
        self.status.setText(f"Importing {path.name}…")
        mode = "link" if link else "copy"
        run_in_background(
            lambda: self.browser.library.import_file(path, mode), self._imported, self
        )

    def _imported(self, target, error) -> None:
        if error is not None:
            text = error.user_text() if hasattr(error, "user_text") else str(error)
            self.status.setText(f"Not imported: {text}")
            return
        self.status.setText(f"Imported {target.name}.")
        self.changed.emit()
        self.refresh()

    def _remove(self) -> None:
        entry = self.current()
        if entry is None:
            return
        if entry.owned:
            question = f"Delete {entry.path.name} from the models folder?"
        else:
            where = SOURCE_NAMES.get(entry.source, entry.source)
            question = f"Hide {entry.name}? The file belongs to {where} and stays where it is."
        if not self.browser.confirm("Remove model", question):
            return
        self.remove(entry)

    def remove(self, entry: ModelEntry) -> None:
        library = self.browser.library
        try:
            outcome = library.remove(entry)
        except Exception as error:
            QMessageBox.warning(self, "Remove model", str(error))
            return
        if outcome == "hidden":
            self.browser.save_hidden(library.hidden)
            self.status.setText(f"Hidden {entry.name}; the file was kept.")
        else:
            self.status.setText(f"Deleted {entry.path.name}.")
        self.changed.emit()
        self.refresh()

    def _check_update(self) -> None:
        entry = self.current()
        if entry is None:
            return
        self.status.setText("Asking the Hub for a newer version…")
        manager = self.browser.downloads

        def work():
            self.browser.prepare_hub()
            return manager.check_update(entry.path)

        run_in_background(work, self._update_checked, self)

    def _update_checked(self, update, error) -> None:
        if error is not None:
            text = error.user_text() if hasattr(error, "user_text") else str(error)
            self.status.setText(text)
            return
        if update is None:
            self.status.setText("This model is up to date.")
            return
        question = (
            f"{update.file.repo} has a newer {update.path.name} "
            f"(revision {update.file.revision[:10]}). Download the update?"
        )
        if self.browser.confirm("Update available", question):
            self.browser.start_download(update.file, replace_existing=True)
