"""
### HKEXnews announcements (all issuers) → clean Parquet

Lands one **Hong Kong calendar day** of the HKEXnews title search (`GET /search/titleSearchServlet.do`,
`stockId=-1`, all headline categories) per run, as **two partitions, one per language stream**:
`hkex/YYYY-MM-DD-en` and `hkex/YYYY-MM-DD-zh` (the English and Chinese lists give the two versions of a
document different NEWS_IDs). For each: the final response of every query archived raw, every row
checked (one row per issuer when a document names several), clean rows to
`clean/filings/source=hkex/partition=YYYY-MM-DD-en/`, failures to `quarantine/` with reasons, a manifest
(`rows_in = rows_written + duplicates + quarantined`), a validation record (Great Expectations), and an event on the
asset `clean.hkex.filings` whose `extra` carries source, partition and counts. The tasks are mapped over
the two streams (`partitions` → `fetch_index[0..1]` → `write_partition[..]` → `validate_partition[..]`).

**Schedule and which day a run ingests.** One run per Hong Kong calendar day (weekends included), its
**logical date the day itself** (`MarketDayTimetable`, rule `market_day`: 00:00 UTC of that date), fired
at 02:00 Hong Kong the next day: the day's **final** run. HKEXnews posts before the open, at lunch and
from 16:15 to about 23:00, so the DAG `hkex_intraday` (09:00, 13:00, 17:00, 19:00, 21:00 and 23:00 Hong
Kong) re-ingests the current day so far; it is never backfilled.
Overwriting a partition is idempotent: the clean and quarantine files
are rewritten whole, so the last run of a day leaves exactly that day's full list. Weekends and
holidays usually land empty, successful partitions.

**Completeness.** One query returns at most 10,000 rows; `rowRange` is raised until the server says
`hasNextRow: false`, and the rows must equal `recordCnt` (and each row's `TOTAL_COUNT`). A day that
reaches the cap is fetched again per tier-one headline category (`t1code`, 20 queries); a category that
alone reaches the cap, or categories that do not add up to the day, fail the task (`IncompleteFetch`,
retried with backoff in case the day was still growing) and nothing is written. The manifest's `notes` list each query with its rows and requests.

**Retries.** `fetch_index` runs in the `hkex` pool (1 slot: the en and zh streams take turns, so the host sees one client pacing at
`FILINGLAKE_HKEX_RATE`, default 0.5 request/s). An HTML page served with status 200 (a bot challenge) is
never archived and is retried after 10 minutes (up to 6 times); JSON of the wrong shape fails at once
(`BadResponse`; the task log names the URL and what came back). HTTP errors and a list that keeps
growing while it is read are retried with backoff. A re-landing with fewer rows than the landed day
fails `write_partition` at once naming both counts (`ShrinkingPartition`); trigger with conf
`{"partition": "YYYY-MM-DD", "force": true}` to land it anyway.

**Runs side by side.** Up to five runs are active at once, so a manual repair run never waits behind a
scheduled run that is retrying a late index; their writes of a partition take turns (one
`write_partition` / `validate_partition` at a time in this DAG), fetches stay within the host pool.

**Freshness.** Each day's partitions are due by **05:00 Hong Kong the next day** (`Hkex.landing_schedule`):
a run not done by then calls `LatePartitionNotifier` (deadline alert, scheduled runs only); the status
page shows the same deadline.

**Manual reruns and backfill.** Trigger with conf `{"partition": "2024-12-23"}` to (re)land both
streams of one day, or `{"partition": "2024-12-23-zh"}` for one stream.
Catchup is off; `airflow backfill create --dag-id hkex_daily --from-date 2024-12-01 --to-date 2024-12-31` lands exactly 1 … 31 December 2024 (both streams), one run per day.
For history prefer the command line, one pass per day and language:
`filinglake ingest --source hkex --from 2024-12-01 --to 2024-12-31`.

**A failure means** one of: HKEXnews served a challenge page or changed its JSON (the log names the URL
and what came back), a day could not be fetched completely (the log names the category at the cap or
the shortfall), or Great Expectations disagreed with the row checks
(see `validation/source=hkex/partition=…/gx_result.json`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="hkex_daily",
    source="hkex",
    daily=True,  # one run per day of Hkex.landing_schedule (the final one), with its deadline alert
    # where the title search starts, so backfills of old days get real runs
    start_date=datetime(1999, 1, 1, tzinfo=UTC),
    streams=("en", "zh"),
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    dagrun_timeout=timedelta(hours=2),
    tags=["filinglake", "ingest", "hkex", "daily"],
    doc_md=__doc__,
)
