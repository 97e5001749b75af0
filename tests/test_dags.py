"""DAG integrity: every DAG file imports cleanly and follows the project's rules.

Rules for every DAG: tags, an owner that is not Airflow's default, retries >= 2 on every task, catchup
and max_active_runs stated in the DAG file, a doc_md, fetch tasks in their source's pool, no heavy
imports when the file is parsed. SEC DAGs also get their timetables, partition rules, retry policy
and the runs a backfill would create checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import ExceptionRetryPolicy, RetryAction

from filinglake.config import ConfigError
from filinglake.errors import BadResponse, Blocked, HttpError, NotYetPublished
from filinglake.http import UndeclaredUserAgent
from filinglake_airflow import OWNER, POOLS
from filinglake_airflow.credentials import export_storage_credentials
from filinglake_airflow.ingest import MAX_ACTIVE_RUNS
from filinglake_airflow.partitions import (
    market_day,
    partition_for_run,
    sec_quarter,
    sec_quarter_of_previous_day,
)
from filinglake_airflow.retry import FAIL_FAST_RULES, IngestRetryPolicy
from filinglake_airflow.timetables import LocalCronDataIntervalTimetable, LocalCronTriggerTimetable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
ET = ZoneInfo("America/New_York")

#: tasks that call a source's hosts (besides fetch_*): they must hold a slot of that host's pool
HOST_CALLING_TASKS = {"refresh_references_sec_edgar", "refresh_references_hkex", "record_alerts_sec_edgar", "record_alerts_cninfo", "record_alerts_hkex"}

#: imported inside tasks only: each costs seconds per parse, and DAG files are parsed every 30 s
HEAVY_MODULES = ("pandas", "pyarrow", "great_expectations", "duckdb", "deltalake", "polars")

#: dag_id -> (timetable class, cron expression, time zone); sec_edgar_daily: tests/test_timetable.py
SEC_TIMETABLES = {
    "sec_edgar_quarterly": (LocalCronDataIntervalTimetable, "0 6 2 1,4,7,10 *"),
    "sec_edgar_quarterly_refresh": (LocalCronTriggerTimetable, "0 6 * * 6"),
}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def all_dags(bag: DagBag) -> list:
    return sorted(bag.dags.values(), key=lambda d: d.dag_id)


def test_every_dag_file_imports_without_errors(dagbag: DagBag, capsys: pytest.CaptureFixture[str]) -> None:
    assert dagbag.import_errors == {}
    assert DAG_FILES, "no DAG files found"
    loaded = {Path(stat.file).name for stat in dagbag.dagbag_stats}
    assert loaded == {p.name for p in DAG_FILES}
    with capsys.disabled():
        print()
        for stat in dagbag.dagbag_stats:
            print(f"  parse {Path(stat.file).name}: {stat.duration.total_seconds() * 1000:.1f} ms, {stat.dag_num} DAG(s)")
    assert set(SEC_TIMETABLES) <= set(dagbag.dags)


def test_every_dag_states_its_policy(dagbag: DagBag) -> None:
    problems: list[str] = []
    for dag in all_dags(dagbag):
        source_text = Path(dag.fileloc).read_text()
        where = f"{dag.dag_id} ({Path(dag.fileloc).name})"
        if not dag.tags:
            problems.append(f"{where}: no tags")
        if not dag.doc_md or len(dag.doc_md.strip()) < 200:
            problems.append(f"{where}: doc_md missing or too short to explain schedule and failures")
        # Both default to configuration values: they must be decided in the DAG file, not inherited.
        for setting in ("catchup", "max_active_runs"):
            if f"{setting}=" not in source_text:
                problems.append(f"{where}: {setting} not set explicitly")
        for task in dag.tasks:
            if task.owner in (None, "", "airflow"):
                problems.append(f"{where}.{task.task_id}: owner {task.owner!r}")
            if (task.retries or 0) < 2:
                problems.append(f"{where}.{task.task_id}: retries={task.retries}")
            calls_a_host = task.task_id.startswith("fetch") or task.task_id in HOST_CALLING_TASKS
            if calls_a_host and task.pool not in POOLS:
                problems.append(f"{where}.{task.task_id}: pool {task.pool!r} is not a host pool {sorted(POOLS)}")
    assert problems == []


def test_sec_dags_shape(dagbag: DagBag) -> None:
    for dag_id, (timetable_type, expression) in SEC_TIMETABLES.items():
        dag = dagbag.dags[dag_id]
        assert type(dag.timetable) is timetable_type, dag_id
        core = dag.timetable  # the SDK object serialises to the expression and zone the scheduler uses
        from airflow.serialization.encoders import coerce_to_core_timetable

        serialised = coerce_to_core_timetable(core).serialize()
        assert serialised["expression"] == expression, dag_id
        assert serialised["timezone"] == "America/New_York", dag_id
        assert dag.catchup is False
        assert {t.task_id for t in dag.tasks} == {"fetch_index", "write_partition", "validate_partition"}
        assert dag.get_task("fetch_index").pool == "sec_edgar"
        assert isinstance(dag.get_task("fetch_index").retry_policy, IngestRetryPolicy)
        assert dag.get_task("write_partition").upstream_task_ids == {"fetch_index"}
        assert dag.get_task("validate_partition").upstream_task_ids == {"write_partition"}
        outlets = dag.get_task("validate_partition").outlets
        assert [a.name for a in outlets] == ["clean.sec_edgar.filings"]
        assert outlets[0].uri == "x-filinglake://clean/filings/source=sec_edgar"  # never follows the storage root
        assert all(t.owner == OWNER for t in dag.tasks)
        assert "partition" in dag.params
    daily = dagbag.dags["sec_edgar_daily"]
    assert {t.task_id for t in daily.tasks} == {"fetch_index", "write_partition", "validate_partition"}
    assert daily.get_task("fetch_index").pool == "sec_edgar" and daily.catchup is False
    # A run whose logical date is before start_date gets no tasks and "succeeds": start where the data starts.
    assert dagbag.dags["sec_edgar_quarterly"].start_date == datetime(1993, 1, 1, 5, tzinfo=UTC)
    assert dagbag.dags["sec_edgar_quarterly_refresh"].start_date == datetime(1993, 1, 1, 5, tzinfo=UTC)
    assert dagbag.dags["sec_edgar_daily"].start_date == datetime(1994, 7, 1, tzinfo=UTC)


def test_ingest_runs_side_by_side_but_land_one_at_a_time(dagbag: DagBag) -> None:
    """A scheduled run retrying a late index for days must not hold the only run slot (manual repairs)."""
    from airflow.serialization.serialized_objects import DagSerialization

    ingest = [d for d in all_dags(dagbag) if "ingest" in d.tags]
    assert {d.dag_id for d in ingest} >= set(SEC_TIMETABLES) | {"sec_edgar_daily", "cninfo_daily", "hkex_daily",
                                                                "cninfo_intraday", "hkex_intraday"}
    for dag in ingest:
        scheduled = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))  # what the scheduler reads
        assert scheduled.max_active_runs == MAX_ACTIVE_RUNS >= 2, dag.dag_id
        for task_id in ("write_partition", "validate_partition"):  # the landing guard
            assert scheduled.get_task(task_id).max_active_tis_per_dag == 1, (dag.dag_id, task_id)
        assert scheduled.get_task("fetch_index").pool in POOLS


def test_a_manual_repair_always_finds_a_free_run_slot(dagbag: DagBag) -> None:
    """Scheduled runs waiting for late indexes can never take every slot of sec_edgar_daily."""
    daily = dagbag.dags["sec_edgar_daily"]
    policy = daily.get_task("fetch_index").retry_policy
    retries = daily.get_task("fetch_index").retries
    longest_wait = sum((policy.evaluate(NotYetPublished("x"), n, retries + 1).retry_delay
                        for n in range(1, retries + 1)), timedelta())
    # runs start at most once a day, so this many scheduled runs can be waiting at the same time
    waiting_together = longest_wait // timedelta(days=1) + 1
    assert waiting_together < MAX_ACTIVE_RUNS == daily.max_active_runs


def test_dag_files_import_no_heavy_modules() -> None:
    """Parse every DAG file in a fresh interpreter and list heavy modules that parsing imported."""
    script = textwrap.dedent(
        f"""
        import json, runpy, sys
        sys.path[:0] = [{str(PROJECT_ROOT / "plugins")!r}, {str(DAGS_FOLDER)!r}]
        import airflow.sdk  # the baseline every DAG file pays anyway
        heavy = {HEAVY_MODULES!r}
        found = {{}}
        for path in {[str(p) for p in DAG_FILES]!r}:
            before = set(sys.modules)
            runpy.run_path(path)
            new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy)
            found[path] = new
        print(json.dumps(found))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(found) == {str(p) for p in DAG_FILES}
    assert {path: mods[:5] for path, mods in found.items() if mods} == {}


# --- which partition a run ingests ------------------------------------------------------------------


def test_daily_run_ingests_the_market_day_of_its_logical_date() -> None:
    # MarketDayTimetable: the logical date is 00:00 UTC of the market day, in every source's zone
    assert market_day(datetime(2018, 12, 31, tzinfo=UTC)) == "2018-12-31"
    assert market_day(pendulum.datetime(2018, 12, 31, tz="UTC")) == "2018-12-31"
    assert market_day(datetime(2018, 12, 31)) == "2018-12-31"  # a naive datetime is UTC, as Airflow stores it
    # not the local day: 00:00 UTC is 19:00 the evening before in New York
    assert market_day(datetime(2019, 1, 1, tzinfo=UTC).astimezone(ET)) == "2019-01-01"


def test_quarter_rules() -> None:
    assert sec_quarter(datetime(2016, 7, 2, 6, tzinfo=ET)) == "2016Q3"
    assert sec_quarter(datetime(1993, 10, 2, 10, tzinfo=UTC)) == "1993Q4"
    # 1 Jan 2022 03:00 UTC is still 31 Dec 2021 in New York
    assert sec_quarter(datetime(2022, 1, 1, 3, tzinfo=UTC)) == "2021Q4"
    # the weekly refresh on Saturday 1 July 2023 refreshes the quarter that ended the day before
    assert sec_quarter_of_previous_day(datetime(2023, 7, 1, 6, tzinfo=ET)) == "2023Q2"
    assert sec_quarter_of_previous_day(datetime(2023, 7, 8, 6, tzinfo=ET)) == "2023Q3"


def test_partition_param_overrides_the_rule() -> None:
    moment = datetime(2018, 12, 31, tzinfo=UTC)
    assert partition_for_run("market_day", moment, " 2016Q3 ") == "2016Q3"
    assert partition_for_run("market_day", moment, "") == "2018-12-31"
    assert partition_for_run("market_day", moment, None) == "2018-12-31"
    assert partition_for_run(lambda m: "custom", moment) == "custom"
    with pytest.raises(ValueError, match="unknown partition rule"):
        partition_for_run("sec_hourly", moment)


def _backfill_partitions(dag, from_date: datetime, to_date: datetime) -> list[str]:
    """The partitions `airflow backfill create --from-date --to-date` would ingest (same code path)."""
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    now = datetime.now(UTC)
    infos = [i for i in serialized.iter_dagrun_infos_between(from_date, to_date) if i.data_interval.end < now]
    rule = {"sec_edgar_quarterly": sec_quarter}[dag.dag_id]
    return [rule(i.logical_date) for i in infos]


def test_quarterly_backfill_creates_one_run_per_quarter(dagbag: DagBag) -> None:
    dag = dagbag.dags["sec_edgar_quarterly"]
    assert _backfill_partitions(dag, datetime(1993, 1, 1, tzinfo=UTC), datetime(1994, 12, 31, tzinfo=UTC)) == [
        f"{year}Q{q}" for year in (1993, 1994) for q in (1, 2, 3, 4)
    ]


# --- retry policy and credentials ----------------------------------------------------------------


def test_retry_policy_decisions() -> None:
    policy = IngestRetryPolicy(not_yet_published_delay=timedelta(minutes=45))
    blocked = policy.evaluate(Blocked("SEC block page", retry_after=600), try_number=1, max_tries=6)
    assert (blocked.action, blocked.retry_delay) == (RetryAction.RETRY, timedelta(seconds=600))
    late = policy.evaluate(NotYetPublished("not yet"), try_number=1, max_tries=6)
    assert (late.action, late.retry_delay) == (RetryAction.RETRY, timedelta(minutes=45))
    assert policy.evaluate(BadResponse("HTML"), 1, 6).action is RetryAction.FAIL
    assert policy.evaluate(ValueError("bad partition"), 1, 6).action is RetryAction.FAIL
    assert policy.evaluate(HttpError("503", status=503), 1, 6).action is RetryAction.DEFAULT
    assert policy.evaluate(TimeoutError(), 1, 6).action is RetryAction.DEFAULT
    assert policy.evaluate(ConfigError("no user agent"), 1, 6).action is RetryAction.FAIL
    assert policy.evaluate(UndeclaredUserAgent("x"), 1, 6).action is RetryAction.FAIL
    assert IngestRetryPolicy.deserialize(policy.serialize()).not_yet_published_delay == timedelta(minutes=45)


def test_fail_fast_exceptions_are_declared_rules() -> None:
    """Only the data-driven delays are code; what fails at once is an ExceptionRetryPolicy rule list."""
    policy = IngestRetryPolicy()
    assert isinstance(policy, ExceptionRetryPolicy) and policy.rules == FAIL_FAST_RULES
    [rule] = policy.rules
    assert rule.action is RetryAction.FAIL
    assert set(rule.exception) == {"filinglake.errors.BadResponse", "filinglake.config.ConfigError",
                                   "filinglake.http.UndeclaredUserAgent", "builtins.ValueError"}
    assert all(rule.matches(e) for e in (BadResponse("HTML"), ConfigError("x"), ValueError("bad partition")))
    assert policy.serialize()["rules"] == [rule.serialize()]  # serialised with the DAG like any ExceptionRetryPolicy


def test_not_yet_published_waits_long_enough_for_a_holiday_to_show(dagbag: DagBag) -> None:
    """A holiday is only known once SEC posts the next business day: the waits double up to 12 h.

    The daily DAG's fetch retries must outlast a Friday holiday (no index until Monday ~22:00 ET).
    """
    policy = IngestRetryPolicy()
    delays = [policy.evaluate(NotYetPublished("x"), try_number=n, max_tries=10).retry_delay for n in range(1, 11)]
    assert delays[:5] == [timedelta(hours=h) for h in (1, 2, 4, 8, 12)] and max(delays) == timedelta(hours=12)
    daily = dagbag.dags["sec_edgar_daily"]
    retries = daily.get_task("fetch_index").retries
    assert sum(delays[:retries], timedelta()) >= timedelta(days=3, hours=1)


def _aws_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **connection) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", "s3://lake/filinglake")
    monkeypatch.setenv("FILINGLAKE_AWS_CONN_ID", conn_id)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", **connection}))


def test_export_storage_credentials_through_the_aws_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    _aws_connection(monkeypatch, "filinglake_s3_test", login="key-id", password="secret-key",
                    extra={"endpoint_url": "http://127.0.0.1:5055", "region_name": "eu-west-1"})
    environ: dict[str, str] = {"AWS_SESSION_TOKEN": "stale token of other keys"}
    assert export_storage_credentials(environ) == [
        "AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "FILINGLAKE_S3_ENDPOINT_URL"]
    assert environ == {"AWS_ACCESS_KEY_ID": "key-id", "AWS_SECRET_ACCESS_KEY": "secret-key", "AWS_REGION": "eu-west-1",
                       "FILINGLAKE_S3_ENDPOINT_URL": "http://127.0.0.1:5055"}
    # the provider's per-service endpoint wins over the connection-wide one
    _aws_connection(monkeypatch, "filinglake_s3_test", login="k", password="s",
                    extra={"endpoint_url": "http://127.0.0.1:1", "service_config": {"s3": {"endpoint_url": "http://s3:2"}}})
    environ = {}
    export_storage_credentials(environ)
    assert environ["FILINGLAKE_S3_ENDPOINT_URL"] == "http://s3:2"
    # no such connection: nothing changes; file:// storage never looks one up
    monkeypatch.setenv("FILINGLAKE_AWS_CONN_ID", "no_such_connection")
    assert export_storage_credentials({}) == []
    monkeypatch.setenv("FILINGLAKE_STORAGE", "file:///tmp/lake")
    monkeypatch.setenv("FILINGLAKE_AWS_CONN_ID", "filinglake_s3_test")
    assert export_storage_credentials({}) == []


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3 and STS) on 127.0.0.1, stopped by the test."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_role_based_connection_exports_the_assumed_role_credentials(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    """A connection with role_arn: the hook assumes the role (STS on moto); tasks get temporary keys."""
    _aws_connection(monkeypatch, "filinglake_role_test", login="base-key", password="base-secret", extra={
        "role_arn": "arn:aws:iam::123456789012:role/filinglake-writer", "region_name": "us-east-1",
        "endpoint_url": moto_endpoint, "service_config": {"sts": {"endpoint_url": moto_endpoint}}})
    environ: dict[str, str] = {}
    names = export_storage_credentials(environ)

    assert "AWS_SESSION_TOKEN" in names
    assert environ["AWS_ACCESS_KEY_ID"] not in ("base-key", "") and environ["AWS_SESSION_TOKEN"]
    assert environ["FILINGLAKE_S3_ENDPOINT_URL"] == moto_endpoint
    import boto3  # the exported keys work against the endpoint the connection names

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                      aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
                      aws_session_token=environ["AWS_SESSION_TOKEN"])
    s3.create_bucket(Bucket="lake")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lake"]
