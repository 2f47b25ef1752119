"""The main window: a thin shell that lays out the features and wires their actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.assistants import find_assistant
from app.core.downloads import DownloadManager
from app.core.library import ModelEntry
from app.core.paths import Paths
from app.core.policy import NO_POLICY, Policy
from app.core.remote import RemoteListing, is_remote_reference, list_remote_models
from app.core.secrets import SecretStore
from app.core.settings import SettingsStore, apply_policy
from app.engine.protocol import LoadedModel
from app.store.database import Database
from app.ui.api_server import API_KEY_SECRET, ApiServerController
from app.ui.background import run_in_background
from app.ui.banner import Banner
from app.ui.chat_controller import ChatController
from app.ui.citations import source_number
from app.ui.collections_dialog import CollectionsDialog
from app.ui.composer import Composer
from app.ui.conversation_list import ConversationList
from app.ui.documents_button import DocumentsButton
from app.ui.message_view import MessageView
from app.ui.model_browser import ModelBrowser
from app.ui.model_picker import ModelPicker
from app.ui.request_log import RequestLog
from app.ui.settings_dialog import SettingsDialog
from app.ui.sources_dialog import SourcesDialog
from app.ui.theme import apply_font_size, apply_theme, system_theme

if TYPE_CHECKING:
    from app.ui.classify_panel import ClassifyPanel
    from app.ui.translate_panel import TranslatePanel

SAFE_SCHEMES = {"http", "https", "mailto"}


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: ChatController,
        entries: list[ModelEntry],
        ui_state: QSettings,
        database: Database,
        *,
        default_assistant: str | None = None,
        settings_store: SettingsStore | None = None,
        policy: Policy = NO_POLICY,
        secrets: SecretStore | None = None,
        paths: Paths | None = None,
        api_server: ApiServerController | None = None,
        browser_factory: Callable[[QWidget], ModelBrowser] | None = None,
        downloads: DownloadManager | None = None,
    ) -> None:
        super().__init__()
        self._browser_factory = browser_factory
        self.downloads = downloads
        self.model_browser: ModelBrowser | None = None
        self.controller = controller
        self.api_server = api_server
        self.request_log: RequestLog | None = None
        self._remote_serial = 0
        self._default_model_id: str | None = None
        self.database = database
        self.settings_store = settings_store
        self.policy = policy
        self.secrets = secrets
        self.paths = paths
        self._ui_state = ui_state
        self._deleted_id: int | None = None
        self.setObjectName("mainWindow")
        self.setWindowTitle("Hearth")
        self.setAccessibleName("Hearth")
        self.resize(1100, 760)

        self.sidebar = ConversationList(self)
        self.picker = ModelPicker(self)
        self.assistant_picker = QComboBox(self)
        self.assistant_picker.setObjectName("assistantPicker")
        self.assistant_picker.setAccessibleName("Assistant for this conversation")
        self.assistant_picker.setToolTip("Start from an assistant's system prompt")
        self._assistants = controller.settings.assistant_list()
        for assistant in self._assistants:
            self.assistant_picker.addItem(assistant.name)
        self.default_assistant = default_assistant
        self.system_prompt = QLineEdit(self)
        self.system_prompt.setObjectName("systemPrompt")
        self.system_prompt.setAccessibleName("System prompt for this conversation")
        self.system_prompt.setPlaceholderText("System prompt for this conversation (optional)")
        self.crash_banner = Banner("crashBanner", self)
        self.undo_banner = Banner("undoBanner", self)
        self.view = MessageView(self)
        self.view.source_lookup = controller.sources
        self.composer = Composer(self)
        self.documents_button = DocumentsButton(self)
        self.documents_button.setVisible(controller.documents is not None)
        self.composer.attach_button.setVisible(controller.documents is not None)
        self.collections_dialog: CollectionsDialog | None = None
        self.sources_dialog: SourcesDialog | None = None

        chat = QWidget(self)
        chat_layout = QVBoxLayout(chat)
        chat_layout.setContentsMargins(0, 0, 0, 0)
        chat_layout.setSpacing(0)
        top = QHBoxLayout()
        top.setContentsMargins(12, 8, 12, 4)
        top.addWidget(self.picker, 1)
        chat_layout.addLayout(top)
        prompt_row = QHBoxLayout()
        prompt_row.setContentsMargins(12, 0, 12, 4)
        prompt_row.addWidget(self.assistant_picker)
        prompt_row.addWidget(self.system_prompt, 1)
        prompt_row.addWidget(self.documents_button)
        chat_layout.addLayout(prompt_row)
        chat_layout.addWidget(self.crash_banner)
        chat_layout.addWidget(self.undo_banner)
        chat_layout.addWidget(self.view, 1)
        chat_layout.addWidget(self.composer)

        self.splitter = QSplitter(self)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(chat)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 840])
        self.setCentralWidget(self.splitter)

        self.engine_status = QLabel("Engine starting…")
        self.engine_status.setObjectName("engineStatus")
        self.speed_status = QLabel("")
        self.speed_status.setObjectName("speedStatus")
        self.statusBar().addWidget(self.engine_status, 1)
        self.statusBar().addPermanentWidget(self.speed_status)
        self.api_status = QToolButton(self)
        self.api_status.setObjectName("apiStatus")
        self.api_status.setAccessibleName("API server status; opens the request log")
        self.api_status.setAutoRaise(True)
        self.api_status.setText("API: off")
        self.api_status.clicked.connect(self._show_request_log)
        self.statusBar().addPermanentWidget(self.api_status)
        if api_server is not None:
            api_server.setParent(self)
            api_server.stateChanged.connect(self._api_state)

        self._build_actions()
        self._wire()
        self.picker.set_entries(entries, None)
        self._restore_state()

    # -- setup ---------------------------------------------------------------------------

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action("New chat", QKeySequence.StandardKey.New, self._new_chat)
        file_menu.addAction(self.new_action)
        self.export_action = self._action("Export conversation…", "Ctrl+E", self._export_current)
        file_menu.addAction(self.export_action)
        self.settings_action = self._action("Settings…", "Ctrl+,", self._settings)
        file_menu.addAction(self.settings_action)
        self.request_log_action = self._action("API request log…", "", self._show_request_log)
        file_menu.addAction(self.request_log_action)
        self.models_action = self._action("Models…", "Ctrl+M", self.show_models)
        self.models_action.setEnabled(self._browser_factory is not None)
        file_menu.addAction(self.models_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", QKeySequence.StandardKey.Quit, self.close))
        chat_menu = self.menuBar().addMenu("&Chat")
        self.search_action = self._action(
            "Search", QKeySequence.StandardKey.Find, self.sidebar.focus_search
        )
        chat_menu.addAction(self.search_action)
        self.stop_action = self._action("Stop", "Esc", self._escape)
        self.stop_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        chat_menu.addAction(self.stop_action)
        self.reload_action = self._action("Reload model", "Ctrl+R", self.controller.reload_model)
        chat_menu.addAction(self.reload_action)
        self.undo_action = self._action(
            "Undo delete", QKeySequence.StandardKey.Undo, self._undo_delete
        )
        self.undo_action.setEnabled(False)
        chat_menu.addAction(self.undo_action)
        if self.controller.documents is not None:
            chat_menu.addSeparator()
            self.attach_action = self._action(
                "Attach files…", "Ctrl+Shift+A", self.composer.attach_button.click
            )
            chat_menu.addAction(self.attach_action)
            self.collections_action = self._action(
                "Document collections…", "Ctrl+Shift+D", self.manage_collections
            )
            chat_menu.addAction(self.collections_action)
        tools_menu = self.menuBar().addMenu("&Tools")
        self.classify_action = self._action("Classify…", "Ctrl+Shift+L", self.open_classify)
        tools_menu.addAction(self.classify_action)
        self.translate_action = self._action("Translate…", "Ctrl+Shift+T", self.open_translate)
        tools_menu.addAction(self.translate_action)
        self.classify_panel: ClassifyPanel | None = None
        self.translate_panel: TranslatePanel | None = None

    def open_classify(self) -> None:
        """The Classify panel (one per window), on the engine the chat uses."""
        panel = self.classify_panel
        if panel is None:
            from app.tasks.label_sets import LabelSetStore
            from app.ui.classify_panel import ClassifyPanel

            folder = self.paths.data_dir if self.paths is not None else Path.home() / ".hearth"
            store = LabelSetStore(folder / "label_sets.json")
            panel = self.classify_panel = ClassifyPanel(self.controller.engine, store, self)
        panel.engine = self.controller.engine  # the chat's model, local or remote
        panel.show()
        panel.raise_()
        panel.activateWindow()

    def open_translate(self) -> None:
        panel = self.translate_panel
        if panel is None:
            from app.ui.translate_panel import TranslatePanel

            panel = self.translate_panel = TranslatePanel(self.controller.engine, self)
        panel.engine = self.controller.engine
        panel.show()
        panel.raise_()
        panel.activateWindow()

    def _action(self, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _wire(self) -> None:
        c = self.controller
        self.sidebar.newRequested.connect(self._new_chat)
        self.sidebar.conversationSelected.connect(self._open)
        self.sidebar.hitSelected.connect(lambda cid, _mid: self._open(cid))
        self.sidebar.renameRequested.connect(c.rename)
        self.sidebar.deleteRequested.connect(self._delete)
        self.sidebar.exportRequested.connect(self._export)
        self.sidebar.searchChanged.connect(self._search)
        self.picker.modelChosen.connect(self._choose_model)
        self.system_prompt.editingFinished.connect(
            lambda: c.set_system_prompt(self.system_prompt.text())
        )
        self.assistant_picker.activated.connect(self._choose_assistant)
        self.composer.sendRequested.connect(self._send)
        self.composer.stopRequested.connect(c.stop)
        self.composer.filesAttached.connect(self._attach)
        self.documents_button.collectionsChosen.connect(c.set_collections)
        self.documents_button.attachRequested.connect(self.composer.attach_button.click)
        self.documents_button.manageRequested.connect(self.manage_collections)
        self.view.actionRequested.connect(self._message_action)
        self.view.linkActivated.connect(self._link)
        self.crash_banner.actionClicked.connect(self._reload)
        self.undo_banner.actionClicked.connect(self._undo_delete)

        c.conversationsChanged.connect(self.refresh_conversations)
        c.threadReset.connect(self._show_thread)
        c.messageAdded.connect(self.view.append_message)
        c.replyStarted.connect(self.view.begin_stream)
        c.replyText.connect(self.view.stream_text)
        c.replyFinished.connect(self.view.end_stream)
        c.busyChanged.connect(self._busy)
        c.engineProblem.connect(self._engine_problem)
        c.loadProgress.connect(self._load_progress)
        c.modelLoaded.connect(self._model_loaded)
        c.modelFailed.connect(self._model_failed)
        c.speedChanged.connect(lambda s: self.speed_status.setText(f"{s:.1f} tok/s"))
        c.notice.connect(lambda text: self.statusBar().showMessage(text, 6000))
        c.documentsChanged.connect(self._show_documents)
        c.attachProgress.connect(self._attach_progress)

    def _restore_state(self) -> None:
        geometry = self._ui_state.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = self._ui_state.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def start(self, default_model_id: str | None) -> None:
        """Select the default model, start loading it, and put the cursor in the composer."""
        self.picker.select(default_model_id)
        entry = self.picker.current()
        settings = self.controller.settings
        if is_remote_reference(default_model_id) and settings.remotes:
            # A remote default: chosen once its server has listed its models.
            self.engine_status.setText("Asking the remote server for its models…")
        elif entry is not None:
            self.controller.choose_model(entry)
        else:
            self.engine_status.setText("No model installed: put a .gguf file in the models folder.")
        self.refresh_conversations()
        self.controller.new_conversation()
        self.composer.edit.setFocus()
        self._default_model_id = default_model_id
        self.refresh_remote_models()
        if self.api_server is not None:
            self.api_server.apply(self.controller.settings.api)

    # -- slots ---------------------------------------------------------------------------

    @Slot()
    def refresh_conversations(self) -> None:
        self._search(self.sidebar.search.text())

    def _search(self, text: str) -> None:
        """Search hits while the search box has text, else the conversations."""
        if text.strip():
            self.sidebar.set_hits(self.controller.history.search(text))
            return
        summaries = self.controller.history.list_conversations(limit=500)
        self.sidebar.set_conversations(summaries, self.controller.current_id)

    def _new_chat(self) -> None:
        self.composer.cancel_edit()
        self.controller.new_conversation()
        self.sidebar.list.clearSelection()
        self.composer.edit.setFocus()

    def _open(self, conversation_id: int) -> None:
        self.composer.cancel_edit()
        self.controller.open_conversation(conversation_id)
        self.composer.edit.setFocus()

    def _show_thread(self, conversation_id: int, messages: list) -> None:
        self.view.show_messages(messages)
        active = self.controller.active_message_id
        if active is not None and any(m.id == active for m in messages):
            message = next(m for m in messages if m.id == active)
            self.view.resume_stream(message)
        conversation = self.controller.current_conversation()
        if conversation is None:
            default = find_assistant(self._assistants, self.default_assistant)
            self._show_assistant(default.system_prompt if default else "")
        else:
            self._show_assistant(conversation.system_prompt)
        self.sidebar.select(conversation_id or None)
        title = conversation.title if conversation else "New chat"
        self.setWindowTitle(f"{title} — Hearth")
        self._show_documents()

    def _show_assistant(self, prompt: str) -> None:
        self.system_prompt.setText(prompt)
        index = next((i for i, a in enumerate(self._assistants) if a.system_prompt == prompt), -1)
        self.assistant_picker.setCurrentIndex(index)

    def _choose_assistant(self, index: int) -> None:
        if 0 <= index < len(self._assistants):
            prompt = self._assistants[index].system_prompt
            self.system_prompt.setText(prompt)
            self.controller.set_system_prompt(prompt)

    def _send(self, text: str) -> None:
        prompt = self.system_prompt.text()
        self.controller.set_system_prompt(prompt)  # an existing chat; a new one gets it below
        if self.controller.send(text, self.composer.editing_id, system_prompt=prompt):
            self.composer.accept_sent()
            self.crash_banner.hide()

    def _busy(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        self.view.set_busy(busy)
        if busy:
            self.engine_status.setText("Generating…")
        else:
            self._show_engine_ready()

    def _show_engine_ready(self) -> None:
        model = self.controller.loaded
        if model is not None:
            name = self.controller.entry.name if self.controller.entry else model.name
            self.engine_status.setText(f"Ready · {name} · {model.device}")

    def _choose_model(self, entry: ModelEntry | RemoteListing) -> None:
        self._default_model_id = None
        self.controller.choose_model(entry)

    # -- remote models and the API server --------------------------------------------------

    def refresh_remote_models(self) -> None:
        """Ask the remote endpoints for their models in the background."""
        settings, policy, secrets = self.controller.settings, self.policy, self.secrets
        self._remote_serial += 1
        serial = self._remote_serial
        if not settings.remotes or not policy.remote_enabled:
            self.picker.set_remote([])
            if self.controller.entry is None and is_remote_reference(self._default_model_id):
                chosen = self.picker.current()  # a remote default that cannot be used
                if chosen is not None:
                    self._choose_model(chosen)
            return

        def listed(listings, error) -> None:
            if serial != self._remote_serial:
                return  # the settings changed meanwhile
            if error is not None:
                self.statusBar().showMessage(f"Could not list the remote models: {error}", 10000)
                listings = []
            self.picker.set_remote(listings)
            down = [f"{item.endpoint} ({item.error})" for item in listings if item.error]
            if down:
                note = "Remote endpoint unavailable: " + "; ".join(down)
                self.statusBar().showMessage(note, 10000)
            wanted = self._default_model_id
            if wanted and is_remote_reference(wanted) and self.controller.entry is None:
                # The remote default, else (its server is down) the first local model.
                self.picker.select(wanted)
                chosen = self.picker.current()
                if chosen is not None:
                    self._choose_model(chosen)

        run_in_background(lambda: list_remote_models(settings, policy, secrets), listed, self)

    def _api_state(self, state: str, text: str) -> None:
        server = self.api_server
        assert server is not None
        self.api_status.setText("API: error" if state == "error" else server.text)
        self.api_status.setToolTip(text if state == "error" else f"{server.text} · request log")
        if state == "error":
            self.statusBar().showMessage(f"The API server is not running: {text}", 10000)

    def _show_request_log(self) -> None:
        if self.api_server is None:
            return
        if self.request_log is None:
            self.request_log = RequestLog(self.api_server, self)
        self.request_log.show()
        self.request_log.raise_()

    def show_models(self) -> None:
        """The Models panel: Library, Discover, Downloads (created once, kept while open)."""
        if self._browser_factory is None:
            return
        if self.model_browser is None:
            self.model_browser = self._browser_factory(self)
            self.model_browser.modelChosen.connect(self._load_from_browser)
            self.model_browser.libraryChanged.connect(self.refresh_models)
        self.model_browser.show()
        self.model_browser.raise_()
        self.model_browser.activateWindow()

    def _load_from_browser(self, entry: ModelEntry) -> None:
        self.refresh_models(select=entry.id)
        self.controller.choose_model(entry)

    def refresh_models(self, select: str | None = None) -> None:
        """Rescan the library off the GUI thread and update the picker."""
        current = select or (self.controller.entry.id if self.controller.entry else None)

        def listed(entries, error) -> None:
            if error is None:
                self.picker.set_entries(entries, current)

        run_in_background(self.controller.library.entries, listed, self)

    def _load_progress(self, fraction: float) -> None:
        self.picker.show_progress(fraction)
        self.engine_status.setText(f"Loading model… {fraction * 100:.0f}%")

    def _model_loaded(self, model: LoadedModel) -> None:
        # Panels run on whatever model the chat now uses (a remote one included).
        for panel in (self.classify_panel, self.translate_panel):
            if panel is not None:
                panel.engine = self.controller.engine
        self.picker.show_loaded(model.device, model.gpu_layers, model.layers)
        if not self.controller.busy:
            self._show_engine_ready()

    def _model_failed(self, message: str) -> None:
        self.picker.show_failed()
        self.engine_status.setText("Model not loaded")
        self.crash_banner.show_message(message, "Try again")

    def _engine_problem(self, message: str) -> None:
        self.engine_status.setText("Engine stopped")
        self.crash_banner.show_message(message, "Reload model")

    def _escape(self) -> None:
        if self.controller.busy:
            self.controller.stop()
        else:
            self.composer.cancel_edit()

    def _reload(self) -> None:
        self.crash_banner.hide()
        self.controller.reload_model()

    def _message_action(self, action: str, message_id: int) -> None:
        if action == "copy":
            widget_text = self._message_text(message_id)
            QGuiApplication.clipboard().setText(widget_text)
            self.statusBar().showMessage("Message copied.", 3000)
        elif action == "edit":
            self.composer.start_edit(message_id, self._message_text(message_id))
        elif action == "regenerate":
            self.controller.regenerate(message_id)
        elif action in ("prev", "next"):
            self.controller.switch_alternative(message_id, -1 if action == "prev" else 1)

    def _message_text(self, message_id: int) -> str:
        return self.controller.history.get_message(message_id).content

    # -- documents -------------------------------------------------------------------------

    def _show_documents(self) -> None:
        documents = self.controller.documents
        if documents is None:
            return
        available = [(s.collection.id, s.collection.name) for s in documents.list_collections()]
        chosen = [c.id for c in self.controller.conversation_collections() if not c.attachments]
        self.documents_button.set_state(available, chosen)
        self.composer.set_attachments(self.controller.attached_files())

    def _attach(self, paths: list) -> None:
        self.controller.attach_files([Path(p) for p in paths], self.system_prompt.text())

    def _attach_progress(self, text: str) -> None:
        self.composer.set_attachments(self.controller.attached_files(), text)

    def manage_collections(self) -> None:
        documents = self.controller.documents
        if documents is None:
            return
        if self.collections_dialog is None:
            self.collections_dialog = CollectionsDialog(
                documents, self, embedder_for=self.controller.embedder_for
            )
            self.collections_dialog.collectionsChanged.connect(self._show_documents)
        self.collections_dialog.refresh()
        self.collections_dialog.show()
        self.collections_dialog.raise_()

    def show_sources(self, message_id: int, number: int = 1) -> None:
        sources = self.controller.sources(message_id)
        if not sources:
            return
        dialog = SourcesDialog(sources, number, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.sources_dialog = dialog

    def _link(self, href: str, message_id: int) -> None:
        number = source_number(href)
        if number is not None:
            self.show_sources(message_id, number)
            return
        if href.startswith("hearth-copy:"):
            message = self.controller.history.get_message(message_id)
            blocks = self.view.rendered(message).code_blocks
            index = int(href.split(":", 1)[1])
            if 0 <= index < len(blocks):
                QGuiApplication.clipboard().setText(blocks[index])
                self.statusBar().showMessage("Code copied.", 3000)
            return
        url = QUrl(href)
        if url.scheme().lower() in SAFE_SCHEMES:
            QDesktopServices.openUrl(url)

    def _delete(self, conversation_id: int) -> None:
        title = self.controller.delete(conversation_id)
        self._deleted_id = conversation_id
        self.undo_action.setEnabled(True)
        self.undo_banner.show_message(f"Deleted “{title}”.", "Undo")

    def _undo_delete(self) -> None:
        if self._deleted_id is None:
            return
        self.controller.restore(self._deleted_id)
        self._open(self._deleted_id)
        self._deleted_id = None
        self.undo_action.setEnabled(False)
        self.undo_banner.hide()

    def _export_current(self) -> None:
        if self.controller.current_id is not None:
            self._export(self.controller.current_id)

    def _export(self, conversation_id: int) -> None:
        title = self.controller.history.get_conversation(conversation_id).title
        name = (title or "conversation").replace("/", "-")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export conversation",
            str(Path.home() / f"{name}.md"),
            "Markdown (*.md);;JSON (*.json)",
        )
        if not path:
            return
        try:
            self.controller.export(conversation_id, Path(path))
        except OSError as error:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}: {error.strerror}")
            return
        self.statusBar().showMessage(f"Exported to {path}", 5000)

    def _settings(self) -> None:
        model_ids = [e.id for e in self.picker._entries]
        dialog = SettingsDialog(
            self.controller.settings,
            self.policy,
            self,
            self.secrets,
            model_ids=model_ids,
            paths=self.paths,
        )
        dialog.settingsSaved.connect(self._settings_saved)
        dialog.historyDeleteRequested.connect(self._delete_all_history)
        dialog.open()
        self.settings_dialog = dialog

    def theme_changed(self) -> None:
        """Re-render the open conversation: code colours are part of each message's HTML."""
        if self.controller.current_id is not None:
            self.controller.open_conversation(self.controller.current_id)

    def _delete_all_history(self) -> None:
        self.controller.stop()
        count = self.controller.history.delete_all()
        self.controller.new_conversation()
        self.refresh_conversations()
        self.statusBar().showMessage(f"Deleted {count} conversation(s).", 6000)

    def _settings_saved(self, saved) -> None:
        effective, _ = apply_policy(saved, self.policy)
        self.controller.settings = effective
        self._assistants = effective.assistant_list()
        current = self.system_prompt.text()
        self.assistant_picker.clear()
        for assistant in self._assistants:
            self.assistant_picker.addItem(assistant.name)
        self._show_assistant(current)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme = effective.appearance.theme
            apply_theme(app, system_theme() if theme == "system" else theme)
            apply_font_size(app, effective.appearance.font_size)
            self.theme_changed()
        self.controller.forget_remote_engines()
        self.refresh_remote_models()
        if self.api_server is not None:
            dialog = getattr(self, "settings_dialog", None)
            new_key = dialog is not None and API_KEY_SECRET in dialog.secret_changes()
            self.api_server.apply(effective.api, force=new_key)
        self.statusBar().showMessage(
            "Settings saved. Model settings apply the next time a model loads.", 6000
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self._ui_state.setValue("window/geometry", self.saveGeometry())
        self._ui_state.setValue("window/splitter", self.splitter.saveState())
        self._ui_state.sync()
        if self.collections_dialog is not None:
            self.collections_dialog.reject()  # cancels indexing that is still running
        if self.api_server is not None:
            self.api_server.shutdown()
        if self.downloads is not None:
            self.downloads.shutdown()  # pauses: the parts are resumed next time
        for panel in (self.classify_panel, self.translate_panel):
            if panel is not None:
                panel.close()  # cancels its running task
        self.controller.shutdown()
        super().closeEvent(event)
