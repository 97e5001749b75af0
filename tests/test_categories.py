"""Readable categories on the real captures: HKEX tier-one/tier-two codes from LONG_TEXT, CNINFO
announcementType codes, the ``categories`` column of published filings and ``category_counts``."""

from __future__ import annotations

import copy
import html
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from fakes.hkex import _T1_BY_ENGLISH_NAME, fixture_rows, row_t1code
from support.landed_partition import land_rows

from filinglake.publish.categories import with_categories
from filinglake.publish.category_counts import CATEGORY_COUNTS, build_category_counts
from filinglake.publish.daily_counts import DAILY_COUNTS
from filinglake.publish.run import publish, read_published
from filinglake.query import run_query
from filinglake.sources import get_source
from filinglake.sources.cninfo import parse_query_page
from filinglake.sources.cninfo_types import ANNOUNCEMENT_TYPES
from filinglake.sources.hkex import parse_response
from filinglake.sources.hkex_categories import TIER_ONE, TIER_TWO
from filinglake.storage import Storage

HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
CATEGORY_LISTS = "hkex/categories"


def _hkex_table(fixtures_dir: Path) -> pa.Table:
    return with_categories(parse_response((fixtures_dir / HKEX_ROWS).read_bytes(), HKEX_ROWS))


def _by_news_id(table: pa.Table) -> dict[str, list[dict] | None]:
    return dict(zip(table["native_id"].to_pylist(), table["categories"].to_pylist(), strict=True))


# ------------------------------------------------------------------------------------------------
# HKEX
# ------------------------------------------------------------------------------------------------


def test_every_hkex_row_with_long_text_gets_its_known_tier_one_code(fixtures_dir: Path) -> None:
    raw = fixture_rows(fixtures_dir)
    without_long_text = {r["NEWS_ID"] for r in raw if not (r.get("LONG_TEXT") or "").strip()}
    assert len(raw) == 1101 and len(without_long_text) == 144  # counted from the capture itself
    # the rows without LONG_TEXT are the old ones (2000–2007, the NEED_UNDERLINE era)
    assert {r["DATE_TIME"][6:10] for r in raw if r["NEWS_ID"] in without_long_text} <= {str(y) for y in range(2000, 2008)}

    categories = _by_news_id(_hkex_table(fixtures_dir))
    assert len(categories) == 1101
    assert {news_id for news_id, c in categories.items() if c is None} == without_long_text
    for row in raw:
        found = categories[row["NEWS_ID"]]
        if row["NEWS_ID"] in without_long_text:
            continue
        # the replay fake's own reading of the same LONG_TEXT agrees, and the code is a declared one
        assert found[0]["code"] == row_t1code(row) is not None, row["LONG_TEXT"]
        assert found[0]["code"] in TIER_ONE and found[0]["name_zh"] == TIER_ONE[found[0]["code"]][0]
    assert Counter(c[0]["code"] for c in categories.values() if c) == Counter(
        {"10000": 542, "51500": 210, "50000": 85, "20000": 42, "40000": 35, "52000": 30, "54000": 5,
         "30000": 3, "90000": 3, "56000": 2})


def test_hkex_tier_two_names_map_to_codes_and_unknown_names_are_kept(fixtures_dir: Path) -> None:
    raw = fixture_rows(fixtures_dir)
    categories = _by_news_id(_hkex_table(fixtures_dir))
    inside = {r["NEWS_ID"] for r in raw if "Inside Information" in html.unescape(r.get("LONG_TEXT") or "")}
    tagged = {n for n, c in categories.items() if c and any(x["code"] == "19750" for x in c[1:])}
    assert inside == tagged and len(inside) == 72
    assert {"code": "19750", "name_zh": "內幕消息", "name_en": "Inside Information"} in next(
        categories[n] for n in sorted(inside))

    # "Inside Information / Other - Miscellaneous / Suspension": each name once, in order; the one
    # without a declared code is kept by name, code null
    row = next(r for r in raw if html.unescape(r["LONG_TEXT"])
               == "Announcements and Notices - [Inside Information / Other - Miscellaneous / Suspension]")
    assert categories[row["NEWS_ID"]] == [
        {"code": "10000", "name_zh": "公告及通告", "name_en": "Announcements and Notices"},
        {"code": "19750", "name_zh": "內幕消息", "name_en": "Inside Information"},
        {"code": None, "name_zh": None, "name_en": "Other - Miscellaneous"},
        {"code": "17850", "name_zh": "停牌", "name_en": "Suspension"},
    ]
    # a status prefix is not a category; a slash inside a name does not split it
    revised = next(r for r in raw if r["LONG_TEXT"].startswith("(Headlines Revised) Announcements and Notices - [Profit"))
    assert [c["code"] for c in categories[revised["NEWS_ID"]]] == ["10000", None, "19750"]
    half_year = next(r for r in raw if html.unescape(r["LONG_TEXT"]) == "Financial Statements - [Interim/Half-Year Report]")
    assert categories[half_year["NEWS_ID"]] == [
        {"code": "40000", "name_zh": "財務報表/環境、社會及管治資料", "name_en": "Financial Statements"},
        {"code": "40200", "name_zh": "中期/半年度報告", "name_en": "Interim/Half-Year Report"},
    ]
    # form_type stays as filed
    table = _hkex_table(fixtures_dir)
    assert html.unescape(revised["LONG_TEXT"]) in table["form_type"].to_pylist()


def test_declared_hkex_names_are_hkexs_own(fixtures_dir: Path) -> None:
    """Every Chinese name and tier-one link declared in the library equals HKEX's own lists."""
    lists = fixtures_dir / CATEGORY_LISTS
    tier_one = {r["code"]: r["name"] for r in json.loads((lists / "tierone_c_cache_hkexann.json").read_text("utf-8"))}
    tier_two = {r["code"]: r for r in json.loads((lists / "tiertwo_c_cache_hkexann.json").read_text("utf-8"))}
    assert {code: zh for code, (zh, _) in TIER_ONE.items()} == tier_one  # all 20, names identical
    for code, (t1, zh, _) in TIER_TWO.items():
        assert (tier_two[code]["t1code"], tier_two[code]["name"]) == (t1, zh), code
    # the English tier-one names the replay fake reads LONG_TEXT with are the ones declared
    assert all(name in TIER_ONE[code][1] for name, code in _T1_BY_ENGLISH_NAME.items())


def test_chinese_long_text_maps_to_the_same_codes() -> None:
    hkex = get_source("hkex")
    assert hkex.categories("公告及通告 - [內幕消息 / 停牌 / 其他]") == [
        ("10000", "公告及通告", "Announcements and Notices"),
        ("19750", "內幕消息", "Inside Information"),
        ("17850", "停牌", "Suspension"),
        (None, "其他", None),
    ]
    assert hkex.categories("A Category HKEX Adds Later") == [(None, None, "A Category HKEX Adds Later")]
    assert hkex.categories(None) is None and hkex.categories("") is None


# ------------------------------------------------------------------------------------------------
# CNINFO
# ------------------------------------------------------------------------------------------------


def _cninfo_rows(fixtures_dir: Path) -> list[dict]:
    return json.loads((fixtures_dir / CNINFO_PAGE).read_text("utf-8"))["announcements"]


def parse_announcements(fixtures_dir: Path, rows: list[dict]) -> pa.Table:
    """The captured page's envelope holding ``rows``, parsed as CNINFO responses are."""
    page = json.loads((fixtures_dir / CNINFO_PAGE).read_text("utf-8"))
    page["announcements"] = rows
    return parse_query_page(json.dumps(page, ensure_ascii=False).encode(), CNINFO_PAGE)


def _coded_row(fixtures_dir: Path) -> dict:
    """A real 2002 row given the modern announcementType shape (sources.md §2.4) plus an unknown code."""
    row = copy.deepcopy(_cninfo_rows(fixtures_dir)[1])
    row.update(announcementId="1299000001", announcementType="01010503||010113||01030301||010303||99999999")
    return row


def test_cninfo_codes_map_through_the_public_list_and_unknown_codes_stay(fixtures_dir: Path) -> None:
    page = _cninfo_rows(fixtures_dir)
    # the captured page is from 2002: announcementType is null on every row, so no row has categories
    assert {r["announcementType"] for r in page} == {None}
    parsed = with_categories(parse_announcements(fixtures_dir, [*page, _coded_row(fixtures_dir)]))
    by_id = _by_news_id(parsed)
    assert all(by_id[r["announcementId"]] is None for r in page)
    assert by_id["1299000001"] == [
        {"code": "01010503", "name_zh": "上市公司公告", "name_en": "listed company announcement"},
        {"code": "010113", "name_zh": "其他", "name_en": "other"},
        {"code": "01030301", "name_zh": None, "name_en": None},  # no public list names it: unknown, kept
        {"code": "010303", "name_zh": "半年度报告", "name_en": "semi-annual report"},
        {"code": "99999999", "name_zh": None, "name_en": None},
    ]
    # form_type stays as filed
    assert parsed.filter(pa.compute.equal(parsed["native_id"], "1299000001"))["form_type"].to_pylist() == [
        "01010503||010113||01030301||010303||99999999"]
    assert get_source("cninfo").categories("010301,011301") == [
        ("010301", "年度报告", "annual report"), ("011301", "利润分配", "profit distribution")]
    assert all(zh and en for zh, en in ANNOUNCEMENT_TYPES.values())


# ------------------------------------------------------------------------------------------------
# Published: filings.categories, category_counts (and daily_counts unchanged)
# ------------------------------------------------------------------------------------------------


def _recount(published: pa.Table) -> Counter:
    """(source, category_code, name_zh, name_en, filing_date) → published rows, counted in Python."""
    counts: Counter = Counter()
    for source, day, cats in zip(published["source"].to_pylist(), published["filing_date"].to_pylist(),
                                 published["categories"].to_pylist(), strict=True):
        if day is None:
            continue
        keys = {(c["code"] or "", c["name_zh"] or "", c["name_en"] or "") for c in cats} if cats else {("", "", "")}
        for key in keys:
            counts[(source, *key, day)] += 1
    return counts


def test_published_categories_and_category_counts_equal_a_recount(tmp_path: Path, fixtures_dir: Path) -> None:
    storage = Storage(f"file://{tmp_path}")
    hkex = parse_response((fixtures_dir / HKEX_ROWS).read_bytes(), HKEX_ROWS)
    cninfo = parse_announcements(fixtures_dir, [*_cninfo_rows(fixtures_dir), _coded_row(fixtures_dir)])
    land_rows(storage, "hkex", "2012-11-14-en", hkex, rules=[])  # every captured row, whatever its day
    land_rows(storage, "cninfo", "stock-000001_2001-01-01_2002-12-31", cninfo, rules=[])
    result = publish(storage, partitions=[("hkex", "2012-11-14-en"), ("cninfo", "stock-000001_2001-01-01_2002-12-31")])
    assert result["inserted"] == 1101 + 9

    published = read_published(storage, "filings")
    cats = dict(zip(published["native_id"].to_pylist(), published["categories"].to_pylist(), strict=True))
    assert sum(1 for n, c in cats.items() if c is None and n.isdigit() and len(n) < 9) == 144 + 8
    assert [c["code"] for c in cats["1299000001"]] == ["01010503", "010113", "01030301", "010303", "99999999"]
    assert Counter(c[0]["code"] for c in cats.values() if c and c[0]["code"] and len(c[0]["code"]) == 5)["10000"] == 542

    counts = read_published(storage, CATEGORY_COUNTS)
    table = {(s, c, z, e, d): n for s, c, z, e, d, n in zip(
        *(counts[k].to_pylist() for k in ("source", "category_code", "category_name_zh", "category_name_en",
                                          "filing_date", "published_rows")), strict=True)}
    assert table == dict(_recount(published))
    assert build_category_counts(published).num_rows == counts.num_rows
    # the unknown CNINFO code is counted under its code, never dropped
    assert sum(n for (s, c, *_), n in table.items() if s == "cninfo" and c == "99999999") == 1
    assert sum(n for (s, c, *_), n in table.items() if s == "hkex" and c == "19750") == 72
    assert sum(n for (s, c, z, e, _), n in table.items() if s == "hkex" and (c, z, e) == ("", "", "")) == 144

    # daily_counts keeps its key and sums: one count per published row
    daily = read_published(storage, DAILY_COUNTS)
    assert sum(daily["published_rows"].to_pylist()) == published.num_rows

    # the README's queries, through `filinglake query`'s views
    inside = run_query("SELECT filing_date, title FROM filings "
                       "WHERE list_contains([c.code FOR c IN categories], '19750')", storage=storage)
    assert inside.num_rows == 72
    per_category = run_query("SELECT category_code, category_name_en, sum(published_rows) AS n FROM category_counts "
                             "WHERE source = 'hkex' GROUP BY ALL ORDER BY n DESC", storage=storage).to_pylist()
    assert per_category[0] == {"category_code": "10000", "category_name_en": "Announcements and Notices", "n": 542}

    # a second publish of the same inputs changes nothing
    again = publish(storage, partitions=[("hkex", "2012-11-14-en"), ("cninfo", "stock-000001_2001-01-01_2002-12-31")])
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert again["category_counts"]["inserted"] == again["category_counts"]["updated"] == 0


@pytest.mark.parametrize("form_type", [None, ""])
def test_rows_without_form_type_have_no_categories(form_type) -> None:
    table = pa.table({"source": ["hkex", "cninfo", "sec_edgar", "retired"],
                      "form_type": [form_type, form_type, "10-K", "x"]})
    assert with_categories(table)["categories"].to_pylist() == [None, None, None, None]


def test_a_filings_table_written_before_categories_gains_the_column(tmp_path: Path, fixtures_dir: Path) -> None:
    from deltalake import write_deltalake
    from support.landed_partition import ARCHIVED_AT

    from filinglake.publish import delta
    from filinglake.publish.filings import FILINGS, FILINGS_CONFIGURATION, FILINGS_PARTITIONS, fold
    from filinglake.schema import FILINGS_SCHEMA, PUBLISHED_FILINGS_SCHEMA, conform

    storage = Storage(f"file://{tmp_path}")
    hkex = parse_response((fixtures_dir / HKEX_ROWS).read_bytes(), HKEX_ROWS)
    old, new = hkex.slice(0, 500), hkex.slice(500)
    # the table as an earlier release wrote it: no categories column, 500 rows
    legacy = PUBLISHED_FILINGS_SCHEMA.remove(PUBLISHED_FILINGS_SCHEMA.get_field_index("categories"))
    lineage = conform(old, FILINGS_SCHEMA)
    lineage = lineage.set_column(lineage.schema.get_field_index("raw_key"), "raw_key", pa.array(["raw/old"] * 500))
    lineage = lineage.set_column(lineage.schema.get_field_index("archived_at"), "archived_at",
                                 pa.array([ARCHIVED_AT] * 500, pa.timestamp("us", tz="UTC")))
    delta.ensure_table(storage, FILINGS, legacy, FILINGS_PARTITIONS, FILINGS_CONFIGURATION)
    write_deltalake(delta.open_table(storage, FILINGS), delta.conform(fold(lineage), legacy), mode="append")

    land_rows(storage, "hkex", "2012-11-14-en", new, rules=[])
    publish(storage, partitions=[("hkex", "2012-11-14-en")])
    published = read_published(storage, "filings")
    assert published.num_rows == 1101
    cats = dict(zip(published["native_id"].to_pylist(), published["categories"].to_pylist(), strict=True))
    new_ids, old_ids = set(new["native_id"].to_pylist()), set(old["native_id"].to_pylist())
    with_long_text = {r["NEWS_ID"] for r in fixture_rows(fixtures_dir) if (r.get("LONG_TEXT") or "").strip()}
    assert all(cats[n] for n in new_ids & with_long_text)  # the new rows are mapped
    assert all(cats[n] is None for n in old_ids)  # rows published before keep null until published again
    assert run_query("SELECT count(*) AS n FROM filings WHERE categories IS NOT NULL",
                     storage=storage).to_pylist() == [{"n": len(new_ids & with_long_text)}]

    land_rows(storage, "hkex", "2012-11-15-en", old, rules=[])  # publishing them again refills them
    publish(storage, partitions=[("hkex", "2012-11-15-en")])
    published = read_published(storage, "filings")
    refilled = dict(zip(published["native_id"].to_pylist(), published["categories"].to_pylist(), strict=True))
    assert all(refilled[n] for n in old_ids & with_long_text)


def test_every_cninfo_code_name_cites_a_public_file() -> None:
    """Each name cites repository, path and a full commit (no search-index id); unknown codes cite nothing."""
    import re

    from filinglake.sources.cninfo_types import ANNOUNCEMENT_TYPE_SOURCES, SOURCES, source_of

    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+", s.repo) and s.path and re.fullmatch(r"[0-9a-f]{40}", s.commit)
               for s in SOURCES.values())
    assert all(keys and set(keys) <= set(SOURCES) for _, _, keys in ANNOUNCEMENT_TYPE_SOURCES.values())
    assert {s.repo for key in ANNOUNCEMENT_TYPE_SOURCES for s in source_of(key)} == {s.repo for s in SOURCES.values()}
    assert [s.repo for s in source_of("010303")] == ["darknessitachi/findata"]  # the season parameter, half-year
    assert source_of("01030301") == []  # no public list names it: unknown
