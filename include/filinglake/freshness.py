"""When a source's daily partition is fetched and by when it should have landed: plain data, no Airflow.

Each daily source declares one :class:`LandingSchedule` (``Source.landing_schedule``). It is read by:

- the Airflow plugin (``filinglake_airflow.timetables.MarketDayTimetable``): one run per market day, its
  logical date **the market day itself** (00:00 UTC of that date, so ``airflow backfill create
  --from-date 2024-12-01 --to-date 2024-12-31`` selects exactly those days), run after ``run_at``;
- the DAG builder's deadline alert (the notifier is called when the partition is not landed by ``deadline``);
- the status page (:mod:`filinglake.report`): each source's expected landing time and whether its latest
  partition met it, from the manifests.

Times are wall-clock offsets from the market day's local midnight: ``timedelta(hours=30)`` is 06:00 local
time the next day, whatever the daylight-saving offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ALL_DAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _clock(offset: timedelta) -> str:
    """``timedelta(hours=30)`` → ``06:00 the next day``."""
    days, seconds = divmod(int(offset.total_seconds()), 86400)
    clock = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return clock if days == 0 else f"{clock} the next day" if days == 1 else f"{clock} +{days} days"


@dataclass(frozen=True)
class LandingSchedule:
    """One run per market day in ``timezone``, fired at ``run_at``; the partition is due by ``deadline``."""

    timezone: str
    #: the days with a partition (Monday = 0); others get no scheduled run
    market_days: tuple[int, ...]
    #: when the day's (final) run fires, after the source's last posting of the day
    run_at: timedelta
    #: by when the partition should have landed
    deadline: timedelta

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone fails at import, not at the first run
        if not self.market_days or not set(self.market_days) <= set(ALL_DAYS):
            raise ValueError(f"market_days must be weekday numbers 0..6, got {self.market_days!r}")
        if not timedelta(0) <= self.run_at < self.deadline:
            raise ValueError(f"run_at {self.run_at} must be before the deadline {self.deadline}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_market_day(self, day: date) -> bool:
        return day.weekday() in self.market_days

    def local(self, day: date, offset: timedelta) -> datetime:
        """The aware moment ``offset`` of local wall-clock time after ``day``'s local midnight."""
        return (datetime.combine(day, time()) + offset).replace(tzinfo=self.zone)

    def run_time(self, day: date) -> datetime:
        return self.local(day, self.run_at)

    def deadline_time(self, day: date) -> datetime:
        return self.local(day, self.deadline)

    @staticmethod
    def logical_date(day: date) -> datetime:
        """A market day's logical date: 00:00 UTC of that date (what bare backfill bounds mean)."""
        return datetime.combine(day, time(), tzinfo=UTC)

    def next_market_day(self, day: date) -> date:
        """``day`` itself if it is a market day, else the next one."""
        while not self.is_market_day(day):
            day += timedelta(days=1)
        return day

    def latest_run_day(self, moment: datetime) -> date | None:
        """The latest market day whose run time is at or before ``moment`` (a manual run's day)."""
        day = moment.astimezone(self.zone).date()
        for _ in range(10):
            if self.is_market_day(day) and self.run_time(day) <= moment:
                return day
            day -= timedelta(days=1)
        return None

    def latest_due_day(self, now: datetime) -> date | None:
        """The latest market day whose deadline has passed at ``now``: its partition should be there."""
        day = now.astimezone(self.zone).date()
        for _ in range(10):
            if self.is_market_day(day) and self.deadline_time(day) <= now:
                return day
            day -= timedelta(days=1)
        return None

    def deadline_after_logical_date(self) -> timedelta:
        """The longest wall-clock gap from a logical date to the deadline over a year (daylight saving).

        A deadline alert counts a fixed interval from the logical date (00:00 UTC of the market day); taking
        the longest gap means the alert never fires before the local deadline (in a zone with daylight
        saving it may fire up to the DST shift after it).
        """
        probes = (date(2025, 1, 15) + timedelta(days=d) for d in range(0, 365, 7))
        return max(self.deadline_time(day) - self.logical_date(day) for day in probes)

    def describe(self) -> str:
        days = ("every day" if set(self.market_days) == set(ALL_DAYS)
                else ", ".join(_DAY_NAMES[d] for d in sorted(self.market_days)))
        return (f"{days}; runs {_clock(self.run_at)}, lands by {_clock(self.deadline)} ({self.timezone})")
