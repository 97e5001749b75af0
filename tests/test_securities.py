"""published/securities (dated SCD-2 snapshots of the archived reference lists) and tickers on SEC filings.

Real inputs: SEC's company_tickers.json (2024-05), CNINFO's stock lists of 2016-01 and 2021-09-27, the
mojibake stock list, HKEXnews' stock list (2,330 securities) and Apple's rows of the real 2016Q3 quarterly master.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path

import pytest

from filinglake.alerts.record import record_alerts
from filinglake.alerts.watchlist import parse_watchlist
from filinglake.config import Settings
from filinglake.ingest import landing as pipeline
from filinglake.publish.filings import FILINGS, changed_rows
from filinglake.publish.references import fetch_reference_list
from filinglake.publish.run import publish, publish_pending, read_published
from filinglake.publish.securities import SECURITIES, read_securities, refresh_securities
from filinglake.query import run_query
from filinglake.sources import get_source
from filinglake.sources.cninfo_stocks import STOCK_LIST_NAME, STOCKS_SOURCE
from filinglake.sources.sec_edgar import SEC_TICKERS_NAME, SEC_TICKERS_SOURCE
from filinglake.storage import Storage

COMPANY_TICKERS = "edgar/api/company_tickers.json"
STOCKS_2016 = "cninfo/szse_stock_201601_CloudDataX.json"
STOCKS_2021 = "cninfo/szse_stock_20210927_ForstMaple.json"
STOCKS_MOJIBAKE = "cninfo/szse_stock_mojibake-gbk_CloudDataX.json"
HKEX_STOCKS = "hkex/prefix_stockId_mapping_sunkken.csv"
QUARTER_2016 = "edgar/full-index/2016/QTR3/master.gz"
APPLE = "320193"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage=(tmp_path / "lake").as_uri())


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage.from_settings(settings)


def archive_tickers(storage: Storage, day: str, data: bytes) -> None:
    storage.archive_raw(SEC_TICKERS_SOURCE, day, SEC_TICKERS_NAME, data, "https://www.sec.gov/files/company_tickers.json")


def archive_stocks(storage: Storage, day: str, data: bytes) -> None:
    storage.archive_raw(STOCKS_SOURCE, day, STOCK_LIST_NAME, data, "http://www.cninfo.com.cn/new/data/szse_stock.json")


def land_2016q3(settings: Settings, fixtures_dir: Path, ciks: tuple[str, ...]) -> list[bytes]:
    """The real 2016Q3 master's preamble and the rows of ``ciks``, landed as partition 2016Q3; returns the rows."""
    text = gzip.decompress((fixtures_dir / QUARTER_2016).read_bytes())
    head, _, body = text.partition(b"-" * 80 + b"\n")
    wanted = re.compile(rb"^(" + b"|".join(c.encode() for c in ciks) + rb")\|")
    lines = [ln for ln in body.split(b"\n") if wanted.match(ln)]
    ctx = pipeline.Context.build("sec_edgar", "2016Q3", settings)
    data = head + b"-" * 80 + b"\n" + b"".join(ln + b"\n" for ln in lines)
    ref = ctx.storage.archive_raw("sec_edgar", "2016Q3", "master.idx", data, "https://example.invalid/master.idx")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})
    return lines


def current(storage: Storage, source: str) -> dict[str, dict]:
    rows = read_securities(storage, where=f"source = '{source}' AND is_current").to_pylist()
    return {r["security_id"]: r for r in rows}


# ------------------------------------------------------------------------------------------------
# securities: every listed security, as dated versions
# ------------------------------------------------------------------------------------------------


def test_securities_from_the_real_reference_lists(storage, fixtures_dir) -> None:
    archive_tickers(storage, "2024-05-01", (fixtures_dir / COMPANY_TICKERS).read_bytes())
    archive_stocks(storage, "2016-01-15", (fixtures_dir / STOCKS_2016).read_bytes())
    archive_stocks(storage, "2021-09-27", (fixtures_dir / STOCKS_2021).read_bytes())

    counts = refresh_securities(storage)

    sec = current(storage, "sec_edgar")
    assert len(sec) == 9_610  # every ticker of company_tickers.json, with or without filings
    assert sec["AAPL"] | {"raw_key": None} == {
        "source": "sec_edgar", "issuer_id": APPLE, "security_id": "AAPL", "ticker": "AAPL", "name": "Apple Inc.",
        "name_pinyin": None, "exchange": None, "stock_code": None, "category": None, "is_primary": True,
        "board": None, "stock_id": None, "name_en": "Apple Inc.", "name_zh": None, "valid_from": date(2024, 5, 1), "valid_to": None, "is_current": True, "last_seen_on": date(2024, 5, 1),
        "raw_key": None}
    assert sec["AAPL"]["raw_key"].startswith("raw/source=sec_company_tickers/partition=2024-05-01/")
    morgan = sorted((r["security_id"], r["is_primary"]) for r in sec.values() if r["issuer_id"] == "895421")
    assert len(morgan) == 9 and [s for s, primary in morgan if primary] == ["MS"]

    cninfo = read_securities(storage, where="source = 'cninfo'").to_pylist()
    now = {r["security_id"]: r for r in cninfo if r["is_current"]}
    assert len(now) == 4_763
    assert {r["category"] for r in now.values()} == {"A股", "B股", "CDR"}
    dahua = now["002236"]
    assert (dahua["issuer_id"], dahua["ticker"], dahua["name"], dahua["name_pinyin"], dahua["exchange"]) == (
        "9900004625", "002236.SZ", "大华股份", "dhgf", "SZSE")
    assert (dahua["name_zh"], dahua["name_en"], dahua["board"], dahua["stock_id"]) == ("大华股份", None, None, None)
    assert (dahua["valid_from"], dahua["last_seen_on"]) == (date(2016, 1, 15), date(2021, 9, 27))  # unchanged: one row
    # 000004 was renamed 国农科技 → 国华网安: the old version is closed on the day the new list shows the new name
    versions = sorted((r["valid_from"], r["valid_to"], r["name"]) for r in cninfo if r["security_id"] == "000004")
    assert versions == [(date(2016, 1, 15), date(2021, 9, 27), "国农科技"), (date(2021, 9, 27), None, "国华网安")]
    # codes of 2016 missing from the 2021 list are closed, not deleted
    gone = [r for r in cninfo if r["valid_to"] == date(2021, 9, 27) and r["security_id"] not in now]
    assert len(gone) == 14 and all(not r["is_current"] for r in gone)
    assert {r["exchange"] for r in now.values()} == {"SZSE", "SSE"}  # no BSE yet in September 2021
    assert counts["rebuilt"] and counts["snapshots"] == 3 and counts["refused"] == []
    assert read_securities(storage, where="source = 'hkex'").num_rows == 0  # no HKEX stock list archived here

    again = refresh_securities(storage)  # same snapshots: nothing rebuilt, nothing committed
    assert again["rebuilt"] is False


def test_a_ticker_or_name_change_closes_the_old_row(storage, fixtures_dir) -> None:
    original = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    archive_tickers(storage, "2024-05-01", original)
    payload = json.loads(original)
    for entry in payload.values():
        if entry["ticker"] == "MSFT":
            entry["title"] = "Microsoft Corporation"  # renamed
        if entry["ticker"] == "AAPL":
            entry["ticker"] = "APLE1"  # a made-up new ticker for Apple
    archive_tickers(storage, "2024-06-03", json.dumps(payload).encode())

    refresh_securities(storage)

    rows = read_securities(storage, where="source = 'sec_edgar'").to_pylist()
    apple = sorted((r["security_id"], r["valid_from"], r["valid_to"], r["is_current"]) for r in rows
                   if r["issuer_id"] == APPLE)
    assert apple == [("AAPL", date(2024, 5, 1), date(2024, 6, 3), False), ("APLE1", date(2024, 6, 3), None, True)]
    msft = sorted((r["name"], r["valid_from"], r["valid_to"]) for r in rows if r["security_id"] == "MSFT")
    assert msft == [("MICROSOFT CORP", date(2024, 5, 1), date(2024, 6, 3)),
                    ("Microsoft Corporation", date(2024, 6, 3), None)]
    unchanged = [r for r in rows if r["security_id"] == "NVDA"]
    assert [(r["valid_from"], r["valid_to"], r["last_seen_on"]) for r in unchanged] == [
        (date(2024, 5, 1), None, date(2024, 6, 3))]


def test_bad_reference_lists_are_refused_whole_with_the_rule_they_broke(storage, fixtures_dir) -> None:
    archive_stocks(storage, "2021-09-27", (fixtures_dir / STOCKS_2021).read_bytes())
    archive_stocks(storage, "2021-09-28", (fixtures_dir / STOCKS_MOJIBAKE).read_bytes())  # real mojibake capture
    original = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    archive_tickers(storage, "2024-05-01", original)
    payload = json.loads(original)
    del payload["5"]["ticker"]  # one entry of 9,610 without its ticker
    archive_tickers(storage, "2024-05-02", json.dumps(payload).encode())

    counts = refresh_securities(storage)

    reasons = {r["day"]: r["reason"] for r in counts["refused"]}
    assert set(reasons) == {"2021-09-28", "2024-05-02"}
    assert "mojibake" in reasons["2021-09-28"] and "\n" not in reasons["2021-09-28"]
    assert "entry '5' lacks cik_str/ticker" in reasons["2024-05-02"]
    # nothing of either bad list is loaded, and they close nothing: the good snapshots stand as they are
    rows = read_securities(storage).to_pylist()
    assert not any("鑲" in (r["category"] or "") + (r["name"] or "") for r in rows)
    assert {r["last_seen_on"] for r in rows} == {date(2021, 9, 27), date(2024, 5, 1)}
    assert all(r["is_current"] and r["valid_to"] is None for r in rows)
    assert len(rows) == 4_763 + 9_610

    # each refusal is one durable quarantine row, with the rule and where it broke
    sql = "SELECT source, \"partition\", raw_key, failed_checks, archived_at FROM quarantine ORDER BY \"partition\""
    quarantined = run_query(sql, storage=storage).to_pylist()
    assert [(q["source"], q["partition"]) for q in quarantined] == [("cninfo", "2021-09-28"), ("sec_edgar", "2024-05-02")]
    assert [q["raw_key"] for q in quarantined] == [r["key"] for r in sorted(counts["refused"], key=lambda r: r["day"])]
    assert quarantined[0]["raw_key"].startswith("raw/source=cninfo_stocks/partition=2021-09-28/")
    assert quarantined[0]["failed_checks"] == [reasons["2021-09-28"]] and "mojibake" in reasons["2021-09-28"]
    assert quarantined[1]["failed_checks"] == [reasons["2024-05-02"]]
    assert "entry '5' lacks cik_str/ticker" in quarantined[1]["failed_checks"][0]
    assert all(q["archived_at"] is not None for q in quarantined)

    # written once: a forced rebuild rewrites no record
    records = {f.key: f.modified for f in storage.list_files("quarantine/references")}
    assert len(records) == 2
    assert refresh_securities(storage, force=True)["refused"] == counts["refused"]
    assert {f.key: f.modified for f in storage.list_files("quarantine/references")} == records
    assert run_query(sql, storage=storage).to_pylist() == quarantined

    # the day's list fetched again, valid: its record goes, the other stays, the day loads
    archive_tickers(storage, "2024-05-02", original)
    again = refresh_securities(storage)
    assert again["rebuilt"] and [r["day"] for r in again["refused"]] == ["2021-09-28"]
    assert run_query(sql, storage=storage).to_pylist() == quarantined[:1]
    assert {r["last_seen_on"] for r in read_securities(storage).to_pylist()} == {date(2021, 9, 27), date(2024, 5, 2)}


def test_the_same_bad_list_archived_on_two_days_is_quarantined_for_each(storage, fixtures_dir) -> None:
    archive_stocks(storage, "2021-09-27", (fixtures_dir / STOCKS_2021).read_bytes())
    for day in ("2021-09-28", "2021-09-29"):  # identical bytes: parsed once, refused (and recorded) twice
        archive_stocks(storage, day, (fixtures_dir / STOCKS_MOJIBAKE).read_bytes())

    assert [r["day"] for r in refresh_securities(storage)["refused"]] == ["2021-09-28", "2021-09-29"]
    rows = run_query("SELECT \"partition\", failed_checks FROM quarantine ORDER BY 1", storage=storage).to_pylist()
    assert [r["partition"] for r in rows] == ["2021-09-28", "2021-09-29"]
    assert all("mojibake" in r["failed_checks"][0] for r in rows)


# ------------------------------------------------------------------------------------------------
# SEC filings get the ticker valid at their filing date
# ------------------------------------------------------------------------------------------------


def test_sec_filings_get_the_ticker_of_their_cik(settings, storage, fixtures_dir) -> None:
    archive_tickers(storage, "2024-05-01", (fixtures_dir / COMPANY_TICKERS).read_bytes())
    # Apple, Morgan Stanley (nine tickers: its main one, MS) and an insider filer with no listed security
    lines = land_2016q3(settings, fixtures_dir, (APPLE, "895421", "1000032"))
    apple_accessions = {ln.rsplit(b"/", 1)[1].removesuffix(b".txt").decode() for ln in lines
                        if ln.startswith(b"320193|")}
    assert len(apple_accessions) == 23

    first = publish(storage, settings)

    by_ticker = run_query("SELECT native_id, company_name, form_type FROM filings WHERE ticker = 'AAPL'",
                          storage=storage).to_pylist()
    assert {r["native_id"] for r in by_ticker} == apple_accessions
    assert {r["company_name"] for r in by_ticker} == {"APPLE INC"}  # as filed, not the list's "Apple Inc."
    tickers = {r["issuer_id"]: (r["t"], r["n"]) for r in run_query(
        "SELECT issuer_id, any_value(ticker) AS t, count(DISTINCT coalesce(ticker, '-')) AS n "
        "FROM filings GROUP BY issuer_id", storage=storage).to_pylist()}
    assert tickers[APPLE] == ("AAPL", 1) and tickers["895421"] == ("MS", 1)
    assert tickers["1000032"] == (None, 1)  # BINCH JAMES G: no listed security, so no ticker
    assert run_query("SELECT count(*) AS n FROM securities WHERE ticker = 'AAPL'", storage=storage)["n"][0].as_py() == 1
    assert first["securities"]["rebuilt"] is True

    second = publish(storage, settings)  # idempotent: same tickers, nothing updated
    assert (second["inserted"], second["updated"], second["securities"]["rebuilt"]) == (0, 0, False)
    assert publish_pending(storage, settings)["partitions"] == []

    # a watchlist entry on the ticker fires on Apple's published SEC filings, once
    watchlist = parse_watchlist("entries:\n  - id: apple\n    tickers: [AAPL]\n    form_types: [8-K]\n")
    inserted = changed_rows(storage, first["version_before"], first["version"])
    alerts = record_alerts(storage, settings, watchlist, rows=inserted, capture_documents=False)
    apple_8k = {r["native_id"] for r in read_published(storage, FILINGS).to_pylist()
                if r["issuer_id"] == APPLE and r["form_type"] == "8-K"}
    assert len(apple_8k) >= 1
    assert {a["filing_id"] for a in alerts} == {f"sec_edgar:{n}" for n in apple_8k}
    assert all(a["ticker"] == "AAPL" and a["matched_on"].startswith("ticker:AAPL") for a in alerts)
    assert record_alerts(storage, settings, watchlist, rows=inserted, capture_documents=False) == []


def test_the_ticker_is_the_one_valid_at_the_filing_date(settings, storage, fixtures_dir) -> None:
    """Two snapshots: Apple as AAPL up to 2016-08-01, as APLE1 from then (hand-made); filings split by date."""
    original = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    archive_tickers(storage, "2016-07-01", original)
    payload = json.loads(original)
    for entry in payload.values():
        if entry["ticker"] == "AAPL":
            entry["ticker"] = "APLE1"
    archive_tickers(storage, "2016-08-01", json.dumps(payload).encode())
    land_2016q3(settings, fixtures_dir, (APPLE,))

    publish(storage, settings)

    rows = read_published(storage, FILINGS).to_pylist()
    assert rows and {r["ticker"] for r in rows if r["filing_date"] < date(2016, 8, 1)} == {"AAPL"}
    assert {r["ticker"] for r in rows if r["filing_date"] >= date(2016, 8, 1)} == {"APLE1"}
    assert {r["ticker"] for r in rows} == {"AAPL", "APLE1"}
    assert read_published(storage, SECURITIES, where="issuer_id = '320193'").num_rows == 2


def test_rows_published_before_the_list_get_their_ticker_when_published_again(settings, storage, fixtures_dir) -> None:
    land_2016q3(settings, fixtures_dir, (APPLE,))
    publish(storage, settings)
    assert run_query("SELECT count(*) AS n FROM filings WHERE ticker IS NULL", storage=storage)["n"][0].as_py() == 23

    archive_tickers(storage, "2024-05-01", (fixtures_dir / COMPANY_TICKERS).read_bytes())
    pending = publish_pending(storage, settings)  # no new partition: only the securities are built
    assert pending["partitions"] == [] and pending["securities"]["rebuilt"] is True
    again = publish(storage, settings)  # every landed partition (`filinglake publish --all`)

    assert (again["inserted"], again["updated"]) == (0, 23)
    assert run_query("SELECT count(*) AS n FROM filings WHERE ticker = 'AAPL'", storage=storage)["n"][0].as_py() == 23


# ------------------------------------------------------------------------------------------------
# HKEX: HKEXnews' stock list, fetched from the stand-in, archived and published
# ------------------------------------------------------------------------------------------------


def hkex_list_rows(fixtures_dir: Path) -> list[dict[str, str]]:
    import csv

    with (fixtures_dir / HKEX_STOCKS).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_hkex_securities_from_hkexnews_stock_list(settings, storage, fixtures_dir, replay_server) -> None:
    from fakes.hkex import CHINESE_STOCK_LIST, stock_list_routes

    server = replay_server(stock_list_routes(fixtures_dir))
    hkex = get_source("hkex")
    live = settings.with_source("hkex", base_url=server.url)

    ref = fetch_reference_list(storage, live, hkex, today=date(2025, 11, 21))
    again = fetch_reference_list(storage, live, hkex, today=date(2025, 11, 21))  # once per day: reused
    counts = refresh_securities(storage)

    # the English list and its Chinese twin, each once
    assert sorted(r.path for r in server.requests) == ["/ncms/script/eds/activestock_sehk_c.json",
                                                       "/ncms/script/eds/activestock_sehk_e.json"]
    assert again.key == ref.key
    assert ref.key.startswith("raw/source=hkex_stocks/partition=2025-11-21/932e40a86083ff1d-")  # sha256 head
    assert ref.sha256 == "932e40a86083ff1dbbb18425d01654ee7631fd68aafbacb9a5ec65517100c917"
    assert storage.get_bytes(ref.key) == (fixtures_dir / HKEX_STOCKS).read_bytes()
    assert counts["refused"] == []
    rows = current(storage, "hkex")
    listed = hkex_list_rows(fixtures_dir)
    assert len(rows) == len(listed) == 2_330
    tencent = rows["00700"]
    assert {k: tencent[k] for k in ("issuer_id", "ticker", "name", "name_en", "name_zh", "stock_id", "board",
                                    "exchange", "stock_code", "is_primary")} == {
        "issuer_id": "00700", "ticker": "0700.HK", "name": "TENCENT", "name_en": "TENCENT", "name_zh": "騰訊控股",
        "stock_id": "7609", "board": "Main Board", "exchange": "HKEX", "stock_code": "00700", "is_primary": True}
    # every row as the list says it: stockId and name; the board from the code (GEM: 08001-08999)
    assert {(r["stock_code"], r["stockId"], r["name"]) for r in listed} == {
        (r["stock_code"], r["stock_id"], r["name_en"]) for r in rows.values()}
    gem = {r["stock_code"] for r in rows.values() if r["board"] == "GEM"}
    assert len(gem) == 70 and all(c.startswith("08") for c in gem)
    # the compiling tool's own market column called 6 of them GEM, the other 64 SEHK (the market it queried)
    assert {r["stock_code"] for r in listed if r["market"] == "GEM"} < gem
    assert rows["08003"]["name"] == "GREAT WORLD" and rows["08003"]["board"] == "GEM"
    # the stand-in's Chinese list names six of them; the others keep name_zh null
    assert {c: r["name_zh"] for c, r in rows.items() if r["name_zh"]} == {
        e["c"]: e["n"] for e in CHINESE_STOCK_LIST}
    assert rows["89008"]["ticker"] == "89008.HK" and rows["00007"]["name"] == "WISDOM WEALTH"


def test_hkexnews_json_stock_list_is_read_too() -> None:
    """The bulk endpoint's shape (``[{"i", "c", "n", "s"}]``, public example: HSBC HOLDINGS, stockId 1)."""
    from filinglake.sources.hkex_stocks import parse_stock_list

    data = json.dumps([{"i": 1, "c": "00005", "n": "HSBC HOLDINGS", "s": 7224},
                       {"i": 5225, "c": "08021", "n": "WLS HOLDINGS", "s": 1}]).encode()
    stocks = parse_stock_list(data)
    assert [(s.code, s.stock_id, s.name, s.board) for s in stocks] == [
        ("00005", "1", "HSBC HOLDINGS", "Main Board"), ("08021", "5225", "WLS HOLDINGS", "GEM")]


@pytest.mark.parametrize(("change", "rule", "where"), [
    (lambda lines: lines.__setitem__(5, lines[5].replace(",SEHK", ",")), "market_known", "line 6"),
    (lambda lines: lines.__setitem__(9, "0700" + lines[9][5:]), "stock_code_5_digits", "line 10"),
    (lambda lines: lines.__setitem__(3, lines[3].replace("SHOUGANG C-NEW", "")), "name_present", "line 4"),
    # UTF-8 "É" read as Latin-1 and written back as UTF-8
    (lambda lines: lines.__setitem__(2, lines[2].replace("HANG LUNG PPT", "HANG LUNG PPT \u00c3\u0089")),
     "name_not_mojibake", "line 3"),
    (lambda lines: lines.append(lines[1]), "stock_code_unique", "line 2332"),
    (lambda lines: lines.__setitem__(0, "stock_code,stockId,market"), None, None),
])
def test_a_bad_hkex_stock_list_is_refused_whole_with_the_rule_named(storage, fixtures_dir, change, rule, where) -> None:
    good = (fixtures_dir / HKEX_STOCKS).read_text(encoding="utf-8")
    storage.archive_raw("hkex_stocks", "2025-11-20", "activestock_sehk_e.json", good.encode(), "https://x.invalid/")
    lines = good.splitlines()
    change(lines)
    storage.archive_raw("hkex_stocks", "2025-11-21", "activestock_sehk_e.json", ("\n".join(lines) + "\n").encode(),
                        "https://x.invalid/")

    counts = refresh_securities(storage)

    [refused] = counts["refused"]
    assert refused["day"] == "2025-11-21"
    if rule is None:
        assert "no column name" in refused["reason"]
    else:
        assert f"rule {rule} " in refused["reason"] and f"broken at {where}:" in refused["reason"]
    rows = read_securities(storage, where="source = 'hkex'").to_pylist()  # the good snapshot stands alone
    assert len(rows) == 2_330 and {r["last_seen_on"] for r in rows} == {date(2025, 11, 20)}


# ------------------------------------------------------------------------------------------------
# issuer_name: the name the reference list gives the issuer at the filing date, beside the filed one
# ------------------------------------------------------------------------------------------------

CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"


def land(settings: Settings, source: str, partition: str, name: str, data: bytes) -> None:
    ctx = pipeline.Context.build(source, partition, settings)
    ref = ctx.storage.archive_raw(source, partition, name, data, f"https://example.invalid/{name}")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})


def test_cninfo_rows_without_sec_name_get_the_issuer_name_of_the_stock_list(settings, storage, fixtures_dir) -> None:
    land(settings, "cninfo", "stock=000001:2001-01-01..2002-12-31", "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    publish(storage, settings)  # no stock list archived yet: no name to look up
    rows = read_published(storage, FILINGS).to_pylist()
    assert len(rows) == 8 and {r["issuer_name"] for r in rows} == {None}

    archive_stocks(storage, "2016-01-15", (fixtures_dir / STOCKS_2016).read_bytes())
    archive_stocks(storage, "2021-09-27", (fixtures_dir / STOCKS_2021).read_bytes())
    again = publish(storage, settings)

    rows = read_published(storage, FILINGS).to_pylist()
    assert (again["inserted"], again["updated"]) == (0, 8)
    # secName is null in 6 of the 8 captured rows; company_name keeps what was filed
    assert sorted((r["company_name"] or "-") for r in rows) == ["-"] * 6 + ["深发展Ａ"] * 2
    # 2001-2002 filings lie before both lists: the nearest (2016-01) names orgId gssz0000001 平安银行
    assert {(r["issuer_id"], r["ticker"], r["issuer_name"]) for r in rows} == {("gssz0000001", "000001.SZ", "平安银行")}
    found = run_query("SELECT count(*) AS n FROM filings WHERE issuer_name = '平安银行' AND company_name IS NULL",
                      storage=storage)
    assert found["n"][0].as_py() == 6
    assert publish(storage, settings)["updated"] == 0  # idempotent


def test_hkex_rows_get_the_name_valid_at_their_filing_date(settings, storage, fixtures_dir) -> None:
    """Two archived HKEX lists: the real one (archived 2025-11-01) and, archived 2012-01-02, the same list under
    00007's name of the time (KARL THOMSON, the name its 2012 rows were filed under)."""
    good = (fixtures_dir / HKEX_STOCKS).read_bytes()
    assert b"\n00007,7,WISDOM WEALTH,SEHK\n" in good
    older = good.replace(b"\n00007,7,WISDOM WEALTH,SEHK\n", b"\n00007,7,KARL THOMSON,SEHK\n")
    storage.archive_raw("hkex_stocks", "2012-01-02", "activestock_sehk_e.json", older, "https://x.invalid/")
    storage.archive_raw("hkex_stocks", "2025-11-01", "activestock_sehk_e.json", good, "https://x.invalid/")
    rows = json.loads((fixtures_dir / HKEX_ROWS).read_text("utf-8"))
    for day in ("14/11/2012", "11/11/2025"):
        day_rows = [r for r in rows if r["DATE_TIME"].startswith(day)]
        partition = f"{day[6:]}-{day[3:5]}-{day[:2]}-en"
        land(settings, "hkex", partition, "titleSearch.json", json.dumps(day_rows).encode())

    publish(storage, settings)

    published = read_published(storage, FILINGS).to_pylist()
    by_year = {(r["filing_date"].year, r["company_name"], r["issuer_name"]) for r in published}
    assert by_year == {(2012, "KARL THOMSON", "KARL THOMSON"), (2025, "WISDOM WEALTH", "WISDOM WEALTH")}
    assert all(r["ticker"] == "0007.HK" for r in published)


def test_a_filings_table_written_before_issuer_name_is_queried_and_then_filled(settings, storage, fixtures_dir) -> None:
    from deltalake import write_deltalake

    from filinglake.publish import delta
    from filinglake.publish.filings import FILINGS_CONFIGURATION, FILINGS_PARTITIONS, fold
    from filinglake.publish.run import read_clean
    from filinglake.schema import PUBLISHED_FILINGS_SCHEMA

    partition = ("cninfo", get_source("cninfo").partition("stock-000001_2001-01-01_2002-12-31").id)
    land(settings, *partition, "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    # the table as the release before issuer_name wrote it
    legacy = PUBLISHED_FILINGS_SCHEMA.remove(PUBLISHED_FILINGS_SCHEMA.get_field_index("issuer_name"))
    delta.ensure_table(storage, FILINGS, legacy, FILINGS_PARTITIONS, FILINGS_CONFIGURATION)
    write_deltalake(delta.open_table(storage, FILINGS), delta.conform(fold(read_clean(storage, [partition])), legacy),
                    mode="append")

    assert run_query("SELECT count(*) AS n, count(issuer_name) AS named FROM filings",
                     storage=storage).to_pylist() == [{"n": 8, "named": 0}]

    archive_stocks(storage, "2016-01-15", (fixtures_dir / STOCKS_2016).read_bytes())
    assert publish(storage, settings)["updated"] == 8  # the column is added and filled
    assert run_query("SELECT DISTINCT issuer_name FROM filings", storage=storage).to_pylist() == [
        {"issuer_name": "平安银行"}]


# ------------------------------------------------------------------------------------------------
# `filinglake watchlist`: issuers no published security knows are warnings naming their line
# ------------------------------------------------------------------------------------------------

WATCHLIST = """\
entries:
  - id: tencent
    stock_codes: ['00700']
  - id: mixed
    name: one known ticker spelled the Wind way, one code HKEX does not list
    tickers:
      - 700.HK
      - 600519.SH
    stock_codes: ['08888']
    ciks: ['0000320193', 999999999]
"""


def test_watchlist_warns_about_issuers_no_security_knows(settings, storage, fixtures_dir, tmp_path,
                                                        monkeypatch, capsys) -> None:
    from filinglake.cli import main

    storage.archive_raw("hkex_stocks", "2025-11-21", "activestock_sehk_e.json",
                        (fixtures_dir / HKEX_STOCKS).read_bytes(), "https://x.invalid/")
    archive_tickers(storage, "2024-05-01", (fixtures_dir / COMPANY_TICKERS).read_bytes())
    refresh_securities(storage)
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)

    assert main(["watchlist", str(path)]) == 0

    out, err = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["tencent", "mixed"]  # both entries stay
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, err
    assert warnings[0].startswith(f"warning: {path}:8: entry 'mixed': ticker '600519.SS' matches no known security")
    assert warnings[1].startswith(f"warning: {path}:9: entry 'mixed': stock code '08888' matches no known security")
    assert warnings[2].startswith(f"warning: {path}:10: entry 'mixed': CIK '999999999' matches no known security")
    assert err.splitlines()[-1] == f"{path}: 2 entries, OK (3 warnings)"


def test_watchlist_without_published_securities_says_it_checked_nothing(settings, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    from filinglake.cli import main

    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)

    assert main(["watchlist", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning:" not in err and "no published securities yet" in err
