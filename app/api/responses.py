"""OpenAI-shaped error and usage bodies shared by the API's routes."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from app.core.errors import ContextOverflow, EmbeddingsUnsupported, HearthError, NoModelLoaded
from app.core.options import GenerationStats
from app.engine.protocol import JobFinished

RETRY_AFTER_S = 2


def error_response(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    """OpenAI's error shape."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def busy_response(message: str) -> JSONResponse:
    response = error_response(429, message, "rate_limit_error", "queue_full")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def model_not_found(name: str) -> JSONResponse:
    return error_response(
        404,
        f"The model '{name}' is not loaded here. GET /v1/models lists the one that is.",
        "invalid_request_error",
        "model_not_found",
    )


def engine_error(error: HearthError) -> JSONResponse:
    if isinstance(error, ContextOverflow):
        return error_response(
            400, error.user_text(), "invalid_request_error", "context_length_exceeded"
        )
    if isinstance(error, EmbeddingsUnsupported):
        return error_response(
            400, error.user_text(), "invalid_request_error", "model_not_supported"
        )
    if isinstance(error, NoModelLoaded):
        return error_response(503, error.user_text(), "server_error", "no_model")
    status = 503 if "engine" in error.message.lower() else 500
    return error_response(status, error.user_text(), "server_error")


STOPPED = (
    "The answer was stopped before it finished (the engine was restarted or is shutting down)."
)


def stopped_response() -> JSONResponse:
    """For a job that was cancelled by someone other than its client."""
    return error_response(503, STOPPED, "server_error", "stopped")


def finish_reason(finished: JobFinished) -> str:
    return "length" if finished.finish_reason == "length" else "stop"


def usage(stats: GenerationStats | None) -> dict[str, int]:
    prompt = stats.prompt_tokens if stats else 0
    completion = stats.completion_tokens if stats else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
