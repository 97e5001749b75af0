"""The HTTP timeout is a deadline for the whole request, not for each socket read.

A local server on 127.0.0.1 trickles a response a byte at a time, every tenth of a second — always
well within the client's per-read timeout, so httpx alone would wait for all of it. The server is
bounded (it stops after its last byte, or as soon as the client hangs up) and stopped by the test.
What is asserted is the outcome: the client gave up (a timeout error) before the server had sent
everything, whether the trickle is in the body or in the headers.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from filinglake.errors import HttpError
from filinglake.http import PoliteClient

BODY = b"x" * 60
#: one byte per interval: 60 bytes take 6 s, far past the client's 0.5 s deadline
INTERVAL = 0.1


class _Trickle(socketserver.BaseRequestHandler):
    server: _TrickleServer

    def handle(self) -> None:
        self.request.recv(65536)  # the request head (small GET)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        slow, fast = (head + BODY, b"") if self.server.trickle_headers else (BODY, head)
        sent = 0
        try:
            if fast:
                self.request.sendall(fast)
            for i in range(len(slow)):
                if self.server.stopping.wait(INTERVAL):
                    return
                self.request.sendall(slow[i:i + 1])
                sent += 1
        except OSError:
            pass  # the client hung up: exactly what a deadline should do
        finally:
            with self.server.lock:
                self.server.sent.append((sent, len(slow)))


class _TrickleServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, trickle_headers: bool):
        super().__init__(("127.0.0.1", 0), _Trickle)
        self.trickle_headers = trickle_headers
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent: list[tuple[int, int]] = []  # (bytes trickled, bytes it had to trickle) per connection


@contextmanager
def trickling_server(trickle_headers: bool) -> Iterator[_TrickleServer]:
    server = _TrickleServer(trickle_headers)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait_for_handlers(server: _TrickleServer, connections: int) -> list[tuple[int, int]]:
    """The per-connection records, once every handler noticed the client left (bounded wait)."""
    for _ in range(100):
        with server.lock:
            if len(server.sent) >= connections:
                return list(server.sent)
        time.sleep(0.05)
    raise AssertionError(f"handlers did not finish: {server.sent}")


@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers"])
def test_a_trickling_server_cannot_hold_a_request_past_the_timeout(trickle_headers: bool) -> None:
    with trickling_server(trickle_headers) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.idx"
        client = PoliteClient(name="test", rate=1000.0, retries=2, timeout=0.5, sleep=lambda _s: None)
        with client, pytest.raises(HttpError) as failed:
            client.get(url)
        assert "ReadTimeout" in str(failed.value) and "deadline" in str(failed.value)
        records = _wait_for_handlers(server, connections=2)  # both attempts gave up early
        assert all(sent < total for sent, total in records), records


def test_a_prompt_response_is_unaffected_and_leaves_no_deadline_behind(replay_server) -> None:
    from fakes.replay import Reply

    from filinglake import http

    server = replay_server({("GET", "/ok"): Reply(body=BODY)})
    with PoliteClient(name="test", rate=1000.0, retries=1, timeout=0.5) as client:
        assert client.get(f"{server.url}/ok").content == BODY
        assert client.get(f"{server.url}/ok", max_bytes=1000).content == BODY  # the streamed path too
    assert getattr(http._DEADLINE, "at", None) is None  # the next request on this thread starts afresh
