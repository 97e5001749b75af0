"""Send new filing alerts: always to the task log, and to a webhook and/or by e-mail when configured.

Channels are Airflow connections, so secrets stay in Airflow (or its secrets backend):

- ``filinglake_alerts_webhook`` (type ``http``): JSON is POSTed to it. ``host`` may be a whole URL
  (``https://hooks.slack.com/services/T/B/X``) or a host name with ``schema`` (http/https), ``port``
  and ``extra.endpoint``; ``extra.headers`` are sent along, login/password as basic auth. The body is
  ``{"text": <summary>, "alerts": [...], "dag_id", "run_id"}`` (``text`` is what Slack, Mattermost
  and Teams-style incoming webhooks display). E.g.
  ``AIRFLOW_CONN_FILINGLAKE_ALERTS_WEBHOOK='{"conn_type": "http", "host": "https://hooks.example.com/x"}'``.
- ``filinglake_alerts_smtp`` (type ``smtp``): one e-mail per batch through the SMTP provider's
  hook; recipients from ``email_to`` or the connection's ``extra.to`` (comma-separated),
  sender from ``extra.from_email``.

A channel whose connection does not exist is skipped (logged once). A configured channel that
fails raises, so the task fails and Airflow retries it: run :func:`send_alerts` as its own task,
downstream of the task that raised the alerts and fed by its XCom, so a retry re-sends the same
alerts (``raise_alerts`` returns each alert only once, on the run that inserted it).
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

log = logging.getLogger(__name__)

WEBHOOK_CONN_ID = "filinglake_alerts_webhook"
SMTP_CONN_ID = "filinglake_alerts_smtp"


class NotificationError(RuntimeError):
    """A configured channel (webhook or e-mail) did not accept the alerts."""


def describe(alert: Mapping[str, Any]) -> str:
    """One line for people: entry, what matched, issuer, filing, date, link, document outcome."""
    # titles are kept as filed (HKEX escapes punctuation: "&#x3b;"); people read them unescaped
    what = html.unescape(alert.get("title") or "") or f"{alert.get('form_type') or 'filing'} {alert.get('filing_id')}"
    issuer = alert.get("company_name") or alert.get("issuer_id") or "?"
    if alert.get("ticker"):
        issuer = f"{issuer} ({alert['ticker']})"
    document = (f"document {alert['document_key']}" if alert.get("document_key")
                else f"document not captured: {alert.get('document_error') or 'no URL'}")
    return (f"[{alert.get('entry_name') or alert.get('entry_id')}] {alert.get('matched_on')}: {issuer} — {what} "
            f"({alert.get('source')}, {alert.get('filing_date')}) {alert.get('document_url') or ''}; {document}")


def summary_text(alerts: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"filinglake: {len(alerts)} new filing alert(s)"]
    lines += [f"• {describe(a)}" for a in alerts]
    return "\n".join(lines)


def _connection(conn_id: str | None) -> Any | None:
    if not conn_id:
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def webhook_url(conn: Any) -> str:
    """The URL an ``http`` connection points at (see the module docstring for the accepted shapes)."""
    host = (conn.host or "").strip()
    extra = conn.extra_dejson or {}
    endpoint = str(extra.get("endpoint") or "")
    if "://" in host:
        base = host
    else:
        if not host:
            raise NotificationError(f"connection {conn.conn_id!r} has no host")
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if endpoint:
        base = base.rstrip("/") + "/" + endpoint.lstrip("/")
    return base


class FilingAlertNotifier(BaseNotifier):
    """Log every alert; POST them to a webhook and/or e-mail them when those connections exist.

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

    # -- channels ----------------------------------------------------------------------------------
    def _post_webhook(self, conn: Any, context: Mapping[str, Any]) -> str:
        import httpx

        url = webhook_url(conn)
        extra = conn.extra_dejson or {}
        headers = {"Content-Type": "application/json", **{str(k): str(v) for k, v in (extra.get("headers") or {}).items()}}
        auth = (conn.login, conn.password or "") if conn.login else None
        payload = {
            "text": summary_text(self.alerts),
            "alerts": self.alerts,
            "dag_id": getattr(context.get("dag"), "dag_id", None) or context.get("dag_id"),
            "run_id": context.get("run_id"),
        }
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        try:
            response = httpx.post(url, content=body, headers=headers, auth=auth, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise NotificationError(f"webhook {conn.conn_id!r}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise NotificationError(f"webhook {conn.conn_id!r} answered HTTP {response.status_code}: "
                                    f"{response.text[:200]!r}")
        return url

    def _recipients(self, conn: Any) -> list[str]:
        wanted = self.email_to or (conn.extra_dejson or {}).get("to") or []
        if isinstance(wanted, str):
            wanted = wanted.split(",")
        return [address.strip() for address in wanted if address and address.strip()]

    def _send_email(self, conn: Any, recipients: list[str]) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        rows = "".join(f"<li>{html.escape(describe(a))}</li>" for a in self.alerts)
        subject = f"filinglake: {len(self.alerts)} new filing alert(s)"
        sender = (conn.extra_dejson or {}).get("from_email") or "filinglake@localhost"
        try:
            with SmtpHook(smtp_conn_id=conn.conn_id) as hook:
                hook.send_email_smtp(to=recipients, subject=subject, from_email=sender,
                                     html_content=f"<p>{html.escape(subject)}</p><ul>{rows}</ul>")
        except Exception as exc:
            raise NotificationError(f"e-mail through {conn.conn_id!r}: {type(exc).__name__}: {exc}") from exc

    # -- BaseNotifier ------------------------------------------------------------------------------
    def notify(self, context: Mapping[str, Any]) -> None:
        self.delivered = {"logged": len(self.alerts), "webhook": None, "email": None}
        if not self.alerts:
            log.info("filinglake alerts: nothing new")
            return
        for alert in self.alerts:
            log.warning("FILING ALERT %s", describe(alert))
        failures: list[str] = []

        webhook = _connection(self.webhook_conn_id)
        if webhook is None:
            log.info("filinglake alerts: no connection %r, webhook skipped", self.webhook_conn_id)
        else:
            try:
                self.delivered["webhook"] = self._post_webhook(webhook, context)
                log.info("filinglake alerts: %d posted to webhook %r", len(self.alerts), self.webhook_conn_id)
            except NotificationError as exc:
                failures.append(str(exc))

        smtp = _connection(self.smtp_conn_id)
        if smtp is None:
            log.info("filinglake alerts: no connection %r, e-mail skipped", self.smtp_conn_id)
        else:
            recipients = self._recipients(smtp)
            if not recipients:
                failures.append(f"e-mail through {self.smtp_conn_id!r}: no recipients (set email_to or extra.to)")
            else:
                try:
                    self._send_email(smtp, recipients)
                    self.delivered["email"] = recipients
                    log.info("filinglake alerts: e-mailed to %s", ", ".join(recipients))
                except NotificationError as exc:
                    failures.append(str(exc))
        if failures:
            raise NotificationError("; ".join(failures))


def send_alerts(alerts: Sequence[Mapping[str, Any]] | None, context: Mapping[str, Any] | None = None,
                **notifier_options: Any) -> dict[str, Any]:
    """Notify about ``alerts`` (the list ``filinglake.alerts.record.raise_alerts`` returned) from a task.

    Returns what was delivered: ``{"logged": n, "webhook": url | None, "email": [addresses] | None}``.
    Raises :class:`NotificationError` if a configured channel failed (the task retries and re-sends).
    """
    notifier = FilingAlertNotifier(alerts or [], **notifier_options)
    notifier.notify(dict(context or {}))
    return notifier.delivered
