"""Hearth driving llama.cpp's own OpenAI-compatible server (``llama_cpp.server``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.api_server import free_port

pytestmark = pytest.mark.integration

MODEL_ALIAS = "smollm2-remote"


@pytest.fixture(scope="module")
def llama_server(starter_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(starter_path)]
    command += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "2048", "--n_threads", "1"]
    process = subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "llama_cpp.server did not come up"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def hearth(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=180,
        env={**os.environ},
    )


def test_add_list_and_ask_a_remote_llama_cpp_server(llama_server):
    added = hearth("remote", "add", "lab", llama_server, "--model", MODEL_ALIAS)
    assert added.returncode == 0, added.stderr
    assert "reachable, 1 model(s): smollm2-remote" in added.stdout

    listed = json.loads(hearth("models", "--json").stdout)
    remote = [m for m in listed if m["source"] == "remote"]
    assert remote == [
        {
            "id": f"remote:lab/{MODEL_ALIAS}",
            "name": MODEL_ALIAS,
            "path": llama_server,
            "source": "remote",
            "endpoint": "lab",
            "valid": True,
            "error": None,
        }
    ]

    asked = hearth(
        "ask",
        "-m",
        "remote:lab",
        "--json",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "What is the capital of France?",
    )
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["text"].strip()
    assert answer["model"] == f"remote:lab/{MODEL_ALIAS}"
    assert answer["device"] == f"remote: {llama_server}"
    assert 0 < answer["completion_tokens"] <= 12
    assert answer["finish_reason"] in ("stop", "length")


def test_a_model_the_remote_server_lacks_is_a_clear_cli_error(llama_server):
    assert hearth("remote", "add", "lab2", llama_server, "--no-check").returncode == 0
    asked = hearth("ask", "-m", "remote:lab2/gpt-9", "Hi")
    assert asked.returncode == 1
    assert "has no model 'gpt-9'" in asked.stderr and MODEL_ALIAS in asked.stderr
    assert "Traceback" not in asked.stderr


def test_an_unreachable_endpoint_is_listed_with_its_reason_and_ask_fails_cleanly():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    assert hearth("remote", "add", "gone", dead, "--no-check", "--model", "m").returncode == 0
    listed = hearth("models")
    assert "remote:gone" in listed.stdout and "UNAVAILABLE: Cannot reach" in listed.stdout
    asked = hearth("ask", "-m", "remote:gone", "Hi")
    assert asked.returncode == 1 and "Cannot reach the server" in asked.stderr
    assert "Traceback" not in asked.stderr


def test_classify_and_translate_run_on_the_remote_model(llama_server):
    assert hearth("remote", "add", "lab3", llama_server, "--model", MODEL_ALIAS).returncode == 0
    items = "I love this product, it works great\nTerrible service, never again\n"
    classified = hearth(
        "classify", "-m", "remote:lab3", "--labels", "positive,negative", "--json", stdin=items
    )
    assert classified.returncode == 0, classified.stderr
    rows = json.loads(classified.stdout)
    assert [row["text"] for row in rows] == items.splitlines()  # rows in = rows out
    assert all(row["label"] in ("positive", "negative") for row in rows)
    translated = hearth("translate", "-m", "remote:lab3", "--to", "French", "Good morning")
    assert translated.returncode == 0, translated.stderr
    assert translated.stdout.strip()
