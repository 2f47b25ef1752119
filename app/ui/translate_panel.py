"""The Translate panel: a text streamed into another language, or many lines/a CSV column.

Paragraphs are kept, glossary terms get their fixed translations (misses are shown).
The work runs on a worker thread through ``app.tasks.translate``; streamed text is
flushed to the view by a timer.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HearthError
from app.engine.client import EngineClient
from app.tasks.inputs import Items, parse_lines, write_csv, write_file
from app.tasks.translate import (
    EngineStreamer,
    TranslateSpec,
    Translation,
    Translator,
    parse_glossary,
)
from app.ui.background import error_text, run_in_background
from app.ui.bridges.task_bridge import TaskRelay
from app.ui.items_file import choose_items_file, read_items
from app.ui.rate_progress import RateProgress

LANGUAGES = (
    "English",
    "German",
    "French",
    "Spanish",
    "Italian",
    "Portuguese",
    "Dutch",
    "Polish",
    "Swedish",
    "Chinese",
    "Japanese",
)


class TranslatePanel(QWidget):
    runFinished = Signal(str)  # "done", "cancelled" or the error text
    fileLoaded = Signal(int)
    exported = Signal(str)

    def __init__(self, engine: EngineClient, parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.engine = engine
        self.setObjectName("translatePanel")
        self.setWindowTitle("Translate — Hearth")
        self.setAccessibleName("Translate")
        self.resize(1000, 650)
        self._file_items: Items | None = None
        self._run_items: Items | None = None
        self._translator: Translator | None = None
        self._results: list[Translation] = []
        self.relay = TaskRelay(self)

        self.source_edit = QPlainTextEdit(self)
        self.source_edit.setObjectName("sourceEdit")
        self.source_edit.setAccessibleName("Text to translate")
        self.source_edit.setPlaceholderText("Text to translate; paragraphs are kept")
        self.source_language = QComboBox(self)
        self.source_language.setObjectName("sourceLanguage")
        self.source_language.setEditable(True)
        self.source_language.addItems(["Detect", *LANGUAGES])
        self.target_language = QComboBox(self)
        self.target_language.setObjectName("targetLanguage")
        self.target_language.setEditable(True)
        self.target_language.addItems(LANGUAGES)
        self.target_language.setCurrentText("German")
        self.glossary_edit = QPlainTextEdit(self)
        self.glossary_edit.setObjectName("glossaryEdit")
        self.glossary_edit.setAccessibleName("Glossary")
        self.glossary_edit.setPlaceholderText("Fixed terms: one 'term = translation' a line")
        self.glossary_edit.setMaximumHeight(90)
        self.each_line = QCheckBox("Each line is a separate item", self)
        self.each_line.setObjectName("eachLine")
        self.open_button = QPushButton("Open file…", self)
        self.open_button.setObjectName("openTranslateItems")
        self.source_label = QLabel("", self)
        self.source_label.setObjectName("translateSource")

        self.run_button = QPushButton("Translate", self)
        self.run_button.setObjectName("translateButton")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelTranslate")
        self.cancel_button.setEnabled(False)
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.setObjectName("exportTranslations")
        self.export_button.setEnabled(False)
        self.progress = RateProgress("translate", self)
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("translateError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.output = QPlainTextEdit(self)
        self.output.setObjectName("translationOutput")
        self.output.setAccessibleName("Translation")
        self.output.setReadOnly(True)

        self._layout()
        self.open_button.clicked.connect(self.choose_file)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.choose_export)
        self.relay.textBatch.connect(self._on_text)
        self.relay.itemDone.connect(self._on_item)
        self.relay.finished.connect(self._on_finished)

    def _layout(self) -> None:
        left = QWidget(self)
        form = QFormLayout(left)
        form.addRow(self.source_edit)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.source_label, 1)
        form.addRow(row)
        form.addRow(self.each_line)
        form.addRow("From", self.source_language)
        form.addRow("To", self.target_language)
        form.addRow("Glossary", self.glossary_edit)

        right = QWidget(self)
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.export_button)
        column.addLayout(run_row)
        column.addWidget(self.error_label)
        column.addWidget(self.output, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)

    # -- inputs ---------------------------------------------------------------------------

    def choose_file(self) -> None:
        chosen = choose_items_file(self, "Translate")
        if chosen is not None:
            self.open_path(*chosen)

    def open_path(self, path: Path, column: str | None = None) -> None:
        def read() -> Items:
            return read_items(path, column)

        def done(items: Items | None, error: BaseException | None) -> None:
            if error is not None or items is None:
                self._show_error(error)
                return
            self._file_items = items
            where = f", column '{items.column}'" if items.column else ""
            self.source_label.setText(f"{len(items.texts)} items from {path.name}{where}")
            self.source_edit.setPlainText(
                "\n".join(t.replace("\n", " ") for t in items.texts[:200])
            )
            self.source_edit.setReadOnly(True)
            self.each_line.setChecked(True)
            self.each_line.setEnabled(False)
            self.fileLoaded.emit(len(items.texts))

        run_in_background(read, done, self)

    def spec(self) -> TranslateSpec:
        source = self.source_language.currentText().strip()
        glossary = parse_glossary(self.glossary_edit.toPlainText().splitlines())
        return TranslateSpec(
            self.target_language.currentText(), "" if source == "Detect" else source, glossary
        ).validate()

    # -- running --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._translator is not None

    def start(self) -> None:
        if self.running:
            return
        try:
            spec = self.spec()
        except HearthError as error:
            self._show_error(error)
            return
        batch = self._file_items is not None or self.each_line.isChecked()
        if self._file_items is not None:
            items = self._file_items
        elif batch:
            items = parse_lines(self.source_edit.toPlainText())
        else:
            items = Items((self.source_edit.toPlainText(),))
        if not any(t.strip() for t in items.texts):
            self._show_error(HearthError("There is nothing to translate."))
            return
        if self.engine.loaded_model is None:
            self._show_error(
                HearthError("No model is loaded.", "Choose a model in the main window first.")
            )
            return
        translator = Translator(EngineStreamer(self.engine), spec)
        self._translator = translator
        self._run_items = items
        self._results = []
        self.output.clear()
        self.error_label.clear()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.progress.begin(len(items.texts))
        if batch:
            texts = list(items.texts)
            self.relay.start(lambda: translator.translate_all(texts, self.relay.item))
        else:
            text = items.texts[0]
            self.relay.start(lambda: translator.translate(text, self.relay.text))

    def cancel(self) -> None:
        if self._translator is not None:
            self._translator.cancel()

    @Slot(str)
    def _on_text(self, text: str) -> None:
        cursor = self.output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)

    @Slot(object)
    def _on_item(self, result: Translation) -> None:
        self._results.append(result)
        self.output.appendPlainText(result.text.replace("\n", " "))
        if self._translator is not None:
            self.progress.update_done(self._translator.stats.done)

    @Slot(object, object)
    def _on_finished(self, result: object, error: object) -> None:
        translator, self._translator = self._translator, None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if isinstance(result, Translation):
            self._results = [result]
        self.export_button.setEnabled(bool(self._results))
        missed = sorted({term for r in self._results for term in r.missed_terms})
        if isinstance(error, BaseException):
            self._show_error(error)
            self.progress.end("Failed")
            self.runFinished.emit(self.error_label.text())
            return
        if missed:
            self.error_label.setText(
                "The fixed translation of " + ", ".join(missed) + " is missing; check the text."
            )
        if translator is not None and translator.cancelled:
            self.progress.end(f"Cancelled after {len(self._results)}")
            self.runFinished.emit("cancelled")
        else:
            self.progress.update_done(len(self._results))
            self.progress.end("Done")
            self.runFinished.emit("done")

    def _show_error(self, error: object) -> None:
        self.error_label.setText(error_text(error))

    # -- export ---------------------------------------------------------------------------

    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "translations.csv", "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        items = self._run_items or Items(())
        target = self.target_language.currentText()
        rows: list[list[object]] = []
        for r in self._results:
            flags = "glossary missed: " + "; ".join(r.missed_terms) if r.missed_terms else ""
            if items.header:
                rows.append([*items.rows[r.index], r.text, flags])
            else:
                rows.append([r.source, r.text, flags])
        if items.header:
            header = [*items.header, f"{items.column} ({target})", "flags"]
        else:
            header = ["text", "translation", "flags"]
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
