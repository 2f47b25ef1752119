"""Start the desktop application."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__
from app.core.catalog import load_catalog
from app.core.downloads import DownloadManager
from app.core.errors import HearthError
from app.core.hardware import Hardware, probe_hardware
from app.core.hub import HubClient
from app.core.secrets import HF_TOKEN
from app.core.startup import report_startup
from app.store.database import open_database
from app.store.documents import DocumentStore
from app.store.history import HistoryStore
from app.ui.api_server import ApiServerController
from app.ui.chat_controller import ChatController
from app.ui.main_window import MainWindow
from app.ui.model_browser import ModelBrowser
from app.ui.theme import apply_font_size, apply_theme, system_theme

log = logging.getLogger(__name__)


def build_window(services, engine, app: QApplication) -> MainWindow:
    """Wire the window to the services (also used by GUI tests with a fake engine)."""
    database = open_database(services.paths.data_dir / "hearth.db")
    history = HistoryStore(database)
    recovered = history.recover_interrupted()
    history.purge_deleted()
    controller = ChatController(
        engine,
        history,
        services.library,
        services.settings,
        policy=services.policy,
        remote_engines=services.new_remote_engine,
        documents=DocumentStore(database),
    )
    api_server = ApiServerController(
        engine, controller.local_model_id, services.policy, services.secrets
    )
    ui_state = QSettings(str(services.paths.config_dir / "ui.ini"), QSettings.Format.IniFormat)
    entries = services.library.entries()
    downloads = DownloadManager(services.library.models_dir, HubClient(), services.policy)

    def machine_probe() -> tuple[Hardware, bool]:
        try:
            offload = engine.build_info(timeout=30).gpu_offload
        except HearthError:
            offload = False
        return probe_hardware(), offload

    def browser_factory(parent) -> ModelBrowser:
        try:
            catalog = load_catalog()
        except HearthError as error:
            log.warning("%s", error)
            catalog = []
        return ModelBrowser(
            library=services.library,
            settings=controller.settings,
            settings_store=services.settings_store,
            downloads=downloads,
            hub_factory=lambda: HubClient(token=services.secrets.get(HF_TOKEN)),
            machine_probe=machine_probe,
            catalog=catalog,
            parent=parent,
        )

    default_assistant = services.policy.default_assistant or services.settings.default_assistant
    window = MainWindow(
        controller,
        entries,
        ui_state,
        database,
        default_assistant=default_assistant,
        settings_store=services.settings_store,
        policy=services.policy,
        secrets=services.secrets,
        paths=services.paths,
        api_server=api_server,
        browser_factory=browser_factory,
        downloads=downloads,
    )
    notes = [w for w in (services.settings_store.warning, database.warning) if w]
    notes += list(services.policy.problems)
    if recovered:
        notes.append(
            f"{recovered} answer(s) were interrupted when Hearth last closed; they are kept "
            "and marked as interrupted."
        )
    if notes:
        window.undo_banner.show_message(" ".join(notes))
    return window


def run_gui(services) -> int:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Hearth")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")
    appearance = services.settings.appearance
    apply_theme(app, system_theme() if appearance.theme == "system" else appearance.theme)
    apply_font_size(app, appearance.font_size)
    engine = services.new_engine()
    try:
        window = build_window(services, engine, app)
    except HearthError as error:
        QMessageBox.critical(None, "Hearth cannot start", error.user_text())
        engine.shutdown()
        return 1

    def follow_system(_scheme: object) -> None:
        if services.settings.appearance.theme == "system":
            apply_theme(app, system_theme())
            window.theme_changed()

    app.styleHints().colorSchemeChanged.connect(follow_system)
    window.show()
    # Runs on the event loop's first turn, once the window has been shown.
    QTimer.singleShot(0, lambda: report_startup("main window shown"))
    # With no default set, the picker selects its first model: the starter, else the first
    # valid one, as ModelLibrary.default() would (without scanning the folders again).
    window.start(services.settings.default_model)
    code = app.exec()
    app.styleHints().colorSchemeChanged.disconnect(follow_system)
    engine.shutdown()
    window.database.close()
    # Tear Qt down in order while Python is still whole: left to interpreter
    # finalisation, PySide6 may free objects in the wrong order and crash on exit.
    window.deleteLater()
    app.processEvents()
    app.shutdown()
    return code
