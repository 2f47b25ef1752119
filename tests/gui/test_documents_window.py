"""Ask your documents in the window: attach, collections, citations that open the passage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.main import build_services
from app.ui.collections_dialog import CollectionsDialog
from app.ui.sources_dialog import SourcesDialog
from tests.fakes.backend import Script
from tests.fakes.corpus import write_corpus
from tests.fakes.documents import write_pdf
from tests.gui.conftest import send, wait_idle

CITING = Script(
    pieces=(b"Staff park in the basement garage ", b"[1]", b", level minus two."),
    context_length=8192,
)
ECHO = Script(echo_prompt=True, context_length=100_000)


def drop_files(widget, paths: list[Path]) -> None:
    """What a drag from the file manager does to the message box."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget.viewport(), drop)


def wait_attached(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.controller.attaching, timeout=20_000)


def test_dropped_files_are_attached_and_answer_with_cited_passages(
    make_window, qtbot, tmp_path: Path
):
    window = make_window(CITING)
    handbook = tmp_path / "handbook.md"
    handbook.write_text("# Parking\n\nStaff park in the basement garage, level minus two.", "utf-8")
    report = write_pdf(tmp_path / "report.pdf", [["Intro."], ["Revenue grew by 12 percent."]])
    drop_files(window.composer.edit, [handbook, report])
    wait_attached(qtbot, window)
    label = window.composer.attachments
    assert label.isVisible() and label.text() == "Attached: handbook.md, report.pdf"
    assert window.controller.current_id is not None  # the chat started with the attachment
    assert window.sidebar.list.count() == 1

    send(qtbot, window, "Where do staff park?")
    wait_idle(qtbot, window)
    reply_id = window.view.message_ids()[-1]
    widget = window.view.message_widget(reply_id)
    assert widget.body_text() == "Staff park in the basement garage [1], level minus two."
    body_html = "".join(block.html() for block in widget._blocks)
    assert 'href="hearth-source:1"' in body_html  # the citation is a link
    sources = widget.sources_text()
    assert sources.startswith("Sources: [1] handbook.md, Parking")
    assert "[3] report.pdf, page 2" in sources

    # A click on the citation shows the passage, its file and its page.
    widget._blocks[0].linkActivated.emit("hearth-source:3")
    dialog = window.sources_dialog
    assert isinstance(dialog, SourcesDialog) and dialog.isVisible()
    assert dialog.current().number == 3
    shown = dialog.passage.toPlainText()
    assert "report.pdf, page 2" in shown and "Revenue grew by 12 percent." in shown
    assert str(report) in shown
    assert dialog.open_button.isEnabled()
    dialog.close()

    # Reopened later, the answer still shows and links its sources.
    window.controller.new_conversation()
    window.controller.open_conversation(window.controller.history.list_conversations()[0].id)
    reopened = window.view.message_widget(reply_id)
    assert reopened.sources_text() == sources
    assert window.composer.attachments.text() == "Attached: handbook.md, report.pdf"


def test_the_grounded_prompt_reaches_the_model_and_the_history_keeps_the_question(
    make_window, qtbot, tmp_path: Path
):
    window = make_window(ECHO)
    note = tmp_path / "note.txt"
    note.write_text("The canteen opens at noon.", "utf-8")
    window.controller.attach_files([note])
    wait_attached(qtbot, window)
    send(qtbot, window, "When does the canteen open?")
    wait_idle(qtbot, window)
    thread = window.controller.history.thread(window.controller.current_id)
    assert thread[-2].content == "When does the canteen open?"  # saved as typed
    echoed = thread[-1].content
    assert "cite the passage it comes from by its number in square brackets" in echoed
    assert "[1] (note.txt)\nThe canteen opens at noon." in echoed
    assert "Question: When does the canteen open?" in echoed


def test_a_dropped_folder_attaches_the_documents_in_it(make_window, qtbot, tmp_path: Path):
    window = make_window()
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# A\n\nAlpha.", "utf-8")
    (folder / "sub" / "b.txt").write_text("Bravo.", "utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")
    drop_files(window.composer.edit, [folder])
    wait_attached(qtbot, window)
    assert window.composer.attachments.text() == "Attached: a.md, b.txt"
    assert window.statusBar().currentMessage() == "Attached 2 file(s)."


def test_the_attach_button_and_an_unreadable_file(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really")
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(broken)], "Documents")
    )
    qtbot.mouseClick(window.composer.attach_button, Qt.MouseButton.LeftButton)
    wait_attached(qtbot, window)
    message = window.statusBar().currentMessage()
    assert message.startswith("Could not read broken.pdf: not a valid PDF")
    assert not window.composer.attachments.isVisible()  # nothing readable was attached


def test_collections_dialog_adds_reindexes_and_removes(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    folder = write_corpus(tmp_path / "company", distractors=40)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nbroken")
    window.manage_collections()
    dialog = window.collections_dialog
    assert isinstance(dialog, CollectionsDialog) and dialog.isVisible()

    progress: list[tuple[int, int]] = []
    dialog.job = None
    with qtbot.waitSignal(dialog.indexFinished, timeout=60_000) as finished:
        dialog.add_folder(folder, "Company")
        dialog.job.progress.connect(lambda done, total, _path: progress.append((done, total)))
        assert dialog.cancel_button.isVisible() and not dialog.reindex_button.isEnabled()
    report = finished.args[0]
    assert report.added == 47 and not report.cancelled
    assert progress and progress[-1] == (47, 47)
    assert dialog.list.count() == 1
    assert dialog.list.item(0).text().startswith("Company — 46 files,")
    assert "1 unreadable" in dialog.list.item(0).text()
    assert dialog.problems.count() == 1
    assert dialog.problems.item(0).text().startswith(f"{folder / 'broken.pdf'}: not a valid PDF")
    assert "1 could not be read" in dialog.status.text()

    (folder / "travel.txt").unlink()
    with qtbot.waitSignal(dialog.indexFinished, timeout=60_000) as again:
        qtbot.mouseClick(dialog.reindex_button, Qt.MouseButton.LeftButton)
    assert (again.args[0].removed, again.args[0].unchanged) == (1, 46)

    # The collection can be chosen for the conversation from the Documents button.
    assert window.documents_button.text() == "Documents"
    window.documents_button.menu_.aboutToShow.emit()
    [company] = [a for a in window.documents_button.menu_.actions() if a.text() == "Company"]
    company.setChecked(True)
    assert window.documents_button.text() == "Documents: Company"

    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.list.count() == 0
    assert window.documents_button.text() == "Documents"


def test_cancel_stops_indexing_and_keeps_what_was_read(make_window, qtbot, tmp_path):
    window = make_window()
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(300):
        (folder / f"{n:03d}.md").write_text(f"# Note {n}\n\n" + "Some words. " * 200, "utf-8")
    window.manage_collections()
    dialog = window.collections_dialog
    with qtbot.waitSignal(dialog.indexFinished, timeout=60_000) as finished:
        dialog.add_folder(folder, "Many")
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    report = finished.args[0]
    assert report.cancelled and report.added < 300
    assert dialog.status.text().startswith("Cancelled:")
    summary = window.controller.documents.list_collections()[0]
    assert summary.files == report.added


def test_chosen_collections_answer_and_say_so_when_nothing_matches(
    make_window, qtbot, tmp_path: Path
):
    window = make_window(ECHO)
    documents = window.controller.documents
    folder = write_corpus(tmp_path / "company", distractors=60)
    collection = documents.create_collection("Company", folder=str(folder))
    from app.docs.indexer import Indexer

    Indexer(documents).index_folder(collection)
    window._show_documents()
    window.controller.set_collections([collection.id])  # a new chat: kept until it starts
    assert window.documents_button.text() == "Documents: Company"
    send(qtbot, window, "Why did shipping costs fall?")
    wait_idle(qtbot, window)
    conversation_id = window.controller.current_id
    assert [c.name for c in documents.conversation_collections(conversation_id)] == ["Company"]
    echoed = window.controller.history.thread(conversation_id)[-1].content
    assert "annual-report.pdf, page 2" in echoed and "rail freight" in echoed
    sources = window.controller.sources(window.view.message_ids()[-1])
    assert any(s.path.endswith("annual-report.pdf") and s.page == 2 for s in sources)

    window.controller.new_conversation()
    window.controller.set_collections([collection.id])
    send(qtbot, window, "xylophone quasar zeppelin?")
    wait_idle(qtbot, window)
    echoed = window.controller.history.thread(window.controller.current_id)[-1].content
    assert "documents do not contain the answer" in echoed
    assert window.controller.sources(window.view.message_ids()[-1]) == []


@pytest.mark.integration
def test_a_real_answer_from_an_attached_file_cites_it(make_window, qtbot, tmp_path, hearth_home):
    settings = hearth_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"sampling": {"temperature": 0, "max_tokens": 60}}))
    window = make_window(engine=build_services().new_engine())
    handbook = tmp_path / "handbook.md"
    handbook.write_text(
        "# Parking\n\nStaff parking is in the basement garage, level minus two. "
        "Visitors park in the yard.\n",
        "utf-8",
    )
    drop_files(window.composer.edit, [handbook])
    wait_attached(qtbot, window)
    send(qtbot, window, "Where is staff parking?")
    wait_idle(qtbot, window, timeout=120_000)
    answer = window.controller.history.thread(window.controller.current_id)[-1]
    assert answer.finish_reason in ("stop", "length") and answer.content.strip()
    assert answer.prompt_tokens and answer.prompt_tokens > 100  # the passage went in
    widget = window.view.message_widget(answer.id)
    assert widget.sources_text() == "Sources: [1] handbook.md, Parking"
    assert "[1]" in answer.content  # greedy: the starter model cites here
    assert 'href="hearth-source:1"' in "".join(block.html() for block in widget._blocks)


def test_reindexing_a_collection_with_vectors_keeps_them_with_the_loaded_model(
    make_window, qtbot, tmp_path: Path, monkeypatch
):
    from app.docs.embedding import EngineEmbedder
    from app.docs.indexer import Indexer

    window = make_window()
    documents = window.controller.documents
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Parking\n\nCars park in the garage.", "utf-8")
    model_id = window.controller.entry.id
    collection = documents.create_collection("Notes", folder=str(folder))
    Indexer(documents, EngineEmbedder(window.controller.engine, model_id)).index_folder(collection)
    (folder / "b.md").write_text("# Lunch\n\nNoon.", "utf-8")
    window.manage_collections()
    dialog = window.collections_dialog
    with qtbot.waitSignal(dialog.indexFinished, timeout=30_000):
        qtbot.mouseClick(dialog.reindex_button, Qt.MouseButton.LeftButton)
    assert documents.collection(collection.id).embedding_model == model_id
    assert len(documents.embeddings([collection.id])) == 2  # the new file has its vector

    # Vectors of a model that is not loaded: the dialog asks before dropping them.
    other = documents.create_collection("Other", folder=str(folder))
    documents.mark_indexed(other.id, "some-embedding-model")
    dialog.refresh(select=other.id)
    asked: list[str] = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda _parent, _title, text: asked.append(text) or QMessageBox.StandardButton.No,
    )
    qtbot.mouseClick(dialog.reindex_button, Qt.MouseButton.LeftButton)
    assert "made by some-embedding-model" in asked[0]
    assert dialog.job is None  # nothing started


def test_retrieval_runs_off_the_gui_thread(make_window, qtbot, tmp_path: Path, monkeypatch):
    import threading
    import time

    from app.ui import chat_controller

    real_ground = chat_controller.ground
    threads: list[threading.Thread] = []

    def slow_ground(*args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(0.3)
        return real_ground(*args, **kwargs)

    monkeypatch.setattr(chat_controller, "ground", slow_ground)
    window = make_window(CITING)
    note = tmp_path / "note.md"
    note.write_text("# Parking\n\nStaff park in the basement garage.", "utf-8")
    window.controller.attach_files([note])
    wait_attached(qtbot, window)
    started = time.monotonic()
    send(qtbot, window, "Where do staff park?")
    assert time.monotonic() - started < 0.25  # the window did not wait for the search
    assert window.controller.busy and window.composer.stop_button.isEnabled()
    wait_idle(qtbot, window)
    assert threads and threads[0] is not threading.main_thread()
    assert window.controller.sources(window.view.message_ids()[-1])

    # Esc while the documents are searched: no answer starts.
    send(qtbot, window, "And visitors?")
    assert window.controller.busy
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    thread = window.controller.history.thread(window.controller.current_id)
    assert [(m.role, m.finish_reason) for m in thread][-2:] == [
        ("user", None),
        ("assistant", "cancelled"),
    ]
    assert not window.composer.stop_button.isEnabled()
