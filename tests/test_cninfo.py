"""CNINFO hisAnnouncement: the real captured page and stock lists, bad responses, the stock-list reference
data, and paging past CNINFO's ~100-page cap against the local replay server.

Expected values are computed here from ``json.load`` of the same fixtures (plain Python, no parser
code); the query fixture is the last page (8 rows) of stock 000001's 2001–2002 announcements.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from fakes.cninfo import (
    CHALLENGE_PAGE,
    MOJIBAKE_STOCK_LIST_FIXTURE,
    QUERY_FIXTURE,
    STOCK_LIST_2016_FIXTURE,
    STOCK_LIST_FIXTURE,
    CninfoReplay,
    cninfo_replay,
    fixture_announcements,
    synthetic_announcements,
)
from fakes.replay import RecordedRequest, Reply

from filinglake.config import Settings
from filinglake.errors import BadResponse, Blocked, IncompleteFetch
from filinglake.ingest.landing import Context, fetch_partition, with_lineage, write_partition
from filinglake.ingest.row_checks import check_rows
from filinglake.manifests import data_keys, read_committed, read_manifest
from filinglake.sources import get_source, make_client
from filinglake.sources.cninfo import (
    CATEGORIES,
    QUERY_PATH,
    Cninfo,
    clean_title,
    decode_query_page,
    document_url,
    exchange_of,
    ticker_of,
)
from filinglake.sources.cninfo_stocks import (
    STOCKS_SOURCE,
    UnknownStock,
    directory_from_bytes,
    parse_stock_list,
    stock_directory,
)
from filinglake.storage import Storage

#: a modern day with no fixture rows, filled with synthetic rows for the cap tests
SYNTHETIC_DAY = date(2024, 4, 29)
TODAY = date(2026, 1, 15)


@pytest.fixture(scope="module")
def raw_page(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / QUERY_FIXTURE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def parsed(fixtures_dir: Path) -> pa.Table:
    return Cninfo().parse((fixtures_dir / QUERY_FIXTURE).read_bytes(), "fixture.json")


@pytest.fixture
def template(fixtures_dir: Path) -> dict:
    return fixture_announcements(fixtures_dir)[0]


def page_bytes(rows: list[dict] | None, total: int | None = None, **extra) -> bytes:
    """A hisAnnouncement response as CNINFO sends it (``announcements`` null when empty)."""
    count = len(rows or []) if total is None else total
    return json.dumps({"totalAnnouncement": count, "totalRecordNum": count, "hasMore": False,
                       "announcements": rows, "classifiedAnnouncements": None, "categoryList": None,
                       "totalSecurities": 0, "pageNum": 1, **extra}, ensure_ascii=False).encode()


def checked(table: pa.Table, partition_id: str = "2002-10-25"):
    source = Cninfo()
    lineage = with_lineage(table, "raw/test", datetime(2026, 1, 1, tzinfo=UTC))
    return check_rows(lineage, source.rules(source.partition(partition_id)))


def settings_for(server, tmp_path: Path) -> Settings:
    """Settings pointing at a replay server; pacing lifted (the real 0.5 req/s is for CNINFO itself)."""
    return replace(Settings(), http_retries=1, storage=(tmp_path / "lake").as_uri()).with_source(
        "cninfo", base_url=server.url, rate=1000.0)


def fetch(source: Cninfo, partition_id: str, server, tmp_path: Path):
    settings = settings_for(server, tmp_path)
    with make_client("cninfo", settings) as client:
        return source.fetch(source.partition(partition_id), client, settings, today=TODAY)


def parse_all(source: Cninfo, files) -> pa.Table:
    return pa.concat_tables([source.parse(f.data, f.name) for f in files])


# ------------------------------------------------------------------------------------------------
# The real page
# ------------------------------------------------------------------------------------------------


def test_real_page_parses_every_row(raw_page: dict, parsed: pa.Table) -> None:
    rows = raw_page["announcements"]
    assert parsed.num_rows == len(rows) == 8
    assert parsed["native_id"].to_pylist() == [r["announcementId"] for r in rows]
    assert parsed["filing_id"].to_pylist() == [f"cninfo:{r['announcementId']}" for r in rows]
    assert parsed["issuer_id"].to_pylist() == [r["orgId"] for r in rows]
    # secName is null in old rows: kept null, the row is kept
    assert parsed["company_name"].null_count == sum(r["secName"] is None for r in rows) == 6
    assert parsed["title"].to_pylist() == [r["announcementTitle"] for r in rows]
    assert set(parsed["language"].to_pylist()) == {"zh"}
    html_rows = [r for r in rows if r["adjunctUrl"].endswith(".html")]
    assert len(html_rows) == sum(r["adjunctType"] is None for r in rows) == 4
    urls = parsed["document_url"].to_pylist()
    assert urls == [f"https://static.cninfo.com.cn/{r['adjunctUrl']}" for r in rows]
    assert sum(u.endswith(".html") for u in urls) == len(html_rows)


def test_real_page_rows_all_pass_the_rules(parsed: pa.Table) -> None:
    result = checked(parsed)
    assert result.counts() == {"rows_in": 8, "rows_written": 8, "duplicates": 0, "quarantined": 0}


def test_known_row_time_zone_and_venue(parsed: pa.Table) -> None:
    by_id = {r["native_id"]: r for r in parsed.to_pylist()}
    # 1035497079000 ms = 1035497079 s = 2002-10-24 22:04:39 UTC = 2002-10-25 06:04:39 in Beijing
    first = by_id["10041201"]
    assert first["filed_at"] == datetime(2002, 10, 24, 22, 4, 39, tzinfo=UTC)
    assert first["filing_date"] == date(2002, 10, 25)
    assert (first["exchange"], first["ticker"], first["company_name"]) == ("SZSE", "000001.SZ", "深发展Ａ")
    assert first["document_url"] == "https://static.cninfo.com.cn/finalpage/2002-10-25/10041201.html"
    # 1029273774000 ms: 21:22:54 UTC on 13 August is already 14 August in Beijing
    evening = by_id["633103"]
    assert evening["filed_at"] == datetime(2002, 8, 13, 21, 22, 54, tzinfo=UTC)
    assert evening["filing_date"] == date(2002, 8, 14)
    assert evening["form_type"] is None  # announcementType is null in 2002 rows


def test_em_tags_stripped_in_title_clean_only(raw_page: dict) -> None:
    row = {**raw_page["announcements"][0], "announcementTitle": " 关于退出<em>新疆</em>五个项目的\u3000公告 &amp; 说明 "}
    table = Cninfo().parse(page_bytes([row]))
    assert table["title"][0].as_py() == row["announcementTitle"]
    assert table["title_clean"][0].as_py() == "关于退出新疆五个项目的 公告 & 说明"
    assert clean_title("<EM>大华</EM>股份") == "大华股份"



def test_ids_stay_strings_and_names_stay_as_filed(raw_page: dict) -> None:
    base = raw_page["announcements"][0]
    rows = [
        {**base, "announcementId": "1222130544", "secCode": "600766", "orgId": "gssh0600766", "secName": "*ST园城"},
        {**base, "announcementId": 1222130545, "secCode": "000011", "secName": "ST深物Ａ"},  # an int id
        {**base, "announcementId": "0001222130546", "secCode": "002236", "orgId": "9900004625",
         "secName": "大华股份"},
    ]
    table = Cninfo().parse(page_bytes(rows))
    assert table["native_id"].to_pylist() == ["1222130544", "1222130545", "0001222130546"]  # leading zeros kept
    assert table["company_name"].to_pylist() == ["*ST园城", "ST深物Ａ", "大华股份"]  # ST prefixes, full-width Ａ
    assert table["ticker"].to_pylist() == ["600766.SS", "000011.SZ", "002236.SZ"]
    assert checked(table).rows_written == 3


def test_null_announcements_is_zero_rows() -> None:
    assert Cninfo().parse(page_bytes(None)).num_rows == 0
    assert decode_query_page(page_bytes(None))["announcements"] == []


def test_html_challenge_page_is_a_bad_response_and_a_block() -> None:
    with pytest.raises(BadResponse, match="HTML") as caught:
        Cninfo().parse(CHALLENGE_PAGE, "query-all-all-p1.json")
    assert isinstance(caught.value, Blocked) and caught.value.retry_after > 0


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[]", "not a hisAnnouncement response"),
        (b'{"stockList": []}', "not a hisAnnouncement response"),
        (b'{"totalAnnouncement": 1, "announcements": {"a": 1}}', "announcements is a dict"),
        (b'{"totalAnnouncement": "3", "announcements": []}', "totalAnnouncement is '3'"),
        (b'{"totalAnnouncement": 1, "announcements": [{"secCode": "000001"}]}', "no announcementId"),
        (b'{"totalAnnouncement": 0, "announcements": null, "hasMore": "no"}', "hasMore"),
        (b'{"totalAnnouncement": 0, "announce', "not JSON"),
    ],
)
def test_wrong_json_shape_is_a_bad_response(body: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message):
        Cninfo().parse(body, "page.json")


# ------------------------------------------------------------------------------------------------
# Row mapping decisions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, org_id, exchange, ticker",
    [
        ("002236", "9900004625", "SZSE", "002236.SZ"),  # Dahua
        ("002415", "9900012688", "SZSE", "002415.SZ"),  # Hikvision
        ("300750", None, "SZSE", "300750.SZ"),
        ("200011", "gssz0000011", "SZSE", "200011.SZ"),  # B share
        ("600519", None, "SSE", "600519.SS"),
        ("688981", None, "SSE", "688981.SS"),
        ("689009", "9900039199", "SSE", "689009.SS"),  # CDR
        ("900901", None, "SSE", "900901.SS"),
        ("430047", None, "BSE", "430047.BJ"),
        ("830799", None, "BSE", "830799.BJ"),
        ("920001", None, "BSE", "920001.BJ"),
        # orgIds record history: a gfbj orgId (ex-NEEQ company) on a Shenzhen code is still SZSE
        ("001202", "gfbj0839749", "SZSE", "001202.SZ"),
        # unknown code prefix: the gssh/gssz/gsbj orgId decides
        ("123456", "gssh0123456", "SSE", "123456.SS"),
        ("123456", "gfbj0123456", None, None),
        (None, "gssz0000001", "SZSE", None),
        ("ABC", None, None, None),
    ],
)
def test_exchange_and_ticker(code, org_id, exchange, ticker) -> None:
    assert exchange_of(code, org_id) == exchange
    assert ticker_of(code, exchange) == ticker


def test_document_url_sanitising_and_host_rule(raw_page: dict) -> None:
    base = raw_page["announcements"][0]
    adjuncts = {
        "1": "finalpage/2024-12-23/1.PDF",
        "2": "/finalpage/2024-12-23/2.PDF",  # leading slash: same document
        "3": "http://static.cninfo.com.cn/finalpage/2024-12-23/3.PDF",  # absolute on CNINFO's host: kept
        "4": "../../etc/passwd",
        "5": "finalpage/../../secret.PDF",
        "6": "https://evil.example/finalpage/6.PDF",
        "7": "//evil.example/7.PDF",
        "8": "https://static.cninfo.com.cn/finalpage/../8.PDF",
        "9": None,  # no document link: allowed (nothing to follow)
    }
    rows = [{**base, "announcementId": i, "adjunctUrl": url} for i, url in adjuncts.items()]
    result = checked(Cninfo().parse(page_bytes(rows)))
    assert sorted(result.clean["native_id"].to_pylist()) == ["1", "2", "3", "9"]
    quarantined = dict(zip(result.quarantine["native_id"].to_pylist(),
                           result.quarantine["failed_checks"].to_pylist(), strict=True))
    assert quarantined == {i: ["document_url_on_cninfo"] for i in ("4", "5", "6", "7", "8")}
    assert document_url("finalpage/../x.PDF") == "finalpage/../x.PDF"  # never joined onto the host
    assert document_url("finalpage/2024-12-23/1.PDF") == "https://static.cninfo.com.cn/finalpage/2024-12-23/1.PDF"


def test_rules_quarantine_with_reasons(raw_page: dict) -> None:
    base = raw_page["announcements"][0]
    future_ms = int(datetime(2002, 10, 28, tzinfo=UTC).timestamp() * 1000)
    rows = [
        {**base, "announcementId": "111", "secName": None},  # fine: company_name not required
        {**base, "announcementId": "222", "secCode": "999999", "orgId": "xx0000001"},  # venue unknown
        {**base, "announcementId": "33a"},
        {**base, "announcementId": "444", "announcementTime": future_ms},  # after the partition (+1 day)
        {**base, "announcementId": "555", "announcementTitle": "  "},
        {**base, "announcementId": "666", "orgId": None},
    ]
    result = checked(Cninfo().parse(page_bytes(rows)), "2002-10-25")
    assert result.clean["native_id"].to_pylist() == ["111"]
    reasons = dict(zip(result.quarantine["native_id"].to_pylist(),
                       result.quarantine["failed_checks"].to_pylist(), strict=True))
    assert reasons == {
        "222": ["exchange_present"],
        "33a": ["announcement_id_digits"],
        "444": ["filing_date_plausible"],
        "555": ["title_present"],
        "666": ["issuer_id_present"],
    }


def test_same_announcement_for_a_and_b_shares_is_not_a_key_clash(raw_page: dict) -> None:
    # 000011 and 200011 share orgId gssz0000011 (82 such pairs in the 2016 stock list)
    base = {**raw_page["announcements"][0], "orgId": "gssz0000011", "announcementId": "1208000001"}
    rows = [{**base, "secCode": "000011"}, {**base, "secCode": "200011"}, {**base, "secCode": "000011"}]
    result = checked(Cninfo().parse(page_bytes(rows)))
    assert result.counts() == {"rows_in": 3, "rows_written": 2, "duplicates": 1, "quarantined": 0}


# ------------------------------------------------------------------------------------------------
# Partitions
# ------------------------------------------------------------------------------------------------



def test_default_client_paces_well_under_one_request_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from filinglake.config import load_settings

    monkeypatch.delenv("FILINGLAKE_CNINFO_RATE", raising=False)
    with make_client("cninfo", load_settings()) as client:
        assert client.rate == 0.5  # one request every 2 s per host in each process (CNINFO)


def test_partitions() -> None:
    source = get_source("cninfo")
    day = source.partition("2024-12-23")
    assert (day.id, day.kind, day.start, day.end) == ("2024-12-23", "daily", date(2024, 12, 23), date(2024, 12, 23))
    assert source.partitions_for_day(date(2024, 12, 23)) == ["2024-12-23"]
    for text in ("stock=002236:2020-01-01..2024-12-31", "stock-002236_2020-01-01_2024-12-31"):
        stock = source.partition(text)
        assert stock.id == "stock-002236_2020-01-01_2024-12-31"
        assert (stock.kind, stock.start, stock.end, stock.option("stock")) == (
            "stock", date(2020, 1, 1), date(2024, 12, 31), "002236")
    assert source.stock_partition_id("002415", date(2024, 1, 1), date(2024, 12, 31)) == \
        "stock-002415_2024-01-01_2024-12-31"
    assert source.partition("20241223").id == "2024-12-23"  # ISO basic form, stored in the extended form
    for bad in ("2024-13-01", "23/12/2024", "1989-12-31", "stock=002236:2024-12-31..2024-01-01", "stock=2236:2024-01-01..2024-02-01"):
        with pytest.raises(ValueError):
            source.partition(bad)


# ------------------------------------------------------------------------------------------------
# The stock list
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture, rows", [(STOCK_LIST_FIXTURE, 4763), (STOCK_LIST_2016_FIXTURE, 2923)])
def test_real_stock_lists_resolve_codes(fixtures_dir: Path, fixture: str, rows: int) -> None:
    data = (fixtures_dir / fixture).read_bytes()
    expected = {r["code"]: r["orgId"] for r in json.loads(data)["stockList"]}
    assert len(expected) == rows
    directory = directory_from_bytes(data, "2021-09-27")
    assert len(directory) == rows
    assert all(directory.resolve(code).org_id == org for code, org in expected.items())
    # orgIds that do not follow gssz0/gssh0 + code
    off_pattern = [c for c, org in expected.items() if org not in (f"gssz0{c}", f"gssh0{c}", f"gsbj0{c}")]
    assert len(off_pattern) == {4763: 3355, 2923: 1594}[rows]
    assert directory.resolve("601318").org_id == "9900002221"
    assert directory.resolve("601398").org_id == "jjxt0000019"
    assert directory.resolve("002236").stock_param == "002236,9900004625"
    with pytest.raises(UnknownStock, match="'999999' is not in CNINFO's stock list"):
        directory.resolve("999999")


def test_mojibake_and_html_stock_lists_are_rejected(fixtures_dir: Path) -> None:
    with pytest.raises(BadResponse, match="mojibake"):
        parse_stock_list((fixtures_dir / MOJIBAKE_STOCK_LIST_FIXTURE).read_bytes())
    with pytest.raises(BadResponse, match="HTML"):
        parse_stock_list(CHALLENGE_PAGE)
    with pytest.raises(BadResponse, match="stockList"):
        parse_stock_list(b'{"announcements": []}')
    # the same mojibake without the U+FFFD: caught because no row is an A share any more
    no_replacement_char = '{"stockList":[{"orgId":"gssz0000001","category":"A鑲","code":"000001"}]}'.encode()
    with pytest.raises(BadResponse, match="mojibake"):
        parse_stock_list(no_replacement_char)


def test_stock_list_is_fetched_once_a_day_and_archived(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    fake = cninfo_replay(fixtures_dir)
    server = replay_server(fake.routes())
    settings = settings_for(server, tmp_path)
    storage = Storage.from_settings(settings)
    with make_client("cninfo", settings) as client:
        first = stock_directory(client, settings, today=TODAY)
        again = stock_directory(client, settings, today=TODAY)
        assert fake.stock_list_requests == 1
        assert again.raw_key == first.raw_key and len(again) == len(first) == 4763
        assert first.raw_key.startswith(f"raw/source={STOCKS_SOURCE}/partition={TODAY.isoformat()}/")
        assert storage.get_bytes(first.raw_key) == (fixtures_dir / STOCK_LIST_FIXTURE).read_bytes()
        tomorrow = stock_directory(client, settings, today=TODAY + timedelta(days=1))
        assert fake.stock_list_requests == 2 and tomorrow.as_of == (TODAY + timedelta(days=1)).isoformat()


def test_mojibake_stock_list_is_not_archived(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    server = replay_server(cninfo_replay(fixtures_dir, stock_list_fixture=MOJIBAKE_STOCK_LIST_FIXTURE).routes())
    settings = settings_for(server, tmp_path)
    with make_client("cninfo", settings) as client, pytest.raises(BadResponse, match="mojibake"):
        stock_directory(client, settings, today=TODAY)
    assert Storage.from_settings(settings).list(f"raw/source={STOCKS_SOURCE}") == []


# ------------------------------------------------------------------------------------------------
# Fetching against the replay server
# ------------------------------------------------------------------------------------------------


def test_daily_fetch_sends_the_full_form_and_lands_the_day(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    server = replay_server(cninfo_replay(fixtures_dir).routes())
    settings = settings_for(server, tmp_path)
    ctx = Context.build("cninfo", "2002-08-14", settings)
    fetched = fetch_partition(ctx)
    (request,) = server.requests_to(QUERY_PATH, "POST")
    assert request.form == {
        "pageNum": "1", "pageSize": "30", "column": "szse", "tabName": "fulltext", "plate": "", "stock": "",
        "searchkey": "", "secid": "", "category": "", "trade": "", "seDate": "2002-08-14~2002-08-14",
        "sortName": "", "sortType": "", "isHLtitle": "true",
    }
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert [r["name"] for r in fetched["raw"]] == ["query-all-all-p1.json"]
    manifest = write_partition(ctx, fetched)
    # the fixture rows of 14 August 2002 (Beijing), counted from the file itself
    expected = sorted(r["announcementId"] for r in fixture_announcements(fixtures_dir)
                      if datetime.fromtimestamp(r["announcementTime"] / 1000, UTC) + timedelta(hours=8)
                      >= datetime(2002, 8, 14, tzinfo=UTC)
                      and datetime.fromtimestamp(r["announcementTime"] / 1000, UTC) + timedelta(hours=8)
                      < datetime(2002, 8, 15, tzinfo=UTC))
    assert expected == ["632064", "633103"]
    assert (manifest["rows_in"], manifest["rows_written"], manifest["quarantined"]) == (2, 2, 0)
    storage = Storage.from_settings(settings)
    assert sorted(read_committed(storage, "cninfo", "2002-08-14")["native_id"].to_pylist()) == expected
    assert read_committed(storage, "cninfo", "2002-08-14", "quarantine").num_rows == 0


def test_day_without_rows_is_an_empty_successful_partition(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    server = replay_server(cninfo_replay(fixtures_dir).routes())
    result = fetch(Cninfo(), "2003-01-01", server, tmp_path)
    assert result.empty_reason and result.notes["announcements"] == 0
    assert [f.name for f in result.files] == ["query-all-all-p1.json"]  # CNINFO's "nothing" kept as evidence
    assert json.loads(result.files[0].data)["announcements"] is None
    assert parse_all(Cninfo(), result.files).num_rows == 0


def test_daily_fetch_snapshots_the_stock_list_once_a_day_best_effort(
    fixtures_dir: Path, replay_server, tmp_path: Path
) -> None:
    fake = cninfo_replay(fixtures_dir)
    server = replay_server(fake.routes())
    first = fetch(Cninfo(), "2002-08-14", server, tmp_path)
    second = fetch(Cninfo(), "2002-10-25", server, tmp_path)
    assert fake.stock_list_requests == 1
    assert first.notes["stock_list"] == second.notes["stock_list"]
    assert first.notes["stock_list"].startswith(f"raw/source={STOCKS_SOURCE}/partition={TODAY.isoformat()}/")
    # a broken list is not archived and does not cost the day its announcements
    broken = replay_server(cninfo_replay(fixtures_dir, stock_list_fixture=MOJIBAKE_STOCK_LIST_FIXTURE).routes())
    result = fetch(Cninfo(), "2002-08-14", broken, tmp_path / "other")
    assert "mojibake" in result.notes["stock_list_error"] and result.notes["announcements"] == 2


def test_challenge_page_fails_the_fetch_and_nothing_is_returned(replay_server, tmp_path: Path) -> None:
    server = replay_server({("POST", QUERY_PATH): Reply(body=CHALLENGE_PAGE, content_type="text/html")})
    with pytest.raises(BadResponse, match="challenge"):
        fetch(Cninfo(), "2024-12-23", server, tmp_path)


def test_stock_partition_resolves_the_org_id(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    fake = cninfo_replay(fixtures_dir)
    server = replay_server(fake.routes())
    settings = settings_for(server, tmp_path)
    ctx = Context.build("cninfo", "stock-000001_2001-01-01_2002-12-31", settings)
    fetched = fetch_partition(ctx)
    forms = [r.form for r in server.requests_to(QUERY_PATH, "POST")]
    assert [(f["stock"], f["seDate"]) for f in forms] == [("000001,gssz0000001", "2001-01-01~2002-12-31")]
    assert fetched["notes"]["stock"]["org_id"] == "gssz0000001"
    assert fetched["notes"]["stock"]["stock_list"].startswith(f"raw/source={STOCKS_SOURCE}/")
    manifest = write_partition(ctx, fetched)
    assert manifest["partition"] == "stock-000001_2001-01-01_2002-12-31"
    assert manifest["rows_written"] == len(fixture_announcements(fixtures_dir)) == 8


def test_stock_partition_with_an_unknown_code_fails_clearly(fixtures_dir: Path, replay_server, tmp_path: Path) -> None:
    server = replay_server(cninfo_replay(fixtures_dir).routes())
    with pytest.raises(UnknownStock, match="999999"):
        fetch(Cninfo(), "stock=999999:2024-01-01..2024-12-31", server, tmp_path)
    assert server.requests_to(QUERY_PATH) == []


def test_stock_partition_splits_its_date_range_past_the_cap(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = []
    for offset in range(5):  # 5 days × 30 announcements of one issuer, cap 2 pages (60 rows)
        for row in synthetic_announcements(template, SYNTHETIC_DAY + timedelta(days=offset), 30,
                                           first_id=1_400_000_000 + 100 * offset):
            rows.append({**row, "secCode": "002236", "orgId": "9900004625"})
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, page_cap=2).routes())
    source = Cninfo(max_pages=2)
    result = fetch(source, f"stock=002236:{SYNTHETIC_DAY}..{SYNTHETIC_DAY + timedelta(days=4)}", server, tmp_path)
    table = parse_all(source, result.files)
    assert sorted(table["native_id"].to_pylist()) == sorted(r["announcementId"] for r in rows)
    splits = [q for q in result.notes["queries"] if "split_by" in q]
    assert splits[-1] == {"query": "20240429-20240503-all-all", "total": 150, "split_by": "dates", "parts": 2}
    assert all(name.startswith("query-2024") for name in (f.name for f in result.files))


# ------------------------------------------------------------------------------------------------
# The paging cap
# ------------------------------------------------------------------------------------------------


def test_busy_day_is_split_by_plate_with_the_real_cap(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 3100)
    fake = cninfo_replay(fixtures_dir, extra_announcements=rows)  # CNINFO's own cap: 100 pages
    server = replay_server(fake.routes())
    result = fetch(Cninfo(), SYNTHETIC_DAY.isoformat(), server, tmp_path)
    per_plate = Counter(r["orgId"][:4] for r in rows)
    totals = {q["query"]: q["total"] for q in result.notes["queries"]}
    assert totals == {"sz-all": per_plate["gssz"], "sh-all": per_plate["gssh"], "bj-all": per_plate["gsbj"],
                      "all-all": 3100}
    assert result.notes["announcements"] == 3100
    table = parse_all(Cninfo(), result.files)
    assert table.num_rows == 3100 and len(set(table["native_id"].to_pylist())) == 3100
    # the probe page of the whole day is not kept: its rows come again from the plates
    assert not any(f.name.startswith("query-all-all") for f in result.files)
    assert max(int(r.form["pageNum"]) for r in server.requests_to(QUERY_PATH)) <= 100


def test_plate_past_the_cap_is_split_by_category(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 300, plates=("sz",))
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, page_cap=3).routes())
    source = Cninfo(max_pages=3)
    result = fetch(source, SYNTHETIC_DAY.isoformat(), server, tmp_path)
    splits = {q["query"]: q["split_by"] for q in result.notes["queries"] if "split_by" in q}
    assert splits == {"all-all": "plate", "sz-all": "category"}
    category_totals = {q["query"]: q["total"] for q in result.notes["queries"] if q["query"].startswith("sz-category_")}
    expected = Counter(CATEGORIES[i % len(CATEGORIES)] for i in range(300))
    assert category_totals == {f"sz-{c}": n for c, n in expected.items()}
    assert parse_all(source, result.files).num_rows == 300
    assert "query-sz-category_ndbg_szsh-p1.json" in {f.name for f in result.files}


def test_categories_that_do_not_cover_the_plate_are_an_error(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 300, plates=("sz",), uncategorised=7)
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, page_cap=3).routes())
    with pytest.raises(IncompleteFetch, match="categories cover 293 of 300"):
        fetch(Cninfo(max_pages=3), SYNTHETIC_DAY.isoformat(), server, tmp_path)


def test_a_category_past_the_cap_cannot_be_split_further(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 100, plates=("sz",), categories=("category_rcjy_szsh",))
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, page_cap=3).routes())
    with pytest.raises(IncompleteFetch, match="cannot be split further"):
        fetch(Cninfo(max_pages=3), SYNTHETIC_DAY.isoformat(), server, tmp_path)


def test_silently_truncating_server_is_an_incomplete_fetch(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 80)
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, truncate_after=50).routes())
    with pytest.raises(IncompleteFetch, match="collected 50 distinct announcements .* CNINFO announced 80"):
        fetch(Cninfo(), SYNTHETIC_DAY.isoformat(), server, tmp_path)


def test_server_repeating_pages_past_its_cap_is_caught(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    # The server caps at 2 pages and then repeats page 2, as CNINFO does past ~100; a client that
    # trusted row counts (90 rows for a total of 80… or 3 full pages) would land duplicates and miss rows.
    rows = synthetic_announcements(template, SYNTHETIC_DAY, 80)
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=rows, page_cap=2).routes())
    with pytest.raises(IncompleteFetch, match="collected 60 distinct announcements"):
        fetch(Cninfo(max_pages=10), SYNTHETIC_DAY.isoformat(), server, tmp_path)


def test_total_changing_while_paging_is_an_incomplete_fetch(
    fixtures_dir: Path, template: dict, replay_server, tmp_path: Path
) -> None:
    fake = cninfo_replay(fixtures_dir, extra_announcements=synthetic_announcements(template, SYNTHETIC_DAY, 45))
    late = synthetic_announcements(template, SYNTHETIC_DAY, 1, first_id=1_500_000_000)

    arrived: list[bool] = []

    def answer(request: RecordedRequest) -> Reply:
        reply = fake.answer_query(request)
        if not arrived:  # a new announcement is published right after page 1 was served
            arrived.append(True)
            fake.add(late)
        return reply

    server = replay_server({("POST", QUERY_PATH): answer})
    with pytest.raises(IncompleteFetch, match="changed while paging"):
        fetch(Cninfo(), SYNTHETIC_DAY.isoformat(), server, tmp_path)


def test_replay_server_behaves_like_cninfo(fixtures_dir: Path, template: dict) -> None:
    fake: CninfoReplay = cninfo_replay(fixtures_dir, extra_announcements=synthetic_announcements(template, SYNTHETIC_DAY, 61))
    form = Cninfo().partition(SYNTHETIC_DAY.isoformat())
    assert form.id == SYNTHETIC_DAY.isoformat()

    def ask(**fields) -> dict:
        base = {"pageNum": "1", "pageSize": "30", "seDate": f"{SYNTHETIC_DAY}~{SYNTHETIC_DAY}", "stock": "",
                "plate": "", "category": ""}
        request = RecordedRequest("POST", QUERY_PATH, {}, b"", {**base, **fields}, {}, 0.0)
        return json.loads(fake.answer_query(request).body)

    assert [(p["totalAnnouncement"], len(p["announcements"]), p["hasMore"]) for p in
            (ask(pageNum=str(n)) for n in (1, 2))] == [(61, 30, True), (61, 30, True)]
    last = ask(pageNum="3")
    assert (len(last["announcements"]), last["hasMore"]) == (1, False)
    assert ask(seDate="2003-01-01~2003-01-01")["announcements"] is None
    assert ask(stock="000001,gssz0000002", seDate="2001-01-01~2002-12-31")["totalAnnouncement"] == 0  # wrong orgId
    assert ask(stock="000001,gssz0000001", seDate="2001-01-01~2002-12-31")["totalAnnouncement"] == 8
    assert "_categories" not in ask()["announcements"][0]


# ------------------------------------------------------------------------------------------------
# The DAG, end to end
# ------------------------------------------------------------------------------------------------


def test_cninfo_day_rule() -> None:
    from filinglake_airflow.partitions import cninfo_day, partition_for_run

    beijing = ZoneInfo("Asia/Shanghai")
    assert cninfo_day(datetime(2024, 12, 24, 0, 30, tzinfo=beijing)) == "2024-12-23"  # final run of the 23rd
    assert cninfo_day(datetime(2024, 12, 23, 8, 30, tzinfo=beijing)) == "2024-12-23"
    assert cninfo_day(datetime(2024, 12, 23, 22, 30, tzinfo=beijing)) == "2024-12-23"
    # Airflow's logical dates are UTC: 22:30 Beijing is 14:30 UTC, 00:30 Beijing is 16:30 UTC the day before
    assert cninfo_day(datetime(2024, 12, 23, 14, 30, tzinfo=UTC)) == "2024-12-23"
    assert cninfo_day(datetime(2024, 12, 23, 16, 30)) == "2024-12-23"
    assert partition_for_run("cninfo_day", datetime(2024, 12, 23, 16, 30, tzinfo=UTC)) == "2024-12-23"
    # Airflow gives tasks pendulum DateTimes, whose arithmetic after a zoneinfo conversion drops the zone
    import pendulum

    assert cninfo_day(pendulum.datetime(2024, 12, 23, 0, 30, tz="UTC")) == "2024-12-23"  # 08:30 Beijing
    assert cninfo_day(pendulum.datetime(2024, 12, 23, 16, 30, tz="UTC")) == "2024-12-23"  # 00:30 on the 24th



def backfill_runs(dag, from_date: datetime, to_date: datetime) -> list[datetime]:
    """Logical dates of the runs `airflow backfill create --from-date --to-date` creates (same code path).

    They are pendulum DateTimes, as Airflow hands them to tasks.
    """
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    now = datetime.now(UTC)
    return [i.logical_date for i in serialized.iter_dagrun_infos_between(from_date, to_date)
            if i.data_interval.end < now]


def test_cninfo_daily_backfill_from_doc_md_lands_every_day_once() -> None:
    import re

    from airflow.cli.cli_config import parsedate
    from airflow.dag_processing.dagbag import DagBag

    from filinglake_airflow.partitions import market_day

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "cninfo_daily.py")).dags["cninfo_daily"]
    command = re.search(r"airflow backfill create --dag-id cninfo_daily --from-date (\S+) --to-date (\S+)`", dag.doc_md)
    assert command, "doc_md shows the backfill command"
    assert (command[1], command[2]) == ("2024-12-01", "2024-12-31")  # bare dates mean what they say
    runs = backfill_runs(dag, parsedate(command[1]), parsedate(command[2]))
    december = [(date(2024, 12, 1) + timedelta(days=i)).isoformat() for i in range(31)]
    assert [market_day(run) for run in runs] == december  # one run per day, each its final run


def test_cninfo_intraday_runs_reingest_their_own_day() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from filinglake_airflow.partitions import cninfo_day

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "cninfo_intraday.py")).dags[
        "cninfo_intraday"]
    beijing = ZoneInfo("Asia/Shanghai")
    runs = backfill_runs(dag, datetime(2024, 12, 1, tzinfo=beijing), datetime(2024, 12, 2, tzinfo=beijing))
    assert [(cninfo_day(run), run.astimezone(beijing).strftime("%H:%M")) for run in runs] == [
        ("2024-12-01", t) for t in ("08:30", "12:30", "16:30", "19:30", "22:30")]


def test_challenge_page_is_retried_after_the_backoff_not_failed() -> None:
    # ChallengePage is both a BadResponse (fail at once) and a Blocked (wait): waiting must win
    from airflow.sdk import RetryAction

    from filinglake.sources.cninfo import CHALLENGE_BACKOFF_SECONDS, ChallengePage
    from filinglake_airflow.retry import IngestRetryPolicy

    decision = IngestRetryPolicy().evaluate(ChallengePage("got HTML"), try_number=1, max_tries=7)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=CHALLENGE_BACKOFF_SECONDS))
    assert IngestRetryPolicy().evaluate(BadResponse("not JSON"), try_number=1, max_tries=7).action == RetryAction.FAIL


def test_cninfo_daily_dag_shape() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    dag = bag.dags["cninfo_daily"]
    timetable = coerce_to_core_timetable(dag.timetable).serialize()
    assert (timetable["timezone"], timetable["run_at_seconds"]) == ("Asia/Shanghai", 86400 + 1800)  # 00:30 next day
    intraday = coerce_to_core_timetable(bag.dags["cninfo_intraday"].timetable).serialize()
    assert (intraday["expression"], intraday["timezone"]) == ("30 8,12,16,19,22 * * *", "Asia/Shanghai")
    assert dag.catchup is False and dag.max_active_runs >= 2  # runs side by side (test_dags.py)
    assert dag.get_task("fetch_index").pool == "cninfo"
    assert [a.name for a in dag.get_task("validate_partition").outlets] == ["clean.cninfo.filings"]
    # the trigger form says what a CNINFO partition looks like
    assert "stock-002236_2020-01-01_2024-12-31" in dag.params.get_param("partition").description


@pytest.mark.e2e
def test_cninfo_daily_dag_lands_fixture_days(
    fixtures_dir: Path, replay_server, dag_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.airflow_harness import run_dag

    fake = cninfo_replay(fixtures_dir)
    server = replay_server(fake.routes())
    monkeypatch.setenv("FILINGLAKE_CNINFO_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "1000")
    storage = Storage(dag_env.as_uri())

    # The fixture's days (2002) are before the DAG's start_date, so runs name their day with the
    # partition param; which day a scheduled run picks is test_cninfo_day_rule's job.
    conf = {"partition": "2002-08-14"}
    run = run_dag("cninfo_daily", logical_date=datetime(2025, 3, 4, tzinfo=UTC), conf=conf)
    assert run.succeeded, run.task_states
    assert set(run.task_states.values()) == {"success"}
    (event,) = run.asset_events
    assert event["asset"] == "clean.cninfo.filings"
    assert {k: event["extra"][k] for k in ("source", "partition", "rows_in", "rows_written", "quarantined")} == {
        "source": "cninfo", "partition": "2002-08-14", "rows_in": 2, "rows_written": 2, "quarantined": 0}
    assert event["extra"]["validation"]["success"] is True
    clean = read_committed(storage, "cninfo", "2002-08-14")
    assert sorted(clean["native_id"].to_pylist()) == ["632064", "633103"]
    first_bytes = storage.get_bytes(data_keys(read_manifest(storage, "cninfo", "2002-08-14"), "clean")[0])

    # rerunning the day (as the intraday refreshes do) overwrites it with the same bytes
    again = run_dag("cninfo_intraday", logical_date=datetime(2025, 3, 4, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")),
                    conf=conf)
    assert again.succeeded and again.asset_events[0]["extra"]["partition"] == "2002-08-14"
    assert storage.get_bytes(data_keys(read_manifest(storage, "cninfo", "2002-08-14"), "clean")[0]) == first_bytes

    # a manual per-issuer run through the partition param
    stock = run_dag("cninfo_daily", logical_date=datetime(2025, 3, 5, tzinfo=UTC),
                    conf={"partition": "stock-000001_2001-01-01_2002-12-31"})
    assert stock.succeeded, stock.task_states
    assert stock.asset_events[0]["extra"]["partition"] == "stock-000001_2001-01-01_2002-12-31"
    assert stock.asset_events[0]["extra"]["rows_written"] == 8
    assert fake.stock_list_requests == 1



def test_parse_command_on_the_real_page_and_on_null_announcements(
    fixtures_dir: Path, raw_page: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from filinglake.cli.app import main

    out = tmp_path / "out"
    assert main(["parse", "--source", "cninfo", str(fixtures_dir / QUERY_FIXTURE), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = len(raw_page["announcements"])
    assert {k: summary[k] for k in ("rows_in", "rows_written", "duplicates", "quarantined")} == {
        "rows_in": rows, "rows_written": rows, "duplicates": 0, "quarantined": 0}
    filings = pq.read_table(out / "filings.parquet")
    assert sorted(filings["native_id"].to_pylist()) == sorted(r["announcementId"] for r in raw_page["announcements"])
    assert set(filings["ticker"].to_pylist()) == {"000001.SZ"}
    assert pq.read_table(out / "quarantine.parquet").num_rows == 0

    # CNINFO's "nothing matched": announcements null, a zero-row success
    empty = tmp_path / "empty.json"
    empty.write_bytes(page_bytes(None))
    assert main(["parse", "--source", "cninfo", str(empty), "--output", str(tmp_path / "empty")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["rows_in"], summary["rows_written"]) == (0, 0)
    assert pq.read_table(tmp_path / "empty" / "filings.parquet").num_rows == 0

    # a challenge page saved by mistake is a one-line error, not rows
    challenge = tmp_path / "challenge.json"
    challenge.write_bytes(CHALLENGE_PAGE)
    assert main(["parse", "--source", "cninfo", str(challenge), "--output", str(tmp_path / "c")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "challenge" in line and not (tmp_path / "c" / "filings.parquet").exists()


def test_ingest_command_over_a_range_of_days(fixtures_dir: Path, replay_server, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from filinglake.cli.app import main

    server = replay_server(cninfo_replay(fixtures_dir).routes())
    monkeypatch.setenv("FILINGLAKE_CNINFO_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    # 14 August 2002 (Beijing) holds two fixture rows, the 13th and 15th none
    assert main(["ingest", "--source", "cninfo", "--from", "2002-08-13", "--to", "2002-08-15", "--no-validate"]) == 0
    captured = capsys.readouterr()
    totals = json.loads(captured.out.strip().splitlines()[-1])
    assert (totals["partitions"], totals["rows_in"], totals["rows_written"], totals["failed"]) == (3, 2, 2, [])
    assert "3/3" in captured.err  # the progress bar
    asked = [r.form["seDate"] for r in server.requests_to(QUERY_PATH, "POST")]
    assert asked == ["2002-08-13~2002-08-13", "2002-08-14~2002-08-14", "2002-08-15~2002-08-15"]
    storage = Storage(tmp_path.joinpath("lake").as_uri())
    assert sorted(read_committed(storage, "cninfo", "2002-08-14")["native_id"].to_pylist()) == [
        "632064", "633103"]


def test_ingest_command_waits_out_a_challenge_page_then_lands_the_day(
    fixtures_dir: Path, replay_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.replay import Reply

    from filinglake.cli import app as cli
    from filinglake.cli import ingest as ingest_cli

    routes = cninfo_replay(fixtures_dir).routes()
    query = routes[("POST", QUERY_PATH)]
    answers = iter([Reply(body=CHALLENGE_PAGE, content_type="text/html")])
    routes[("POST", QUERY_PATH)] = lambda request: next(answers, None) or query(request)
    server = replay_server(routes)
    waits: list[float] = []
    monkeypatch.setattr(ingest_cli, "_sleep", waits.append)
    monkeypatch.setenv("FILINGLAKE_CNINFO_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    assert cli.main(["ingest", "--source", "cninfo", "--date", "2002-08-14", "--no-validate"]) == 0
    assert waits == [600]  # stayed away as long as CNINFO's circuit breaker asks, once
    storage = Storage(tmp_path.joinpath("lake").as_uri())
    assert read_committed(storage, "cninfo", "2002-08-14").num_rows == 2


def test_ingest_command_with_stock(fixtures_dir: Path, replay_server, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from filinglake.cli.app import main

    server = replay_server(cninfo_replay(fixtures_dir).routes())
    monkeypatch.setenv("FILINGLAKE_CNINFO_BASE_URL", server.url)
    monkeypatch.setenv("FILINGLAKE_CNINFO_RATE", "1000")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    args = ["ingest", "--source", "cninfo", "--stock", "000001", "--from", "2001-01-01", "--to", "2002-12-31",
            "--no-validate"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["partition"], summary["rows_written"]) == ("stock-000001_2001-01-01_2002-12-31", 8)
    # round trip: the id the summary (and manifest, logs, status page) shows is what --partition takes back,
    # as does the older stock=CODE:FROM..TO spelling; both land that same partition again
    for typed in (summary["partition"], "stock=000001:2001-01-01..2002-12-31"):
        assert main(["ingest", "--source", "cninfo", "--partition", typed, "--no-validate"]) == 0
        again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (again["partition"], again["rows_written"]) == (summary["partition"], 8)
    assert read_manifest(Storage((tmp_path / "lake").as_uri()), "cninfo", summary["partition"])["rows_written"] == 8
    assert main(["ingest", "--source", "cninfo", "--partition", summary["partition"], "--stock", "000001"]) == 2
    assert "--partition names its partitions itself" in capsys.readouterr().err
    assert main(["ingest", "--source", "cninfo", "--stock", "999999", "--from", "2024-01-01", "--to", "2024-01-31"]) == 2
    assert "'999999' is not in CNINFO's stock list" in capsys.readouterr().err
    assert main(["ingest", "--source", "cninfo", "--stock", "000001", "--date", "2024-01-01"]) == 2
    assert main(["ingest", "--source", "sec_edgar", "--stock", "000001", "--from", "2024-01-01", "--to", "2024-01-02"]) == 2
    assert "--stock is not supported" in capsys.readouterr().err


def test_quarantine_and_the_validation_record_agree(fixtures_dir: Path, template: dict, replay_server, tmp_path: Path) -> None:
    from filinglake.ingest.landing import ingest

    good = synthetic_announcements(template, SYNTHETIC_DAY, 5)
    bad = synthetic_announcements(template, SYNTHETIC_DAY, 5, first_id=1_600_000_000)
    bad[0]["adjunctUrl"] = "https://evil.example/finalpage/x.PDF"
    bad[1]["adjunctUrl"] = "finalpage/../../x.PDF"
    bad[2].update(secCode="999999", orgId="xx9")  # no venue
    bad[3]["announcementTitle"] = None
    bad[4]["secName"] = None  # allowed: lands clean
    server = replay_server(cninfo_replay(fixtures_dir, extra_announcements=good + bad).routes())
    manifest = ingest("cninfo", SYNTHETIC_DAY.isoformat(), settings_for(server, tmp_path))
    assert (manifest["rows_in"], manifest["rows_written"], manifest["quarantined"]) == (10, 6, 4)
    assert {k: v for k, v in manifest["failures"].items() if v} == {
        "document_url_on_cninfo": 2, "exchange_present": 1, "title_present": 1}
    assert manifest["validation"]["success"] is True
