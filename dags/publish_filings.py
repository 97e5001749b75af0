"""
### Publish clean partitions → Delta tables, alerts, status page

Merges the clean partitions that changed into the published Delta tables on the same storage
(`published/filings`, `published/issuers`, `published/daily_counts`), raises watchlist alerts on the
rows that are new or changed, notifies, and rewrites the status page.

**Schedule: asset-aware, not a clock.** A run is queued whenever an ingest DAG updates one of the clean
assets `clean.sec_edgar.filings`, `clean.cninfo.filings`, `clean.hkex.filings` (any of them). Each event's
`extra` names the partition it landed; the run publishes exactly those partitions (events that arrive
while a run is busy are collected into the next run: `max_active_runs=1`, so publishes never race on a
table). Catchup is off (an asset schedule has no past intervals to catch up).

**Tasks.** `refresh_references` archives SEC's `company_tickers.json` once per UTC day (CIK ↔ ticker for
`issuers`; a failure there only logs a warning; when the list changed, `publish` recomputes every SEC
issuer, otherwise only the issuers of the published partitions) → `publish` (`filinglake.publish.run.publish`: MERGE with
"update only when a column changed", so a retry or a re-landed partition commits nothing) →
`raise_alerts` (reads the rows the publish inserted or changed from the `filings` change data feed,
between the table versions `publish` returned — on a retry of `publish`, from the run's start, so rows an
earlier failed try merged still alert; each alert is recorded once) → `notify` (task log,
plus webhook / e-mail when the `filinglake_alerts_webhook` / `filinglake_alerts_smtp` connections exist)
and `write_report` (`reports/index.html`).

**Manual runs.** Trigger with conf `{"partitions": ["sec_edgar/2016Q3"]}` to republish given partitions,
`{"sources": ["cninfo"]}` for every landed partition of some sources, or with no conf (and no triggering
events) to republish everything landed — harmless, publishing is idempotent.

**A failure means**: a clean partition named by an event is missing (re-run its ingest DAG), the
storage is unreachable (S3 credentials: connection `aws_default` or the `AWS_*` variables), or a
notification channel refused the alerts (`notify` retries and re-sends the same alerts; the alerts
themselves are already recorded). All tasks retry twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from filinglake_airflow import OWNER
from filinglake_airflow.assets import CLEAN_ASSETS, clean_filings_name

log = logging.getLogger(__name__)

SOURCE_BY_ASSET = {clean_filings_name(source): source for source in CLEAN_ASSETS}
#: how far before the run's start a retried publish looks for filings versions an earlier try committed
RETRY_CLOCK_MARGIN = timedelta(minutes=5)


def partitions_from_events(triggering_asset_events: Any, storage_root: str) -> list[list[str]]:
    """[source, partition] pairs named by the triggering clean-asset events of this run.

    Events whose ``storage`` is another root (an earlier demo, another deployment) are skipped: their
    partitions are not on this storage.
    """
    found: set[tuple[str, str]] = set()
    for asset in triggering_asset_events or {}:
        for event in triggering_asset_events[asset]:
            extra = dict(getattr(event, "extra", None) or {})
            source = extra.get("source") or SOURCE_BY_ASSET.get(getattr(asset, "name", ""))
            partition = extra.get("partition")
            root = (extra.get("storage") or storage_root).rstrip("/")
            if not (source and partition):
                log.warning("asset event on %s without source/partition in extra: %s", asset, extra)
                continue
            if root != storage_root.rstrip("/"):
                log.warning("skipping %s %s: landed on %s, this deployment publishes %s", source, partition, root,
                            storage_root)
                continue
            found.add((source, partition))
    return [list(p) for p in sorted(found)]


with DAG(
    dag_id="publish_filings",
    schedule=CLEAN_ASSETS["sec_edgar"] | CLEAN_ASSETS["cninfo"] | CLEAN_ASSETS["hkex"],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["filinglake", "publish", "alerts"],
    doc_md=__doc__,
    default_args={
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    },
    dagrun_timeout=timedelta(hours=6),
    params={
        "partitions": Param([], type="array", items={"type": "string"},
                            description="SOURCE/PARTITION to republish (manual runs), e.g. sec_edgar/2016Q3"),
        "sources": Param([], type="array", items={"type": "string"},
                         description="republish every landed partition of these sources (manual runs)"),
    },
) as dag:

    @task(doc_md="Archive SEC's company_tickers.json once per UTC day (CIK ↔ ticker); never fails the run.")
    def refresh_references() -> dict | None:
        from filinglake.config import load_settings
        from filinglake.errors import FilinglakeError
        from filinglake.publish.references import fetch_sec_company_tickers
        from filinglake.storage import Storage
        from filinglake_airflow.credentials import export_storage_credentials

        export_storage_credentials()
        settings = load_settings()
        try:
            # few retries: without SEC this run still publishes, with yesterday's tickers
            ref = fetch_sec_company_tickers(Storage.from_settings(settings), replace(settings, http_retries=2))
            return {"key": ref.key, "changed": ref.new}
        except (FilinglakeError, ValueError) as exc:  # ConfigError is a ValueError (no SEC user agent)
            log.warning("company_tickers.json not refreshed (issuers keep the last archived copy): %s", exc)
            return None

    @task(doc_md="MERGE the changed clean partitions into published/filings, then issuers and daily_counts.")
    def publish(references: dict | None, **context: Any) -> dict:
        from filinglake.config import load_settings
        from filinglake.publish.clean_layer import clean_partitions
        from filinglake.publish.filings import version_before
        from filinglake.publish.run import publish as publish_partitions
        from filinglake.publish.run import summary
        from filinglake.storage import Storage
        from filinglake_airflow.credentials import export_storage_credentials

        export_storage_credentials()
        settings = load_settings()
        storage = Storage.from_settings(settings)
        params = context.get("params") or {}
        events = context.get("triggering_asset_events")
        wanted = partitions_from_events(events, settings.storage)
        for item in params.get("partitions") or []:
            source, _, partition = str(item).partition("/")
            if not (source and partition):
                raise ValueError(f"partitions param {item!r}: write SOURCE/PARTITION, e.g. sec_edgar/2016Q3")
            wanted.append([source, partition])
        if params.get("sources"):
            wanted += [list(p) for p in clean_partitions(storage, params["sources"])]
        asked = bool(events) or bool(params.get("partitions")) or bool(params.get("sources"))
        if not asked:
            log.info("no triggering events and no partitions asked for: publishing every landed partition")
            pairs = None
        else:
            pairs = sorted({(s, p) for s, p in wanted})  # may be empty: events for another storage root
        # a changed ticker list touches issuers this batch may not: recompute all SEC issuers then
        rebuild = ["sec_edgar"] if references and references.get("changed") else []
        result = publish_partitions(storage, settings, pairs, rebuild_issuers=rebuild)
        out = {**summary(result), "storage": settings.storage}
        ti, dag_run = context.get("ti"), context.get("dag_run")
        if getattr(ti, "try_number", 1) > 1 and getattr(dag_run, "start_date", None) is not None:
            # An earlier try may have merged filings and then failed (issuers, counts): this try finds
            # those rows unchanged. Hand raise_alerts every filings version since the run started (a
            # margin for clock skew; re-reading older rows is harmless: alerts never repeat).
            since = version_before(storage, dag_run.start_date - RETRY_CLOCK_MARGIN)
            out["version_before"] = min(out["version_before"], since)
        return out

    @task(doc_md="Watchlist alerts on the rows this publish inserted or changed (each alert recorded once).")
    def raise_alerts(published: dict) -> list[dict]:
        from filinglake.alerts.record import raise_alerts as record_alerts
        from filinglake.config import load_settings
        from filinglake.publish.filings import changed_rows
        from filinglake.storage import Storage
        from filinglake_airflow.credentials import export_storage_credentials

        export_storage_credentials()
        settings = load_settings()
        storage = Storage.from_settings(settings)
        rows = changed_rows(storage, published["version_before"], published["version"])
        log.info("%d new or changed row(s) between filings v%s and v%s", rows.num_rows, published["version_before"],
                 published["version"])
        if rows.num_rows == 0:
            return []
        return record_alerts(storage, settings, rows)

    @task(doc_md="Log the new alerts; POST / e-mail them when the alert connections exist.")
    def notify(alerts: list[dict], **context: Any) -> dict:
        from filinglake_airflow.notifier import send_alerts

        return send_alerts(alerts, context)

    @task(doc_md="Rewrite the static status page (reports/index.html).")
    def write_report(alerts: list[dict]) -> str:
        from filinglake.config import load_settings
        from filinglake.report import write_report as render
        from filinglake.storage import Storage
        from filinglake_airflow.credentials import export_storage_credentials

        export_storage_credentials()
        settings = load_settings()
        return render(Storage.from_settings(settings), settings)

    published = publish(refresh_references())
    alerts = raise_alerts(published)
    notify(alerts)
    write_report(alerts)
