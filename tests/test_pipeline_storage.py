"""One partition through fetch → raw archive → parse → checks → Parquet, on file:// and on a real S3 endpoint.

The S3 endpoint is moto in server mode on 127.0.0.1, started and stopped here; the SEC archive is the
replay server serving the real captured index files.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from fakes.replay import ReplayServer, Reply
from fakes.sec_edgar import sec_archive_routes, sec_block_page_reply, sec_fixture_map

from filinglake.config import Settings
from filinglake.errors import BadResponse, Blocked, NotYetPublished
from filinglake.ingest.landing import Context, fetch_partition, write_partition
from filinglake.manifests import read_committed
from filinglake.sources.sec_edgar import SecEdgar
from filinglake.storage import Storage, manifest_key, safe_name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sec_server(fixtures_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer(sec_archive_routes(fixtures_dir)) as server:
        yield server


def _settings(storage: str, server: ReplayServer, **extra) -> Settings:
    return Settings(
        storage=storage,
        sec_user_agent="filinglake-tests tests@example.com",
        http_retries=2,
        **extra,
    ).with_source("sec_edgar", base_url=server.sec_base_url, rate=10, block_seconds=600)


def _land(settings: Settings, partition: str, today: date | None = None) -> dict:
    ctx = Context.build("sec_edgar", partition, settings)
    return write_partition(ctx, fetch_partition(ctx))


def _sha(storage: Storage, key: str) -> str:
    return hashlib.sha256(storage.get_bytes(key)).hexdigest()


@pytest.fixture
def moto_s3() -> Iterator[dict]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3.create_bucket(Bucket="filinglake-test")
    try:
        yield {"endpoint": endpoint, "client": s3}
    finally:
        server.stop()


def test_quarter_on_s3_round_trip_and_rerun_is_identical(moto_s3: dict, sec_server: ReplayServer, fixtures_dir: Path) -> None:
    settings = _settings(
        "s3://filinglake-test/lake",
        sec_server,
        s3_endpoint_url=moto_s3["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    storage = Storage.from_settings(settings)
    first = _land(settings, "2016Q3")
    assert first["rows_in"] == 201_330 and first["rows_written"] == 201_330
    assert first["duplicates"] == 0 and first["quarantined"] == 0
    fixture = sec_fixture_map(fixtures_dir)["full-index/2016/QTR3/master.gz"]
    assert first["raw"][0]["sha256"] == hashlib.sha256(fixture.read_bytes()).hexdigest()

    table = read_committed(storage, "sec_edgar", "2016Q3")
    assert table.num_rows == 201_330
    assert table.schema.field("filing_date").type == "date32[day]"
    objects = {o["Key"]: o for o in moto_s3["client"].list_objects_v2(Bucket="filinglake-test")["Contents"]}
    raw_keys = [k for k in objects if k.startswith("lake/raw/")]
    assert len(raw_keys) == 2  # the index and its .meta.json
    (clean,) = first["files"]["clean"]
    assert objects[f"lake/{clean['key']}"]["Size"] == clean["size"]
    clean_sha = _sha(storage, clean["key"])
    assert clean_sha == clean["sha256"]

    second = _land(settings, "2016Q3")
    assert second["raw"][0]["fetched_at"] == first["raw"][0]["fetched_at"]
    objects_after = [o["Key"] for o in moto_s3["client"].list_objects_v2(Bucket="filinglake-test")["Contents"]]
    assert sorted(objects_after) == sorted(objects), "a rerun must not add objects"
    assert second["files"] == first["files"], "a rerun names the same files"
    assert _sha(storage, clean["key"]) == clean_sha, "a rerun rewrites identical bytes"
    assert read_committed(storage, "sec_edgar", "2016Q3").num_rows == 201_330
    assert {k: second[k] for k in ("rows_in", "rows_written", "duplicates", "quarantined")} == {
        k: first[k] for k in ("rows_in", "rows_written", "duplicates", "quarantined")
    }


def test_daily_partition_on_file_storage(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    manifest = _land(settings, "2018-12-31")
    assert manifest["status"] == "landed"
    assert manifest["rows_in"] == manifest["rows_written"] + manifest["duplicates"] + manifest["quarantined"] == 10
    storage = Storage.from_settings(settings)
    assert storage.get_json(manifest_key("sec_edgar", "2018-12-31"))["rows_written"] == 10
    assert read_committed(storage, "sec_edgar", "2018-12-31", "quarantine").num_rows == 0
    # the request declared the configured contact
    (request,) = [r for r in sec_server.requests if r.path.endswith("master.20181231.idx")]
    assert request.headers["user-agent"] == "filinglake-tests tests@example.com"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_weekend_is_an_empty_successful_partition(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    manifest = _land(settings, "2018-12-29")  # a Saturday: no daily file
    assert manifest["status"] == "empty" and manifest["rows_written"] == 0
    assert "no daily index" in manifest["empty_reason"]
    storage = Storage.from_settings(settings)
    assert read_committed(storage, "sec_edgar", "2018-12-29").num_rows == 0
    assert storage.list("raw/") == []


def test_recent_missing_day_is_retried_not_recorded_empty(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    ctx = Context.build("sec_edgar", "2026-11-24", settings)
    from filinglake.sources import make_client

    with make_client("sec_edgar", settings) as client, pytest.raises(NotYetPublished, match="not posted yet"):
        SecEdgar().fetch(ctx.partition, client, settings, today=date(2026, 11, 25))
    assert Storage.from_settings(settings).list("") == []


def _listing_as_of(fixtures_dir: Path, cutoff: str) -> Reply:
    """SEC's index.json for daily-index/2018/QTR4 as it stood on ``cutoff`` (names from the real listing)."""
    listing = (fixtures_dir / "edgar/listings/daily-index_2018_QTR4.htm").read_text()
    names = sorted({n for n in re.findall(r"master\.\d{8}\.idx", listing) if n[7:15] <= cutoff})
    return Reply.json({"directory": {"name": "daily-index/2018/QTR4/", "item": [{"name": n} for n in names]}})


def test_weekday_missing_while_a_later_day_is_listed_is_empty_at_once(
    tmp_path: Path, sec_server: ReplayServer, fixtures_dir: Path
) -> None:
    # 2018-12-24 (a Monday) had no index: the markets closed by executive order; SEC posted 12-26 next.
    sec_server.routes[("GET", "/Archives/edgar/daily-index/2018/QTR4/index.json")] = _listing_as_of(fixtures_dir, "20181226")
    settings = _settings(tmp_path.as_uri(), sec_server)
    partition = SecEdgar().partition("2018-12-24")
    from filinglake.sources import make_client

    with make_client("sec_edgar", settings) as client:
        result = SecEdgar().fetch(partition, client, settings, today=date(2018, 12, 26))
    assert result.files == [] and "master.20181226.idx" in result.empty_reason


def test_weekday_missing_with_no_later_day_listed_waits(tmp_path: Path, sec_server: ReplayServer, fixtures_dir: Path) -> None:
    sec_server.routes[("GET", "/Archives/edgar/daily-index/2018/QTR4/index.json")] = _listing_as_of(fixtures_dir, "20181221")
    settings = _settings(tmp_path.as_uri(), sec_server)
    from filinglake.sources import make_client

    with make_client("sec_edgar", settings) as client, pytest.raises(NotYetPublished, match="not posted yet"):
        SecEdgar().fetch(SecEdgar().partition("2018-12-24"), client, settings, today=date(2018, 12, 25))
    assert sec_server.requests_to("/Archives/edgar/daily-index/2018/QTR4/index.json")


def test_block_page_writes_nothing(tmp_path: Path, sec_server: ReplayServer, fixtures_dir: Path) -> None:
    sec_server.routes[("GET", "/Archives/edgar/daily-index/2018/QTR4/master.20181231.idx")] = sec_block_page_reply(
        fixtures_dir
    )
    settings = _settings(tmp_path.as_uri(), sec_server)
    ctx = Context.build("sec_edgar", "2018-12-31", settings)
    with pytest.raises(Blocked) as caught:
        fetch_partition(ctx)
    assert caught.value.retry_after == 600
    assert Storage.from_settings(settings).list("") == []


def test_html_with_status_200_writes_nothing(tmp_path: Path, sec_server: ReplayServer) -> None:
    sec_server.routes[("GET", "/Archives/edgar/daily-index/2018/QTR4/master.20181231.idx")] = Reply(
        body=b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>", content_type="text/html"
    )
    settings = _settings(tmp_path.as_uri(), sec_server)
    with pytest.raises(BadResponse, match="Maintenance"):
        fetch_partition(Context.build("sec_edgar", "2018-12-31", settings))
    assert Storage.from_settings(settings).list("") == []


def test_truncated_gzip_writes_nothing(tmp_path: Path, sec_server: ReplayServer, fixtures_dir: Path) -> None:
    data = sec_fixture_map(fixtures_dir)["full-index/2016/QTR3/master.gz"].read_bytes()
    sec_server.routes[("GET", "/Archives/edgar/full-index/2016/QTR3/master.gz")] = Reply(
        body=data[:100_000], content_type="application/x-gzip"
    )
    settings = _settings(tmp_path.as_uri(), sec_server)
    with pytest.raises(BadResponse, match="truncated"):
        fetch_partition(Context.build("sec_edgar", "2016Q3", settings))
    assert Storage.from_settings(settings).list("") == []


def test_changed_raw_bytes_are_archived_beside_the_old_ones(tmp_path: Path, sec_server: ReplayServer, fixtures_dir: Path) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    _land(settings, "1993Q4")
    path = sec_fixture_map(fixtures_dir)["full-index/1993/QTR4/master.idx"]
    grown = path.read_bytes() + b"1000|NEW CO|10-K|1993-12-30|edgar/data/1000/0000001000-94-000001.txt\n"
    sec_server.routes[("GET", "/Archives/edgar/full-index/1993/QTR4/master.gz")] = Reply(status=404)
    sec_server.routes[("GET", "/Archives/edgar/full-index/1993/QTR4/master.idx")] = Reply(body=grown)
    manifest = _land(settings, "1993Q4")
    assert manifest["rows_written"] == 21
    storage = Storage.from_settings(settings)
    raw = [k for k in storage.list("raw/") if not k.endswith(".meta.json")]
    assert len(raw) == 2  # the earlier version stays; the clean partition holds the newest
    assert read_committed(storage, "sec_edgar", "1993Q4").num_rows == 21


def test_storage_keys_are_sanitised(tmp_path: Path) -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("finalpage/2024-12-23/1222222.PDF") == "1222222.PDF"
    assert safe_name("..") == "unnamed"
    storage = Storage(tmp_path.as_uri())
    with pytest.raises(ValueError, match="never climb"):
        storage.put_bytes("clean/../../escape", b"x")
    ref = storage.archive_raw("x", "p/../../q", "../evil name.json", b"{}", "https://example.com/")
    assert ref.key.startswith("raw/source=x/partition=q/") and "/.." not in ref.key
    assert replace(ref, new=False) == storage.archive_raw("x", "p/../../q", "../evil name.json", b"{}", "u")


def test_recent_weekend_is_empty_at_once(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    from filinglake.sources import make_client

    saturday = Context.build("sec_edgar", "2026-11-21", settings).partition
    with make_client("sec_edgar", settings) as client:
        result = SecEdgar().fetch(saturday, client, settings, today=date(2026, 11, 22))
    assert result.files == [] and "weekend" in result.empty_reason
    # it did look: a Saturday file, should SEC ever post one, would be landed
    assert sec_server.requests_to("/Archives/edgar/daily-index/2026/QTR4/master.20261121.idx")


def test_periods_that_have_not_begun_are_refused_without_a_request(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    from filinglake.sources import make_client

    today = date(2026, 11, 25)
    with make_client("sec_edgar", settings) as client:
        with pytest.raises(ValueError, match="2027Q1 is in the future"):
            SecEdgar().fetch(SecEdgar().partition("2027Q1"), client, settings, today=today)
        with pytest.raises(NotYetPublished, match="2026-11-26"):
            SecEdgar().fetch(SecEdgar().partition("2026-11-26"), client, settings, today=today)
        # the current quarter is fetched (its index grows daily until the quarter ends)
        with pytest.raises(NotYetPublished, match="2026Q4: no quarterly index yet"):
            SecEdgar().fetch(SecEdgar().partition("2026Q4"), client, settings, today=today)
    assert [r.path for r in sec_server.requests] == [
        "/Archives/edgar/full-index/2026/QTR4/master.gz",
        "/Archives/edgar/full-index/2026/QTR4/master.idx",
    ]


@pytest.mark.parametrize(
    ("day", "stamp"),
    [("1994-07-01", "070194"), ("1996-03-04", "960304"), ("2015-01-02", "20150102")],
)
def test_daily_gz_variant_in_each_file_name_era(
    tmp_path: Path, fixtures_dir: Path, replay_server, day: str, stamp: str
) -> None:
    """Only ``master.<stamp>.idx.gz`` exists (older daily files were also served compressed)."""
    import gzip

    real = sec_fixture_map(fixtures_dir)["daily-index/2018/QTR4/master.20181231.idx"].read_bytes()
    served = gzip.compress(real)
    year, quarter = day[:4], (int(day[5:7]) - 1) // 3 + 1
    folder = f"/Archives/edgar/daily-index/{year}/QTR{quarter}"
    server = replay_server({("GET", f"{folder}/master.{stamp}.idx.gz"): Reply(body=served,
                                                                           content_type="application/x-gzip")})
    settings = _settings(tmp_path.as_uri(), server)
    fetched = fetch_partition(Context.build("sec_edgar", day, settings))
    assert [r.path for r in server.requests] == [f"{folder}/master.{stamp}.idx", f"{folder}/master.{stamp}.idx.gz"]
    (raw,) = fetched["raw"]
    assert raw["name"] == f"master.{stamp}.idx.gz" and raw["key"].endswith(f"-master.{stamp}.idx.gz")
    assert raw["sha256"] == hashlib.sha256(served).hexdigest()  # archived as served, still compressed
    storage = Storage.from_settings(settings)
    assert SecEdgar().parse(storage.get_bytes(raw["key"]), raw["name"]).num_rows == 10


def test_ingest_command_lands_a_day_and_a_quarter(
    tmp_path: Path, sec_server: ReplayServer, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import json

    from filinglake.cli.app import main as cli_main

    monkeypatch.setenv("FILINGLAKE_STORAGE", tmp_path.as_uri())
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", sec_server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", "filinglake-tests tests@example.com")
    storage = Storage(tmp_path.as_uri())
    for args, partition, rows in ((["--date", "2018-12-31"], "2018-12-31", 10), (["--quarter", "1993Q4"], "1993Q4", 20)):
        assert cli_main(["ingest", "--source", "sec_edgar", *args]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["partition"] == partition and summary["status"] == "landed"
        assert (summary["rows_in"], summary["rows_written"], summary["duplicates"], summary["quarantined"]) == (rows, rows, 0, 0)
        assert storage.read_parquet(summary["clean_key"]).num_rows == rows
        assert storage.get_json(manifest_key("sec_edgar", partition))["rows_written"] == rows
        assert storage.get_json(f"validation/source=sec_edgar/partition={partition}/gx_result.json")["success"] is True


@pytest.mark.parametrize("option", [["--date", "2018-12-31"], ["--quarter", "2016Q3"]])
def test_ingest_command_without_user_agent_names_the_variable(
    tmp_path: Path, sec_server: ReplayServer, option: list[str]
) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FILINGLAKE_SEC_USER_AGENT"}
    env.update({"FILINGLAKE_STORAGE": tmp_path.as_uri(), "FILINGLAKE_SEC_BASE_URL": sec_server.sec_base_url})
    script = Path(sys.executable).with_name("filinglake")
    out = subprocess.run([str(script), "ingest", "--source", "sec_edgar", *option],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("filinglake: error: FILINGLAKE_SEC_USER_AGENT is not set"), err
    assert out.stdout == ""
    assert sec_server.requests == [] and list(tmp_path.iterdir()) == []


def test_ingest_command_with_unreachable_object_storage_is_one_line(
    sec_server: ReplayServer, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from filinglake.cli.app import main as cli_main

    monkeypatch.setenv("FILINGLAKE_STORAGE", "s3://filinglake-test/lake")
    monkeypatch.setenv("FILINGLAKE_S3_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", sec_server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", "filinglake-tests tests@example.com")
    assert cli_main(["ingest", "--source", "sec_edgar", "--date", "2018-12-31", "--no-validate"]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("filinglake: error:")]
    assert len(errors) == 1 and "filinglake-test" in errors[0] and "Traceback" not in captured.err
    assert captured.out == ""


def _files(root: Path) -> dict[str, str]:
    """Every stored object except run manifests (they record run times) -> sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith("manifests/")
    }


def test_rerun_on_file_storage_rewrites_identical_objects(tmp_path: Path, sec_server: ReplayServer) -> None:
    settings = _settings(tmp_path.as_uri(), sec_server)
    first = {p: _land(settings, p) for p in ("2026-01-02", "1993Q4")}
    before = _files(tmp_path)
    assert len([k for k in before if k.startswith("raw/") and not k.endswith(".meta.json")]) == 2
    second = {p: _land(settings, p) for p in ("2026-01-02", "1993Q4")}
    assert _files(tmp_path) == before  # same keys, same bytes: nothing added, nothing duplicated
    for p, manifest in second.items():
        counts = ("rows_in", "rows_written", "duplicates", "quarantined", "files")
        assert {k: manifest[k] for k in counts} == {k: first[p][k] for k in counts}
        # the same raw object, first fetch time kept (it is every row's archived_at), not archived anew
        assert [{**r, "new": None} for r in manifest["raw"]] == [{**r, "new": None} for r in first[p]["raw"]]
        assert [r["new"] for r in first[p]["raw"]] == [True] and [r["new"] for r in manifest["raw"]] == [False]


def test_crash_while_writing_leaves_the_previous_partition_whole(
    tmp_path: Path, sec_server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    settings = _settings(tmp_path.as_uri(), sec_server)
    storage = Storage.from_settings(settings)
    _land(settings, "2026-01-02")
    before = _files(tmp_path)
    manifest_before = storage.get_bytes(manifest_key("sec_edgar", "2026-01-02"))

    real_replace = os.replace

    # A rerun finds its content-named data files already stored; the process dies between writing the
    # manifest's temporary file and renaming it (a changed partition: see test_partition_commit.py).
    def crash_on_manifest(src, dst):
        if "/manifests/" in str(dst):
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="simulated crash"):
        _land(settings, "2026-01-02")
    monkeypatch.setattr(os, "replace", real_replace)

    # readers see the previous, complete partition: same objects, same bytes, same manifest
    assert {k: v for k, v in _files(tmp_path).items() if "/.tmp-" not in k} == before
    assert storage.get_bytes(manifest_key("sec_edgar", "2026-01-02")) == manifest_before
    assert not [k for k in storage.list("") if ".tmp-" in k]  # the leftover temporary file is never listed
    assert read_committed(storage, "sec_edgar", "2026-01-02").num_rows == 50
    # and the next run completes normally; the one after removes the manifest's stale temporary
    assert _land(settings, "2026-01-02")["rows_written"] == 50
    assert [p.name for p in tmp_path.rglob(".tmp-*")] != []
    _land(settings, "2026-01-02")
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []
