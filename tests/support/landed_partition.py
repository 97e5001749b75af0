"""Land parsed rows as the pipeline does, without fetching: for tests of the validation record and its pages.

    manifest = land_rows(storage, "hkex", "2012-11-14-en", parsed, rules)

Lineage columns get fixed values, the row checks split clean from quarantined rows, quarantine and
clean Parquet are written first and the manifest last (the order of ``landing.write_partition``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from filinglake.ingest.row_checks import Rule, check_rows
from filinglake.schema import FILINGS_SCHEMA, conform
from filinglake.storage import Storage, clean_key, manifest_key, quarantine_key

ARCHIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def land_rows(
    storage: Storage, source: str, partition: str, parsed: pa.Table, rules: list[Rule], status: str = "landed"
) -> dict:
    """Check ``parsed`` with ``rules``, write clean, quarantine and the manifest; return the manifest."""
    n = parsed.num_rows
    table = conform(parsed, FILINGS_SCHEMA)
    table = table.set_column(
        table.schema.get_field_index("raw_key"), "raw_key", pa.array(["raw/test"] * n, pa.string())
    )
    table = table.set_column(
        table.schema.get_field_index("archived_at"),
        "archived_at",
        pa.array([ARCHIVED_AT] * n, pa.timestamp("us", tz="UTC")),
    )
    result = check_rows(table, rules)
    storage.write_parquet(quarantine_key(source, partition), result.quarantine)
    storage.write_parquet(clean_key(source, partition), result.clean.cast(FILINGS_SCHEMA))
    manifest = {
        "source": source,
        "partition": partition,
        "status": status,
        **result.counts(),
        "failures": result.failures,
        "rules": [r.name for r in rules],
        "raw": [],
        "outputs": {"clean": clean_key(source, partition), "quarantine": quarantine_key(source, partition)},
    }
    storage.put_json(manifest_key(source, partition), manifest)
    return manifest
