"""One partition through the data flow: fetch → raw archive → parse → row checks → clean/quarantine → manifest.

The three steps are separate functions because Airflow runs them as separate tasks
(``fetch_index`` → ``write_partition`` → ``validate_partition``); :func:`ingest` chains them for the
CLI. Every step is idempotent: identical raw bytes are archived once and keep their first
``fetched_at`` (which becomes ``ingested_at``), so a rerun rewrites byte-identical Parquet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from filinglake import __version__
from filinglake.config import Settings, load_settings
from filinglake.ingest.row_checks import check_rows
from filinglake.schema import FILINGS_SCHEMA, PARSED_SCHEMA, QUARANTINE_SCHEMA
from filinglake.sources import Partition, Source, get_source
from filinglake.storage import RawRef, Storage, clean_key, manifest_key, quarantine_key

log = logging.getLogger("filinglake.ingest.landing")


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


def with_lineage(parsed: pa.Table, raw_key: str, ingested_at: datetime) -> pa.Table:
    n = parsed.num_rows
    parsed = parsed.cast(PARSED_SCHEMA)
    return parsed.append_column(
        FILINGS_SCHEMA.field("raw_key"), pa.repeat(pa.scalar(raw_key, pa.string()), n)
    ).append_column(
        FILINGS_SCHEMA.field("ingested_at"), pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n)
    )


def write_partition(ctx: Context, fetched: dict) -> dict:
    """Parse, check and write clean + quarantine Parquet, then the manifest; returns the manifest."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    refs = [RawRef(**r) for r in fetched.get("raw", [])]
    table = parse_raw(ctx.source, refs, ctx.storage)
    rules = ctx.source.rules(ctx.partition)
    result = check_rows(table, rules)
    source, pid = ctx.source.name, ctx.partition.id
    # Quarantine first, clean second, manifest last: the manifest is the record that the partition is complete.
    q_key, c_key = quarantine_key(source, pid), clean_key(source, pid)
    q_bytes = ctx.storage.write_parquet(q_key, result.quarantine)
    c_bytes = ctx.storage.write_parquet(c_key, result.clean.cast(FILINGS_SCHEMA))
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
        "raw": [r.to_dict() for r in refs],
        "outputs": {"clean": c_key, "quarantine": q_key, "clean_bytes": c_bytes, "quarantine_bytes": q_bytes},
        "notes": fetched.get("notes") or {},
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        "filinglake_version": __version__,
    }
    assert manifest["rows_in"] == manifest["rows_written"] + manifest["duplicates"] + manifest["quarantined"]
    ctx.storage.put_json(manifest_key(source, pid), manifest)
    log.info(
        "%s %s: rows_in=%d written=%d duplicates=%d quarantined=%d",
        source, pid, result.rows_in, result.rows_written, result.duplicates, result.quarantined,
    )
    return manifest


def validate_partition(ctx: Context) -> dict:
    """Great Expectations record of the written partition (fails on any disagreement with the row checks)."""
    from filinglake.ingest.gx_record import validate_partition as gx_validate

    report = gx_validate(ctx.storage, ctx.source.name, ctx.partition.id, ctx.source.rules(ctx.partition))
    return report.to_dict()


def ingest(
    source_name: str,
    partition_id: str,
    settings: Settings | None = None,
    *,
    validate: bool = True,
    wait_on_block: bool = True,
) -> dict:
    """Fetch, land and (optionally) validate one partition; returns the manifest (plus the GX summary)."""
    ctx = Context.build(source_name, partition_id, settings)
    fetched = fetch_partition(ctx, wait_on_block=wait_on_block)
    manifest = write_partition(ctx, fetched)
    if validate:
        report = validate_partition(ctx)
        manifest["validation"] = {"success": report.get("success"), "key": report.get("key")}
    return manifest


def summary(manifest: dict) -> dict:
    """The small part of a manifest that travels in XComs and asset events."""
    keys = ("source", "partition", "kind", "status", "rows_in", "rows_written", "duplicates", "quarantined")
    out = {k: manifest.get(k) for k in keys}
    out["clean_key"] = manifest.get("outputs", {}).get("clean")
    out["quarantine_key"] = manifest.get("outputs", {}).get("quarantine")
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
