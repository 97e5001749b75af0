"""The key index (``published/filing_keys``): CNINFO and HKEX keys bucketed by id, legacy ``all`` keys still found.

Real captured rows: CNINFO's stock 000001 page (announcementIds 503030..10041201, 2001–02) and HKEX
00007's rows of two days eight years apart (NEWS_IDs 1,537,040.. and 9,196,xxx..).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from filinglake.config import Settings
from filinglake.ingest import landing as pipeline
from filinglake.publish import delta, filing_keys
from filinglake.publish.clean_layer import read_clean
from filinglake.publish.filings import FILINGS
from filinglake.publish.run import publish, read_published
from filinglake.sources.cninfo import Cninfo
from filinglake.sources.hkex import Hkex
from filinglake.storage import Storage

CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
CNINFO_PARTITION = "stock-000001_2001-01-01_2002-12-31"
HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
HKEX_DAYS = (date(2012, 11, 14), date(2020, 7, 16))
PARTITIONS = [("cninfo", CNINFO_PARTITION), *(("hkex", f"{d.isoformat()}-en") for d in HKEX_DAYS)]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(storage=f"file://{tmp_path / 'lake'}")


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage(settings.storage, settings)


def land(settings: Settings, source: str, partition: str, name: str, data: bytes) -> None:
    ctx = pipeline.Context.build(source, partition, settings)
    ref = ctx.storage.archive_raw(source, partition, name, data, f"https://example.invalid/{name}")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})


@pytest.fixture
def landed(settings, fixtures_dir) -> None:
    land(settings, "cninfo", CNINFO_PARTITION, "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    rows = json.loads((fixtures_dir / HKEX_ROWS).read_text(encoding="utf-8"))
    for day in HKEX_DAYS:
        day_rows = [r for r in rows if r["DATE_TIME"].startswith(day.strftime("%d/%m/%Y"))]
        land(settings, "hkex", f"{day.isoformat()}-en", "titleSearch.json", json.dumps(day_rows).encode())


def index_rows(storage: Storage) -> list[dict]:
    return sorted(read_published_keys(storage).to_pylist(), key=lambda r: (r["source"], r["filing_id"]))


def read_published_keys(storage: Storage) -> pa.Table:
    return delta.read(storage, filing_keys.FILING_KEYS, filing_keys.FILING_KEYS_SCHEMA)


def expected_bucket(filing_id: str) -> str:
    return f"{int(filing_id.split(':', 1)[1]) // 1_000_000 * 1_000_000:010d}"


def test_cninfo_and_hkex_keys_land_in_the_million_of_their_id(settings, storage, landed) -> None:
    publish(storage, settings, PARTITIONS)
    rows = index_rows(storage)
    published = read_published(storage, FILINGS)
    assert len(rows) == published.num_rows == 8 + 7 + 5
    assert all(r["id_bucket"] == expected_bucket(r["filing_id"]) for r in rows)
    buckets = {(r["source"], r["id_bucket"]) for r in rows}
    # CNINFO's 2001–02 ids 503030..633103 and 10041201; HKEX's 2012 day and its 2020 day
    assert buckets == {("cninfo", "0000000000"), ("cninfo", "0010000000"),
                       ("hkex", "0001000000"), ("hkex", "0009000000")}


def test_a_daily_lookup_reads_only_the_buckets_of_its_ids(settings, storage, landed) -> None:
    publish(storage, settings, PARTITIONS)
    index = delta.open_table(storage, filing_keys.FILING_KEYS)
    present = {(p["source"], p["id_bucket"]) for p in index.partitions()}
    assert ("hkex", "0001000000") in present and ("cninfo", "0000000000") in present
    day = read_clean(storage, [("hkex", f"{HKEX_DAYS[1].isoformat()}-en")])
    keyed = filing_keys.with_buckets(day.select(["source", "filing_id", "issuer_id"]))
    scans = filing_keys.scan_predicates(keyed, present)
    assert [(source, bucket) for source, bucket, _ in scans] == [("hkex", "0009000000")]
    # the day's five ids are pushed into the scan
    where = scans[0][2]
    assert all(f"'{i}'" in where for i in day["filing_id"].to_pylist())
    # a bucket the index has never seen is not read at all: its keys are all new
    unseen = pa.table({"source": ["hkex"], "filing_id": ["hkex:11495385"], "issuer_id": ["00007"]})
    assert filing_keys.scan_predicates(filing_keys.with_buckets(unseen), present) == []


def test_keys_published_before_the_rule_are_found_and_rebucketed_once(settings, storage, landed, monkeypatch) -> None:
    # the previous version: CNINFO and HKEX declared no rule, so every key went to the bucket "all"
    monkeypatch.setattr(Cninfo, "filing_id_bucket", None)
    monkeypatch.setattr(Hkex, "filing_id_bucket", None)
    publish(storage, settings, PARTITIONS)
    legacy = index_rows(storage)
    assert {r["id_bucket"] for r in legacy} == {"all"}
    monkeypatch.undo()

    # with the rules, a lookup still reads the legacy bucket while it exists, and finds every key
    batch = read_clean(storage, PARTITIONS)
    keys = batch.select(["source", "filing_id", "issuer_id"])
    present = {(r["source"], r["id_bucket"]) for r in legacy}
    scanned = {(s, b) for s, b, _ in filing_keys.scan_predicates(filing_keys.with_buckets(keys), present)}
    assert scanned == {("cninfo", "all"), ("hkex", "all")}
    assert filing_keys.lookup(storage, keys).num_rows == len(legacy)

    # publishing the same partitions again: nothing inserted, one row per key, the index re-bucketed
    again = publish(storage, settings, PARTITIONS)
    assert (again["inserted"], again["updated"]) == (0, 0)
    published = read_published(storage, FILINGS)
    assert published.num_rows == len(legacy)
    assert len(set(zip(published["filing_id"].to_pylist(), published["issuer_id"].to_pylist(), strict=True))) \
        == published.num_rows
    rows = index_rows(storage)
    assert [(r["filing_id"], r["issuer_id"], r["filing_month"]) for r in rows] \
        == [(r["filing_id"], r["issuer_id"], r["filing_month"]) for r in legacy]
    assert all(r["id_bucket"] == expected_bucket(r["filing_id"]) for r in rows)
    index = delta.open_table(storage, filing_keys.FILING_KEYS)
    assert all(p["id_bucket"] != "all" for p in index.partitions())
    # done once: the next sync has nothing to move and commits nothing
    version = index.version()
    assert filing_keys.rebucket_legacy(storage, index) == 0
    filing_keys.sync(storage)
    assert delta.open_table(storage, filing_keys.FILING_KEYS).version() == version


def test_a_key_appended_to_the_legacy_bucket_during_the_move_is_not_lost(settings, storage, landed,
                                                                         monkeypatch) -> None:
    monkeypatch.setattr(Cninfo, "filing_id_bucket", None)
    monkeypatch.setattr(Hkex, "filing_id_bucket", None)
    publish(storage, settings, PARTITIONS[1:2])  # HKEX's 2012 day
    stale = delta.open_table(storage, filing_keys.FILING_KEYS)
    # a publish of the previous version appends HKEX's 2020 keys to "all" after our snapshot was read
    publish(storage, settings, PARTITIONS[2:])
    monkeypatch.undo()
    from deltalake.exceptions import CommitFailedError

    with pytest.raises(CommitFailedError):
        filing_keys.rebucket_legacy(storage, stale)
    filing_keys.sync(storage)  # what publish runs: retried on the conflict
    rows = read_published_keys(storage)
    published = read_published(storage, FILINGS)
    assert set(zip(rows["filing_id"].to_pylist(), rows["issuer_id"].to_pylist(), strict=True)) == set(
        zip(published["filing_id"].to_pylist(), published["issuer_id"].to_pylist(), strict=True))
    assert pc.all(pc.not_equal(rows["id_bucket"], "all")).as_py()


def test_a_bucket_with_many_batch_ids_is_read_whole_and_joined(settings, storage, fixtures_dir) -> None:
    # the real 2020-03-18 daily: 2,600-odd accessions of 2020 (and back-dated ones of 2019) published,
    # then looked up again: the 2020 bucket is read without an IN list (delta-rs evaluates a long one
    # slowly), the 2019 one with its few ids pushed in, and every key is found
    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    batch = read_clean(storage, [("sec_edgar", "2020-03-18")])
    keys = batch.select(["source", "filing_id", "issuer_id"])
    index = delta.open_table(storage, filing_keys.FILING_KEYS)
    scans = {bucket: where for _, bucket, where in
             filing_keys.scan_predicates(filing_keys.with_buckets(keys), filing_keys._partitions(index))}
    assert set(scans) == {"2019", "2020"}
    assert "filing_id IN" not in scans["2020"] and "filing_id IN" in scans["2019"]
    found = filing_keys.lookup(storage, keys)
    published = read_published(storage, FILINGS)
    assert found.num_rows == published.num_rows
    assert sorted(zip(found["filing_id"].to_pylist(), found["issuer_id"].to_pylist(), found["filing_month"].to_pylist(),
                      found["id_bucket"].to_pylist(), strict=True)) == sorted(
        zip(published["filing_id"].to_pylist(), published["issuer_id"].to_pylist(),
            published["filing_month"].to_pylist(), [i.split("-")[1] and "20" + i.split("-")[1]
                                                    for i in published["filing_id"].to_pylist()], strict=True))


def md5_key_hash(filing_id: str, issuer_id: str) -> int:
    """The documented ``key_hash``: the first 60 bits (15 hex digits) of MD5(filing_id, US, issuer_id)."""
    return int(hashlib.md5(f"{filing_id}\x1f{issuer_id}".encode()).hexdigest()[:15], 16)


def test_an_index_written_before_key_hash_is_rebuilt_once_and_finds_every_key(settings, storage, fixtures_dir) -> None:
    # the real 2020-03-18 daily published, then its index rewritten as the previous version wrote it
    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    from deltalake import write_deltalake

    index = delta.open_table(storage, filing_keys.FILING_KEYS)
    old = delta.read(storage, filing_keys.FILING_KEYS, filing_keys.FILING_KEYS_SCHEMA).drop_columns(["key_hash"])
    write_deltalake(index, old, mode="overwrite", schema_mode="overwrite", partition_by=["source", "id_bucket"])
    assert "key_hash" not in delta.open_table(storage, filing_keys.FILING_KEYS).schema().to_arrow().names

    again = publish(storage, settings, [("sec_edgar", "2020-03-18")])
    assert (again["inserted"], again["updated"]) == (0, 0)
    published = read_published(storage, FILINGS)
    keys = set(zip(published["filing_id"].to_pylist(), published["issuer_id"].to_pylist(), strict=True))
    assert len(keys) == published.num_rows
    rows = read_published_keys(storage)
    assert set(zip(rows["filing_id"].to_pylist(), rows["issuer_id"].to_pylist(), strict=True)) == keys
    assert rows["key_hash"].to_pylist() == [md5_key_hash(f, i) for f, i in
                                            zip(rows["filing_id"].to_pylist(), rows["issuer_id"].to_pylist(), strict=True)]


def test_a_new_key_sharing_a_published_keys_hash_is_inserted_not_matched(settings, storage, landed) -> None:
    publish(storage, settings, PARTITIONS[:2])  # CNINFO's page, HKEX's 2012 day
    day_2020 = read_clean(storage, [PARTITIONS[2]])
    new_id, new_issuer = day_2020["filing_id"][0].as_py(), day_2020["issuer_id"][0].as_py()
    # an index row of another key (same id, another issuer) with the new key's hash, published in November 2012
    decoy = filing_keys._rows(pa.table({"source": ["hkex"], "filing_id": [new_id], "issuer_id": ["99999"],
                                        "filing_month": ["2012-11"]}))
    decoy = decoy.set_column(decoy.schema.get_field_index("key_hash"), "key_hash",
                             pa.array([md5_key_hash(new_id, new_issuer)], pa.int64()))
    from deltalake import write_deltalake

    write_deltalake(delta.open_table(storage, filing_keys.FILING_KEYS), decoy, mode="append",
                    partition_by=["source", "id_bucket"])
    found = filing_keys.lookup(storage, day_2020.select(["source", "filing_id", "issuer_id"]))
    assert found.filter(pc.equal(found["filing_id"], new_id))["filing_month"].to_pylist() == ["2012-11"]

    result = publish(storage, settings, [PARTITIONS[2]])
    assert (result["inserted"], result["updated"]) == (day_2020.num_rows, 0)  # the 2012-11 row is not its row
    published = read_published(storage, FILINGS)
    assert published.num_rows == 8 + 7 + 5
    assert published.filter(pc.equal(published["filing_id"], new_id))["filing_month"].to_pylist() == ["2020-07"]
