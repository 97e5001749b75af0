"""
### Publish clean partitions → Delta tables, alerts, status page

Merges landed clean partitions into the published Delta tables on the same storage (`published/filings`,
`issuers`, `daily_counts`, `category_counts`, `securities`, and `issuer_links`: one company's listings across markets, rebuilt
from securities, issuers and the reviewed list `include/issuer_links.yaml` when they change), raises watchlist alerts on the rows that are new or changed, notifies, and
rewrites the status page (`reports/index.html`). Task bodies: `filinglake_airflow.publish`.

**Schedule: the clean assets or an hourly sweep** (`AssetOrTimeSchedule`). An event on
`clean.sec_edgar.filings`, `clean.cninfo.filings` or `clean.hkex.filings` queues a run that publishes the
partitions the events name, and every other landed partition not yet published. Airflow can drop or merge
asset events (apache/airflow#54659, #56050: on 3.3 an event arriving while this DAG waits for its run slot
is lost), so a lost event's partition goes out with the next publish run of any kind, and a timed run every
hour at :40 UTC publishes everything landed and not yet published: a lost event delays a partition by at
most one sweep. `max_active_runs=1`: publishes never race on a table. Catchup is off.

**Tasks.** `refresh_references_<source>` (one per source with a list, in that source's pool) archives its
reference list once per UTC day: SEC's `company_tickers.json`, HKEXnews' stock list
(`activestock_sehk_e.json`, and `activestock_sehk_c.json` for the Chinese names); a list that fails only logs a warning (the tables keep the last archived copy) → `publish` (MERGE "update only when a column changed": a retry
commits nothing; many partitions, e.g. after a backfill, go in batches of at most 100,000 rows, the log
counting them down with an ETA; its inlets are the clean assets, so each asset's page lists it as a consuming task) →
`record_alerts_<source>` one after the other, each in its source's pool because it
captures documents from that source's hosts (so SEC never sees more than the pool × rate) → `notify`
(task log; webhook / e-mail through the `filinglake_alerts_webhook` / `filinglake_alerts_smtp`
connections) and `write_report`.

**Manual runs.** Conf `{"partitions": ["sec_edgar/2016Q3"]}` republishes given partitions,
`{"sources": ["cninfo"]}` every landed partition of some sources, no conf is a sweep. Idempotent.

**A failure means**: a partition named by an event is missing (re-run its ingest DAG); an event was
landed on another storage root (the message names both: give every worker the same
`FILINGLAKE_STORAGE`); `FILINGLAKE_STORAGE` is unset on a deployed worker; the storage is unreachable
(connection `aws_default`); or a notification channel refused the alerts (`notify` retries and re-sends;
the alerts are already recorded). All tasks retry twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, chain, task

from filinglake.sources import get_source
from filinglake_airflow import OWNER
from filinglake_airflow.assets import ANY_CLEAN_FILINGS, CLEAN_ASSETS
from filinglake_airflow.publish import reference_sources

with DAG(
    dag_id="publish_filings",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("40 * * * *", timezone="UTC"),
                                 assets=ANY_CLEAN_FILINGS),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["filinglake", "publish", "alerts"],
    doc_md=__doc__,
    default_args={"owner": OWNER, "retries": 2, "retry_delay": timedelta(minutes=2),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=30)},
    dagrun_timeout=timedelta(hours=6),
    params={
        "partitions": Param([], type="array", items={"type": "string"},
                            description="SOURCE/PARTITION to republish (manual runs), e.g. sec_edgar/2016Q3"),
        "sources": Param([], type="array", items={"type": "string"},
                         description="republish every landed partition of these sources (manual runs)"),
    },
) as dag:

    @task(doc_md="Archive one source's reference list (SEC company_tickers.json, HKEXnews' stock list) once per "
                 "UTC day; never fails the run.")
    def refresh_references(source: str) -> dict | None:
        from filinglake_airflow.publish import refresh_references as refresh

        return refresh(source)

    # inlets: this task reads the clean layer, so each clean asset's page lists it under "Consuming Tasks"
    # (the schedule makes the DAG a consumer, which Airflow lists apart as "Scheduled Dags")
    @task(inlets=list(CLEAN_ASSETS.values()),
          doc_md="MERGE the run's partitions (events, conf, or a sweep) into filings, then issuers and counts.")
    def publish(references: list[dict | None], **context: Any) -> dict:
        from filinglake_airflow.publish import publish_run

        return publish_run(references, context)

    @task(doc_md="Watchlist alerts on one source's new or changed rows; captures documents from its hosts.")
    def record_alerts(published: dict, source: str) -> list[dict]:
        from filinglake_airflow.publish import record_source_alerts

        return record_source_alerts(published, source)

    @task(doc_md="Log the new alerts; POST / e-mail them when the alert connections exist.")
    def notify(alerts: list[list[dict]], **context: Any) -> dict:
        from filinglake_airflow.notifier import send_alerts

        return send_alerts([alert for found in alerts for alert in found], context)

    @task(doc_md="Rewrite the static status page (reports/index.html).")
    def write_report() -> str:
        from filinglake_airflow.publish import write_status_page

        return write_status_page()

    # each list is fetched in its source's pool, like every other request to that host
    references = [refresh_references.override(task_id=f"refresh_references_{source}", pool=get_source(source).pool)(source)
                  for source in reference_sources()]
    published = publish(references)
    # Alerts capture documents from the source's hosts, so each source gets its own task in that host's pool
    # (the source's pool): the per-host limit then holds across ingest and alerts (one task cannot hold
    # three pools). They run one after the other because each merges into the same alerts table.
    alerts = [record_alerts.override(task_id=f"record_alerts_{source}", pool=get_source(source).pool)(published, source)
              for source in CLEAN_ASSETS]
    chain(*alerts)
    notify(alerts)
    alerts[-1] >> write_report()
