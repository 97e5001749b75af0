"""Alerts are never lost (issue 9.4): a broken watchlist stops a publish before it merges, and the
alerts step evaluates every ``filings`` version since the last one it evaluated.

Real fixture data is landed as clean partitions (SEC daily 2026-01-02, HKEX 00007 on the days it
announced a suspension or a Listing Committee decision, CNINFO 000001) and published through the
``filinglake publish`` command. The expected alerts are counted from the fixture files themselves,
with Python's own string handling. Documents are asked of a local server that has none (each
failure is recorded on its alert).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from filinglake.alerts import record
from filinglake.alerts.record import ALERTS, read_alerts, record_alerts
from filinglake.alerts.watchlist import parse_watchlist
from filinglake.cli.app import main as cli_main
from filinglake.config import load_settings
from filinglake.ingest import landing as pipeline
from filinglake.publish import delta
from filinglake.storage import Storage

SEC_DAILY = "edgar/daily/master.20260102.excerpt.idx"
HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
CNINFO_PARTITION = "stock-000001_2001-01-01_2002-12-31"
HKEX_WORDS = ("suspension", "listing committee")

WATCHLIST = """entries:
  - id: rbc-prospectus
    ciks: [1000275]
    form_types: [424B2, 424B5]
  - id: hkex-00007-suspension
    stock_codes: ['00007']
    words: [suspension, listing committee]
  - id: pingan-annual-report
    tickers: [000001.SZ]
    words: [年度报告]
"""
#: the same watchlist with the HKEX stock code unquoted: YAML reads 00007 as the number 7
BROKEN_WATCHLIST = WATCHLIST.replace("['00007']", "[00007]")


def _hkex_hit(row: dict) -> bool:
    if "00007" not in row["STOCK_CODE"].split("<br/>"):
        return False
    texts = [unicodedata.normalize("NFKC", t) for t in (row["TITLE"], html.unescape(row["TITLE"]), row["STOCK_NAME"])]
    return any(re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE | re.ASCII)
               for word in HKEX_WORDS for text in texts)


def expected_alerts(fixtures_dir: Path) -> set[tuple[str, str]]:
    """(entry id, filing id) of every alert the watchlist must raise, read off the fixture files."""
    sec = [line.split("|") for line in (fixtures_dir / SEC_DAILY).read_text().splitlines() if re.match(r"^\d+\|", line)]
    rbc = {("rbc-prospectus", f"sec_edgar:{d[4].rsplit('/', 1)[1].removesuffix('.txt')}")
           for d in sec if d[0] == "1000275" and d[2] in ("424B2", "424B5")}
    hkex = {("hkex-00007-suspension", f"hkex:{r['NEWS_ID']}")
            for r in json.loads((fixtures_dir / HKEX_ROWS).read_text(encoding="utf-8")) if _hkex_hit(r)}
    page = json.loads((fixtures_dir / CNINFO_PAGE).read_text(encoding="utf-8"))
    cninfo = {("pingan-annual-report", f"cninfo:{a['announcementId']}")
              for a in page["announcements"] if "年度报告" in a["announcementTitle"]}
    return rbc | hkex | cninfo


def land(settings, source: str, partition: str, name: str, data: bytes) -> None:
    ctx = pipeline.Context.build(source, partition, settings)
    ref = ctx.storage.archive_raw(source, partition, name, data, f"https://example.invalid/{name}")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})


@pytest.fixture
def lake(tmp_path: Path, fixtures_dir: Path, replay_server, monkeypatch: pytest.MonkeyPatch) -> Storage:
    """Real rows landed as clean partitions; the environment a `filinglake publish` reads."""
    server = replay_server({})  # no documents: every capture is recorded as HTTP 404
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    for name, value in {
        "FILINGLAKE_STORAGE": (tmp_path / "lake").as_uri(), "FILINGLAKE_WATCHLIST": str(watchlist),
        "FILINGLAKE_SEC_USER_AGENT": "filinglake tests tests@example.com", "FILINGLAKE_HTTP_RETRIES": "1",
        "FILINGLAKE_SEC_BASE_URL": server.sec_base_url, "FILINGLAKE_SEC_RATE": "10",
        "FILINGLAKE_HKEX_BASE_URL": server.url, "FILINGLAKE_HKEX_RATE": "50",
        "FILINGLAKE_CNINFO_BASE_URL": server.url, "FILINGLAKE_CNINFO_STATIC_URL": server.url,
        "FILINGLAKE_CNINFO_RATE": "50",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", (fixtures_dir / SEC_DAILY).read_bytes())
    land(settings, "cninfo", CNINFO_PARTITION, "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    by_day: dict[str, list[dict]] = defaultdict(list)
    for row in json.loads((fixtures_dir / HKEX_ROWS).read_text(encoding="utf-8")):
        by_day[row["DATE_TIME"][:10]].append(row)
    for day, rows in by_day.items():  # every row of each day on which 00007 has a hit
        if any(_hkex_hit(r) for r in rows):
            dd, mm, yyyy = day.split("/")
            land(settings, "hkex", f"{yyyy}-{mm}-{dd}-en", "titleSearch.json", json.dumps(rows).encode())
    return Storage.from_settings(settings)


def publish_output(capsys: pytest.CaptureFixture) -> tuple[dict | None, str]:
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return (json.loads(lines[-1]) if lines else None), captured.err


def alerted(storage: Storage) -> set[tuple[str, str]]:
    table = read_alerts(storage)
    return set(zip(table["entry_id"].to_pylist(), table["filing_id"].to_pylist(), strict=True))


def test_a_broken_watchlist_stops_the_publish_before_it_merges(lake: Storage, fixtures_dir: Path, capsys) -> None:
    expected = expected_alerts(fixtures_dir)
    assert len(expected) == 52 and {e for e, _ in expected} == {"rbc-prospectus", "hkex-00007-suspension",
                                                                  "pingan-annual-report"}
    watchlist = Path(load_settings().watchlist)
    watchlist.write_text(BROKEN_WATCHLIST, encoding="utf-8")

    assert cli_main(["publish"]) == 2
    out, err = publish_output(capsys)
    assert out is None
    assert f"{watchlist}:6: entry 'hkex-00007-suspension': field 'stock_codes': write codes in quotes" in err
    assert lake.list("published") == []  # nothing merged, nothing committed

    watchlist.write_text(WATCHLIST, encoding="utf-8")
    assert cli_main(["publish"]) == 0
    out, err = publish_output(capsys)
    assert out["inserted"] == out["rows"] > 0 and out["alerts"] == len(expected)
    assert alerted(lake) == expected
    assert err.count("alert hkex-00007-suspension: stock_code:00007 & word:") == 45

    assert cli_main(["publish"]) == 0  # nothing new: no alert again, nothing committed
    assert publish_output(capsys)[0]["alerts"] == 0


def test_alerts_of_a_publish_whose_alert_step_failed_come_with_the_next_run(
    lake: Storage, fixtures_dir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = record._insert

    def storage_went_away(*args, **kwargs):
        raise OSError("storage went away")

    monkeypatch.setattr(record, "_insert", storage_went_away)
    assert cli_main(["publish"]) == 2
    assert "storage went away" in publish_output(capsys)[1]
    assert delta.open_table(lake, "filings") is not None  # the publish had merged
    assert read_alerts(lake).num_rows == 0

    monkeypatch.setattr(record, "_insert", insert)
    assert cli_main(["publish"]) == 0  # this publish merges nothing new
    out, _ = publish_output(capsys)
    assert (out["inserted"], out["updated"]) == (0, 0)
    assert out["alerts"] == 52 and alerted(lake) == expected_alerts(fixtures_dir)


def test_record_alerts_evaluates_each_filings_version_once(lake: Storage, capsys) -> None:
    settings = load_settings()
    watchlist = parse_watchlist(WATCHLIST)
    assert cli_main(["publish", "--no-alerts"]) == 0
    capsys.readouterr()

    first = record_alerts(lake, settings, watchlist, capture_documents=False)
    assert len(first) == 52
    alerts_version = delta.open_table(lake, ALERTS).version()
    assert record_alerts(lake, settings, watchlist, capture_documents=False) == []
    assert delta.open_table(lake, ALERTS).version() == alerts_version  # nothing evaluated, nothing committed

    # A watchlist entry added later applies to the filings published from then on, not to the past.
    wider = parse_watchlist(WATCHLIST + "  - id: anything-rbc\n    ciks: [1000275]\n")
    assert record_alerts(lake, settings, wider, capture_documents=False) == []
