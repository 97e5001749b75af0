"""HKEXnews' Chinese stock list (activestock_sehk_c.json): archived beside the English one, checked by the same
rules, published as ``securities.name_zh`` and as ``filings.issuer_name`` on rows of the Chinese stream.

No Chinese list is captured in the fixtures, so these tests write small ones in HKEXnews' shape
(``[{"c", "i", "n"}]``) for securities of the real English capture (their codes and stockIds as captured,
HKEX's Chinese short names), beside that capture itself.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
from fakes.hkex import CHINESE_STOCK_LIST, chinese_stock_list_bytes, stock_list_routes

from filinglake.config import Settings
from filinglake.errors import BadResponse
from filinglake.ingest import landing as pipeline
from filinglake.publish.filings import FILINGS
from filinglake.publish.references import fetch_reference_list, latest_archived
from filinglake.publish.run import publish, read_published
from filinglake.publish.securities import read_securities, refresh_securities
from filinglake.query import run_query
from filinglake.sources import get_source
from filinglake.sources.hkex_stocks import (
    CHINESE_STOCK_LIST_NAME,
    STOCK_LIST_NAME,
    STOCKS_SOURCE,
    parse_chinese_stock_list,
)
from filinglake.storage import Storage

HKEX_STOCKS = "hkex/prefix_stockId_mapping_sunkken.csv"
HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
DAY_1, DAY_2 = "2025-11-20", "2025-11-21"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage=(tmp_path / "lake").as_uri())


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage.from_settings(settings)


def archive(storage: Storage, day: str, name: str, data: bytes) -> str:
    return storage.archive_raw(STOCKS_SOURCE, day, name, data, f"https://www1.hkexnews.hk/ncms/script/eds/{name}").key


def english_list(fixtures_dir: Path, *, without: tuple[str, ...] = ()) -> bytes:
    """The captured English list, minus the lines of the codes in ``without``."""
    lines = (fixtures_dir / HKEX_STOCKS).read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(tuple(f"{code},".encode() for code in without))]
    assert len(kept) == len(lines) - len(without)
    return b"".join(kept)


def gbk_mojibake(data: bytes) -> bytes:
    """UTF-8 bytes read as GBK and written back as UTF-8: how a Chinese list gets garbled."""
    return data.decode("gbk", errors="replace").encode("utf-8")


def current_hkex(storage: Storage) -> dict[str, dict]:
    return {r["stock_code"]: r for r in read_securities(storage, where="source = 'hkex' AND is_current").to_pylist()}


# ------------------------------------------------------------------------------------------------
# the list and its rules
# ------------------------------------------------------------------------------------------------


def test_the_chinese_list_in_hkexnews_shape_is_read() -> None:
    stocks = parse_chinese_stock_list(chinese_stock_list_bytes())
    assert [(s.code, s.stock_id, s.name, s.board) for s in stocks][:3] == [
        ("00001", "1", "長和", "Main Board"), ("00005", "5", "滙豐控股", "Main Board"),
        ("00007", "7", "智富資源投資", "Main Board")]
    # full-width letters and dash, as HKEX writes Chinese short names, are no mojibake
    assert {s.code: s.name for s in stocks}["01810"] == "小米集團－Ｗ"


@pytest.mark.parametrize(("garble", "rule", "where"), [
    # every name read as GBK: 滙豐控股 → 婊欒睈鎺ц偂 (no replacement character in it, only the wrong characters)
    (gbk_mojibake, "name_not_mojibake", "entry 0"),
    # the same with a name whose last byte GBK cannot pair: a replacement character (中電控股 → 涓�闆绘帶鑲�)
    (lambda data: gbk_mojibake(data.replace("長和".encode(), "中電控股".encode())), "name_not_mojibake", "entry 0"),
    # UTF-8 read as Latin-1
    (lambda data: data.decode("latin-1").encode("utf-8"), "name_not_mojibake", "entry 0"),
    # the English list's names served at the Chinese path
    (lambda data: json.dumps([{"c": "00005", "i": 5, "n": "HSBC HOLDINGS"}]).encode(), "names_chinese", None),
    (lambda data: data.replace(b'"c":"00007"', b'"c":"0007"'), "stock_code_5_digits", "entry 2"),
])
def test_a_garbled_chinese_list_is_refused_with_the_rule_named(garble, rule, where) -> None:
    with pytest.raises(BadResponse) as refused:
        parse_chinese_stock_list(garble(chinese_stock_list_bytes()))
    reason = str(refused.value)
    assert reason.startswith(f"{CHINESE_STOCK_LIST_NAME}: rule {rule} (")
    assert "the whole list is refused" in reason
    if where:
        assert f"broken at {where}:" in reason


def test_no_genuine_chinese_name_of_the_real_cninfo_list_looks_like_gbk_mojibake(fixtures_dir) -> None:
    """The GBK rule on real Chinese names (CNINFO's 2021 list, 4,779 short names): none is refused, and
    every one of them garbled is."""
    from filinglake.sources.hkex_stocks import _read_as_gbk

    names = [row["zwjc"] for row in json.loads((fixtures_dir / "cninfo/szse_stock_20210927_ForstMaple.json")
                                               .read_bytes())["stockList"] if row.get("zwjc")]
    assert len(names) > 4_700
    assert [n for n in names if _read_as_gbk(n)] == []
    garbled = [n.encode("utf-8").decode("gbk", errors="replace") for n in names]
    without_replacement_character = [g for g in garbled if "\ufffd" not in g]
    assert len(without_replacement_character) > 2_000  # the ones only this rule catches
    assert all(_read_as_gbk(g) for g in without_replacement_character)


# ------------------------------------------------------------------------------------------------
# fetched and archived beside the English list
# ------------------------------------------------------------------------------------------------


def test_both_lists_are_fetched_and_archived_once_a_day(settings, storage, fixtures_dir, replay_server) -> None:
    server = replay_server(stock_list_routes(fixtures_dir))
    hkex = get_source("hkex")
    live = settings.with_source("hkex", base_url=server.url)

    ref = fetch_reference_list(storage, live, hkex, today=date(2025, 11, 21))
    fetch_reference_list(storage, live, hkex, today=date(2025, 11, 21))  # the same day: both reused
    fetch_reference_list(storage, live, hkex, today=date(2025, 11, 22))

    assert [r.path for r in server.requests] == ["/ncms/script/eds/activestock_sehk_e.json",
                                                 "/ncms/script/eds/activestock_sehk_c.json"] * 2
    chinese = latest_archived(storage, STOCKS_SOURCE, CHINESE_STOCK_LIST_NAME, partition=DAY_2)
    assert chinese is not None and chinese.startswith(f"raw/source={STOCKS_SOURCE}/partition={DAY_2}/")
    assert storage.get_bytes(chinese) == chinese_stock_list_bytes()
    assert storage.raw_ref(chinese).url == f"{server.url}/ncms/script/eds/activestock_sehk_c.json"
    assert ref.key == latest_archived(storage, STOCKS_SOURCE, STOCK_LIST_NAME, partition=DAY_2)

    counts = refresh_securities(storage)
    rows = current_hkex(storage)
    assert counts["refused"] == [] and len(rows) == 2_330
    assert (rows["00005"]["name_en"], rows["00005"]["name_zh"], rows["00005"]["name"]) == (
        "HSBC HOLDINGS", "滙豐控股", "HSBC HOLDINGS")
    assert rows["00007"]["name_zh"] == "智富資源投資"
    assert rows["08003"]["name_zh"] is None  # a code the Chinese list does not name
    assert sum(r["name_zh"] is not None for r in rows.values()) == len(CHINESE_STOCK_LIST)


def test_a_bad_chinese_list_is_not_archived_and_the_english_one_still_is(settings, storage, fixtures_dir,
                                                                          replay_server, caplog) -> None:
    server = replay_server(stock_list_routes(fixtures_dir, chinese=gbk_mojibake(chinese_stock_list_bytes())))
    live = settings.with_source("hkex", base_url=server.url)

    with caplog.at_level(logging.WARNING, logger="filinglake.publish.references"):
        ref = fetch_reference_list(storage, live, get_source("hkex"), today=date(2025, 11, 21))

    assert ref.key == latest_archived(storage, STOCKS_SOURCE, STOCK_LIST_NAME)
    assert latest_archived(storage, STOCKS_SOURCE, CHINESE_STOCK_LIST_NAME) is None
    assert any("rule name_not_mojibake" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------------
# joined on the code; a refused Chinese list blanks nothing
# ------------------------------------------------------------------------------------------------


def test_the_lists_are_joined_on_the_code(storage, fixtures_dir) -> None:
    # the English list of the day lacks 00700; the Chinese one lacks 08003 (and most others)
    archive(storage, DAY_1, STOCK_LIST_NAME, english_list(fixtures_dir, without=("00700",)))
    archive(storage, DAY_1, CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes())

    refresh_securities(storage)

    rows = current_hkex(storage)
    assert len(rows) == 2_330  # 2,329 English + 00700 from the Chinese list of the same day
    tencent = rows["00700"]
    assert {k: tencent[k] for k in ("name", "name_en", "name_zh", "stock_id", "ticker", "board")} == {
        "name": "騰訊控股", "name_en": None, "name_zh": "騰訊控股", "stock_id": "7609", "ticker": "0700.HK",
        "board": "Main Board"}
    assert (rows["08003"]["name_en"], rows["08003"]["name_zh"]) == ("GREAT WORLD", None)
    assert (rows["00005"]["name_en"], rows["00005"]["name_zh"]) == ("HSBC HOLDINGS", "滙豐控股")


def test_a_refused_chinese_list_keeps_the_names_published_before(storage, fixtures_dir) -> None:
    archive(storage, DAY_1, STOCK_LIST_NAME, english_list(fixtures_dir, without=("00700",)))
    archive(storage, DAY_1, CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes())
    archive(storage, DAY_2, STOCK_LIST_NAME, english_list(fixtures_dir, without=("00700",)))
    bad = archive(storage, DAY_2, CHINESE_STOCK_LIST_NAME, gbk_mojibake(chinese_stock_list_bytes()))

    counts = refresh_securities(storage)

    [refused] = counts["refused"]
    assert (refused["day"], refused["key"]) == (DAY_2, bad)
    assert refused["reason"].startswith(f"{bad}: rule name_not_mojibake (") and "broken at entry 0:" in refused["reason"]
    # in the quarantine view, as a refused English list is
    quarantined = run_query("SELECT source, \"partition\", raw_key, failed_checks FROM quarantine "
                            "WHERE native_id IS NULL", storage=storage).to_pylist()
    assert quarantined == [{"source": "hkex", "partition": DAY_2, "raw_key": bad, "failed_checks": [refused["reason"]]}]
    # day 2 is completed by day 1's Chinese list: HSBC's version is not closed, its Chinese name not blanked
    hsbc = read_securities(storage, where="source = 'hkex' AND stock_code = '00005'").to_pylist()
    assert [(r["name_zh"], r["valid_from"], r["valid_to"], r["last_seen_on"]) for r in hsbc] == [
        ("滙豐控股", date(2025, 11, 20), None, date(2025, 11, 21))]
    # a carried-over Chinese list completes names but revives no code the English list dropped:
    # 00700 (only in day 1's Chinese list) is not listed on day 2
    tencent = read_securities(storage, where="source = 'hkex' AND stock_code = '00700'").to_pylist()
    assert [(r["valid_from"], r["valid_to"]) for r in tencent] == [(date(2025, 11, 20), date(2025, 11, 21))]

    # day 2's Chinese list archived again, valid: its quarantine record goes, nothing changes for HSBC
    archive(storage, DAY_2, CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes().replace(b"}]", b"} ]"))
    assert refresh_securities(storage)["refused"] == []
    assert run_query("SELECT count(*) AS n FROM quarantine", storage=storage)["n"][0].as_py() == 0
    assert current_hkex(storage)["00005"]["valid_from"] == date(2025, 11, 20)


def test_a_name_change_in_the_chinese_list_opens_a_new_version(storage, fixtures_dir) -> None:
    english = english_list(fixtures_dir)
    archive(storage, DAY_1, STOCK_LIST_NAME, english)
    archive(storage, DAY_1, CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes())
    archive(storage, DAY_2, STOCK_LIST_NAME, english)
    renamed = [{**e, "n": "智富資源"} if e["c"] == "00007" else e for e in CHINESE_STOCK_LIST]
    archive(storage, DAY_2, CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes(renamed))

    refresh_securities(storage)

    versions = read_securities(storage, where="source = 'hkex' AND stock_code = '00007'").to_pylist()
    assert [(r["name_zh"], r["valid_from"], r["valid_to"]) for r in versions] == [
        ("智富資源投資", date(2025, 11, 20), date(2025, 11, 21)), ("智富資源", date(2025, 11, 21), None)]


# ------------------------------------------------------------------------------------------------
# filings.issuer_name in the language of the row's stream
# ------------------------------------------------------------------------------------------------


def land(settings: Settings, partition: str, rows: list[dict]) -> None:
    ctx = pipeline.Context.build("hkex", partition, settings)
    ref = ctx.storage.archive_raw("hkex", partition, "titleSearch.json", json.dumps(rows, ensure_ascii=False).encode(),
                                  "https://example.invalid/titleSearch.json")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})


def test_issuer_name_of_a_chinese_stream_row_is_the_chinese_name(settings, storage, fixtures_dir) -> None:
    """00007's real English rows of 2025-11-11, and the same rows as the Chinese stream lists them (other
    NEWS_IDs, Chinese titles: written here, the capture is English only)."""
    archive(storage, "2025-11-01", STOCK_LIST_NAME, english_list(fixtures_dir))
    archive(storage, "2025-11-01", CHINESE_STOCK_LIST_NAME, chinese_stock_list_bytes())
    english = [r for r in json.loads((fixtures_dir / HKEX_ROWS).read_text("utf-8"))
               if r["DATE_TIME"].startswith("11/11/2025")]
    chinese = [{**r, "NEWS_ID": f"9{r['NEWS_ID']}", "STOCK_NAME": "智富資源投資", "TITLE": "董事會會議召開日期"}
               for r in english]
    land(settings, "2025-11-11-en", english)
    land(settings, "2025-11-11-zh", chinese)

    publish(storage, settings)

    rows = read_published(storage, FILINGS).to_pylist()
    assert {(r["language"], r["issuer_name"]) for r in rows} == {("en", "WISDOM WEALTH"), ("zh", "智富資源投資")}
    assert len(rows) == 2 * len(english)
    assert {r["company_name"] for r in rows if r["language"] == "en"} == {"WISDOM WEALTH"}  # as filed

    # without a Chinese name for the issuer, a Chinese-stream row falls back to the English one
    storage2 = Storage.from_settings(Settings(storage=storage.root + "-no-chinese"))
    settings2 = Settings(storage=storage2.root)
    archive(storage2, "2025-11-01", STOCK_LIST_NAME, english_list(fixtures_dir))
    land(settings2, "2025-11-11-zh", chinese)
    publish(storage2, settings2)
    assert {r["issuer_name"] for r in read_published(storage2, FILINGS).to_pylist()} == {"WISDOM WEALTH"}
