"""A source is one module: what the rest of the code needs to know about a source is declared on its
``Source`` class, and everything else iterates the registry.

Checked here: every registered source declares what other modules read; the pools file covers every
source within its host's limit; the registry imports no heavy module; no source is named outside
``sources/``; and a throwaway source registered by a test is picked up by the HTTP client, document
capture, issuer references and columns, the status page colours, the Airflow DAG builder and the
stand-in servers without editing any of them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pytest
from fakes import all_routes, routes_for
from fakes.replay import ReplayServer, file_reply

from filinglake.config import Settings, load_settings
from filinglake.errors import Blocked
from filinglake.http import looks_like_html
from filinglake.sources import (
    REGISTRY,
    IssuerReference,
    Source,
    SourceSetting,
    all_sources,
    env_vars,
    get_source,
    make_client,
    source_names,
    source_settings,
)
from filinglake.sources.base import root_setting
from filinglake.sources.sec_edgar import company_tickers_rows

PROJECT_ROOT = Path(__file__).resolve().parents[1]
POOLS_FILE = PROJECT_ROOT / "deploy" / "airflow" / "pools.json"
COMPANY_TICKERS = "edgar/api/company_tickers.json"
SEC_BLOCK_PAGE = "edgar/errors/sec_request_rate_threshold_exceeded.html"


def test_every_source_declares_what_other_modules_read():
    from filinglake.publish.issuers import SOURCE_ISSUER_COLUMNS

    assert source_names() == ["cninfo", "hkex", "sec_edgar"]
    for source in all_sources():
        where = source.name
        assert REGISTRY[source.name].endswith(f"sources.{source.name}:{type(source).__name__}"), where
        assert source.exchanges, where
        assert source.document_hosts, where
        assert source.setting("rate").kind == "number" and source.root_settings(), where
        assert all(s.env.startswith("FILINGLAKE_") and s.help for s in source.declared_settings), where
        assert source.pool and source.host_rate_limit > 0, where
        assert set(source.issuer_columns) <= set(SOURCE_ISSUER_COLUMNS), where
        assert source.report_colour and re.fullmatch(r"#[0-9a-f]{6}", source.report_colour), where
        # its variables are listed with the others, and a stand-in sets only those
        documented = {name for names, _default, _meaning in env_vars() for name in names.split(" / ")}
        assert {s.env for s in source.declared_settings} <= documented, where
        assert set(source.environment_for_root("http://127.0.0.1:1")) <= documented, where
    colours = [s.report_colour for s in all_sources()]
    assert len(set(colours)) == len(colours), "two sources share a colour on the status page"


def test_pools_file_declares_every_source_pool_within_its_host_limit():
    pools = json.loads(POOLS_FILE.read_text())
    defaults = Settings()
    for source in all_sources():
        assert source.pool in pools, f"{source.name}: pool {source.pool!r} is not in {POOLS_FILE.name}"
        pool = pools[source.pool]
        rate = source_settings(source.name, defaults).rate
        # pools bound concurrent fetch tasks, each task's client paces at `rate`: the host sees slots x rate
        assert pool["slots"] * rate <= source.host_rate_limit, (
            f"{source.name}: {pool['slots']} slots x {rate}/s exceeds the host limit of {source.host_rate_limit}/s")
        assert f"{pool['slots'] * rate:g} requests/s" in pool["description"], (
            f"{source.pool}: the description should state the host rate {pool['slots'] * rate:g} requests/s")
        assert pool.get("include_deferred") is False
    assert set(pools) == {s.pool for s in all_sources()}, "a pool no source uses"


def test_sec_pool_and_rate_stay_under_secs_documented_limit():
    sec = get_source("sec_edgar")
    slots = json.loads(POOLS_FILE.read_text())[sec.pool]["slots"]
    assert sec.host_rate_limit == 10.0  # "no more than 10 requests per second, regardless of the number of machines"
    assert slots * source_settings(sec.name, Settings()).rate == 10.0


def test_reading_the_registry_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from filinglake.sources import all_sources\n"
        "assert [s.pool for s in all_sources()]\n"
        "heavy = ('pyarrow', 'pandas', 'duckdb', 'deltalake', 'great_expectations', 'polars')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


#: literal source names outside sources/ that belong to other parts of the code (reported, to be removed)
NAMED_ELSEWHERE = {
    "plugins/filinglake_airflow/publish.py": 1,  # the docstring's example of a manual run's conf
}


def test_no_source_is_named_outside_sources():
    names = "|".join(map(re.escape, source_names()))
    literal = re.compile(rf"""["']({names})["']""")
    found: dict[str, int] = {}
    for path in sorted([*PROJECT_ROOT.glob("include/**/*.py"), *PROJECT_ROOT.glob("plugins/**/*.py")]):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith("include/filinglake/sources/"):
            continue
        hits = len(literal.findall(path.read_text()))
        if hits:
            found[relative] = hits
    assert found == NAMED_ELSEWHERE


# --------------------------------------------------------------------------------------------------
# A throwaway source, declared only here, is picked up everywhere
# --------------------------------------------------------------------------------------------------


class Throwaway(Source):
    """A source that exists only in this test, with settings of its own (no edit in filinglake.config)."""

    name = "throwaway"
    exchanges = ("XTST",)
    document_hosts = ("docs.throwaway.example",)
    declared_settings = (
        root_setting("base_url", "FILINGLAKE_THROWAWAY_BASE_URL", "https://api.throwaway.example", "its API root"),
        SourceSetting("rate", "FILINGLAKE_THROWAWAY_RATE", 2.0, "requests per second", most=50,
                      why="throwaway allows at most 50 requests per second"),
        SourceSetting("block_seconds", "FILINGLAKE_THROWAWAY_BLOCK_SECONDS", 30.0, "back-off after its block page"),
    )
    pool = "throwaway_pool"
    host_rate_limit = 1.0
    issuer_columns: ClassVar[dict[str, str]] = {"cik": "a.issuer_id", "stock_code": "r.stock_code"}
    reference_archive = ("throwaway_refs", "company_tickers.json")
    report_colour = "#123456"

    def request_headers(self, settings: Settings) -> dict[str, str]:
        return {"X-Throwaway": "yes"}

    def detect_block(self, response) -> str | None:
        return "throwaway block page" if looks_like_html(response.content) else None

    def reference_rows(self, data: bytes, name: str = "") -> list[IssuerReference]:
        return [IssuerReference(cik, ticker, (ticker,), f"S{cik}", title)
                for cik, ticker, title, _rank in company_tickers_rows(data, name)]

    def partition(self, partition_id):
        raise NotImplementedError

    def fetch(self, partition, client, settings):
        raise NotImplementedError

    def parse(self, data, name=""):
        raise NotImplementedError

    def rules(self, partition):
        return []


@pytest.fixture
def throwaway(monkeypatch: pytest.MonkeyPatch) -> Throwaway:
    monkeypatch.setitem(REGISTRY, Throwaway.name, Throwaway)
    return Throwaway()


def test_http_client_reads_options_off_the_source(throwaway, replay_server, fixtures_dir, monkeypatch):
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_RATE", "40")
    server = replay_server({
        ("GET", "/data"): file_reply(fixtures_dir / COMPANY_TICKERS),
        ("GET", "/blocked"): file_reply(fixtures_dir / SEC_BLOCK_PAGE, status=200),
    })
    with make_client("throwaway", load_settings()) as client:
        assert client.name == "throwaway" and client.rate == 40.0 and client.block_seconds == 30.0
        assert client.get(server.url + "/data").status_code == 200
        with pytest.raises(Blocked, match="throwaway block page"):
            client.get(server.url + "/blocked")
    assert server.requests[0].headers["x-throwaway"] == "yes"


def test_settings_declared_on_a_source_are_read_from_the_environment(throwaway, monkeypatch):
    """No edit in filinglake.config: the throwaway's variables are read, listed and checked like the others."""
    from filinglake.config import ConfigError

    for variable in ("FILINGLAKE_THROWAWAY_BASE_URL", "FILINGLAKE_THROWAWAY_RATE", "FILINGLAKE_THROWAWAY_BLOCK_SECONDS",
                     "FILINGLAKE_CNINFO_RATE"):
        monkeypatch.delenv(variable, raising=False)
    defaults = source_settings("throwaway", load_settings())
    assert (defaults.base_url, defaults.rate, defaults.block_seconds) == ("https://api.throwaway.example", 2.0, 30.0)
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_BASE_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_RATE", "12.5")
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_BLOCK_SECONDS", "45")
    own = source_settings("throwaway", load_settings())
    assert (own.base_url, own.rate, own.block_seconds) == ("http://127.0.0.1:9/api", 12.5, 45.0)
    assert ("FILINGLAKE_THROWAWAY_RATE", "2", "requests per second") in env_vars()
    # a bad value fails only where the throwaway's rate is read, with the declared limit's reason
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_RATE", "90")
    settings = load_settings()
    assert source_settings("throwaway", settings).base_url == "http://127.0.0.1:9/api"
    assert source_settings("cninfo", settings).rate == 0.5  # another source's settings are untouched
    with pytest.raises(ConfigError, match="FILINGLAKE_THROWAWAY_RATE=90.0: throwaway allows at most 50"):
        _ = source_settings("throwaway", settings).rate
    with pytest.raises(ConfigError, match="FILINGLAKE_THROWAWAY_RATE"):
        make_client("throwaway", settings)
    with pytest.raises(AttributeError, match="throwaway declares no setting 'user_agent'"):
        _ = source_settings("throwaway", settings).user_agent
    with pytest.raises(ValueError, match="throwaway declares no setting rat;"):
        source_settings("throwaway", settings.with_source("throwaway", rat=1))


def test_document_capture_follows_the_sources_hosts_and_roots(throwaway, monkeypatch):
    from filinglake.alerts.documents import ForeignHost, check_url, fetch_url

    url = "https://docs.throwaway.example/a/b.pdf"
    assert check_url(url, "throwaway") == url
    with pytest.raises(ForeignHost, match="not a throwaway document host"):
        check_url("https://www.sec.gov/a/b.pdf", "throwaway")
    monkeypatch.setenv("FILINGLAKE_THROWAWAY_BASE_URL", "http://127.0.0.1:9")
    assert fetch_url(url, load_settings(), "throwaway") == "http://127.0.0.1:9/a/b.pdf"


def test_issuer_references_and_columns_come_from_the_source(throwaway, tmp_path, fixtures_dir):
    from filinglake.publish.issuers import build_issuers
    from filinglake.publish.references import issuer_references
    from filinglake.storage import Storage

    storage = Storage(tmp_path.as_uri())
    data = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    storage.archive_raw("throwaway_refs", "2026-01-02", "company_tickers.json", data, "https://example.invalid/")
    refs = issuer_references(storage, ["throwaway"])
    expected = {cik for cik, *_ in company_tickers_rows(data)}
    assert set(refs["issuer_id"].to_pylist()) == expected and set(refs["source"].to_pylist()) == {"throwaway"}

    cik = sorted(expected)[0]
    published = pa.table({
        "source": ["throwaway"], "issuer_id": [cik], "exchange": ["XTST"], "ticker": [None],
        "company_name": ["Throwaway Co"], "company_names": [["Throwaway Co"]],
        "filing_date": pa.array([date(2026, 1, 2)], pa.date32()),
        "last_seen_at": pa.array([datetime(2026, 1, 2)], pa.timestamp("us", tz="UTC")),
    })
    row = build_issuers(published, refs).to_pylist()[0]
    assert (row["cik"], row["stock_code"], row["org_id"]) == (cik, f"S{cik}", None)


def test_status_page_colour_is_the_sources_own_or_a_spare(throwaway, monkeypatch):
    from filinglake.report import _SPARE_COLOURS, _colour

    assert _colour("throwaway", 0) == "#123456"
    monkeypatch.setattr(Throwaway, "report_colour", None)
    assert _colour("throwaway", 1) == _SPARE_COLOURS[1]


def test_ingest_dag_fetches_in_the_sources_pool(throwaway):
    from filinglake_airflow.assets import clean_filings_asset
    from filinglake_airflow.ingest import build_ingest_dag

    dag = build_ingest_dag(dag_id="throwaway_daily", source="throwaway", schedule=None,
                           start_date=datetime(2026, 1, 1), partition_rule="market_day", doc_md="throwaway",
                           catchup=False, max_active_runs=1, tags=["test"])
    assert dag.get_task("fetch_index").pool == "throwaway_pool"
    assert clean_filings_asset("throwaway").name == "clean.throwaway.filings"


def test_stand_ins_iterate_the_registry(throwaway, monkeypatch, fixtures_dir):
    with pytest.raises(LookupError, match="tests/fakes/throwaway.py"):
        all_routes(fixtures_dir)
    stand_in = types.ModuleType("fakes.throwaway")
    stand_in.routes = lambda fixtures: {("GET", "/throwaway/tickers"): file_reply(fixtures / COMPANY_TICKERS)}
    monkeypatch.setitem(sys.modules, "fakes.throwaway", stand_in)
    routes = all_routes(fixtures_dir)
    assert ("GET", "/throwaway/tickers") in routes
    for name in source_names():
        assert set(routes_for(name, fixtures_dir)) <= set(routes)
    with ReplayServer(routes) as server:
        environment = throwaway.environment_for_root(server.url)
        assert environment == {"FILINGLAKE_THROWAWAY_BASE_URL": server.url}


def test_every_real_source_has_a_stand_in_and_one_server_serves_them_all(fixtures_dir):
    routes = all_routes(fixtures_dir)
    for source in all_sources():
        own = routes_for(source.name, fixtures_dir)
        assert own, f"{source.name}: its stand-in serves nothing"
        environment = source.environment_for_root("http://127.0.0.1:1")
        assert set(environment) == {s.env for s in source.root_settings()}
    # the SEC archive sits under the same path as on www.sec.gov
    assert get_source("sec_edgar").environment_for_root("http://127.0.0.1:1") == {
        "FILINGLAKE_SEC_BASE_URL": "http://127.0.0.1:1/Archives/edgar"}
    assert ("GET", "/Archives/edgar/full-index/2016/QTR3/master.gz") in routes
    assert ("GET", "/files/company_tickers.json") in routes
