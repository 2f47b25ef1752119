"""Remote OpenAI-compatible servers (vLLM, llama.cpp server, Ollama, a gateway).

What the rest of Hearth needs to use one: how to name its models (``remote:...``),
where its key comes from, clear errors for what goes wrong on the wire, and the
list of models it serves. Streaming generation lives in the engine's remote
transport, which speaks the same HTTP through ``RemoteHttp``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.errors import HearthError
from app.core.policy import Policy, require_remote
from app.core.secrets import SecretStore
from app.core.settings import RemoteEndpointEntry, Settings

log = logging.getLogger(__name__)

REMOTE_PREFIX = "remote:"
LIST_TIMEOUT_S = 5.0


class RemoteError(HearthError):
    """Something went wrong talking to a remote server."""


class RemoteUnreachable(RemoteError):
    def __init__(self, url: str, detail: str) -> None:
        super().__init__(
            f"Cannot reach the server at {url} ({detail}).",
            "Check the address and that the server is running, or use a local model.",
        )


class RemoteAuthFailed(RemoteError):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"The server at {url} refused the API key.",
            "Set the right key: hearth remote add NAME URL --key-file FILE (or in Settings).",
        )


class RemoteTimeout(RemoteError):
    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(
            f"The server at {url} did not answer within {seconds:.0f} s.",
            "It may be overloaded; try again, or raise the endpoint's timeout.",
        )


class RemoteModelMissing(RemoteError):
    def __init__(self, model: str, url: str, available: list[str]) -> None:
        offered = ", ".join(available[:10]) or "none"
        super().__init__(
            f"The server at {url} has no model '{model}'.",
            f"It serves: {offered}.",
        )


class UnknownEndpoint(RemoteError):
    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none yet"
        super().__init__(
            f"There is no remote endpoint '{name}' (configured: {listed}).",
            "Add one with: hearth remote add NAME URL",
        )


@dataclass(frozen=True)
class RemoteTarget:
    """One model on one endpoint: what ``remote:ENDPOINT/MODEL`` names."""

    endpoint: RemoteEndpointEntry
    model: str

    @property
    def id(self) -> str:
        return f"{REMOTE_PREFIX}{self.endpoint.name}/{self.model}"


def is_remote_reference(reference: str | None) -> bool:
    return bool(reference) and str(reference).startswith(REMOTE_PREFIX)


def secret_name(endpoint: str) -> str:
    return f"remote-endpoint:{endpoint}"


def api_key(endpoint: RemoteEndpointEntry, secrets: SecretStore | None) -> str | None:
    """The endpoint's key: its key file, else ``HEARTH_REMOTE_KEY_<NAME>``, else the keyring."""
    if endpoint.api_key_file:
        try:
            key = Path(endpoint.api_key_file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise RemoteError(
                f"Cannot read the key file {endpoint.api_key_file} of the endpoint "
                f"'{endpoint.name}' ({exc.strerror})."
            ) from exc
        return key.strip() or None
    variable = "HEARTH_REMOTE_KEY_" + endpoint.name.upper().replace("-", "_").replace(".", "_")
    if os.environ.get(variable):
        return os.environ[variable]
    return secrets.get(secret_name(endpoint.name)) if secrets is not None else None


def find_endpoint(settings: Settings, name: str) -> RemoteEndpointEntry:
    for endpoint in settings.remotes:
        if endpoint.name == name:
            return endpoint
    raise UnknownEndpoint(name, [e.name for e in settings.remotes])


def resolve_target(
    reference: str,
    settings: Settings,
    policy: Policy,
    list_models: bool = True,
    secrets: SecretStore | None = None,
) -> tuple[RemoteTarget, list[str]]:
    """``remote:ENDPOINT/MODEL``, ``remote:ENDPOINT`` (its default or only model) or
    ``remote:MODEL`` (the endpoint that serves it). Also returns the models listed, if
    it had to ask the server."""
    text = reference[len(REMOTE_PREFIX) :] if is_remote_reference(reference) else reference
    name, _, model = text.partition("/")
    endpoints = {e.name: e for e in settings.remotes}
    if name in endpoints:
        endpoint = endpoints[name]
        require_remote(policy, endpoint.base_url)
        if model:
            return RemoteTarget(endpoint, model), []
        if endpoint.default_model:
            return RemoteTarget(endpoint, endpoint.default_model), []
        if not list_models:
            raise RemoteError(f"The endpoint '{name}' has no default model; name one.")
        http = RemoteHttp(endpoint, secrets)
        try:
            served = http.list_models()
        finally:
            http.close()
        if len(served) == 1:
            return RemoteTarget(endpoint, served[0]), served
        raise RemoteError(
            f"The endpoint '{name}' serves {len(served)} models; name one.",
            f"For example: remote:{name}/{served[0] if served else 'MODEL'}",
        )
    if model or not settings.remotes:
        raise UnknownEndpoint(name, list(endpoints))
    # A bare model name: the first allowed endpoint whose default it is.
    for endpoint in settings.remotes:
        if endpoint.default_model == text:
            require_remote(policy, endpoint.base_url)
            return RemoteTarget(endpoint, text), []
    raise UnknownEndpoint(name, list(endpoints))


class RemoteHttp:
    """Blocking HTTP to one endpoint, with its errors turned into ``RemoteError``s."""

    def __init__(
        self,
        endpoint: RemoteEndpointEntry,
        secrets: SecretStore | None,
        key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.base = endpoint.base_url.rstrip("/")
        if not self.base.endswith("/v1"):
            self.base += "/v1"
        self._secrets = secrets
        self._given_key = key
        self._transport = transport
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        # Made on first use, on the thread that talks to the server: reading the key
        # may wait on the keyring, which must not happen on the GUI thread.
        if self._http is None:
            endpoint = self.endpoint
            key = self._given_key
            if key is None:
                key = api_key(endpoint, self._secrets)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._http = httpx.Client(
                headers=headers,
                timeout=httpx.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s)),
                transport=self._transport,
                follow_redirects=False,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def list_models(self, timeout: float = LIST_TIMEOUT_S) -> list[str]:
        data = self.get_json("/models", timeout)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RemoteError(f"The server at {self.base} did not list its models.")
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        response = self._send("GET", path, None, timeout)
        return _json_of(response, self.base)

    def post_json(self, path: str, body: Mapping[str, object]) -> Any:
        response = self._send("POST", path, body, None)
        return _json_of(response, self.base)

    def stream_events(
        self, path: str, body: Mapping[str, object]
    ) -> Generator[dict[str, Any], None, None]:
        """Server-sent events of a streamed completion, parsed, until ``[DONE]``."""
        url = self.base + path
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _status_error(response, self.base, body.get("model"))
                finished = False
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    try:
                        event = json.loads(payload)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        if "error" in event:
                            raise RemoteError(f"The server reported: {_message(event)}")
                        finished = finished or any(
                            isinstance(choice, dict) and choice.get("finish_reason")
                            for choice in event.get("choices") or []
                        )
                        yield event
                if not finished:
                    # Some servers drop a stream under load without saying so: a cut
                    # answer must not pass for a whole one.
                    raise RemoteError(
                        f"The server at {self.base} ended the answer before it was complete.",
                        "Try again; if it keeps happening, the server may be overloaded.",
                    )
        except httpx.TimeoutException as exc:
            raise RemoteTimeout(self.base, self.endpoint.timeout_s) from exc
        except httpx.HTTPError as exc:
            raise RemoteUnreachable(self.base, _short(exc)) from exc

    def _send(
        self, method: str, path: str, body: Mapping[str, object] | None, timeout: float | None
    ) -> httpx.Response:
        try:
            response = self._client.request(
                method,
                self.base + path,
                json=body,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            raise RemoteTimeout(self.base, timeout or self.endpoint.timeout_s) from exc
        except httpx.HTTPError as exc:
            raise RemoteUnreachable(self.base, _short(exc)) from exc
        if response.status_code >= 400:
            raise _status_error(response, self.base, (body or {}).get("model"))
        return response


def _json_of(response: httpx.Response, base: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise RemoteError(f"The server at {base} did not answer with JSON.") from exc


def _message(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if body.get("detail"):
            return str(body["detail"])[:300]
    return ""


def _status_error(response: httpx.Response, base: str, model: object) -> RemoteError:
    try:
        body = response.json()
    except ValueError:
        body = None
    message = _message(body) or response.reason_phrase
    status = response.status_code
    if status in (401, 403):
        return RemoteAuthFailed(base)
    if status == 404 and model and "model" in message.lower():
        return RemoteModelMissing(str(model), base, [])
    if status == 429:
        return RemoteError(
            f"The server at {base} is busy (HTTP 429): {message}", "Try again in a moment."
        )
    return RemoteError(f"The server at {base} answered HTTP {status}: {message}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


@dataclass(frozen=True)
class RemoteListing:
    """A model a remote endpoint serves, or why the endpoint could not be asked."""

    endpoint: str
    base_url: str
    model: str | None
    error: str = ""

    @property
    def id(self) -> str:
        return f"{REMOTE_PREFIX}{self.endpoint}" + (f"/{self.model}" if self.model else "")

    @property
    def name(self) -> str:
        """What the window shows: the model's name (the endpoint's when it has none)."""
        return self.model or self.endpoint

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.model,
            "path": self.base_url,
            "source": "remote",
            "endpoint": self.endpoint,
            "valid": not self.error,
            "error": self.error or None,
        }


def list_remote_models(
    settings: Settings, policy: Policy, secrets: SecretStore | None
) -> list[RemoteListing]:
    """Every configured endpoint's models, asked in parallel with a short timeout."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(endpoint: RemoteEndpointEntry) -> list[RemoteListing]:
        if not policy.endpoint_allowed(endpoint.base_url):
            blocked = "blocked by your organization's policy"
            return [RemoteListing(endpoint.name, endpoint.base_url, None, blocked)]
        http = None
        try:
            http = RemoteHttp(endpoint, secrets)
            served = http.list_models()
        except HearthError as error:
            return [RemoteListing(endpoint.name, endpoint.base_url, None, error.message)]
        except Exception as error:  # one odd server must not hide the others
            log.warning("listing %s failed", endpoint.base_url, exc_info=True)
            odd = f"unexpected answer ({type(error).__name__})"
            return [RemoteListing(endpoint.name, endpoint.base_url, None, odd)]
        finally:
            if http is not None:
                http.close()
        return [RemoteListing(endpoint.name, endpoint.base_url, model) for model in served]

    if not settings.remotes:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(settings.remotes))) as pool:
        results = list(pool.map(ask, settings.remotes))
    return [listing for group in results for listing in group]
