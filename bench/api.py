"""API benchmark: ``hearth serve`` against ``python -m llama_cpp.server``.

Both servers run as child processes of this script, each on a free 127.0.0.1 port,
with the same GGUF file (by default the starter model) and the same settings: context
4096, the same number of threads for decode and prompt evaluation, batch 512, CPU
only, f16 KV cache, no flash attention, no mlock.

- **hearth serve**: a temporary ``HEARTH_HOME``; the settings go in with
  ``python -m app config set KEY VALUE`` (only the keys whose value differs), then
  ``python -m app serve --model PATH --port P``, so the engine runs in its child
  process behind the API exactly as ``hearth serve`` runs it.
- **llama_cpp.server**: ``python -m llama_cpp.server --model PATH --n_ctx --n_threads
  --n_threads_batch --n_batch --n_ubatch --n_gpu_layers 0`` and also ``--use_mlock
  False --logits_all False``: the server's defaults there differ from ``Llama()``'s,
  which Hearth's engine uses.

A server is ready when ``GET /v1/models`` lists a model; both are stopped with SIGTERM
at the end, also after an error.

Requests. Both servers get byte-identical JSON bodies on ``POST /v1/chat/completions``
(no ``model`` field, so each serves its own): one user message, ``stream: true``,
``stream_options: {include_usage: true}``, greedy decoding (temperature 0, top_p 0.95,
top_k 40, min_p 0.05, repeat_penalty 1.0, seed 1234) and ``max_tokens``.
Both servers read top_k, min_p and repeat_penalty from the body (llama.cpp's
extensions); Hearth's ``sampling.*`` settings are set to the same values as well.
Each prompt asks for a very long story, so answers run to ``max_tokens``; the report
gives the finish reasons and whether both servers wrote the same text.

Timing, on the client (httpx, SSE lines stamped with ``time.perf_counter()`` as they
arrive):

- time to first token (TTFT): from sending the request to the first chunk whose
  ``delta.content`` is not empty;
- decode speed: (completion tokens - 1) / (last content chunk - first content chunk).
  Completion tokens come from ``usage`` when the server sends it (Hearth does);
  llama_cpp.server sends no usage when streaming, so for an answer that finished with
  ``length`` it is ``max_tokens``, otherwise the number of content chunks (one token
  each). Both servers send the first token's text on its own.

The KV cache. Both servers keep the previous request's tokens and evaluate only the
part of a new prompt that differs. Repetition i sends prompt i (a distinct topic, the
same shape) to both servers, hearth serve first in even repetitions and
llama_cpp.server first in odd ones (ABAB, then BABA), so each server has seen the same
sequence of prompts before each request and reuses the same prefix (the chat
template's system preamble). One warm-up request per server is not counted. The
report gives each server's medians, with ranges in the details; the hearth/llama ratio
judged against a target is the median of the per-prompt ratios, since the two
requests of a pair run back to back and a change in the machine's load between
pairs cancels out (the ratio of the medians is in the details).

Concurrency. Four clients, each on its own thread and connection, start together and
send N streamed requests one after another (distinct prompts, shorter answers):
first against hearth serve, then the same prompts against llama_cpp.server (its
default ``--interrupt_requests True``: a new request ends the stream in progress),
then against a fresh llama_cpp.server with ``--interrupt_requests False``, which
serves requests one at a time as Hearth's engine does. Reported per server:
errors (HTTP errors, error events in the stream, transport failures), streams that
ended without a finish reason ("cut short"), the requests each client completed,
latency per request, and starvation: every client completed all its requests and
the slowest client's total time is within 2x of the fastest's (judged for Hearth
only).

    python bench/api.py                 # full run (about 4 minutes on 2 cores)
    python bench/api.py --quick         # smoke run (about a minute)
    python bench/api.py --write-docs    # also rewrite the results in docs/benchmarks.md

See docs/benchmarks.md for what each metric means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/api.py` from a checkout without install
    sys.path.insert(0, str(ROOT))

from app import __version__ as HEARTH_VERSION  # noqa: E402
from app.core.starter import starter_model_path  # noqa: E402
from bench.report import cpu_model, load_average, median, spread, verdict  # noqa: E402

DOCS_PATH = ROOT / "docs" / "benchmarks.md"
SECTION_TITLE = "## API: hearth serve against llama_cpp.server"
RESULTS_START = "<!-- bench:api:results:start -->"
RESULTS_END = "<!-- bench:api:results:end -->"

Say = Callable[[str], None]

SIDES = ("hearth", "llama")
SERIAL = "llama-serial"
"""llama_cpp.server with ``--interrupt_requests False``, for the concurrency runs only."""
CONCURRENT_SIDES = (*SIDES, SERIAL)
LABELS = {
    "hearth": "hearth serve",
    "llama": "llama_cpp.server",
    SERIAL: "llama_cpp.server --interrupt_requests False",
}

SEED = 1234
TOP_P = 0.95
TOP_K = 40
MIN_P = 0.05
REPEAT_PENALTY = 1.0

TTFT_TARGET = 1.1
TPS_TARGET = 0.95
STARVATION_LIMIT = 2.0

READY_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0

WARMUP_PROMPT = "Say hello in one short sentence."
_HEROES = (
    "a dragon",
    "a lighthouse keeper",
    "a retired sea captain",
    "a young fox",
    "a clockmaker",
    "a lonely robot",
    "a village baker",
    "an old oak tree",
    "a travelling musician",
    "a curious owl",
    "a mountain goat",
    "a librarian",
)
_SKILLS = (
    "bake bread",
    "play the violin",
    "grow tomatoes",
    "build a boat",
    "paint portraits",
    "read the stars",
    "speak with whales",
    "knit a scarf",
    "ride a bicycle",
    "juggle apples",
    "forge a sword",
    "write poems",
)


def story_prompt(index: int) -> str:
    """A distinct prompt for each index below 144, all of the same shape."""
    hero = _HEROES[index % len(_HEROES)]
    skill = _SKILLS[(index + index // len(_HEROES)) % len(_SKILLS)]
    return (
        f"Write a very long story about {hero} who learns to {skill}. "
        "Make it at least 3000 words long."
    )


@dataclass(frozen=True)
class Settings:
    model: Path
    context: int
    threads: int
    batch: int
    reps: int
    max_tokens: int
    clients: int
    requests_per_client: int
    concurrent_tokens: int
    quick: bool

    def hearth_settings(self) -> dict[str, object]:
        """Hearth's settings for the same load options and sampling as the request."""
        return {
            "model.context_length": self.context,
            "model.threads": self.threads,
            "model.batch_size": self.batch,
            "model.gpu_layers": 0,
            "model.flash_attention": False,
            "model.kv_cache_type": "f16",
            "model.use_mmap": True,
            "model.use_mlock": False,
            "sampling.temperature": 0.0,
            "sampling.top_p": TOP_P,
            "sampling.top_k": TOP_K,
            "sampling.min_p": MIN_P,
            "sampling.repeat_penalty": REPEAT_PENALTY,
            "sampling.seed": SEED,
        }

    def llama_flags(self) -> list[str]:
        flags = {
            "--n_ctx": self.context,
            "--n_threads": self.threads,
            "--n_threads_batch": self.threads,
            "--n_batch": self.batch,
            "--n_ubatch": self.batch,
            "--n_gpu_layers": 0,
            "--flash_attn": False,
            "--use_mmap": True,
            "--use_mlock": False,
            "--logits_all": False,
        }
        return [part for flag, value in flags.items() for part in (flag, str(value))]


def request_body(prompt: str, max_tokens: int) -> dict[str, object]:
    """The same body for both servers."""
    return {
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "top_p": TOP_P,
        "top_k": TOP_K,
        "min_p": MIN_P,
        "repeat_penalty": REPEAT_PENALTY,
        "seed": SEED,
        "max_tokens": max_tokens,
    }


# -- servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One server process (with its children), started and stopped by this script."""

    side: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    model_id: str = ""
    ready_ms: float = float("nan")
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    _spawned: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self._spawned = time.perf_counter()
        self.process = subprocess.Popen(
            [*self.argv, "--port", str(self.port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a stuck one can be ended
        )

    def wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{LABELS[self.side]} exited with status {code}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = httpx.get(f"{self.base}/v1/models", timeout=2.0, trust_env=False)
                data = response.json().get("data") if response.status_code == 200 else None
                if data:
                    self.model_id = str(data[0]["id"])
                    self.ready_ms = (time.perf_counter() - self._spawned) * 1000.0
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{LABELS[self.side]} was not ready in time:\n{self.log_tail()}")
            time.sleep(0.2)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server process and its children."""
        if self.process is None:
            return float("nan")
        total = 0.0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return float("nan")
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None


def _run_hearth(args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"hearth {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def configure_hearth(settings: Settings, env: dict[str, str]) -> dict[str, object]:
    """Set Hearth's settings in its HEARTH_HOME; returns them as ``config list`` shows."""

    def listed() -> dict[str, object]:
        rows = json.loads(_run_hearth(["config", "list", "--json"], env))
        return {row["key"]: row["value"] for row in rows}

    wanted = settings.hearth_settings()
    current = listed()
    for key, value in wanted.items():
        if current.get(key) != value:
            text = value if isinstance(value, str) else json.dumps(value)
            _run_hearth(["config", "set", key, text], env)
    current = listed()
    wrong = {key: current.get(key) for key, value in wanted.items() if current.get(key) != value}
    if wrong:
        raise RuntimeError(f"hearth config did not take: {wrong}")
    return {key: current[key] for key in wanted}


def make_servers(settings: Settings, tmp: Path) -> dict[str, Server]:
    python = sys.executable
    hearth_env = dict(os.environ)
    hearth_env["HEARTH_HOME"] = str(tmp / "hearth-home")
    hearth_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    hearth = Server(
        "hearth",
        [python, "-m", "app", "serve", "--model", str(settings.model), "--host", "127.0.0.1"],
        hearth_env,
        tmp / "hearth-serve.log",
    )
    llama = Server(
        "llama",
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(settings.model),
            "--model_alias",
            settings.model.stem,
            "--host",
            "127.0.0.1",
            *settings.llama_flags(),
        ],
        dict(os.environ),
        tmp / "llama-server.log",
    )
    serial = Server(
        SERIAL,
        [*llama.argv, "--interrupt_requests", "False"],
        dict(os.environ),
        tmp / "llama-server-serial.log",
    )
    return {"hearth": hearth, "llama": llama, SERIAL: serial}


# -- one streamed request --------------------------------------------------------------


@dataclass
class Answer:
    """One streamed answer, timed on the client (perf_counter seconds)."""

    side: str
    prompt: int
    max_tokens: int
    submitted: float
    status: int = 0
    first_at: float = float("nan")
    last_at: float = float("nan")
    finished: float = float("nan")
    text: str = ""
    content_chunks: int = 0
    finish_reason: str | None = None
    usage_tokens: int | None = None
    prompt_tokens: int | None = None
    error: str = ""
    cpu_ms: float = float("nan")
    """CPU time of the server's processes from sending the request to its end."""

    @property
    def tokens(self) -> int:
        if self.usage_tokens is not None:
            return self.usage_tokens
        if self.finish_reason == "length":
            return self.max_tokens
        return self.content_chunks

    @property
    def tokens_known(self) -> bool:
        return self.usage_tokens is not None or self.finish_reason == "length"

    @property
    def ttft_ms(self) -> float:
        return (self.first_at - self.submitted) * 1000.0

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.submitted) * 1000.0

    @property
    def decode_tps(self) -> float:
        if self.content_chunks < 2 or self.tokens < 2 or self.last_at <= self.first_at:
            return float("nan")
        return (self.tokens - 1) / (self.last_at - self.first_at)

    @property
    def completed(self) -> bool:
        return not self.error and self.finish_reason is not None

    @property
    def cut_short(self) -> bool:
        return not self.error and self.finish_reason is None


def stream_chat(
    client: httpx.Client, side: str, base: str, prompt: int, max_tokens: int, *, text: str = ""
) -> Answer:
    body = request_body(text or story_prompt(prompt), max_tokens)
    answer = Answer(side=side, prompt=prompt, max_tokens=max_tokens, submitted=0.0)
    parts: list[str] = []
    answer.submitted = time.perf_counter()
    try:
        with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
            answer.status = response.status_code
            if response.status_code != 200:
                response.read()
                answer.error = f"HTTP {response.status_code}: {response.text[:200]}"
            else:
                _read_events(response, answer, parts)
    except (httpx.HTTPError, ValueError) as exc:
        answer.error = answer.error or f"{type(exc).__name__}: {exc}"
    answer.finished = time.perf_counter()
    answer.text = "".join(parts)
    return answer


def _read_events(response: httpx.Response, answer: Answer, parts: list[str]) -> None:
    for line in response.iter_lines():
        now = time.perf_counter()
        if not line.startswith("data:"):
            continue  # blank separators and ": ping" comments
        data = line[5:].strip()
        if data == "[DONE]":
            return
        payload: dict[str, Any] = json.loads(data)
        if "error" in payload:
            error = payload["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            answer.error = f"error event: {message}"
            continue
        usage = payload.get("usage")
        if usage:
            answer.usage_tokens = int(usage["completion_tokens"])
            answer.prompt_tokens = int(usage["prompt_tokens"])
        for choice in payload.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                if math.isnan(answer.first_at):
                    answer.first_at = now
                answer.last_at = now
                answer.content_chunks += 1
                parts.append(content)
            if choice.get("finish_reason"):
                answer.finish_reason = str(choice["finish_reason"])


def new_client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=10.0),
        trust_env=False,  # no proxies for 127.0.0.1
    )


# -- measurements ----------------------------------------------------------------------


@dataclass
class ClientRun:
    """One of the concurrent clients: its answers, in order, and its wall time."""

    index: int
    answers: list[Answer] = field(default_factory=list)
    started: float = float("nan")
    ended: float = float("nan")
    crashed: str = ""

    @property
    def total_s(self) -> float:
        return self.ended - self.started

    @property
    def completed(self) -> int:
        return sum(1 for a in self.answers if a.completed)


@dataclass
class Results:
    settings: Settings
    started: dt.datetime
    ab: dict[str, list[Answer]] = field(default_factory=lambda: {side: [] for side in SIDES})
    concurrent: dict[str, list[ClientRun]] = field(default_factory=dict)
    concurrent_wall_s: dict[str, float] = field(default_factory=dict)
    ready_ms: dict[str, float] = field(default_factory=dict)
    hearth_config: dict[str, object] = field(default_factory=dict)
    warmup_errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    load_average: str = ""
    load_average_end: str = ""


def _orders(reps: int) -> list[tuple[str, ...]]:
    """hearth first in even repetitions, llama_cpp.server first in odd ones."""
    return [SIDES if rep % 2 == 0 else tuple(reversed(SIDES)) for rep in range(reps)]


def measure_ab(servers: dict[str, Server], settings: Settings, results: Results, say: Say) -> None:
    clients = {side: new_client() for side in SIDES}
    try:
        for side in SIDES:  # warm-up, not counted
            warm = stream_chat(clients[side], side, servers[side].base, -1, 8, text=WARMUP_PROMPT)
            if warm.error:
                results.warmup_errors.append(f"{LABELS[side]}: {warm.error}")
        for rep, order in enumerate(_orders(settings.reps)):
            for side in order:
                server = servers[side]
                cpu_before = server.cpu_s()
                answer = stream_chat(clients[side], side, server.base, rep, settings.max_tokens)
                answer.cpu_ms = (server.cpu_s() - cpu_before) * 1000.0
                results.ab[side].append(answer)
            say(f"A/B {rep + 1}/{settings.reps}")
    finally:
        for client in clients.values():
            client.close()


def measure_concurrency(
    server: Server, settings: Settings, first_prompt: int
) -> tuple[list[ClientRun], float]:
    """Concurrent clients, started together; returns their runs and the wall time."""
    count, per_client = settings.clients, settings.requests_per_client
    barrier = threading.Barrier(count)
    runs = [ClientRun(index) for index in range(count)]

    def work(run: ClientRun) -> None:
        try:
            with new_client() as client:
                barrier.wait(timeout=60)
                run.started = time.perf_counter()
                for n in range(per_client):
                    prompt = first_prompt + run.index * per_client + n
                    run.answers.append(
                        stream_chat(
                            client,
                            server.side,
                            server.base,
                            prompt,
                            settings.concurrent_tokens,
                        )
                    )
        except Exception as exc:  # reported as a failed client, never silently lost
            run.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            run.ended = time.perf_counter()

    threads = [
        threading.Thread(target=work, args=(run,), name=f"client-{run.index}", daemon=True)
        for run in runs
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + REQUEST_TIMEOUT_S * per_client
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for thread, run in zip(threads, runs, strict=True):
        if thread.is_alive():
            run.crashed = run.crashed or "still running at the deadline"
    return runs, time.perf_counter() - began


# -- report ----------------------------------------------------------------------------


def _with_range(values: Sequence[float], fmt: str) -> str:
    return f"{format(median(values), fmt)} ({spread(values, fmt)})"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _finishes(answers: Sequence[Answer]) -> str:
    counts = Counter(
        "error" if a.error else (a.finish_reason or "none (cut short)") for a in answers
    )
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) or "-"


@dataclass(frozen=True)
class Concurrency:
    """What the concurrency runs of one server add up to."""

    answers: list[Answer]
    runs: list[ClientRun]
    wall_s: float
    per_client: int

    @property
    def errors(self) -> int:
        return sum(1 for a in self.answers if a.error) + sum(1 for r in self.runs if r.crashed)

    @property
    def cut_short(self) -> int:
        return sum(1 for a in self.answers if a.cut_short)

    @property
    def all_done(self) -> bool:
        return all(r.completed == self.per_client and not r.crashed for r in self.runs)

    @property
    def spread(self) -> float:
        """Slowest client's total time / fastest client's."""
        totals = [r.total_s for r in self.runs]
        return max(totals) / min(totals) if totals and min(totals) > 0 else float("nan")

    @property
    def completed_counts(self) -> str:
        return " / ".join(str(r.completed) for r in self.runs)

    @property
    def tokens_per_s(self) -> float:
        tokens = sum(a.tokens for a in self.answers if not a.error)
        return tokens / self.wall_s if self.wall_s > 0 else float("nan")


def _concurrency(results: Results, side: str) -> Concurrency:
    runs = results.concurrent.get(side, [])
    return Concurrency(
        answers=[a for r in runs for a in r.answers],
        runs=runs,
        wall_s=results.concurrent_wall_s.get(side, float("nan")),
        per_client=results.settings.requests_per_client,
    )


def render_report(results: Results) -> str:
    s = results.settings
    ah, al = results.ab["hearth"], results.ab["llama"]
    ok_h = [a for a in ah if not a.error]
    ok_l = [a for a in al if not a.error]

    ttft_h = median([a.ttft_ms for a in ok_h])
    ttft_l = median([a.ttft_ms for a in ok_l])
    tps_h = median([a.decode_tps for a in ok_h])
    tps_l = median([a.decode_tps for a in ok_l])
    # The verdicts use the median of per-prompt ratios: the two requests of a pair run
    # back to back, so a change in the machine's load between pairs cancels out.
    pairs = list(zip(ah, al, strict=True))
    pair_ttft = [h.ttft_ms / ll.ttft_ms for h, ll in pairs]
    pair_tps = [h.decode_tps / ll.decode_tps for h, ll in pairs]
    ttft_ratio = median(pair_ttft)
    tps_ratio = median(pair_tps)
    ab_errors = sum(1 for a in [*ah, *al] if a.error)
    same_text = sum(1 for h, ll in pairs if h.text == ll.text and not h.error)

    ch, cl = _concurrency(results, "hearth"), _concurrency(results, "llama")
    cs = _concurrency(results, SERIAL)
    clean_h = ch.errors == 0 and ch.cut_short == 0
    fair_h = ch.all_done and ch.spread <= STARVATION_LIMIT

    def fmt(value: float, spec: str) -> str:
        return "n/a" if math.isnan(value) else format(value, spec)

    rows = [
        "| Metric | hearth serve | llama_cpp.server | hearth/llama | Target | Result |",
        "|---|---:|---:|---:|---|---|",
        f"| 1. Time to first token, ms (streamed, {s.reps} prompts) | {ttft_h:.0f} | "
        f"{ttft_l:.0f} | {ttft_ratio:.3f} | ratio <= {TTFT_TARGET} | "
        f"{verdict(ttft_ratio <= TTFT_TARGET and ab_errors == 0)} |",
        f"| 2. Decode speed, tokens/s ({s.max_tokens}-token answers) | {tps_h:.1f} | "
        f"{tps_l:.1f} | {tps_ratio:.3f} | ratio >= {TPS_TARGET} | "
        f"{verdict(tps_ratio >= TPS_TARGET and ab_errors == 0)} |",
        f"| 3. {s.clients} concurrent clients: errors / streams cut short "
        f"({s.clients} x {s.requests_per_client} requests) | {ch.errors} / {ch.cut_short} | "
        f"{cl.errors} / {cl.cut_short} (without interrupts: {cs.errors} / {cs.cut_short}) | "
        f"- | hearth 0 / 0 | {verdict(clean_h)} |",
        f"| 4. {s.clients} concurrent clients: requests completed per client; slowest / "
        f"fastest client's total time | {ch.completed_counts}; {fmt(ch.spread, '.2f')} | "
        f"{cl.completed_counts}; {fmt(cl.spread, '.2f')} (without interrupts: "
        f"{cs.completed_counts}; {fmt(cs.spread, '.2f')}) | - | hearth all "
        f"{s.requests_per_client}; <= {STARVATION_LIMIT:.1f} | {verdict(fair_h)} |",
    ]

    details = [
        "| Detail | hearth serve | llama_cpp.server |",
        "|---|---:|---:|",
        f"| TTFT, ms, median (range) | {_with_range([a.ttft_ms for a in ok_h], '.0f')} | "
        f"{_with_range([a.ttft_ms for a in ok_l], '.0f')} |",
        f"| TTFT ratio per prompt (same prompt, same cache state), median (range) | "
        f"{_with_range(pair_ttft, '.3f')} | |",
        f"| TTFT, ratio of the medians | {ttft_h / ttft_l:.3f} | |",
        f"| Decode tokens/s, median (range) | {_with_range([a.decode_tps for a in ok_h], '.1f')}"
        f" | {_with_range([a.decode_tps for a in ok_l], '.1f')} |",
        f"| Decode ratio per prompt, median (range) | {_with_range(pair_tps, '.3f')} | |",
        f"| Decode tokens/s, ratio of the medians | {tps_h / tps_l:.3f} | |",
        f"| Request to last token, ms, median | {median([a.latency_ms for a in ok_h]):.0f} | "
        f"{median([a.latency_ms for a in ok_l]):.0f} |",
        f"| Finish reasons | {_finishes(ah)} | {_finishes(al)} |",
        f"| Completion tokens per answer (median); counted from | "
        f"{median([float(a.tokens) for a in ok_h]):.0f}; "
        f"{'usage' if all(a.usage_tokens is not None for a in ok_h) else 'usage / max_tokens'}"
        f" | {median([float(a.tokens) for a in ok_l]):.0f}; "
        f"{'usage' if all(a.usage_tokens is not None for a in ok_l) else 'max_tokens (length)'}"
        f"{'' if all(a.tokens_known for a in ok_l) else ' / chunks'} |",
        f"| Content chunks per answer (median) | "
        f"{median([float(a.content_chunks) for a in ok_h]):.0f} | "
        f"{median([float(a.content_chunks) for a in ok_l]):.0f} |",
        f"| Prompt tokens (usage, median) | "
        f"{median([float(a.prompt_tokens) for a in ok_h if a.prompt_tokens]):.0f} | "
        f"{_prompt_tokens(ok_l)} |",
        f"| Same text on both sides | {same_text} of {len(pairs)} prompts | |",
        "| Server CPU time per token, all its processes, ms | "
        f"{median([a.cpu_ms / a.tokens for a in ok_h if a.tokens]):.2f} | "
        f"{median([a.cpu_ms / a.tokens for a in ok_l if a.tokens]):.2f} |",
        f"| Errors in the A/B requests | {sum(1 for a in ah if a.error)} | "
        f"{sum(1 for a in al if a.error)} |",
        f"| Start to ready (spawn to GET /v1/models), ms | "
        f"{results.ready_ms.get('hearth', float('nan')):.0f} | "
        f"{results.ready_ms.get('llama', float('nan')):.0f} |",
    ]
    cells: dict[str, Callable[[Concurrency], str]] = {
        "Errors / streams cut short": lambda c: f"{c.errors} / {c.cut_short}",
        "Finish reasons": lambda c: _finishes(c.answers),
        "Requests completed per client": lambda c: c.completed_counts,
        "Client total time, s, fastest / slowest (ratio)": lambda c: (
            f"{_totals(c)} ({fmt(c.spread, '.2f')})"
        ),
        "Latency per request, ms, median / max": lambda c: (
            f"{median([a.latency_ms for a in c.answers]):.0f} / "
            f"{_max([a.latency_ms for a in c.answers]):.0f}"
        ),
        "Time to first token, ms, median / max (answers with text)": lambda c: (
            f"{median([a.ttft_ms for a in c.answers]):.0f} / "
            f"{_max([a.ttft_ms for a in c.answers]):.0f}"
        ),
        "Tokens per answer, median (range)": lambda c: _with_range(
            [float(a.tokens) for a in c.answers if not a.error], ".0f"
        ),
        "Tokens/s, all clients together (wall time of the whole run)": lambda c: (
            f"{c.tokens_per_s:.1f} ({c.wall_s:.1f} s)"
        ),
    }
    sides = [(ch, "hearth serve"), (cl, "llama_cpp.server"), (cs, "... --interrupt_requests False")]
    concurrency = [
        f"| {s.clients} concurrent clients x {s.requests_per_client} requests "
        f"({s.concurrent_tokens} tokens max) | " + " | ".join(name for _, name in sides) + " |",
        "|---|---:|---:|---:|",
        *[
            f"| {title} | " + " | ".join(cell(c) for c, _ in sides) + " |"
            for title, cell in cells.items()
        ],
    ]
    problems = [
        f"{LABELS[a.side]} prompt {a.prompt}: {a.error}"
        for a in [*ah, *al, *ch.answers, *cl.answers]
        if a.error
    ]
    problems += [
        f"{LABELS[side]} client {r.index}: {r.crashed}"
        for side in CONCURRENT_SIDES
        for r in results.concurrent.get(side, [])
        if r.crashed
    ]
    problems += results.warmup_errors

    config = results.hearth_config
    header = [
        f"Run: {results.started.strftime('%Y-%m-%d %H:%M UTC')}"
        f"{' (--quick smoke run)' if s.quick else ''}, {results.elapsed_s:.0f} s in all.",
        "",
        f"- Machine: {os.cpu_count()} CPUs (nproc {_affinity()}), {cpu_model()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at start {results.load_average}, at the end {results.load_average_end}",
        f"- Hearth {HEARTH_VERSION}; llama-cpp-python {_version('llama-cpp-python')} (both "
        f"servers), FastAPI {_version('fastapi')}, uvicorn {_version('uvicorn')}, "
        f"sse-starlette {_version('sse-starlette')}, client httpx {_version('httpx')}; CPU only",
        f"- Model: {s.model.name} ({s.model.stat().st_size / 1e6:.1f} MB)",
        f"- Settings on both servers: context {s.context}, {s.threads} thread(s) (decode and "
        f"batch), batch {s.batch}, no GPU layers, f16 KV cache, no flash attention, no mlock; "
        f"hearth: {', '.join(f'{k} {json.dumps(v)}' for k, v in config.items())}",
        f"- Requests (the same JSON on both): temperature 0 (greedy), top_p {TOP_P}, top_k "
        f"{TOP_K}, min_p {MIN_P}, repeat_penalty {REPEAT_PENALTY}, seed {SEED}, stream with "
        f'include_usage; prompts "{story_prompt(0)}" with other heroes and skills',
        f"- A/B: {s.reps} prompts, max_tokens {s.max_tokens}, alternating ABAB/BABA after one "
        "warm-up request each; medians reported; hearth/llama is the median of the "
        "per-prompt ratios",
        f"- Concurrency: {s.clients} clients x {s.requests_per_client} requests each, "
        f"max_tokens {s.concurrent_tokens}, the same prompts against hearth serve, "
        "llama_cpp.server (its default --interrupt_requests True: a new request ends the "
        "stream in progress) and a fresh llama_cpp.server with --interrupt_requests False",
    ]
    lines = [*header, "", *rows, "", *details, "", *concurrency, ""]
    if problems:
        lines += ["Errors seen:", "", *[f"- {p}" for p in problems[:12]], ""]
    return "\n".join(lines)


def _max(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return max(clean) if clean else float("nan")


def _totals(c: Concurrency) -> str:
    totals = [r.total_s for r in c.runs]
    if not totals:
        return "n/a"
    return f"{min(totals):.1f} / {max(totals):.1f}"


def _prompt_tokens(answers: Sequence[Answer]) -> str:
    known = [float(a.prompt_tokens) for a in answers if a.prompt_tokens]
    return f"{median(known):.0f}" if known else "not sent when streaming"


def _affinity() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def write_docs(report: str, path: Path = DOCS_PATH) -> None:
    section = f"{RESULTS_START}\n{report.rstrip()}\n{RESULTS_END}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(RESULTS_END) :]
    else:
        text = f"{text.rstrip()}\n\n{SECTION_TITLE}\n\n### Results\n\n{section}\n"
    path.write_text(text, encoding="utf-8")


# -- main ------------------------------------------------------------------------------


def parse_settings(argv: Sequence[str] | None) -> tuple[Settings, bool, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help="GGUF file (default: the starter model)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter runs")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH}")
    parser.add_argument("--threads", type=int, help="threads on both sides (default nproc/2)")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--reps", type=int, help="prompts in the A/B runs")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--progress", action="store_true", help="progress lines on stderr")
    args = parser.parse_args(argv)

    model = args.model or starter_model_path()
    if model is None or not Path(model).is_file():
        parser.error("no model: pass --model PATH or install the starter (hearth-chat[starter])")
    cpus = _affinity() or os.cpu_count() or 2
    threads = args.threads or max(1, cpus // 2)
    quick = bool(args.quick)
    settings = Settings(
        model=Path(model).resolve(),
        context=args.context,
        threads=threads,
        batch=512,
        reps=args.reps or (4 if quick else 16),
        max_tokens=64 if quick else 128,
        clients=args.clients,
        requests_per_client=2 if quick else 5,
        concurrent_tokens=32 if quick else 64,
        quick=quick,
    )
    if settings.reps < 1 or settings.clients < 1:
        parser.error("--reps and --clients must be at least 1")
    return settings, bool(args.write_docs), bool(args.progress)


def _in_thread(wait_ready: Callable[[float], None], timeout_s: float) -> Callable[[], None]:
    """Run ``wait_ready`` on a thread; the returned call joins it and re-raises its error."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            wait_ready(time.monotonic() + timeout_s)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, name="wait-ready", daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout_s + 5.0)
        if errors:
            raise errors[0]
        if thread.is_alive():
            raise TimeoutError("a server was not ready in time")

    return join


def main(argv: Sequence[str] | None = None) -> int:
    settings, docs, progress = parse_settings(argv)
    began = time.perf_counter()

    def say(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr)

    results = Results(settings=settings, started=dt.datetime.now(dt.UTC))
    results.load_average = load_average()

    with tempfile.TemporaryDirectory(prefix="hearth-bench-api-") as tmp:
        servers = make_servers(settings, Path(tmp))
        try:
            # llama_cpp.server loads while Hearth's settings are written; each server's
            # readiness is polled on its own thread, so its start time is its own.
            servers["llama"].start()
            llama_ready = _in_thread(servers["llama"].wait_ready, READY_TIMEOUT_S)
            results.hearth_config = configure_hearth(settings, servers["hearth"].env)
            servers["hearth"].start()
            servers["hearth"].wait_ready(time.monotonic() + READY_TIMEOUT_S)
            llama_ready()
            results.ready_ms = {side: servers[side].ready_ms for side in SIDES}
            say("servers ready")
            measure_ab(servers, settings, results, say)
            for side in SIDES:  # the same prompts for both, after the A/B ones
                runs, wall = measure_concurrency(servers[side], settings, settings.reps)
                results.concurrent[side], results.concurrent_wall_s[side] = runs, wall
                say(f"concurrency {LABELS[side]} done")
            # The same again against llama_cpp.server serving requests one at a time.
            servers["llama"].stop()
            serial = servers[SERIAL]
            serial.start()
            serial.wait_ready(time.monotonic() + READY_TIMEOUT_S)
            with new_client() as client:  # warm-up, as the others had
                stream_chat(client, SERIAL, serial.base, -1, 8, text=WARMUP_PROMPT)
            runs, wall = measure_concurrency(serial, settings, settings.reps)
            results.concurrent[SERIAL], results.concurrent_wall_s[SERIAL] = runs, wall
            say(f"concurrency {LABELS[SERIAL]} done")
        finally:
            for server in servers.values():
                server.stop()

    results.elapsed_s = time.perf_counter() - began
    results.load_average_end = load_average()
    report = render_report(results)
    print(report)
    if docs:
        write_docs(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
