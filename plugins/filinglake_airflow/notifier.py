"""Send new filing alerts: always to the task log, and to a webhook and/or by e-mail when configured.

The channels are the providers' own notifiers, configured by Airflow connections (secrets stay in
Airflow or its secrets backend); this module only writes the message:

- ``filinglake_alerts_webhook`` (type ``http``) → the HTTP provider's ``HttpNotifier`` POSTs
  ``{"text": <summary>, "alerts": [...], "dag_id", "run_id"}`` as JSON (``text`` is what Slack,
  Mattermost and Teams-style incoming webhooks display). The connection follows ``HttpHook``'s
  conventions: ``host`` is the whole URL (or a host name with ``schema`` and ``port``), every
  ``extra`` key is sent as a header, login/password as basic auth. E.g.
  ``AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK='{"conn_type": "http", "host": "https://hooks.example.com/x"}'``.
- ``filinglake_alerts_smtp`` (type ``smtp``) → the SMTP provider's ``SmtpNotifier``: one e-mail per
  batch; recipients from ``email_to`` or the connection's ``extra.to`` (comma-separated), sender from
  the connection's ``extra.from_email`` (the SMTP provider's own field).

A channel whose connection does not exist is skipped (logged). A deadline callback (``LatePartitionNotifier``)
runs without a task's identity, and Airflow 3.3's Execution API refuses it every connection
(``AirflowSecretsBackendAccessDenied``): it sees only connections the worker itself resolves —
``AIRFLOW_CONN_*`` environment variables or a secrets backend configured on the worker, never the metadata
database. Such a refused channel is skipped with an error line naming that fix. A configured channel that fails
raises :class:`NotificationError`, so the task fails and Airflow retries it: run :func:`send_alerts`
as its own task, fed by the XCom of the tasks that recorded the alerts, so a retry re-sends the same
alerts (each alert is returned only once, by the run that recorded it).

Titles are shown to people as ``title_clean`` (markup and HTML entities removed at parse time),
falling back to the title as filed with its HTML entities decoded (HKEX escapes ``;`` as ``&#x3b;``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

try:  # Airflow 3.3: the Execution API's authoritative "no" (deadline callbacks have no task identity)
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
except ImportError:  # pragma: no cover - older task SDKs fall through to "not found"
    class AirflowSecretsBackendAccessDenied(PermissionError):  # type: ignore[no-redef]
        pass

log = logging.getLogger(__name__)

WEBHOOK_CONN_ID = "filinglake_alerts_webhook"
SMTP_CONN_ID = "filinglake_alerts_smtp"


class NotificationError(RuntimeError):
    """A configured channel (webhook or e-mail) did not accept the alerts."""


def display_title(alert: Mapping[str, Any]) -> str:
    """The title people read: ``title_clean`` if the row has one, else the filed title unescaped."""
    return html.unescape(alert.get("title_clean") or alert.get("title") or "")


def describe(alert: Mapping[str, Any]) -> str:
    """One line for people: entry, what matched, issuer, filing, date, link, document outcome."""
    what = display_title(alert) or f"{alert.get('form_type') or 'filing'} {alert.get('filing_id')}"
    issuer = alert.get("company_name") or alert.get("issuer_id") or "?"
    if alert.get("ticker"):
        issuer = f"{issuer} ({alert['ticker']})"
    document = (f"document {alert['document_key']}" if alert.get("document_key")
                else f"document not captured: {alert.get('document_error') or 'no URL'}")
    return (f"[{alert.get('entry_name') or alert.get('entry_id')}] {alert.get('matched_on')}: {issuer} — {what} "
            f"({alert.get('source')}, {alert.get('filing_date')}) {alert.get('document_url') or ''}; {document}")


def subject(alerts: Sequence[Mapping[str, Any]]) -> str:
    return f"filinglake: {len(alerts)} new filing alert(s)"


def summary_text(alerts: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join([subject(alerts)] + [f"• {describe(a)}" for a in alerts])


def _connection(conn_id: str | None) -> Any | None:
    if not conn_id:
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    except AirflowSecretsBackendAccessDenied as exc:
        # A deadline callback: the Execution API lends it no connection. Only the worker's own
        # environment (AIRFLOW_CONN_<ID>) or secrets backend can give it one.
        log.error("filinglake alerts: connection %r is out of reach here (%s); a deadline alert reads it only from "
                  "the worker's environment: set AIRFLOW_CONN_%s (or a secrets backend) on every worker",
                  conn_id, exc, conn_id.upper())
        return None


def recipients(conn: Any, email_to: str | Sequence[str] | None = None) -> list[str]:
    """``email_to`` if given, else the SMTP connection's ``extra.to`` (comma-separated)."""
    wanted = email_to or (conn.extra_dejson or {}).get("to") or []
    if isinstance(wanted, str):
        wanted = wanted.split(",")
    return [address.strip() for address in wanted if address and address.strip()]


class FilingAlertNotifier(BaseNotifier):
    """Log every alert; hand them to ``HttpNotifier`` and/or ``SmtpNotifier`` when those connections exist.

    Usable as a callback (``on_success_callback=FilingAlertNotifier(alerts)``) or directly
    (``FilingAlertNotifier(alerts).notify(context)``); :func:`send_alerts` is the task-friendly form.
    """

    def __init__(
        self,
        alerts: Sequence[Mapping[str, Any]] | None = None,
        *,
        webhook_conn_id: str | None = WEBHOOK_CONN_ID,
        smtp_conn_id: str | None = SMTP_CONN_ID,
        email_to: str | Sequence[str] | None = None,
        timeout: float = 15.0,
    ):
        super().__init__()
        self.alerts = [dict(a) for a in (alerts or [])]
        self.webhook_conn_id = webhook_conn_id
        self.smtp_conn_id = smtp_conn_id
        self.email_to = email_to
        self.timeout = timeout
        self.delivered: dict[str, Any] = {}

    def _post_webhook(self, context: Mapping[str, Any]) -> str:
        from airflow.providers.http.notifications.http import HttpNotifier

        payload = {
            "text": self.text(),
            **self.payload_items(),
            "dag_id": getattr(context.get("dag"), "dag_id", None) or context.get("dag_id"),
            "run_id": context.get("run_id"),
        }
        notifier = HttpNotifier(http_conn_id=self.webhook_conn_id, json=payload,
                                extra_options={"timeout": self.timeout})
        try:
            notifier.notify(dict(context))
        except Exception as exc:  # HttpHook: AirflowException "500:Internal Server Error", requests errors
            raise NotificationError(f"webhook {self.webhook_conn_id!r} refused the alerts: "
                                    f"{type(exc).__name__}: {exc}") from exc
        return notifier.hook.url_from_endpoint(None)

    def _send_email(self, to: list[str], context: Mapping[str, Any]) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        rows = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines())
        title = self.title()
        notifier = SmtpNotifier(to=to, subject=title, smtp_conn_id=self.smtp_conn_id,
                                html_content=f"<p>{html.escape(title)}</p><ul>{rows}</ul>")
        try:
            notifier.notify(dict(context))
        except Exception as exc:
            raise NotificationError(f"e-mail through {self.smtp_conn_id!r}: {type(exc).__name__}: {exc}") from exc

    # what is sent (a subclass sends something else through the same channels) ---------------------
    def title(self) -> str:
        return subject(self.alerts)

    def lines(self) -> list[str]:
        return [describe(a) for a in self.alerts]

    def text(self) -> str:
        return "\n".join([self.title()] + [f"• {line}" for line in self.lines()])

    def payload_items(self) -> dict[str, Any]:
        return {"alerts": self.alerts}

    def notify(self, context: Mapping[str, Any]) -> None:
        self.delivered = {"logged": len(self.alerts), "webhook": None, "email": None}
        if not self.alerts:
            log.info("filinglake alerts: nothing new")
            return
        for alert in self.alerts:
            log.warning("FILING ALERT %s", describe(alert))
        self._deliver(context)

    def _deliver(self, context: Mapping[str, Any]) -> None:
        failures: list[str] = []

        if _connection(self.webhook_conn_id) is None:
            log.info("filinglake alerts: no connection %r, webhook skipped", self.webhook_conn_id)
        else:
            try:
                self.delivered["webhook"] = self._post_webhook(context)
                log.info("filinglake alerts: %d posted to webhook %r", len(self.alerts), self.webhook_conn_id)
            except NotificationError as exc:
                failures.append(str(exc))

        smtp = _connection(self.smtp_conn_id)
        if smtp is None:
            log.info("filinglake alerts: no connection %r, e-mail skipped", self.smtp_conn_id)
        elif not (to := recipients(smtp, self.email_to)):
            failures.append(f"e-mail through {self.smtp_conn_id!r}: no recipients (set email_to or extra.to)")
        else:
            try:
                self._send_email(to, context)
                self.delivered["email"] = to
                log.info("filinglake alerts: e-mailed to %s", ", ".join(to))
            except NotificationError as exc:
                failures.append(str(exc))
        if failures:
            raise NotificationError("; ".join(failures))


class LatePartitionNotifier(FilingAlertNotifier):
    """A daily partition missed its landing deadline: say so in the log, on the webhook and by e-mail.

    The ``DeadlineAlert`` of every daily ingest DAG calls it (``SyncCallback``: built with the kwargs
    below, then called with the scheduler's context ``{"dag_run": {...}, "deadline": {...}}``). Only
    scheduled runs are reported: a backfill or manual run of an old day is past its deadline from the
    moment it is created, which says nothing about freshness.
    """

    def __init__(self, source: str = "", expected: str = "", context: Mapping[str, Any] | None = None,
                 **channels: Any):
        # Airflow's callback runner hands ``context`` to the constructor too (it accepts **kwargs), then
        # calls the instance with it: the call is what notifies.
        super().__init__([], **channels)
        self.source = source
        self.expected = expected
        self.late: dict[str, Any] = {}

    def title(self) -> str:
        return f"filinglake: {self.source} partition {self.late.get('partition')} is late"

    def lines(self) -> list[str]:
        return [f"{self.source} {self.late.get('partition')} had not landed by {self.late.get('deadline_time')} "
                f"(expected {self.expected}); DAG {self.late.get('dag_id')}, run {self.late.get('run_id')} "
                f"is {self.late.get('state')}"]

    def payload_items(self) -> dict[str, Any]:
        return {"late_partition": {"source": self.source, "expected": self.expected, **self.late}}

    def notify(self, context: Mapping[str, Any]) -> None:
        run = dict(context.get("dag_run") or {})
        logical = str(run.get("logical_date") or "")
        self.late = {"partition": logical[:10] or None, "dag_id": run.get("dag_id"),
                     "run_id": run.get("dag_run_id") or run.get("run_id"), "state": run.get("state"),
                     "deadline_time": str((context.get("deadline") or {}).get("deadline_time") or "")}
        self.delivered = {"logged": 0, "webhook": None, "email": None}
        if run.get("run_type") not in (None, "scheduled"):
            log.info("filinglake: %s run %s passed its deadline; not reported (only scheduled runs are)",
                     run.get("run_type"), self.late["run_id"])
            return
        log.warning("LATE PARTITION %s", self.lines()[0])
        self.delivered["logged"] = 1
        self._deliver(context)


def send_alerts(alerts: Sequence[Mapping[str, Any]] | None, context: Mapping[str, Any] | None = None,
                **notifier_options: Any) -> dict[str, Any]:
    """Notify about ``alerts`` (the lists the alerts tasks returned, flattened) from a task.

    Returns what was delivered: ``{"logged": n, "webhook": url | None, "email": [addresses] | None}``.
    Raises :class:`NotificationError` if a configured channel failed (the task retries and re-sends).
    """
    notifier = FilingAlertNotifier(alerts or [], **notifier_options)
    notifier.notify(dict(context or {}))
    return notifier.delivered
