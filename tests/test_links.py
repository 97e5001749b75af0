"""``published/issuer_links``: issuers of several sources linked on exact evidence only, and one SQL
statement for a company's filings in every market.

On the real captured lists (SEC company_tickers.json, CNINFO's 2021 stock list, HKEX's stock-code list)
the rules link exactly one pair, a Hong Kong secondary listing and its US registrant, and none of the
exact coincidences of short names and tickers the lists hold (checked to be there, so the test can
fail). The A+H case is built here: no captured CNINFO or HKEX index holds filings of an A+H company.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pytest

from filinglake.config import load_settings
from filinglake.publish import delta
from filinglake.publish.links import (
    CURATED,
    FULL_NAME,
    ISSUER_LINKS,
    SECONDARY_LISTING_TICKER,
    CuratedLink,
    build_links,
    load_curated,
    normalise_name,
    read_links,
    refresh_links,
)
from filinglake.query import run_query
from filinglake.schema import ISSUERS_SCHEMA, PUBLISHED_FILINGS_SCHEMA, SECURITIES_SCHEMA
from filinglake.sources import NameKind, all_sources, get_source
from filinglake.sources.cninfo import Cninfo
from filinglake.sources.hkex import Hkex
from filinglake.storage import Storage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEC, CNINFO, HKEX = "sec_edgar", "cninfo", "hkex"
LIST_DAY = date(2024, 5, 1)


# --------------------------------------------------------------------------------------------------
# Securities rows as publish builds them: the real lists through each source's parser
# --------------------------------------------------------------------------------------------------


def _security(source: str, issuer_id: str, security_id: str, ticker: str | None, name: str | None, *,
              exchange: str | None = None, valid_from: date = LIST_DAY, valid_to: date | None = None,
              is_primary: bool = True) -> dict:
    return {"source": source, "issuer_id": issuer_id, "security_id": security_id, "ticker": ticker, "name": name,
            "exchange": exchange, "is_primary": is_primary, "valid_from": valid_from, "valid_to": valid_to,
            "is_current": valid_to is None, "last_seen_on": valid_from, "raw_key": f"raw/test/{source}"}


def listed(source: str, data: bytes) -> list[dict]:
    return [_security(source, s.issuer_id, s.security_id, s.ticker, s.name, exchange=s.exchange,
                      is_primary=s.is_primary) for s in get_source(source).reference_securities(data)]


def hkex_listed(fixtures_dir: Path) -> list[dict]:
    """HKEX's stock-code list (stock_code, stockId, short name, market) through the HKEX source's parser."""
    return listed(HKEX, (fixtures_dir / "hkex" / "prefix_stockId_mapping_sunkken.csv").read_bytes())


def securities(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SECURITIES_SCHEMA)


NO_ISSUERS = ISSUERS_SCHEMA.empty_table()


@pytest.fixture(scope="module")
def real_lists(fixtures_dir: Path) -> dict[str, list[dict]]:
    return {
        SEC: listed(SEC, (fixtures_dir / "edgar" / "api" / "company_tickers.json").read_bytes()),
        CNINFO: listed(CNINFO, (fixtures_dir / "cninfo" / "szse_stock_20210927_ForstMaple.json").read_bytes()),
        HKEX: hkex_listed(fixtures_dir),
    }


# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "normal"), [
    ("HSBC HOLDINGS PLC", "HSBC HOLDINGS"),
    ("Yunji Inc.", "YUNJI"),
    ("China Foods Holdings Ltd.", "CHINA FOODS HOLDINGS"),  # HOLDINGS is part of the name
    ("UNIVERSAL DISPLAY CORP \\PA\\", "UNIVERSAL DISPLAY"),
    ("CANADIAN IMPERIAL BANK OF COMMERCE /CAN/", "CANADIAN IMPERIAL BANK OF COMMERCE"),
    ("PG&E Corp", "PG AND E"),
    ("The Walt Disney Company", "WALT DISNEY"),
    ("Ｓｉｎｏｐｅｃ　Ｃｏ．，Ｌｔｄ．", "SINOPEC"),  # full-width letters, spaces and punctuation
    ("Banco Santander, S.A.", "BANCO SANTANDER"),
    ("万科企业股份有限公司", "万科企业"),
    ("萬科企業股份有限公司", "萬科企業"),  # traditional stays traditional: no conversion
    ("LTD", "LTD"), ("", None), (None, None),
])
def test_names_are_normalised_by_the_documented_steps_only(name: str | None, normal: str | None) -> None:
    assert normalise_name(name) == normal


# --------------------------------------------------------------------------------------------------
# The real lists: one exact link, none of the coincidences
# --------------------------------------------------------------------------------------------------


def test_the_real_lists_hold_the_coincidences_that_partial_evidence_would_link(real_lists: dict) -> None:
    """What a looser rule would link: each pair is in the captured lists, and each is two companies."""
    sec = {(r["issuer_id"], r["ticker"]): r["name"] for r in real_lists[SEC]}
    hkex = {r["issuer_id"]: r["name"] for r in real_lists[HKEX]}
    # Yunji Inc. (云集, YJ) and HKEX 02670 YUNJI (云迹科技): equal names once the legal suffix goes
    assert normalise_name(sec[("1759614", "YJ")]) == normalise_name(hkex["02670"]) == "YUNJI"
    # SITC International (HKEX 01308) and SITE Centers (SEC ticker SITC): a short name equal to a ticker
    assert hkex["01308"] == "SITC" and sec[("894315", "SITC")] == "SITE Centers Corp."
    # China Foods Ltd (HKEX 00506) and China Foods Holdings Ltd. (SEC CFOO): equal if HOLDINGS were a legal form
    assert hkex["00506"] == "CHINA FOODS" and sec[("1310630", "CFOO")] == "China Foods Holdings Ltd."
    # HSBC: the same company, but only its short name agrees: the reviewed list links it, not a rule
    assert normalise_name(sec[("1089113", "HSBC")]) == normalise_name(hkex["00005"])


def test_on_the_real_lists_only_the_secondary_listing_links(real_lists: dict) -> None:
    every = securities(real_lists[SEC] + real_lists[CNINFO] + real_lists[HKEX])
    links = build_links(every, NO_ISSUERS, []).to_pylist()
    assert [(r["link_id"], r["source"], r["issuer_id"], r["ticker"], r["name"]) for r in links] == [
        ("hkex:03660", HKEX, "03660", "3660.HK", "QFIN-S"),
        ("hkex:03660", SEC, "1741530", "QFIN", "Qifu Technology, Inc."),
    ]
    assert {r["rule"] for r in links} == {SECONDARY_LISTING_TICKER} and {r["matched_value"] for r in links} == {"QFIN"}
    assert {r["confidence"] for r in links} == {r["link_confidence"] for r in links} == {"medium"}
    assert links[0]["link_name"] == "Qifu Technology, Inc." and links[0]["linked_to"] == "sec_edgar:1741530"
    assert links[0]["exchange"] == "HKEX" and links[1]["exchange"] == "SEC"
    assert 'short name "QFIN-S"' in links[0]["evidence"] and (links[0]["valid_from"], links[0]["valid_to"]) == (LIST_DAY, None)


def test_sec_and_cninfo_lists_share_no_evidence(real_lists: dict) -> None:
    """English full names and Chinese short names: no rule can compare them, so no link."""
    assert build_links(securities(real_lists[SEC] + real_lists[CNINFO]), NO_ISSUERS, []).num_rows == 0


def test_a_ticker_two_issuers_held_links_nothing(real_lists: dict) -> None:
    reused = _security(SEC, "9999999", "QFIN", "QFIN", "Some Other Co", valid_from=date(2010, 1, 1),
                       valid_to=date(2012, 1, 1))
    every = securities(real_lists[SEC] + real_lists[HKEX] + [reused])
    assert build_links(every, NO_ISSUERS, []).num_rows == 0


def test_a_secondary_listing_links_only_while_both_names_were_listed() -> None:
    hk = _security(HKEX, "03660", "03660", "3660.HK", "QFIN-S", valid_from=date(2022, 11, 29))
    before = _security(SEC, "1741530", "QFIN", "QFIN", "360 DigiTech", valid_from=date(2018, 12, 14),
                       valid_to=date(2022, 1, 1))
    assert build_links(securities([hk, before]), NO_ISSUERS, []).num_rows == 0
    during = {**before, "valid_to": date(2023, 3, 1)}
    rows = build_links(securities([hk, during]), NO_ISSUERS, []).to_pylist()
    assert {(r["valid_from"], r["valid_to"]) for r in rows} == {(date(2022, 11, 29), date(2023, 3, 1))}


# --------------------------------------------------------------------------------------------------
# full_name, with sources that give full Chinese names (none of ours does yet)
# --------------------------------------------------------------------------------------------------


class FullNamesCninfo(Cninfo):
    name_kind: ClassVar[NameKind] = NameKind("zh", full=True)


class FullNamesHkex(Hkex):
    name_kind: ClassVar[NameKind] = NameKind("zh", full=True)


FULL_NAME_SOURCES = [FullNamesCninfo(), FullNamesHkex(), get_source(SEC)]


def test_one_full_chinese_name_in_two_sources_links_them() -> None:
    rows = [_security(CNINFO, "gssz0000002", "000002", "000002.SZ", "万科企业股份有限公司", exchange="SZSE"),
            _security(HKEX, "02202", "02202", "2202.HK", "万科企业股份有限公司", exchange="HKEX")]
    links = build_links(securities(rows), NO_ISSUERS, [], FULL_NAME_SOURCES).to_pylist()
    assert [(r["source"], r["rule"], r["confidence"], r["matched_value"]) for r in links] == [
        (CNINFO, FULL_NAME, "high", "万科企业"), (HKEX, FULL_NAME, "high", "万科企业")]
    assert links[0]["link_id"] == "cninfo:gssz0000002" and links[0]["link_confidence"] == "high"
    # with the real sources these are short names: nothing
    assert build_links(securities(rows), NO_ISSUERS, []).num_rows == 0


@pytest.mark.parametrize(("hk_name", "linked"), [
    ("萬科企業股份有限公司", False),  # traditional characters: another string, no conversion
    ("万科A", False),  # a short name
    ("万科企业有限公司", True),  # legal forms are dropped, whichever one it is
    ("ＶＡＮＫＥ", False),  # another language
])
def test_full_names_link_only_when_equal_once_normalised(hk_name: str, linked: bool) -> None:
    rows = [_security(CNINFO, "gssz0000002", "000002", "000002.SZ", "万科企业股份有限公司"),
            _security(HKEX, "02202", "02202", "2202.HK", hk_name)]
    assert build_links(securities(rows), NO_ISSUERS, [], FULL_NAME_SOURCES).num_rows == (2 if linked else 0)


def test_a_full_name_two_issuers_of_one_source_share_links_nothing() -> None:
    rows = [_security(CNINFO, "gssz0000002", "000002", "000002.SZ", "万科企业股份有限公司"),
            _security(CNINFO, "gssz0000999", "000999", "000999.SZ", "万科企业股份有限公司"),
            _security(HKEX, "02202", "02202", "2202.HK", "万科企业股份有限公司")]
    assert build_links(securities(rows), NO_ISSUERS, [], FULL_NAME_SOURCES).num_rows == 0


# --------------------------------------------------------------------------------------------------
# The reviewed list
# --------------------------------------------------------------------------------------------------


def test_the_shipped_reviewed_list_loads_whole_with_its_sources_cited() -> None:
    curated = load_curated(PROJECT_ROOT / "include" / "issuer_links.yaml")
    assert curated.refused == []
    assert {link.id: [m[:2] for m in link.members] for link in curated.links} == {
        "china-vanke": [(CNINFO, "gssz0000002"), (HKEX, "02202")],
        "hsbc-holdings": [(SEC, "1089113"), (HKEX, "00005")],
    }
    assert all(link.references and link.evidence for link in curated.links)


def test_bad_reviewed_entries_are_refused_one_by_one(tmp_path: Path) -> None:
    good = {"id": "ok", "name": "A", "members": [{"issuer": "cninfo:X1"}, {"issuer": "hkex:00001"}],
            "evidence": "e", "references": ["https://example.org/a"]}
    bad = {
        "one-member": {**good, "id": "one-member", "members": [{"issuer": "cninfo:X2"}, {"issuer": "cninfo:X2"}]},
        "no-source": {**good, "id": "no-source", "members": [{"issuer": "nasdaq:ZH"}, {"issuer": "hkex:02390"}]},
        "uncited": {**good, "id": "uncited", "members": [{"issuer": "cninfo:X3"}, {"issuer": "hkex:00003"}],
                    "references": []},
        "taken": {**good, "id": "taken", "members": [{"issuer": "cninfo:X1"}, {"issuer": "hkex:00004"}]},
        "Bad Id": {**good, "id": "Bad Id", "members": [{"issuer": "cninfo:X5"}, {"issuer": "hkex:00005"}]},
    }
    path = tmp_path / "links.yaml"
    path.write_text(json.dumps({"links": [good, *bad.values()]}), encoding="utf-8")  # JSON is YAML
    curated = load_curated(path)
    assert [link.id for link in curated.links] == ["ok"]
    assert {r["entry"] for r in curated.refused} == set(bad)
    assert "already in entry 'ok'" in next(r["reason"] for r in curated.refused if r["entry"] == "taken")
    path.write_text("links: [", encoding="utf-8")
    assert load_curated(path).links == [] and "not YAML" in load_curated(path).refused[0]["reason"]


def test_reviewed_and_rule_evidence_chain_into_one_link(real_lists: dict) -> None:
    """A reviewed A+H pair whose H share is also a secondary listing: one link over three markets, medium."""
    curated = [CuratedLink("qifu", "Qifu Technology", ((CNINFO, "gssz0000099", "000099.SZ"), (HKEX, "03660", None)),
                           "synthetic entry", ("https://example.org/qifu",))]
    every = securities(real_lists[SEC] + real_lists[HKEX])
    rows = build_links(every, NO_ISSUERS, curated).to_pylist()
    assert {(r["source"], r["issuer_id"], r["rule"]) for r in rows} == {
        (CNINFO, "gssz0000099", CURATED), (HKEX, "03660", CURATED), (SEC, "1741530", SECONDARY_LISTING_TICKER)}
    assert {r["link_id"] for r in rows} == {"qifu"} and {r["link_confidence"] for r in rows} == {"medium"}
    assert next(r["ticker"] for r in rows if r["source"] == CNINFO) == "000099.SZ"  # from the entry: no list names it


# --------------------------------------------------------------------------------------------------
# Published and queried: an A+H pair built here
# --------------------------------------------------------------------------------------------------

A_SHARE, H_SHARE = ("gssz0000002", "000002.SZ"), ("02202", "2202.HK")


def _filing(source: str, issuer_id: str, ticker: str, native_id: str, day: date, title: str) -> dict:
    seen = datetime(2026, 1, 5, tzinfo=UTC)
    return {"filing_id": f"{source}:{native_id}", "issuer_id": issuer_id, "source": source, "exchange": None,
            "native_id": native_id, "ticker": ticker, "company_name": None, "company_names": [], "form_type": None,
            "form_types": [], "title": title, "title_clean": title, "language": "zh", "filed_at": None,
            "filing_date": day, "filing_month": day.strftime("%Y-%m"), "document_url": None,
            "raw_key": "raw/test", "first_seen_at": seen, "last_seen_at": seen, "categories": None}


def _write(storage: Storage, name: str, rows: list[dict], schema: pa.Schema, partitions: tuple[str, ...]) -> None:
    from deltalake import write_deltalake

    target = delta.ensure_table(storage, name, schema, partitions)
    write_deltalake(target, delta.conform(pa.Table.from_pylist(rows, schema=schema), schema), mode="overwrite")


@pytest.fixture
def a_plus_h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Storage, Path]:
    """A lake with a synthetic A+H company's filings in both markets, one unrelated issuer, and a reviewed list."""
    reviewed = tmp_path / "issuer_links.yaml"
    reviewed.write_text(
        "links:\n  - id: test-a-plus-h\n    name: Test A+H Co\n    members:\n"
        f'      - {{issuer: "cninfo:{A_SHARE[0]}", ticker: "{A_SHARE[1]}"}}\n'
        f'      - {{issuer: "hkex:{H_SHARE[0]}", ticker: "{H_SHARE[1]}"}}\n'
        "    evidence: synthetic pair for the test\n    references: [https://example.org/test]\n"
        "    valid_from: 2014-06-25\n", encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())
    monkeypatch.setenv("FILINGLAKE_ISSUER_LINKS", str(reviewed))
    storage = Storage.from_settings(load_settings())
    day = date(2025, 3, 27)
    filings = [
        _filing(CNINFO, A_SHARE[0], A_SHARE[1], "1222", day, "2024年年度报告"),
        _filing(CNINFO, A_SHARE[0], A_SHARE[1], "1223", day + timedelta(days=1), "董事会决议公告"),
        _filing(HKEX, H_SHARE[0], H_SHARE[1], "117", day, "ANNUAL RESULTS ANNOUNCEMENT"),
        _filing(CNINFO, "gssz0000001", "000001.SZ", "1224", day, "平安银行年度报告"),  # not linked
    ]
    _write(storage, "filings", filings, PUBLISHED_FILINGS_SCHEMA, ("source", "filing_month"))
    issuers = [{"source": f["source"], "issuer_id": f["issuer_id"], "ticker": f["ticker"], "tickers": [f["ticker"]]}
               for f in filings]
    _write(storage, "issuers", issuers, ISSUERS_SCHEMA, ("source",))
    _write(storage, "securities", [_security(CNINFO, A_SHARE[0], "000002", A_SHARE[1], "万科A", exchange="SZSE")],
           SECURITIES_SCHEMA, ("source",))
    return storage, reviewed


def test_one_statement_gives_an_a_plus_h_company_s_filings_in_both_markets(a_plus_h: tuple[Storage, Path]) -> None:
    storage, _ = a_plus_h
    counts = refresh_links(storage)
    assert (counts["links"], counts["rows"], counts["written"]) == (1, 2, True)
    links = read_links(storage).to_pylist()
    assert [(r["source"], r["issuer_id"], r["exchange"], r["ticker"], r["name"]) for r in links] == [
        (CNINFO, A_SHARE[0], "SZSE", A_SHARE[1], "万科A"), (HKEX, H_SHARE[0], "HKEX", H_SHARE[1], None)]
    assert {r["valid_from"] for r in links} == {date(2014, 6, 25)} and {r["rule"] for r in links} == {CURATED}
    expected = {"cninfo:1222", "cninfo:1223", "hkex:117"}
    for key in (A_SHARE[1], H_SHARE[1], "hkex:02202", "test-a-plus-h"):  # any of its names gives all of it
        found = run_query(f"SELECT link_id, filing_id FROM company_filings('{key}')", storage=storage).to_pylist()
        assert {r["filing_id"] for r in found} == expected, key
        assert {r["link_id"] for r in found} == {"test-a-plus-h"}
    across = run_query("SELECT source, count(*) AS n FROM filings_across_markets WHERE link_id = 'test-a-plus-h' "
                       "GROUP BY source ORDER BY source", storage=storage).to_pylist()
    assert across == [{"source": CNINFO, "n": 2}, {"source": HKEX, "n": 1}]
    alone = run_query("SELECT link_id, filing_id FROM company_filings('000001.SZ')", storage=storage).to_pylist()
    assert alone == [{"link_id": None, "filing_id": "cninfo:1224"}]  # an unlinked issuer: its own filings


def test_links_are_rebuilt_only_when_their_inputs_change(a_plus_h: tuple[Storage, Path]) -> None:
    storage, reviewed = a_plus_h
    refresh_links(storage)
    version = delta.open_table(storage, ISSUER_LINKS).version()
    again = refresh_links(storage)
    assert (again["rebuilt"], again["written"]) == (False, False)
    forced = refresh_links(storage, force=True)  # recomputed, same rows: nothing committed
    assert (forced["rebuilt"], forced["written"]) == (True, False)
    assert delta.open_table(storage, ISSUER_LINKS).version() == version
    reviewed.write_text(reviewed.read_text(encoding="utf-8").replace("Test A+H Co", "Test A+H Company"),
                        encoding="utf-8")
    changed = refresh_links(storage)
    assert (changed["rebuilt"], changed["written"]) == (True, True)
    assert {r["link_name"] for r in read_links(storage).to_pylist()} == {"Test A+H Company"}


def test_every_source_declares_its_name_kind() -> None:
    for source in all_sources():
        assert source.name_kind is not None and source.name_kind.language in ("en", "zh"), source.name_kind


def test_the_demo_publishes_the_reviewed_links_and_the_one_rule_link(demo_lake: Storage) -> None:
    """The demo archives the SEC, CNINFO and HKEX lists: the reviewed entries and the secondary listing link."""
    rows = read_links(demo_lake).to_pylist()
    assert [(r["link_id"], r["source"], r["issuer_id"], r["exchange"], r["ticker"], r["name"]) for r in rows] == [
        ("china-vanke", CNINFO, "gssz0000002", "SZSE", "000002.SZ", "万科A"),  # from CNINFO's stock list
        ("china-vanke", HKEX, "02202", "HKEX", "2202.HK", "CHINA VANKE"),  # from HKEX's stock list
        ("hkex:03660", HKEX, "03660", "HKEX", "3660.HK", "QFIN-S"),
        ("hkex:03660", SEC, "1741530", "SEC", "QFIN", "Qifu Technology, Inc."),
        ("hsbc-holdings", HKEX, "00005", "HKEX", "0005.HK", "HSBC HOLDINGS"),
        ("hsbc-holdings", SEC, "1089113", "SEC", "HSBC", "HSBC HOLDINGS PLC"),  # from company_tickers.json
    ]
    assert {(r["link_id"], r["rule"], r["confidence"], r["link_confidence"]) for r in rows} == {
        ("china-vanke", CURATED, "high", "high"), ("hsbc-holdings", CURATED, "high", "high"),
        ("hkex:03660", SECONDARY_LISTING_TICKER, "medium", "medium")}
    assert next(r for r in rows if r["issuer_id"] == "00005")["linked_to"] == "sec_edgar:1089113"
    assert all("https://" in r["evidence"] or "http://" in r["evidence"] for r in rows if r["rule"] == CURATED)
    # publishing again changes nothing: the inputs are the same
    assert refresh_links(demo_lake)["rebuilt"] is False
