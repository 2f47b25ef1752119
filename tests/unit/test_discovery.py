"""Models of other tools found in fake LM Studio, GPT4All, Jan, Ollama and HF-cache folders."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from app.core.discovery import discover
from app.core.errors import HearthError, InvalidModelFile
from app.core.library import ModelLibrary
from app.core.settings import SettingsStore
from app.main import build_services
from tests.fakes.gguf_files import write_model


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return Path(tmp_path / "user-home")  # HOME, set by tests/conftest.py


def _model(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_model(path)


def make_other_tools(home: Path) -> dict[str, Path]:
    made: dict[str, Path] = {}
    # Hugging Face cache: the snapshot file is a symlink to a blob.
    repo = home / ".cache/huggingface/hub/models--TheOrg--Tiny-GGUF"
    blob = _model(repo / "blobs" / ("a" * 64))
    snap = repo / "snapshots" / ("f" * 40) / "tiny.Q8_0.gguf"
    snap.parent.mkdir(parents=True)
    snap.symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("f" * 40)
    made["hf-cache"] = snap
    made["lm-studio"] = _model(home / ".lmstudio/models/lmstudio-community/Tiny/tiny-lm.gguf")
    made["gpt4all"] = _model(home / ".local/share/nomic.ai/GPT4All/tiny-gpt4all.gguf")
    made["jan"] = _model(home / "jan/models/tiny-jan/model.gguf")
    # Ollama: a content-addressed blob named by a manifest.
    ollama = home / ".ollama/models"
    data = _model(ollama / "tmp.gguf").read_bytes()
    (ollama / "tmp.gguf").unlink()
    digest = hashlib.sha256(data).hexdigest()
    weights = ollama / "blobs" / f"sha256-{digest}"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(data)
    template = ollama / "blobs" / f"sha256-{'b' * 64}"
    template.write_text("{{ .Prompt }}")
    manifest = ollama / "manifests/registry.ollama.ai/library/tinyllama/latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "layers": [
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": f"sha256:{digest}",
                    },
                    {
                        "mediaType": "application/vnd.ollama.image.template",
                        "digest": f"sha256:{'b' * 64}",
                    },
                ],
            }
        )
    )
    made["ollama"] = weights
    return made


def test_discovers_every_tool(home):
    made = make_other_tools(home)
    found = {item.tool: item for item in discover()}
    assert set(found) == {"hf-cache", "lm-studio", "gpt4all", "jan", "ollama"}
    for tool, path in made.items():
        assert found[tool].path == path
    assert found["hf-cache"].label == "TheOrg/Tiny-GGUF/tiny.Q8_0.gguf"
    assert found["ollama"].label == "tinyllama:latest"
    assert found["lm-studio"].label == "lmstudio-community/Tiny/tiny-lm.gguf"


def test_env_overrides_and_broken_manifest(home, tmp_path, monkeypatch):
    elsewhere = tmp_path / "ollama-store"
    (elsewhere / "manifests/registry.ollama.ai/library/bad").mkdir(parents=True)
    (elsewhere / "manifests/registry.ollama.ai/library/bad/latest").write_text("{not json")
    monkeypatch.setenv("OLLAMA_MODELS", str(elsewhere))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    _model(tmp_path / "hf/models--a--b/snapshots/123/sub/x.gguf")
    found = discover()
    assert [(f.tool, f.label) for f in found] == [("hf-cache", "a/b/sub/x.gguf")]


def test_library_lists_discovered_models_with_source_and_invalid_reason(home):
    make_other_tools(home)
    broken = home / ".lmstudio/models/someone/Broken/broken.gguf"
    broken.parent.mkdir(parents=True)
    broken.write_text("<!DOCTYPE html><html>rate limited</html>")
    services = build_services()
    entries = {e.source: e for e in services.library.entries() if e.source != "starter"}
    assert entries["ollama"].id == "tinyllama-latest"
    assert entries["ollama"].valid
    assert entries["ollama"].info.architecture == "llama"
    assert entries["hf-cache"].label == "TheOrg/Tiny-GGUF/tiny.Q8_0.gguf"
    invalid = [e for e in services.library.entries() if not e.valid]
    assert [e.path for e in invalid] == [broken]
    assert "HTML" in invalid[0].error
    # Discovered models resolve like any other.
    assert services.library.resolve("tinyllama").path == entries["ollama"].path


def test_discovery_can_be_turned_off(home):
    make_other_tools(home)
    store = SettingsStore(build_services().paths.settings_file)
    settings = store.load()
    settings.storage.discover_other_tools = False
    store.save(settings)
    assert {e.source for e in build_services().library.entries()} <= {"starter"}


def test_remove_hides_others_and_deletes_only_our_own(home, tmp_path):
    made = make_other_tools(home)
    library = ModelLibrary(tmp_path / "models", include_starter=False, discover_other_tools=True)
    ours = _model(tmp_path / "models" / "mine.gguf")
    by_source = {e.source: e for e in library.entries()}
    assert library.remove(by_source["ollama"]) == "hidden"
    assert made["ollama"].exists()
    assert "ollama" not in {e.source for e in library.entries()}
    assert "ollama" in {e.source for e in library.entries(include_hidden=True)}
    assert library.remove(by_source["library"]) == "deleted"
    assert not ours.exists()


def test_import_copy_and_link(tmp_path):
    library = ModelLibrary(tmp_path / "models", include_starter=False)
    source = _model(tmp_path / "downloads" / "tiny.gguf")
    copied = library.import_file(source)
    assert copied.read_bytes() == source.read_bytes() and not copied.is_symlink()
    with pytest.raises(HearthError, match="already in the models folder"):
        library.import_file(source)
    other = tmp_path / "downloads" / "other.gguf"
    shutil.copy(source, other)
    linked = library.import_file(other, mode="link")
    assert linked.is_symlink() and linked.resolve() == other
    assert {e.path.name for e in library.entries()} == {"tiny.gguf", "other.gguf"}
    bad = tmp_path / "downloads" / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 3)
    with pytest.raises(InvalidModelFile):
        library.import_file(bad)
    assert not (tmp_path / "models" / "bad.gguf").exists()


def test_split_model_listed_once(tmp_path):
    models = tmp_path / "models"
    _model(models / "big-00001-of-00002.gguf")
    _model(models / "big-00002-of-00002.gguf")
    library = ModelLibrary(models, include_starter=False)
    assert [e.path.name for e in library.entries()] == ["big-00001-of-00002.gguf"]
