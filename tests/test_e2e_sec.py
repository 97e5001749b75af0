"""End to end: the SEC DAGs run with ``dag.test()`` against a local replay of the SEC archive.

Real captured index files are served by ``fakes.replay``; storage is ``file://`` in a session
temporary directory; Airflow runs on the session's SQLite metadata DB (see conftest). Expected row
counts are computed from the fixture files themselves (non-blank lines after the dashed line), not
copied from the pipeline's output.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fakes.replay import ReplayServer, Reply, serve_error
from fakes.sec_edgar import sec_archive_routes, sec_block_page_reply
from support.airflow_harness import DagTestRun, load_dag, run_dag

from filinglake.sources.sec_edgar import sec_closed
from filinglake_airflow.retry import IngestRetryPolicy

pytestmark = pytest.mark.e2e

ET = ZoneInfo("America/New_York")
CLEAN_ASSET = "clean.sec_edgar.filings"


def daily_run_date(day: date) -> datetime:
    """The logical date the scheduler (and a backfill) gives the sec_edgar_daily run of ``day``: the day itself
    (``MarketDayTimetable``: 00:00 UTC of the date, the run fires at 23:30 ET)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def count_index_rows(path: Path) -> int:
    """Rows of an EDGAR index file, counted the way PROVENANCE.md does: non-blank lines after the dashes."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = data.decode("latin-1").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("-----")) + 1
    return sum(1 for line in lines[first:] if line.strip())


def partition_files(storage: Path, partition: str) -> list[str]:
    """Every object stored for a SEC partition, in any layer (raw, clean, quarantine, manifest, validation)."""
    return sorted(
        str(p.relative_to(storage))
        for p in storage.rglob("*")
        if p.is_file()
        and "source=sec_edgar/" in f"{p.relative_to(storage)}"
        and (f"partition={partition}/" in f"{p.relative_to(storage)}" or p.name == f"partition={partition}.json")
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def clean_file(storage: Path, partition: str) -> str:
    """The key of the clean file the partition's manifest names (the commit)."""
    manifest = read_json(storage / f"manifests/source=sec_edgar/partition={partition}.json")
    (entry,) = manifest["files"]["clean"]
    assert entry["key"].startswith(f"clean/filings/source=sec_edgar/partition={partition}/")
    return entry["key"]


@pytest.fixture
def sec_archive(fixtures_dir: Path, replay_server) -> ReplayServer:
    return replay_server(sec_archive_routes(fixtures_dir))


@pytest.fixture
def sec_env(dag_env: Path, sec_archive: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", sec_archive.sec_base_url)
    return dag_env


def assert_landed(run: DagTestRun, storage: Path, partition: str, rows: int, kind: str, status: str = "landed") -> None:
    """Parquet, manifest, validation record and asset event of a partition all say ``rows`` clean rows, nothing else."""
    assert run.state == "success", run.task_states
    assert run.task_states == {"fetch_index": "success", "write_partition": "success", "validate_partition": "success"}

    manifest = read_json(storage / f"manifests/source=sec_edgar/partition={partition}.json")
    clean = pq.read_table(storage / clean_file(storage, partition))
    (quarantine_entry,) = manifest["files"]["quarantine"]
    quarantine = pq.read_table(storage / quarantine_entry["key"])
    assert (clean.num_rows, quarantine.num_rows) == (rows, 0)
    assert manifest["status"] == status
    assert manifest["kind"] == kind
    assert (manifest["rows_in"], manifest["rows_written"], manifest["duplicates"], manifest["quarantined"]) == (rows, rows, 0, 0)

    gx = read_json(storage / f"validation/source=sec_edgar/partition={partition}/gx_result.json")
    assert gx["success"] is True and gx["mismatches"] == []
    assert gx["rows"] == rows

    assert len(run.asset_events) == 1
    event = run.asset_events[0]
    assert event["asset"] == CLEAN_ASSET
    assert event["uri"] == "x-filinglake://clean/filings/source=sec_edgar"
    assert event["task_id"] == "validate_partition"
    extra = event["extra"]
    assert {k: extra[k] for k in ("source", "partition", "kind", "status")} == {
        "source": "sec_edgar", "partition": partition, "kind": kind, "status": status
    }
    assert (extra["rows_in"], extra["rows_written"], extra["duplicates"], extra["quarantined"]) == (rows, rows, 0, 0)
    assert extra["clean_key"] == clean_file(storage, partition)
    assert extra["storage"] == storage.as_uri()
    assert extra["validation"]["success"] is True
    assert extra["validation"]["key"] == f"validation/source=sec_edgar/partition={partition}/gx_result.json"


def test_quarterly_2016q3_lands_every_row(sec_env: Path, sec_archive: ReplayServer, fixtures_dir: Path) -> None:
    fixture = fixtures_dir / "edgar/full-index/2016/QTR3/master.gz"
    expected = count_index_rows(fixture)
    assert expected == 201_330  # PROVENANCE.md

    # The scheduler's run for Q3 2016 has logical date = its data interval start, 2 July 06:00 ET.
    run = run_dag("sec_edgar_quarterly", datetime(2016, 7, 2, 6, tzinfo=ET))

    assert_landed(run, sec_env, "2016Q3", expected, "quarterly")
    served = sec_archive.requests_to("/Archives/edgar/full-index/2016/QTR3/master.gz")
    assert len(served) == 1 and "@" in served[0].headers["user-agent"]
    clean = pq.read_table(sec_env / clean_file(sec_env, "2016Q3"))
    assert pc.min(clean["filing_date"]).as_py() == date(2016, 7, 1)
    assert pc.max(clean["filing_date"]).as_py() == date(2016, 9, 30)
    assert pc.count_distinct(clean["filing_id"]).as_py() < expected  # combined filings: one row per CIK
    raw = [p.name for p in (sec_env / "raw/source=sec_edgar/partition=2016Q3").iterdir()]
    assert any(name.endswith("-master.gz") for name in raw)


def test_daily_2018_12_31(sec_env: Path, fixtures_dir: Path) -> None:
    expected = count_index_rows(fixtures_dir / "edgar/daily/master.20181231.excerpt.idx")
    assert expected == 10

    run = run_dag("sec_edgar_daily", daily_run_date(date(2018, 12, 31)))

    assert_landed(run, sec_env, "2018-12-31", expected, "daily")
    clean = pq.read_table(sec_env / clean_file(sec_env, "2018-12-31"))
    assert set(clean["filing_date"].to_pylist()) == {date(2018, 12, 31)}


def test_weekend_day_is_an_empty_successful_partition(sec_env: Path, sec_archive: ReplayServer) -> None:
    run = run_dag("sec_edgar_daily", daily_run_date(date(2018, 12, 29)))  # a Saturday

    assert_landed(run, sec_env, "2018-12-29", 0, "daily", status="empty")
    manifest = read_json(sec_env / "manifests/source=sec_edgar/partition=2018-12-29.json")
    assert "weekend" in manifest["empty_reason"]
    assert run.asset_events[0]["extra"]["status"] == "empty"
    # the fetch did look for the file (404s) and archived nothing
    assert sec_archive.requests_to("/Archives/edgar/daily-index/2018/QTR4/master.20181229.idx")
    assert not (sec_env / "raw/source=sec_edgar/partition=2018-12-29").exists()


def test_partition_param_reruns_a_given_day(sec_env: Path) -> None:
    # A manual rerun: the logical date says one day, conf names another.
    run = run_dag("sec_edgar_daily", daily_run_date(date(2019, 1, 7)), conf={"partition": "2026-01-02"})

    assert_landed(run, sec_env, "2026-01-02", 50, "daily")


def test_block_page_is_retried_then_fails_writing_nothing(
    dag_env: Path, fixtures_dir: Path, replay_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked_path = "/Archives/edgar/daily-index/2018/QTR4/master.20181228.idx"
    routes = serve_error(sec_archive_routes(fixtures_dir), blocked_path, sec_block_page_reply(fixtures_dir))
    server = replay_server(routes)
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_SEC_BLOCK_SECONDS", "1")  # the retry policy waits as long as the block lasts
    dag = load_dag("sec_edgar_daily")
    dag.get_task("fetch_index").retries = 2

    run = run_dag("sec_edgar_daily", daily_run_date(date(2018, 12, 28)), dag=dag)

    assert run.state == "failed"
    assert run.task_states == {"fetch_index": "failed", "write_partition": "upstream_failed",
                               "validate_partition": "upstream_failed"}
    assert run.try_numbers["fetch_index"] == 3  # first try + 2 retries, each met the block page
    assert len(server.requests_to(blocked_path)) == 3
    assert partition_files(dag_env, "2018-12-28") == []
    assert run.asset_events == []


def test_html_instead_of_an_index_fails_at_once(
    dag_env: Path, fixtures_dir: Path, replay_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_path = "/Archives/edgar/daily-index/2018/QTR4/master.20181227.idx"
    maintenance = Reply(status=200, body=b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>",
                        content_type="text/html")
    server = replay_server(serve_error(sec_archive_routes(fixtures_dir), broken_path, maintenance))
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)

    run = run_dag("sec_edgar_daily", daily_run_date(date(2018, 12, 27)))

    assert run.task_states["fetch_index"] == "failed"
    assert run.try_numbers["fetch_index"] == 1  # BadResponse: no retry although retries=6
    assert len(server.requests_to(broken_path)) == 1
    assert partition_files(dag_env, "2018-12-27") == []


def test_index_not_posted_yet_is_retried_then_fails(sec_env: Path, sec_archive: ReplayServer) -> None:
    today = datetime.now(ET).date()
    while sec_closed(today):  # only a business day can be "not posted yet"; a weekend or holiday is empty
        today -= timedelta(days=1)
    dag = load_dag("sec_edgar_daily")
    fetch = dag.get_task("fetch_index")
    fetch.retries = 1
    fetch.retry_policy = IngestRetryPolicy(not_yet_published_delay=timedelta(seconds=1))

    run = run_dag("sec_edgar_daily", daily_run_date(today), dag=dag)

    assert run.task_states["fetch_index"] == "failed"
    assert run.try_numbers["fetch_index"] == 2
    stamp = today.strftime("%Y%m%d")
    quarter = (today.month - 1) // 3 + 1
    assert len(sec_archive.requests_to(f"/Archives/edgar/daily-index/{today.year}/QTR{quarter}/master.{stamp}.idx")) == 2
    assert partition_files(sec_env, today.isoformat()) == []


def test_closed_quarter_without_an_index_fails_at_once(sec_env: Path, sec_archive: ReplayServer) -> None:
    # The archive holds 2015 Q4's xbrl.idx but no master index; the quarter closed long ago, so this is
    # not "not posted yet" (once retried for 39 hours) but a failure naming the URLs, on the first try.
    run = run_dag("sec_edgar_quarterly", datetime(2015, 10, 2, 6, tzinfo=ET))

    assert run.task_states["fetch_index"] == "failed"
    assert run.try_numbers["fetch_index"] == 1
    assert len(sec_archive.requests_to("/Archives/edgar/full-index/2015/QTR4/master.gz")) == 1
    assert partition_files(sec_env, "2015Q4") == []
    assert run.asset_events == []


def test_gx_disagreement_fails_validation_without_an_asset_event(
    sec_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filinglake.ingest.validation as expectations

    def disagree(storage, source, partition, rules):
        raise expectations.ValidationMismatch(f"{source}/{partition}: GX 1 vs row checks 0 (simulated)")

    monkeypatch.setattr(expectations, "validate_partition", disagree)

    run = run_dag("sec_edgar_daily", daily_run_date(date(2018, 12, 30)))  # a Sunday: lands empty

    assert run.task_states == {"fetch_index": "success", "write_partition": "success", "validate_partition": "failed"}
    assert run.try_numbers["validate_partition"] == 1  # a disagreement is not retried
    assert run.asset_events == []  # consumers never hear of an unvalidated partition


def test_a_truncated_quarter_fails_at_once_until_forced_by_the_dag_param(
    sec_env: Path, sec_archive: ReplayServer, fixtures_dir: Path
) -> None:
    """The real 1993Q4 index lands; served cut short later, write_partition fails on its first try (no retry
    can help) and the partition stays whole; the run's `force` param lands the shorter index."""
    run = run_dag("sec_edgar_quarterly", datetime(1993, 10, 2, 6, tzinfo=ET))
    assert_landed(run, sec_env, "1993Q4", 20, "quarterly")
    real = (fixtures_dir / "edgar/full-index/1993/QTR4/master.idx").read_bytes()
    sec_archive.routes[("GET", "/Archives/edgar/full-index/1993/QTR4/master.idx")] = Reply(body=real[: len(real) * 3 // 4])

    refused = run_dag("sec_edgar_quarterly", datetime(1993, 10, 2, 6, tzinfo=ET), conf={"partition": "1993Q4"})

    assert refused.task_states["write_partition"] == "failed"
    assert refused.try_numbers["write_partition"] == 1  # ShrinkingPartition is a BadResponse: not retried
    assert refused.asset_events == []
    assert read_json(sec_env / "manifests/source=sec_edgar/partition=1993Q4.json")["rows_written"] == 20

    forced = run_dag("sec_edgar_quarterly", datetime(1993, 10, 2, 6, tzinfo=ET),
                     conf={"partition": "1993Q4", "force": True})
    assert forced.task_states["write_partition"] == "success"
    manifest = read_json(sec_env / "manifests/source=sec_edgar/partition=1993Q4.json")
    assert manifest["forced"] is True and manifest["rows_written"] < 20
