"""One partition through the data flow: fetch → raw archive → parse → row checks → clean/quarantine → manifest.

The three steps are separate functions because Airflow runs them as separate tasks
(``fetch_index`` → ``write_partition`` → ``validate_partition``); :func:`ingest` chains them for the
CLI. Every step is idempotent: identical raw bytes are archived once and keep their first
``fetched_at`` (which becomes ``archived_at``), so a rerun rewrites byte-identical Parquet.

A partition switches as a whole: data files are named by their content and the manifest, written
last, names them (:mod:`filinglake.manifests`). A re-landing with fewer rows than the landed
partition is refused unless forced (:class:`ShrinkingPartition`): indexes only grow, so fewer rows
means a truncated or partial response.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from filinglake import __version__, manifests
from filinglake.config import Settings, load_settings
from filinglake.errors import BadResponse
from filinglake.ingest.row_checks import check_rows
from filinglake.schema import FILINGS_SCHEMA, PARSED_SCHEMA, QUARANTINE_SCHEMA
from filinglake.sources import Partition, Source, get_source
from filinglake.storage import RawRef, Storage

log = logging.getLogger("filinglake.ingest.landing")


class ShrinkingPartition(BadResponse):
    """A re-landing would replace a landed partition with fewer rows (a truncated or partial response).

    Retrying fetches the same bytes; a person decides (``force=True``) if the source really shrank.
    """


@dataclass
class Context:
    """What every step needs, resolved once."""

    settings: Settings
    storage: Storage
    source: Source
    partition: Partition

    @classmethod
    def build(cls, source_name: str, partition_id: str, settings: Settings | None = None) -> Context:
        settings = settings or load_settings()
        source = get_source(source_name)
        return cls(settings, Storage.from_settings(settings), source, source.partition(partition_id))


def fetch_partition(ctx: Context, *, wait_on_block: bool = False, client=None) -> dict:
    """Download the partition's raw files and archive them; returns a small JSON-able record (an XCom)."""
    from filinglake.sources import make_client  # httpx only where we fetch

    own_client = client is None
    client = client or make_client(ctx.source.name, ctx.settings, wait_on_block=wait_on_block)
    try:
        result = ctx.source.fetch(ctx.partition, client, ctx.settings)
    finally:
        if own_client:
            client.close()
    refs = [
        ctx.storage.archive_raw(ctx.source.name, ctx.partition.id, f.name, f.data, f.url, f.content_type)
        for f in result.files
    ]
    for ref in refs:
        log.info("%s %s: raw %s (%d bytes, sha256 %s)", ctx.source.name, ctx.partition.id, ref.key, ref.size,
                 "new" if ref.new else "already archived")
    return {
        "source": ctx.source.name,
        "partition": ctx.partition.id,
        "raw": [r.to_dict() for r in refs],
        "empty_reason": result.empty_reason,
        "notes": result.notes,
    }


def parse_raw(source: Source, refs: list[RawRef], storage: Storage) -> pa.Table:
    """Parse archived raw files and add the lineage columns (FILINGS_SCHEMA)."""
    tables = []
    for ref in refs:
        parsed = source.parse(storage.get_bytes(ref.key), ref.name)
        tables.append(with_lineage(parsed, ref.key, datetime.fromisoformat(ref.fetched_at)))
    if not tables:
        return FILINGS_SCHEMA.empty_table()
    return pa.concat_tables(tables)


def with_lineage(parsed: pa.Table, raw_key: str, archived_at: datetime) -> pa.Table:
    n = parsed.num_rows
    parsed = parsed.cast(PARSED_SCHEMA)
    return parsed.append_column(
        FILINGS_SCHEMA.field("raw_key"), pa.repeat(pa.scalar(raw_key, pa.string()), n)
    ).append_column(
        FILINGS_SCHEMA.field("archived_at"), pa.repeat(pa.scalar(archived_at, pa.timestamp("us", tz="UTC")), n)
    )


def write_partition(ctx: Context, fetched: dict, *, force: bool = False) -> dict:
    """Parse, check and commit the partition: data files first, then the manifest that names them.

    Refuses (:class:`ShrinkingPartition`) to replace a landed partition with one of fewer rows
    unless ``force``; the refused raw files stay archived, marked ``not_landed`` in their meta.
    Returns the manifest.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    steps = _StepClock()
    refs = [RawRef(**r) for r in fetched.get("raw", [])]
    table = parse_raw(ctx.source, refs, ctx.storage)
    steps.lap("parse")
    rules = ctx.source.rules(ctx.partition)
    result = check_rows(table, rules)
    steps.lap("checks")
    source, pid = ctx.source.name, ctx.partition.id
    previous = manifests.read_manifest(ctx.storage, source, pid)
    if previous is not None and not force:
        refuse_shrinking(ctx.storage, previous, result.rows_in, refs, fetched.get("empty_reason"))
    clean_file = manifests.write_data_file(ctx.storage, source, pid, "clean", result.clean.cast(FILINGS_SCHEMA))
    quarantine_file = manifests.write_data_file(ctx.storage, source, pid, "quarantine", result.quarantine)
    steps.lap("write")
    manifest = {
        "source": source,
        "partition": pid,
        "kind": ctx.partition.kind,
        "period": {"start": ctx.partition.start.isoformat(), "end": ctx.partition.end.isoformat()},
        "status": "landed" if result.rows_in else "empty",  # archived pages that list nothing are still empty
        "empty_reason": fetched.get("empty_reason"),
        **result.counts(),
        "failures": result.failures,
        "rules": [r.name for r in rules],
        "raw": [{k: v for k, v in r.to_dict().items() if k != "not_landed"} for r in refs],
        "files": {"clean": [clean_file], "quarantine": [quarantine_file]},
        "forced": force,
        "notes": fetched.get("notes") or {},
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        # where the time went: read+parse+lineage, row checks, Parquet encoding+hash+store (wall and CPU)
        "step_seconds": steps.wall,
        "step_cpu_seconds": steps.cpu,
        "filinglake_version": __version__,
    }
    assert manifest["rows_in"] == manifest["rows_written"] + manifest["duplicates"] + manifest["quarantined"]
    manifests.commit(ctx.storage, manifest)
    for ref in refs:
        if ref.not_landed:  # refused once, landed now (forced, or the partition was removed meanwhile)
            ctx.storage.mark_raw(ref.key, None)
    log.info(
        "%s %s: rows_in=%d written=%d duplicates=%d quarantined=%d",
        source, pid, result.rows_in, result.rows_written, result.duplicates, result.quarantined,
    )
    return manifest


class _StepClock:
    """Wall and CPU seconds (this process, every thread) of consecutive steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, step: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall[step] = round(wall - self._wall, 4)
        self.cpu[step] = round(cpu - self._cpu, 4)
        self._wall, self._cpu = wall, cpu


def refuse_shrinking(storage: Storage, previous: dict, rows_in: int, refs: list[RawRef],
                     empty_reason: str | None) -> None:
    """Raise :class:`ShrinkingPartition` when ``rows_in`` is below the landed partition's, marking the raw files."""
    landed = int(previous.get("rows_in") or 0)
    if rows_in >= landed:
        return
    source, pid = previous["source"], previous["partition"]
    what = f"is empty ({empty_reason})" if not refs else f"has {rows_in:,} rows"
    message = (f"{source} {pid}: the new fetch {what}, fewer than the {landed:,} rows landed "
               f"{previous.get('finished_at') or 'before'}; refusing to replace the partition (indexes only "
               "grow: a truncated or partial response?). Land it with force to replace it anyway.")
    landed_raw = {r.get("key") for r in previous.get("raw") or []}
    for ref in refs:
        if ref.key not in landed_raw:
            storage.mark_raw(ref.key, f"refused: {rows_in:,} rows, fewer than the {landed:,} landed")
    raise ShrinkingPartition(message)


def validate_partition(ctx: Context) -> dict:
    """Validation record (Great Expectations) of the written partition (fails on any disagreement with the row checks)."""
    from filinglake.ingest.validation import validate_partition as gx_validate

    report = gx_validate(ctx.storage, ctx.source.name, ctx.partition.id, ctx.source.rules(ctx.partition))
    return report.to_dict()


def ingest(
    source_name: str,
    partition_id: str,
    settings: Settings | None = None,
    *,
    validate: bool = True,
    wait_on_block: bool = True,
    force: bool = False,
) -> dict:
    """Fetch, land and (optionally) validate one partition; returns the manifest (plus the GX summary).

    ``force`` replaces a landed partition even with fewer rows (see :func:`write_partition`).
    """
    ctx = Context.build(source_name, partition_id, settings)
    fetched = fetch_partition(ctx, wait_on_block=wait_on_block)
    manifest = write_partition(ctx, fetched, force=force)
    if validate:
        report = validate_partition(ctx)
        manifest["validation"] = {"success": report.get("success"), "key": report.get("key")}
    return manifest


def summary(manifest: dict) -> dict:
    """The small part of a manifest that travels in XComs and asset events."""
    keys = ("source", "partition", "kind", "status", "rows_in", "rows_written", "duplicates", "quarantined")
    out = {k: manifest.get(k) for k in keys}
    out["clean_key"] = next(iter(manifests.data_keys(manifest, "clean")), None)
    out["quarantine_key"] = next(iter(manifests.data_keys(manifest, "quarantine")), None)
    return out


def parse_file(source_name: str, path: Path, output_dir: Path) -> dict:
    """Parse and check one local file with no network; write filings.parquet and quarantine.parquet."""
    source = get_source(source_name)
    data = Path(path).read_bytes()
    parsed = source.parse(data, Path(path).name)
    table = with_lineage(parsed, f"file://{Path(path).resolve()}", datetime.now(UTC))
    result = check_rows(table, source.rules(None))
    output_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.clean.cast(FILINGS_SCHEMA), output_dir / "filings.parquet", compression="zstd")
    pq.write_table(result.quarantine.cast(QUARANTINE_SCHEMA), output_dir / "quarantine.parquet", compression="zstd")
    return {**result.counts(), "failures": result.failures, "output": str(output_dir)}
