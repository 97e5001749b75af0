"""``build_ingest_dag``: the one shape every ingest DAG has, so DAG files only state their choices.

    fetch_index ──► write_partition ──► validate_partition ──► asset clean.<source>.filings

- ``fetch_index`` (in the source's pool): works out the run's partition, downloads the index and
  archives the raw bytes (``filinglake.ingest.landing.fetch_partition``); returns raw references (XCom).
  Throttling and "not posted yet" are retried later, bad responses fail at once (:mod:`.retry`).
- ``write_partition``: parse, row checks, clean + quarantine Parquet and the manifest; returns the
  manifest summary (source, partition, counts, keys).
- ``validate_partition``: the validation record (Great Expectations) of the written partition; fails when GX
  disagrees, otherwise emits an asset event whose ``extra`` is the summary plus the storage root and
  the GX result (``{"source", "partition", "kind", "status", "rows_in", "rows_written", "duplicates",
  "quarantined", "clean_key", "quarantine_key", "storage", "validation": {"success", "key", "rows"}}``).

Each task rebuilds its ``filinglake.ingest.landing.Context`` from the partition id, so any task can be
cleared and rerun alone; every step is idempotent.

**Runs side by side.** A scheduled run can wait days for a late index (``fetch_index`` retrying);
with one run slot a manual repair run would queue behind it. So ingest DAGs allow
:data:`MAX_ACTIVE_RUNS` runs, and the landing guard keeps concurrent runs from landing a partition
at the same moment: ``write_partition`` and ``validate_partition`` run one task instance at a time
per DAG (``max_active_tis_per_dag=1``), while fetches are already bounded by the host pool.

A source with several streams per period (HKEX: the ``en`` and ``zh`` lists of one day) passes
``streams``: a ``partitions`` task then lists ``<rule's id>-<stream>`` and the three tasks are mapped
over it, one mapped instance (and one asset event) per stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, DeadlineAlert, DeadlineReference, Metadata, Param, SyncCallback, task

from filinglake.freshness import LandingSchedule
from filinglake.sources import get_source
from filinglake_airflow import OWNER
from filinglake_airflow.assets import clean_filings_asset
from filinglake_airflow.notifier import LatePartitionNotifier
from filinglake_airflow.partitions import PartitionRule, partition_for_run
from filinglake_airflow.retry import IngestRetryPolicy
from filinglake_airflow.task_settings import task_settings
from filinglake_airflow.timetables import MarketDayTimetable

log = logging.getLogger(__name__)

#: runs of one ingest DAG that may be active at once. A daily run waits at most ~3.6 days for a late index
#: (the doubling not-yet-published delays over ``fetch_retries``), so at most four scheduled runs wait
#: together; the fifth slot is always free for a manual repair (tested in tests/test_dags.py).
MAX_ACTIVE_RUNS = 5
#: the landing guard: one write (and one validation) at a time per DAG, whatever the number of active runs
LANDING_GUARD = {"max_active_tis_per_dag": 1}

FORCE_PARAM_HELP = (
    "Land the partition even when the new index has fewer rows than the landed one (indexes only grow, so "
    "that is refused by default as a truncated or partial response). For a source that really removed rows."
)

PARTITION_PARAM_HELP = (
    "Ingest this partition instead of the one the run's date selects (manual reruns and repairs). "
    "SEC: YYYY-MM-DD for a daily index, YYYYQn for a quarterly one. CNINFO: YYYY-MM-DD (a Beijing day) or "
    "stock-002236_2020-01-01_2024-12-31 (one issuer over a range). HKEX: YYYY-MM-DD (both language streams) "
    "or YYYY-MM-DD-en / YYYY-MM-DD-zh. Leave empty for scheduled runs."
)


def run_partition(rule: PartitionRule, context: dict[str, Any], landing: LandingSchedule | None = None) -> str:
    """The partition a run ingests: the ``partition`` param if given, else ``rule(logical date)``.

    Runs triggered without a logical date (Airflow 3 allows that) use the time they were queued for: for
    a daily DAG (``landing`` given), the latest market day whose run time has passed by then.
    """
    override = (context.get("params") or {}).get("partition")
    moment = context.get("logical_date")
    if moment is None:
        moment = context["dag_run"].run_after
        if landing is not None and (day := landing.latest_run_day(moment)) is not None:
            moment = landing.logical_date(day)
    return partition_for_run(rule, moment, override)


def run_stream_partitions(rule: PartitionRule, streams: Sequence[str], context: dict[str, Any],
                          landing: LandingSchedule | None = None) -> list[str]:
    """Every stream's partition of a run: ``<rule's id>-<stream>``.

    A ``partition`` param naming one stream (``2024-12-23-zh``) lands just that one; a param without a
    stream suffix (``2024-12-23``) lands every stream of it.
    """
    override = (context.get("params") or {}).get("partition")
    if override is not None and str(override).strip():
        override = str(override).strip()
        if any(override.endswith(f"-{stream}") for stream in streams):
            return [override]
        return [f"{override}-{stream}" for stream in streams]
    return [f"{run_partition(rule, context, landing)}-{stream}" for stream in streams]


def landing_deadline(source: str, landing: LandingSchedule) -> DeadlineAlert:
    """The deadline alert of a daily DAG: ``LatePartitionNotifier`` when the run has not succeeded by the
    source's deadline (counted from the logical date, the market day's 00:00 UTC)."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=landing.deadline_after_logical_date(),
        callback=SyncCallback(LatePartitionNotifier, kwargs={"source": source, "expected": landing.describe()}),
        name=f"{source} partition landed",
    )


def build_ingest_dag(
    *,
    dag_id: str,
    source: str,
    start_date: datetime,
    doc_md: str,
    schedule: Any = None,
    partition_rule: PartitionRule = "market_day",
    daily: bool = False,
    catchup: bool,
    max_active_runs: int,
    tags: list[str],
    pool: str | None = None,
    retries: int = 2,
    retry_delay: timedelta = timedelta(minutes=5),
    fetch_retries: int = 6,
    not_yet_published_delay: timedelta = timedelta(hours=1),
    dagrun_timeout: timedelta | None = None,
    streams: Sequence[str] = (),
    **dag_kwargs: Any,
) -> DAG:
    """An ingest DAG for ``source``: fetch_index → write_partition → validate_partition.

    ``fetch_retries`` bounds how long a run keeps waiting for a late index or a lifted block
    (``fetch_retries`` × ``not_yet_published_delay`` at most); other tasks get ``retries``.
    ``streams`` (e.g. ``("en", "zh")``) maps the three tasks over one partition per stream.
    ``daily``: one run per market day of the source's ``landing_schedule`` (``MarketDayTimetable``, rule
    ``market_day``) and a deadline alert at its landing deadline; ``schedule`` must then be left out.
    """
    landing = get_source(source).landing_schedule if daily else None
    if daily:
        if landing is None or schedule is not None:
            raise ValueError(f"{dag_id}: daily=True needs a source with a landing_schedule and no schedule")
        schedule = MarketDayTimetable.for_schedule(landing)
        dag_kwargs.setdefault("deadline", landing_deadline(source, landing))
    asset = clean_filings_asset(source)
    retry_policy = IngestRetryPolicy(not_yet_published_delay=not_yet_published_delay)
    default_args = {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
    }

    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=catchup,
        max_active_runs=max_active_runs,
        tags=tags,
        doc_md=doc_md,
        default_args=default_args,
        dagrun_timeout=dagrun_timeout,
        params={
            "partition": Param(None, type=["null", "string"], description=PARTITION_PARAM_HELP),
            "force": Param(False, type="boolean", description=FORCE_PARAM_HELP),
        },
        **dag_kwargs,
    ) as dag:

        @task(
            task_id="fetch_index",
            pool=pool or get_source(source).pool,
            retries=fetch_retries,
            retry_policy=retry_policy,
            doc_md="Download the partition's index and archive the raw bytes (nothing else is written).",
        )
        def fetch_index(partition_id: str | None = None, **context: Any) -> dict:
            from filinglake.ingest.landing import Context, fetch_partition

            settings = task_settings()
            partition_id = partition_id or run_partition(partition_rule, context, landing)
            log.info("%s: fetching partition %s", source, partition_id)
            return fetch_partition(Context.build(source, partition_id, settings))

        @task(task_id="write_partition", **LANDING_GUARD, retry_policy=retry_policy,
              doc_md="Parse, check rows, write clean + quarantine Parquet and the manifest (the manifest is the "
                     "commit). A re-landing with fewer rows than the landed partition fails unless `force`.")
        def write_partition(fetched: dict, **context: Any) -> dict:
            from filinglake.ingest import landing as pipeline

            ctx = pipeline.Context.build(source, fetched["partition"], task_settings())
            force = bool((context.get("params") or {}).get("force"))
            manifest = pipeline.write_partition(ctx, fetched, force=force)
            return pipeline.summary(manifest)

        @task(
            task_id="validate_partition",
            outlets=[asset],
            **LANDING_GUARD,
            doc_md="Validation record (Great Expectations) of the partition; on success an asset event carries the counts.",
        )
        def validate_partition(landed: dict):
            from airflow.sdk.exceptions import AirflowFailException

            from filinglake.ingest import landing as pipeline
            from filinglake.ingest.validation import ValidationMismatch

            ctx = pipeline.Context.build(source, landed["partition"], task_settings())
            try:
                report = pipeline.validate_partition(ctx)
            except ValidationMismatch as exc:
                # Deterministic: the same rows give the same disagreement, so retrying is pointless.
                raise AirflowFailException(f"{source} {landed['partition']}: {exc}") from exc
            if not report.get("success"):
                raise AirflowFailException(f"{source} {landed['partition']}: validation failed: {report}")
            validation = {"success": True, "key": report.get("key"), "rows": report.get("rows")}
            # keys in the summary are relative to the storage root: say which root, for consumers
            yield Metadata(asset, {**landed, "storage": ctx.settings.storage, "validation": validation})
            return validation

        if not streams:
            validate_partition(write_partition(fetch_index()))
        else:

            @task(task_id="partitions", doc_md="The run's partition for each stream (e.g. one HKEX day in en and zh).")
            def partitions(**context: Any) -> list[str]:
                return run_stream_partitions(partition_rule, streams, context, landing)

            fetched = fetch_index.expand(partition_id=partitions())
            validate_partition.expand(landed=write_partition.expand(fetched=fetched))

    return dag
