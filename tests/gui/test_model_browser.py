"""The Models panel (modelBrowser): Library, Discover, Downloads, with the stand-in Hub."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QTabWidget

from tests.fakes.gguf_files import write_model
from tests.fakes.hub_server import FakeRepo
from tests.unit.test_discovery import make_other_tools

BLOB = bytes(range(256)) * 16 * 1024  # 4 MiB


@pytest.fixture
def hub(fake_hub, tmp_path: Path):
    tiny = write_model(tmp_path / "src.gguf").read_bytes()
    fake_hub.add(
        FakeRepo(
            "org/Tiny-GGUF",
            {"tiny.Q8_0.gguf": tiny, "tiny.Q4_K_M.gguf": tiny + b"\0" * 32},
            downloads=50,
        )
    )
    fake_hub.add(FakeRepo("org/Big-GGUF", {"big.Q4_0.gguf": BLOB}, downloads=5))
    fake_hub.add(FakeRepo("TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF", {"solar.Q4_K_M.gguf": tiny}))
    return fake_hub


def open_browser(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    browser = window.findChild(QDialog, "modelBrowser")
    assert browser is not None and browser.isVisible()
    browser.confirm = lambda title, question: True
    return browser


def library_names(browser) -> list[str]:
    table = browser.library_tab.table
    return [table.item(row, 0).text() for row in range(table.rowCount())]


def search(qtbot, browser, text: str) -> None:
    tab = browser.discover_tab
    browser.tabs.setCurrentWidget(tab)
    tab.query.setText(text)
    qtbot.mouseClick(tab.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(tab.search_button.isEnabled, timeout=20_000)


def choose_repo(qtbot, browser, repo: str) -> None:
    tab = browser.discover_tab
    for row in range(tab.results.count()):
        if tab.results.item(row).data(Qt.ItemDataRole.UserRole) == repo:
            tab.results.setCurrentRow(row)
            break
    else:
        raise AssertionError(f"{repo} not in the results")
    qtbot.waitUntil(lambda: tab.files is not None and tab.files.repo == repo, timeout=20_000)


def test_library_tab_lists_own_discovered_and_invalid_models(qtbot, make_window, tmp_path):
    make_other_tools(tmp_path / "user-home")
    broken = tmp_path / "user-home/.lmstudio/models/x/Broken/broken.gguf"
    broken.parent.mkdir(parents=True)
    broken.write_text("<!DOCTYPE html>")
    window = make_window()
    browser = open_browser(qtbot, window)
    tabs = browser.findChild(QTabWidget, "modelTabs")
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Library", "Discover", "Downloads"]
    qtbot.waitUntil(lambda: len(browser.library_tab.entries) >= 7, timeout=20_000)
    table = browser.library_tab.table
    sources = {table.item(r, 3).text() for r in range(table.rowCount())}
    assert {
        "Starter model",
        "Ollama",
        "LM Studio",
        "GPT4All",
        "Jan",
        "Hugging Face cache",
    } <= sources
    statuses = [table.item(r, 4).text() for r in range(table.rowCount())]
    assert any(s.startswith("Invalid:") and "HTML" in s for s in statuses)

    # Details of the Ollama model: name from its manifest, architecture, fit.
    browser.library_tab.select("tinyllama-latest")
    qtbot.waitUntil(lambda: browser.machine is not None, timeout=30_000)
    browser.library_tab._show_details()
    details = browser.library_tab.details.toPlainText()
    assert "tinyllama:latest" in details and "Architecture: llama" in details
    assert "Fit (" in details and "GPU layers when automatic" in details

    # Removing it only hides it: the blob stays, and the setting remembers.
    entry = browser.library_tab.current()
    qtbot.mouseClick(browser.library_tab.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            "tinyllama:latest" not in library_names(browser)
            and not any(e.id == "tinyllama-latest" for e in browser.library_tab.entries)
        ),
        timeout=20_000,
    )
    assert entry.path.exists()
    assert str(entry.path) in browser.settings_store.load().storage.hidden_models


def test_search_download_and_load_from_the_library(qtbot, make_window, hub):
    window = make_window()
    browser = open_browser(qtbot, window)
    # Before searching: the curated catalog.
    assert browser.discover_tab.results.count() >= 16
    search(qtbot, browser, "tiny")
    tab = browser.discover_tab
    assert tab.results.count() == 1
    choose_repo(qtbot, browser, "org/Tiny-GGUF")
    quants = {tab.file_table.item(r, 0).text() for r in range(tab.file_table.rowCount())}
    assert quants == {"Q8_0", "Q4_K_M"}
    qtbot.waitUntil(lambda: browser.machine is not None, timeout=30_000)
    choose_repo(qtbot, browser, "org/Tiny-GGUF")  # fit column once the machine is known
    fits = [tab.file_table.item(r, 2).text() for r in range(tab.file_table.rowCount())]
    assert all("GPU" in f or "CPU" in f for f in fits)
    tab.select_quant("Q8_0")
    with qtbot.waitSignal(browser.libraryChanged, timeout=30_000):
        qtbot.mouseClick(tab.download_button, Qt.MouseButton.LeftButton)
    assert browser.tabs.currentWidget() is browser.downloads_tab
    downloads = browser.downloads_tab
    qtbot.waitUntil(lambda: downloads.table.item(0, 4).text() == "Done", timeout=20_000)
    assert "verified" in downloads.message.text()
    qtbot.waitUntil(
        lambda: any(e.id == "tiny-q8-0" for e in browser.library_tab.entries), timeout=20_000
    )
    # The main window's picker has it too, and Load from the Library loads it.
    qtbot.waitUntil(lambda: window.picker.combo.findData("tiny-q8-0") >= 0, timeout=20_000)
    browser.library_tab.select("tiny-q8-0")
    qtbot.mouseClick(browser.library_tab.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: window.controller.entry is not None and window.controller.entry.id == "tiny-q8-0",
        timeout=20_000,
    )


def test_flagged_license_asks_first(qtbot, make_window, hub):
    window = make_window()
    browser = open_browser(qtbot, window)
    asked = []
    browser.confirm = lambda title, question: asked.append(question) or False
    search(qtbot, browser, "solar")
    choose_repo(qtbot, browser, "TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF")
    assert "no commercial use" in browser.discover_tab.repo_note.text()
    browser.discover_tab.file_table.selectRow(0)
    qtbot.mouseClick(browser.discover_tab.download_button, Qt.MouseButton.LeftButton)
    assert asked and "no commercial use" in asked[0]
    assert browser.downloads_tab.table.rowCount() == 0


def test_pause_resume_and_cancel_buttons(qtbot, make_window, hub):
    hub.bytes_per_second = 1024 * 1024
    window = make_window()
    browser = open_browser(qtbot, window)
    search(qtbot, browser, "big")
    choose_repo(qtbot, browser, "org/Big-GGUF")
    browser.discover_tab.file_table.selectRow(0)
    qtbot.mouseClick(browser.discover_tab.download_button, Qt.MouseButton.LeftButton)
    tab = browser.downloads_tab
    state = lambda: tab.table.item(0, 4).text()  # noqa: E731
    qtbot.waitUntil(
        lambda: (
            state().startswith("Downloading")
            and tab.last
            and next(iter(tab.last.values())).done_bytes > 0
        ),
        timeout=20_000,
    )
    tab.select(next(iter(tab.rows)))
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state() == "Paused", timeout=20_000)
    assert tab.resume_button.isEnabled()
    qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state().startswith("Downloading"), timeout=20_000)
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state() == "Cancelled", timeout=20_000)
    assert not list(browser.downloads.models_dir.rglob("*.gguf"))


def test_offline_hub_is_a_clear_state_and_the_library_still_works(qtbot, make_window, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    window = make_window()
    browser = open_browser(qtbot, window)
    search(qtbot, browser, "llama")
    assert "Cannot reach the Hugging Face Hub" in browser.discover_tab.state.text()
    qtbot.waitUntil(lambda: bool(browser.library_tab.entries), timeout=20_000)
    assert browser.library_tab.entries[0].source == "starter"


def test_a_slow_hub_never_blocks_the_gui_thread(qtbot, make_window, hub):
    hub.api_delay_s = 1.5
    window = make_window()
    browser = open_browser(qtbot, window)
    tab = browser.discover_tab
    tab.query.setText("tiny")
    ticks: list[float] = []
    timer = QTimer(browser)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    started = time.monotonic()
    qtbot.mouseClick(tab.search_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - started < 0.5  # the click returned at once
    qtbot.waitUntil(tab.search_button.isEnabled, timeout=20_000)
    timer.stop()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20 and max(gaps) < 0.5
    assert tab.results.count() == 1


def test_download_left_by_an_earlier_run_is_resumed(qtbot, make_window, hub, hearth_home):
    from app.core.downloads import DownloadManager
    from app.core.hub import HubClient
    from app.core.policy import Policy

    # An earlier Hearth paused this download (as closing the window does).
    hub.bytes_per_second = 2 * 1024 * 1024
    earlier = DownloadManager(hearth_home / "models", HubClient(), Policy())
    download = earlier.start(HubClient().repo_files("org/Big-GGUF").files[0])
    deadline = time.monotonic() + 20
    while download.progress.done_bytes < 200_000:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    earlier.shutdown()
    assert download.progress.state == "paused"
    hub.bytes_per_second = None

    window = make_window()
    browser = open_browser(qtbot, window)
    tab = browser.downloads_tab
    assert tab.table.rowCount() == 1 and tab.table.item(0, 4).text() == "Paused"
    tab.select(next(iter(tab.rows)))
    qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.table.item(0, 4).text() == "Done", timeout=20_000)
    assert (hearth_home / "models" / "big.Q4_0.gguf").read_bytes() == BLOB
    ranged = [r for m, p, r in hub.requests if m == "GET" and "/resolve/" in p]
    assert ranged[-1] is not None and ranged[-1].startswith("bytes=")
