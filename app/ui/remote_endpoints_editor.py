"""Add, edit, test and remove remote OpenAI-compatible endpoints (``remotes``).

Keys are never written to Hearth's files: a key typed here is stored in the keyring
when the settings are saved (an empty field keeps the stored key; a renamed endpoint
takes its key along; a removed one's key is deleted). "Test connection" lists the
server's models in the background and says clearly what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HearthError
from app.core.policy import Policy, require_remote
from app.core.remote import RemoteHttp, secret_name
from app.core.secrets import SecretStore
from app.core.settings import RemoteEndpointEntry
from app.ui.background import run_in_background

KEY_KEPT = "Leave empty to keep the stored key"
_NOT_SETTINGS = ("key", "original")
"""Item data that is not part of the endpoint's settings."""


@dataclass(frozen=True)
class KeyPlan:
    """Keyring changes to make on save, worked out on the GUI thread."""

    store: tuple[tuple[str, str], ...] = ()
    """(endpoint, key) typed in the editor."""
    move: tuple[tuple[str, str], ...] = ()
    """(old name, new name) of renamed endpoints whose key was not retyped."""
    delete: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.store or self.move or self.delete)

    def apply(self, secrets: SecretStore) -> None:
        """Blocking keyring calls: run it off the GUI thread."""
        for old, new in self.move:
            value = secrets.get(secret_name(old))
            if value:
                secrets.set(secret_name(new), value)
        for name, key in self.store:
            secrets.set(secret_name(name), key)
        for name in self.delete:
            secrets.delete(secret_name(name))


class RemoteEndpointsEditor(QWidget):
    def __init__(
        self,
        endpoints: list[RemoteEndpointEntry],
        policy: Policy,
        secrets: SecretStore | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("remoteEndpointsEditor")
        self.policy = policy
        self.secrets = secrets
        self._original = {e.name for e in endpoints}
        self._test_serial = 0
        layout = QVBoxLayout(self)
        explain = QLabel(
            "Use a bigger OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a "
            "company gateway) next to your local models. Its models appear in the model "
            "picker. Keys are kept in the system keyring."
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        body = QHBoxLayout()
        left = QVBoxLayout()
        self.list = QListWidget(self)
        self.list.setObjectName("remoteList")
        self.list.setAccessibleName("Remote endpoints")
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("remoteAdd")
        self.add_button.clicked.connect(self._add_new)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("remoteRemove")
        self.remove_button.clicked.connect(self._remove)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        left.addLayout(buttons)
        body.addLayout(left, 1)

        form = QFormLayout()
        self.name_edit = self._line("remoteName", "Endpoint name")
        self.url_edit = self._line("remoteUrl", "Base URL")
        self.url_edit.setPlaceholderText("http://gpu-server:8000/v1")
        self.model_edit = self._line("remoteModel", "Default model (optional)")
        self.key_edit = self._line("remoteKey", "API key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(KEY_KEPT)
        self.timeout_edit = QDoubleSpinBox(self)
        self.timeout_edit.setObjectName("remoteTimeout")
        self.timeout_edit.setAccessibleName("Timeout in seconds")
        self.timeout_edit.setRange(1.0, 3600.0)
        self.timeout_edit.setDecimals(0)
        self.timeout_edit.setSuffix(" s")
        form.addRow("Name", self.name_edit)
        form.addRow("Base URL", self.url_edit)
        form.addRow("Default model", self.model_edit)
        form.addRow("API key", self.key_edit)
        form.addRow("Timeout", self.timeout_edit)
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("remoteTest")
        self.test_button.clicked.connect(self.test_connection)
        form.addRow("", self.test_button)
        self.result = QLabel(self)
        self.result.setObjectName("remoteTestResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.result)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addStretch(1)
        body.addLayout(right, 2)
        layout.addLayout(body, 1)

        for endpoint in endpoints:
            self._append({**endpoint.model_dump(), "original": endpoint.name})
        self.list.currentItemChanged.connect(self._show)
        for edit in (self.name_edit, self.url_edit, self.model_edit, self.key_edit):
            edit.textEdited.connect(self._edited)
        self.timeout_edit.valueChanged.connect(self._edited)
        self._showing = False
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self._show()

    def _line(self, name: str, label: str) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setAccessibleName(label)
        return edit

    def _append(self, data: dict[str, Any]) -> QListWidgetItem:
        item = QListWidgetItem(data.get("name") or "(no name)")
        item.setData(Qt.ItemDataRole.UserRole, dict(data))
        self.list.addItem(item)
        return item

    def _current(self) -> dict[str, Any] | None:
        item = self.list.currentItem()
        return None if item is None else dict(item.data(Qt.ItemDataRole.UserRole))

    def _show(self, *_args: object) -> None:
        data = self._current()
        self._showing = True
        self.name_edit.setText(data.get("name", "") if data else "")
        self.url_edit.setText(data.get("base_url", "") if data else "")
        self.model_edit.setText((data.get("default_model") or "") if data else "")
        self.key_edit.setText((data.get("key") or "") if data else "")
        self.timeout_edit.setValue(float(data.get("timeout_s", 60.0)) if data else 60.0)
        self._showing = False
        for widget in (
            self.name_edit,
            self.url_edit,
            self.model_edit,
            self.key_edit,
            self.timeout_edit,
            self.test_button,
            self.remove_button,
        ):
            widget.setEnabled(data is not None)
        self.result.setText("")

    def _edited(self, *_args: object) -> None:
        item = self.list.currentItem()
        if self._showing or item is None:
            return
        data = dict(item.data(Qt.ItemDataRole.UserRole))
        data.update(self._form())
        item.setData(Qt.ItemDataRole.UserRole, data)
        item.setText(data["name"] or "(no name)")

    def _form(self) -> dict[str, Any]:
        return {
            "name": self.name_edit.text().strip(),
            "base_url": self.url_edit.text().strip(),
            "default_model": self.model_edit.text().strip() or None,
            "key": self.key_edit.text().strip(),
            "timeout_s": self.timeout_edit.value(),
        }

    def _add_new(self) -> None:
        taken = {d.get("name") for d in self._all()}
        name, number = "server", 2
        while name in taken:
            name, number = f"server-{number}", number + 1
        data = {"name": name, "base_url": "", "default_model": None, "timeout_s": 60.0}
        self.list.setCurrentItem(self._append(data))
        self.url_edit.setFocus()

    def _remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._show()

    def _all(self) -> list[dict[str, Any]]:
        return [
            dict(self.list.item(row).data(Qt.ItemDataRole.UserRole))
            for row in range(self.list.count())
        ]

    # -- checking and saving -------------------------------------------------------------

    def _checked(self, data: dict[str, Any]) -> RemoteEndpointEntry:
        fields = {k: v for k, v in data.items() if k not in _NOT_SETTINGS}
        try:
            endpoint = RemoteEndpointEntry.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "endpoint"
            raise HearthError(
                f"The endpoint '{data.get('name') or '(no name)'}' is not valid: "
                f"{where}: {str(first.get('msg', 'invalid value')).lower()}."
            ) from exc
        if not endpoint.base_url.startswith(("http://", "https://")):
            raise HearthError(
                f"The endpoint '{endpoint.name}' needs an http:// or https:// address."
            )
        require_remote(self.policy, endpoint.base_url)
        return endpoint

    def entries(self) -> list[dict[str, Any]]:
        """The endpoints for ``remotes``, checked: valid, allowed, names unique."""
        seen: set[str] = set()
        result = []
        for data in self._all():
            endpoint = self._checked(data)
            if endpoint.name in seen:
                raise HearthError(f"Two endpoints are called '{endpoint.name}'.")
            seen.add(endpoint.name)
            result.append(endpoint.model_dump())
        return result

    def key_plan(self) -> KeyPlan:
        """What saving must change in the keyring."""
        items = self._all()
        store = tuple((d["name"], d["key"]) for d in items if d.get("key"))
        move = tuple(
            (d["original"], d["name"])
            for d in items
            if d.get("original") and d["original"] != d["name"] and not d.get("key")
        )
        names = {d["name"] for d in items}
        kept = {d.get("original") for d in items}
        renamed_with_new_key = {
            d["original"]
            for d in items
            if d.get("original") and d["original"] != d["name"] and d.get("key")
        }
        delete = {old for old, _new in move} | renamed_with_new_key | (self._original - kept)
        return KeyPlan(store, move, tuple(sorted(delete - names)))

    def test_connection(self) -> None:
        data = self._current()
        if data is None:
            return
        try:
            endpoint = self._checked(data)
        except HearthError as error:
            self._show_result(error.user_text())
            return
        self._test_serial += 1
        serial = self._test_serial
        secrets, key = self.secrets, data.get("key") or None
        self.result.setText(f"Connecting to {endpoint.base_url}…")
        self.test_button.setEnabled(False)

        original = data.get("original")
        if key is None and original and original != endpoint.name:
            # Renamed, key not retyped: its stored key is still under the old name.
            endpoint = endpoint.model_copy(update={"name": original})

        def work() -> list[str]:
            http = RemoteHttp(endpoint, secrets, key=key)
            try:
                return http.list_models()
            finally:
                http.close()

        def done(models: list[str] | None, error: BaseException | None) -> None:
            self.test_button.setEnabled(self.list.currentItem() is not None)
            if serial != self._test_serial:
                return
            if error is not None:
                text = error.user_text() if isinstance(error, HearthError) else str(error)
                self._show_result(text)
                return
            served = models or []
            if not served:
                self._show_result(f"Connected to {endpoint.base_url}, but it serves no models.")
                return
            listed = ", ".join(served[:10]) + (" …" if len(served) > 10 else "")
            note = ""
            if endpoint.default_model and endpoint.default_model not in served:
                note = f" The default model '{endpoint.default_model}' is not among them."
            self._show_result(f"Connected: {len(served)} model(s): {listed}.{note}")

        run_in_background(work, done, self)

    def _show_result(self, text: str) -> None:
        self.result.setText(text)
