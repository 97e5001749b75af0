"""
### HKEXnews announcements, the current Hong Kong day re-ingested during the day

Re-lands **today's** HKEX partitions `hkex/YYYY-MM-DD-en` and `hkex/YYYY-MM-DD-zh` (Hong Kong day) six
times a day, so announcements land within hours: 09:00, 13:00, 17:00, 19:00, 21:00 and 23:00 Hong Kong
(`CronTriggerTimetable("0 9,13,17,19,21,23 * * *", Asia/Hong_Kong)`, rule `hkex_day`). Same tasks (mapped
over the two language streams), checks, manifests, validation records and `clean.hkex.filings`
asset events as `hkex_daily`, whose run at 02:00 the next day is the day's **final** one (and the one with
a deadline alert).

**Why a separate DAG.** A DAG run's logical date is unique, so `hkex_daily` has exactly one run per day
(logical date = the day) and a backfill over a date range lands exactly those days; the refreshes
during the day live here. **Do not backfill this DAG**: backfill `hkex_daily`. A refresh never shrinks
a landed day (`ShrinkingPartition`), so a late refresh cannot undo the final run.

**A failure means** the same as for `hkex_daily`; the next refresh or the day's final run repairs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import CronTriggerTimetable

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="hkex_intraday",
    source="hkex",
    schedule=CronTriggerTimetable("0 9,13,17,19,21,23 * * *", timezone="Asia/Hong_Kong"),
    start_date=datetime(1999, 1, 1, tzinfo=ZoneInfo("Asia/Hong_Kong")),
    partition_rule="hkex_day",
    streams=("en", "zh"),
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    # the 23:00 refresh ends before the day's final run (hkex_daily, 02:00) starts
    dagrun_timeout=timedelta(hours=2),
    tags=["filinglake", "ingest", "hkex", "intraday"],
    doc_md=__doc__,
)
