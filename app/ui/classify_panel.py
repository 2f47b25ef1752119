"""The Classify panel: items and labels in, a sortable, correctable table out.

The work runs on a worker thread through ``app.tasks.classify``; results arrive as
Qt signals, row by row. Cancel keeps the finished rows. Files are read and written
off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HearthError
from app.engine.client import EngineClient
from app.tasks.classify import (
    Classification,
    Classifier,
    ClassifyOptions,
    Example,
    LabelSet,
    parse_labels,
)
from app.tasks.inputs import Items, parse_lines, write_csv, write_file
from app.tasks.label_sets import LabelSetStore, SavedLabelSet, parse_examples
from app.tasks.scoring import scorer_for
from app.ui.background import error_text, run_in_background
from app.ui.bridges.task_bridge import TaskRelay
from app.ui.classify_table import LABEL_COLUMN, ClassifyFilterModel, ClassifyTableModel
from app.ui.items_file import choose_items_file, read_items
from app.ui.label_set_bar import LabelSetBar
from app.ui.rate_progress import RateProgress


class ClassifyPanel(QWidget):
    runFinished = Signal(str)  # "done", "cancelled" or the error text
    fileLoaded = Signal(int)  # items read from a file
    exported = Signal(str)  # the path written

    def __init__(self, engine: EngineClient, store: LabelSetStore, parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.engine = engine
        self.setObjectName("classifyPanel")
        self.setWindowTitle("Classify — Hearth")
        self.setAccessibleName("Classify")
        self.resize(1000, 700)
        self._file_items: Items | None = None
        self._run_items: Items | None = None
        self._classifier: Classifier | None = None
        self.relay = TaskRelay(self)

        self.items_edit = QPlainTextEdit(self)
        self.items_edit.setObjectName("itemsEdit")
        self.items_edit.setAccessibleName("Items, one per line")
        self.items_edit.setPlaceholderText("Paste the texts to classify, one per line")
        self.open_button = QPushButton("Open file…", self)
        self.open_button.setObjectName("openItems")
        self.paste_button = QPushButton("Use pasted text", self)
        self.paste_button.setObjectName("usePasted")
        self.paste_button.setVisible(False)
        self.source_label = QLabel("", self)
        self.source_label.setObjectName("itemsSource")

        self.labels_edit = QPlainTextEdit(self)
        self.labels_edit.setObjectName("labelsEdit")
        self.labels_edit.setAccessibleName("Labels")
        self.labels_edit.setPlaceholderText(
            "positive, negative\nor one 'label: description' a line"
        )
        self.examples_edit = QPlainTextEdit(self)
        self.examples_edit.setObjectName("examplesEdit")
        self.examples_edit.setAccessibleName("Examples")
        self.examples_edit.setPlaceholderText("Optional examples: one 'text => label' a line")
        self.instruction_edit = QLineEdit(self)
        self.instruction_edit.setObjectName("instructionEdit")
        self.instruction_edit.setPlaceholderText("Optional: what the texts are, what to look for")
        self.multi_check = QCheckBox("Several labels per item", self)
        self.multi_check.setObjectName("multiLabel")
        self.label_sets = LabelSetBar(store, self)

        self.run_button = QPushButton("Classify", self)
        self.run_button.setObjectName("classifyButton")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelClassify")
        self.cancel_button.setEnabled(False)
        self.progress = RateProgress("classify", self)
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("classifyError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")

        self.model = ClassifyTableModel(self)
        self.proxy = ClassifyFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setObjectName("resultsTable")
        self.table.setAccessibleName("Results")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip(f"Double-click a label (column {LABEL_COLUMN + 1}) to correct it")
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("filterEdit")
        self.filter_edit.setPlaceholderText("Filter rows")
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.setObjectName("exportCsv")
        self.export_button.setEnabled(False)

        self._layout()
        self.open_button.clicked.connect(self.choose_file)
        self.paste_button.clicked.connect(self._use_pasted)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.export_button.clicked.connect(self.choose_export)
        self.label_sets.save_button.clicked.connect(self._save_label_set)
        self.label_sets.chosen.connect(self._apply_label_set)
        self.relay.itemDone.connect(self._on_result)
        self.relay.finished.connect(self._on_finished)

    def _layout(self) -> None:
        inputs = QWidget(self)
        form = QFormLayout(inputs)
        source_row = QHBoxLayout()
        source_row.addWidget(self.open_button)
        source_row.addWidget(self.paste_button)
        source_row.addWidget(self.source_label, 1)
        form.addRow(self.items_edit)
        form.addRow(source_row)
        form.addRow("Labels", self.labels_edit)
        form.addRow("Examples", self.examples_edit)
        form.addRow("Instruction", self.instruction_edit)
        form.addRow(self.multi_check)
        form.addRow(self.label_sets)
        self.labels_edit.setMaximumHeight(110)
        self.examples_edit.setMaximumHeight(80)

        results = QWidget(self)
        column = QVBoxLayout(results)
        column.setContentsMargins(0, 0, 0, 0)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        column.addLayout(run_row)
        column.addWidget(self.error_label)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.export_button)
        column.addLayout(filter_row)
        column.addWidget(self.table, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(inputs)
        splitter.addWidget(results)
        splitter.setSizes([380, 620])
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)

    # -- inputs ---------------------------------------------------------------------------

    def choose_file(self) -> None:
        chosen = choose_items_file(self, "Classify")
        if chosen is not None:
            self.open_path(*chosen)

    def open_path(self, path: Path, column: str | None = None) -> None:
        """Read items from a text file (a line each) or a CSV column, off the GUI thread."""

        def read() -> Items:
            return read_items(path, column)

        def done(items: Items | None, error: BaseException | None) -> None:
            if error is not None or items is None:
                self._show_error(error)
                return
            self._file_items = items
            where = f", column '{items.column}'" if items.column else ""
            self.source_label.setText(f"{len(items.texts)} items from {path.name}{where}")
            preview = "\n".join(t.replace("\n", " ") for t in items.texts[:200])
            self.items_edit.setPlainText(preview)
            self.items_edit.setReadOnly(True)
            self.paste_button.setVisible(True)
            self.error_label.clear()
            self.fileLoaded.emit(len(items.texts))

        run_in_background(read, done, self)

    def _use_pasted(self) -> None:
        self._file_items = None
        self.items_edit.setReadOnly(False)
        self.items_edit.clear()
        self.source_label.clear()
        self.paste_button.setVisible(False)

    def current_items(self) -> Items:
        if self._file_items is not None:
            return self._file_items
        return parse_lines(self.items_edit.toPlainText())

    def label_set(self) -> LabelSet:
        base = parse_labels(self.labels_edit.toPlainText())
        try:
            pairs = parse_examples(self.examples_edit.toPlainText())
        except ValueError as exc:
            raise HearthError(str(exc)) from exc
        examples = tuple(Example(text, label) for text, label in pairs)
        return LabelSet(base.labels, examples, self.instruction_edit.text()).validate()

    def _save_label_set(self) -> None:
        name = self.label_sets.ask_name()
        if name:
            self.save_label_set(name)

    def save_label_set(self, name: str) -> None:
        self.label_sets.save(
            SavedLabelSet(
                name,
                self.labels_edit.toPlainText(),
                self.examples_edit.toPlainText(),
                self.instruction_edit.text(),
            )
        )

    @Slot(object)
    def _apply_label_set(self, saved: SavedLabelSet) -> None:
        self.labels_edit.setPlainText(saved.labels)
        self.examples_edit.setPlainText(saved.examples)
        self.instruction_edit.setText(saved.instruction)

    # -- running --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._classifier is not None

    def start(self) -> None:
        if self.running:
            return
        try:
            label_set = self.label_set()
        except HearthError as error:
            self._show_error(error)
            return
        items = self.current_items()
        if not items.texts:
            self._show_error(HearthError("There are no items.", "Paste texts or open a file."))
            return
        if self.engine.loaded_model is None:
            self._show_error(
                HearthError("No model is loaded.", "Choose a model in the main window first.")
            )
            return
        multi = self.multi_check.isChecked()
        classifier = Classifier(
            scorer_for(self.engine), label_set, ClassifyOptions(multi_label=multi)
        )
        self._classifier = classifier
        self._run_items = items
        self.error_label.clear()
        self.model.reset(len(items.texts), label_set.names, list(items.texts), multi)
        self.progress.begin(len(items.texts))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        texts = list(items.texts)
        self.relay.start(lambda: classifier.run(texts, self.relay.item))

    def cancel(self) -> None:
        if self._classifier is not None:
            self._classifier.cancel()

    @Slot(object)
    def _on_result(self, result: Classification) -> None:
        self.model.set_result(result)
        if self._classifier is not None:
            self.progress.update_done(self._classifier.stats.done)

    @Slot(object, object)
    def _on_finished(self, _results: object, error: object) -> None:
        classifier, self._classifier = self._classifier, None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.export_button.setEnabled(bool(self.model.finished()))
        if isinstance(error, BaseException):
            self._show_error(error)
            self.progress.end("Failed")
            self.runFinished.emit(self.error_label.text())
        elif classifier is not None and classifier.cancelled:
            done = len(self.model.finished())
            self.progress.end(f"Cancelled after {done} of {len(self.model.rows)}")
            self.runFinished.emit("cancelled")
        else:
            self.progress.end(f"{len(self.model.rows)} items")
            self.runFinished.emit("done")

    def _show_error(self, error: object) -> None:
        self.error_label.setText(error_text(error))

    # -- export ---------------------------------------------------------------------------

    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "labels.csv", "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Write the finished rows in input order (corrections included), off the GUI thread."""
        items = self._run_items or Items(())
        rows: list[list[object]] = []
        multi = self.model.multi
        for r in self.model.finished():
            label = "; ".join(r.labels) if multi and r.labels else r.label
            confidence = "" if r.confidence is None else f"{r.confidence:.3f}"
            alternatives = "; ".join(f"{name} {p:.2f}" for name, p in r.alternatives)
            values = [label, confidence, alternatives, ",".join(r.flags)]
            rows.append([*items.rows[r.index], *values] if items.header else [r.text, *values])
        columns = ["label", "confidence", "alternatives", "flags"]
        header = [*items.header, *columns] if items.header else ["text", *columns]
        text = write_csv(header, rows)

        def done(_result: object, error: BaseException | None) -> None:
            if error is not None:
                self._show_error(error)
            else:
                self.exported.emit(str(path))

        run_in_background(lambda: write_file(path, text), done, self)

    def closeEvent(self, event) -> None:
        self.cancel()
        super().closeEvent(event)
