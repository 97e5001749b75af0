"""A publish of many partitions (a backfill's) goes in batches: memory follows the batch, the ledger each batch.

Real SEC indexes from the fixtures, landed as four partitions (two of them listing the same 50 keys);
a small ``BATCH_ROWS`` splits them into batches. The result must equal a one-batch publish, and an
interruption must leave the completed batches published and recorded, the rest pending.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
from filinglake.publish import run
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
