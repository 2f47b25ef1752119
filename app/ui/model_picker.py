"""Choose the model; see its load progress and where it runs (CPU, GPU or a remote server).

Remote endpoints' models follow the local ones; an endpoint that could not be asked
is listed disabled, with the reason.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QWidget

from app.core.library import ModelEntry
from app.core.remote import RemoteListing


def _describe(entry: ModelEntry) -> str:
    info = entry.info
    if info is None:
        return f"{entry.name} (invalid: {entry.error})"
    size = entry.size_bytes / 1e9
    size_text = f"{size:.1f} GB" if size >= 1 else f"{entry.size_bytes / 1e6:.0f} MB"
    return f"{entry.name} · {info.quantization} · {size_text}"


def _describe_remote(listing: RemoteListing) -> str:
    if listing.error:
        return f"{listing.endpoint} (remote, unavailable: {listing.error})"
    return f"{listing.model} · remote: {listing.endpoint}"


class ModelPicker(QWidget):
    modelChosen = Signal(object)  # ModelEntry or RemoteListing

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.combo.setObjectName("modelPicker")
        self.combo.setAccessibleName("Model")
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.activated.connect(self._on_activated)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("loadProgress")
        self.progress.setAccessibleName("Model loading progress")
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.device = QLabel(self)
        self.device.setObjectName("deviceLabel")
        self.device.setAccessibleName("Where the model runs")
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.device)
        self._entries: list[ModelEntry] = []
        self._remote: list[RemoteListing] = []

    def set_entries(self, entries: list[ModelEntry], current_id: str | None) -> None:
        self._entries = [e for e in entries if e.valid]
        self.combo.clear()
        for entry in self._entries:
            self.combo.addItem(_describe(entry), entry.id)
        for listing in self._remote:
            self.combo.addItem(_describe_remote(listing), listing.id)
            if listing.error:
                index = self.combo.count() - 1
                self.combo.setItemData(index, listing.error, Qt.ItemDataRole.ToolTipRole)
                item = self.combo.model().item(index)  # type: ignore[attr-defined]
                item.setEnabled(False)
        if not self._entries and not self._remote:
            self.combo.addItem("No models installed")
            self.combo.setEnabled(False)
            return
        self.combo.setEnabled(True)
        self.select(current_id)

    def select(self, model_id: str | None) -> None:
        index = self.combo.findData(model_id) if model_id else -1
        self.combo.setCurrentIndex(max(index, 0))

    def set_remote(self, listings: list[RemoteListing]) -> None:
        """Show these remote models after the local ones, keeping the selection."""
        current = self.current()
        kept = list(listings)
        if isinstance(current, RemoteListing) and not any(
            listing.id == current.id and not listing.error for listing in kept
        ):
            # The chat still uses it (its server may be back soon): keep showing it
            # rather than jumping to a model the chat is not using.
            kept.append(current)
        self._remote = kept
        self.set_entries(self._entries, current.id if current is not None else None)

    def current(self) -> ModelEntry | RemoteListing | None:
        return self._choice(self.combo.currentIndex())

    def _choice(self, index: int) -> ModelEntry | RemoteListing | None:
        if 0 <= index < len(self._entries):
            return self._entries[index]
        remote = index - len(self._entries)
        if 0 <= remote < len(self._remote) and not self._remote[remote].error:
            return self._remote[remote]
        return None

    def _on_activated(self, index: int) -> None:
        choice = self._choice(index)
        if choice is not None:
            self.modelChosen.emit(choice)

    def show_progress(self, fraction: float) -> None:
        self.progress.setVisible(True)
        self.progress.setValue(int(fraction * 100))
        self.progress.setFormat("Loading %p%")
        self.device.setText("")

    def show_loaded(self, device: str, gpu_layers: int, layers: int | None) -> None:
        self.progress.setVisible(False)
        if gpu_layers and layers:
            text = f"{device} · {min(gpu_layers, layers + 1)}/{layers + 1} layers on GPU"
        else:
            text = device
        self.device.setText(text)

    def show_failed(self) -> None:
        self.progress.setVisible(False)
        self.device.setText("Not loaded")
