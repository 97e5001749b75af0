"""A partition switches as a whole: the manifest, written last, is the commit every reader goes through.

A re-landing of a changed SEC quarter (the real 1993Q4 master plus two rows) is killed after its data
files are written and before its manifest: publish, the validation record, the query views and the status
report must all still see the previous partition, whole. A later landing removes what it superseded.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fakes.replay import ReplayServer, Reply
from fakes.sec_edgar import sec_fixture_map

from filinglake import report
from filinglake.config import Settings
from filinglake.ingest.landing import Context, fetch_partition, write_partition
from filinglake.ingest.validation import validate_partition
from filinglake.publish.clean_layer import clean_partitions, read_clean
from filinglake.query import run_query
from filinglake.sources.sec_edgar import SecEdgar
from filinglake.storage import Storage

QUARTER = "1993Q4"
INDEX_PATH = "/Archives/edgar/full-index/1993/QTR4/master.idx"
#: one valid new row and one whose file name holds no accession number (quarantined)
ADDED_ROWS = (b"1000|NEW CO|10-K|1993-12-30|edgar/data/1000/0000001000-94-000001.txt\n"
              b"2000|BROKEN CO|10-K|1993-12-30|edgar/data/2000/no-accession-here.txt\n")


class Killed(BaseException):
    """Stands for kill -9: nothing after the point of death runs (not even ``except Exception``)."""


def land(settings: Settings) -> dict:
    ctx = Context.build("sec_edgar", QUARTER, settings)
    return write_partition(ctx, fetch_partition(ctx))


def serve_grown_index(sec_server: ReplayServer, fixtures_dir: Path) -> None:
    real = sec_fixture_map(fixtures_dir)["full-index/1993/QTR4/master.idx"].read_bytes()
    sec_server.routes[("GET", INDEX_PATH)] = Reply(body=real + ADDED_ROWS)


def partition_parquet(root: Path) -> list[Path]:
    """What a glob over the clean and quarantine layers finds for the quarter."""
    return sorted([*root.glob(f"clean/**/partition={QUARTER}/*.parquet"),
                   *root.glob(f"quarantine/**/partition={QUARTER}/*.parquet")])


def test_relanding_killed_before_its_manifest_leaves_every_reader_on_the_old_partition(
    settings: Settings, sec_server: ReplayServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage.from_settings(settings)
    first = land(settings)
    assert (first["rows_written"], first["quarantined"]) == (20, 0)
    old_ids = sorted(read_clean(storage, [("sec_edgar", QUARTER)])["native_id"].to_pylist())

    serve_grown_index(sec_server, fixtures_dir)
    real_put_json = Storage.put_json

    def die_at_the_manifest(self: Storage, key: str, obj: object) -> None:
        if key.startswith("manifests/"):
            raise Killed(key)
        real_put_json(self, key, obj)

    monkeypatch.setattr(Storage, "put_json", die_at_the_manifest)
    with pytest.raises(Killed):
        land(settings)
    monkeypatch.setattr(Storage, "put_json", real_put_json)

    # The new rows did reach storage before the kill...
    root = Path(storage.base)
    assert 21 in {pq.read_metadata(p).num_rows for p in partition_parquet(root) if "/clean/" in str(p)}
    # ...and yet every reader sees the previous partition, whole.
    assert clean_partitions(storage) == [("sec_edgar", QUARTER)]
    published = read_clean(storage, clean_partitions(storage))
    assert sorted(published["native_id"].to_pylist()) == old_ids and published.num_rows == 20
    record = validate_partition(storage, "sec_edgar", QUARTER, SecEdgar().rules(SecEdgar().partition(QUARTER)))
    assert record.success and record.rows == 20
    assert run_query("select count(*) as n from quarantine", storage=storage)["n"].to_pylist() == [0]
    assert report.collect(storage, settings).sources["sec_edgar"].clean_rows == 20

    # The next landing completes and switches to the new version.
    second = land(settings)
    assert (second["rows_in"], second["rows_written"], second["quarantined"]) == (22, 21, 1)
    assert read_clean(storage, clean_partitions(storage)).num_rows == 21
    assert run_query("select count(*) as n from quarantine", storage=storage)["n"].to_pylist() == [1]


def test_second_landing_removes_superseded_files(
    settings: Settings, sec_server: ReplayServer, fixtures_dir: Path
) -> None:
    storage = Storage.from_settings(settings)
    root = Path(storage.base)
    first = land(settings)
    first_files = {f["key"] for layer in ("clean", "quarantine") for f in first["files"][layer]}
    assert {str(p.relative_to(root)) for p in partition_parquet(root)} == first_files
    for layer in ("clean", "quarantine"):
        (entry,) = first["files"][layer]
        assert entry["size"] == (root / entry["key"]).stat().st_size
        assert entry["rows"] == pq.read_metadata(root / entry["key"]).num_rows

    serve_grown_index(sec_server, fixtures_dir)
    second = land(settings)
    second_files = {f["key"] for layer in ("clean", "quarantine") for f in second["files"][layer]}
    assert second_files.isdisjoint(first_files)  # new content, new names
    assert {str(p.relative_to(root)) for p in partition_parquet(root)} == second_files  # the old ones are gone
    assert not any(root.rglob(".tmp-*"))


def test_leftovers_of_a_crashed_landing_are_never_read_and_are_removed_later(
    settings: Settings, sec_server: ReplayServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    storage = Storage.from_settings(settings)
    root = Path(storage.base)
    land(settings)
    serve_grown_index(sec_server, fixtures_dir)
    real_replace = os.replace

    def die_renaming_clean(src, dst):  # killed between writing the temporary file and renaming it
        if "/clean/" in str(dst):
            raise Killed(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", die_renaming_clean)
    with pytest.raises(Killed):
        land(settings)
    monkeypatch.setattr(os, "replace", real_replace)

    temporaries = list(root.rglob(".tmp-*"))
    assert temporaries, "the simulated crash left its temporary file"
    assert not [p for p in partition_parquet(root) if p.name.startswith(".tmp-")]  # no *.parquet glob finds it
    assert read_clean(storage, clean_partitions(storage)).num_rows == 20

    # The temporary was written after the committed manifest: the next landing leaves it (it could belong
    # to a landing still running); the one after removes it, being older than the manifest it replaces.
    land(settings)
    land(settings)
    assert not any(root.rglob(".tmp-*"))
    named = {f["key"] for layer in ("clean", "quarantine")
             for f in storage.get_json(f"manifests/source=sec_edgar/partition={QUARTER}.json")["files"][layer]}
    assert {str(p.relative_to(root)) for p in partition_parquet(root)} == named
