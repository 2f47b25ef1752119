"""Fixtures for tests that use the real starter model through the real engine process."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.gguf_inspect import inspect_gguf
from app.core.options import LoadOptions
from app.core.starter import starter_model_path
from app.engine.backends import create_llama_backend
from app.engine.client import EngineClient
from app.engine.process_transport import ProcessTransport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def starter_path() -> Path:
    path = starter_model_path()
    if path is None:
        pytest.fail("the starter model is missing: pip install -e '.[test]' installs it")
    return path


def engine_client(log: Path) -> EngineClient:
    return EngineClient(lambda: ProcessTransport(create_llama_backend, log))


@pytest.fixture
def engine(tmp_path: Path, starter_path: Path) -> Iterator[EngineClient]:
    """A real engine process with the starter model loaded (4k context)."""
    client = engine_client(tmp_path / "engine.log")
    finished = client.load(LoadOptions(str(starter_path), context_length=4096)).wait(120)
    assert finished.ok, finished.error
    yield client
    client.shutdown()


def copy_with_chat_template(source: Path, target: Path, template: str) -> Path:
    """Write a copy of a GGUF model whose chat template is replaced.

    Tensor offsets are relative to the data section, so if the header grows by a
    multiple of the alignment the old padding stays right. The new template is padded
    to such a length with a Jinja comment, which renders as nothing.
    """
    info = inspect_gguf(source)
    old = (info.chat_template or "").encode()
    assert old, "the source model must carry a chat template"
    data = source.read_bytes()
    at = data.find(struct.pack("<Q", len(old)) + old, 0, info.data_offset)
    assert at > 0
    new = template.encode() + b"{#"
    new += b" " * ((len(old) - len(new) - 2) % info.alignment) + b"#}"
    assert (len(new) - len(old)) % info.alignment == 0
    target.write_bytes(data[:at] + struct.pack("<Q", len(new)) + new + data[at + 8 + len(old) :])
    return target
