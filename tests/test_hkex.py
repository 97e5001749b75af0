"""HKEXnews title search: parsing the real captured rows, envelopes, bad responses, rowRange growth and the
10,000-row cap against the local replay server, and the hkex_daily DAG end to end.

Expected values are computed here from ``json.load`` of the same fixture (plain Python, no parser code);
the fixture holds English rows for stock 00007, 2000-08-23 .. 2025-11-21 (see PROVENANCE.md).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fakes.hkex import hkex_routes, synthetic_rows
from fakes.replay import Reply

from filinglake.config import Settings
from filinglake.errors import BadResponse, Blocked, IncompleteFetch
from filinglake.ingest.landing import Context, fetch_partition, with_lineage, write_partition
from filinglake.ingest.row_checks import check_rows
from filinglake.manifests import read_committed
from filinglake.sources import get_source, make_client
from filinglake.sources.hkex import (
    SEARCH_PATH,
    ChallengePage,
    Hkex,
    decode_envelope,
    parse_response,
)
from filinglake.storage import Storage

FIXTURE = "hkex/titleSearch_result_parsed_00007_sunkken.json"
#: the busiest fixture day (7 rows), used for landing tests
BUSY_DAY = date(2012, 11, 14)
#: a day without fixture rows, filled with synthetic rows for the cap tests
SYNTHETIC_DAY = date(2024, 3, 27)


@pytest.fixture(scope="module")
def raw_rows(fixtures_dir: Path) -> list[dict]:
    return json.loads((fixtures_dir / FIXTURE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def parsed(fixtures_dir: Path):
    return Hkex().parse((fixtures_dir / FIXTURE).read_bytes(), "fixture.json")


def checked(table, partition=None):
    lineage = with_lineage(table, "raw/test", datetime(2026, 1, 1, tzinfo=UTC))
    return check_rows(lineage, Hkex().rules(partition))


def envelope(rows: list[dict] | None, *, lang: str = "E", has_next: bool = False, record_count: int | None = None,
             encode=True) -> bytes:
    """A title-search response as the servlet sends it: ``result`` is a JSON *string* (or null)."""
    result = None if rows is None else (json.dumps(rows) if encode else rows)
    count = len(rows or []) if record_count is None else record_count
    return json.dumps({"result": result, "sortList": "[[0,0]]", "hasNextRow": has_next, "rowRange": 100,
                       "loadedRecord": len(rows or []), "recordCnt": count, "lang": lang}).encode()


def row(**overrides) -> dict:
    """A hand-written row in the real shape (values from the fixture's first row)."""
    base = {
        "FILE_INFO": "197KB", "NEWS_ID": "11924816", "TOTAL_COUNT": "1",
        "SHORT_TEXT": "Announcements and Notices - [Other - Business Update &#x2f; Suspension]<br/>",
        "DOD_WEB_PATH": "", "STOCK_NAME": "WISDOM WEALTH", "TITLE": "VOLUNTARY ANNOUNCEMENT", "FILE_TYPE": "PDF",
        "DATE_TIME": "21/11/2025 18:49", "STOCK_CODE": "00007",
        "LONG_TEXT": "Announcements and Notices - [Other - Business Update &#x2f; Suspension]",
        "FILE_LINK": "/listedco/listconews/sehk/2025/1121/2025112100899.pdf",
    }
    return {**base, **overrides}


# ------------------------------------------------------------------------------------------------
# The real captured rows
# ------------------------------------------------------------------------------------------------


def test_real_fixture_rows_per_issuer_and_all_clean(parsed, raw_rows) -> None:
    # one unified row per issuer once '<br/>'-joined codes are split
    per_issuer = Counter(code.strip() for r in raw_rows for code in r["STOCK_CODE"].split("<br/>") if code.strip())
    assert parsed.num_rows == sum(per_issuer.values()) == 1101
    assert Counter(parsed["issuer_id"].to_pylist()) == per_issuer
    assert set(parsed["ticker"].to_pylist()) == {"0007.HK"}
    assert parsed["native_id"].to_pylist() == [r["NEWS_ID"] for r in raw_rows]
    assert parsed["filing_id"].to_pylist() == [f"hkex:{r['NEWS_ID']}" for r in raw_rows]
    assert Counter(parsed["company_name"].to_pylist()) == Counter(r["STOCK_NAME"] for r in raw_rows)
    assert set(parsed["language"].to_pylist()) == {"en"}
    assert set(parsed["exchange"].to_pylist()) == {"HKEX"}
    result = checked(parsed)
    assert result.counts() == {"rows_in": 1101, "rows_written": 1101, "duplicates": 0, "quarantined": 0}


def test_real_fixture_document_urls(parsed, raw_rows) -> None:
    urls = parsed["document_url"].to_pylist()
    assert urls == [f"https://www1.hkexnews.hk{r['FILE_LINK']}" for r in raw_rows]
    # The 17 FILE_TYPE "" rows are "Multi-Files": their link is the index page of the files, not a document.
    multi = [i for i, r in enumerate(raw_rows) if r["FILE_TYPE"] == ""]
    assert len(multi) == 17 and all(raw_rows[i]["FILE_INFO"] == "Multi-Files" for i in multi)
    assert {urls[i].rsplit(".", 1)[1] for i in multi} == {"htm", "html"}
    assert "https://www1.hkexnews.hk/listedco/listconews/sehk/dod/en.html" in [urls[i] for i in multi]


def test_real_fixture_titles_raw_and_clean(parsed, raw_rows) -> None:
    titles, clean = parsed["title"].to_pylist(), parsed["title_clean"].to_pylist()
    assert titles == [r["TITLE"] for r in raw_rows]  # kept exactly as served
    with_entities = [i for i, r in enumerate(raw_rows) if re.search(r"&(#x?[0-9a-f]+|[a-z]+);", r["TITLE"], re.I)]
    assert len(with_entities) == 67
    for i in with_entities:
        assert "&" in titles[i] and clean[i] == " ".join(html.unescape(raw_rows[i]["TITLE"]).split())
    karl = raw_rows.index(next(r for r in raw_rows if "KARL THOMSON&lt;00007&gt;" in r["TITLE"]))
    assert clean[karl] == "Exchange's Announcement in relation to KARL THOMSON<00007>"  # escaped '<' is text
    leading_space = raw_rows.index(next(r for r in raw_rows if r["TITLE"] == " Announcement"))
    assert (titles[leading_space], clean[leading_space]) == (" Announcement", "Announcement")


def test_real_fixture_times_in_utc_and_hong_kong_dates(parsed, raw_rows) -> None:
    # first row: "21/11/2025 18:49" in Hong Kong (UTC+8) is 10:49 UTC the same day
    assert raw_rows[0]["DATE_TIME"] == "21/11/2025 18:49"
    assert parsed["filed_at"][0].as_py() == datetime(2025, 11, 21, 10, 49, tzinfo=UTC)
    assert parsed["filing_date"][0].as_py() == date(2025, 11, 21)
    # the earliest posting time, 06:01 Hong Kong, is the previous day in UTC; filing_date stays the HK date
    early = next(i for i, r in enumerate(raw_rows) if r["DATE_TIME"].endswith(" 06:01"))
    d, m, y = (int(x) for x in raw_rows[early]["DATE_TIME"][:10].split("/"))
    assert parsed["filed_at"][early].as_py() == (datetime(y, m, d, 6, 1) - timedelta(hours=8)).replace(tzinfo=UTC)
    assert parsed["filing_date"][early].as_py() == date(y, m, d)
    assert parsed["filed_at"][early].as_py().date() < date(y, m, d)
    assert Counter(parsed["filing_date"].to_pylist()) == Counter(
        datetime.strptime(r["DATE_TIME"][:10], "%d/%m/%Y").date() for r in raw_rows)


def test_real_fixture_form_types_from_long_text(parsed, raw_rows) -> None:
    forms = parsed["form_type"].to_pylist()
    assert forms == [html.unescape(r["LONG_TEXT"]) or None for r in raw_rows]
    assert forms.count(None) == sum(r["LONG_TEXT"] == "" for r in raw_rows) == 144  # pre-2007 rows: no category
    assert forms[0] == "Announcements and Notices - [Other - Business Update / Suspension]"
    assert not any("<" in f for f in forms if f)


def test_optional_keys_on_some_rows_only(raw_rows) -> None:
    # NEED_UNDERLINE is on 144 rows only; a new key on one row must not matter either
    assert sum("NEED_UNDERLINE" in r for r in raw_rows) == 144
    rows = [dict(r) for r in raw_rows[:3]]
    rows[1]["SOMETHING_NEW"] = {"nested": True}
    del rows[2]["DOD_WEB_PATH"], rows[2]["TOTAL_COUNT"]
    assert parse_response(envelope(rows)).num_rows == 3


# ------------------------------------------------------------------------------------------------
# Envelopes, languages and hand-written edge cases
# ------------------------------------------------------------------------------------------------


def test_envelope_with_string_encoded_result_equals_bare_rows(fixtures_dir: Path, raw_rows, parsed) -> None:
    body = envelope(raw_rows)
    assert isinstance(json.loads(body)["result"], str)
    assert parse_response(body).equals(parsed)
    decoded = decode_envelope(body)
    assert (decoded.record_count, decoded.loaded_record, decoded.has_next_row, decoded.lang) == (1101, 1101, False, "E")


@pytest.mark.parametrize("result", [None, "[]", "", "null"])
def test_empty_results_are_zero_rows(result) -> None:
    body = json.dumps({"result": result, "hasNextRow": False, "rowRange": 100, "loadedRecord": 0, "recordCnt": 0,
                       "lang": "E"}).encode()
    table = parse_response(body)
    assert table.num_rows == 0 and table.schema.names == Hkex().parse(envelope([])).schema.names


def test_language_from_envelope_or_cjk_titles() -> None:
    chinese = [row(TITLE="自願公告", NEWS_ID="11924817"), row(TITLE="ESG REPORT 2024", NEWS_ID="11924818")]
    assert set(parse_response(envelope(chinese, lang="ZH"))["language"].to_pylist()) == {"zh"}
    assert set(parse_response(json.dumps(chinese + [row(TITLE="董事名單", NEWS_ID="3")]).encode())["language"]
               .to_pylist()) == {"zh"}
    # the envelope wins over the titles; bare English rows default to en
    assert set(parse_response(envelope(chinese, lang="E"))["language"].to_pylist()) == {"en"}
    assert set(parse_response(json.dumps([row()]).encode())["language"].to_pylist()) == {"en"}
    with pytest.raises(BadResponse, match="lang"):
        parse_response(envelope([row()], lang="FR"))


def test_multi_issuer_rows_become_one_row_per_issuer() -> None:
    rows = [row(STOCK_CODE="01346<br/>02318<br/>", STOCK_NAME="LEVER STYLE<br/>PING AN<br/>", NEWS_ID="42")]
    table = parse_response(envelope(rows))
    assert table["issuer_id"].to_pylist() == ["01346", "02318"]
    assert table["ticker"].to_pylist() == ["1346.HK", "2318.HK"]
    assert table["company_name"].to_pylist() == ["LEVER STYLE", "PING AN"]
    assert table["filing_id"].to_pylist() == ["hkex:42", "hkex:42"]
    assert checked(table).rows_written == 2  # (native_id, issuer_id) stays unique


def test_tickers_keep_four_digits_minimum() -> None:
    codes = ["00700", "09988", "00001", "80737"]
    table = parse_response(envelope([row(STOCK_CODE=c, NEWS_ID=str(i)) for i, c in enumerate(codes)]))
    assert table["ticker"].to_pylist() == ["0700.HK", "9988.HK", "0001.HK", "80737.HK"]


def test_untrusted_links_are_quarantined_and_empty_links_pass() -> None:
    links = {
        "1": "",  # "Multiple Files" with no link: null URL, passes
        "2": "https://evil.example/listedco/x.pdf",
        "3": "/listedco/../../etc/passwd",
        "4": "../x.pdf",
        "5": "//evil.example/x.pdf",
        "6": "https://www1.hkexnews.hk.evil.example/x.pdf",
        "7": "https://www1.hkexnews.hk/listedco/..\\x.pdf",
        "8": "https://www1.hkexnews.hk/listedco/listconews/sehk/2025/1121/2025112100899.pdf",
    }
    table = parse_response(envelope([row(NEWS_ID=k, FILE_LINK=v) for k, v in links.items()]))
    assert table["document_url"][0].as_py() is None
    result = checked(table)
    quarantined = dict(zip(result.quarantine["native_id"].to_pylist(), result.quarantine["failed_checks"].to_pylist(),
                           strict=True))
    assert quarantined == {k: ["document_url_on_source_host"] for k in "234567"}
    assert sorted(result.clean["native_id"].to_pylist()) == ["1", "8"]


def test_bad_rows_are_quarantined_with_reasons() -> None:
    rows = [
        row(NEWS_ID="1"),
        row(NEWS_ID="N2"),  # not digits
        row(NEWS_ID="3", STOCK_CODE="7"),  # not 5 digits
        row(NEWS_ID="4", STOCK_CODE=""),  # no issuer: kept as one row, quarantined
        row(NEWS_ID="5", DATE_TIME="2025-11-21 18:49"),  # wrong format: no time, no date
        row(NEWS_ID="6", DATE_TIME="21/11/1998 10:00"),  # before HKEXnews
        row(NEWS_ID="7", TITLE="  "),
        row(NEWS_ID="1"),  # exact duplicate of the first
        row(NEWS_ID="1", TITLE="SAME NEWS_ID AND ISSUER, OTHER TITLE"),
    ]
    result = checked(parse_response(envelope(rows)), Hkex().partition("2025-11-21-en"))
    assert result.duplicates == 1
    reasons = dict(zip(result.quarantine["native_id"].to_pylist(), result.quarantine["failed_checks"].to_pylist(),
                       strict=False))
    assert reasons["N2"] == ["news_id_digits"]
    assert reasons["3"] == ["stock_code_5_digits"]
    assert reasons["4"] == ["issuer_id_present"]
    assert reasons["5"] == ["filing_date_present", "filed_at_present"]
    assert reasons["6"] == ["filing_date_plausible"]
    assert reasons["7"] == ["title_present"]
    assert reasons["1"] == ["key_unique"]
    assert result.rows_written == 0 and result.quarantined == 8


def test_challenge_page_is_bad_response() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Request Rejected</title></head><body>The requested URL was rejected." \
           b" Please consult with your administrator.<br><br>Your support ID is: 1234</body></html>"
    with pytest.raises(BadResponse, match="Request Rejected") as caught:
        parse_response(page, "titleSearch.json")
    # also a block: the DAG's retry policy tries again later instead of failing for good
    assert isinstance(caught.value, ChallengePage) and isinstance(caught.value, Blocked)
    assert caught.value.retry_after > 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"records": []}', "expected an envelope"),
        (b'{"result": 5, "hasNextRow": false}', "'result' is a int"),
        (b'{"result": "[1, 2]", "hasNextRow": false}', "row 0 is a int"),
        (b'{"result": "{\\"a\\": 1}", "hasNextRow": false}', "rows are a dict"),
        (b'{"result": "[{\\"a\\"", "hasNextRow": false}', "not a JSON string of rows"),
        (b'{"result": null, "hasNextRow": "no"}', "hasNextRow"),
        (b'{"result": null, "hasNextRow": false, "recordCnt": "many"}', "recordCnt"),
        (b'"just a string"', "expected an envelope"),
        (b"callback({})", "not JSON"),
        (json.dumps([{"ID": "1", "HEADLINE": "renamed fields"}]).encode(), "row shape changed"),
    ],
)
def test_wrong_shapes_are_bad_responses(body: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=re.escape(message)):
        parse_response(body, "titleSearch.json")



def test_parse_command_on_envelope_bare_rows_and_null_result(fixtures_dir: Path, raw_rows, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    from filinglake.cli.app import main

    def parse(path: Path, out: str) -> dict:
        assert main(["parse", "--source", "hkex", str(path), "--output", str(tmp_path / out)]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    counts = ("rows_in", "rows_written", "duplicates", "quarantined")
    per_issuer = sum(len([c for c in r["STOCK_CODE"].split("<br/>") if c.strip()]) for r in raw_rows)
    # the real capture is a bare JSON array of rows
    bare = parse(fixtures_dir / FIXTURE, "bare")
    assert [bare[k] for k in counts] == [per_issuer, per_issuer, 0, 0]
    # the same rows in the servlet's envelope, `result` a JSON string
    wrapped = tmp_path / "envelope.json"
    wrapped.write_bytes(envelope(raw_rows))
    assert [parse(wrapped, "envelope")[k] for k in counts] == [bare[k] for k in counts]
    assert pq.read_table(tmp_path / "envelope" / "filings.parquet").drop_columns(["raw_key", "archived_at"]).equals(
        pq.read_table(tmp_path / "bare" / "filings.parquet").drop_columns(["raw_key", "archived_at"]))
    # an empty day: result null
    empty = tmp_path / "empty.json"
    empty.write_bytes(envelope(None, lang="ZH"))
    assert [parse(empty, "empty")[k] for k in counts] == [0, 0, 0, 0]
    assert pq.read_table(tmp_path / "empty" / "filings.parquet").num_rows == 0
    # a multi-issuer row with entities and a Multiple Files row without a link
    rows = [row(NEWS_ID="1", STOCK_CODE="01346<br/>02318<br/>", STOCK_NAME="LEVER STYLE<br/>PING AN<br/>",
                TITLE="RESULTS &amp; DIVIDEND &#x2f; CLOSURE"),
            row(NEWS_ID="2", STOCK_CODE="00700", FILE_TYPE="", FILE_INFO="Multiple Files", FILE_LINK="")]
    edge = tmp_path / "edge.json"
    edge.write_bytes(envelope(rows))
    assert [parse(edge, "edge")[k] for k in counts] == [3, 3, 0, 0]
    clean = pq.read_table(tmp_path / "edge" / "filings.parquet").to_pylist()
    assert [(r["native_id"], r["ticker"], r["title_clean"], r["document_url"] is None) for r in clean] == [
        ("1", "1346.HK", "RESULTS & DIVIDEND / CLOSURE", False),
        ("1", "2318.HK", "RESULTS & DIVIDEND / CLOSURE", False),
        ("2", "0700.HK", "VOLUNTARY ANNOUNCEMENT", True),
    ]



def test_default_client_paces_well_under_one_request_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from filinglake.config import load_settings

    monkeypatch.delenv("FILINGLAKE_HKEX_RATE", raising=False)
    with make_client("hkex", load_settings()) as client:
        assert client.rate == 0.5  # one request every 2 s per host in each process (HKEXnews)


def test_partitions() -> None:
    source = get_source("hkex")
    assert isinstance(source, Hkex)
    p = source.partition("2024-12-23-zh")
    assert (p.id, p.kind, p.start, p.end, p.option("language")) == ("2024-12-23-zh", "daily", date(2024, 12, 23),
                                                                    date(2024, 12, 23), "zh")
    assert source.partitions_for_day(date(2024, 12, 23)) == ["2024-12-23-en", "2024-12-23-zh"]
    for bad in ("2024-12-23", "2024-12-23-fr", "2024-13-01-en", "1998-12-31-en", "2024Q4"):
        with pytest.raises(ValueError):
            source.partition(bad)


# ------------------------------------------------------------------------------------------------
# Fetch against the replay server: rowRange growth, completeness, the cap
# ------------------------------------------------------------------------------------------------


def _settings(server, tmp_path: Path) -> Settings:
    return Settings(storage=(tmp_path / "lake").as_uri(), http_retries=1).with_source(
        "hkex", base_url=server.url, rate=1000)


def _fetch(server, tmp_path: Path, partition_id: str, source: Hkex | None = None):
    source = source or Hkex()
    settings = _settings(server, tmp_path)
    with make_client("hkex", settings) as client:
        return source.fetch(source.partition(partition_id), client, settings, today=date(2026, 1, 1))


def _served_rows(result) -> list[dict]:
    return [r for f in result.files for r in json.loads(json.loads(f.data)["result"])]


def test_fixture_day_lands_both_language_streams(replay_server, fixtures_dir: Path, raw_rows, tmp_path: Path) -> None:
    server = replay_server(hkex_routes(fixtures_dir))
    settings = _settings(server, tmp_path)
    expected = sorted(r["NEWS_ID"] for r in raw_rows if r["DATE_TIME"].startswith(BUSY_DAY.strftime("%d/%m/%Y")))
    manifests = {}
    for pid in Hkex().partitions_for_day(BUSY_DAY):
        ctx = Context.build("hkex", pid, settings)
        manifests[pid] = write_partition(ctx, fetch_partition(ctx))
    en, zh = manifests["2012-11-14-en"], manifests["2012-11-14-zh"]
    assert (en["status"], en["rows_in"], en["rows_written"], en["quarantined"]) == ("landed", 7, 7, 0)
    assert (zh["status"], zh["rows_written"], zh["raw"]) == ("empty", 0, [])  # the fixture has no Chinese rows
    clean = read_committed(Storage.from_settings(settings), "hkex", "2012-11-14-en")
    assert sorted(clean["native_id"].to_pylist()) == expected
    assert set(clean["filing_date"].to_pylist()) == {BUSY_DAY}
    queries = [(r.query["lang"], r.query["fromDate"], r.query["toDate"], r.query["stockId"]) for r in server.requests]
    assert queries == [("E", "20121114", "20121114", "-1"), ("ZH", "20121114", "20121114", "-1")]
    assert server.requests[0].headers["x-requested-with"] == "XMLHttpRequest"


def test_row_range_grows_until_no_next_row(replay_server, fixtures_dir: Path, tmp_path: Path) -> None:
    day = SYNTHETIC_DAY
    server = replay_server(hkex_routes(fixtures_dir, extra_rows=synthetic_rows(fixtures_dir, day, 2_345)))
    result = _fetch(server, tmp_path, "2024-03-27-en")
    assert [r.query["rowRange"] for r in server.requests] == ["1000", "2345"]
    assert len(result.files) == 1 and result.files[0].url.endswith("rowRange=2345&lang=E")
    assert len({r["NEWS_ID"] for r in _served_rows(result)}) == 2_345
    assert result.notes["whole_day"] == {"part": "all", "rows": 2_345, "record_count": 2_345, "requests": 2,
                                         "capped": False}


def test_cap_is_split_by_headline_category(replay_server, fixtures_dir: Path, tmp_path: Path) -> None:
    day = SYNTHETIC_DAY
    rows = (synthetic_rows(fixtures_dir, day, 40, long_text="Announcements and Notices - [Inside Information]")
            + synthetic_rows(fixtures_dir, day, 30, long_text="Circulars - [Connected Transaction]",
                             first_news_id=91_000_001)
            + synthetic_rows(fixtures_dir, day, 20, long_text="Monthly Returns", first_news_id=92_000_001))
    server = replay_server(hkex_routes(fixtures_dir, row_cap=50, extra_rows=rows))
    result = _fetch(server, tmp_path, "2024-03-27-en")
    # the whole day came back capped at 50 of 90 rows, so every tier-one category was asked separately
    whole = [r for r in server.requests if r.query["searchType"] == "0"]
    split = [r for r in server.requests if r.query["searchType"] == "1"]
    assert len(whole) == 1 and len(split) == 20
    assert {f.name for f in result.files} == {"titleSearch-2024-03-27-en-t1-10000.json",
                                              "titleSearch-2024-03-27-en-t1-20000.json",
                                              "titleSearch-2024-03-27-en-t1-51500.json"}
    assert sorted(r["NEWS_ID"] for r in _served_rows(result)) == sorted(r["NEWS_ID"] for r in rows)
    assert result.notes["whole_day"]["capped"] is True
    assert [p["rows"] for p in result.notes["split_by_t1code"]] == [40, 30, 20]


def test_cap_split_also_works_when_the_server_hides_the_total(replay_server, fixtures_dir: Path,
                                                              tmp_path: Path) -> None:
    day = SYNTHETIC_DAY
    rows = (synthetic_rows(fixtures_dir, day, 40) + synthetic_rows(
        fixtures_dir, day, 40, long_text="Proxy Forms", first_news_id=91_000_001))
    server = replay_server(hkex_routes(fixtures_dir, row_cap=50, extra_rows=rows, report_total_beyond_cap=False))
    source = Hkex()
    source.max_row_range = 50  # the client knows the cap: asking for 50 and getting 50 with more to come
    result = _fetch(server, tmp_path, "2024-03-27-en", source)
    assert [r.query["rowRange"] for r in server.requests if r.query["searchType"] == "0"] == ["50"]
    assert len(_served_rows(result)) == 80


def test_category_still_at_cap_fails_loudly(replay_server, fixtures_dir: Path, tmp_path: Path) -> None:
    day = SYNTHETIC_DAY
    server = replay_server(hkex_routes(fixtures_dir, row_cap=50, extra_rows=synthetic_rows(fixtures_dir, day, 60)))
    with pytest.raises(IncompleteFetch, match="t1code 10000 alone reaches"):
        _fetch(server, tmp_path, "2024-03-27-en")


def test_rows_in_no_category_fail_the_split(replay_server, fixtures_dir: Path, tmp_path: Path) -> None:
    # pre-2007 style rows have no headline category: the split cannot account for them
    day = SYNTHETIC_DAY
    rows = synthetic_rows(fixtures_dir, day, 40) + synthetic_rows(fixtures_dir, day, 20, long_text="",
                                                                  first_news_id=91_000_001)
    server = replay_server(hkex_routes(fixtures_dir, row_cap=50, extra_rows=rows))
    with pytest.raises(IncompleteFetch, match="the day has 60 documents but the 20 headline categories hold 40"):
        _fetch(server, tmp_path, "2024-03-27-en")


def _fixed(body: bytes, status: int = 200, content_type: str = "application/json") -> dict:
    return {("GET", SEARCH_PATH): Reply(status=status, body=body, content_type=content_type)}


def test_fetch_rejects_challenge_page_served_with_200(replay_server, tmp_path: Path) -> None:
    page = b"<html><head><title>Access Denied</title></head><body>bot check</body></html>"
    server = replay_server(_fixed(page, content_type="text/html"))
    with pytest.raises(BadResponse, match="Access Denied"):
        _fetch(server, tmp_path, "2024-03-27-en")


def test_fetch_rejects_wrong_shape_and_wrong_language(replay_server, tmp_path: Path) -> None:
    server = replay_server(_fixed(b'{"data": []}'))
    with pytest.raises(BadResponse, match="expected an envelope"):
        _fetch(server, tmp_path, "2024-03-27-en")
    server = replay_server(_fixed(envelope([row()], lang="E")))
    with pytest.raises(BadResponse, match="asked for lang=ZH"):
        _fetch(server, tmp_path, "2025-11-21-zh")


def test_fetch_checks_counts(replay_server, tmp_path: Path) -> None:
    server = replay_server(_fixed(envelope([row()], record_count=3)))
    with pytest.raises(IncompleteFetch, match="recordCnt says 3, loaded 1"):
        _fetch(server, tmp_path, "2025-11-21-en")
    server = replay_server(_fixed(envelope([row(TOTAL_COUNT="2")])))
    with pytest.raises(IncompleteFetch, match="TOTAL_COUNT"):
        _fetch(server, tmp_path, "2025-11-21-en")


def test_future_day_is_refused(replay_server, tmp_path: Path) -> None:
    server = replay_server(_fixed(envelope(None)))
    with pytest.raises(ValueError, match="future"):
        _fetch(server, tmp_path, "2026-01-02-en")
    assert server.requests == []


# ------------------------------------------------------------------------------------------------
# The hkex_daily DAG: which day a run ingests, its shape, and dag.test() end to end
# ------------------------------------------------------------------------------------------------

HONG_KONG = ZoneInfo("Asia/Hong_Kong")


def test_hkex_day_rule_closes_the_previous_day_after_midnight() -> None:
    from filinglake_airflow.partitions import hkex_day

    # 16:00 UTC is midnight in Hong Kong (UTC+8, no DST)
    assert hkex_day(datetime(2024, 12, 23, 1, 0, tzinfo=UTC)) == "2024-12-23"  # 09:00 HK
    assert hkex_day(datetime(2024, 12, 23, 15, 0, tzinfo=UTC)) == "2024-12-23"  # 23:00 HK
    assert hkex_day(datetime(2024, 12, 23, 18, 0, tzinfo=UTC)) == "2024-12-23"  # 02:00 HK next day: final run
    assert hkex_day(datetime(2024, 12, 23, 19, 0, tzinfo=UTC)) == "2024-12-24"  # 03:00 HK
    assert hkex_day(datetime(2024, 12, 24, 2, 0, tzinfo=HONG_KONG)) == "2024-12-23"
    # Airflow gives tasks pendulum DateTimes, whose arithmetic after a zoneinfo conversion drops the zone
    import pendulum

    assert hkex_day(pendulum.datetime(2024, 12, 23, 1, 0, tz="UTC")) == "2024-12-23"  # 09:00 HK
    assert hkex_day(pendulum.datetime(2024, 12, 23, 18, 0, tz="UTC")) == "2024-12-23"  # 02:00 HK on the 24th


def test_hkex_daily_backfill_from_doc_md_lands_every_day_once() -> None:
    from airflow.cli.cli_config import parsedate
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from filinglake_airflow.partitions import hkex_day, market_day

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    dag = bag.dags["hkex_daily"]
    command = re.search(r"airflow backfill create --dag-id hkex_daily --from-date (\S+) --to-date (\S+)`", dag.doc_md)
    assert command, "doc_md shows the backfill command"
    assert (command[1], command[2]) == ("2024-12-01", "2024-12-31")  # bare dates mean what they say
    # the runs `airflow backfill create` would create (same code path); pendulum DateTimes, as tasks get them
    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    runs = [i.logical_date for i in serialized.iter_dagrun_infos_between(parsedate(command[1]), parsedate(command[2]))]
    december = [(date(2024, 12, 1) + timedelta(days=i)).isoformat() for i in range(31)]
    assert [market_day(run) for run in runs] == december  # one run per day
    # the day's refreshes come from hkex_intraday and re-ingest their own Hong Kong day
    intraday = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(bag.dags["hkex_intraday"]))
    refreshes = [i.logical_date for i in intraday.iter_dagrun_infos_between(
        datetime(2024, 12, 1, tzinfo=HONG_KONG), datetime(2024, 12, 2, tzinfo=HONG_KONG))]
    assert [(hkex_day(r), r.astimezone(HONG_KONG).strftime("%H:%M")) for r in refreshes] == [
        ("2024-12-01", t) for t in ("09:00", "13:00", "17:00", "19:00", "21:00", "23:00")]


def test_stream_partitions_of_a_run() -> None:
    from filinglake_airflow.ingest import run_stream_partitions

    run = {"logical_date": datetime(2024, 12, 23, 13, 0, tzinfo=HONG_KONG), "params": {"partition": None}}
    assert run_stream_partitions("hkex_day", ("en", "zh"), run) == ["2024-12-23-en", "2024-12-23-zh"]
    one_day = {**run, "params": {"partition": "2012-11-14"}}
    assert run_stream_partitions("hkex_day", ("en", "zh"), one_day) == ["2012-11-14-en", "2012-11-14-zh"]
    one_stream = {**run, "params": {"partition": " 2012-11-14-zh "}}
    assert run_stream_partitions("hkex_day", ("en", "zh"), one_stream) == ["2012-11-14-zh"]



def test_challenge_page_is_retried_after_the_backoff_not_failed() -> None:
    # ChallengePage is both a BadResponse (fail at once) and a Blocked (wait): waiting must win
    from airflow.sdk import RetryAction

    from filinglake.sources.hkex import CHALLENGE_BACKOFF_SECONDS, ChallengePage
    from filinglake_airflow.retry import IngestRetryPolicy

    decision = IngestRetryPolicy().evaluate(ChallengePage("got HTML"), try_number=1, max_tries=7)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=CHALLENGE_BACKOFF_SECONDS))
    assert IngestRetryPolicy().evaluate(BadResponse("not JSON"), try_number=1, max_tries=7).action == RetryAction.FAIL


def test_hkex_daily_dag_shape() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    from filinglake_airflow.retry import IngestRetryPolicy

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "hkex_daily.py"))
    assert bag.import_errors == {}
    dag = bag.dags["hkex_daily"]
    timetable = coerce_to_core_timetable(dag.timetable).serialize()
    assert (timetable["timezone"], timetable["run_at_seconds"]) == ("Asia/Hong_Kong", 26 * 3600)  # 02:00 next day
    assert dag.catchup is False and dag.max_active_runs >= 2  # runs side by side (test_dags.py)
    assert {t.task_id for t in dag.tasks} == {"partitions", "fetch_index", "write_partition", "validate_partition"}
    fetch = dag.get_task("fetch_index")
    assert fetch.pool == "hkex" and isinstance(fetch.retry_policy, IngestRetryPolicy)
    assert fetch.upstream_task_ids == {"partitions"}
    assert [a.name for a in dag.get_task("validate_partition").outlets] == ["clean.hkex.filings"]
    assert "YYYY-MM-DD-en / YYYY-MM-DD-zh" in dag.params.get_param("partition").description  # the trigger form
    assert "airflow backfill create" in dag.doc_md and "filinglake ingest --source hkex" in dag.doc_md
    assert "hkex_intraday" in dag.doc_md


@pytest.fixture
def hkex_site(fixtures_dir: Path, replay_server, dag_env: Path, monkeypatch: pytest.MonkeyPatch):
    server = replay_server(hkex_routes(fixtures_dir))
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_HKEX_RATE", "1000")
    return server


def _events_by_partition(run) -> dict[str, dict]:
    assert all(e["asset"] == "clean.hkex.filings" and e["task_id"] == "validate_partition" for e in run.asset_events)
    return {e["extra"]["partition"]: e["extra"] for e in run.asset_events}


@pytest.mark.e2e
def test_hkex_daily_final_run_lands_both_streams(hkex_site, dag_env: Path, raw_rows) -> None:
    from support.airflow_harness import run_dag

    storage = Storage(dag_env.as_uri())
    # The run of 14 November 2012 (logical date the day itself; it fires at 02:00 Hong Kong on the 15th).
    run = run_dag("hkex_daily", logical_date=datetime(2012, 11, 14, tzinfo=UTC))
    assert run.succeeded, run.task_states
    assert set(run.task_states.values()) == {"success"}
    events = _events_by_partition(run)
    assert set(events) == {"2012-11-14-en", "2012-11-14-zh"}
    en, zh = events["2012-11-14-en"], events["2012-11-14-zh"]
    assert (en["status"], en["rows_in"], en["rows_written"], en["duplicates"], en["quarantined"]) == ("landed", 7, 7, 0, 0)
    assert (zh["status"], zh["rows_in"], zh["rows_written"]) == ("empty", 0, 0)
    assert en["validation"]["success"] is True and zh["validation"]["success"] is True

    expected = sorted(r["NEWS_ID"] for r in raw_rows if r["DATE_TIME"].startswith("14/11/2012"))
    clean = read_committed(storage, "hkex", "2012-11-14-en")
    assert sorted(clean["native_id"].to_pylist()) == expected
    assert set(clean["language"].to_pylist()) == {"en"} and set(clean["ticker"].to_pylist()) == {"0007.HK"}
    assert len(storage.list("raw/source=hkex/partition=2012-11-14-en/")) == 2  # the response and its .meta.json
    assert storage.list("raw/source=hkex/partition=2012-11-14-zh/") == []
    manifest = storage.get_json("manifests/source=hkex/partition=2012-11-14-zh.json")
    assert manifest["empty_reason"] == "HKEXnews lists no zh documents for 2012-11-14"
    asked = sorted((r.query["lang"], r.query["fromDate"]) for r in hkex_site.requests)
    assert asked == [("E", "20121114"), ("ZH", "20121114")]


@pytest.mark.e2e
def test_hkex_daily_partition_param_lands_one_stream(hkex_site, dag_env: Path) -> None:
    from support.airflow_harness import run_dag

    run = run_dag("hkex_daily", logical_date=datetime(2025, 11, 22, tzinfo=UTC),
                  conf={"partition": "2025-11-11-en"})
    assert run.succeeded, run.task_states
    (extra,) = _events_by_partition(run).values()
    assert (extra["partition"], extra["rows_written"]) == ("2025-11-11-en", 2)
    assert [r.query["lang"] for r in hkex_site.requests] == ["E"]



@pytest.mark.e2e
def test_hkex_intraday_morning_run_lands_the_current_day(hkex_site, dag_env: Path) -> None:
    from support.airflow_harness import run_dag

    # 09:00 Hong Kong is 01:00 UTC: the refresh re-ingests the Hong Kong day so far, not yesterday
    run = run_dag("hkex_intraday", logical_date=datetime(2025, 11, 11, 9, 0, tzinfo=HONG_KONG))
    assert run.succeeded, run.task_states
    events = _events_by_partition(run)
    assert sorted(events) == ["2025-11-11-en", "2025-11-11-zh"]
    assert events["2025-11-11-en"]["rows_written"] == 2


@pytest.mark.e2e
def test_hkex_daily_wrong_shape_fails_at_once_writing_nothing(replay_server, dag_env: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from support.airflow_harness import run_dag

    server = replay_server({("GET", SEARCH_PATH): Reply.json({"error": "system busy"})})
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_HKEX_RATE", "1000")
    run = run_dag("hkex_daily", logical_date=datetime(2013, 1, 2, tzinfo=UTC))
    assert run.state == "failed"
    assert run.task_states["fetch_index"] == "failed"
    assert run.try_numbers["fetch_index"] == 1  # BadResponse: no retry although fetch retries=6
    assert len(server.requests) == 2  # one per stream
    assert run.asset_events == []
    assert list(dag_env.glob("**/partition=2013-01-02-*")) == []


def test_ingest_command_lands_both_streams_of_each_day(fixtures_dir: Path, replay_server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from filinglake.cli.app import main

    server = replay_server(hkex_routes(fixtures_dir))
    monkeypatch.setenv("FILINGLAKE_HKEX_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_HKEX_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    # 2025-11-11 holds two fixture rows, 2025-11-12 none
    assert main(["ingest", "--source", "hkex", "--from", "2025-11-11", "--to", "2025-11-12", "--no-validate"]) == 0
    totals = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (totals["partitions"], totals["rows_written"], totals["empty"], totals["failed"]) == (4, 2, 3, [])
    asked = [(r.query["fromDate"], r.query["lang"]) for r in server.requests]
    assert asked == [("20251111", "E"), ("20251111", "ZH"), ("20251112", "E"), ("20251112", "ZH")]
