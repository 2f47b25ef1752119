"""Counters for ``/metrics`` in Prometheus' text format, and the request log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.core.options import GenerationStats


@dataclass(frozen=True)
class RequestRecord:
    """One answered HTTP request, for the request log in the window and the log file."""

    at: datetime
    method: str
    path: str
    status: int
    duration_ms: float
    client: str


RequestListener = Callable[[RequestRecord], None]

TIMED_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
KNOWN_PATHS = frozenset({*TIMED_PATHS, "/v1/models", "/health", "/metrics"})


@dataclass
class Metrics:
    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_sum_s: float = 0.0
    latency_count: int = 0

    def count_request(self, path: str, status: int, seconds: float) -> None:
        # Known paths only: anything else would let any client add series without end
        # (and a path could break out of the label's quotes).
        path = path if path in KNOWN_PATHS else "other"
        key = (path, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if path in TIMED_PATHS:
            self.latency_sum_s += seconds
            self.latency_count += 1

    def count_tokens(self, stats: GenerationStats | None) -> None:
        if stats is not None:
            self.prompt_tokens += stats.prompt_tokens
            self.completion_tokens += stats.completion_tokens

    def render(self, queue_depth: int) -> str:
        lines = [
            "# HELP hearth_requests_total HTTP requests by path and status.",
            "# TYPE hearth_requests_total counter",
        ]
        for (path, status), count in sorted(self.requests.items()):
            lines.append(f'hearth_requests_total{{path="{path}",status="{status}"}} {count}')
        lines += [
            "# HELP hearth_tokens_total Tokens processed, by kind.",
            "# TYPE hearth_tokens_total counter",
            f'hearth_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'hearth_tokens_total{{kind="completion"}} {self.completion_tokens}',
            "# HELP hearth_request_seconds Time to answer completions and embeddings.",
            "# TYPE hearth_request_seconds summary",
            f"hearth_request_seconds_sum {self.latency_sum_s:.6f}",
            f"hearth_request_seconds_count {self.latency_count}",
            "# HELP hearth_queue_depth Jobs running or waiting in the engine.",
            "# TYPE hearth_queue_depth gauge",
            f"hearth_queue_depth {queue_depth}",
        ]
        return "\n".join(lines) + "\n"
