"""
### CNINFO announcements (Shenzhen, Shanghai, Beijing A shares) → clean Parquet

Lands one **Beijing calendar day** of CNINFO's announcement index (`POST /new/hisAnnouncement/query`,
`column=szse`: all three exchanges) per run as the partition `cninfo/YYYY-MM-DD`: every response page
archived raw, every row checked, clean rows to `clean/filings/source=cninfo/partition=YYYY-MM-DD/`,
failures to `quarantine/` with reasons, a manifest (`rows_in = rows_written + duplicates + quarantined`),
a validation record (Great Expectations), and an event on the asset `clean.cninfo.filings` whose `extra` carries
source, partition and counts.

**Schedule and which day a run ingests.** One run per Beijing calendar day (weekends included), its
**logical date the day itself** (`MarketDayTimetable`, rule `market_day`: 00:00 UTC of that date), fired
at 00:30 Beijing the next day: the day's **final** run. Announcements appear through the day and evening,
so the DAG `cninfo_intraday` (08:30, 12:30, 16:30, 19:30 and 22:30 Beijing) re-ingests the current day so
far; it is never backfilled.
Overwriting a partition is idempotent: identical pages are archived once, and the clean and quarantine
files are rewritten whole, so the last run of a day leaves exactly that day's full list.

**Completeness.** CNINFO pages 30 rows at a time and silently repeats data past about 100 pages.
A day above 3,000 announcements is split by plate (sz / sh / bj) and then by category; every part's
distinct rows must equal CNINFO's `totalAnnouncement` and the parts must add up to the day, otherwise
the task fails (`IncompleteFetch`, retried) and nothing is written. The manifest's `notes.queries`
lists every query part with its total.

**Retries.** `fetch_index` runs in the `cninfo` pool (1 slot, so the host sees one client pacing at
`FILINGLAKE_CNINFO_RATE`, default 0.5 request/s). An HTML challenge page served with status 200
(CNINFO's circuit breaker) is retried after 10 minutes; a total that changes while paging (a busy
evening) is retried with the task's backoff; JSON of the wrong shape fails at once. A re-landing with
fewer announcements than the landed day fails `write_partition` at once naming both counts
(`ShrinkingPartition`): a withdrawn announcement is real, so trigger with conf
`{"partition": "YYYY-MM-DD", "force": true}` to land the shorter day.

**Runs side by side.** Up to five runs are active at once, so a manual repair run never waits behind a
scheduled run that is retrying a late index; their writes of a partition take turns (one
`write_partition` / `validate_partition` at a time in this DAG), fetches stay within the host pool.

**Freshness.** Each day's partition is due by **04:00 Beijing the next day** (`Cninfo.landing_schedule`):
a run not done by then calls `LatePartitionNotifier` (deadline alert, scheduled runs only); the status
page shows the same deadline.

**Manual reruns and backfill.** Trigger with conf `{"partition": "2024-12-23"}` to (re)land one day, or
`{"partition": "stock-002236_2020-01-01_2024-12-31"}` to land one issuer's announcements over a range
(its orgId is resolved through CNINFO's stock list, archived daily under `raw/source=cninfo_stocks/`).
Catchup is off; `airflow backfill create --dag-id cninfo_daily --from-date 2024-12-01 --to-date 2024-12-31` lands exactly 1 … 31 December 2024, one run per day.
For history prefer the command line, one pass per day:
`filinglake ingest --source cninfo --from 2024-12-01 --to 2024-12-31`, or per issuer
`filinglake ingest --source cninfo --stock 002236 --from 2020-01-01 --to 2024-12-31` (the same as
`--partition stock-002236_2020-01-01_2024-12-31`).

**A failure means** one of: CNINFO kept serving challenge pages (check other clients on the host),
the day could not be fetched completely (the log names the query part and its shortfall: a busy day
whose categories do not cover it, or a source changing under us), CNINFO's JSON changed shape (the log
names the field), or Great Expectations disagreed with the row checks
(see `validation/source=cninfo/partition=…/gx_result.json`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="cninfo_daily",
    source="cninfo",
    daily=True,  # one run per day of Cninfo.landing_schedule (the final one), with its deadline alert
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    dagrun_timeout=timedelta(hours=3),
    tags=["filinglake", "ingest", "cninfo", "daily"],
    doc_md=__doc__,
)
