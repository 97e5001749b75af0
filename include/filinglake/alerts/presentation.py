"""How an alert is handed on: as JSON for machines (XCom, webhooks) and with a readable title for people.

An alert keeps the filing's ``title`` exactly as filed (HKEX escapes punctuation: ``&#x3b;``) and its
decoded ``title_clean``; everything shown to people (notifications, ``filinglake alerts``, the status
page, the ``filinglake publish`` lines) uses :func:`display_title`.
"""

from __future__ import annotations

from datetime import date, datetime


def alert_json(alert: dict) -> dict:
    """An alert row with dates and times as ISO strings (XCom, webhooks, ``filinglake alerts --json``)."""
    return {key: value.isoformat() if isinstance(value, datetime | date) else value for key, value in alert.items()}


def display_title(alert: dict) -> str:
    """What people read for an alert's filing: ``title_clean`` (decoded), else the form type and filing id.

    The filed ``title`` stays stored as filed (HKEX escapes punctuation: ``&#x3b;``) and is not shown.
    """
    return alert.get("title_clean") or f"{alert.get('form_type') or 'filing'} {alert.get('filing_id')}"
