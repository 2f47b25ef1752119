"""The API's front door, as plain ASGI middleware: Host allow-list, key, body cap, log.

Plain ASGI (not Starlette's ``BaseHTTPMiddleware``) so the endpoints still see the
client's disconnect (and cancel its generation), a chunked body is capped as it
arrives, and a streamed answer is timed to its end, not to its headers.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.metrics import Metrics, RequestListener, RequestRecord
from app.api.responses import error_response

log = logging.getLogger(__name__)


class ApiGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str],
        api_key: str | None,
        max_body_bytes: int,
        cors: bool,
        metrics: Metrics,
        on_request: RequestListener | None,
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        self.metrics = metrics
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope)
        status = 500
        refusal = self._refusal(request)
        if refusal is not None:
            status = refusal.status_code
            await refusal(scope, receive, send)
        else:
            inner_receive = receive
            if "content-length" not in request.headers and request.method in ("POST", "PUT"):
                # A chunked body: read it here, up to the cap, then hand it on whole.
                body = await _read_capped(receive, self.max_body_bytes)
                if body is None:
                    too_large = _too_large()
                    status = too_large.status_code
                    await too_large(scope, receive, send)
                    self._record(request, status, time.perf_counter() - started)
                    return
                inner_receive = _replay(body, receive)

            async def tracking_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            await self.app(scope, inner_receive, tracking_send)
        self._record(request, status, time.perf_counter() - started)

    def _refusal(self, request: Request) -> Response | None:
        raw_host = request.headers.get("host", "")
        if raw_host.startswith("["):  # [::1]:8080
            host = raw_host.split("]")[0] + "]"
            rest = raw_host[len(host) :]
            if rest and not (rest.startswith(":") and rest[1:].isdigit()):
                host = raw_host  # "[::1]evil": not an address
        else:
            host = raw_host.rsplit(":", 1)[0] if raw_host.count(":") == 1 else raw_host
        host = host.lower()
        if host not in self.allowed_hosts:
            return error_response(400, f"Host '{host}' is not allowed.", "invalid_request_error")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return _too_large()
        # A browser's CORS preflight never carries the key; it runs nothing, and the
        # request that follows it must still bring the key.
        preflight = (
            request.method == "OPTIONS"
            and self.cors
            and "access-control-request-method" in request.headers
        )
        if self.api_key is not None and request.url.path != "/health" and not preflight:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {self.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return error_response(
                    401, "Invalid or missing API key.", "invalid_request_error", "invalid_api_key"
                )
        return None

    def _record(self, request: Request, status: int, seconds: float) -> None:
        path = request.url.path
        self.metrics.count_request(path, status, seconds)
        record = RequestRecord(
            at=datetime.now(UTC),
            method=request.method,
            path=path,
            status=status,
            duration_ms=seconds * 1000.0,
            client=request.client.host if request.client else "",
        )
        log.info(
            "%s %s %s %d %.0f ms",
            record.client,
            record.method,
            record.path,
            record.status,
            record.duration_ms,
        )
        if self.on_request is not None:
            try:
                self.on_request(record)
            except Exception:
                log.exception("request listener failed")


async def _read_capped(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or None once it passes ``cap`` bytes (or the client leaves)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then the client's disconnect, when it comes

    return replayed


def _too_large() -> Response:
    return error_response(413, "The request body is too large.", "invalid_request_error")
