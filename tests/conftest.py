"""Shared fixtures: every test gets its own HEARTH_HOME, never the user's folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes.hub_server import FakeHub


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    # No machine policy leaks into tests; tests that need one point here and write it.
    monkeypatch.setenv("HEARTH_POLICY", str(tmp_path / "policy.toml"))
    # Model discovery looks in other tools' folders under HOME: never the real ones.
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    for name in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    yield home


# Qt must never try to reach a display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A stand-in Hugging Face Hub on 127.0.0.1, reached through HF_ENDPOINT."""
    from tests.fakes.hub_server import running_hub

    with running_hub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
