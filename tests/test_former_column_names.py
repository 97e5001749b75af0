"""A lake written before ``ingested_at`` became ``archived_at`` keeps working after the upgrade.

A real SEC day is landed, then its clean and quarantine files are rewritten as the previous version
wrote them (the column called ``ingested_at``) and its manifest committed to them. Every reader of
that partition (row reads, publish, the quarantine view, the status page's statistics, validation)
must see the old column as ``archived_at`` with the same values. No published table holds the column
(filings keep ``first_seen_at`` / ``last_seen_at``), so no Delta table needs to evolve.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from filinglake import manifests
from filinglake.ingest.landing import ingest
from filinglake.publish.filings import FILINGS
from filinglake.publish.run import publish, read_published
from filinglake.query import run_query
from filinglake.report import collect
from filinglake.schema import QUARANTINE_SCHEMA
from filinglake.storage import Storage

OLD_DAY, NEW_QUARTER = "2018-12-31", "1993Q4"


def as_previous_version(table: pa.Table) -> pa.Table:
    return table.rename_columns(["ingested_at" if n == "archived_at" else n for n in table.column_names])


@pytest.fixture
def mixed_lake(settings) -> tuple[Storage, pa.Table]:
    """SEC 2018-12-31 as the previous version landed it (with two quarantined rows), 1993Q4 as today's."""
    storage = Storage.from_settings(settings)
    ingest("sec_edgar", NEW_QUARTER, settings, validate=False)
    ingest("sec_edgar", OLD_DAY, settings, validate=False)  # archived last: the latest archived_at is the old file's
    manifest = manifests.read_manifest(storage, "sec_edgar", OLD_DAY)
    landed = manifests.read_layer(storage, manifest, "clean")
    clean = landed.slice(2)
    quarantined = landed.slice(0, 2).append_column("failed_checks",
                                                   pa.array([["planted"]] * 2, pa.list_(pa.string())))
    files = {
        "clean": [manifests.write_data_file(storage, "sec_edgar", OLD_DAY, "clean", as_previous_version(clean))],
        "quarantine": [manifests.write_data_file(storage, "sec_edgar", OLD_DAY, "quarantine",
                                                 as_previous_version(quarantined.cast(QUARANTINE_SCHEMA)))],
    }
    manifests.commit(storage, {**manifest, "files": files, "rows_written": manifest["rows_written"] - 2,
                               "quarantined": manifest["quarantined"] + 2})
    stored = storage.read_parquet(files["clean"][0]["key"])
    assert "ingested_at" in stored.column_names and "archived_at" not in stored.column_names
    return storage, landed


def test_rows_of_an_old_partition_are_read_under_the_new_name(mixed_lake) -> None:
    storage, clean = mixed_lake
    rows = manifests.read_committed(storage, "sec_edgar", OLD_DAY)
    assert "ingested_at" not in rows.column_names
    assert rows["archived_at"].equals(clean.slice(2)["archived_at"]) and rows.num_rows == clean.num_rows - 2 > 0


def test_an_old_partition_publishes_with_its_archive_time(mixed_lake, settings) -> None:
    storage, clean = mixed_lake
    publish(storage, settings, [("sec_edgar", OLD_DAY), ("sec_edgar", NEW_QUARTER)])
    published = read_published(storage, FILINGS)
    assert "ingested_at" not in published.column_names and "archived_at" not in published.column_names
    from_old = published.filter(pc.field("filing_date") == clean["filing_date"][5])
    assert from_old.num_rows > 0
    archived = clean["archived_at"][5].as_py()
    assert set(from_old["first_seen_at"].to_pylist()) == {archived}  # not NULL: the old column was read


def test_quarantine_view_reads_old_and_new_files_alike(mixed_lake) -> None:
    storage, clean = mixed_lake
    rows = run_query("SELECT partition, archived_at FROM quarantine ORDER BY partition", storage=storage)
    assert rows["partition"].to_pylist() == [OLD_DAY, OLD_DAY]
    assert rows["archived_at"].to_pylist() == clean["archived_at"].to_pylist()[:2]


def test_status_page_freshness_reads_the_old_statistics(mixed_lake) -> None:
    storage, clean = mixed_lake
    stats = collect(storage).sources["sec_edgar"]
    new = pc.max(manifests.read_committed(storage, "sec_edgar", NEW_QUARTER)["archived_at"]).as_py()
    old = pc.max(clean["archived_at"]).as_py()
    assert old > new  # so only the old file's statistics can give the answer
    assert stats.latest_archived_at == old


def test_validation_reads_an_old_partition(mixed_lake) -> None:
    from filinglake.ingest.validation import validate_partition
    from filinglake.sources import get_source

    storage, _ = mixed_lake
    sec = get_source("sec_edgar")
    report = validate_partition(storage, "sec_edgar", OLD_DAY, sec.rules(sec.partition(OLD_DAY)))
    assert report.rows > 0
