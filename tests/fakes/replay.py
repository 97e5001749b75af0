"""A local HTTP server that replays captured responses, for tests and the offline demo.

Generic on purpose: each source's routes live in ``fakes/<source>.py`` (see :mod:`fakes`).

    routes = {("GET", "/hello"): Reply(body=b"hi")}
    with ReplayServer(routes) as server:
        httpx.get(server.url + "/hello")
        assert server.requests[0].headers["user-agent"]

Routes are either

- a mapping ``(METHOD, path) -> answer``, where ``path`` has no query string and ``answer`` is a :class:`Reply`,
  a callable ``handler(request) -> Reply`` (see :func:`file_reply`, :func:`reply_sequence`), or
- one callable ``handler(request) -> Reply | None`` for everything (None means 404).

Unrouted requests get 404. ``HEAD`` is answered from the ``GET`` route without a body. Every request is recorded
in ``server.requests`` (a :class:`RecordedRequest` with method, path, query, body, form, headers and the
monotonic time it arrived) so tests can assert what the client asked, and when.

Run ``python -m fakes.replay --fixtures <dir>`` to serve every source's stand-in (it prints the variables
that point each source at it).
"""

from __future__ import annotations

import argparse
import json as jsonlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTENT_TYPES = {".gz": "application/x-gzip", ".idx": "text/plain", ".html": "text/html", ".htm": "text/html",
                 ".json": "application/json", ".pdf": "application/pdf"}


@dataclass(frozen=True)
class Reply:
    """One canned response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, content_type: str = "application/json;charset=UTF-8") -> Reply:
        return cls(status=status, body=jsonlib.dumps(payload, ensure_ascii=False).encode(), content_type=content_type)


@dataclass(frozen=True)
class RecordedRequest:
    """What the client sent. Header names are lower-cased; ``query``/``form`` keep the last value per key."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    form: dict[str, str]
    headers: dict[str, str]
    received_at: float  # time.monotonic() when the request was read

    def json(self) -> Any:
        return jsonlib.loads(self.body)


Handler = Callable[[RecordedRequest], Reply | None]
RouteAnswer = Reply | Callable[[RecordedRequest], Reply]
Routes = Mapping[tuple[str, str], RouteAnswer] | Handler


def file_reply(path: Path, *, status: int = 200, content_type: str | None = None,
               headers: dict[str, str] | None = None) -> Callable[[RecordedRequest], Reply]:
    """Serve a file, read at request time (large fixtures are not held in memory by the route table)."""
    ctype = content_type or CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")

    def answer(_request: RecordedRequest) -> Reply:
        return Reply(status=status, body=path.read_bytes(), content_type=ctype, headers=dict(headers or {}))

    return answer


def reply_sequence(*replies: Reply) -> Callable[[RecordedRequest], Reply]:
    """Answer with each reply in turn, then keep repeating the last one (e.g. 503, 503, 200)."""
    if not replies:
        raise ValueError("reply_sequence needs at least one reply")
    remaining = list(replies)
    lock = threading.Lock()

    def answer(_request: RecordedRequest) -> Reply:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return answer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers; every reply sets Content-Length
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        form: dict[str, str] = {}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            body=body,
            form=form,
            headers=headers,
            received_at=time.monotonic(),
        )
        owner = self.server.owner
        with owner._lock:
            owner.requests.append(request)
        try:
            reply = owner._answer(request)
        except Exception as exc:  # a broken test handler should show up as a 500, not a hung client
            reply = Reply(status=500, body=f"replay handler failed: {exc!r}".encode())
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests assert on server.requests instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ReplayServer


class ReplayServer:
    """Serve ``routes`` on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self, routes: Routes | None = None, *, port: int = 0):
        self.routes: Routes = routes if routes is not None else {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("ReplayServer is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def sec_base_url(self) -> str:
        """The value for FILINGLAKE_SEC_BASE_URL when serving :func:`fakes.sec_edgar.sec_archive_routes`
        (a shorthand many SEC tests use)."""
        from fakes.sec_edgar import SEC_ARCHIVE_PREFIX

        return self.url + SEC_ARCHIVE_PREFIX

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def start(self) -> ReplayServer:
        self._httpd = _Server(("127.0.0.1", self._port), _RequestHandler)
        self._httpd.owner = self
        # Short poll interval: shutdown() waits up to one interval, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, request: RecordedRequest) -> Reply:
        routes = self.routes
        if callable(routes) and not isinstance(routes, Mapping):
            return routes(request) or _not_found(request)
        method = "GET" if request.method == "HEAD" else request.method
        answer = routes.get((method, request.path))
        if answer is None:
            return _not_found(request)
        return answer(request) if callable(answer) else answer


def _not_found(request: RecordedRequest) -> Reply:
    return Reply(status=404, body=f"replay: no route for {request.method} {request.path}".encode())


def serve_error(routes: dict[tuple[str, str], RouteAnswer], path: str, reply: Reply,
                method: str = "GET") -> dict[tuple[str, str], RouteAnswer]:
    """Make ``path`` answer with a fixed error ``reply`` (e.g. :func:`sec_block_page_reply`); returns ``routes``."""
    routes[(method, path)] = reply
    return routes


def main(argv: list[str] | None = None) -> None:
    """Serve every registered source's stand-in until interrupted (offline demo)."""
    from fakes import all_routes
    from filinglake.config import PROJECT_ROOT
    from filinglake.sources import all_sources

    default_fixtures = os.environ.get("FILINGLAKE_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=Path(default_fixtures))
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    with ReplayServer(all_routes(args.fixtures), port=args.port) as server:
        for source in all_sources():
            for name, value in source.environment_for_root(server.url).items():
                print(f"{name}={value}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
