"""SEC EDGAR index parsing and row checks on the real captured index files.

Expected counts are computed in the tests by a deliberately naive reading of the same files
(split lines, find the dashed line, count and compare strings) — independent of the parser.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from filinglake.cli.app import main as cli_main
from filinglake.errors import BadResponse
from filinglake.ingest.landing import parse_file, with_lineage
from filinglake.ingest.row_checks import check_rows
from filinglake.sources.sec_edgar import SecEdgar, daily_candidates, daily_file_stamp, parse_index

SEC_INDEXES = [
    "edgar/daily/company.20221003.idx",
    "edgar/daily/form.20200318.idx",
    "edgar/daily/master.20181231.excerpt.idx",
    "edgar/daily/master.20260102.excerpt.idx",
    "edgar/full-index/1993/QTR4/master.idx",
    "edgar/full-index/2014/QTR4/xbrl.partial-20141106.CR-line-endings.idx",
    "edgar/full-index/2015/QTR4/xbrl.idx",
    "edgar/full-index/2016/QTR3/master.gz",
    "edgar/full-index/2019/QTR4/xbrl.partial-20191116.idx",
    "edgar/full-index/2021/QTR1/form.excerpt-name-overflow.idx",
    "edgar/full-index/form.empty-new-quarter.LDR-20250329.idx",
]


def naive_rows(path: Path) -> list[str]:
    """Data lines of an index file, read the simple way (the oracle for counts)."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    lines = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("-----"))
    return [line for line in lines[start + 1 :] if line.strip()]


def naive_key(line: str) -> tuple[str, str]:
    """(accession, CIK) of a data line: accession from the file name, CIK from the edgar/data path."""
    match = re.search(r"data/(\d+)/(\d{10}-\d{2}-\d{6})\.txt", line)
    assert match, line
    return match.group(2), match.group(1)


def checked(table, partition=None):
    source = SecEdgar()
    lineage = with_lineage(table, "raw/test", datetime(2026, 1, 1, tzinfo=UTC))
    return check_rows(lineage, source.rules(partition))


@pytest.mark.parametrize("relative", SEC_INDEXES)
def test_every_real_index_parses_with_independent_counts(fixtures_dir: Path, relative: str) -> None:
    path = fixtures_dir / relative
    rows = naive_rows(path)
    table = parse_index(path.read_bytes(), path.name)
    assert table.num_rows == len(rows)
    result = checked(table)
    # exact duplicate lines are exact duplicate rows; nothing else is dropped or quarantined
    assert result.duplicates == len(rows) - len(set(rows))
    assert result.quarantined == 0, result.failures
    assert result.rows_written == len(set(rows))
    keys = {naive_key(line) for line in rows}
    got = set(zip(table["native_id"].to_pylist(), table["issuer_id"].to_pylist(), strict=True))
    assert got == keys


def test_2016q3_master_figures(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/full-index/2016/QTR3/master.gz"
    rows = naive_rows(path)
    table = parse_index(path.read_bytes(), path.name)
    assert table.num_rows == 201_330 == len(rows)
    # top form types as documented in sources.md, checked against the naive split
    naive_forms = Counter(line.split("|")[2] for line in rows)
    parsed_forms = Counter(table["form_type"].to_pylist())
    assert parsed_forms == naive_forms
    assert parsed_forms["4"] == 75_302 and parsed_forms["8-K"] == 17_046
    # paper filings (submitter 9999999997) are real rows
    paper = sum(1 for line in rows if "/9999999997-" in line)
    assert pc.sum(pc.starts_with(table["native_id"], "9999999997-")).as_py() == paper == 1_712
    # accession + CIK pairs listed more than once (combined filings, renamed issuers) are all kept
    pair_counts = Counter(naive_key(line) for line in rows)
    repeated_pairs = [k for k, n in pair_counts.items() if n > 1]
    assert len(repeated_pairs) == 13
    result = checked(table, SecEdgar().partition("2016Q3"))
    assert result.rows_written == 201_330 and result.quarantined == 0 and result.duplicates == 0


def test_daily_form_index_duplicates_and_backdated_rows_are_kept(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/daily/form.20200318.idx"
    rows = naive_rows(path)
    table = parse_index(path.read_bytes(), path.name)
    result = checked(table, SecEdgar().partition("2020-03-18"))
    assert result.duplicates == 50
    backdated = pc.less(result.clean["filing_date"], date(2020, 3, 18))
    naive_backdated = {line for line in rows if re.search(r"\s(\d{8})\s", line).group(1) < "20200318"}
    assert pc.sum(backdated).as_py() == len(naive_backdated) == 144
    assert pc.min(result.clean["filing_date"]).as_py() == date(2019, 7, 18)
    assert result.quarantined == 0
    # form types with spaces survive the two-space split
    assert {"SC 13D/A", "DEF 14A"} <= set(table["form_type"].to_pylist())


def test_daily_company_index_wrapped_header_and_backdated(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/daily/company.20221003.idx"
    table = parse_index(path.read_bytes(), path.name)
    result = checked(table, SecEdgar().partition("2022-10-03"))
    assert result.duplicates == 16
    assert pc.sum(pc.less(result.clean["filing_date"], date(2022, 10, 3))).as_py() == 32
    assert pc.min(result.clean["filing_date"]).as_py() == date(2022, 9, 8)
    first = result.clean.slice(0, 1).to_pylist()[0]
    assert first["company_name"] == "1st stREIT Office Inc." and first["form_type"] == "1-A POS"


def test_overlong_company_name_is_not_cut(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/full-index/2021/QTR1/form.excerpt-name-overflow.idx"
    rows = {r["native_id"]: r for r in parse_index(path.read_bytes()).to_pylist()}
    long_name = "UNITED PLANNERS' FINANCIAL SERVICES OF AMERICA A LIMITED PARTNER"
    row = next(r for r in rows.values() if r["issuer_id"] == "820694")
    assert row["company_name"] == long_name and row["form_type"] == "X-17A-5"
    assert row["filing_date"] == date(2021, 2, 24)
    assert any(r["form_type"] == "1-A" for r in rows.values())
    # a 2021 paper filing whose accession says 2023 is kept as filed
    assert rows["9999999997-23-001153"]["filing_date"] == date(2021, 3, 5)


def test_cr_only_line_endings(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/full-index/2014/QTR4/xbrl.partial-20141106.CR-line-endings.idx"
    raw = path.read_bytes()
    assert b"\n" not in raw and raw.count(b"\r") == 3549
    table = parse_index(raw)
    assert table.num_rows == 3_539
    assert not any("\r" in (name or "") for name in table["company_name"].to_pylist())


def test_empty_new_quarter_file_is_zero_rows(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/full-index/form.empty-new-quarter.LDR-20250329.idx"
    table = parse_index(path.read_bytes())
    assert table.num_rows == 0
    assert checked(table).counts() == {"rows_in": 0, "rows_written": 0, "duplicates": 0, "quarantined": 0}


def test_back_dated_quarterly_rows_and_paper_accessions(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/full-index/1993/QTR4/master.idx"
    table = parse_index(path.read_bytes())
    result = checked(table, SecEdgar().partition("1993Q4"))
    assert result.rows_written == 20 and result.quarantined == 0
    paper = [r for r in table.to_pylist() if r["native_id"].startswith("9999999997-")]
    assert len(paper) == 5 and all(r["filing_date"].year == 1993 for r in paper)


def test_unified_columns_for_a_known_row(fixtures_dir: Path) -> None:
    path = fixtures_dir / "edgar/daily/master.20260102.excerpt.idx"
    table = parse_index(path.read_bytes())
    rows = [r for r in table.to_pylist() if r["native_id"] == "0001999371-26-000004"]
    assert len(rows) == 3  # one accession under three CIKs
    row = rows[0]
    assert row["filing_id"] == "sec_edgar:0001999371-26-000004"
    assert row["source"] == "sec_edgar" and row["exchange"] == "SEC" and row["language"] == "en"
    assert row["document_url"] == (
        f"https://www.sec.gov/Archives/edgar/data/{row['issuer_id']}/000199937126000004/0001999371-26-000004-index.htm"
    )
    assert not row["issuer_id"].startswith("0")


def test_block_page_html_and_empty_body_are_errors(fixtures_dir: Path) -> None:
    block = (fixtures_dir / "edgar/errors/sec_request_rate_threshold_exceeded.html").read_bytes()
    with pytest.raises(BadResponse, match="Request Rate Threshold Exceeded"):
        parse_index(block, "master.20240102.idx")
    with pytest.raises(BadResponse, match="HTML"):
        parse_index(b"<html><body>Sorry</body></html>", "master.idx")
    with pytest.raises(BadResponse, match="empty"):
        parse_index(b"", "master.idx")
    with pytest.raises(BadResponse, match="-----"):
        parse_index(b"just some text\nwith no header\n", "master.idx")


def test_truncated_gzip_is_an_error(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    with pytest.raises(BadResponse, match="truncated or corrupt gzip"):
        parse_index(data[: len(data) // 2], "master.gz")


def test_row_cut_short_is_quarantined_not_dropped(fixtures_dir: Path) -> None:
    raw = (fixtures_dir / "edgar/daily/master.20181231.excerpt.idx").read_bytes().rstrip(b"\n")
    last_line = raw.rsplit(b"\n", 1)[1]
    truncated = raw[: len(raw) - len(last_line) // 2]  # the last line loses half its bytes
    table = parse_index(truncated)
    assert table.num_rows == 10
    result = checked(table, SecEdgar().partition("2018-12-31"))
    assert result.rows_written == 9 and result.quarantined == 1
    reasons = result.quarantine["failed_checks"].to_pylist()[0]
    assert reasons and set(reasons) <= set(result.failures)


def test_latin1_and_old_paths_without_edgar_prefix() -> None:
    text = (
        "Description:           Master Index of EDGAR Dissemination Feed\n\n"
        "CIK|Company Name|Form Type|Date Filed|Filename\n"
        "--------------------------------------------------------------------------------\n"
        "0000012345|SOCI\xc9T\xc9 G\xc9N\xc9RALE|6-K|1996-05-01|data/12345/0000012345-96-000001.txt\n"
        "1000|ACME|10-K|19960502|edgar/data/1000/0000001000-96-000002.txt\n"
    ).encode("latin-1")
    rows = parse_index(text).to_pylist()
    assert rows[0]["company_name"] == "SOCIÉTÉ GÉNÉRALE"
    assert rows[0]["issuer_id"] == "12345"  # padding removed, digits kept as a string
    assert rows[0]["native_id"] == "0000012345-96-000001"
    assert rows[1]["filing_date"] == date(1996, 5, 2)


def test_daily_file_name_eras() -> None:
    assert daily_file_stamp(date(1994, 7, 1)) == "070194"
    assert daily_file_stamp(date(1996, 3, 4)) == "960304"
    assert daily_file_stamp(date(2018, 12, 31)) == "20181231"
    assert daily_candidates(date(1998, 2, 2)) == ["980202", "19980202"]


def test_partitions() -> None:
    src = SecEdgar()
    q = src.partition("2016q3")
    assert (q.id, q.kind, q.start, q.end) == ("2016Q3", "quarterly", date(2016, 7, 1), date(2016, 9, 30))
    d = src.partition("2018-12-31")
    assert (d.kind, d.start) == ("daily", date(2018, 12, 31))
    with pytest.raises(ValueError, match="YYYYQn"):
        src.partition("yesterday")
    with pytest.raises(ValueError, match="1993"):
        src.partition("1992Q4")


def test_parse_command_interface(fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    path = fixtures_dir / "edgar/daily/form.20200318.idx"
    code = cli_main(["parse", "--source", "sec_edgar", str(path), "--output", str(tmp_path / "out")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows_in"] == 4_084 and summary["duplicates"] == 50
    assert summary["rows_written"] + summary["duplicates"] + summary["quarantined"] == summary["rows_in"]
    filings = pq.read_table(tmp_path / "out/filings.parquet")
    quarantine = pq.read_table(tmp_path / "out/quarantine.parquet")
    assert filings.num_rows == summary["rows_written"] and quarantine.num_rows == summary["quarantined"]
    assert "failed_checks" in quarantine.column_names and "failed_checks" not in filings.column_names


def test_parse_command_errors_are_one_line(fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    block = fixtures_dir / "edgar/errors/sec_request_rate_threshold_exceeded.html"
    assert cli_main(["parse", "--source", "sec_edgar", str(block), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("filinglake: error:")
    assert cli_main(["parse", "--source", "nope", str(block), "--output", str(tmp_path)]) == 2
    assert "unknown source" in capsys.readouterr().err


def test_parse_file_counts_add_up(fixtures_dir: Path, tmp_path: Path) -> None:
    result = parse_file("sec_edgar", fixtures_dir / "edgar/daily/company.20221003.idx", tmp_path)
    assert result["rows_in"] == result["rows_written"] + result["duplicates"] + result["quarantined"] == 4_925


def test_parse_console_script_on_gzip_input(fixtures_dir: Path, tmp_path: Path) -> None:
    """The acceptance interface exactly: the installed console script, its stdout's last line, its exit code."""
    script = Path(sys.executable).with_name("filinglake")
    plain = fixtures_dir / "edgar/daily/form.20200318.idx"
    gzipped = tmp_path / "form.20200318.idx.gz"  # a daily .gz variant made from the real file
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    out = subprocess.run(
        [str(script), "parse", "--source", "sec_edgar", str(gzipped), "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    rows = naive_rows(plain)
    assert summary["rows_in"] == len(rows) == 4_084
    assert summary["duplicates"] == len(rows) - len(set(rows)) == 50
    assert (summary["rows_written"], summary["quarantined"]) == (len(set(rows)), 0)
    assert pq.read_table(tmp_path / "out/filings.parquet").num_rows == summary["rows_written"]


def test_parse_command_truncated_gzip_is_one_line_and_writes_nothing(fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    truncated = tmp_path / "master.gz"
    truncated.write_bytes(data[: len(data) // 3])
    code = cli_main(["parse", "--source", "sec_edgar", str(truncated), "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("filinglake: error: master.gz: truncated or corrupt gzip"), err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("relative", ["edgar/daily/form.20200318.idx", "edgar/daily/company.20221003.idx"])
@pytest.mark.parametrize("keep", [10, 80, 140])  # inside the name, inside the CIK, inside the file name
def test_fixed_width_row_cut_short_is_quarantined(fixtures_dir: Path, relative: str, keep: int) -> None:
    path = fixtures_dir / relative
    raw = path.read_bytes().rstrip(b"\n")
    last_line = raw.rsplit(b"\n", 1)[1]
    truncated = raw[: len(raw) - len(last_line) + keep]
    rows = naive_rows(path)
    table = parse_index(truncated)
    assert table.num_rows == len(rows)  # the cut row is kept, not dropped
    result = checked(table)
    assert result.quarantined == 1 and result.duplicates == len(rows) - len(set(rows))
    assert result.rows_written == len(set(rows)) - 1
    (reasons,) = result.quarantine["failed_checks"].to_pylist()
    assert "native_id_present" in reasons
