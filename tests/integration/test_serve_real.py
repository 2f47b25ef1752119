"""`hearth serve` as IT runs it: a real process, the real model, a real HTTP client."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(*args: str, log: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    """``hearth serve ARGS`` on a free port, once it answers /health; its stderr goes to
    ``log`` (a pipe nobody reads could fill up and stall the server)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).json()["status"] == "ok":
                return process, base, port
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


def test_serve_answers_openai_requests_and_stops_cleanly_on_sigterm(tmp_path):
    log = tmp_path / "serve.log"
    process, base, _port = start_serve(log=log)
    try:
        body = {
            "model": "smollm2-135m-instruct-q4_1",
            "messages": [{"role": "user", "content": "Translate to French: good morning"}],
            "max_tokens": 30,
            "temperature": 0,
        }
        data = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=120).json()
        assert data["choices"][0]["message"]["content"].strip()
        assert 0 < data["usage"]["completion_tokens"] <= 30
        models = httpx.get(f"{base}/v1/models", timeout=5).json()
        assert models["data"][0]["id"] == "smollm2-135m-instruct-q4_1"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    err = log.read_text()
    assert code == 0, err
    assert "Traceback" not in err


def test_serve_refuses_the_network_without_a_key():
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "without an API key" in result.stderr and "Traceback" not in result.stderr


def test_serve_is_refused_when_the_policy_disables_the_api(tmp_path, monkeypatch):
    policy = tmp_path / "policy.toml"
    policy.write_text("[api]\nenabled = false\n")
    monkeypatch.setenv("HEARTH_POLICY", str(policy))
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "policy" in result.stderr and str(policy) in result.stderr


def test_serve_on_all_interfaces_accepts_this_machine_s_names(tmp_path):
    key = "network-test-key-0123456789"
    (tmp_path / "key").write_text(key)
    process, base, port = start_serve(
        *("--host", "0.0.0.0", "--api-key-file", str(tmp_path / "key")),
        *("--allowed-host", "hearth.corp.example"),
        log=tmp_path / "serve.log",
    )
    auth = {"Authorization": f"Bearer {key}"}
    try:
        for name in (socket.gethostname(), "hearth.corp.example"):
            headers = {**auth, "Host": f"{name}:{port}"}
            assert httpx.get(f"{base}/v1/models", headers=headers).status_code == 200, name
        foreign = {**auth, "Host": f"evil.example:{port}"}
        assert httpx.get(f"{base}/v1/models", headers=foreign).status_code == 400
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
