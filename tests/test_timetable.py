"""The daily DAGs' ``MarketDayTimetable``: logical date = the market day, so backfill bounds mean what they say.

Backfill ranges go through the same path as ``airflow backfill create`` (the serialised DAG's
``iter_dagrun_infos_between`` then the "interval over" filter of ``airflow.models.backfill._get_info_list``),
so a serialisation or plugin-registration mistake fails here, not in the scheduler.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.timetables.base import DataInterval, TimeRestriction

from filinglake.freshness import ALL_DAYS, WEEKDAYS, LandingSchedule
from filinglake.sources import get_source
from filinglake_airflow.ingest import run_partition
from filinglake_airflow.partitions import market_day
from filinglake_airflow.timetables import MarketDayTimetable

ET = ZoneInfo("America/New_York")
BEIJING = ZoneInfo("Asia/Shanghai")
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
DAILY = {"sec_edgar_daily": "sec_edgar", "cninfo_daily": "cninfo", "hkex_daily": "hkex"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    from conftest import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def backfill_partitions(dag, from_date: datetime, to_date: datetime) -> list[str]:
    """What `airflow backfill create --from-date --to-date` would land (Airflow's own selection code)."""
    from airflow.models.backfill import _get_info_list
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    assert isinstance(serialized.timetable, MarketDayTimetable)  # the plugin registration round trip
    infos = _get_info_list(from_date=from_date, to_date=to_date, reverse=False, dag=serialized)
    return [market_day(info.logical_date) for info in infos]


def december_days(*weekdays: int) -> list[str]:
    days = [date(2024, 12, 1) + timedelta(days=n) for n in range(31)]
    return [d.isoformat() for d in days if d.weekday() in weekdays]


def test_daily_dags_use_the_one_market_day_timetable(dagbag: DagBag) -> None:
    for dag_id, source in DAILY.items():
        dag = dagbag.dags[dag_id]
        assert type(dag.timetable) is MarketDayTimetable, dag_id
        assert dag.timetable.schedule == get_source(source).landing_schedule, dag_id
    assert dagbag.dags["sec_edgar_daily"].timetable.schedule.market_days == WEEKDAYS
    assert dagbag.dags["cninfo_daily"].timetable.schedule.market_days == ALL_DAYS


@pytest.mark.parametrize(("dag_id", "expected"), [
    ("sec_edgar_daily", december_days(*WEEKDAYS)),
    ("cninfo_daily", december_days(*ALL_DAYS)),
    ("hkex_daily", december_days(*ALL_DAYS)),
])
def test_bare_backfill_bounds_land_exactly_the_market_days(dagbag: DagBag, dag_id: str, expected: list[str]) -> None:
    # `airflow backfill create --from-date 2024-12-01 --to-date 2024-12-31`: bare dates are UTC midnights
    got = backfill_partitions(dagbag.dags[dag_id], datetime(2024, 12, 1, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC))
    assert got == expected
    assert len(got) == (22 if dag_id == "sec_edgar_daily" else 31)


def test_one_day_backfill_lands_that_day(dagbag: DagBag) -> None:
    day = datetime(2018, 12, 31, tzinfo=UTC)
    assert backfill_partitions(dagbag.dags["sec_edgar_daily"], day, day) == ["2018-12-31"]
    assert backfill_partitions(dagbag.dags["hkex_daily"], day, day) == ["2018-12-31"]
    saturday = datetime(2018, 12, 29, tzinfo=UTC)
    assert backfill_partitions(dagbag.dags["sec_edgar_daily"], saturday, saturday) == []  # SEC: no weekend runs
    assert backfill_partitions(dagbag.dags["cninfo_daily"], saturday, saturday) == ["2018-12-29"]  # every day


def test_runs_fire_after_the_local_posting_time() -> None:
    sec = MarketDayTimetable.for_schedule(get_source("sec_edgar").landing_schedule)
    # Monday 31 December 2018 (EST): logical date 00:00 UTC that day, fired at 23:30 ET = 04:30 UTC on 1 January
    info = sec.next_dagrun_info(last_automated_data_interval=None,
                                restriction=TimeRestriction(datetime(2018, 12, 29, tzinfo=UTC), None, True))
    assert info.logical_date == datetime(2018, 12, 31, tzinfo=UTC)
    assert info.run_after == datetime(2018, 12, 31, 23, 30, tzinfo=ET) == datetime(2019, 1, 1, 4, 30, tzinfo=UTC)
    # in summer time the same wall clock: 23:30 EDT = 03:30 UTC
    summer = sec.info_for(date(2024, 7, 1))
    assert summer.run_after == datetime(2024, 7, 2, 3, 30, tzinfo=UTC)
    # after Friday comes Monday
    friday = DataInterval(datetime(2024, 12, 20, tzinfo=UTC), datetime(2024, 12, 21, 4, 30, tzinfo=UTC))
    monday = sec.next_dagrun_info(last_automated_data_interval=friday,
                                  restriction=TimeRestriction(datetime(2024, 1, 1, tzinfo=UTC), None, True))
    assert monday.logical_date == datetime(2024, 12, 23, tzinfo=UTC)
    # CNINFO's day closes at 00:30 Beijing the next day, HKEX's at 02:00 Hong Kong the next day
    cninfo = MarketDayTimetable.for_schedule(get_source("cninfo").landing_schedule)
    assert cninfo.info_for(date(2024, 12, 23)).run_after == datetime(2024, 12, 24, 0, 30, tzinfo=BEIJING)
    hkex = MarketDayTimetable.for_schedule(get_source("hkex").landing_schedule)
    assert hkex.info_for(date(2024, 12, 23)).run_after == datetime(2024, 12, 24, 2, 0, tzinfo=HONG_KONG)


def test_a_day_is_not_backfilled_before_its_run_time(dagbag: DagBag) -> None:
    now = datetime.now(UTC)
    today = now.date()
    got = backfill_partitions(dagbag.dags["cninfo_daily"], datetime.combine(today - timedelta(days=3), datetime.min.time(), UTC),
                              datetime.combine(today + timedelta(days=3), datetime.min.time(), UTC))
    schedule = get_source("cninfo").landing_schedule
    assert got == [(today + timedelta(days=n)).isoformat() for n in range(-3, 4)
                   if schedule.run_time(today + timedelta(days=n)) < now]
    # today's final run is at 00:30 Beijing tomorrow, 16:30 UTC today: before it today is not backfilled,
    # after it it is (this line asserted "never" and failed every day from 16:30 to midnight UTC)
    assert (today.isoformat() in got) == (schedule.run_time(today) < now)
    assert (today + timedelta(days=1)).isoformat() not in got  # its run time is always ahead


def test_catchup_off_starts_with_the_latest_run_time_like_a_cron() -> None:
    sec = MarketDayTimetable.for_schedule(get_source("sec_edgar").landing_schedule)
    info = sec.next_dagrun_info(last_automated_data_interval=None,
                                restriction=TimeRestriction(datetime(1994, 7, 1, tzinfo=UTC), None, False))
    now = datetime.now(UTC)
    assert info.run_after <= now
    assert now - info.run_after < timedelta(days=4)  # the latest weekday's 23:30 ET, not a day from 1994
    assert info.logical_date.weekday() in WEEKDAYS
    # after that run, the next one is the following market day, in the future
    following = sec.next_dagrun_info(last_automated_data_interval=info.data_interval,
                                     restriction=TimeRestriction(datetime(1994, 7, 1, tzinfo=UTC), None, False))
    assert following.run_after > now and following.logical_date > info.logical_date
    # with catchup on, the first run is the start date's own market day (Friday 1 July 1994)
    first = sec.next_dagrun_info(last_automated_data_interval=None,
                                 restriction=TimeRestriction(datetime(1994, 7, 1, tzinfo=UTC), None, True))
    assert first.logical_date == datetime(1994, 7, 1, tzinfo=UTC)


def test_serialisation_round_trip_and_latest_bound() -> None:
    schedule = LandingSchedule("Asia/Hong_Kong", (0, 2), run_at=timedelta(hours=20), deadline=timedelta(hours=25))
    timetable = MarketDayTimetable.for_schedule(schedule)
    again = MarketDayTimetable.deserialize(timetable.serialize())
    assert again == timetable and again.schedule == schedule
    # latest bound: a Wednesday after the last allowed logical date gives no run
    stop = TimeRestriction(datetime(2024, 12, 23, tzinfo=UTC), datetime(2024, 12, 24, tzinfo=UTC), True)
    assert timetable.next_dagrun_info(last_automated_data_interval=None, restriction=stop).logical_date == datetime(
        2024, 12, 23, tzinfo=UTC)
    assert timetable.next_dagrun_info(last_automated_data_interval=timetable.info_for(date(2024, 12, 23)).data_interval,
                                      restriction=stop) is None


def test_manual_runs_find_their_market_day() -> None:
    sec = MarketDayTimetable.for_schedule(get_source("sec_edgar").landing_schedule)
    # dag.test(logical_date=2018-12-31) infers the interval from the logical date itself
    assert sec.infer_manual_data_interval(run_after=datetime(2018, 12, 31, tzinfo=UTC)).start == datetime(
        2018, 12, 31, tzinfo=UTC)
    # a trigger on Saturday morning ET: Friday's run time has passed, so Friday
    assert sec.infer_manual_data_interval(run_after=datetime(2024, 12, 21, 15, tzinfo=UTC)).start == datetime(
        2024, 12, 20, tzinfo=UTC)

    class Run:
        run_after = datetime(2024, 12, 21, 15, tzinfo=UTC)

    # a run triggered without a logical date lands the latest day whose run time has passed
    landing = get_source("sec_edgar").landing_schedule
    assert run_partition("market_day", {"logical_date": None, "dag_run": Run()}, landing) == "2024-12-20"
    Run.run_after = datetime(2024, 12, 23, 20, tzinfo=UTC)  # Monday 15:00 ET: Monday not run yet
    assert run_partition("market_day", {"logical_date": None, "dag_run": Run()}, landing) == "2024-12-20"
    assert run_partition("market_day", {"logical_date": datetime(2024, 12, 23, tzinfo=UTC), "dag_run": Run()},
                         landing) == "2024-12-23"


def test_deadlines_are_declared_once_on_the_source(dagbag: DagBag) -> None:
    from airflow.sdk import DeadlineReference

    from filinglake_airflow.notifier import LatePartitionNotifier

    for dag_id, source in DAILY.items():
        landing = get_source(source).landing_schedule
        (alert,) = dagbag.dags[dag_id].deadline
        assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
        assert alert.interval == landing.deadline_after_logical_date()
        assert alert.callback.path == f"{LatePartitionNotifier.__module__}.LatePartitionNotifier"
        assert alert.callback.kwargs["source"] == source
        # the alert never fires before the local deadline, and at most the DST shift after it
        for day in (date(2024, 1, 15), date(2024, 7, 15)):
            fires = landing.logical_date(day) + alert.interval
            assert timedelta(0) <= fires - landing.deadline_time(day) <= timedelta(hours=1)
    sec = get_source("sec_edgar").landing_schedule
    assert sec.deadline_time(date(2024, 12, 23)) == datetime(2024, 12, 24, 6, 0, tzinfo=ET)
    assert dagbag.dags["sec_edgar_daily"].deadline[0].interval == timedelta(hours=35)  # 06:00 EST next day
    assert dagbag.dags["hkex_daily"].deadline[0].interval == timedelta(hours=21)  # 05:00 HKT = 21:00 UTC


def test_intraday_refreshes_are_separate_cron_dags(dagbag: DagBag) -> None:
    from filinglake_airflow.timetables import LocalCronTriggerTimetable

    for dag_id in ("cninfo_intraday", "hkex_intraday"):
        dag = dagbag.dags[dag_id]
        assert type(dag.timetable) is LocalCronTriggerTimetable
        assert not dag.deadline


def test_every_local_time_schedule_names_its_zone_in_the_ui(dagbag: DagBag) -> None:
    """The UI shows run times in UTC beside the schedule's summary: a local-time schedule must say its zone.

    What the dag-processor stores (``timetable_summary`` / ``timetable_description``) comes from the timetable
    the scheduler deserialises, so the names must survive serialisation (the plugin registers the classes).
    """
    from airflow.serialization.serialized_objects import DagSerialization

    zones = {"sec_edgar_daily": "America/New_York", "sec_edgar_quarterly": "America/New_York",
             "sec_edgar_quarterly_refresh": "America/New_York", "cninfo_daily": "Asia/Shanghai",
             "cninfo_intraday": "Asia/Shanghai", "hkex_daily": "Asia/Hong_Kong", "hkex_intraday": "Asia/Hong_Kong"}
    for dag_id, zone in zones.items():
        timetable = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dagbag.dags[dag_id])).timetable
        assert f"({zone})" in timetable.summary, (dag_id, timetable.summary)
        assert zone in timetable.description, (dag_id, timetable.description)
    assert dagbag.dags["cninfo_intraday"].timetable.summary == "30 8,12,16,19,22 * * * (Asia/Shanghai)"
