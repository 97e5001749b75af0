"""
### SEC EDGAR daily index → clean Parquet

Lands one **daily master index** (`daily-index/YYYY/QTRn/master.YYYYMMDD.idx`) per run as the partition
`sec_edgar/YYYY-MM-DD`: raw bytes archived, every row checked, clean rows to
`clean/filings/source=sec_edgar/partition=YYYY-MM-DD/`, failures to `quarantine/`, a manifest with
`rows_in = rows_written + duplicates + quarantined`, a validation record (Great Expectations), and an event on the
asset `clean.sec_edgar.filings` whose `extra` carries source, partition and counts.

**Schedule and which day a run ingests.** One run per US business day (Monday to Friday), its
**logical date the market day itself** (`MarketDayTimetable`, rule `market_day`: 00:00 UTC of that
date), fired at 23:30 US Eastern that day, after SEC's ~22:00 ET posting.
A day without an index lands an **empty, successful** partition only when SEC was known to be closed: a weekend or US federal holiday (at once), or a closure shown by the quarter's
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

**Freshness.** Each day's partition is due by **06:00 US Eastern the next day**: a run not done by
then calls `LatePartitionNotifier` (deadline alert; scheduled runs only), and the status page shows the
same deadline (both read `SecEdgar.landing_schedule`).

**Manual reruns and backfill.** Trigger with conf `{"partition": "2024-12-23"}` to (re)land one day. Catchup
is off; `airflow backfill create --dag-id sec_edgar_daily --from-date 2024-12-01 --to-date 2024-12-31` lands exactly the weekdays 2 … 31 December 2024.
For long ranges prefer `sec_edgar_quarterly` (one request per quarter); missed days are also re-pulled
weekly by `sec_edgar_quarterly_refresh`. Rerunning a partition rewrites the same bytes.

**A failure means** one of: the index did not appear within ~3.5 days (SEC stopped publishing: look at
the daily-index folder), SEC kept blocking us (check
`FILINGLAKE_SEC_USER_AGENT` and other clients on the host), SEC served something that is not an index
(the task log names the URL and what came back), or Great Expectations disagreed with the row checks
(see `validation/source=sec_edgar/partition=…/gx_result.json`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="sec_edgar_daily",
    source="sec_edgar",
    daily=True,  # one run per market day of SecEdgar.landing_schedule, with its deadline alert
    # The first daily index (master.070194.idx): older logical dates would create runs without tasks.
    start_date=datetime(1994, 7, 1, tzinfo=UTC),
    # With the doubling not-yet-published delay (1 h … 12 h) ten tries outlast a Friday holiday.
    fetch_retries=10,
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    tags=["filinglake", "ingest", "sec_edgar", "daily"],
    doc_md=__doc__,
)
