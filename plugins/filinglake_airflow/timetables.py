"""``MarketDayTimetable``: one run per market day, whose logical date **is** that day.

The daily ingest DAGs (``sec_edgar_daily``, ``cninfo_daily``, ``hkex_daily``) use it, built from their
source's :class:`filinglake.freshness.LandingSchedule` (time zone, market days, run time):

- logical date = 00:00 UTC of the market day's date, so the partition is ``logical_date.date()`` and
  ``airflow backfill create --from-date 2024-12-01 --to-date 2024-12-31`` selects exactly the market days
  1 … 31 December, whatever the source's time zone;
- ``run_after`` = the run time in the source's zone (SEC 23:30 ET the same day, CNINFO 00:30 Beijing and
  HKEX 02:00 Hong Kong the next day), which is also the data interval's end: a backfill (which skips
  intervals not yet over) never creates a run for a day before its run time;
- days that are not market days (SEC weekends) get no run.

``LocalCronTriggerTimetable`` / ``LocalCronDataIntervalTimetable``: Airflow's cron timetables whose
summary and description name their time zone (``30 8,12,16,19,22 * * * (Asia/Shanghai)``). The UI shows a
cron timetable's bare expression beside run times in UTC, so a local-time cron read as UTC hours.

A custom timetable must subclass Airflow core's ``Timetable`` and be registered by a plugin
(``plugins/filinglake_timetables.py``) so the scheduler can deserialise it. This module imports only
``airflow.timetables`` and pendulum, all light.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

from filinglake.freshness import LandingSchedule


def _pendulum(moment: datetime) -> pendulum.DateTime:
    return pendulum.instance(moment.astimezone(UTC))


class MarketDayTimetable(Timetable):
    """One run per market day of ``schedule``; logical date 00:00 UTC of the day, run after ``run_at`` local."""

    def __init__(self, timezone: str, market_days: tuple[int, ...] | list[int], run_at_seconds: int,
                 deadline_seconds: int) -> None:
        self.schedule = LandingSchedule(timezone, tuple(market_days), run_at=timedelta(seconds=run_at_seconds),
                                        deadline=timedelta(seconds=deadline_seconds))
        self.description = f"one run per market day: {self.schedule.describe()}"

    @classmethod
    def for_schedule(cls, schedule: LandingSchedule) -> MarketDayTimetable:
        return cls(schedule.timezone, schedule.market_days, int(schedule.run_at.total_seconds()),
                   int(schedule.deadline.total_seconds()))

    # serialisation (the scheduler rebuilds the timetable from this) ------------------------------------
    def serialize(self) -> dict[str, Any]:
        return {"timezone": self.schedule.timezone, "market_days": list(self.schedule.market_days),
                "run_at_seconds": int(self.schedule.run_at.total_seconds()),
                "deadline_seconds": int(self.schedule.deadline.total_seconds())}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MarketDayTimetable:
        return cls(data["timezone"], tuple(data["market_days"]), data["run_at_seconds"], data["deadline_seconds"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MarketDayTimetable) and self.schedule == other.schedule

    def __hash__(self) -> int:
        return hash(self.schedule)

    @property
    def summary(self) -> str:
        return self.description

    # runs ----------------------------------------------------------------------------------------------
    def info_for(self, day: date) -> DagRunInfo:
        """The run of market day ``day``: interval [00:00 UTC of the day, run time], run after the run time."""
        start = _pendulum(self.schedule.logical_date(day))
        end = _pendulum(self.schedule.run_time(day))
        return DagRunInfo(run_after=end, data_interval=DataInterval(start, end))

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        """A manual run's day: ``run_after`` at exactly 00:00 UTC of a market day is that day's logical date
        (``dag.test(logical_date=date)``, a trigger with a logical date); otherwise the latest market day
        whose run time has passed."""
        moment = run_after.astimezone(UTC)
        if moment.time() == datetime.min.time() and self.schedule.is_market_day(moment.date()):
            return self.info_for(moment.date()).data_interval
        day = self.schedule.latest_run_day(moment) or self.schedule.next_market_day(moment.date())
        return self.info_for(day).data_interval

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            day = last_automated_data_interval.start.astimezone(UTC).date() + timedelta(days=1)
        elif restriction.earliest is None:
            return None
        else:
            earliest = restriction.earliest.astimezone(UTC)
            day = earliest.date() if earliest.time() == datetime.min.time() else earliest.date() + timedelta(days=1)
        if not restriction.catchup:
            # catchup off, as a cron trigger does: skip ahead to the latest day whose run time has passed
            latest = self.schedule.latest_run_day(datetime.now(UTC))
            if latest is not None:
                day = max(day, latest)
        day = self.schedule.next_market_day(day)
        info = self.info_for(day)
        if restriction.latest is not None and info.logical_date > restriction.latest:
            return None
        return info


class _ZoneNamed:
    """Summary and description of a cron timetable with its time zone (the UI shows run times in UTC)."""

    _expression: str
    _timezone: Any
    description: str

    def _name_zone(self) -> None:
        zone = getattr(self._timezone, "name", str(self._timezone))
        self.description = f"{self.description} ({zone} time)" if self.description else f"{zone} time"

    @property
    def summary(self) -> str:
        return f"{self._expression} ({getattr(self._timezone, 'name', self._timezone)})"


class LocalCronTriggerTimetable(_ZoneNamed, CronTriggerTimetable):
    """``CronTriggerTimetable`` whose summary names the zone: ``0 9,13 * * * (Asia/Hong_Kong)``."""

    def __init__(self, cron: str, *, timezone: Any, **kwargs: Any) -> None:
        super().__init__(cron, timezone=timezone, **kwargs)
        self._name_zone()


class LocalCronDataIntervalTimetable(_ZoneNamed, CronDataIntervalTimetable):
    """``CronDataIntervalTimetable`` whose summary names the zone."""

    def __init__(self, cron: str, timezone: Any) -> None:
        super().__init__(cron, timezone)
        self._name_zone()
