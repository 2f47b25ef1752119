"""`hearth ask` and `hearth info` as a person runs them: a real process, the real model."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

HEARTH = [sys.executable, "-m", "app"]


def test_ask_streams_the_answer_to_stdout_as_it_is_written():
    process = subprocess.Popen(
        [*HEARTH, "ask", "--seed", "3", "--max-tokens", "60", "Translate to French: good morning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    arrivals: list[float] = []
    received = b""
    while True:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "no output within 120 s"
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            break
        arrivals.append(time.monotonic())
        received += chunk
    assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
    assert received.decode().strip()
    assert len(arrivals) >= 3  # several writes, not one block at the end
    assert arrivals[-1] - arrivals[0] > 0.02


def test_ask_json_reports_the_answer_and_its_numbers():
    result = subprocess.run(
        [*HEARTH, "ask", "--json", "--seed", "5", "--max-tokens", "40", "Say hello."],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "text",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "tokens_per_s",
        "finish_reason",
    ):
        assert key in data
    assert data["text"].strip()
    assert data["model"] == "smollm2-135m-instruct-q4_1"
    assert data["prompt_tokens"] > 5 and 0 < data["completion_tokens"] <= 40
    assert data["finish_reason"] in ("stop", "length")
    assert data["ttft_ms"] > 0 and data["tokens_per_s"] > 0


def _long_answer_streaming() -> subprocess.Popen[str]:
    """`hearth ask` for a long story, returned once its answer has started to stream."""
    process = subprocess.Popen(
        [*HEARTH, "ask", "--max-tokens", "2000", "Write a very long story about a castle."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    ready, _, _ = select.select([process.stdout], [], [], 120)
    assert ready
    return process


def test_ctrl_c_cancels_cleanly():
    process = _long_answer_streaming()
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    code = process.wait(30)
    err = process.stderr.read()
    assert code == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_info_says_whether_gpu_offload_works_and_how_to_get_it():
    result = subprocess.run(
        [*HEARTH, "info", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"].startswith("llama-cpp-python ")
    if data["gpu_offload"]:
        assert data["devices"]
    else:
        assert "GGML_CUDA=on" in data["note"]
    hardware = data["hardware"]
    assert 0 < hardware["available_ram"] <= hardware["total_ram"]
    assert hardware["gpus"] or hardware["gpu_problem"]


def test_an_engine_crash_is_one_clear_line():
    import psutil

    process = _long_answer_streaming()
    engines = [
        child
        for child in psutil.Process(process.pid).children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
    ]
    assert len(engines) == 1
    engines[0].kill()
    code = process.wait(30)
    err = process.stderr.read()
    assert code == 1
    assert "hearth: error: The model engine stopped unexpectedly (killed by SIGKILL" in err
    assert "Traceback" not in err


def test_ask_refuses_a_model_the_policy_does_not_allow(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[models]\nallow = ["*.Q8_0.gguf"]\n')
    import os

    result = subprocess.run(
        [*HEARTH, "ask", "Hello"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HEARTH_POLICY": str(policy)},
    )
    assert result.returncode == 1
    assert "organization's policy" in result.stderr and str(policy) in result.stderr
    assert "Traceback" not in result.stderr
