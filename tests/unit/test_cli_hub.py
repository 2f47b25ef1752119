"""hearth search / pull / import / remove / models against the stand-in Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from tests.fakes.gguf_files import write_model
from tests.fakes.hub_server import FakeRepo
from tests.unit.test_discovery import make_other_tools


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hub(fake_hub, tmp_path: Path):
    tiny = write_model(tmp_path / "src.gguf").read_bytes()
    fake_hub.add(
        FakeRepo(
            "org/Tiny-GGUF",
            {"tiny.Q8_0.gguf": tiny, "tiny.Q4_K_M.gguf": tiny + b"\0" * 64},
            downloads=10,
        )
    )
    fake_hub.add(FakeRepo("meta/Gated-GGUF", {"g.Q4_0.gguf": tiny}, gated=True, downloads=5))
    fake_hub.add(FakeRepo("TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF", {"solar.Q4_K_M.gguf": tiny}))
    return fake_hub


def test_search_text_and_json(capsys, hub):
    code, out, _ = run(capsys, "search", "gguf")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("org/Tiny-GGUF") and "10 downloads" in lines[0]
    assert "gated" in next(line for line in lines if line.startswith("meta/Gated-GGUF"))
    assert "catalog" in next(line for line in lines if line.startswith("TheBloke/SOLAR"))
    code, out, _ = run(capsys, "search", "solar", "--json")
    data = json.loads(out)
    assert [r["repo"] for r in data] == ["TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF"]
    assert data[0]["catalog"]["license_flagged"] is True


def test_pull_lists_then_downloads_and_models_shows_it(capsys, hub, hearth_home):
    code, out, _ = run(capsys, "pull", "org/Tiny-GGUF")
    assert code == 0
    assert "Q4_K_M" in out and "Q8_0" in out and "--quant" in out
    assert "CPU only" in out or "GPU" in out  # the fit verdict per file

    code, out, err = run(capsys, "pull", "org/Tiny-GGUF", "--quant", "q8_0")
    assert code == 0, err
    assert "Downloaded and verified" in out and "Model id: tiny-q8-0" in out
    assert (hearth_home / "models" / "tiny.Q8_0.gguf").is_file()
    code, out, _ = run(capsys, "pull", "org/Tiny-GGUF", "--quant", "Q8_0")
    assert "already downloaded and up to date" in out

    code, out, _ = run(capsys, "models", "--json")
    ids = {m["id"]: m for m in json.loads(out)}
    assert ids["tiny-q8-0"]["source"] == "library" and ids["tiny-q8-0"]["valid"]


def test_pull_errors_are_one_line(capsys, hub):
    code, _, err = run(capsys, "pull", "meta/Gated-GGUF")
    assert code == 1
    assert "gated" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "pull", "org/Tiny-GGUF", "--quant", "Q2_K")
    assert code == 1 and "no Q2_K file" in err
    code, _, err = run(capsys, "pull", "nobody/none")
    assert code == 1 and "No model repository" in err


def test_flagged_license_needs_consent(capsys, hub, hearth_home):
    code, _, err = run(capsys, "pull", "TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF")
    assert code == 2
    assert "no commercial use" in err and "--yes" in err
    assert not (hearth_home / "models" / "solar.Q4_K_M.gguf").exists()
    code, out, _ = run(capsys, "pull", "TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF", "--yes")
    assert code == 0 and "Downloaded and verified" in out


def test_search_offline_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    code, _, err = run(capsys, "search", "llama")
    assert code == 1
    assert "Cannot reach the Hugging Face Hub" in err and "Traceback" not in err


def test_policy_disables_pull(capsys, hub, tmp_path):
    (tmp_path / "policy.toml").write_text("[downloads]\nenabled = false\n")
    code, _, err = run(capsys, "pull", "org/Tiny-GGUF", "--quant", "Q8_0")
    assert code == 1 and "Downloads are disabled" in err


def test_models_lists_discovered_and_remove_hides_them(capsys, tmp_path, hearth_home):
    make_other_tools(tmp_path / "user-home")
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "[ollama: tinyllama:latest]" in out
    assert "[hf-cache: TheOrg/Tiny-GGUF/tiny.Q8_0.gguf]" in out
    code, out, _ = run(capsys, "remove", "tinyllama-latest")
    assert code == 0 and "Hidden" in out
    assert (tmp_path / "user-home/.ollama/models/blobs").is_dir()
    _, out, _ = run(capsys, "models")
    assert "tinyllama" not in out

    (tmp_path / "elsewhere").mkdir()
    source = write_model(tmp_path / "elsewhere" / "mine.gguf")
    code, out, _ = run(capsys, "import", str(source))
    assert code == 0 and (hearth_home / "models" / "mine.gguf").is_file()
    code, out, _ = run(capsys, "remove", "mine")
    assert code == 0 and "Deleted" in out
    assert not (hearth_home / "models" / "mine.gguf").exists() and source.exists()
