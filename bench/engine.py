"""Engine benchmark: Hearth's engine client against a bare llama-cpp-python loop.

Both sides load the same GGUF file with the same settings (context, threads, batch,
CPU only), render the same chat prompt with the model's own template and decode
greedily (temperature 0, repeat penalty 1.0, fixed seed), so their answers should be
the same text. Runs alternate between the two sides (ABAB, then BABA) and the report
gives medians.

Hearth side: ``EngineClient(lambda: ProcessTransport(create_llama_backend, log))``,
the engine in a child process, exactly as the app runs it. Event arrival times are
taken on the client's reader thread (an engine listener), where the app's own
consumers receive them.

Bare side: ``llama_cpp.Llama`` in this process, ``for token in llm.generate(...)``,
stopping at an end-of-generation token or after ``max_tokens``, each token
detokenized once.

    python bench/engine.py                 # full run (about 6 minutes on 2 cores)
    python bench/engine.py --quick         # smoke run (under a minute)
    python bench/engine.py --write-docs    # also rewrite the results in docs/benchmarks.md

See docs/benchmarks.md for what each metric means.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import importlib.metadata
import itertools
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/engine.py` from a checkout without install
    sys.path.insert(0, str(ROOT))

from app.core.gguf_inspect import inspect_gguf  # noqa: E402
from app.core.options import ChatMessage, ChatRequest, LoadOptions, SamplingOptions  # noqa: E402
from app.core.prompting import render_chat_prompt  # noqa: E402
from app.core.starter import starter_model_path  # noqa: E402
from app.engine.backends import create_llama_backend  # noqa: E402
from app.engine.client import EngineClient  # noqa: E402
from app.engine.process_transport import ProcessTransport  # noqa: E402
from app.engine.protocol import (  # noqa: E402
    Event,
    JobFinished,
    ModelLoaded,
    PromptEvaluated,
    TextChunk,
)
from bench.report import cpu_model, load_average, median, spread, verdict  # noqa: E402

DOCS_PATH = ROOT / "docs" / "benchmarks.md"
RESULTS_START = "<!-- bench:engine:results:start -->"
RESULTS_END = "<!-- bench:engine:results:end -->"

Say = Callable[[str], None]

SEED = 1234
JOB_TIMEOUT_S = 300.0

DECODE_PROMPT = (
    "Write a very long story about a dragon who learns to bake bread. "
    "Make it at least 3000 words long."
)
FIRST_ANSWER_PROMPT = DECODE_PROMPT
TURN1_QUESTION = "Summarize these notes in two sentences."
TURN2_QUESTION = "Thanks. Now give that summary a short title."

_SUBJECTS = (
    "the harvest crew",
    "the river barge",
    "the bakery",
    "the school board",
    "the old mill",
    "the lighthouse keeper",
    "the market stalls",
    "the night train",
    "the village choir",
    "the weather station",
    "the apple orchard",
    "the town library",
)
_VERBS = (
    "reported",
    "postponed",
    "finished",
    "questioned",
    "repaired",
    "celebrated",
    "measured",
    "counted",
    "painted",
    "inspected",
    "rebuilt",
    "discussed",
)
_OBJECTS = (
    "the north fence",
    "twelve crates of flour",
    "a broken lantern",
    "the spring schedule",
    "three new benches",
    "the flooded cellar",
    "a list of volunteers",
    "the copper roof",
    "the winter accounts",
    "a visiting musician",
    "the east bridge",
    "forty jars of honey",
)


@dataclass(frozen=True)
class Settings:
    model: Path
    context: int
    threads: int
    batch: int
    reps: int
    long_reps: int
    follow_reps: int
    start_reps: int
    decode_tokens: int
    first_answer_tokens: int
    long_tokens: int
    history_tokens: int
    turn1_tokens: int
    turn2_tokens: int
    quick: bool

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            path=str(self.model),
            context_length=self.context,
            gpu_layers=0,
            threads=self.threads,
            batch_size=self.batch,
            flash_attention=False,
            use_mmap=True,
        )

    def sampling(self, max_tokens: int) -> SamplingOptions:
        # Greedy: temperature 0, and a repeat penalty of 1.0 (none), on both sides.
        return SamplingOptions(
            temperature=0.0,
            top_p=0.95,
            top_k=40,
            min_p=0.05,
            repeat_penalty=1.0,
            seed=SEED,
            max_tokens=max_tokens,
        )


@dataclass
class Run:
    """One answer, timed on the side that asked for it (perf_counter seconds)."""

    side: str
    text: str
    tokens: int
    stamps: list[float]
    """Arrival time of each piece of text (Hearth may send a few tokens together)."""
    counts: list[int]
    """Tokens that arrived at each stamp."""
    submitted: float
    finished: float
    engine_ms: float
    """Time inside llama-cpp-python's generator (prompt eval, decode, sampling)."""
    prompt_tokens: int
    cached_tokens: int
    finish_reason: str
    cpu_ms: float = float("nan")
    """CPU time of every process involved (engine child and this one), submit to end."""

    @property
    def wall_ms(self) -> float:
        return (self.finished - self.submitted) * 1000.0

    @property
    def ttft_ms(self) -> float:
        return (self.stamps[0] - self.submitted) * 1000.0 if self.stamps else float("nan")

    @property
    def decode_tps(self) -> float:
        if len(self.stamps) < 2:
            return float("nan")
        after_first = sum(self.counts) - self.counts[0]
        return after_first / (self.stamps[-1] - self.stamps[0])

    def token_gaps(self) -> list[float]:
        """Seconds per token between arrivals (a gap shared by the tokens that came together)."""
        return [
            (b - a) / count
            for (a, b), count in zip(itertools.pairwise(self.stamps), self.counts[1:], strict=True)
        ]

    @property
    def overhead_us_per_token(self) -> float:
        if self.tokens == 0:
            return float("nan")
        return (self.wall_ms - self.engine_ms) * 1000.0 / self.tokens

    def window_tps(self, *, last: bool, robust: bool = True) -> float:
        """Tokens/s over the first (or last) 10% of the tokens.

        ``robust``: from the median gap between tokens, so that a moment of interference
        from other programs does not decide the result; otherwise tokens over elapsed time.
        """
        n = len(self.stamps)
        if n < 20:
            return float("nan")
        # The span of arrivals that holds the first (or last) 10% of the tokens.
        share = max(1, sum(self.counts) // 10)
        seen = 0
        if last:
            first = end = n - 1
            while first > 0 and seen < share:
                seen += self.counts[first]
                first -= 1
        else:
            first = end = 0
            while end < n - 1 and seen < share:
                end += 1
                seen += self.counts[end]
        if robust:
            gaps = self.token_gaps()[first:end]
            return 1.0 / statistics.median(gaps) if gaps else float("nan")
        tokens = sum(self.counts[first + 1 : end + 1])
        return tokens / (self.stamps[end] - self.stamps[first])

    def flatness(self, *, robust: bool = True) -> float:
        """Tokens/s over the last 10% of tokens divided by tokens/s over the first 10%."""
        return self.window_tps(last=True, robust=robust) / self.window_tps(
            last=False, robust=robust
        )


# -- Hearth side ---------------------------------------------------------------------------


class HearthSide:
    """An engine client with a child-process host; events are timed on arrival."""

    def __init__(self, log_path: Path) -> None:
        self.client = EngineClient(lambda: ProcessTransport(create_llama_backend, log_path))
        self._lock = threading.Condition()
        self._events: dict[int, list[tuple[float, Event]]] = {}
        self._finished: set[int] = set()
        self.client.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        now = time.perf_counter()
        job_id = getattr(event, "job_id", None)
        if job_id is None:
            return
        with self._lock:
            self._events.setdefault(job_id, []).append((now, event))
            if isinstance(event, JobFinished):
                self._finished.add(job_id)
                self._lock.notify_all()

    def _collect(self, job_id: int) -> list[tuple[float, Event]]:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        with self._lock:
            while job_id not in self._finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"engine job {job_id} did not finish")
                self._lock.wait(left)
            self._finished.discard(job_id)
            return self._events.pop(job_id)

    def start(self) -> float:
        """Spawn the host and wait until it is ready; spawn-to-ready in ms."""
        self.client.build_info(timeout=JOB_TIMEOUT_S)
        assert self.client.last_start_ms is not None
        return self.client.last_start_ms

    def load(self, options: LoadOptions) -> tuple[float, float]:
        """Load; returns (submit to ModelLoaded in ms, llama.cpp's own load_ms)."""
        submitted = time.perf_counter()
        job = self.client.load(options)
        events = self._collect(job.id)
        finished = _last_finished(events)
        if not finished.ok:
            raise RuntimeError(f"load failed: {finished.error}")
        for at, event in events:
            if isinstance(event, ModelLoaded):
                return (at - submitted) * 1000.0, event.model.load_ms
        raise RuntimeError("no ModelLoaded event")

    def chat(self, messages: Sequence[ChatMessage], sampling: SamplingOptions) -> Run:
        cpu_before = self._cpu_s()
        submitted = time.perf_counter()
        job = self.client.chat(ChatRequest(tuple(messages), sampling))
        events = self._collect(job.id)
        cpu_ms = (self._cpu_s() - cpu_before) * 1000.0
        finished_at, finished = events[-1][0], _last_finished(events)
        if not finished.ok or finished.stats is None:
            raise RuntimeError(f"chat failed: {finished.error}")
        chunks = [(at, e.tokens) for at, e in events if isinstance(e, TextChunk) and e.tokens > 0]
        stamps = [at for at, _ in chunks]
        counts = [tokens for _, tokens in chunks]
        cached = next(
            (e.cached_tokens for _, e in events if isinstance(e, PromptEvaluated)),
            finished.stats.cached_tokens,
        )
        return Run(
            side="hearth",
            text=finished.text,
            tokens=finished.stats.completion_tokens,
            stamps=stamps,
            counts=counts,
            submitted=submitted,
            finished=finished_at,
            engine_ms=finished.stats.engine_ms,
            prompt_tokens=finished.stats.prompt_tokens,
            cached_tokens=cached,
            finish_reason=finished.finish_reason,
            cpu_ms=cpu_ms,
        )

    def _cpu_s(self) -> float:
        """CPU seconds used so far by this process and the engine process."""
        pid = self.client.engine_pid
        child = 0.0
        if pid is not None:
            times = psutil.Process(pid).cpu_times()
            child = times.user + times.system
        return time.process_time() + child

    def shutdown(self) -> None:
        self.client.shutdown(timeout=10.0)


def _last_finished(events: list[tuple[float, Event]]) -> JobFinished:
    event = events[-1][1]
    assert isinstance(event, JobFinished)
    return event


# -- bare llama-cpp-python side --------------------------------------------------------


class BareSide:
    """``llama_cpp.Llama`` in this process, driven by a plain generate() loop."""

    def __init__(self, settings: Settings) -> None:
        import llama_cpp

        self._llama_cpp: Any = llama_cpp
        options = settings.load_options()
        started = time.perf_counter()
        self.llm: Any = llama_cpp.Llama(
            model_path=options.path,
            n_ctx=options.context_length,
            n_batch=min(options.batch_size, options.context_length),
            n_ubatch=min(options.batch_size, options.context_length),
            n_gpu_layers=0,
            n_threads=options.threads,
            n_threads_batch=options.threads,
            flash_attn=False,
            use_mmap=True,
            verbose=False,
        )
        self.load_ms = (time.perf_counter() - started) * 1000.0
        model = self.llm._model
        bos_id, eos_id = model.token_bos(), model.token_eos()
        self._bos = model.token_get_text(bos_id) if bos_id >= 0 else ""
        self._eos = model.token_get_text(eos_id) if eos_id >= 0 else ""
        self._add_bos = bool(model.add_bos_token())
        self._template = inspect_gguf(options.path).chat_template
        self._vocab = model.vocab

    def tokenize_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        rendered = render_chat_prompt(
            self._template, messages, bos_token=self._bos, eos_token=self._eos
        )
        text = rendered.text
        add_bos = self._add_bos and not (self._bos and text.startswith(self._bos))
        tokens: list[int] = self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens

    def _cached_prefix(self, tokens: Sequence[int]) -> int:
        evaluated = list(self.llm.input_ids[: self.llm.n_tokens])
        prefix = 0
        for a, b in zip(evaluated, tokens, strict=False):
            if a != b:
                break
            prefix += 1
        return max(0, prefix - 1) if prefix == len(tokens) else prefix

    def chat(self, messages: Sequence[ChatMessage], sampling: SamplingOptions) -> Run:
        llama_cpp, llm, vocab = self._llama_cpp, self.llm, self._vocab
        cpu_before = time.process_time()
        submitted = time.perf_counter()
        tokens = self.tokenize_chat(messages)
        cached = self._cached_prefix(tokens)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        stamps: list[float] = []
        counts: list[int] = []
        inside = 0.0
        finish = "length"
        llm.set_seed(SEED)
        stream = llm.generate(
            tokens,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )
        count = 0
        while True:
            before = time.perf_counter()
            token = next(stream, None)
            inside += time.perf_counter() - before
            if token is None or llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            count += 1
            text = decoder.decode(llm.detokenize([token]))
            if text:
                parts.append(text)
                stamps.append(time.perf_counter())
                counts.append(1)
            if count >= sampling.max_tokens:
                break
        stream.close()
        parts.append(decoder.decode(b"", final=True))
        return Run(
            side="bare",
            text="".join(parts),
            tokens=count,
            stamps=stamps,
            counts=counts,
            submitted=submitted,
            finished=time.perf_counter(),
            engine_ms=inside * 1000.0,
            prompt_tokens=len(tokens),
            cached_tokens=cached,
            finish_reason=finish,
            cpu_ms=(time.process_time() - cpu_before) * 1000.0,
        )

    def close(self) -> None:
        self.llm.close()


# -- measurements ----------------------------------------------------------------------


@dataclass
class StartSample:
    spawn_ms: float
    load_ms: float
    answer_ms: float

    @property
    def share(self) -> float:
        ready = self.spawn_ms + self.load_ms
        return ready / (ready + self.answer_ms)


@dataclass
class FollowUp:
    turn1: Run
    turn2: Run

    @property
    def ttft_ratio(self) -> float:
        return self.turn2.ttft_ms / self.turn1.ttft_ms


@dataclass
class Results:
    settings: Settings
    started: dt.datetime
    start_hearth: list[StartSample] = field(default_factory=list)
    start_bare: list[StartSample] = field(default_factory=list)
    decode: dict[str, list[Run]] = field(default_factory=lambda: {"hearth": [], "bare": []})
    long: dict[str, list[Run]] = field(default_factory=lambda: {"hearth": [], "bare": []})
    follow: dict[str, list[FollowUp]] = field(default_factory=lambda: {"hearth": [], "bare": []})
    elapsed_s: float = 0.0
    load_average: str = ""
    load_average_end: str = ""


def _orders(reps: int) -> list[tuple[str, str]]:
    """ABAB for even repetitions, BABA for odd ones."""
    return [("hearth", "bare") if rep % 2 == 0 else ("bare", "hearth") for rep in range(reps)]


def _history_message(bare: BareSide, rep: int, target_tokens: int) -> str:
    """A user message of notes whose rendered prompt is about ``target_tokens`` long."""
    lines = [f"Here are the notes of meeting series {rep + 1} for the village council:"]
    index = 0
    while True:
        subject = _SUBJECTS[(index + rep) % len(_SUBJECTS)]
        verb = _VERBS[(index * 5 + rep) % len(_VERBS)]
        obj = _OBJECTS[(index * 7 + rep) % len(_OBJECTS)]
        lines.append(f"Note {index + 1}: {subject} {verb} {obj} on day {index * 3 + rep + 2}.")
        index += 1
        if index % 2 == 0:
            message = "\n".join([*lines, "", TURN1_QUESTION])
            if len(bare.tokenize_chat([ChatMessage("user", message)])) >= target_tokens:
                return message


def measure_start(settings: Settings, log_dir: Path, results: Results, say: Say) -> None:
    """Fresh engine per repetition: spawn to ready, load, first answer (and bare load)."""
    messages = [ChatMessage("user", FIRST_ANSWER_PROMPT)]
    sampling = settings.sampling(settings.first_answer_tokens)
    for rep, order in enumerate(_orders(settings.start_reps)):
        for side in order:
            if side == "hearth":
                hearth = HearthSide(log_dir / f"engine-start-{rep}.log")
                try:
                    spawn_ms = hearth.start()
                    load_ms, _ = hearth.load(settings.load_options())
                    answer = hearth.chat(messages, sampling)
                finally:
                    hearth.shutdown()
                results.start_hearth.append(StartSample(spawn_ms, load_ms, answer.wall_ms))
            else:
                bare = BareSide(settings)
                try:
                    answer = bare.chat(messages, sampling)
                finally:
                    bare.close()
                results.start_bare.append(StartSample(0.0, bare.load_ms, answer.wall_ms))
        say(f"start {rep + 1}/{settings.start_reps}")


def measure_runs(
    hearth: HearthSide,
    bare: BareSide,
    settings: Settings,
    results: Results,
    say: Say,
) -> None:
    sides: dict[str, Callable[[Sequence[ChatMessage], SamplingOptions], Run]] = {
        "hearth": hearth.chat,
        "bare": bare.chat,
    }
    story = [ChatMessage("user", DECODE_PROMPT)]

    # Warm-up, not counted: first-use costs on both sides.
    for side in ("hearth", "bare"):
        sides[side](story, settings.sampling(16))

    for rep, order in enumerate(_orders(settings.reps)):
        for side in order:
            run = sides[side](story, settings.sampling(settings.decode_tokens))
            results.decode[side].append(run)
        say(f"decode {rep + 1}/{settings.reps}")

    for rep, order in enumerate(_orders(settings.long_reps)):
        for side in order:
            run = sides[side](story, settings.sampling(settings.long_tokens))
            results.long[side].append(run)
        say(f"long output {rep + 1}/{settings.long_reps}")

    for rep, order in enumerate(_orders(settings.follow_reps)):
        history = _history_message(bare, rep, settings.history_tokens)
        for side in order:
            turn1_messages = [ChatMessage("user", history)]
            turn1 = sides[side](turn1_messages, settings.sampling(settings.turn1_tokens))
            turn2_messages = [
                *turn1_messages,
                ChatMessage("assistant", turn1.text),
                ChatMessage("user", TURN2_QUESTION),
            ]
            turn2 = sides[side](turn2_messages, settings.sampling(settings.turn2_tokens))
            results.follow[side].append(FollowUp(turn1, turn2))
        say(f"follow-up {rep + 1}/{settings.follow_reps}")


# -- report ----------------------------------------------------------------------------


def render_report(results: Results) -> str:
    s = results.settings
    dh, db = results.decode["hearth"], results.decode["bare"]
    lh, lb = results.long["hearth"], results.long["bare"]
    fh, fb = results.follow["hearth"], results.follow["bare"]

    tps_h = median([r.decode_tps for r in dh])
    tps_b = median([r.decode_tps for r in db])
    tps_ratio = tps_h / tps_b
    over_h = median([r.overhead_us_per_token for r in dh])
    over_b = median([r.overhead_us_per_token for r in db])
    over_long_h = median([r.overhead_us_per_token for r in lh])
    flat_h = median([r.flatness() for r in lh])
    flat_b = median([r.flatness() for r in lb])
    flat_ratio = flat_h / flat_b
    follow_h = median([f.ttft_ratio for f in fh])
    follow_b = median([f.ttft_ratio for f in fb])
    cached2_h = median([float(f.turn2.cached_tokens) for f in fh])
    prompt2_h = median([float(f.turn2.prompt_tokens) for f in fh])
    spawn = median([x.spawn_ms for x in results.start_hearth])
    load_h = median([x.load_ms for x in results.start_hearth])
    load_b = median([x.load_ms for x in results.start_bare])
    answer_h = median([x.answer_ms for x in results.start_hearth])
    answer_b = median([x.answer_ms for x in results.start_bare])
    share_h = median([x.share for x in results.start_hearth])
    share_b = median([x.share for x in results.start_bare])

    same_decode = all(a.text == b.text for a, b in zip(dh, db, strict=True))
    same_long = all(a.text == b.text for a, b in zip(lh, lb, strict=True))
    mismatched_chunks = sum(1 for r in [*dh, *lh] if sum(r.counts) != r.tokens)

    rows = [
        "| Metric | Hearth | bare llama-cpp-python | Hearth/bare | Target | Result |",
        "|---|---:|---:|---:|---|---|",
        f"| 1. Decode speed, tokens/s ({s.decode_tokens}-token answers) | {tps_h:.1f} | "
        f"{tps_b:.1f} | {tps_ratio:.3f} | ratio >= 0.97 | {verdict(tps_ratio >= 0.97)} |",
        f"| 2. Host overhead per token, us ({s.decode_tokens}-token answers) | {over_h:.1f} | "
        f"{over_b:.1f} (own loop) | - | Hearth <= 50 us | {verdict(over_h <= 50.0)} |",
        f"| 3. Long-output flatness, tok/s last 10% / first 10% ({s.long_tokens} tokens) | "
        f"{flat_h:.3f} | {flat_b:.3f} | {flat_ratio:.3f} | ratio >= 0.95 | "
        f"{verdict(flat_ratio >= 0.95)} |",
        f"| 4. Follow-up TTFT, turn 2 / turn 1 (~{s.history_tokens}-token history) | "
        f"{follow_h:.3f} | {follow_b:.3f} | - | Hearth <= 0.2 | {verdict(follow_h <= 0.2)} |",
        f"| 4b. Turn-2 prompt tokens reused from the KV cache | {cached2_h:.0f} of "
        f"{prompt2_h:.0f} | {median([float(f.turn2.cached_tokens) for f in fb]):.0f} of "
        f"{median([float(f.turn2.prompt_tokens) for f in fb]):.0f} | - | "
        "only new tokens evaluated | "
        f"{verdict(prompt2_h - cached2_h <= 64)} |",
        f"| 5. Engine start: spawn + load, ms | {spawn + load_h:.0f} ({spawn:.0f} + "
        f"{load_h:.0f}) | {load_b:.0f} (load only) | - | - | info |",
        f"| 5b. Start share of the first answer (start / (start + answer)) | {share_h:.1%} | "
        f"{share_b:.1%} (load only) | - | - | info |",
    ]

    def ms(values: Sequence[float]) -> str:
        return f"{median(values):.0f} ({spread(values, '.0f')})"

    details = [
        "| Detail | Hearth | bare |",
        "|---|---:|---:|",
        f"| Decode tokens/s, median (range) | {tps_h:.1f} "
        f"({spread([r.decode_tps for r in dh], '.1f')}) | {tps_b:.1f} "
        f"({spread([r.decode_tps for r in db], '.1f')}) |",
        "| Decode tokens/s from the median gap between tokens | "
        f"{median([_gap_tps(r) for r in dh]):.1f} | {median([_gap_tps(r) for r in db]):.1f} |",
        f"| Tokens per decode run (median) | {median([float(r.tokens) for r in dh]):.0f} | "
        f"{median([float(r.tokens) for r in db]):.0f} |",
        f"| Overhead per token, us, median (range) | {over_h:.1f} "
        f"({spread([r.overhead_us_per_token for r in dh], '.1f')}) | {over_b:.1f} "
        f"({spread([r.overhead_us_per_token for r in db], '.1f')}) |",
        f"| Overhead per token on long answers, us | {over_long_h:.1f} | "
        f"{median([r.overhead_us_per_token for r in lb]):.1f} |",
        "| CPU time per token, all processes, ms (decode runs) | "
        f"{median([r.cpu_ms / r.tokens for r in dh if r.tokens]):.2f} | "
        f"{median([r.cpu_ms / r.tokens for r in db if r.tokens]):.2f} |",
        "| CPU time per token outside generate(), all processes, us (decode runs) | "
        f"{median([(r.cpu_ms - r.engine_ms) * 1000.0 / r.tokens for r in dh if r.tokens]):.0f}"
        " | "
        f"{median([(r.cpu_ms - r.engine_ms) * 1000.0 / r.tokens for r in db if r.tokens]):.0f}"
        " |",
        f"| Time inside generate() per token, ms (decode runs) | "
        f"{median([r.engine_ms / r.tokens for r in dh if r.tokens]):.2f} | "
        f"{median([r.engine_ms / r.tokens for r in db if r.tokens]):.2f} |",
        f"| Long answers: tokens (median) | {median([float(r.tokens) for r in lh]):.0f} | "
        f"{median([float(r.tokens) for r in lb]):.0f} |",
        "| Long answers: tok/s first 10% (from the median gap) | "
        f"{median([r.window_tps(last=False) for r in lh]):.1f} | "
        f"{median([r.window_tps(last=False) for r in lb]):.1f} |",
        "| Long answers: tok/s last 10% (from the median gap) | "
        f"{median([r.window_tps(last=True) for r in lh]):.1f} | "
        f"{median([r.window_tps(last=True) for r in lb]):.1f} |",
        "| Long-output flatness, range over runs | "
        f"{spread([r.flatness() for r in lh], '.3f')} | "
        f"{spread([r.flatness() for r in lb], '.3f')} |",
        "| Long-output flatness from elapsed time (tokens / seconds), median | "
        f"{median([r.flatness(robust=False) for r in lh]):.3f} | "
        f"{median([r.flatness(robust=False) for r in lb]):.3f} |",
        f"| Turn 1 TTFT, ms, median (range) | {ms([f.turn1.ttft_ms for f in fh])} | "
        f"{ms([f.turn1.ttft_ms for f in fb])} |",
        "| Turn 1 prompt / cached tokens | "
        f"{median([float(f.turn1.prompt_tokens) for f in fh]):.0f} / "
        f"{median([float(f.turn1.cached_tokens) for f in fh]):.0f} | "
        f"{median([float(f.turn1.prompt_tokens) for f in fb]):.0f} / "
        f"{median([float(f.turn1.cached_tokens) for f in fb]):.0f} |",
        f"| Turn 2 TTFT, ms, median (range) | {ms([f.turn2.ttft_ms for f in fh])} | "
        f"{ms([f.turn2.ttft_ms for f in fb])} |",
        f"| Engine spawn to ready, ms, median (range) | "
        f"{ms([x.spawn_ms for x in results.start_hearth])} | - |",
        f"| Model load, ms, median (range) | {ms([x.load_ms for x in results.start_hearth])} | "
        f"{ms([x.load_ms for x in results.start_bare])} |",
        f"| First answer ({s.first_answer_tokens} tokens max), submit to end, ms | "
        f"{answer_h:.0f} | {answer_b:.0f} |",
        f"| Same text on both sides (decode / long runs) | {'yes' if same_decode else 'NO'} / "
        f"{'yes' if same_long else 'NO'} | |",
        f"| Runs where streamed token counts != tokens | {mismatched_chunks} | |",
    ]

    llama_version = importlib.metadata.version("llama-cpp-python")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    header = [
        f"Run: {results.started.strftime('%Y-%m-%d %H:%M UTC')}"
        f"{' (--quick smoke run)' if s.quick else ''}, {results.elapsed_s:.0f} s in all.",
        "",
        f"- Machine: {os.cpu_count()} CPUs (nproc {affinity}), {cpu_model()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at start {results.load_average}, at the end {results.load_average_end}",
        f"- llama-cpp-python {llama_version}, CPU only",
        f"- Model: {s.model.name} ({s.model.stat().st_size / 1e6:.1f} MB)",
        f"- Settings: context {s.context}, {s.threads} thread(s) (decode and batch), batch "
        f"{s.batch}, temperature 0 (greedy), repeat penalty 1.0, seed {SEED}",
        f"- Repetitions, alternating ABAB/BABA: {s.reps} decode, {s.long_reps} long-output, "
        f"{s.follow_reps} follow-up, {s.start_reps} engine-start; medians reported",
        f'- Prompts: decode and long output "{DECODE_PROMPT}" (max {s.decode_tokens} / '
        f"{s.long_tokens} tokens); follow-up: notes of ~{s.history_tokens} rendered tokens + "
        f'"{TURN1_QUESTION}" (max {s.turn1_tokens}), then "{TURN2_QUESTION}" '
        f"(max {s.turn2_tokens})",
    ]
    return "\n".join([*header, "", *rows, "", *details, ""])


def _gap_tps(run: Run) -> float:
    gaps = run.token_gaps()
    return 1.0 / statistics.median(gaps) if gaps else float("nan")


def write_docs(report: str, path: Path = DOCS_PATH) -> None:
    section = f"{RESULTS_START}\n{report.rstrip()}\n{RESULTS_END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        start, end = text.find(RESULTS_START), text.find(RESULTS_END)
        if start != -1 and end > start:
            text = text[:start] + section + text[end + len(RESULTS_END) :]
        else:
            text = text.rstrip() + "\n\n## Results\n\n" + section + "\n"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "# Benchmarks\n\n## Results\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


# -- main ------------------------------------------------------------------------------


def parse_settings(argv: Sequence[str] | None) -> tuple[Settings, bool, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help="GGUF file (default: the starter model)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter runs")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH}")
    parser.add_argument("--threads", type=int, help="threads on both sides (default nproc/2)")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--reps", type=int, help="repetitions of each short measurement")
    parser.add_argument("--progress", action="store_true", help="progress lines on stderr")
    args = parser.parse_args(argv)

    model = args.model or starter_model_path()
    if model is None or not Path(model).is_file():
        parser.error("no model: pass --model PATH or install the starter (hearth-chat[starter])")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or max(1, (cpus or 2) // 2)
    if args.quick:
        settings = Settings(
            model=Path(model),
            context=args.context,
            threads=threads,
            batch=512,
            reps=args.reps or 2,
            long_reps=1,
            follow_reps=1,
            start_reps=1,
            decode_tokens=64,
            first_answer_tokens=32,
            long_tokens=300,
            history_tokens=600,
            turn1_tokens=32,
            turn2_tokens=16,
            quick=True,
        )
    else:
        settings = Settings(
            model=Path(model),
            context=args.context,
            threads=threads,
            batch=512,
            reps=args.reps or 5,
            long_reps=3,
            follow_reps=2,
            start_reps=3,
            decode_tokens=256,
            first_answer_tokens=128,
            long_tokens=2000,
            history_tokens=1500,
            turn1_tokens=64,
            turn2_tokens=32,
            quick=False,
        )
    if settings.context < settings.long_tokens + 200:
        parser.error("the context is too short for the long-output runs")
    return settings, bool(args.write_docs), bool(args.progress)


def main(argv: Sequence[str] | None = None) -> int:
    settings, docs, progress = parse_settings(argv)
    began = time.perf_counter()

    def say(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr)

    results = Results(settings=settings, started=dt.datetime.now(dt.UTC))
    results.load_average = load_average()

    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        log_dir = Path(tmp)
        measure_start(settings, log_dir, results, say)
        hearth = HearthSide(log_dir / "engine.log")
        bare: BareSide | None = None
        try:
            hearth.start()
            hearth.load(settings.load_options())
            bare = BareSide(settings)
            say("models loaded")
            measure_runs(hearth, bare, settings, results, say)
        finally:
            hearth.shutdown()
            if bare is not None:
                bare.close()

    results.elapsed_s = time.perf_counter() - began
    results.load_average_end = load_average()
    report = render_report(results)
    print(report)
    if docs:
        write_docs(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
