"""The Classify and Translate panels, opened from the main window, on a scripted engine."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.main import build_services
from app.ui.classify_panel import ClassifyPanel
from app.ui.translate_panel import TranslatePanel
from tests.fakes.backend import Script

SCORING = Script(context_length=4096, score_keywords=("good", "bad"))


def open_classify(qtbot, window) -> ClassifyPanel:
    qtbot.keyClick(
        window,
        Qt.Key.Key_L,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    panel = window.classify_panel
    assert panel is not None and panel.isVisible()
    assert panel.objectName() == "classifyPanel"
    return panel


def run_classify(qtbot, panel: ClassifyPanel, items: str, labels: str = "good, bad") -> str:
    panel.items_edit.setPlainText(items)
    panel.labels_edit.setPlainText(labels)
    with qtbot.waitSignal(panel.runFinished, timeout=20_000) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    return finished.args[0]


def column(panel: ClassifyPanel, number: int) -> list[str]:
    proxy = panel.proxy
    return [proxy.index(row, number).data() for row in range(proxy.rowCount())]


def test_classify_fills_the_table_in_order_and_exports(qtbot, make_window, tmp_path: Path):
    window = make_window(SCORING)
    panel = open_classify(qtbot, window)
    assert run_classify(qtbot, panel, "a good day\n\nso bad\nplain") == "done"
    assert column(panel, 1) == ["a good day", "", "so bad", "plain"]
    assert column(panel, 2) == ["good", "", "bad", "good"]
    assert column(panel, 5)[1] == "empty"
    assert float(column(panel, 3)[0]) > 0.9
    assert "4 items" in panel.progress.rate.text()

    # Sort by label, then filter; the rows themselves keep input order.
    panel.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert column(panel, 2) == ["", "bad", "good", "good"]
    panel.filter_edit.setText("GOOD DAY")
    assert column(panel, 1) == ["a good day"]
    panel.filter_edit.clear()

    # Correct a row by hand: only a real label is accepted; the row is flagged.
    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    index = panel.proxy.index(3, 2)
    assert not panel.proxy.setData(index, "ugly")
    assert panel.proxy.setData(index, "BAD")
    assert column(panel, 2)[3] == "bad" and column(panel, 5)[3] == "corrected"

    target = tmp_path / "labels.csv"
    with qtbot.waitSignal(panel.exported, timeout=5000):
        panel.export_to(target)
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == ["text", "label", "confidence", "alternatives", "flags"]
    assert [r[1] for r in rows[1:]] == ["good", "", "bad", "bad"]
    assert rows[4][4] == "corrected"


def test_bad_labels_show_an_error_and_start_nothing(qtbot, make_window):
    window = make_window(SCORING)
    panel = open_classify(qtbot, window)
    panel.items_edit.setPlainText("x")
    for labels, message in (("", "No labels"), ("only", "Only one label"), ("a, A", "twice")):
        panel.labels_edit.setPlainText(labels)
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert message in panel.error_label.text()
        assert not panel.running and panel.model.rowCount() == 0


def test_cancel_keeps_the_finished_rows(qtbot, make_window):
    window = make_window(Script(context_length=4096, score_delay_s=0.05))
    panel = open_classify(qtbot, window)
    panel.items_edit.setPlainText("\n".join(f"item {i}" for i in range(300)))
    panel.labels_edit.setPlainText("a, b")
    with qtbot.waitSignal(panel.runFinished, timeout=20_000) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(panel.model.finished()) >= 3, timeout=10_000)
        assert "items/s" in panel.progress.rate.text()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "cancelled"
    done = panel.model.finished()
    assert 3 <= len(done) < 300
    assert [r.index for r in done] == list(range(len(done)))
    assert panel.export_button.isEnabled()
    assert "Cancelled after" in panel.progress.rate.text()


def test_csv_column_and_saved_label_sets(qtbot, make_window, tmp_path: Path):
    window = make_window(SCORING)
    panel = open_classify(qtbot, window)
    source = tmp_path / "reviews.csv"
    source.write_text("id,review\n7,good stuff\n8,bad stuff\n", encoding="utf-8")
    with qtbot.waitSignal(panel.fileLoaded, timeout=5000):
        panel.open_path(source, "review")
    assert "2 items from reviews.csv" in panel.source_label.text()
    panel.labels_edit.setPlainText("good: they like it\nbad: they do not")
    panel.save_label_set("Reviews")
    panel.labels_edit.clear()
    picker = panel.label_sets.picker
    assert picker.findText("Reviews") == 1
    picker.setCurrentIndex(1)
    picker.activated.emit(1)
    assert panel.labels_edit.toPlainText() == "good: they like it\nbad: they do not"
    with qtbot.waitSignal(panel.runFinished, timeout=20_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert column(panel, 2) == ["good", "bad"]
    target = tmp_path / "out.csv"
    with qtbot.waitSignal(panel.exported, timeout=5000):
        panel.export_to(target)
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0][:3] == ["id", "review", "label"] and rows[2][:3] == ["8", "bad stuff", "bad"]


def test_missing_column_and_non_utf8_files_are_reported(qtbot, make_window, tmp_path: Path):
    window = make_window(SCORING)
    panel = open_classify(qtbot, window)
    source = tmp_path / "reviews.csv"
    source.write_text("id,review\n1,x\n", encoding="utf-8")
    panel.open_path(source, "text")
    qtbot.waitUntil(lambda: "no column 'text'" in panel.error_label.text(), timeout=5000)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9".encode("latin-1"))
    panel.open_path(latin)
    qtbot.waitUntil(lambda: "not UTF-8" in panel.error_label.text(), timeout=5000)


def test_translate_panel_streams_and_keeps_paragraphs(qtbot, make_window):
    window = make_window(Script(context_length=4096, pieces=(b"Hallo", b" Welt")))
    qtbot.keyClick(
        window,
        Qt.Key.Key_T,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    panel = window.translate_panel
    assert isinstance(panel, TranslatePanel) and panel.isVisible()
    panel.source_edit.setPlainText("hello world\n\nhello again")
    panel.glossary_edit.setPlainText("hello = Servus")
    with qtbot.waitSignal(panel.runFinished, timeout=20_000) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "done"
    assert panel.output.toPlainText() == "Hallo Welt\n\nHallo Welt"
    assert "Servus" in panel.error_label.text() or "hello" in panel.error_label.text()


def test_translate_panel_batches_lines_with_progress(qtbot, make_window, tmp_path: Path):
    window = make_window(Script(context_length=4096, pieces=(b"Salut",)))
    window.open_translate()
    panel = window.translate_panel
    panel.source_edit.setPlainText("hi\n\nbye")
    panel.each_line.setChecked(True)
    with qtbot.waitSignal(panel.runFinished, timeout=20_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.output.toPlainText() == "Salut\n\nSalut"
    assert panel.progress.bar.value() == 3
    target = tmp_path / "t.csv"
    with qtbot.waitSignal(panel.exported, timeout=5000):
        panel.export_to(target)
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows == [
        ["text", "translation", "flags"],
        ["hi", "Salut", ""],
        ["", "", ""],
        ["bye", "Salut", ""],
    ]


@pytest.mark.integration
def test_panels_with_the_real_engine_and_starter_model(qtbot, make_window):
    window = make_window(engine=build_services().new_engine())
    window.open_classify()
    panel = window.classify_panel
    panel.examples_edit.setPlainText(
        "Lovely little cafe, great coffee. => positive\n"
        "The app keeps crashing, useless. => negative"
    )
    outcome = run_classify(
        qtbot,
        panel,
        "I love it, wonderful!\n\nThis is the worst product I have ever bought.",
        "positive, negative",
    )
    assert outcome == "done", panel.error_label.text()
    assert column(panel, 2) == ["positive", "", "negative"]

    window.open_translate()
    translate = window.translate_panel
    translate.target_language.setCurrentText("French")
    translate.source_edit.setPlainText("Good morning.\n\nThank you.")
    with qtbot.waitSignal(translate.runFinished, timeout=120_000) as finished:
        qtbot.mouseClick(translate.run_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "done", translate.error_label.text()
    paragraphs = translate.output.toPlainText().split("\n\n")
    assert len(paragraphs) == 2 and all(p.strip() for p in paragraphs)


def test_choosing_a_csv_asks_which_column_and_reads_its_cells(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

    from app.ui.items_file import choose_items_file, read_items

    table = tmp_path / "reviews.csv"
    table.write_text("id,review\n1,Great phone\n2,Broke in a week\n", encoding="utf-8")
    offered: list[list[str]] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(table), ""))

    def pick(parent, title, label, columns, *rest):
        offered.append(list(columns))
        return "review", True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    parent = QWidget()
    qtbot.addWidget(parent)
    chosen = choose_items_file(parent, "Classify")
    assert chosen == (table, "review") and offered == [["id", "review"]]
    assert read_items(*chosen).texts == ("Great phone", "Broke in a week")
