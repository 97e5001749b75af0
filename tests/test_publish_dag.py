"""The publish_filings DAG: asset-or-hourly schedule, partitions from the triggering events, dag.test() runs.

The run lands the real SEC daily excerpt with the sec_edgar_daily DAG (replay server), then publishes it
with publish_filings: Delta tables, one alert from a small watchlist, the status page; a second run
changes nothing and raises nothing. A partition landed without an asset event (Airflow dropped it) is
published by the next sweep; an event from another storage root fails the run, naming both roots.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk import Asset, CronTriggerTimetable
from fakes.hkex import stock_list_routes
from fakes.replay import file_reply
from fakes.sec_edgar import sec_archive_routes
from support.airflow_harness import load_dag, run_dag

from filinglake.publish.daily_counts import DAILY_COUNTS
from filinglake.publish.filings import FILINGS
from filinglake.publish.issuers import ISSUERS
from filinglake.publish.run import read_published
from filinglake.query import run_query
from filinglake.sources import source_names
from filinglake.storage import Storage
from filinglake_airflow.assets import CLEAN_ASSETS
from filinglake_airflow.publish import ForeignStorageRoot, partitions_from_events, partitions_from_params

ET = ZoneInfo("America/New_York")


class FakeEvents(dict):
    """What a task sees as ``triggering_asset_events``: asset → events with ``extra``."""


def event(**extra) -> SimpleNamespace:
    return SimpleNamespace(extra=extra)


def test_partitions_param_takes_ids_as_the_manifests_spell_them(tmp_path: Path) -> None:
    """A per-issuer CNINFO id is republished under its stored spelling, typed either way."""
    storage = Storage(tmp_path.as_uri())
    shown = "stock-002236_2020-01-01_2024-12-31"
    params = {"partitions": [f"cninfo/{shown}", "cninfo/stock=002236:2020-01-01..2024-12-31", "sec_edgar/2016q3"]}
    assert partitions_from_params(params, storage) == [["cninfo", shown], ["cninfo", shown], ["sec_edgar", "2016Q3"]]


def test_dag_is_scheduled_on_every_clean_asset_or_an_hourly_sweep() -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable

    dag = load_dag("publish_filings")
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    condition = dag.timetable.asset_condition  # any one of the clean assets queues a run
    assert type(condition).__name__ == "AssetAny"
    assert {asset.name for asset in condition.objects} == {asset.name for asset in CLEAN_ASSETS.values()}
    sweep = dag.timetable.timetable  # ... and so does the clock, whatever happened to the events
    assert isinstance(sweep, CronTriggerTimetable)
    assert coerce_to_core_timetable(sweep).serialize()["expression"] == "40 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    alerts = [f"record_alerts_{source}" for source in source_names()]
    refreshes = {"refresh_references_sec_edgar", "refresh_references_hkex"}  # the sources whose lists publish fetches
    assert {t.task_id for t in dag.tasks} == {*refreshes, "publish", *alerts, "notify", "write_report"}
    assert dag.get_task("publish").upstream_task_ids == refreshes
    # the task that reads the clean layer says so: the asset pages list it under "Consuming Tasks"
    assert {a.name for a in dag.get_task("publish").inlets} == {a.name for a in CLEAN_ASSETS.values()}
    assert dag.get_task(alerts[0]).upstream_task_ids == {"publish"}
    assert dag.get_task(alerts[1]).upstream_task_ids == {"publish", alerts[0]}  # one merge into alerts at a time
    assert dag.get_task("notify").upstream_task_ids == set(alerts)


def test_tasks_that_call_a_source_host_run_in_its_pool() -> None:
    dag = load_dag("publish_filings")
    assert dag.get_task("refresh_references_sec_edgar").pool == "sec_edgar"  # company_tickers.json
    assert dag.get_task("refresh_references_hkex").pool == "hkex"  # HKEXnews' stock list
    for source in source_names():  # document captures
        assert dag.get_task(f"record_alerts_{source}").pool == source
    assert {dag.get_task(t).pool for t in ("publish", "notify", "write_report")} == {"default_pool"}


def test_partitions_come_from_the_triggering_events() -> None:
    root = "file:///lake"
    events = FakeEvents({
        CLEAN_ASSETS["sec_edgar"]: [
            event(source="sec_edgar", partition="2026-01-02", storage=root),
            event(source="sec_edgar", partition="2026-01-02", storage=root + "/"),  # a retry's second event
            event(source="sec_edgar", partition="2016Q3", storage=root),
        ],
        CLEAN_ASSETS["cninfo"]: [event(source="cninfo", partition="2002-04-18", storage=root)],
        Asset(name="clean.hkex.filings", uri="x-filinglake://clean/filings/source=hkex"): [event(partition="2012-11-14-en")],
    })
    assert partitions_from_events(events, root) == [
        ["cninfo", "2002-04-18"], ["hkex", "2012-11-14-en"], ["sec_edgar", "2016Q3"], ["sec_edgar", "2026-01-02"]]
    assert partitions_from_events(None, root) == []
    assert partitions_from_events(FakeEvents({CLEAN_ASSETS["hkex"]: [event(rows_written=3)]}), root) == []


def test_an_event_from_another_storage_root_fails_naming_both_roots() -> None:
    events = FakeEvents({CLEAN_ASSETS["cninfo"]: [
        event(source="cninfo", partition="2002-04-18", storage="file:///lake"),
        event(source="cninfo", partition="2002-04-22", storage="file:///another-lake"),
    ]})
    with pytest.raises(ForeignStorageRoot) as failure:
        partitions_from_events(events, "file:///lake/")
    message = str(failure.value)
    assert "cninfo 2002-04-22" in message and "file:///another-lake" in message and "file:///lake" in message


WATCHLIST = """
entries:
  - id: rbc-424b5
    name: Royal Bank of Canada prospectus supplements
    ciks: [1000275]
    form_types: [424B5]
"""


@pytest.mark.e2e
def test_publish_dag_after_an_ingest_run(dag_env: Path, fixtures_dir: Path, replay_server, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    storage_root = tmp_path / "lake"
    routes = dict(sec_archive_routes(fixtures_dir))
    routes[("GET", "/files/company_tickers.json")] = file_reply(fixtures_dir / "edgar/api/company_tickers.json")
    routes.update(stock_list_routes(fixtures_dir))  # HKEXnews' stock list, fetched by refresh_references_hkex
    server = replay_server(routes)
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", storage_root.as_uri())
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_WATCHLIST", str(watchlist))

    landed = run_dag("sec_edgar_daily", datetime(2026, 1, 2, tzinfo=UTC))  # the market day's logical date
    assert landed.state == "success", landed.task_states
    conf = {"partitions": ["sec_edgar/2026-01-02"]}
    first = run_dag("publish_filings", datetime(2026, 1, 3, 6, tzinfo=ET), conf=conf)
    assert first.state == "success", first.task_states

    storage = Storage(storage_root.as_uri())
    assert read_published(storage, FILINGS).num_rows == 50
    issuers = {r["issuer_id"]: r for r in read_published(storage, ISSUERS).to_pylist()}
    assert issuers["1000275"]["ticker"] == "RY"  # company_tickers.json fetched from the replay server
    assert storage.list("raw/source=sec_company_tickers")
    assert storage.list("raw/source=hkex_stocks")  # fetched in the hkex pool from the replay server
    assert run_query("SELECT count(*) AS n FROM securities WHERE source = 'hkex'", storage=storage)["n"][0].as_py() == 2_330
    assert read_published(storage, DAILY_COUNTS).num_rows == 11
    alerts = read_published_alerts(storage)
    assert [(a["entry_id"], a["filing_id"]) for a in alerts] == [("rbc-424b5", "sec_edgar:0000950103-26-000043")]
    assert storage.exists("reports/index.html")
    versions = table_versions(storage)

    second = run_dag("publish_filings", datetime(2026, 1, 4, 6, tzinfo=ET), conf=conf)
    assert second.state == "success", second.task_states
    assert table_versions(storage) == versions  # nothing committed: not filings, issuers, counts or alerts
    assert len(read_published_alerts(storage)) == 1


@pytest.mark.e2e
def test_a_partition_whose_event_was_dropped_is_published_by_the_sweep(
    dag_env: Path, fixtures_dir: Path, replay_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Landed by the library, so no asset event exists (as when Airflow drops one): a run without events
    # and without conf (what the hourly timed run is) must still publish it.
    from filinglake.config import load_settings
    from filinglake.ingest import landing as pipeline

    storage_root = tmp_path / "lake"
    # no stock list route: HKEXnews' list answers 404, which only logs a warning
    routes = {("GET", "/files/company_tickers.json"): file_reply(fixtures_dir / "edgar/api/company_tickers.json")}
    server = replay_server(routes)
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", storage_root.as_uri())
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_WATCHLIST", str(watchlist))
    settings = load_settings()
    storage = Storage.from_settings(settings)
    daily = (fixtures_dir / "edgar/daily/master.20260102.excerpt.idx").read_bytes()
    ref = storage.archive_raw("sec_edgar", "2026-01-02", "master.20260102.idx", daily, "https://example.invalid/x")
    pipeline.write_partition(pipeline.Context.build("sec_edgar", "2026-01-02", settings), {"raw": [ref.to_dict()]})

    sweep = run_dag("publish_filings", datetime(2026, 1, 3, 6, 40, tzinfo=ET))

    assert sweep.state == "success", sweep.task_states
    assert sweep.task_states["refresh_references_hkex"] == "success" and not storage.list("raw/source=hkex_stocks")
    assert read_published(storage, FILINGS).num_rows == 50
    assert [(a["entry_id"], a["filing_id"]) for a in read_published_alerts(storage)] == [
        ("rbc-424b5", "sec_edgar:0000950103-26-000043")]


def read_published_alerts(storage: Storage) -> list[dict]:
    from filinglake.query import run_query

    return run_query("SELECT entry_id, filing_id FROM alerts ORDER BY filing_id", storage=storage).to_pylist()


def table_versions(storage: Storage) -> dict[str, int]:
    from filinglake.publish.delta import existing_tables, open_table

    return {name: open_table(storage, name).version() for name in existing_tables(storage)}


def test_a_retried_publish_still_hands_the_first_try_rows_to_the_alerts(
    tmp_path: Path, fixtures_dir: Path, replay_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first try merges filings, then fails on issuers; the retry finds every row unchanged. The
    # alerts task must still see the rows the first try inserted: it evaluates every filings version
    # since its source's mark, not just what this try changed.
    import filinglake.publish.issuers as publish_module
    from filinglake.config import load_settings
    from filinglake.ingest import landing as pipeline
    from filinglake.publish.filings import changed_rows

    server = replay_server({})  # documents are fetched here, never from www.sec.gov (404: recorded as an error)
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    environment = {"FILINGLAKE_STORAGE": (tmp_path / "lake").as_uri(), "FILINGLAKE_SEC_BASE_URL": server.sec_base_url,
                   "FILINGLAKE_SEC_USER_AGENT": "filinglake tests tests@example.com",
                   "FILINGLAKE_WATCHLIST": str(watchlist)}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    storage = Storage.from_settings(settings)
    ctx = pipeline.Context.build("sec_edgar", "2026-01-02", settings)
    daily = (fixtures_dir / "edgar/daily/master.20260102.excerpt.idx").read_bytes()
    ref = storage.archive_raw("sec_edgar", "2026-01-02", "master.20260102.idx", daily, "https://example.invalid/x")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})

    dag = load_dag("publish_filings")
    publish_task = dag.get_task("publish").python_callable
    alerts_task = dag.get_task("record_alerts_sec_edgar").python_callable
    run = SimpleNamespace(start_date=datetime.now(ET))

    def fail(*args, **kwargs):
        raise OSError("storage went away")

    refresh_issuers = publish_module.refresh_issuers
    monkeypatch.setattr(publish_module, "refresh_issuers", fail)
    with pytest.raises(OSError, match="storage went away"):
        publish_task(None, params={}, triggering_asset_events=None, ti=SimpleNamespace(try_number=1), dag_run=run)
    monkeypatch.setattr(publish_module, "refresh_issuers", refresh_issuers)
    assert read_published(storage, FILINGS).num_rows == 50  # merged before the failure

    retried = publish_task(None, params={}, triggering_asset_events=None, ti=SimpleNamespace(try_number=2), dag_run=run)

    assert retried["inserted"] == 0 and retried["new"] == 0  # the retry itself changed nothing
    assert changed_rows(storage, retried["version_before"], retried["version"]).num_rows == 0
    alerts = alerts_task(retried, "sec_edgar")
    assert [(a["entry_id"], a["filing_id"]) for a in alerts] == [("rbc-424b5", "sec_edgar:0000950103-26-000043")]
    assert alerts[0]["document_error"] == "DocumentError: HTTP 404"
    # a third try (or a rerun of record_alerts) repeats nothing
    assert alerts_task(publish_task(None, params={}, triggering_asset_events=None, ti=SimpleNamespace(try_number=3),
                                    dag_run=run), "sec_edgar") == []


def test_compact_dag_compacts_without_changing_the_tables(
    tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filinglake.config import load_settings
    from filinglake.ingest import landing as pipeline
    from filinglake.publish.run import publish

    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    settings = load_settings()
    storage = Storage.from_settings(settings)
    daily = (fixtures_dir / "edgar/daily/master.20260102.excerpt.idx").read_bytes()
    ref = storage.archive_raw("sec_edgar", "2026-01-02", "master.20260102.idx", daily, "https://example.invalid/x")
    pipeline.write_partition(pipeline.Context.build("sec_edgar", "2026-01-02", settings), {"raw": [ref.to_dict()]})
    publish(storage, settings)
    before = read_published(storage, FILINGS).sort_by([("filing_id", "ascending"), ("issuer_id", "ascending")])

    report = load_dag("compact_published_tables").get_task("compact").python_callable()

    assert set(report) >= {"filings", "issuers", "daily_counts"}
    after = read_published(storage, FILINGS).sort_by([("filing_id", "ascending"), ("issuer_id", "ascending")])
    assert after.equals(before) and after.num_rows == 50


def test_an_event_triggered_run_also_publishes_partitions_whose_events_were_dropped(
    dag_env: Path, fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow 3.3 drops events that arrive while publish_filings waits for its run slot (apache/airflow#56050;
    the stack test saw three of four partitions left behind). The next event-triggered run publishes them too."""
    from filinglake.config import load_settings
    from filinglake.ingest import landing as pipeline
    from filinglake_airflow.publish import pending_partitions, publish_run

    root = (tmp_path / "lake").as_uri()
    monkeypatch.setenv("FILINGLAKE_STORAGE", root)
    monkeypatch.delenv("FILINGLAKE_WATCHLIST", raising=False)
    settings = load_settings()
    storage = Storage.from_settings(settings)
    for day, name in (("2026-01-02", "master.20260102"), ("2018-12-31", "master.20181231")):
        data = (fixtures_dir / f"edgar/daily/{name}.excerpt.idx").read_bytes()
        ref = storage.archive_raw("sec_edgar", day, f"{name}.idx", data, "https://example.invalid/x")
        pipeline.write_partition(pipeline.Context.build("sec_edgar", day, settings), {"raw": [ref.to_dict()]})
    # only 2026-01-02's event reached a run; 2018-12-31's was dropped
    events = FakeEvents({CLEAN_ASSETS["sec_edgar"]: [event(source="sec_edgar", partition="2026-01-02", storage=root)]})

    result = publish_run(None, {"triggering_asset_events": events, "params": {}})

    assert sorted(map(tuple, result["partitions"])) == [("sec_edgar", "2018-12-31"), ("sec_edgar", "2026-01-02")]
    assert pending_partitions(storage) == []
    assert result["inserted"] == read_published(storage, FILINGS).num_rows > 50
