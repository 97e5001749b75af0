"""Which partition a DAG run ingests: pure functions of the run's date (no Airflow import).

The daily DAGs (``MarketDayTimetable``) give each run the market day itself as logical date (00:00 UTC of
that date): rule ``market_day`` is that date, in every source's time zone. The cron-scheduled DAGs
(quarterly, the intraday refreshes) convert the run's time to the source's calendar day: SEC rules to
the US-Eastern day, CNINFO's and HKEX's to the Beijing / Hong Kong day.

Rules are looked up by name (``PARTITION_RULES``) so a DAG file says ``partition_rule="cninfo_day"``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

US_EASTERN = ZoneInfo("America/New_York")


def eastern_day(moment: datetime) -> date:
    """The US-Eastern calendar day of an aware datetime (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(US_EASTERN).date()


def quarter_id(day: date) -> str:
    """``YYYYQn``: the calendar quarter containing ``day``."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def market_day(moment: datetime) -> str:
    """The market day a ``MarketDayTimetable`` run lands: the UTC date of its logical date."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo("UTC")).date().isoformat()


def sec_quarter(moment: datetime) -> str:
    """The quarter containing the run's US-Eastern day."""
    return quarter_id(eastern_day(moment))


def sec_quarter_of_previous_day(moment: datetime) -> str:
    """The quarter containing the US-Eastern day *before* the run.

    A refresh that fires early on the 1st of a quarter then re-pulls the quarter that just ended
    (whose last day was posted the evening before), not the new, empty one.
    """
    return quarter_id(eastern_day(moment) - timedelta(days=1))


def day_in(timezone: str) -> Callable[[datetime], str]:
    """A daily rule for another market: the run's calendar day in ``timezone`` (e.g. ``Asia/Shanghai``)."""
    zone = ZoneInfo(timezone)

    def rule(moment: datetime) -> str:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(zone).date().isoformat()

    rule.__name__ = f"day_in_{timezone.replace('/', '_')}"
    return rule


def local_day_before(moment: datetime, zone: ZoneInfo, window: timedelta) -> str:
    """The calendar day in ``zone`` of ``moment - window`` (naive datetimes are taken as UTC).

    Computed from the POSIX timestamp on purpose: Airflow hands tasks pendulum DateTimes, and pendulum's
    arithmetic on one converted to a zoneinfo zone drops the zone and works in UTC (09:00 Hong Kong
    minus 3 h came out as 22:00 the previous day), which made the morning runs ingest yesterday.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return datetime.fromtimestamp(moment.timestamp() - window.total_seconds(), zone).date().isoformat()


BEIJING = ZoneInfo("Asia/Shanghai")
#: CNINFO runs in the first hour after Beijing midnight close the previous day instead of opening the new one
CNINFO_FINAL_RUN_WINDOW = timedelta(hours=1)


def cninfo_day(moment: datetime) -> str:
    """The Beijing day a ``cninfo_intraday`` run re-ingests: its own day, or the previous one before 01:00.

    Intraday runs re-ingest the day so far; the day's final run is ``cninfo_daily``'s (rule ``market_day``).
    """
    return local_day_before(moment, BEIJING, CNINFO_FINAL_RUN_WINDOW)


HONG_KONG = ZoneInfo("Asia/Hong_Kong")
#: HKEX runs in the first three hours after Hong Kong midnight close the previous day (filings run to ~23:00)
HKEX_FINAL_RUN_WINDOW = timedelta(hours=3)


def hkex_day(moment: datetime) -> str:
    """The Hong Kong day an ``hkex_intraday`` run re-ingests: its own day, or the previous one before 03:00.

    The DAG appends the language streams (``-en``, ``-zh``) to this day.
    """
    return local_day_before(moment, HONG_KONG, HKEX_FINAL_RUN_WINDOW)


PARTITION_RULES: dict[str, Callable[[datetime], str]] = {
    "market_day": market_day,
    "sec_quarter": sec_quarter,
    "sec_quarter_of_previous_day": sec_quarter_of_previous_day,
    "cninfo_day": cninfo_day,
    "hkex_day": hkex_day,
}


PartitionRule = str | Callable[[datetime], str]


def partition_for_run(rule: PartitionRule, moment: datetime, override: str | None = None) -> str:
    """The partition id for a run: ``override`` (a manual rerun's ``partition`` param) wins.

    ``rule`` is a name from ``PARTITION_RULES`` or a function of the run's logical date.
    """
    if override is not None and str(override).strip():
        return str(override).strip()
    if callable(rule):
        return rule(moment)
    try:
        return PARTITION_RULES[rule](moment)
    except KeyError:
        raise ValueError(f"unknown partition rule {rule!r}; known: {', '.join(sorted(PARTITION_RULES))}") from None
