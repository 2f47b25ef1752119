"""A real GGUF (the starter model) downloaded from the stand-in Hub, then asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.core.library import ModelLibrary
from app.core.options import AUTO, ChatMessage, ChatRequest, LoadOptions, SamplingOptions
from tests.fakes.hub_server import FakeRepo
from tests.integration.conftest import engine_client

pytestmark = pytest.mark.integration

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "smollm2-135m-instruct-q4_1.gguf"


def test_pulled_model_answers_through_the_real_engine(
    fake_hub, starter_path: Path, hearth_home: Path, tmp_path: Path, capsys
):
    fake_hub.add(FakeRepo(REPO, {FILE: starter_path.read_bytes(), "README.md": b"# SmolLM2"}))
    fake_hub.cut_after[FILE] = 20_000_000  # and the connection drops once on the way

    assert main(["pull", REPO, "--quant", "Q4_1"]) == 0
    out = capsys.readouterr().out
    target = hearth_home / "models" / FILE
    assert target.is_file() and target.stat().st_size == starter_path.stat().st_size
    model_id = out.split("Model id: ", 1)[1].split()[0]
    entry = ModelLibrary(hearth_home / "models", include_starter=False).resolve(model_id)
    assert entry.source == "library" and entry.valid

    # Automatic GPU layers go through the fit estimate in the engine.
    client = engine_client(tmp_path / "engine.log")
    try:
        loaded = client.load(LoadOptions(str(target), context_length=1024, gpu_layers=AUTO)).wait(
            120
        )
        assert loaded.ok, loaded.error
        request = ChatRequest(
            (ChatMessage("user", "What is the capital of France?"),),
            SamplingOptions(seed=1, max_tokens=24, temperature=0.0),
        )
        answer = client.chat(request).wait(120)
        assert answer.ok, answer.error
        assert answer.text.strip()
    finally:
        client.shutdown()

    # And as a person would: hearth ask with the downloaded model's id.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "ask",
            "-m",
            model_id,
            "--seed",
            "2",
            "--max-tokens",
            "20",
            "Say hello.",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
