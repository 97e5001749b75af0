"""
### SEC EDGAR current quarter, re-pulled weekly

Re-lands the **growing full index of the current quarter** (`full-index/YYYY/QTRn/master.gz`) as the
partition `sec_edgar/YYYYQn`, overwriting last week's snapshot of it (same checks, quarantine, manifest,
validation record and `clean.sec_edgar.filings` asset event as the other SEC DAGs).

**Why weekly, and why a separate DAG.** `sec_edgar_daily` already lands each business day the evening it
is posted, but with catchup off it never revisits a day it missed (Airflow down, a day that failed after
all retries). SEC rebuilds the quarter's full index nightly, so one weekly pull (a single request, a few
MB) repairs any such gap within a week without anyone running a backfill. Daily would repeat the daily
DAG's work for little gain. It is a DAG of its own so that backfilling `sec_edgar_quarterly` creates one
run per quarter, not thirteen.

**Schedule and which quarter a run ingests.** Saturdays 06:00 US Eastern
(`CronTriggerTimetable("0 6 * * 6", America/New_York)`), after Friday's index; the run ingests the quarter
containing **the US-Eastern day before its logical date** (Friday), so a Saturday that opens a quarter
still refreshes the quarter that just ended. `sec_edgar_quarterly` lands the final version of each quarter.
Do not backfill this DAG: use `sec_edgar_quarterly`. Trigger with conf `{"partition": "2026Q1"}` to
refresh a given quarter now.

**Runs side by side.** Up to five runs are active at once, so a manual repair run never waits behind a
scheduled run that is retrying a late index; their writes of a partition take turns (one
`write_partition` / `validate_partition` at a time in this DAG), fetches stay within the host pool.

**A failure means** the same as for `sec_edgar_quarterly`; the next Saturday's run repairs it, or clear the run.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from airflow.sdk import CronTriggerTimetable

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="sec_edgar_quarterly_refresh",
    source="sec_edgar",
    schedule=CronTriggerTimetable("0 6 * * 6", timezone="America/New_York"),
    # As early as the full index, so a manual run with conf {"partition": "1993Q4"} creates its tasks.
    start_date=datetime(1993, 1, 1, tzinfo=ZoneInfo("America/New_York")),
    partition_rule="sec_quarter_of_previous_day",
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    tags=["filinglake", "ingest", "sec_edgar", "quarterly"],
    doc_md=__doc__,
)
