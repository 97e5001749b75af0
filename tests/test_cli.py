"""The ``filinglake`` command line tells the truth: one line per usage error, exit codes that mean something.

Exit codes: 0 ok, 1 some partitions failed (the others were landed), 2 usage or input error, 130 interrupted.
Ingest runs go through the real library against stand-in servers replaying the captured responses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fakes.cninfo import cninfo_replay
from fakes.hkex import hkex_routes
from fakes.replay import ReplayServer, Reply, serve_error
from fakes.sec_edgar import SEC_ARCHIVE_PREFIX, sec_archive_routes

from filinglake import __version__
from filinglake.cli import main
from filinglake.manifests import read_committed
from filinglake.storage import Storage, manifest_key

SCRIPT = Path(sys.executable).with_name("filinglake")
USER_AGENT = "filinglake-tests tests@example.com"


@pytest.fixture
def sec_env(fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    """The SEC archive replayed locally, with 2018-12-27 and 2018-12-28 answering HTTP 500; storage in tmp_path."""
    routes = sec_archive_routes(fixtures_dir)
    for stamp in ("20181227", "20181228"):
        for suffix in ("idx", "idx.gz"):
            serve_error(routes, f"{SEC_ARCHIVE_PREFIX}/daily-index/2018/QTR4/master.{stamp}.{suffix}",
                        Reply(status=500, body=b"internal error"))
    with ReplayServer(routes) as server:
        monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
        monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
        monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", USER_AGENT)
        monkeypatch.setenv("FILINGLAKE_SEC_RATE", "10")
        monkeypatch.setenv("FILINGLAKE_HTTP_RETRIES", "1")
        yield server


def lake(tmp_path: Path) -> Storage:
    return Storage((tmp_path / "lake").as_uri())


def error_lines(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------
# usage errors: one line (plus a "Try … --help" hint), exit 2, never a traceback
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "missing command"),
        (["nope"], "No such command 'nope'"),
        (["query", "--bogus", "x"], "No such option: --bogus"),
        (["query"], "Missing argument 'SQL'"),
        (["query", "--limit", "-1", "SELECT 1"], "--limit"),
        (["report", "--days", "0"], "--days"),
        (["ingest", "--date", "2018-12-31"], "Missing option '--source'"),
        (["ingest", "--source", "nope", "--date", "2018-12-31"], "unknown source 'nope'; known sources: cninfo, hkex, sec_edgar"),
        (["parse", "--source", "sec_edgar"], "Missing argument 'INPUT_FILE'"),
        (["ingest", "--source", "sec_edgar"], "give exactly one of"),
        (["ingest", "--source", "sec_edgar", "--from-quarter", "2016Q3"], "--from-quarter and --to-quarter go together"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], says: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = error_lines(captured.err)
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("filinglake: error: ") and says.lower() in lines[0].lower(), lines
    assert len(lines) == 1 or lines[1].startswith("Try 'filinglake"), lines
    assert captured.out == ""


def test_the_console_script_answers_a_bare_call_with_one_line(tmp_path: Path) -> None:
    out = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert lines == ["filinglake: error: missing command", "Try 'filinglake --help' for help."], lines


def test_version_and_help_name_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"filinglake {__version__}"
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for code in ("0 ok", "1 some partitions failed", "2 usage or input error", "130 interrupted"):
        assert code in text, code
    assert main(["ingest", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "cninfo, hkex, sec_edgar" in text and "--from-quarter" in text and "--force" in text


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from filinglake.ingest import landing

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(landing, "parse_file", interrupted)
    assert main(["parse", "--source", "sec_edgar", __file__]) == 130
    assert error_lines(capsys.readouterr().err) == ["filinglake: interrupted"]


# ------------------------------------------------------------------------------------------------
# ranges: failed partitions make the command fail after the others are landed
# ------------------------------------------------------------------------------------------------


def test_range_with_failed_days_lands_the_rest_and_exits_1(sec_env: ReplayServer, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", "sec_edgar", "--from", "2018-12-27", "--to", "2018-12-31", "--no-validate"]) == 1
    captured = capsys.readouterr()
    totals = json.loads(captured.out.strip().splitlines()[-1])
    assert totals["partitions"] == 3 and totals["rows_written"] == 10  # 29th, 30th (weekend, empty) and the 31st
    assert [f.split(":")[0] for f in totals["failed"]] == ["2018-12-27", "2018-12-28"]
    assert read_committed(lake(tmp_path), "sec_edgar", "2018-12-31").num_rows == 10
    assert not lake(tmp_path).exists(manifest_key("sec_edgar", "2018-12-27"))
    err = captured.err
    assert "2 of 5 partitions failed" in err
    for day in ("2018-12-27", "2018-12-28"):
        assert f"{day}: " in err and "HTTP 500" in err
    assert "filinglake: error: 2 of 5 partitions failed" in err


def test_one_failed_partition_exits_1_with_its_reason(sec_env: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", "sec_edgar", "--date", "2018-12-27", "--no-validate"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert any(line.startswith("filinglake: error: 2018-12-27: ") and "HTTP 500" in line for line in lines), lines


def test_quarter_range_lands_every_quarter_and_names_the_missing_one(
    sec_env: ReplayServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2016Q3 is a real full-index capture; 2016Q2 and 2016Q4 are not on the stand-in server
    code = main(["ingest", "--source", "sec_edgar", "--from-quarter", "2016Q2", "--to-quarter", "2016Q4", "--no-validate"])
    assert code == 1
    captured = capsys.readouterr()
    totals = json.loads(captured.out.strip().splitlines()[-1])
    assert totals["partitions"] == 1 and totals["rows_written"] > 0
    assert [f.split(":")[0] for f in totals["failed"]] == ["2016Q2", "2016Q4"]
    assert "2 of 3 partitions failed" in captured.err
    asked = [r.path for r in sec_env.requests if r.path.endswith(("master.gz", "master.idx"))]
    assert f"{SEC_ARCHIVE_PREFIX}/full-index/2016/QTR4/master.gz" in asked  # tried after the landed one
    assert read_committed(lake(tmp_path), "sec_edgar", "2016Q3").num_rows == totals["rows_written"]


def test_quarter_range_of_fixture_quarters_exits_0(sec_env: ReplayServer, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", "sec_edgar", "--from-quarter", "1993Q4", "--to-quarter", "1993Q4",
                 "--no-validate"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["partition"], summary["rows_written"]) == ("1993Q4", 20)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--from-quarter", "2026Q4", "--to-quarter", "2099Q1"], "2027Q1 is in the future"),
        (["--from-quarter", "1992Q4", "--to-quarter", "1993Q1"], "1992Q4: EDGAR full-index starts at 1993Q1"),
        (["--from-quarter", "2016Q3", "--to-quarter", "2016Q1"], "--to-quarter 2016Q1 is before --from-quarter 2016Q3"),
        (["--from-quarter", "2016-07", "--to-quarter", "2016Q3"], "--from-quarter 2016-07: use YYYYQn"),
        (["--quarter", "2016Q3", "--from-quarter", "2016Q3", "--to-quarter", "2016Q3"], "give exactly one of"),
    ],
)
def test_quarter_ranges_are_checked_before_any_request(sec_env: ReplayServer, argv: list[str], says: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", "sec_edgar", *argv]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("filinglake: error: ") and says in lines[0], lines
    assert sec_env.requests == []


def test_force_lands_a_shrinking_index_that_is_refused_without_it(
    sec_env: ReplayServer, fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real 1993Q4 index lands; the server then serves it cut short: refused (exit 1, both counts named),
    until ``--force`` lands it."""
    from filinglake.manifests import read_committed
    from filinglake.storage import Storage

    assert main(["ingest", "--source", "sec_edgar", "--quarter", "1993Q4", "--no-validate"]) == 0
    real = (fixtures_dir / "edgar/full-index/1993/QTR4/master.idx").read_bytes()
    sec_env.routes[("GET", f"{SEC_ARCHIVE_PREFIX}/full-index/1993/QTR4/master.idx")] = Reply(body=real[: len(real) * 3 // 4])
    capsys.readouterr()

    assert main(["ingest", "--source", "sec_edgar", "--quarter", "1993Q4", "--no-validate"]) == 1
    err = capsys.readouterr().err
    assert "1993Q4" in err and "the 20 rows landed" in err and "force" in err
    storage = Storage((tmp_path / "lake").as_uri())
    assert read_committed(storage, "sec_edgar", "1993Q4").num_rows == 20

    assert main(["ingest", "--source", "sec_edgar", "--quarter", "1993Q4", "--no-validate", "--force"]) == 0
    assert read_committed(storage, "sec_edgar", "1993Q4").num_rows < 20


# ------------------------------------------------------------------------------------------------
# what the README promises for HKEX and CNINFO
# ------------------------------------------------------------------------------------------------


def test_hkex_date_lands_both_language_streams(fixtures_dir: Path, replay_server, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = replay_server(hkex_routes(fixtures_dir))
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_HKEX_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    assert main(["ingest", "--source", "hkex", "--date", "2025-11-11", "--no-validate"]) == 0
    totals = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (totals["partitions"], totals["rows_written"], totals["failed"]) == (2, 2, [])
    assert [(r.query["fromDate"], r.query["lang"]) for r in server.requests] == [("20251111", "E"), ("20251111", "ZH")]
    for stream in ("en", "zh"):
        assert lake(tmp_path).exists(manifest_key("hkex", f"2025-11-11-{stream}"))


@pytest.mark.parametrize("stock", ["000001", "000001.SZ", "000001.sz"])
def test_cninfo_stock_accepts_the_ticker_spelling(stock: str, fixtures_dir: Path, replay_server, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    server = replay_server(cninfo_replay(fixtures_dir).routes())
    monkeypatch.setenv("FILINGLAKE_CNINFO_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    args = ["ingest", "--source", "cninfo", "--stock", stock, "--from", "2001-01-01", "--to", "2002-12-31", "--no-validate"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["partition"], summary["rows_written"]) == ("stock-000001_2001-01-01_2002-12-31", 8)


def test_partition_option_takes_the_ids_the_manifests_show() -> None:
    """--partition takes the DAGs' partition param spellings: ids as stored, a plain day for all of its streams."""
    from filinglake.cli.ingest import partition_ids

    today = date(2026, 1, 5)
    stock = "stock-002236_2020-01-01_2024-12-31"
    assert partition_ids("cninfo", partition=[stock, "stock=002236:2020-01-01..2024-12-31"], today=today) == [stock] * 2
    assert partition_ids("cninfo", stock="002236.SZ", start="2020-01-01", end="2024-12-31", today=today) == [stock]
    assert partition_ids("hkex", partition=["2025-11-11", "2025-11-12-zh"], today=today) == [
        "2025-11-11-en", "2025-11-11-zh", "2025-11-12-zh"]
    assert partition_ids("sec_edgar", partition=["2016q3", "2018-12-31"], today=today) == ["2016Q3", "2018-12-31"]


def test_cninfo_stock_that_is_no_stock_code_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    assert main(["ingest", "--source", "cninfo", "--stock", "AAPL", "--from", "2024-01-01", "--to", "2024-01-31"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("filinglake: error: --stock AAPL: ") and "002236" in line


# ------------------------------------------------------------------------------------------------
# configuration problems surface where the setting is used, as one line
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["s3:/bucket/x", "file:/abs/lake", "s3:bucket", "file://relative/lake", "s3:///nobucket"])
def test_malformed_storage_urls_are_refused_and_nothing_is_written(value: str, tmp_path: Path) -> None:
    env = {**os.environ, "FILINGLAKE_STORAGE": value}
    work = tmp_path / "cwd"
    work.mkdir()
    out = subprocess.run([str(SCRIPT), "report"], capture_output=True, text=True, env=env, timeout=120, cwd=work)
    assert out.returncode == 2
    (line,) = error_lines(out.stderr)
    assert line.startswith(f"filinglake: error: FILINGLAKE_STORAGE={value!r}"), line
    assert "s3://bucket/prefix" in line and "file:///" in line
    assert list(work.iterdir()) == []  # nothing under ./s3:/… or ./file:/…


def test_bad_sec_user_agent_is_named_when_sec_is_called(sec_env: ReplayServer, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", "filinglake-tests")
    assert main(["report"]) == 0  # not needed there
    capsys.readouterr()
    assert main(["ingest", "--source", "sec_edgar", "--date", "2018-12-31", "--no-validate"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("filinglake: error: FILINGLAKE_SEC_USER_AGENT='filinglake-tests' must hold a name and an e-mail")
    assert sec_env.requests == []


def test_readme_documents_the_exit_codes_and_the_commands() -> None:
    from filinglake.cli import app as cli_app
    from filinglake.cli import exit_codes

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    for code in (exit_codes.OK, exit_codes.PARTITIONS_FAILED, exit_codes.USAGE_ERROR, exit_codes.INTERRUPTED):
        assert f"\n| {code} | " in section, code
    for command in cli_app.app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"`{name}" in section, name


def test_verbose_flag_turns_on_third_party_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`filinglake -v …` makes the validation record log GX's own INFO lines (quiet by default)."""
    import logging

    from filinglake.ingest import validation

    monkeypatch.delenv("FILINGLAKE_VERBOSE", raising=False)
    validation.set_verbose(None)
    try:
        assert main(["--version"]) == 0
        assert not validation.is_verbose()
        assert main(["-v", "watchlist", "--help"]) == 0
        assert validation.is_verbose()
        assert logging.getLogger("httpx").level == logging.INFO
    finally:
        validation.set_verbose(None)
        logging.getLogger("httpx").setLevel(logging.WARNING)
