"""The command line without the engine: inspect, models, errors. (ask: integration.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli import main
from app.core.starter import STARTER_ID
from tests.fakes.gguf_files import write_model


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"hearth {__version__}"


def test_without_a_display_no_command_prints_help_and_points_to_ask(capsys, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(capsys)
    assert code == 0
    assert "hearth ask" in out and "usage: hearth" in out


def test_inspect_a_valid_file(capsys, tmp_path: Path):
    path = write_model(tmp_path / "tiny.gguf")
    code, out, _ = run(capsys, "inspect", str(path))
    assert code == 0
    assert re.search(r"Architecture:\s+llama", out)
    assert re.search(r"Quantization:\s+Q8_0", out)


def test_inspect_json(capsys, tmp_path: Path):
    path = write_model(tmp_path / "tiny.gguf")
    code, out, _ = run(capsys, "inspect", "--json", str(path))
    data = json.loads(out)
    assert code == 0
    assert data["valid"] is True and data["context_length"] == 256
    assert data["has_chat_template"] is True


def test_inspect_an_invalid_file_exits_2_with_the_reason(capsys, tmp_path: Path):
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"<html>not found</html>")
    code, _, err = run(capsys, "inspect", str(path))
    assert code == 2
    assert err.count("\n") == 1 and "not a GGUF file" in err
    assert "Traceback" not in err


def test_inspect_json_for_an_invalid_file(capsys, tmp_path: Path):
    code, out, _ = run(capsys, "inspect", "--json", str(tmp_path / "missing.gguf"))
    assert code == 2
    assert json.loads(out) == {
        "path": str(tmp_path / "missing.gguf"),
        "valid": False,
        "reason": "file not found",
    }


def test_models_json_lists_required_fields(capsys, hearth_home: Path):
    models = hearth_home / "models"
    models.mkdir(parents=True)
    write_model(models / "Tiny.gguf")
    code, out, _ = run(capsys, "models", "--json")
    data = json.loads(out)
    assert code == 0
    assert [m["id"] for m in data] == [STARTER_ID, "tiny"]
    for model in data:
        for key in (
            "id",
            "name",
            "path",
            "size_bytes",
            "architecture",
            "quantization",
            "context_length",
            "source",
        ):
            assert key in model
    assert data[0]["source"] == "starter" and data[1]["source"] == "library"
    assert data[0]["quantization"] == "Q4_1" and data[0]["context_length"] == 8192


def test_models_table(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and STARTER_ID in out and "Q4_1" in out


def test_ask_with_an_unknown_model_exits_2_and_says_how_to_list(capsys):
    code, _, err = run(capsys, "ask", "-m", "no-such-model", "hello")
    assert code == 2
    assert "Unknown model 'no-such-model'" in err and "hearth models" in err
    assert "Traceback" not in err


def test_ask_with_a_broken_file_exits_2_with_the_reason(capsys, tmp_path: Path):
    path = tmp_path / "half.gguf"
    full = write_model(tmp_path / "full.gguf").read_bytes()
    path.write_bytes(full[: len(full) - 100])
    code, _, err = run(capsys, "ask", "-m", str(path), "hello")
    assert code == 2
    assert "truncated: 100 bytes missing" in err


def test_bad_arguments_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["ask", "--max-tokens", "0", "hi"])
    assert caught.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_ask_rejects_an_out_of_range_temperature(capsys):
    code, _, err = run(capsys, "ask", "--temperature", "9", "hi")
    assert code == 2 and "temperature" in err


def test_the_cli_does_not_import_qt():
    # In a fresh interpreter: pytest-qt has already imported Qt into this one.
    code = (
        "import sys; from app.cli import main; main(['models']); "
        "assert 'PySide6' not in sys.modules, 'Qt was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["ask", "classify", "translate"])
def test_an_impossible_context_length_is_a_usage_error_before_any_engine_starts(
    command, capsys, tmp_path
):
    items = tmp_path / "items.txt"
    items.write_text("one\ntwo\n", encoding="utf-8")
    extra = {
        "ask": ["hi"],
        "classify": ["--labels", "a,b", "--input", str(items)],
        "translate": ["--to", "French", "hi"],
    }
    code = main([command, "--context-length", "8", *extra[command]])
    assert code == 2
    assert "context length must be at least 16" in capsys.readouterr().err
