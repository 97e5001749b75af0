"""PoliteClient against the local replay server: pacing, retries, Retry-After, block pages, per-source defaults.

Waits are recorded through an injected ``sleep`` instead of slept; only pacing uses real time, and the
rate-limit test measures it from the arrival times the server recorded.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from fakes.replay import Reply, serve_error
from fakes.sec_edgar import sec_archive_routes, sec_block_page_reply, sec_fixture_map

from filinglake.config import ConfigError, load_settings
from filinglake.errors import Blocked, FilinglakeError, HttpError
from filinglake.http import (
    PoliteClient,
    host_blocked_for,
    looks_like_html,
    parse_retry_after,
)
from filinglake.sources import make_client, source_settings
from filinglake.sources.sec_edgar import sec_block_detector

UA = "Filinglake Tests ops@filinglake.example"


class RecordingSleep:
    """Stands in for time.sleep: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(**overrides) -> PoliteClient:
    options = {"name": "test", "rate": 1000.0, "retries": 5, "timeout": 5.0, "sleep": RecordingSleep()}
    options.update(overrides)
    return PoliteClient(**options)


# --- pacing -----------------------------------------------------------------------------------------


def test_rate_limit_holds_across_threads_and_client_instances(replay_server):
    server = replay_server({("GET", "/ping"): Reply(body=b"pong")})
    rate, threads, per_thread = 20.0, 4, 8
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with PoliteClient(name=f"worker-{threading.get_ident()}", rate=rate) as own_client:
                for _ in range(per_thread):
                    assert own_client.get(server.url + "/ping").content == b"pong"
        except BaseException as exc:  # surfaced below: assertions in threads do not fail the test
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    arrivals = sorted(r.received_at for r in server.requests)
    total = threads * per_thread
    assert len(arrivals) == total
    # 32 requests at 20/s are spaced over 31 intervals of 50 ms (1.55 s). Slack of three intervals for
    # arrival jitter: the first request of each client also opens a connection, so on a loaded machine
    # it can land late, after later slots (a one-interval slack failed at 0.68 s of 0.70 under load 12).
    # Without a shared limiter the 32 arrive within a few milliseconds.
    assert arrivals[-1] - arrivals[0] >= (total - 4) / rate


def test_different_hosts_are_paced_independently(replay_server):
    first = replay_server({("GET", "/a"): Reply(body=b"a")})
    second = replay_server({("GET", "/b"): Reply(body=b"b")})
    with PoliteClient(name="slow", rate=0.2) as slow:  # one request per 5 s per host
        start = time.monotonic()
        assert slow.get(first.url + "/a").content == b"a"
        assert slow.get(second.url + "/b").content == b"b"
        # The second host has its own bucket: no 5 s wait between the two.
        assert time.monotonic() - start < 2.5


# --- retries ----------------------------------------------------------------------------------------


def test_retries_503_then_succeeds(replay_server):
    from fakes.replay import reply_sequence

    server = replay_server({("GET", "/flaky"): reply_sequence(Reply(503), Reply(503), Reply(body=b"ok"))})
    sleep = RecordingSleep()
    with client(sleep=sleep, backoff_base=1.0) as c:
        response = c.get(server.url + "/flaky")
    assert response.status_code == 200 and response.content == b"ok"
    assert len(server.requests) == 3
    # Full jitter: attempt n waits uniformly in [0, base * 2^(n-1)].
    assert len(sleep.waits) == 2
    assert 0 <= sleep.waits[0] <= 1.0 and 0 <= sleep.waits[1] <= 2.0


def test_retry_after_seconds_is_honoured(replay_server):
    from fakes.replay import reply_sequence

    server = replay_server(
        {("GET", "/busy"): reply_sequence(Reply(429, headers={"Retry-After": "7"}), Reply(body=b"ok"))}
    )
    sleep = RecordingSleep()
    with client(sleep=sleep) as c:
        assert c.get(server.url + "/busy").content == b"ok"
    assert sleep.waits == [7.0]


def test_retry_after_http_date_is_honoured_and_capped(replay_server):
    from fakes.replay import reply_sequence

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server = replay_server({("GET", "/busy"): reply_sequence(
        Reply(503, headers={"Retry-After": soon}),
        Reply(503, headers={"Retry-After": later}),
        Reply(body=b"ok"),
    )})
    sleep = RecordingSleep()
    with client(sleep=sleep, backoff_max=120.0) as c:
        assert c.get(server.url + "/busy").content == b"ok"
    assert len(sleep.waits) == 2
    assert 25 <= sleep.waits[0] <= 30  # HTTP-date, one-second resolution
    assert sleep.waits[1] == 120.0  # an hour asked, capped at backoff_max


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now


def test_429_exhausted_raises_http_error(replay_server):
    server = replay_server({("GET", "/limited"): Reply(429, body=b"slow down")})
    sleep = RecordingSleep()
    with client(sleep=sleep, retries=3) as c, pytest.raises(HttpError) as raised:
        c.get(server.url + "/limited")
    assert raised.value.status == 429
    message = str(raised.value)
    assert server.url + "/limited" in message and "429" in message and "\n" not in message
    assert len(server.requests) == 3 and len(sleep.waits) == 2


def test_long_retry_after_on_last_attempt_raises_blocked(replay_server):
    server = replay_server({("GET", "/limited"): Reply(429, headers={"Retry-After": "900"})})
    sleep = RecordingSleep()
    with client(sleep=sleep, retries=2, backoff_max=60.0) as c, pytest.raises(Blocked) as raised:
        c.get(server.url + "/limited")
    assert raised.value.retry_after == 900.0
    assert sleep.waits == [60.0]


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nothing"
    sleep = RecordingSleep()
    with client(sleep=sleep, retries=3) as c, pytest.raises(HttpError) as raised:
        c.get(url)
    assert url in str(raised.value) and "ConnectError" in str(raised.value)
    assert raised.value.status is None and len(sleep.waits) == 2


def test_timeout_is_retried(replay_server):
    calls = []

    def slow_once(request):
        calls.append(request)
        if len(calls) == 1:
            time.sleep(0.6)  # longer than the client's timeout
        return Reply(body=b"late but fine")

    server = replay_server(slow_once)
    sleep = RecordingSleep()
    with client(sleep=sleep, timeout=0.2) as c:
        assert c.get(server.url + "/slow").content == b"late but fine"
    assert len(server.requests) == 2 and len(sleep.waits) == 1


# --- statuses returned to the caller ----------------------------------------------------------------


def test_404_and_plain_403_are_returned_not_raised(replay_server):
    server = replay_server({("GET", "/forbidden"): Reply(403, body=b"<html><body>Forbidden</body></html>")})
    with client(block_detector=sec_block_detector) as c:
        missing = c.get(server.url + "/Archives/edgar/daily-index/2018/QTR4/master.20181225.idx")
        forbidden = c.get(server.url + "/forbidden")
    assert missing.status_code == 404
    assert forbidden.status_code == 403
    assert len(server.requests) == 2  # neither was retried


# --- block pages ------------------------------------------------------------------------------------


def test_real_sec_block_page_raises_blocked_and_holds_off_the_host(replay_server, fixtures_dir):
    path = "/Archives/edgar/full-index/2016/QTR3/master.gz"
    routes = serve_error(sec_archive_routes(fixtures_dir), path, sec_block_page_reply(fixtures_dir))
    server = replay_server(routes)
    with client(block_detector=sec_block_detector, block_seconds=600.0) as c, pytest.raises(Blocked) as raised:
        c.get(server.url + path)
    assert raised.value.retry_after == 600.0
    assert "Request Rate Threshold Exceeded" in str(raised.value)
    assert len(server.requests) == 1  # a block page is not retried into

    # Another client (another thread or task in this process) stays away without sending anything.
    other_path = "/Archives/edgar/full-index/1993/QTR4/master.idx"
    with client(name="other") as other, pytest.raises(Blocked) as held_off:
        other.get(server.url + other_path)
    assert 590 < held_off.value.retry_after <= 600
    assert 590 < host_blocked_for(server.url) <= 600
    assert len(server.requests) == 1


def test_wait_on_block_sleeps_out_the_block_then_succeeds(replay_server, fixtures_dir):
    from fakes.replay import reply_sequence

    index = fixtures_dir / "edgar/daily/master.20181231.excerpt.idx"
    path = "/Archives/edgar/daily-index/2018/QTR4/master.20181231.idx"
    server = replay_server({("GET", path): reply_sequence(
        sec_block_page_reply(fixtures_dir), Reply(body=index.read_bytes())
    )})
    sleep = RecordingSleep()
    with client(sleep=sleep, block_detector=sec_block_detector, block_seconds=600.0, wait_on_block=True) as c:
        response = c.get(server.url + path)
    assert response.status_code == 200 and response.content == index.read_bytes()
    assert len(sleep.waits) == 1 and 590 < sleep.waits[0] <= 600
    assert len(server.requests) == 2


def test_undeclared_automated_tool_page_is_a_configuration_error(replay_server):
    # Hand-written stand-in: no capture of this page is in the fixtures; the phrase is SEC's (sources.md §1.9).
    page = (b"<!DOCTYPE html><html><head><title>SEC.gov | Your Request Originates from an Undeclared "
            b"Automated Tool</title></head><body>Please declare your traffic by updating your user agent"
            b"</body></html>")
    server = replay_server({("GET", "/x"): Reply(403, body=page, content_type="text/html")})
    with client(block_detector=sec_block_detector) as c, pytest.raises(FilinglakeError) as raised:
        c.get(server.url + "/x")
    assert "FILINGLAKE_SEC_USER_AGENT" in str(raised.value)
    assert len(server.requests) == 1


# --- per-source clients -----------------------------------------------------------------------------


def test_sec_client_requires_a_user_agent(monkeypatch):
    monkeypatch.delenv("FILINGLAKE_SEC_USER_AGENT", raising=False)
    with pytest.raises(ConfigError, match="FILINGLAKE_SEC_USER_AGENT"):
        make_client("sec_edgar", load_settings())


def test_unknown_source_is_rejected(monkeypatch):
    with pytest.raises(ValueError, match="nasdaq"):
        make_client("nasdaq", load_settings())


def test_sec_client_sends_declared_user_agent_and_gets_fixture_bytes(replay_server, fixtures_dir, monkeypatch):
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", UA)
    server = replay_server(sec_archive_routes(fixtures_dir))
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    settings = load_settings()
    files = sec_fixture_map(fixtures_dir)
    with make_client("sec_edgar", settings) as sec:
        daily = sec.get(f"{source_settings('sec_edgar', settings).base_url}/daily-index/2018/QTR4/master.20181231.idx")
        quarterly = sec.get(f"{source_settings('sec_edgar', settings).base_url}/full-index/2016/QTR3/master.gz")
    assert daily.content == files["daily-index/2018/QTR4/master.20181231.idx"].read_bytes()
    # Served as a gzip file (no Content-Encoding), so the source receives the compressed bytes.
    assert quarterly.headers["content-type"] == "application/x-gzip"
    assert quarterly.content == files["full-index/2016/QTR3/master.gz"].read_bytes()
    for request in server.requests:
        assert request.headers["user-agent"] == UA
        assert request.headers["accept-encoding"] == "gzip, deflate"


def test_cninfo_and_hkex_clients_look_like_the_browser_pages(replay_server, monkeypatch):
    server = replay_server({
        ("POST", "/new/hisAnnouncement/query"): Reply.json({"announcements": None, "totalAnnouncement": 0}),
        ("GET", "/search/titleSearchServlet.do"): Reply.json({"result": "[]"}),
    })
    # Both clients hit the same local host:port; real rates (0.5/s) would make this test wait 2 s.
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "100")
    monkeypatch.setenv("FILINGLAKE_HKEX_RATE", "100")
    settings = load_settings()
    with make_client("cninfo", settings) as cninfo:
        answer = cninfo.post(server.url + "/new/hisAnnouncement/query",
                             data={"pageNum": "1", "pageSize": "30", "seDate": "2024-01-02~2024-01-02"})
    with make_client("hkex", settings) as hkex:
        hkex.get(server.url + "/search/titleSearchServlet.do", params={"lang": "EN", "rowRange": "100"})
    assert answer.json()["totalAnnouncement"] == 0

    posted, searched = server.requests
    assert posted.form == {"pageNum": "1", "pageSize": "30", "seDate": "2024-01-02~2024-01-02"}
    assert posted.headers["x-requested-with"] == "XMLHttpRequest"
    assert posted.headers["origin"] == "https://www.cninfo.com.cn"
    assert posted.headers["user-agent"].startswith("Mozilla/5.0")
    assert searched.query == {"lang": "EN", "rowRange": "100"}
    assert searched.headers["referer"] == "https://www1.hkexnews.hk/search/titlesearch.xhtml?lang=en"
    assert searched.headers["x-requested-with"] == "XMLHttpRequest"


# --- HTML detection and the replay server itself -----------------------------------------------------


def test_looks_like_html_on_real_files(fixtures_dir):
    block_page = (fixtures_dir / "edgar/errors/sec_request_rate_threshold_exceeded.html").read_bytes()
    assert looks_like_html(block_page)
    assert looks_like_html((fixtures_dir / "edgar/listings/full-index_1993_QTR4.html").read_bytes())
    for relative, file in sec_fixture_map(fixtures_dir).items():
        if not relative.endswith("index.html"):
            assert not looks_like_html(file.read_bytes()), relative
    assert not looks_like_html((fixtures_dir / "edgar/api/company_tickers.json").read_bytes())


def test_sec_fixture_map_points_at_real_files(fixtures_dir):
    files = sec_fixture_map(fixtures_dir)
    assert "daily-index/2026/QTR1/master.20260102.idx" in files
    missing = [relative for relative, file in files.items() if not file.is_file()]
    assert missing == []


def test_replay_server_routes_head_and_unrouted(replay_server, fixtures_dir):
    server = replay_server(sec_archive_routes(fixtures_dir))
    listing = httpx.get(server.sec_base_url + "/daily-index/2018/QTR4/")
    head = httpx.head(server.sec_base_url + "/full-index/1993/QTR4/master.idx")
    missing = httpx.get(server.url + "/nowhere?x=1")
    assert listing.status_code == 200 and listing.headers["content-type"] == "text/html"
    assert b"Directory listing of daily-index/2018/QTR4/" in listing.content
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str((fixtures_dir / "edgar/full-index/1993/QTR4/master.idx").stat().st_size)
    assert missing.status_code == 404
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/Archives/edgar/daily-index/2018/QTR4/"),
        ("HEAD", "/Archives/edgar/full-index/1993/QTR4/master.idx"),
        ("GET", "/nowhere"),
    ]
    assert server.requests[2].query == {"x": "1"}


def test_make_client_reads_rate_and_block_handling_off_each_source(replay_server, fixtures_dir, monkeypatch):
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", UA)
    for variable, value in {"FILINGLAKE_SEC_RATE": "7", "FILINGLAKE_SEC_BLOCK_SECONDS": "42",
                            "FILINGLAKE_CNINFO_RATE": "3", "FILINGLAKE_HKEX_RATE": "2"}.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings()
    clients = {name: make_client(name, settings) for name in ("sec_edgar", "cninfo", "hkex")}
    assert {name: c.rate for name, c in clients.items()} == {"sec_edgar": 7.0, "cninfo": 3.0, "hkex": 2.0}
    assert {name: c.block_seconds for name, c in clients.items()} == {"sec_edgar": 42.0, "cninfo": 600.0,
                                                                     "hkex": 600.0}
    path = "/Archives/edgar/full-index/2016/QTR3/master.gz"
    server = replay_server(serve_error(sec_archive_routes(fixtures_dir), path, sec_block_page_reply(fixtures_dir)))
    for other in ("cninfo", "hkex"):
        with clients[other] as client_of_other:  # their detectors do not treat SEC's page as theirs
            assert client_of_other.get(server.url + path).status_code == 403
    with clients["sec_edgar"] as sec, pytest.raises(Blocked, match="Request Rate Threshold Exceeded") as raised:
        sec.get(server.url + path)  # SEC's own block detector, from the source
    assert raised.value.retry_after == 42.0
