"""Polite HTTP client shared by every source: per-host rate limit, retries with backoff, block-page detection.

Why one module: the limits that keep us welcome (SEC: at most 10 requests/second per IP, "regardless of the
number of machines"; a trip blocks the IP for 10 minutes) apply to the *host*, not to one client object. So the
pacing and the "host is blocked until T" state live in a module-level registry keyed by host, shared by all
threads and all :class:`PoliteClient` instances in the process. Across processes (Airflow workers) use pools.

What the client decides and what it leaves to sources:

- 429, 5xx, timeouts, connection errors: retried with exponential backoff and full jitter, honouring
  ``Retry-After``; after ``retries`` attempts -> :class:`~filinglake.errors.HttpError` (or
  :class:`~filinglake.errors.Blocked` when the server asked for a wait longer than ``backoff_max``).
- Block pages (``block_detector``, i.e. :meth:`filinglake.sources.Source.detect_block`, returns a reason): the
  host is held off for ``block_seconds`` for everyone, then :class:`~filinglake.errors.Blocked` is raised, or
  (``wait_on_block=True``, the CLI) the client sleeps and tries again. A block page is never returned as data.
- Everything else (2xx, 3xx, 404, 410, a 403 that is not a block page, other 4xx) is returned unchanged:
  the source knows what a 404 means for it (SEC: no daily file that day).
- ``timeout`` is a deadline for each whole attempt (connect, headers and body), not httpx's per-read
  limit: a server trickling a byte a second cannot hold a request longer (:class:`_DeadlineBackend`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from filinglake.errors import Blocked, FilinglakeError, HttpError

if TYPE_CHECKING:
    pass

log = logging.getLogger("filinglake.http")

#: A current desktop browser; CNINFO and HKEXnews serve their JSON to browser-like clients.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


class UndeclaredUserAgent(FilinglakeError):
    """The host refused us as an undeclared automated tool (SEC): configuration must fix it, not retries."""


class ResponseTooLarge(FilinglakeError):
    """A body grew past the caller's ``max_bytes``; the download was stopped there (never retried)."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class _CappedStream(httpx.SyncByteStream):
    """Pass a response body through, raising :class:`ResponseTooLarge` once more than ``limit`` bytes arrived."""

    def __init__(self, inner: httpx.SyncByteStream, limit: int, url: str):
        self._inner = inner
        self._limit = limit
        self._url = url

    def __iter__(self):
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise ResponseTooLarge(f"{self._url}: body is over the {self._limit:,}-byte limit; download stopped",
                                       limit=self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


# --------------------------------------------------------------------------------------------------
# Whole-request deadline
# --------------------------------------------------------------------------------------------------

#: the monotonic deadline of the request the current thread is sending (None: no deadline)
_DEADLINE = threading.local()


def _remaining(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the current request's deadline; ``expired`` once it has passed.

    httpx applies its timeout to each socket operation, so a server sending a byte every second resets
    it forever; every operation here gets at most the time left of the whole request instead.
    """
    deadline = getattr(_DEADLINE, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired(f"the request's {_DEADLINE.seconds:g} s deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with connections that respect the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _remaining(timeout, httpcore.ConnectTimeout), local_address,
                                         socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _remaining(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport() -> httpx.HTTPTransport:
    """httpx's own transport (HTTP/1.1), its connection pool on :class:`_DeadlineBackend`.

    httpx has no public hook for the network backend; the pool's is wrapped in place (pinned in uv.lock,
    and tests/test_http_deadline.py fails if the attribute ever moves).
    """
    transport = httpx.HTTPTransport(http1=True, http2=False)
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


# --------------------------------------------------------------------------------------------------
# Shared per-host state
# --------------------------------------------------------------------------------------------------


@dataclass
class _HostGate:
    """Pacing and block state for one host, shared by every client in the process."""

    lock: threading.Lock
    next_free: float = 0.0  # monotonic time of the next free request slot
    blocked_until: float = 0.0  # monotonic time the current block ends
    block_reason: str = ""
    block_generation: int = 0  # bumped on every new block, so a waiter knows if it was re-blocked

    def reserve(self, interval: float) -> float:
        """Take the next request slot; return how long to sleep until it.

        A token bucket of capacity 1: requests are spaced at least ``interval`` apart across all
        threads. No bursts, because SEC counts requests per second and bursting is what trips it.
        """
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_free)
            self.next_free = slot + interval
            return slot - now

    def block(self, seconds: float, reason: str) -> None:
        with self.lock:
            self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
            self.block_reason = reason
            self.block_generation += 1

    def block_state(self) -> tuple[float, str, int]:
        """(seconds the block still lasts, reason, generation); 0 seconds when not blocked."""
        with self.lock:
            remaining = self.blocked_until - time.monotonic()
            return max(remaining, 0.0), self.block_reason, self.block_generation


_HOSTS: dict[str, _HostGate] = {}
_HOSTS_LOCK = threading.Lock()


def _gate_for(host: str) -> _HostGate:
    with _HOSTS_LOCK:
        gate = _HOSTS.get(host)
        if gate is None:
            gate = _HOSTS[host] = _HostGate(lock=threading.Lock())
        return gate


def _host_key(url: str) -> str:
    parsed = httpx.URL(url)
    # Port included: local replay servers share 127.0.0.1 but are different "hosts".
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def host_blocked_for(url: str) -> float:
    """Seconds the host of ``url`` is still blocked in this process (0 when it is not)."""
    return _gate_for(_host_key(url)).block_state()[0]


def reset_host_state() -> None:
    """Forget all pacing and blocks (tests: local servers reuse ports, a block must not leak between tests)."""
    with _HOSTS_LOCK:
        _HOSTS.clear()


# --------------------------------------------------------------------------------------------------
# Helpers sources use
# --------------------------------------------------------------------------------------------------

_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title")


def looks_like_html(body: bytes) -> bool:
    """True when ``body`` is an HTML page (block page, login or error page) rather than data.

    Data we expect (.idx text, JSON, JSONP, gzip) never starts with ``<``; an HTML page does, and names one
    of its tags near the top.
    """
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and any(marker in head for marker in _HTML_MARKERS)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class PoliteClient:
    """A synchronous httpx client that paces, retries and refuses block pages.

    ``sleep`` is used for backoff, ``Retry-After`` and block waits (inject it in tests to record waits);
    pacing between requests always uses real time, so the rate limit holds whatever ``sleep`` does.
    """

    def __init__(
        self,
        *,
        name: str,
        rate: float,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        retries: int = 5,
        block_seconds: float = 600.0,
        backoff_base: float = 1.0,
        backoff_max: float = 120.0,
        wait_on_block: bool = False,
        block_detector: Callable[[httpx.Response], str | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"{name}: rate must be positive, got {rate}")
        if retries < 1:
            raise ValueError(f"{name}: retries must be at least 1, got {retries}")
        self.name = name
        self.rate = rate
        self.retries = retries
        self.block_seconds = block_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.wait_on_block = wait_on_block
        self.block_detector = block_detector
        self._sleep = sleep
        self._interval = 1.0 / rate
        self.timeout = timeout
        # HTTP/1.1 only: HTTP/2 caused correlated failures against SEC (edgartools). No redirects:
        # a 3xx goes back to the source, which knows whether it means "moved" or "not there".
        self._client = httpx.Client(
            headers=headers or {}, timeout=httpx.Timeout(timeout), follow_redirects=False,
            transport=_deadline_transport(),
        )

    # public API -------------------------------------------------------------------------------

    def get(
        self, url: str, *, params: Any = None, headers: dict[str, str] | None = None, max_bytes: int | None = None
    ) -> httpx.Response:
        """GET ``url``; with ``max_bytes`` the body is streamed and the download stops past that size
        (:class:`ResponseTooLarge`), so an oversize document never sits whole in memory."""
        return self._request("GET", url, params=params, headers=headers, max_bytes=max_bytes)

    def post(
        self, url: str, *, data: Any = None, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._request("POST", url, data=data, json=json, headers=headers)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # internals --------------------------------------------------------------------------------

    def _request(self, method: str, url: str, max_bytes: int | None = None, **kwargs: Any) -> httpx.Response:
        request = self._client.build_request(method, url, **kwargs)
        shown = str(request.url)
        gate = _gate_for(_host_key(shown))
        last_problem = ""
        last_status: int | None = None
        asked_wait: float | None = None  # Retry-After of the last retryable response
        blocked_reason: str | None = None

        for attempt in range(1, self.retries + 1):
            self._wait_for_turn(gate, shown)
            try:
                response = self._send(request, max_bytes)
            except _RETRYABLE_ERRORS as exc:
                last_problem, last_status, asked_wait, blocked_reason = f"{type(exc).__name__}: {exc}", None, None, None
                if attempt < self.retries:
                    self._back_off(shown, attempt, last_problem, None)
                continue

            reason = self.block_detector(response) if self.block_detector else None
            if reason:
                gate.block(self.block_seconds, reason)
                log.warning("%s: %s on %s; holding off the host for %.0f s", self.name, reason, shown,
                            self.block_seconds)
                if not self.wait_on_block:
                    raise Blocked(f"{self.name}: {reason} on {shown}; retry in {self.block_seconds:.0f} s",
                                  retry_after=self.block_seconds)
                # wait_on_block: the next turn sleeps until the block ends.
                last_problem, last_status, asked_wait, blocked_reason = reason, response.status_code, None, reason
                continue

            if not _is_retryable_status(response.status_code):
                return response

            last_problem, last_status, blocked_reason = f"HTTP {response.status_code}", response.status_code, None
            asked_wait = parse_retry_after(response.headers.get("Retry-After"))
            if attempt < self.retries:
                self._back_off(shown, attempt, last_problem, asked_wait)

        if blocked_reason:
            raise Blocked(f"{self.name}: still blocked after {self.retries} attempts on {shown}: {blocked_reason}",
                          retry_after=self.block_seconds)
        if asked_wait is not None and asked_wait > self.backoff_max:
            raise Blocked(f"{self.name}: {shown} answered {last_problem} with Retry-After {asked_wait:.0f} s "
                          f"after {self.retries} attempts", retry_after=asked_wait)
        raise HttpError(f"{method} {shown} failed after {self.retries} attempts (last: {last_problem})",
                        status=last_status)

    def _send(self, request: httpx.Request, max_bytes: int | None) -> httpx.Response:
        """Send and read the whole response within ``timeout`` seconds (see :func:`_remaining`)."""
        deadline = time.monotonic() + self.timeout
        _DEADLINE.at, _DEADLINE.seconds = deadline, self.timeout
        try:
            return self._send_and_read(request, max_bytes)
        except httpx.TimeoutException as exc:
            if time.monotonic() < deadline:
                raise
            raise type(exc)(f"no complete response within the {self.timeout:g} s deadline ({exc})",
                            request=request) from exc
        finally:
            _DEADLINE.at = None

    def _send_and_read(self, request: httpx.Request, max_bytes: int | None) -> httpx.Response:
        """Send and read the body, stopping past ``max_bytes`` (counted on the wire and after decoding)."""
        if max_bytes is None:
            return self._client.send(request)
        response = self._client.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(f"{request.url}: Content-Length {int(declared):,} bytes is over the "
                                       f"{max_bytes:,}-byte limit", limit=max_bytes)
            response.stream = _CappedStream(response.stream, max_bytes, str(request.url))
            response.read()
            if len(response.content) > max_bytes:  # a small compressed body can inflate past the limit
                raise ResponseTooLarge(f"{request.url}: body is over the {max_bytes:,}-byte limit once decoded",
                                       limit=max_bytes)
        except BaseException:
            response.close()
            raise
        return response

    def _wait_for_turn(self, gate: _HostGate, url: str) -> None:
        """Respect a block on the host (raise or wait), then take a paced slot."""
        waited_generation: int | None = None
        while True:
            remaining, reason, generation = gate.block_state()
            # After sleeping out a block once, go ahead even if the clock says otherwise (an injected
            # sleep may not really sleep); wait again only if someone set a *new* block meanwhile.
            if remaining <= 0 or generation == waited_generation:
                break
            if not self.wait_on_block:
                raise Blocked(f"{self.name}: host of {url} is held off for another {remaining:.0f} s ({reason})",
                              retry_after=remaining)
            log.warning("%s: host of %s is blocked (%s); waiting %.0f s", self.name, url, reason, remaining)
            self._sleep(remaining)
            waited_generation = generation
        delay = gate.reserve(self._interval)
        if delay > 0:
            time.sleep(delay)

    def _back_off(self, url: str, attempt: int, problem: str, asked_wait: float | None) -> None:
        if asked_wait is not None:
            wait = min(asked_wait, self.backoff_max)
            how = f"Retry-After {asked_wait:g} s"
        else:
            # Full jitter: uniform in [0, base * 2^(attempt-1)], so retrying workers spread out.
            wait = random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
            how = "backoff"
        log.warning("%s: %s on %s (attempt %d/%d); retrying in %.1f s (%s)", self.name, problem, url, attempt,
                    self.retries, wait, how)
        self._sleep(wait)
