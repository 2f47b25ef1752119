"""The settings dialog (Ctrl+,): pages built from the typed settings, policy-aware.

Every control edits one `hearth config` key; values are validated by the same code as
the command line. Keys locked by the machine policy are shown disabled, with the
reason. Saving writes the user's file atomically; model-load settings apply at the
next load, everything else at once.
"""

from __future__ import annotations

import json
import typing

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
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
from app.ui.assistants_editor import AssistantsEditor
from app.ui.background import run_in_background

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
                if policy.is_locked(key):
                    editor.setEnabled(False)
                    editor.setToolTip(MANAGED)
                    shown = f"{label} ({MANAGED.lower()})"
                form.addRow(shown, editor)
                self._editors[key] = editor
            tabs.addTab(page, title)
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
                editor.setEnabled(
                    self.scope.currentData() is None and not self._policy.is_locked(key)
                )

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
            if self._policy.is_locked(key):
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
        return settings

    def save(self) -> None:
        parent = self.parent()
        store = getattr(parent, "settings_store", None)
        try:
            base = store.load() if store is not None else self._settings
            updated = self.collect(base)
            if store is not None:
                store.save(updated)
        except HearthError as error:
            QMessageBox.warning(self, "Settings not saved", error.user_text())
            return
        except OSError as error:
            QMessageBox.warning(self, "Settings not saved", f"Could not write the file: {error}")
            return
        self.settingsSaved.emit(updated)
        self.accept()
