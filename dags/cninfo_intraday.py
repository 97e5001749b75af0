"""
### CNINFO announcements, the current Beijing day re-ingested during the day

Re-lands **today's** CNINFO partition `cninfo/YYYY-MM-DD` (Beijing day) five times a day, so announcements
land within hours: 08:30, 12:30, 16:30, 19:30 and 22:30 Beijing
(`CronTriggerTimetable("30 8,12,16,19,22 * * *", Asia/Shanghai)`, rule `cninfo_day`). Same tasks, checks,
manifest, validation record and `clean.cninfo.filings` asset event as `cninfo_daily`, whose run at
00:30 the next day is the day's **final** one (and the one with a deadline alert).

**Why a separate DAG.** A DAG run's logical date is unique, so `cninfo_daily` has exactly one run per day
(logical date = the day) and a backfill over a date range lands exactly those days; the refreshes
during the day live here. **Do not backfill this DAG**: backfill `cninfo_daily`. A refresh never shrinks
a landed day (`ShrinkingPartition`), so a late refresh cannot undo the final run.

**A failure means** the same as for `cninfo_daily`; the next refresh or the day's final run repairs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import CronTriggerTimetable

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="cninfo_intraday",
    source="cninfo",
    schedule=CronTriggerTimetable("30 8,12,16,19,22 * * *", timezone="Asia/Shanghai"),
    start_date=datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
    partition_rule="cninfo_day",
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    # the 22:30 refresh ends before the day's final run (cninfo_daily, 00:30) starts
    dagrun_timeout=timedelta(hours=1, minutes=45),
    tags=["filinglake", "ingest", "cninfo", "intraday"],
    doc_md=__doc__,
)
