"""``hearth remote``: adding, listing and removing endpoints, and clear refusals."""

from __future__ import annotations

import io
import json

from app.cli import main
from tests.fakes.api_server import scripted_api_server


def test_add_checks_the_server_then_list_and_remove(capsys):
    with scripted_api_server() as url:
        assert main(["remote", "add", "farm", url, "--model", "scripted"]) == 0
    assert "reachable, 1 model(s): scripted" in capsys.readouterr().out
    assert main(["remote", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {"name": "farm", "base_url": url, "default_model": "scripted", "allowed": True}
    ]
    assert main(["remote", "remove", "farm"]) == 0
    capsys.readouterr()
    assert main(["remote", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_model_the_server_does_not_list_is_saved_with_a_warning(capsys):
    with scripted_api_server() as url:
        assert main(["remote", "add", "farm", url, "--model", "gpt-9"]) == 1
    err = capsys.readouterr().err
    assert "does not list the model gpt-9" in err and "scripted" in err


def test_bad_addresses_and_unknown_endpoints_are_usage_errors(capsys):
    assert main(["remote", "add", "x", "notaurl", "--no-check"]) == 2
    assert "'notaurl' is not a server address" in capsys.readouterr().err
    assert main(["ask", "-m", "remote:ghost", "hi"]) == 2
    assert "no remote endpoint 'ghost'" in capsys.readouterr().err
    assert main(["remote", "remove", "ghost"]) == 2


def test_the_policy_can_forbid_an_endpoint(tmp_path, monkeypatch, capsys):
    policy = tmp_path / "policy.toml"
    policy.write_text('[remote]\nendpoints = ["https://gateway.corp/v1"]\n')
    monkeypatch.setenv("HEARTH_POLICY", str(policy))
    assert main(["remote", "add", "farm", "http://elsewhere:8000/v1", "--no-check"]) == 1
    assert "is not allowed" in capsys.readouterr().err


def test_pointing_a_name_at_another_server_forgets_the_old_key(monkeypatch, capsys):
    from app.core import remote as remote_module
    from app.core.secrets import SecretStore

    stored: dict[str, str] = {}
    monkeypatch.setattr(
        SecretStore, "set", lambda self, name, value: stored.__setitem__(name, value)
    )
    monkeypatch.setattr(SecretStore, "delete", lambda self, name: stored.pop(name, None))
    monkeypatch.setattr(SecretStore, "status", property(lambda self: "keyring"))
    monkeypatch.setattr("sys.stdin", io.StringIO("old-server-key-123456\n"))
    name = remote_module.secret_name("farm")
    assert main(["remote", "add", "farm", "http://old:8000/v1", "--no-check", "--key-stdin"]) == 0
    assert stored == {name: "old-server-key-123456"}
    assert main(["remote", "add", "farm", "http://new:8000/v1", "--no-check"]) == 0
    assert stored == {}
