"""`hearth config` and `hearth policy show`, with and without a machine policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def policy_file() -> Path:
    return Path(os.environ["HEARTH_POLICY"])


def test_set_then_get_and_list(capsys):
    assert run(capsys, "config", "set", "sampling.temperature", "0.3")[0] == 0
    code, out, _ = run(capsys, "config", "get", "sampling.temperature")
    assert code == 0 and json.loads(out) == 0.3
    code, out, _ = run(capsys, "config", "list", "--json")
    rows = {row["key"]: row for row in json.loads(out)}
    assert rows["sampling.temperature"] == {
        "key": "sampling.temperature",
        "value": 0.3,
        "managed": False,
    }
    assert "model.context_length" in rows


def test_a_setting_changes_what_ask_uses(capsys, hearth_home: Path):
    run(capsys, "config", "set", "model.context_length", "2048")
    saved = json.loads((hearth_home / "config" / "settings.json").read_text())
    assert saved["model"]["context_length"] == 2048


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("config", "set", "sampling.temperature", "hot"), "valid number"),
        (("config", "set", "sampling.warmth", "1"), "no setting 'sampling.warmth'"),
        (("config", "get", "nope"), "no setting 'nope'"),
    ],
)
def test_bad_keys_and_values_exit_2_with_the_reason(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_locked_setting_is_applied_shown_and_refused(capsys, policy_file: Path):
    policy_file.write_text('[lock]\n"sampling.temperature" = 0.2\n')
    run(capsys, "config", "set", "sampling.top_k", "10")  # an unlocked one still works
    code, out, _ = run(capsys, "config", "list")
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith("sampling.temperature"))
    assert "0.2" in line and "managed by your organization" in line
    code, _, err = run(capsys, "config", "set", "sampling.temperature", "0.9")
    assert code == 1
    assert "'sampling.temperature' is locked" in err and str(policy_file) in err
    assert json.loads(run(capsys, "config", "get", "sampling.top_k")[1]) == 10


def test_policy_show_without_and_with_a_policy(capsys, policy_file: Path):
    code, out, _ = run(capsys, "policy", "show")
    assert code == 0 and "no policy file" in out
    policy_file.write_text("[downloads]\nenabled = false\n[api]\nenabled = false\n")
    data = json.loads(run(capsys, "policy", "show", "--json")[1])
    assert data["downloads_enabled"] is False and data["api_enabled"] is False


def test_a_broken_policy_fails_closed_and_says_so(capsys, policy_file: Path):
    policy_file.write_text("[lock\nthis is not toml")
    code, out, _ = run(capsys, "policy", "show")
    assert code == 0 and str(policy_file) in out
    code, _, err = run(capsys, "config", "set", "sampling.temperature", "0.5")
    assert code == 1 and "locked" in err


def test_a_lock_with_a_bad_value_keeps_the_default_and_is_reported(capsys, policy_file):
    policy_file.write_text('[lock]\n"sampling.temperature" = "very hot"\n')
    assert json.loads(run(capsys, "config", "get", "sampling.temperature")[1]) == 0.7
    out = run(capsys, "policy", "show")[1]
    assert "sampling.temperature" in out


def test_policy_shared_folders_appear_in_the_model_list(capsys, policy_file: Path, tmp_path):
    from tests.fakes.gguf_files import write_model

    shared = tmp_path / "srv-models"
    shared.mkdir()
    write_model(shared / "Company.Q8_0.gguf")
    policy_file.write_text(f'[models]\nshared_folders = ["{shared}"]\n')
    data = json.loads(run(capsys, "models", "--json")[1])
    company = next(m for m in data if m["name"] == "Tiny Test")
    assert company["source"] == "shared" and company["path"].startswith(str(shared))


def test_a_model_can_have_its_own_values(capsys):
    code, out, _ = run(capsys, "config", "set", "sampling.temperature", "0.1", "--model", "smollm2")
    assert code == 0 and "(for smollm2-135m-instruct-q4_1)" in out
    model_value = run(capsys, "config", "get", "sampling.temperature", "--model", "smollm2")[1]
    assert json.loads(model_value) == 0.1
    assert json.loads(run(capsys, "config", "get", "sampling.temperature")[1]) == 0.7
    code, _, err = run(capsys, "config", "set", "default_model", "x", "--model", "smollm2")
    assert code == 2 and "only model.* and sampling.*" in err
    assert run(capsys, "config", "unset", "sampling.temperature", "--model", "smollm2")[0] == 0
    model_value = run(capsys, "config", "get", "sampling.temperature", "--model", "smollm2")[1]
    assert json.loads(model_value) == 0.7


def test_a_lock_beats_a_model_override(capsys, policy_file: Path):
    run(capsys, "config", "set", "sampling.temperature", "0.1", "--model", "smollm2")
    policy_file.write_text('[lock]\n"sampling.temperature" = 0.3\n')
    value = run(capsys, "config", "get", "sampling.temperature", "--model", "smollm2")[1]
    assert json.loads(value) == 0.3
    code, _, err = run(capsys, "config", "set", "sampling.temperature", "0.9", "--model", "smollm2")
    assert code == 1 and "locked" in err
