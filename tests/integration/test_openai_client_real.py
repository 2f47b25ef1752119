"""The official ``openai`` client against ``hearth serve`` running the starter model."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.integration.test_serve_real import start_serve

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct-q4_1"
KEY = "integration-test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    key_file = folder / "key"
    key_file.write_text(KEY + "\n")
    process, base, _port = start_serve("--api-key-file", str(key_file), log=folder / "stderr")
    yield base
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


@pytest.fixture
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def ask(client: openai.OpenAI, question: str, **extra: object) -> str:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=24,
        temperature=0,
        seed=7,
        **extra,  # type: ignore[arg-type]
    )
    return answer.choices[0].message.content or ""


def streamed(client: openai.OpenAI, question: str) -> str:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=24,
        temperature=0,
        seed=7,
        stream=True,
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_models_chat_and_streaming_agree(client):
    assert [m.id for m in client.models.list()] == [MODEL]
    assert ask(client, "Name a colour.").strip()
    # Greedy decoding gives the same words for the same cache state; llama.cpp's sums
    # differ in the last bits between a whole-prompt and a one-token evaluation, so
    # compare two requests that both find the prompt already cached.
    whole = ask(client, "Name a colour.")
    assert streamed(client, "Name a colour.") == whole


def test_text_completion_continues_the_raw_prompt(client):
    result = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert result.choices[0].text.strip()
    assert result.usage is not None and 0 < result.usage.completion_tokens <= 8


def test_embeddings_rank_the_related_sentence_higher(client):
    texts = ["The cat sat on the mat.", "A kitten rests on a rug.", "Bond yields rose sharply."]
    result = client.embeddings.create(model=MODEL, input=texts)  # the client asks for base64
    vectors = [item.embedding for item in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == 576

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_eight_concurrent_streams_each_get_their_own_whole_answer(client):
    questions = [f"Write the number {n} in words." for n in range(8)]
    # Two sequential passes: in the second, as below, each question finds only the
    # shared start of the prompt in the cache (see the note on greedy decoding above).
    for question in questions:
        ask(client, question)
    expected = {q: streamed(client, q) for q in questions}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = pool.map(lambda q: streamed(client, q), questions)
        answers = dict(zip(questions, results, strict=True))
    assert answers == expected


def test_a_client_that_disconnects_cancels_its_generation(client, server):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell a very long story about a dragon."}],
        max_tokens=3000,
        stream=True,
    )
    for index, _chunk in enumerate(stream):
        if index == 3:
            break
    stream.close()
    deadline = time.monotonic() + 10  # 3,000 tokens would take far longer than this
    headers = {"Authorization": f"Bearer {KEY}"}
    while httpx.get(f"{server}/health", headers=headers).json()["queue"] != 0:
        assert time.monotonic() < deadline, "the generation kept running"
        time.sleep(0.1)


def test_a_wrong_key_is_refused_with_openai_authentication_error(server):
    wrong = openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
