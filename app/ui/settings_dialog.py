"""The settings dialog (Ctrl+,): pages built from the typed settings, policy-aware.

Every control edits one `hearth config` key; values are validated by the same code as
the command line. Keys locked by the machine policy are shown disabled, with the
reason. Saving writes the user's file atomically; model-load settings apply at the
next load, everything else at once.
"""

from __future__ import annotations

import json
import secrets as token_source
import typing

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.assistants import Assistant
from app.core.errors import HearthError
from app.core.options import AUTO
from app.core.paths import Paths
from app.core.policy import Policy
from app.core.secrets import HF_TOKEN, SecretStore
from app.core.settings import (
    OVERRIDABLE,
    Settings,
    get_setting,
    with_model_override,
    with_setting,
    without_model_override,
)
from app.ui.api_server import API_KEY_SECRET
from app.ui.assistants_editor import AssistantsEditor
from app.ui.background import run_in_background
from app.ui.remote_endpoints_editor import RemoteEndpointsEditor

MANAGED = "Managed by your organization"

PAGES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Model defaults",
        [
            ("model.context_length", "Context length (tokens)"),
            ("model.gpu_layers", "GPU layers (-2 auto, -1 all, 0 none)"),
            ("model.threads", "Threads (0 = automatic)"),
            ("model.batch_size", "Batch size"),
            ("model.flash_attention", "Flash attention"),
            ("model.kv_cache_type", "KV cache type"),
            ("model.use_mmap", "Memory-map the model file"),
            ("model.use_mlock", "Lock the model in RAM"),
        ],
    ),
    (
        "Sampling",
        [
            ("sampling.temperature", "Temperature"),
            ("sampling.top_p", "Top-p"),
            ("sampling.top_k", "Top-k"),
            ("sampling.min_p", "Min-p"),
            ("sampling.repeat_penalty", "Repeat penalty"),
            ("sampling.max_tokens", "Max tokens"),
            ("sampling.seed", "Seed (0 = random)"),
        ],
    ),
    (
        "Appearance",
        [("appearance.theme", "Theme"), ("appearance.font_size", "Font size (0 = system)")],
    ),
    (
        "Storage",
        [
            ("storage.models_dir", "Models folder (empty = default)"),
            ("storage.extra_model_folders", 'More model folders (JSON list: ["/path"])'),
            ("storage.discover_other_tools", "List models of other apps (Ollama, LM Studio...)"),
            ("default_model", "Default model id"),
            ("default_assistant", "Default assistant"),
        ],
    ),
    (
        "Server",
        [
            ("api.enabled", "Serve the loaded model over an OpenAI-compatible API"),
            ("api.port", "Port"),
            ("api.allow_network", "Allow the local network (needs an API key)"),
            ("api.cors_origins", 'Allowed web origins (JSON list: ["https://app.example"])'),
        ],
    ),
]
NEEDS_RELOAD = ("model.",)


def _field_info(key: str):
    section, _, name = key.partition(".")
    if not name:
        return Settings.model_fields[section]
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model.model_fields[name]


def _bounds(field) -> tuple[float | None, float | None]:
    low = high = None
    for item in field.metadata:
        for attr in ("ge", "gt"):
            if getattr(item, attr, None) is not None:
                low = getattr(item, attr)
        for attr in ("le", "lt"):
            if getattr(item, attr, None) is not None:
                high = getattr(item, attr)
    return low, high


class SettingsDialog(QDialog):
    settingsSaved = Signal(object)  # Settings (effective)
    historyDeleteRequested = Signal()

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        parent: QWidget | None = None,
        secrets: SecretStore | None = None,
        *,
        model_ids: list[str] | None = None,
        paths: Paths | None = None,
    ):
        super().__init__(parent)
        self._secrets = secrets
        model_ids = model_ids or []
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.resize(680, 500)
        self._settings = settings
        self._policy = policy
        self._editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        if policy.active:
            note = QLabel(f"Some settings are managed by your organization ({policy.source}).")
            note.setWordWrap(True)
            note.setObjectName("policyNote")
            layout.addWidget(note)
        scope_row = QHBoxLayout()
        scope_row.addWidget(QLabel("Model and sampling settings for:"))
        self.scope = QComboBox(self)
        self.scope.setObjectName("settingsScope")
        self.scope.setAccessibleName("Settings apply to")
        self.scope.addItem("All models", None)
        for model_id in model_ids:
            self.scope.addItem(f"{model_id} only", model_id)
        self.scope.currentIndexChanged.connect(self._scope_changed)
        scope_row.addWidget(self.scope, 1)
        layout.addLayout(scope_row)
        tabs = QTabWidget(self)
        tabs.setObjectName("settingsPages")
        for title, keys in PAGES:
            page = QWidget()
            form = QFormLayout(page)
            for key, label in keys:
                editor = self._editor(key)
                editor.setObjectName(key)
                editor.setAccessibleName(label)
                shown = label
                if self._managed(key):
                    editor.setEnabled(False)
                    editor.setToolTip(MANAGED)
                    shown = f"{label} ({MANAGED.lower()})"
                form.addRow(shown, editor)
                self._editors[key] = editor
            tabs.addTab(page, title)
            if title == "Server":
                self._server_page(form)
        if paths is not None:
            storage_page = tabs.widget(3)
            storage_form = storage_page.layout() if storage_page is not None else None
            assert isinstance(storage_form, QFormLayout)
            for label, folder in (
                ("Chat history and models", paths.data_dir),
                ("Settings", paths.config_dir),
                ("Logs", paths.log_dir),
            ):
                value = QLabel(str(folder))
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                storage_form.addRow(label, value)
        tabs.addTab(self._assistants_page(), "Assistants")
        tabs.addTab(self._remote_page(), "Remote servers")
        tabs.addTab(self._token_page(), "Hugging Face")
        tabs.addTab(self._privacy_page(), "Privacy")
        layout.addWidget(tabs)
        self.note = QLabel("Model settings apply the next time a model loads.")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # -- editors -------------------------------------------------------------------------

    def _editor(self, key: str) -> QWidget:
        field = _field_info(key)
        value = get_setting(self._settings, key)
        annotation = field.annotation
        args = typing.get_args(annotation)
        if annotation is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if typing.get_origin(annotation) is typing.Literal:
            combo = QComboBox()
            combo.addItems([str(a) for a in args])
            combo.setCurrentText(str(value))
            return combo
        low, high = _bounds(field)
        if annotation is float:
            real = QDoubleSpinBox()
            real.setDecimals(2)
            real.setSingleStep(0.05)
            real.setRange(float(low if low is not None else 0), float(high or 1e6))
            real.setValue(float(value))
            return real
        if annotation is int or (int in args and type(None) in args):
            spin = QSpinBox()
            minimum = int(low) if low is not None else 0
            if int in args:  # optional: 0 stands for "automatic"
                minimum = 0
            spin.setRange(minimum, int(min(high or 2**31 - 1, 2**31 - 1)))
            spin.setValue(int(value) if value is not None else 0)
            if key == "model.gpu_layers":
                spin.setRange(AUTO, 10_000)
                spin.setValue(int(value))
                spin.setSpecialValueText("Automatic")
            elif int in args:
                spin.setSpecialValueText("Automatic" if key != "sampling.seed" else "Random")
            return spin
        line = QLineEdit()
        if isinstance(value, list):
            line.setText(json.dumps(value))
        else:
            line.setText("" if value is None else str(value))
        return line

    def _scope_changed(self) -> None:
        """Show the values the chosen model uses (its overrides over the general ones)."""
        shown = self._settings.for_model(self.scope.currentData())
        for key, editor in self._editors.items():
            if key.startswith(OVERRIDABLE):
                self._show_value(editor, get_setting(shown, key))
            else:
                editor.setEnabled(self.scope.currentData() is None and not self._managed(key))

    @staticmethod
    def _show_value(editor: QWidget, value: object) -> None:
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QDoubleSpinBox):
            editor.setValue(float(value))  # type: ignore[arg-type]
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value) if value is not None else 0)  # type: ignore[call-overload]
        elif isinstance(editor, QLineEdit):
            editor.setText("" if value is None else str(value))

    def _read(self, key: str, editor: QWidget) -> object:
        field = _field_info(key)
        optional = type(None) in typing.get_args(field.annotation)
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QDoubleSpinBox):
            return editor.value()
        if isinstance(editor, QSpinBox):
            value = editor.value()
            return None if optional and value == 0 else value
        text = editor.text().strip() if isinstance(editor, QLineEdit) else ""
        return None if optional and not text else text

    def _assistants_page(self) -> QWidget:
        custom = [Assistant(a.name, a.system_prompt) for a in self._settings.assistants]
        self.assistants_editor = AssistantsEditor(custom, self)
        if self._policy.is_locked("assistants"):
            self.assistants_editor.setEnabled(False)
            self.assistants_editor.setToolTip(MANAGED)
        return self.assistants_editor

    def _token_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        explain = QLabel(
            "A Hugging Face access token lets Hearth download gated models. It is kept in "
            "your system's keyring, never in Hearth's files."
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("huggingFaceToken")
        self.token_edit.setAccessibleName("Hugging Face token")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        layout.addWidget(self.token_edit)
        row = QHBoxLayout()
        self.token_save = QPushButton("Save token")
        self.token_save.clicked.connect(self._save_token)
        self.token_remove = QPushButton("Remove token")
        self.token_remove.clicked.connect(lambda: self._store_token(""))
        row.addWidget(self.token_save)
        row.addWidget(self.token_remove)
        row.addStretch(1)
        layout.addLayout(row)
        self.token_status = QLabel("Checking the keyring…")
        self.token_status.setObjectName("tokenStatus")
        self.token_status.setWordWrap(True)
        layout.addWidget(self.token_status)
        layout.addStretch(1)
        if self._secrets is None:
            self.token_status.setText("Secrets are not available in this window.")
            for widget in (self.token_edit, self.token_save, self.token_remove):
                widget.setEnabled(False)
        else:
            # The keyring may be slow or hang (a locked Secret Service): never on this thread.
            secrets = self._secrets
            run_in_background(lambda: secrets.get(HF_TOKEN), self._token_loaded, self)
        return page

    def _token_loaded(self, value, error) -> None:
        self._show_token_status(bool(value) if error is None else False, error)

    def _show_token_status(self, present: bool, error) -> None:
        secrets = self._secrets
        if error is not None:
            text = f"The keyring failed: {error}"
        elif secrets is not None and secrets.status == "memory":
            text = secrets.problem
        else:
            text = "A token is stored in the system keyring." if present else "No token stored."
        self.token_status.setText(text)

    def _save_token(self) -> None:
        token = self.token_edit.text().strip()
        if token:
            self._store_token(token)

    def _store_token(self, token: str) -> None:
        secrets = self._secrets
        if secrets is None:
            return
        self.token_status.setText("Saving…")

        def work() -> bool:
            secrets.set(HF_TOKEN, token)
            return bool(token)

        def done(present, error) -> None:
            self.token_edit.clear()
            self._show_token_status(bool(present), error)

        run_in_background(work, done, self)

    def _privacy_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        explain = QLabel(
            "Everything you type and every answer stays on this computer. You can delete "
            "the whole chat history here; this cannot be undone."
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        delete = QPushButton("Delete all history…")
        delete.setObjectName("deleteAllHistory")
        delete.clicked.connect(self._delete_history)
        layout.addWidget(delete)
        layout.addStretch(1)
        return page

    def _delete_history(self) -> None:
        answer = QMessageBox.question(
            self,
            "Delete all history",
            "Delete every conversation and message? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.historyDeleteRequested.emit()

    # -- saving --------------------------------------------------------------------------

    def collect(self, base: Settings) -> Settings:
        """``base`` with every unlocked control's value; raises HearthError when invalid."""
        settings = base
        model_id = self.scope.currentData()
        for key, editor in self._editors.items():
            if self._managed(key):
                continue
            value = self._read(key, editor)
            if model_id is None:
                settings = with_setting(settings, key, value)
            elif key.startswith(OVERRIDABLE):
                # Keep only what differs from the general value as this model's own.
                general = get_setting(with_setting(base, key, value), key)
                if general == get_setting(base, key):
                    settings = without_model_override(settings, model_id, key)
                else:
                    settings = with_model_override(settings, model_id, key, value)
        if not self._policy.is_locked("assistants"):
            settings = with_setting(settings, "assistants", self.assistants_editor.entries())
        if self._policy.remote_enabled and not self._policy.is_locked("remotes"):
            settings = with_setting(settings, "remotes", self.remote_editor.entries())
        if (
            model_id is None
            and self._policy.api_enabled
            and settings.api.allow_network
            and self._api_key_loaded
            and not self.api_key_edit.text().strip()
        ):
            raise HearthError(
                "Serving the local network needs an API key: anyone on the network could "
                "use the model.",
                "Use Generate key on the Server page, or serve this computer only.",
            )
        return settings

    def secret_changes(self) -> dict[str, str]:
        """The server's key to write on save, if it changed ("" deletes it)."""
        key = self.api_key_edit.text().strip()
        if self._api_key_loaded and key != self._api_key_stored:
            return {API_KEY_SECRET: key}
        return {}

    def save(self) -> None:
        parent = self.parent()
        store = getattr(parent, "settings_store", None)
        try:
            base = store.load() if store is not None else self._settings
            updated = self.collect(base)
            if store is not None:
                store.save(updated)
        except HearthError as error:
            self.note.setText(error.user_text())
            QMessageBox.warning(self, "Settings not saved", error.user_text())
            return
        except OSError as error:
            QMessageBox.warning(self, "Settings not saved", f"Could not write the file: {error}")
            return
        changes = self.secret_changes()
        remote_keys = self.remote_editor.key_plan() if self._policy.remote_enabled else None
        secrets = self._secrets
        if (not changes and not remote_keys) or secrets is None:
            self.settingsSaved.emit(updated)
            self.accept()
            return

        # Keys go to the keyring first (off this thread): whatever starts on
        # settingsSaved (the server, remote engines) must find them there.
        def work() -> None:
            for name, value in changes.items():
                secrets.set(name, value)
            if remote_keys:
                remote_keys.apply(secrets)

        def done(_result, error) -> None:
            if error is not None:
                QMessageBox.warning(self, "Keys not saved", f"The keyring failed: {error}")
            self.settingsSaved.emit(updated)
            self.accept()

        self.note.setText("Saving keys…")
        run_in_background(work, done, self)

    # -- server and remote pages -----------------------------------------------------------

    def _managed(self, key: str) -> bool:
        """Locked by the policy, or part of a feature the policy disables."""
        if key.startswith("api.") and not self._policy.api_enabled:
            return True
        return self._policy.is_locked(key)

    def _server_page(self, form: QFormLayout) -> None:
        if not self._policy.api_enabled:
            managed = QLabel(
                f"The API server is disabled by your organization ({self._policy.source})."
            )
            managed.setObjectName("apiManaged")
            managed.setWordWrap(True)
            form.insertRow(0, managed)
        self._api_key_stored: str | None = None
        self._api_key_loaded = False
        self.api_key_edit = QLineEdit()
        self.api_key_edit.setObjectName("apiKey")
        self.api_key_edit.setAccessibleName("API key clients must send")
        self.api_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key_edit.setPlaceholderText("No key: only this computer may connect")
        generate = QPushButton("Generate key")
        generate.setObjectName("apiKeyGenerate")
        generate.clicked.connect(self._generate_key)
        copy = QPushButton("Copy")
        copy.setObjectName("apiKeyCopy")
        copy.clicked.connect(self._copy_key)
        form.addRow("API key", self.api_key_edit)
        row = QHBoxLayout()
        row.addWidget(generate)
        row.addWidget(copy)
        row.addStretch(1)
        form.addRow("", row)
        self.api_key_status = QLabel("Checking the keyring…")
        self.api_key_status.setObjectName("apiKeyStatus")
        self.api_key_status.setWordWrap(True)
        form.addRow("", self.api_key_status)
        explain = QLabel(
            "Clients send the key as 'Authorization: Bearer KEY'. It is kept in the system "
            "keyring. Without 'Allow the local network' only this computer can connect."
        )
        explain.setWordWrap(True)
        form.addRow(explain)
        widgets = (self.api_key_edit, generate, copy)
        if not self._policy.api_enabled or self._secrets is None:
            for widget in widgets:
                widget.setEnabled(False)
            self.api_key_status.setText(
                MANAGED if not self._policy.api_enabled else "Secrets are not available."
            )
            return
        secrets = self._secrets
        for widget in widgets:
            widget.setEnabled(False)

        def loaded(value, error) -> None:
            for widget in widgets:
                widget.setEnabled(True)
            self._api_key_loaded = error is None
            self._api_key_stored = value or ""
            self.api_key_edit.setText(value or "")
            if error is not None:
                self.api_key_status.setText(f"The keyring failed: {error}")
            elif secrets.status == "memory":
                self.api_key_status.setText(secrets.problem)
            else:
                self.api_key_status.setText(
                    "A key is stored in the system keyring." if value else "No key stored."
                )

        run_in_background(lambda: secrets.get(API_KEY_SECRET), loaded, self)

    def _generate_key(self) -> None:
        self.api_key_edit.setText(token_source.token_urlsafe(32))
        self.api_key_edit.setEchoMode(QLineEdit.EchoMode.Normal)
        self.api_key_status.setText("A new key: it is stored when you save. Copy it for clients.")

    def _copy_key(self) -> None:
        key = self.api_key_edit.text().strip()
        if not key:
            self.api_key_status.setText("There is no key to copy: generate one first.")
            return
        QGuiApplication.clipboard().setText(key)
        self.api_key_status.setText("Key copied to the clipboard.")

    def _remote_page(self) -> QWidget:
        policy = self._policy
        self.remote_editor = RemoteEndpointsEditor(
            list(self._settings.remotes), policy, self._secrets, self
        )
        if not policy.remote_enabled or policy.is_locked("remotes"):
            self.remote_editor.setEnabled(False)
            self.remote_editor.setToolTip(MANAGED)
            page = QWidget()
            layout = QVBoxLayout(page)
            managed = QLabel(
                f"Remote endpoints are disabled by your organization ({policy.source})."
            )
            managed.setObjectName("remoteManaged")
            managed.setWordWrap(True)
            layout.addWidget(managed)
            layout.addWidget(self.remote_editor, 1)
            return page
        return self.remote_editor
