"""``filinglake query``: read-only views over the published tables, errors as DuckDB words them.

The lake is built by the real code: two SEC indexes replayed from the captured files, landed and published.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fakes.replay import ReplayServer
from fakes.sec_edgar import sec_archive_routes

from filinglake.cli import main
from filinglake.config import Settings
from filinglake.ingest.landing import ingest
from filinglake.publish.run import publish
from filinglake.query import QueryError, connect, run_query
from filinglake.storage import Storage

SCRIPT = Path(sys.executable).with_name("filinglake")


@pytest.fixture(scope="module")
def published_root(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lake with SEC 1993Q4 (20 rows) and 2018-12-31 (10 rows) landed and published."""
    root = tmp_path_factory.mktemp("published") / "lake"
    with ReplayServer(sec_archive_routes(fixtures_dir)) as server:
        settings = Settings(storage=root.as_uri(), sec_user_agent="filinglake-tests tests@example.com",
                            http_retries=1).with_source("sec_edgar", base_url=server.sec_base_url, rate=10)
        for partition in ("1993Q4", "2018-12-31"):
            ingest("sec_edgar", partition, settings, validate=False)
    publish(Storage.from_settings(settings), settings)
    yield root


@pytest.fixture
def in_published_root(published_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FILINGLAKE_STORAGE = the published lake; the current folder an empty one (where stray writes would land)."""
    monkeypatch.setenv("FILINGLAKE_STORAGE", published_root.as_uri())
    monkeypatch.chdir(tmp_path)
    return published_root


def error_lines(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if line.strip()]


def test_a_select_reads_the_published_rows(in_published_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "SELECT count(*) AS n FROM filings"]) == 0
    assert "│ 30 │" in capsys.readouterr().out
    for sql in ("DESCRIBE filings", "SUMMARIZE daily_counts", "EXPLAIN ANALYZE SELECT * FROM issuers",
                "WITH f AS (SELECT * FROM filings) SELECT count(*) FROM f"):
        assert main(["query", sql]) == 0, sql


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("COPY (SELECT * FROM filings) TO 'stolen.csv'", "COPY"),
        ("COPY filings TO 'stolen.parquet' (FORMAT parquet)", "COPY"),
        ("ATTACH 'other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "INSTALL/LOAD"),
        ("LOAD httpfs", "INSTALL/LOAD"),
        ("EXPORT DATABASE 'dump'", "EXPORT"),
        ("CREATE TABLE stash AS SELECT * FROM filings", "CREATE"),
        ("INSERT INTO filings SELECT * FROM filings", "INSERT"),
        ("SET enable_external_access = true", "SET"),
        ("SELECT 1; COPY (SELECT 1) TO 'x.csv'", "COPY"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "COPY"),  # EXPLAIN ANALYZE runs its statement
        ("explain (analyze, format json) copy (select 1) to 'x.csv'", "COPY"),
    ],
)
def test_statements_that_write_or_reach_out_are_refused(sql: str, kind: str, in_published_root: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.relative_to(in_published_root) for p in in_published_root.rglob("*"))
    assert main(["query", sql]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"filinglake: error: query is read-only: {kind} ") and "--allow-writes" in lines[0]
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.relative_to(in_published_root) for p in in_published_root.rglob("*")) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
        "SELECT * FROM read_text('/etc/hostname')",
    ],
)
def test_files_outside_the_published_tables_cannot_be_read(sql: str, in_published_root: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", sql]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("filinglake: error: query failed: Permission Error"), line


def test_a_data_file_cannot_be_overwritten_even_by_its_own_path(in_published_root: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The views' own files are readable; DuckDB's settings alone would let COPY overwrite one (USE_TMP_FILE false)."""
    data_file = next(in_published_root.joinpath("published", "filings").rglob("*.parquet"))
    before = data_file.read_bytes()
    assert main(["query", f"COPY (SELECT 1 AS x) TO '{data_file}' (FORMAT parquet, USE_TMP_FILE false)"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert data_file.read_bytes() == before


def test_allow_writes_permits_copy(in_published_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "form_types.csv"
    assert main(["query", "--allow-writes", f"COPY (SELECT DISTINCT form_type FROM filings ORDER BY 1) TO '{target}'"]) == 0
    assert target.read_text().splitlines()[0] == "form_type"


def test_output_writes_only_the_named_file(in_published_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    assert main(["query", "SELECT * FROM filings", "--output", str(target)]) == 0
    assert pq.read_table(target).num_rows == 30
    assert [p.name for p in tmp_path.iterdir()] == ["rows.parquet"]


def test_duckdb_hints_are_kept(in_published_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "SELECT * FROM filing"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert lines[0].startswith("filinglake: error: query failed: Catalog Error: Table with name filing does not exist")
    assert any('Did you mean "filings"' in line for line in lines), lines


def test_a_root_where_nothing_is_published_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "typo-lake"
    monkeypatch.setenv("FILINGLAKE_STORAGE", empty.as_uri())
    assert main(["query", "SELECT count(*) FROM filings"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("filinglake: error: nothing is published under ") and str(empty) in line, line
    assert "filinglake publish" in line and not empty.exists()


def test_the_library_refuses_writes_too(published_root: Path) -> None:
    storage = Storage(published_root.as_uri())
    assert run_query("SELECT count(*) AS n FROM issuers", storage=storage).to_pylist()[0]["n"] > 0
    with pytest.raises(QueryError, match="read-only: COPY"):
        run_query("COPY filings TO '/tmp/never.csv'", storage=storage)


def test_a_bad_sec_rate_does_not_break_query(in_published_root: Path) -> None:
    env = {**os.environ, "FILINGLAKE_SEC_RATE": "fast"}
    out = subprocess.run([str(SCRIPT), "query", "SELECT count(*) AS n FROM filings"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "30" in out.stdout


@pytest.mark.parametrize(("typed", "stored"), [
    ("700.HK", "0700.HK"), ("00700", "0700.HK"), ("HK0700", "0700.HK"), ("600519.SH", "600519.SS"),
    ("SH600519", "600519.SS"), ("600519", "600519.SS"), ("002236.sz", "002236.SZ"), ("0000320193", "320193"),
    ("brk.b", "BRK-B"),
])
def test_normalise_ticker_in_sql_is_the_one_normaliser(typed: str, stored: str, tmp_path: Path) -> None:
    from filinglake.tickers import normalise

    con = connect(Storage(tmp_path.as_uri()))
    assert con.sql("SELECT normalise_ticker($t) AS v", params={"t": typed}).fetchall() == [(stored,)]
    assert normalise(typed).value == stored


def test_normalise_ticker_null_and_nonsense(tmp_path: Path) -> None:
    import duckdb

    con = connect(Storage(tmp_path.as_uri()))
    assert con.sql("SELECT normalise_ticker(NULL) AS v").fetchall() == [(None,)]
    with pytest.raises(duckdb.Error, match="'not a ticker!' is not a ticker, stock code or CIK"):
        con.sql("SELECT normalise_ticker('not a ticker!')").fetchall()
