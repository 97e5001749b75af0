"""A publish of many partitions (a backfill's) goes in batches: memory follows the batch, the ledger each batch.

Real SEC indexes from the fixtures, landed as four partitions (two of them listing the same 50 keys);
a small ``BATCH_ROWS`` splits them into batches. The result must equal a one-batch publish, and an
interruption must leave the completed batches published and recorded, the rest pending.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest
from test_publish import (
    DAILY_2026,
    QUARTER_1993,
    as_quarterly,
    assert_tables_match_a_recomputation,
    header_of,
    land,
    published_state,
)

from filinglake.config import Settings
from filinglake.publish import delta, run
from filinglake.publish.clean_layer import read_clean
from filinglake.publish.ledger import read_ledger
from filinglake.storage import Storage

DAILY_2018 = "edgar/daily/master.20181231.excerpt.idx"
#: sorted as publish orders them, with their clean rows
PARTITIONS = [("sec_edgar", "1993Q4"), ("sec_edgar", "2018-12-31"), ("sec_edgar", "2026-01-02"), ("sec_edgar", "2026Q1")]


@pytest.fixture
def landed(tmp_path: Path, fixtures_dir: Path) -> Storage:
    """The four partitions landed; 2026Q1 lists the 50 filings of 2026-01-02 again, as the quarterly index does."""
    settings = Settings(storage=(tmp_path / "lake").as_uri())
    daily = (fixtures_dir / DAILY_2026).read_bytes()
    quarter = (fixtures_dir / QUARTER_1993).read_bytes()
    land(settings, "sec_edgar", "1993Q4", "master.idx", quarter)
    land(settings, "sec_edgar", "2018-12-31", "master.20181231.idx", (fixtures_dir / DAILY_2018).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily)
    land(settings, "sec_edgar", "2026Q1", "master.idx", as_quarterly(daily, header_of(quarter)))
    return Storage.from_settings(settings)


def copy_of(storage: Storage, folder: Path) -> Storage:
    shutil.copytree(storage.base, folder)
    return Storage(folder.as_uri())


def test_batches_group_partitions_up_to_the_row_limit_and_split_larger_ones(landed: Storage, monkeypatch) -> None:
    monkeypatch.setattr(run, "BATCH_ROWS", 60)
    planned = run.batches(landed, PARTITIONS)
    assert [(b.partitions, b.rows) for b in planned] == [
        ([PARTITIONS[0], PARTITIONS[1]], 20 + 10), ([PARTITIONS[2]], 50), ([PARTITIONS[3]], 50)]
    monkeypatch.setattr(run, "BATCH_ROWS", 15)  # larger partitions: in parts of equal rows
    planned = run.batches(landed, PARTITIONS)
    assert [(b.partitions, b.rows, b.part, b.parts) for b in planned][:3] == [
        ([PARTITIONS[0]], 10, 0, 2), ([PARTITIONS[0]], 10, 1, 2), ([PARTITIONS[1]], 10, 0, 1)]
    assert [(b.rows, b.part, b.parts) for b in planned if b.partitions == [PARTITIONS[2]]] == [
        (12, 0, 4), (13, 1, 4), (12, 2, 4), (13, 3, 4)]
    assert len(planned) == 3 + 4 + 4


def test_publish_in_batches_equals_one_publish(landed: Storage, tmp_path: Path, monkeypatch) -> None:
    whole = copy_of(landed, tmp_path / "whole")
    one = run.publish_pending(whole)
    assert one["batches"] == 1 and one["inserted"] == 20 + 10 + 50

    monkeypatch.setattr(run, "BATCH_ROWS", 60)
    batched = run.publish_pending(landed)
    assert batched["batches"] == 3
    assert batched["partitions"] == [list(p) for p in PARTITIONS]
    # the quarter's 50 keys were published by the batch before: found, not inserted again
    assert (batched["rows_read"], batched["inserted"], batched["new"]) == (130, 80, 80)
    assert batched["version"] > batched["version_before"]
    assert published_state(landed) == published_state(whole)
    assert_tables_match_a_recomputation(landed)
    assert set(read_ledger(landed)) == {f"{s}/{p}" for s, p in PARTITIONS}
    assert run.publish_pending(landed)["partitions"] == []


@pytest.mark.parametrize(("batch_rows", "failing_part", "resumed_batches"), [
    (60, 0, 2),  # between batches: 1993Q4 + 2018-12-31 done, 2026-01-02 fails
    (15, 2, 8),  # inside a partition: two of 2026-01-02's four parts merged, the partition not recorded
], ids=["between-batches", "between-parts"])
def test_an_interrupted_publish_records_only_complete_partitions(landed: Storage, tmp_path: Path, monkeypatch,
                                                                 batch_rows: int, failing_part: int,
                                                                 resumed_batches: int) -> None:
    reference = copy_of(landed, tmp_path / "reference")
    run.publish_pending(reference)
    monkeypatch.setattr(run, "BATCH_ROWS", batch_rows)
    publish_batch = run._publish_batch

    def fail_at(storage, batch, states, rebuild):
        if batch.partitions == [PARTITIONS[2]] and batch.part == failing_part:
            raise OSError("storage went away")
        return publish_batch(storage, batch, states, rebuild)

    monkeypatch.setattr(run, "_publish_batch", fail_at)
    with pytest.raises(OSError, match="storage went away"):
        run.publish_pending(landed)
    assert set(read_ledger(landed)) == {"sec_edgar/1993Q4", "sec_edgar/2018-12-31"}

    monkeypatch.setattr(run, "_publish_batch", publish_batch)
    resumed = run.publish_pending(landed)
    assert resumed["partitions"] == [list(p) for p in PARTITIONS[2:]] and resumed["batches"] == resumed_batches
    assert published_state(landed) == published_state(reference)
    assert_tables_match_a_recomputation(landed)


def test_a_quarter_too_large_for_one_batch_is_published_a_month_per_part(tmp_path: Path, fixtures_dir: Path) -> None:
    # the real 2016 Q3 master index: 201,330 rows, three parts of at most BATCH_ROWS
    settings = Settings(storage=(tmp_path / "lake").as_uri())
    land(settings, "sec_edgar", "2016Q3", "master.idx",
         gzip.decompress((fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()))
    storage = Storage.from_settings(settings)
    partition = ("sec_edgar", "2016Q3")
    assert [b.parts for b in run.batches(storage, [partition])] == [3, 3, 3]
    clean = read_clean(storage, [partition])
    parts = [run.part_of(clean, i, 3) for i in range(3)]
    # cut at the month ends, together every row once
    assert [pc.unique(pc.strftime(p["filing_date"], "%Y-%m")).to_pylist() for p in parts] == [
        ["2016-07"], ["2016-08"], ["2016-09"]]
    assert all(p.num_rows <= run.BATCH_ROWS for p in parts)
    def keys(rows):
        return sorted(zip(rows["filing_id"].to_pylist(), rows["issuer_id"].to_pylist(), strict=True))

    assert sorted(k for p in parts for k in keys(p)) == keys(clean)  # every row once (13 keys are listed twice)

    published = run.publish_pending(storage)
    assert (published["batches"], published["inserted"]) == (3, len(set(keys(clean))))
    # one file per month of filings (cut in the index's own order, each part wrote one to every month),
    # so the weekly compaction finds nothing to cluster
    files = delta.open_table(storage, "filings").file_uris()
    assert sorted(f.split("filing_month=")[1].split("/")[0] for f in files) == ["2016-07", "2016-08", "2016-09"]
    assert_tables_match_a_recomputation(storage)
    assert run.compact_tables(storage)["filings"]["clustered_partitions"] == 0
