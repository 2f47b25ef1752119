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
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HearthError
from app.core.options import AUTO
from app.core.policy import Policy
from app.core.settings import Settings, get_setting, with_setting

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

    def __init__(self, settings: Settings, policy: Policy, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.resize(560, 480)
        self._settings = settings
        self._policy = policy
        self._editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        if policy.active:
            note = QLabel(f"Some settings are managed by your organization ({policy.source}).")
            note.setWordWrap(True)
            note.setObjectName("policyNote")
            layout.addWidget(note)
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
        tabs.addTab(self._assistants_page(), "Assistants")
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
        line.setText("" if value is None else str(value))
        return line

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
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(
            QLabel(
                'Your own assistants, as JSON: a list of {"name": ..., "system_prompt": ...}. '
                "Built-in assistants are always available."
            )
        )
        self.assistants_edit = QPlainTextEdit()
        self.assistants_edit.setObjectName("assistants")
        self.assistants_edit.setAccessibleName("Your assistants")
        entries = [a.model_dump() for a in self._settings.assistants]
        self.assistants_edit.setPlainText(json.dumps(entries, indent=2, ensure_ascii=False))
        if self._policy.is_locked("assistants"):
            self.assistants_edit.setEnabled(False)
            self.assistants_edit.setToolTip(MANAGED)
        layout.addWidget(self.assistants_edit)
        add = QPushButton("Add an assistant")
        add.clicked.connect(self._add_assistant)
        layout.addWidget(add)
        return page

    def _add_assistant(self) -> None:
        try:
            entries = json.loads(self.assistants_edit.toPlainText() or "[]")
        except ValueError:
            entries = []
        entries.append({"name": "New assistant", "system_prompt": "You are ..."})
        self.assistants_edit.setPlainText(json.dumps(entries, indent=2, ensure_ascii=False))

    # -- saving --------------------------------------------------------------------------

    def collect(self, base: Settings) -> Settings:
        """``base`` with every unlocked control's value; raises HearthError when invalid."""
        settings = base
        for key, editor in self._editors.items():
            if self._policy.is_locked(key):
                continue
            settings = with_setting(settings, key, self._read(key, editor))
        if not self._policy.is_locked("assistants"):
            text = self.assistants_edit.toPlainText().strip() or "[]"
            try:
                entries = json.loads(text)
            except json.JSONDecodeError as exc:
                raise HearthError(f"Assistants: not valid JSON ({exc.msg}).") from exc
            settings = with_setting(settings, "assistants", entries)
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
