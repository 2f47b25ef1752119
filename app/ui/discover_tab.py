"""The Discover tab: the curated catalog and Hub search, files by quantization with fit."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.catalog import CatalogEntry, catalog_entry_for
from app.core.fit import estimate_from_size, judge
from app.core.hub import HubFile, HubModel, RepoFiles
from app.ui.background import error_text, run_in_background
from app.ui.fit_text import fit_label, human_size
from app.ui.tables import row_table

SORTS = (("Most downloaded", "downloads"), ("Most liked", "likes"), ("Recently updated", "recent"))
FILE_COLUMNS = ("Quantization", "Size", "Fit on this machine", "File")
REPO_ROLE = Qt.ItemDataRole.UserRole


class DiscoverTab(QWidget):
    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.browser = browser
        self.files: RepoFiles | None = None
        self._rows: list[HubFile] = []
        self._search_serial = 0
        self._files_serial = 0

        self.query = QLineEdit(self)
        self.query.setObjectName("hubSearch")
        self.query.setAccessibleName("Search the Hugging Face Hub")
        self.query.setPlaceholderText("Search GGUF models on the Hugging Face Hub")
        self.query.returnPressed.connect(self.search)
        self.sort = QComboBox(self)
        self.sort.setObjectName("hubSort")
        self.sort.setAccessibleName("Sort results by")
        for label, key in SORTS:
            self.sort.addItem(label, key)
        self.search_button = QPushButton("Search", self)
        self.search_button.setObjectName("hubSearchButton")
        self.search_button.clicked.connect(self.search)

        self.results = QListWidget(self)
        self.results.setObjectName("hubResults")
        self.results.setAccessibleName("Models found")
        self.results.currentItemChanged.connect(self._repo_chosen)
        self.file_table = row_table(
            self, FILE_COLUMNS, "hubFiles", "Files of the chosen model", stretch=3
        )
        self.file_table.itemSelectionChanged.connect(self._file_chosen)
        self.repo_note = QLabel("", self)
        self.repo_note.setObjectName("repoNote")
        self.repo_note.setWordWrap(True)
        self.download_button = QPushButton("Download", self)
        self.download_button.setObjectName("downloadFile")
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self._download)
        self.state = QLabel("", self)
        self.state.setObjectName("hubState")
        self.state.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.sort)
        top.addWidget(self.search_button)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.repo_note)
        right_layout.addWidget(self.file_table, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.download_button)
        right_layout.addLayout(bottom)
        splitter = QSplitter(self)
        splitter.addWidget(self.results)
        splitter.addWidget(right)
        splitter.setSizes([300, 600])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.state)
        layout.addWidget(splitter, 1)
        self.show_catalog()

    # -- results ------------------------------------------------------------------------

    def show_catalog(self) -> None:
        """Before any search: the curated models, by purpose."""
        self.results.clear()
        for entry in self.browser.catalog:
            purposes = ", ".join(entry.purposes)
            flag = " · license terms" if entry.flagged else ""
            item = QListWidgetItem(
                f"{entry.name} · {entry.parameters / 1e9:.1f}B · {purposes}{flag}"
            )
            item.setData(REPO_ROLE, entry.repo)
            item.setToolTip(entry.repo)
            self.results.addItem(item)
        self.state.setText("Suggested models. Search the Hub for more.")

    def search(self) -> None:
        query = self.query.text().strip()
        if not query:
            self.show_catalog()
            return
        self._search_serial += 1
        serial = self._search_serial
        sort = self.sort.currentData()
        self.state.setText(f"Searching the Hub for “{query}”…")
        self.search_button.setEnabled(False)

        def work():
            return self.browser.prepare_hub().search(query, sort=sort, limit=40)

        run_in_background(work, lambda r, e: self._found(serial, query, r, e), self)

    def _found(self, serial: int, query: str, results, error) -> None:
        if serial != self._search_serial:
            return  # an older search answered late
        self.search_button.setEnabled(True)
        if error is not None:
            self.state.setText(error_text(error))
            return
        self.results.clear()
        for model in results:
            self.results.addItem(self._result_item(model))
        self.state.setText(
            f"{len(results)} model(s) for “{query}”."
            if results
            else f"Nothing found for “{query}”."
        )

    def _result_item(self, model: HubModel) -> QListWidgetItem:
        flags = []
        if model.gated:
            flags.append("gated")
        if catalog_entry_for(model.repo, self.browser.catalog):
            flags.append("suggested")
        suffix = f" · {' · '.join(flags)}" if flags else ""
        item = QListWidgetItem(f"{model.repo}  ({model.downloads:,} downloads){suffix}")
        item.setData(REPO_ROLE, model.repo)
        return item

    # -- files --------------------------------------------------------------------------

    def _repo_chosen(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        repo = item.data(REPO_ROLE)
        self._files_serial += 1
        serial = self._files_serial
        self.files = None
        self._rows = []
        self.file_table.setRowCount(0)
        self.download_button.setEnabled(False)
        self.repo_note.setText(f"Listing the files of {repo}…")

        def work():
            return self.browser.prepare_hub().repo_files(repo)

        run_in_background(work, lambda r, e: self._listed(serial, r, e), self)

    def _listed(self, serial: int, files, error) -> None:
        if serial != self._files_serial:
            return
        if error is not None:
            self.repo_note.setText(error_text(error))
            return
        self.files = files
        self._rows = [f for group in files.by_quant().values() for f in group]
        machine = self.browser.machine
        context = self.browser.settings.model.context_length
        self.file_table.setRowCount(len(self._rows))
        for row, file in enumerate(self._rows):
            fit = "…"
            if machine is not None:
                hardware, offload = machine
                fit = fit_label(judge(estimate_from_size(file.size, context), hardware, offload))
            parts = f" ({len(file.parts)} parts)" if file.split else ""
            cells = (file.quant, human_size(file.size), fit, file.name + parts)
            for column, text in enumerate(cells):
                self.file_table.setItem(row, column, QTableWidgetItem(text))
        notes = []
        entry = catalog_entry_for(files.repo, self.browser.catalog)
        if entry is not None and entry.flagged:
            notes.append(f"License {entry.license}: {entry.license_note}")
        elif files.license:
            notes.append(f"License: {files.license}")
        if files.gated:
            notes.append("Gated: the Hub asks you to accept its terms; set your token in Settings.")
        if not self._rows:
            notes.append("No GGUF files in this repository.")
        self.repo_note.setText(f"{files.repo}. " + " ".join(notes))

    def _file_chosen(self) -> None:
        self.download_button.setEnabled(self.current_file() is not None)

    def current_file(self) -> HubFile | None:
        model = self.file_table.selectionModel()
        rows = model.selectedRows() if model else []
        if rows and 0 <= rows[0].row() < len(self._rows):
            return self._rows[rows[0].row()]
        return None

    def select_quant(self, quant: str) -> None:
        for row, file in enumerate(self._rows):
            if file.quant == quant:
                self.file_table.selectRow(row)
                return

    def _download(self) -> None:
        file = self.current_file()
        if file is None or self.files is None:
            return
        entry = catalog_entry_for(file.repo, self.browser.catalog)
        if not self._license_accepted(entry):
            return
        self.browser.start_download(file)

    def _license_accepted(self, entry: CatalogEntry | None) -> bool:
        files = self.files
        if entry is not None and entry.flagged:
            note = f"{entry.license}: {entry.license_note}"
        elif (
            entry is None and files is not None and files.license not in (None, "apache-2.0", "mit")
        ):
            note = f"{files.license}: check its terms on the model's Hub page."
        else:
            return True
        return self.browser.confirm(
            "License terms", f"This model's license has conditions.\n\n{note}\n\nDownload it?"
        )
