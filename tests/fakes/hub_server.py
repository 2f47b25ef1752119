"""A stand-in Hugging Face Hub on 127.0.0.1 for the real huggingface_hub client.

It serves what Hearth uses: ``GET /api/models`` (search, sort, limit), ``GET
/api/models/ORG/NAME[/revision/REV]`` (siblings with sizes and LFS sha256 when
``blobs=true``), and ``GET``/``HEAD`` ``/ORG/NAME/resolve/REV/FILE`` with HTTP ranges.

Faults a test can ask for: a gated repository (401 without a good token, 403 with a token
that has no access), a connection cut after N bytes of a file (once), wrong bytes for a
file (the LFS hash stays the real one), and a whole-Hub outage (503).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    revision: str = "a" * 40
    gated: bool = False
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2025-01-01T00:00:00.000Z"
    license: str = "apache-2.0"
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    without_lfs: set[str] = field(default_factory=set)
    """Files listed without LFS metadata (no sha256), as small files in git are."""

    def sibling(self, name: str) -> dict[str, object]:
        data = self.files[name]
        sha = hashlib.sha256(data).hexdigest()
        sibling: dict[str, object] = {
            "rfilename": name,
            "size": len(data),
            "blobId": hashlib.sha1(data).hexdigest(),
        }
        if name not in self.without_lfs:
            sibling["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        return sibling


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, set[str]] = {}
        """Token -> gated repositories it may download."""
        self.cut_after: dict[str, int] = {}
        """File name -> bytes sent before the connection is cut (once)."""
        self.wrong_bytes: set[str] = set()
        self.down = False
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, Range header) of every request."""
        self.bytes_per_second: int | None = None
        self.api_delay_s = 0.0
        """Seconds each /api/ answer waits (a slow Hub)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_hub() -> Iterator[FakeHub]:
    hub = FakeHub().start()
    try:
        yield hub
    finally:
        hub.stop()


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?$")
_SORT_KEYS = {
    "downloads": lambda r: r.downloads,
    "likes": lambda r: r.likes,
    "lastModified": lambda r: r.last_modified,
}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        # -- plumbing -----------------------------------------------------------------

        def _json(self, value: object, status: int = 200) -> None:
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return auth.removeprefix("Bearer ").strip() or None

        def _route(self, head: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            if hub.down:
                self._error(503, "ServiceUnavailable", "The Hub is down for maintenance")
                return
            if path.startswith("/api/") and hub.api_delay_s:
                time.sleep(hub.api_delay_s)
            if path == "/api/models":
                self._search(parse_qs(url.query))
            elif match := _INFO.match(path):
                self._info(match["repo"], match["rev"])
            elif match := _RESOLVE.match(path):
                self._resolve(match["repo"], match["rev"], match["file"], head)
            else:
                self._error(404, "NotFound", "Not found")

        # -- endpoints ------------------------------------------------------------------

        def _search(self, query: dict[str, list[str]]) -> None:
            text = query.get("search", [""])[0].lower()
            found = [r for r in hub.repos.values() if text in r.repo_id.lower()]
            filters = query.get("filter", [])
            found = [r for r in found if all(f in r.tags for f in filters)]
            sort = query.get("sort", [""])[0]
            if sort in _SORT_KEYS:
                found.sort(key=_SORT_KEYS[sort], reverse=True)
            limit = int(query.get("limit", ["1000"])[0])
            self._json(
                [
                    {
                        "id": r.repo_id,
                        "modelId": r.repo_id,
                        "downloads": r.downloads,
                        "likes": r.likes,
                        "lastModified": r.last_modified,
                        "gated": "auto" if r.gated else False,
                        "tags": r.tags,
                        "private": False,
                    }
                    for r in found[:limit]
                ]
            )

        def _info(self, repo_id: str, revision: str | None) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None or (revision not in (None, "main", repo.revision)):
                self._error(404, "RepoNotFound", "Repository not found")
                return
            self._json(
                {
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": repo.revision,
                    "gated": "auto" if repo.gated else False,
                    "downloads": repo.downloads,
                    "likes": repo.likes,
                    "lastModified": repo.last_modified,
                    "tags": repo.tags,
                    "cardData": {"license": repo.license},
                    "siblings": [repo.sibling(name) for name in sorted(repo.files)],
                }
            )

        def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return
            if revision not in ("main", repo.revision):
                self._error(404, "RevisionNotFound", "Revision not found")
                return
            if name not in repo.files:
                self._error(404, "EntryNotFound", "Entry not found")
                return
            if repo.gated:
                token = self._token()
                if token is None:
                    self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
                    return
                if repo_id not in hub.tokens.get(token, set()):
                    self._error(403, "GatedRepo", f"Access to model {repo_id} is restricted.")
                    return
            data = repo.files[name]
            sha = hashlib.sha256(data).hexdigest()
            if name in hub.wrong_bytes:
                data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start, status = 0, 200
            ranged = self.headers.get("Range")
            if ranged:
                match = re.fullmatch(r"bytes=(\d+)-", ranged.strip())
                if match is None:
                    self._error(400, "BadRequest", "Only open ranges are served")
                    return
                start = int(match[1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Repo-Commit", repo.revision)
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Linked-ETag", f'"{sha}"')
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return
            body = data[start:]
            cut = hub.cut_after.pop(name, None)
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send_body(body)

        def _send_body(self, body: bytes) -> None:
            chunk = 64 * 1024
            rate = hub.bytes_per_second
            for at in range(0, len(body), chunk):
                self.wfile.write(body[at : at + chunk])
                if rate:
                    time.sleep(chunk / rate)

    return Handler
