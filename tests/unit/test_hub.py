"""Hub search through the real huggingface_hub client, against the stand-in Hub."""

from __future__ import annotations

import socket

import pytest

from app.core.hub import HubClient, HubError, HubOffline, HubUnavailable, quant_of
from tests.fakes.hub_server import FakeRepo


@pytest.fixture
def repos(fake_hub):
    fake_hub.add(
        FakeRepo(
            "bartowski/Llama-GGUF",
            {
                "llama.Q4_K_M.gguf": b"a" * 400,
                "llama.Q8_0.gguf": b"b" * 800,
                "llama.IQ4_XS.gguf": b"c" * 350,
                "Q6_K/llama-Q6_K-00001-of-00002.gguf": b"d" * 300,
                "Q6_K/llama-Q6_K-00002-of-00002.gguf": b"e" * 300,
                "mmproj-llama-f16.gguf": b"m" * 10,
                "README.md": b"readme",
            },
            downloads=900,
            likes=10,
            last_modified="2024-06-01T00:00:00.000Z",
            license="llama3",
        )
    )
    fake_hub.add(
        FakeRepo("someone/Llama-Mini-GGUF", {"mini.F16.gguf": b"f" * 90}, downloads=5, likes=99)
    )
    fake_hub.add(
        FakeRepo(
            "new/Llama-Fresh-GGUF",
            {"fresh.Q4_0.gguf": b"g"},
            last_modified="2025-09-01T00:00:00.000Z",
            gated=True,
        )
    )
    fake_hub.add(FakeRepo("safetensors/Llama", {"model.safetensors": b"x"}, tags=["transformers"]))
    return fake_hub


def test_search_sorts_and_keeps_gguf_repos(repos):
    client = HubClient()
    by_downloads = [m.repo for m in client.search("llama")]
    assert by_downloads[0] == "bartowski/Llama-GGUF"
    assert "safetensors/Llama" not in by_downloads
    assert client.search("llama", sort="likes")[0].repo == "someone/Llama-Mini-GGUF"
    recent = client.search("llama", sort="recent")[0]
    assert recent.repo == "new/Llama-Fresh-GGUF" and recent.gated
    assert client.search("no-such-thing") == []
    queries = [p for m, p, r in repos.requests if p == "/api/models"]
    assert len(queries) == 4


def test_files_grouped_by_quant_with_split_models_joined(repos):
    files = HubClient().repo_files("bartowski/Llama-GGUF")
    assert files.revision == "a" * 40 and files.license == "llama3"
    groups = files.by_quant()
    assert set(groups) == {"Q4_K_M", "Q8_0", "IQ4_XS", "Q6_K"}
    split = groups["Q6_K"][0]
    assert split.split and split.size == 600 and split.name.endswith("-00001-of-00002.gguf")
    assert len(split.sha256s) == 2 and all(split.sha256s)
    assert groups["Q8_0"][0].size == 800
    assert files.find(quant="q4_k_m").name == "llama.Q4_K_M.gguf"
    with pytest.raises(HubError, match="no Q2_K file"):
        files.find(quant="Q2_K")
    with pytest.raises(HubError, match="has 4 GGUF files") as caught:
        files.find()
    assert "--quant" in caught.value.hint


def test_quant_names():
    assert quant_of("Meta-Llama-3-8B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert quant_of("mistral-7b-instruct-v0.2.Q5_K_S.gguf") == "Q5_K_S"
    assert quant_of("phi-3-mini-4k-instruct-fp16.gguf") == "FP16"
    assert quant_of("gemma-2-2b-it-IQ3_XXS.gguf") == "IQ3_XXS"
    assert quant_of("model.gguf") == "unknown"


def test_offline_and_hub_down_are_clear_errors(repos, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = HubClient(endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(HubOffline) as caught:
        offline.search("llama")
    assert "Models already on this machine still work" in caught.value.user_text()
    repos.down = True
    with pytest.raises(HubUnavailable, match="HTTP 503"):
        HubClient().repo_files("bartowski/Llama-GGUF")


def test_missing_and_gated_repos(repos):
    with pytest.raises(HubError, match="No model repository 'nobody/none'"):
        HubClient().repo_files("nobody/none")
    # A gated repository lists its files (as the Hub does) and says it is gated.
    gated = HubClient().repo_files("new/Llama-Fresh-GGUF")
    assert gated.gated and gated.files[0].quant == "Q4_0"
