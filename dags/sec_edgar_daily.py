"""
### SEC EDGAR daily index → clean Parquet

Lands one **daily master index** (`daily-index/YYYY/QTRn/master.YYYYMMDD.idx`) per run as the partition
`sec_edgar/YYYY-MM-DD`: raw bytes archived, every row checked, clean rows to
`clean/filings/source=sec_edgar/partition=YYYY-MM-DD/`, failures to `quarantine/`, a manifest with
`rows_in = rows_written + duplicates + quarantined`, a Great Expectations record, and an event on the
asset `clean.sec_edgar.filings` whose `extra` carries source, partition and counts.

**Schedule and which day a run ingests.** 23:30 US Eastern, Monday to Friday
(`CronTriggerTimetable("30 23 * * 1-5", America/New_York)`). SEC posts a day's index from about 22:00 ET,
so the run ingests **the US-Eastern day of its own logical date**: the run of Monday 23:30 ET (logical
date Tuesday 04:30 UTC) lands Monday. A trigger timetable has no data interval (start == end ==
logical date), which is why the partition is derived from the logical date and not from
`data_interval_start`. A day without an index lands an **empty, successful** partition only when SEC
was known to be closed: a weekend or US federal holiday (at once), or a closure shown by the quarter's
`index.json` listing later days and not this one. Otherwise a day within its posting window (two days,
or until the day after the next business day) is "not posted yet" (retried) and an older one **fails
at once**, naming the URLs tried (the manifest records them too). A
landed day is never replaced by fewer rows or an empty answer (the task fails at once naming both
counts; conf `{"partition": "YYYY-MM-DD", "force": true}` lands it anyway).

**Retries.** `fetch_index` runs in the `sec_edgar` pool. Not posted yet → retried after 1, 2, 4, 8 and
then every 12 hours (10 tries, ~3.5 days: long enough for a Friday holiday to resolve itself when
Monday's index appears); SEC's 403 rate-limit page → retried after the block (~10 min); an HTML page or
a truncated gzip where an index was expected → fails at once and nothing is written. Other tasks retry twice.

**Runs side by side.** Up to five runs are active at once, so a manual repair run never waits behind a
scheduled run that is retrying a late index; their writes of a partition take turns (one
`write_partition` / `validate_partition` at a time in this DAG), fetches stay within the host pool.

**Manual reruns and backfill.** Trigger with conf `{"partition": "2024-12-23"}` to (re)land one day. Catchup
is off: days missed while Airflow was down are re-pulled by `sec_edgar_quarterly_refresh` (weekly, whole
current quarter) or backfilled explicitly, with the bounds in Eastern time:
`airflow backfill create --dag-id sec_edgar_daily --from-date 2024-12-01T00:00-05:00 --to-date 2024-12-31T23:59-05:00`
lands the weekdays 2024-12-02 … 2024-12-31. Bare dates are UTC midnights while a run's logical date is
04:30 UTC the *next* day, so a bare range selects the day before `--from-date` through two days before
`--to-date`: `--from-date 2024-12-01 --to-date 2024-12-31` would stop at Friday 27 December. For long ranges prefer `sec_edgar_quarterly` (one request per quarter).
Rerunning a partition rewrites the same bytes.

**A failure means** one of: the index did not appear within ~3.5 days (SEC stopped publishing: look at
the daily-index folder), SEC kept blocking us (check
`FILINGLAKE_SEC_USER_AGENT` and other clients on the host), SEC served something that is not an index
(the task log names the URL and what came back), or Great Expectations disagreed with the row checks
(see `validation/source=sec_edgar/partition=…/gx_result.json`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from airflow.sdk import CronTriggerTimetable

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="sec_edgar_daily",
    source="sec_edgar",
    schedule=CronTriggerTimetable("30 23 * * 1-5", timezone="America/New_York"),
    # The first daily index (master.070194.idx): older logical dates would create runs without tasks.
    start_date=datetime(1994, 7, 1, tzinfo=ZoneInfo("America/New_York")),
    partition_rule="sec_daily",
    # With the doubling not-yet-published delay (1 h … 12 h) ten tries outlast a Friday holiday.
    fetch_retries=10,
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    tags=["filinglake", "ingest", "sec_edgar", "daily"],
    doc_md=__doc__,
)
