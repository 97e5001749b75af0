"""
### Weekly compaction of the published Delta tables

Clusters each `filings` month that daily publishes added files to by issuer (Z-order on `issuer_id`,
so a query for one issuer reads a row group or two per month), compacts the small files that daily
publishes leave behind, writes a checkpoint, and vacuums data
files no table version has referenced for longer than the retention window (7 days by default), for
every table under `published/` (`filings`, `issuers`, `daily_counts`, `category_counts`, `securities`, `issuer_links`, `alerts`). Compaction rewrites
files without changing any row, so queries and `filinglake query` give the same answers before and
after; time travel is kept for the retention window.

**Schedule.** Sundays 03:00 UTC (`CronTriggerTimetable("0 3 * * 0", UTC)`), when no source publishes
much. Catchup is off: one run does the whole job, missed weeks need no replay. Run it by hand any time
(or `filinglake compact`).

**A failure means** the storage was unreachable, or a publish committed to a table while it was being
compacted (Delta's optimistic commit refuses the second writer): the task retries twice, after 10 minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

from filinglake_airflow import OWNER

with DAG(
    dag_id="compact_published_tables",
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["filinglake", "publish", "compact"],
    doc_md=__doc__,
    default_args={"owner": OWNER, "retries": 2, "retry_delay": timedelta(minutes=10)},
):

    @task(doc_md="Cluster filings by issuer, compact, checkpoint and vacuum every published Delta table; returns files added/removed per table.")
    def compact() -> dict:
        from filinglake.publish.run import compact_tables
        from filinglake.storage import Storage
        from filinglake_airflow.task_settings import task_settings

        return compact_tables(Storage.from_settings(task_settings()))

    compact()
