"""
### SEC EDGAR quarterly full index → clean Parquet (the backfill path)

Lands one **quarterly master index** (`full-index/YYYY/QTRn/master.gz`, every filing of the quarter) per
run as the partition `sec_edgar/YYYYQn`, with the same checks, quarantine, manifest, validation
record and `clean.sec_edgar.filings` asset event as the daily DAG.

**Schedule: once per quarter, for the quarter that just ended.**
`CronDataIntervalTimetable("0 6 2 1,4,7,10 *", America/New_York)`: one data interval per quarter, from
the 2nd of its first month 06:00 ET to the 2nd of the next quarter 06:00 ET. The run for an interval
fires when it closes and ingests **the quarter of its logical date** (= interval start): the run that
fires on 2 October lands Q3, complete, with a day's margin after SEC's last nightly rebuild of Q3.
The growing index of the *current* quarter is re-pulled weekly by `sec_edgar_quarterly_refresh` (a
separate DAG, so that a backfill here creates exactly one run per quarter and never repeats weekly runs).

**Backfill** (catchup is off on purpose: history is loaded on request, at a pace you choose):
`airflow backfill create --dag-id sec_edgar_quarterly --from-date 1993-01-01 --to-date 2025-12-31 --max-active-runs 2`
creates one run per quarter (logical dates 1993-01-02 … 2025-10-02 → partitions 1993Q1 … 2025Q4): the
same quarters as `filinglake ingest --source sec_edgar --from-quarter 1993Q1 --to-quarter 2025Q4`.
`--reprocess-behavior failed` retries only the failed quarters. The `sec_edgar` pool (2 slots) and the
client's rate limit keep SEC traffic polite whatever `--max-active-runs` says. One quarter is one
request of up to ~50 MB compressed. For a single quarter, trigger with conf `{"partition": "2016Q3"}`.

**Retries.** `fetch_index` runs in the `sec_edgar` pool; SEC's rate-limit page → retried after the
block; the *current* quarter not published yet → retried hourly; a closed quarter without an index, HTML
or a truncated gzip → fails at once naming the URLs tried, and nothing is written. A re-landing with
fewer rows than the landed quarter (a truncated index) fails at once naming both counts; conf
`{"partition": "YYYYQn", "force": true}` lands it anyway.

**Runs side by side.** Up to five runs are active at once, so a manual repair run never waits behind a
scheduled run that is retrying a late index; their writes of a partition take turns (one
`write_partition` / `validate_partition` at a time in this DAG), fetches stay within the host pool.

**A failure means** SEC kept blocking us, served something that is not an index (the log names the
URL), or Great Expectations disagreed with the row checks (`validation/source=sec_edgar/partition=YYYYQn/`).
Nothing is half-written: the manifest is written last.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from airflow.sdk import CronDataIntervalTimetable

from filinglake_airflow.ingest import MAX_ACTIVE_RUNS, build_ingest_dag

dag = build_ingest_dag(
    dag_id="sec_edgar_quarterly",
    source="sec_edgar",
    schedule=CronDataIntervalTimetable("0 6 2 1,4,7,10 *", timezone="America/New_York"),
    # EDGAR's full index starts with 1993 QTR1 (a few test filers; officially 1994 QTR3).
    start_date=datetime(1993, 1, 1, tzinfo=ZoneInfo("America/New_York")),
    partition_rule="sec_quarter",
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,  # a run waiting for a late index never blocks a manual repair
    tags=["filinglake", "ingest", "sec_edgar", "quarterly"],
    doc_md=__doc__,
)
