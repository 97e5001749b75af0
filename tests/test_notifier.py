"""The alert notifier: log lines, the HTTP provider's notifier to a webhook, the SMTP provider's to a mail server.

Webhook and mail servers are local (127.0.0.1) and stopped by the test. Titles come from the real
HKEXnews fixture, whose titles escape punctuation as HTML entities.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import hkex as hkex_fake
from fakes.replay import Reply

from filinglake.sources import hkex
from filinglake_airflow.notifier import NotificationError, describe, send_alerts

ALERT = {
    "alert_id": "a" * 64, "entry_id": "dahua-xinjiang", "entry_name": "Dahua mentions Xinjiang",
    "matched_on": "ticker:002236.SZ & word:新疆", "filing_id": "cninfo:1219000000", "issuer_id": "gssz0002236",
    "source": "cninfo", "exchange": "SZSE", "ticker": "002236.SZ", "company_name": "大华股份",
    "title": "关于终止新疆项目的公告", "form_type": None, "filing_date": "2024-12-23",
    "document_url": "https://static.cninfo.com.cn/finalpage/2024-12-23/1219000000.PDF",
    "alerted_at": "2024-12-23T10:00:00+00:00", "document_key": None, "document_sha256": None,
    "document_bytes": None, "document_content_type": None, "document_error": "HTTP 404",
}


@pytest.fixture
def notifier_log() -> Iterator[list[str]]:
    """Messages of the notifier's logger (Airflow reroutes logging, so caplog's root handler misses them)."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("filinglake_airflow.notifier")
    handler, level = Keep(level=logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def no_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_SMTP", raising=False)


def test_webhook_goes_through_the_http_provider(replay_server, monkeypatch, notifier_log, no_channels):
    server = replay_server({("POST", "/hooks/filings"): Reply(status=200, body=b"ok")})
    # HttpHook's conventions: host is the whole URL, every extra key is a header
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": server.url + "/hooks/filings", "extra": {"X-Token": "t0k"}}))
    delivered = send_alerts([ALERT], {"run_id": "manual__1"})

    assert delivered["webhook"] == server.url + "/hooks/filings"
    assert delivered["email"] is None  # no SMTP connection: skipped, not an error
    [request] = server.requests_to("/hooks/filings", "POST")
    assert request.headers["x-token"] == "t0k"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["run_id"] == "manual__1"
    assert body["alerts"][0]["alert_id"] == ALERT["alert_id"]
    assert body["text"].startswith("filinglake: 1 new filing alert(s)\n• [Dahua mentions Xinjiang]")
    assert "关于终止新疆项目的公告" in body["text"]
    assert any("FILING ALERT" in m and "关于终止新疆项目的公告" in m for m in notifier_log)


def test_webhook_failure_raises_so_the_task_retries(replay_server, monkeypatch, no_channels):
    server = replay_server({("POST", "/hook"): Reply(status=500, body=b"boom")})
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK",
                       json.dumps({"conn_type": "http", "host": server.url + "/hook"}))
    with pytest.raises(NotificationError, match="'filinglake_alerts_webhook' refused the alerts: .*500"):
        send_alerts([ALERT], {})
    assert len(server.requests_to("/hook", "POST")) == 1


def test_titles_shown_to_people_are_the_clean_decoded_ones(fixtures_dir: Path):
    rows = hkex.rows_to_table(hkex_fake.fixture_rows(fixtures_dir), "en").to_pylist()
    escaped = next(r for r in rows if "&#x3b;" in (r["title"] or ""))
    wrapped = next(r for r in rows if "\n" in (r["title"] or ""))  # HKEX titles keep the filer's line breaks
    for row in (escaped, wrapped):
        line = describe({**ALERT, **row, "document_key": "raw/documents/x.pdf"})
        assert row["title_clean"] and row["title_clean"] in line
        assert "&#x" not in line and "\n" not in line  # one line per alert, as people read it
        assert line.endswith("; document raw/documents/x.pdf")
    # an alert without title_clean still reads unescaped
    without = describe({**ALERT, "title": escaped["title"], "title_clean": None})
    assert "&#x" not in without and escaped["title_clean"] in without


def test_notifier_only_logs_without_connections(notifier_log, no_channels):
    assert send_alerts([ALERT, {**ALERT, "alert_id": "b" * 64}], {}) == {"logged": 2, "webhook": None, "email": None}
    assert sum("FILING ALERT" in m for m in notifier_log) == 2
    assert send_alerts([], {}) == {"logged": 0, "webhook": None, "email": None}


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greets, accepts MAIL/RCPT, stores DATA."""

    def handle(self) -> None:
        self.wfile.write(b"220 127.0.0.1 test SMTP\r\n")
        lines: list[bytes] = []
        in_data = False
        while line := self.rfile.readline():
            if in_data:
                if line.rstrip(b"\r\n") == b".":
                    self.server.messages.append(b"".join(lines))
                    lines, in_data = [], False
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"RCPT":
                self.server.recipients.append(line.decode().strip())
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 127.0.0.1\r\n")
            elif verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 end with .\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages, server.recipients = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def smtp_connection(server: socketserver.ThreadingTCPServer, **extra) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
                       "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, **extra}})


def test_email_goes_through_the_smtp_provider(monkeypatch, smtp_server, no_channels):
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_SMTP", smtp_connection(
        smtp_server, from_email="filinglake@example.com", to="ops@example.com, desk@example.com"))
    delivered = send_alerts([ALERT], {})

    assert delivered["email"] == ["ops@example.com", "desk@example.com"]
    assert len(smtp_server.messages) == 1
    assert [r.split(":", 1)[1].strip(" <>") for r in smtp_server.recipients] == ["ops@example.com", "desk@example.com"]
    message = smtp_server.messages[0]
    assert b"Subject: filinglake: 1 new filing alert(s)" in message
    assert b"From: filinglake@example.com" in message


def test_email_without_recipients_or_sender_fails_loudly(monkeypatch, smtp_server, no_channels):
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_SMTP", smtp_connection(smtp_server, from_email="a@example.com"))
    with pytest.raises(NotificationError, match="no recipients"):
        send_alerts([ALERT], {})
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_SMTP", smtp_connection(smtp_server, to="ops@example.com"))
    with pytest.raises(NotificationError, match="from_email"):
        send_alerts([ALERT], {})
    assert smtp_server.messages == []


# --- the deadline alert's callback --------------------------------------------------------------------


class _Log:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, *args, **kwargs) -> None: ...

    def info(self, *args, **kwargs) -> None: ...

    def exception(self, message, **kwargs) -> None:
        self.errors.append(f"{message}: {kwargs.get('error_msg')}")


def _deadline_context(run_type: str) -> dict:
    """What the scheduler passes a missed deadline's callback (airflow.models.deadline.Deadline.handle_miss)."""
    return {"dag_run": {"dag_run_id": f"{run_type}__2026-01-05T00:00:00+00:00", "dag_id": "sec_edgar_daily",
                        "logical_date": "2026-01-05T00:00:00Z", "run_type": run_type, "state": "running"},
            "deadline": {"id": "d1", "deadline_time": "2026-01-06T11:00:00+00:00"}}


def _run_deadline_callback(dag_id: str, run_type: str) -> _Log:
    """Run the daily DAG's deadline callback the way Airflow's callback runner does (path + kwargs + context)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    dags = Path(__file__).resolve().parents[1] / "dags"
    (alert,) = DagBag(dag_folder=str(dags / f"{dag_id}.py")).dags[dag_id].deadline
    log = _Log()
    ok, error = execute_callback(alert.callback.path, {**alert.callback.kwargs, "context": _deadline_context(run_type)},
                                 dags, None, log)
    assert ok, (error, log.errors)
    return log


def test_a_late_scheduled_partition_is_posted_to_the_webhook(replay_server, monkeypatch, notifier_log, no_channels):
    server = replay_server({("POST", "/hooks/late"): Reply(status=200, body=b"ok")})
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK",
                       json.dumps({"conn_type": "http", "host": server.url + "/hooks/late"}))
    _run_deadline_callback("sec_edgar_daily", "scheduled")

    [request] = server.requests_to("/hooks/late", "POST")
    body = request.json()
    assert body["text"].startswith("filinglake: sec_edgar partition 2026-01-05 is late")
    assert "had not landed by 2026-01-06T11:00:00+00:00" in body["text"]
    assert "lands by 06:00 the next day (America/New_York)" in body["text"]  # from SecEdgar.landing_schedule
    assert body["late_partition"]["partition"] == "2026-01-05" and body["late_partition"]["source"] == "sec_edgar"
    assert any(m.startswith("LATE PARTITION sec_edgar 2026-01-05") for m in notifier_log)


def test_backfill_and_manual_runs_past_their_deadline_are_not_reported(replay_server, monkeypatch, notifier_log,
                                                                       no_channels):
    server = replay_server({("POST", "/hooks/late"): Reply(status=200, body=b"ok")})
    monkeypatch.setenv("AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK",
                       json.dumps({"conn_type": "http", "host": server.url + "/hooks/late"}))
    for run_type in ("backfill", "manual"):
        _run_deadline_callback("hkex_daily", run_type)
    assert server.requests_to("/hooks/late", "POST") == []
    assert not any(m.startswith("LATE PARTITION") for m in notifier_log)


def test_a_deadline_callback_refused_its_connections_still_reports_the_late_partition(monkeypatch, notifier_log,
                                                                                      no_channels):
    """Airflow 3.3's Execution API refuses a deadline callback every connection (it has no task identity).

    Seen on the stack test's real Celery workers: the refusal used to escape ``_connection`` and fail the callback
    after the LATE PARTITION line. Now the channel is skipped with an error naming the fix (the worker's
    environment), and the callback succeeds. The stack test proves the environment path end to end.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    def refuse(conn_id: str):
        raise AirflowSecretsBackendAccessDenied(f"Access denied for connection {conn_id!r} by Execution API")

    monkeypatch.setattr(BaseHook, "get_connection", staticmethod(refuse))
    _run_deadline_callback("sec_edgar_daily", "scheduled")
    assert any(m.startswith("LATE PARTITION sec_edgar 2026-01-05") for m in notifier_log)
    refused = [m for m in notifier_log if "is out of reach here" in m]
    assert len(refused) == 2 and "set AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK" in refused[0]
    assert "AIRFLOW_CONN_FILINGLAKE_ALERTS_SMTP" in refused[1]
