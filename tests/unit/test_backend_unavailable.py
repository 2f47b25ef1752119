"""llama.cpp's libraries cannot load (the CUDA build without the NVIDIA driver): the
engine still starts, and says why and what to install instead of dying with an exit code.

The failure is simulated where it happens, at the import of the llama backend module; the
rest is the real factory, engine host and client (in-process transport)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from app.core.errors import ModelLoadError
from app.core.options import LoadOptions
from app.engine.backends import create_llama_backend
from app.engine.client import EngineClient
from app.engine.thread_transport import ThreadTransport

NO_DRIVER = (
    "Failed to load shared library '/opt/hearth/_internal/llama_cpp/lib/libllama.so': "
    "libcuda.so.1: cannot open shared object file: No such file or directory"
)


class _UnloadableLlama(types.ModuleType):
    """Stands for app.engine.backends.llama when loading llama_cpp's libraries fails."""

    def __init__(self, error: Exception) -> None:
        super().__init__("app.engine.backends.llama")
        self._error = error

    def __getattr__(self, name: str) -> object:
        raise self._error


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineClient]:
    def start(error: Exception) -> EngineClient:
        monkeypatch.setitem(sys.modules, "app.engine.backends.llama", _UnloadableLlama(error))
        return EngineClient(lambda: ThreadTransport(create_llama_backend))

    clients: list[EngineClient] = []

    def build(error: Exception) -> EngineClient:
        client = start(error)
        clients.append(client)
        return client

    yield build  # type: ignore[misc]
    for client in clients:
        client.shutdown()


def test_without_the_nvidia_driver_the_engine_says_why_and_what_to_install(engine) -> None:
    client = engine(RuntimeError(NO_DRIVER))
    build = client.build_info()
    assert not build.gpu_offload
    assert "NVIDIA driver is not installed" in build.note
    assert "Install the NVIDIA driver, or install Hearth's CPU package" in build.note

    finished = client.load(LoadOptions(path="/models/any.gguf")).wait(30)
    assert finished.finish_reason == "error"
    assert isinstance(finished.error, ModelLoadError)
    text = finished.error.user_text()
    assert "Could not load /models/any.gguf" in text
    assert "NVIDIA driver" in text


def test_any_other_library_failure_is_reported_with_its_cause(engine) -> None:
    client = engine(OSError("libggml-cpu.so.0: undefined symbol: ggml_foo"))
    note = client.build_info().note
    assert "llama.cpp could not be loaded (libggml-cpu.so.0: undefined symbol" in note
    assert "Reinstall Hearth" in note
    finished = client.load(LoadOptions(path="/models/any.gguf")).wait(30)
    assert isinstance(finished.error, ModelLoadError)
