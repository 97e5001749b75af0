"""Task bodies of ``publish_filings``: what a run publishes, the publish itself, alerts per source, the status page.

What a run publishes:

- an **asset-triggered** run: the partitions its clean-asset events name (``extra.source`` and
  ``extra.partition``), plus every landed partition still unpublished (an event Airflow dropped:
  apache/airflow#56050). An event landed on another storage root fails the run, naming both roots
  (:class:`ForeignStorageRoot`): publishing nothing would silently drop that partition;
- a **manual** run with conf: ``{"partitions": ["sec_edgar/2016Q3"]}`` or ``{"sources": ["cninfo"]}``;
- a **sweep** (the hourly timed run, or a manual run without conf): everything landed and not yet
  published (:func:`publish_unpublished`). Airflow drops or merges asset events under load
  (apache/airflow#54659, #56050); the sweep bounds the delay of a partition whose event was lost.

Every task body calls :func:`filinglake_airflow.task_settings.task_settings` first (storage-root
check, S3 credentials from the Airflow connection). Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from filinglake_airflow.assets import CLEAN_ASSETS, clean_filings_name
from filinglake_airflow.task_settings import task_settings

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger(__name__)

SOURCE_BY_ASSET = {clean_filings_name(source): source for source in CLEAN_ASSETS}


class ForeignStorageRoot(AirflowFailException):
    """An asset event names a partition landed on another storage root than this deployment publishes."""


def partitions_from_events(triggering_asset_events: Any, storage_root: str) -> list[list[str]]:
    """[source, partition] pairs named by the triggering clean-asset events of this run.

    Raises :class:`ForeignStorageRoot` for an event whose ``extra.storage`` is another root (an
    earlier demo, another deployment, a worker without ``FILINGLAKE_STORAGE``): its partition is not
    on this storage, and skipping it would lose it without a trace.
    """
    found: set[tuple[str, str]] = set()
    ours = storage_root.rstrip("/")
    for asset in triggering_asset_events or {}:
        for event in triggering_asset_events[asset]:
            extra = dict(getattr(event, "extra", None) or {})
            source = extra.get("source") or SOURCE_BY_ASSET.get(getattr(asset, "name", ""))
            partition = extra.get("partition")
            if not (source and partition):
                log.warning("asset event on %s without source/partition in extra: %s", asset, extra)
                continue
            root = str(extra.get("storage") or ours).rstrip("/")
            if root != ours:
                raise ForeignStorageRoot(
                    f"{source} {partition} was landed on {root}, but this deployment publishes {ours}: "
                    "set the same FILINGLAKE_STORAGE for the ingest and publish workers, then re-run the ingest")
            found.add((source, partition))
    return [list(p) for p in sorted(found)]


def partitions_from_params(params: Mapping[str, Any], storage: Storage) -> list[list[str]]:
    """[source, partition] pairs a manual run asked for (``partitions`` and ``sources`` conf)."""
    from filinglake.publish.clean_layer import clean_partitions
    from filinglake.sources import get_source

    wanted: list[list[str]] = []
    for item in params.get("partitions") or []:
        source, _, partition = str(item).partition("/")
        if not (source and partition):
            raise ValueError(f"partitions param {item!r}: write SOURCE/PARTITION, e.g. sec_edgar/2016Q3")
        wanted.append([source, get_source(source).partition(partition).id])  # as landed: the source's spelling
    if params.get("sources"):
        wanted += [list(p) for p in clean_partitions(storage, params["sources"])]
    return wanted


def publish_unpublished(storage: Storage, settings: Settings, rebuild_issuers: Iterable[str] = ()) -> dict:
    """The sweep: publish every landed partition that is new or changed since it was last published.

    The publish ledger (``published/_ledger.json``) says which those are, so a dropped or merged asset
    event delays a partition by one sweep at most, and a sweep with nothing to do reads no clean data.
    """
    from filinglake.publish.run import publish_pending

    return publish_pending(storage, settings, rebuild_issuers=rebuild_issuers)


def pending_partitions(storage: Storage) -> list[tuple[str, str]]:
    """Landed partitions new or changed since last published (one listing of ``manifests/``, the ledger)."""
    from filinglake.publish import ledger
    from filinglake.publish.clean_layer import clean_partitions

    return ledger.pending(storage, clean_partitions(storage))[0]


def reference_sources() -> list[str]:
    """Sources whose reference list publish fetches (``Source.reference_url``): one refresh task each."""
    from filinglake.config import Settings
    from filinglake.sources import all_sources

    defaults = Settings()
    return [source.name for source in all_sources() if source.reference_url(defaults) is not None]


def refresh_references(source: str) -> dict | None:
    """Archive ``source``'s reference list (SEC's company_tickers.json, HKEXnews' stock list and its Chinese twin)
    once per UTC day.

    One task per source, in that source's pool. A failure only logs a warning: the tables keep the last
    archived copy of the list.
    """
    from dataclasses import replace

    from filinglake.errors import FilinglakeError
    from filinglake.publish.references import fetch_reference_list
    from filinglake.sources import get_source
    from filinglake.storage import Storage

    settings = task_settings()
    try:
        # few retries: without the list this run still publishes, with the last archived one
        ref = fetch_reference_list(Storage.from_settings(settings), replace(settings, http_retries=2),
                                   get_source(source))
    except (FilinglakeError, ValueError) as exc:  # ConfigError is a ValueError (no SEC user agent)
        log.warning("%s reference list not refreshed (the tables keep the last archived copy): %s", source, exc)
        return None
    return {"keys": {source: ref.key}, "changed": [source] if ref.new else []}


def publish_run(references: dict | Iterable[dict | None] | None, context: Mapping[str, Any]) -> dict:
    """Publish what this run is for (see the module docstring); returns the XCom-sized summary.

    The watchlist is checked first, so a broken one stops the run before anything merges (the alerts
    tasks then evaluate every filings version since their marks: nothing merged is ever left unevaluated).
    """
    from filinglake.alerts.watchlist import validate_watchlist
    from filinglake.publish.run import publish, summary
    from filinglake.storage import Storage

    settings = task_settings()
    validate_watchlist(settings)
    storage = Storage.from_settings(settings)
    events = context.get("triggering_asset_events")
    wanted = partitions_from_events(events, settings.storage) + partitions_from_params(context.get("params") or {},
                                                                                        storage)
    # a changed reference list touches issuers this batch may not: recompute all issuers of its source then
    refreshed = [references] if isinstance(references, Mapping) else list(references or [])
    rebuild = sorted({source for ref in refreshed if ref for source in ref.get("changed") or []})
    if events:
        # Airflow 3.3 drops events that arrive while this DAG (max_active_runs=1) waits for a run slot
        # (apache/airflow#56050): an event-triggered run also publishes every landed partition still pending,
        # so a dropped event waits for the next publish of any kind, not for the hourly sweep.
        missed = [list(p) for p in pending_partitions(storage) if list(p) not in wanted]
        if missed:
            log.warning("publishing %d landed partition(s) whose asset events never reached a run: %s",
                        len(missed), ", ".join("/".join(p) for p in missed))
        wanted += missed
    if events or wanted:
        result = publish(storage, settings, sorted({(s, p) for s, p in wanted}), rebuild_issuers=rebuild)
    else:
        log.info("no triggering events and no partitions asked for: sweeping every landed partition")
        result = publish_unpublished(storage, settings, rebuild)
    return {**summary(result), "storage": settings.storage}


def record_source_alerts(published: Mapping[str, Any], source: str) -> list[dict]:
    """Watchlist alerts on every ``source`` row of ``filings`` not evaluated yet (each alert recorded once).

    One task per source, in that source's pool: alerts capture documents from the source's hosts,
    which must count against the same per-host limit as the ingest tasks. Each source keeps its own
    "evaluated up to" mark on the alerts table, so rows a failed or retried run merged are caught up here.
    """
    from filinglake.alerts.record import record_alerts
    from filinglake.storage import Storage

    settings = task_settings()
    return record_alerts(Storage.from_settings(settings), settings, source=source)


def write_status_page() -> str:
    """Rewrite ``reports/index.html``; returns its key."""
    from filinglake.report import write_report
    from filinglake.storage import Storage

    settings = task_settings()
    return write_report(Storage.from_settings(settings), settings)
