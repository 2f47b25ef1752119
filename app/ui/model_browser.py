"""The Models panel: Library, Discover and Downloads tabs (Ctrl+M in the main window).

Everything slow (scanning folders, the keyring, the Hub, hashing, probing the hardware)
runs on background threads; downloads report through ``DownloadBridge``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from app.core.catalog import CatalogEntry
from app.core.downloads import DownloadManager, Progress
from app.core.hardware import Hardware
from app.core.hub import HubClient, HubFile
from app.core.library import ModelLibrary
from app.core.settings import Settings, SettingsStore
from app.ui.background import run_in_background
from app.ui.bridges.download_bridge import DownloadBridge
from app.ui.discover_tab import DiscoverTab
from app.ui.downloads_tab import DownloadsTab
from app.ui.library_tab import LibraryTab

MachineProbe = Callable[[], tuple[Hardware, bool]]
"""This machine's memory and GPUs, and whether the llama.cpp build can offload."""


class ModelBrowser(QDialog):
    modelChosen = Signal(object)  # ModelEntry to load
    libraryChanged = Signal()
    machineProbed = Signal()

    def __init__(
        self,
        *,
        library: ModelLibrary,
        settings: Settings,
        settings_store: SettingsStore | None,
        downloads: DownloadManager,
        hub_factory: Callable[[], HubClient],
        machine_probe: MachineProbe,
        catalog: list[CatalogEntry],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("modelBrowser")
        self.setWindowTitle("Models — Hearth")
        self.setAccessibleName("Models")
        self.resize(980, 640)
        self.library = library
        self.settings = settings
        self.settings_store = settings_store
        self.downloads = downloads
        self.catalog = catalog
        self.machine: tuple[Hardware, bool] | None = None
        self._hub_factory = hub_factory
        self._hub: HubClient | None = None
        self._hub_lock = threading.Lock()
        self._machine_probe = machine_probe

        self.bridge = DownloadBridge(downloads, self)
        self.bridge.progressed.connect(self._progressed)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("modelTabs")
        self.library_tab = LibraryTab(self)
        self.discover_tab = DiscoverTab(self)
        self.downloads_tab = DownloadsTab(self)
        self.tabs.addTab(self.library_tab, "Library")
        self.tabs.addTab(self.discover_tab, "Discover")
        self.tabs.addTab(self.downloads_tab, "Downloads")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)

        self.library_tab.loadRequested.connect(self.modelChosen)
        self.library_tab.changed.connect(self.libraryChanged)
        for download in downloads.restore():
            self.downloads_tab.show_progress(download.progress)
        for download in downloads.downloads():
            self.downloads_tab.show_progress(download.progress)
        self.library_tab.refresh()
        run_in_background(self._machine_probe, self._probed, self)

    # -- services for the tabs --------------------------------------------------------

    def prepare_hub(self) -> HubClient:
        """The Hub client with the keyring's token. Blocks: call it on a worker thread."""
        with self._hub_lock:
            if self._hub is None:
                self._hub = self._hub_factory()
                self.downloads.hub = self._hub
            return self._hub

    def confirm(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def save_hidden(self, hidden: set[str]) -> None:
        if self.settings_store is None:
            return
        saved = self.settings_store.load()
        saved.storage.hidden_models = sorted(set(saved.storage.hidden_models) | hidden)
        self.settings_store.save(saved)

    def start_download(self, file: HubFile, replace_existing: bool = False) -> None:
        try:
            download = self.downloads.start(file, replace_existing=replace_existing)
        except Exception as error:
            text = error.user_text() if hasattr(error, "user_text") else str(error)
            self.discover_tab.state.setText(text)
            self.downloads_tab.message.setText(text)
            return
        self.downloads_tab.show_progress(download.progress)
        self.downloads_tab.select(download.id)
        self.tabs.setCurrentWidget(self.downloads_tab)

    def resume_download(self, download_id: str) -> None:
        def work():
            self.prepare_hub()
            return self.downloads.resume(download_id)

        def done(_download, error) -> None:
            if error is not None:
                text = error.user_text() if hasattr(error, "user_text") else str(error)
                self.downloads_tab.message.setText(text)

        run_in_background(work, done, self)

    # -- slots --------------------------------------------------------------------------

    def _probed(self, machine, error) -> None:
        if error is None:
            self.machine = machine
            self.library_tab._show_details()
            if self.discover_tab.files is not None:
                self.discover_tab._listed(
                    self.discover_tab._files_serial, self.discover_tab.files, None
                )
        self.machineProbed.emit()

    def _progressed(self, progress: Progress) -> None:
        self.downloads_tab.show_progress(progress)
        if progress.state == "done":
            self.library_tab.refresh()
            self.libraryChanged.emit()
