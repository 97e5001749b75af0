"""Watchlists, alert matching, the alerts table and document capture (the notifier: test_notifier.py).

Matching runs on rows parsed from the real fixtures (SEC daily master, CNINFO query page, HKEX
title search); expectations are computed independently from the fixture files with Python's own
string handling. Documents and webhooks are served by local servers on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pyarrow as pa
import pytest
from fakes import hkex as hkex_fake
from fakes.replay import Reply

from filinglake.alerts import documents
from filinglake.alerts.matching import match_watchlist
from filinglake.alerts.record import read_alerts, record_alerts
from filinglake.alerts.watchlist import Watchlist, WatchlistError, load_watchlist, parse_watchlist
from filinglake.config import PROJECT_ROOT, Settings
from filinglake.sources import cninfo, get_source, hkex
from filinglake.storage import Storage

SEC_DAILY = "edgar/daily/master.20260102.excerpt.idx"
CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
PDF_BYTES = b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n"


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def settings_for(tmp_path: Path, roots: dict[str, dict[str, str]] | None = None, **changes) -> Settings:
    """Fast pacing for every source; ``roots``: source → its root settings pointed at a stand-in."""
    base = Settings(storage=(tmp_path / "store").as_uri(), sec_user_agent="filinglake-tests ops@example.com",
                    http_retries=1)
    base = base.with_source("sec_edgar", rate=10).with_source("cninfo", rate=50).with_source("hkex", rate=50)
    for source, values in (roots or {}).items():
        base = base.with_source(source, **values)
    return dataclasses.replace(base, **changes)


def sec_rows(fixtures_dir: Path) -> pa.Table:
    return get_source("sec_edgar").parse((fixtures_dir / SEC_DAILY).read_bytes(), "master.20260102.idx")


def hkex_rows(fixtures_dir: Path) -> pa.Table:
    return hkex.rows_to_table(hkex_fake.fixture_rows(fixtures_dir), "en")


def cninfo_rows(fixtures_dir: Path) -> pa.Table:
    return cninfo.parse_query_page((fixtures_dir / CNINFO_PAGE).read_bytes(), "page4.json")


def one_entry(yaml_text: str) -> Watchlist:
    return parse_watchlist("entries:\n" + yaml_text)


def rows(*dicts: dict) -> pa.Table:
    """Hand-written published-shape rows (only the columns matching reads)."""
    names = ["filing_id", "source", "issuer_id", "ticker", "company_name", "form_type", "title", "title_clean",
             "document_url"]
    return pa.table({n: pa.array([d.get(n) for d in dicts], pa.string()) for n in names})


# ------------------------------------------------------------------------------------------------
# watchlist files
# ------------------------------------------------------------------------------------------------


def test_default_watchlist_loads_with_the_design_examples():
    watchlist = load_watchlist(PROJECT_ROOT / "include" / "watchlist.yaml")
    dahua = watchlist.entry("dahua-xinjiang")
    assert dahua.tickers == ("002236.SZ",)
    assert set(dahua.words) == {"Xinjiang", "新疆"}
    hikvision = watchlist.entry("hikvision-xinjiang")
    assert hikvision.tickers == ("002415.SZ",)
    ids = [e.id for e in watchlist.entries]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  - id: a\n    ticker: [X.SZ]\n", r":2: entry 'a': unknown field 'ticker'"),
        ("  - id: a\n    stock_codes: [00007]\n", r":2: entry 'a': field 'stock_codes': write codes in quotes"),
        ("  - id: a\n    words: [x]\n  - id: a\n    words: [y]\n", r":3: entry id 'a' is used twice \(first on line 1\)"),
        ("  - id: a\n    words: [x\n", r":\d+: not valid YAML"),
        ("  - id: a\n    name: nothing to match\n", r":1: entry 'a' has no criteria"),
        ("  - id: a\n    words: [x]\n    sources: [nasdaq]\n", r":3: entry 'a': field 'sources': unknown source 'nasdaq'"),
        ("  - id: a\n    ciks: [CIK320193]\n", r":2: entry 'a': field 'ciks': 'CIK320193' is not a CIK"),
        ("  - id: 'bad id!'\n    words: [x]\n", r":1: entry 'bad id!': field 'id': must be a stable identifier"),
        ("  - id: a\n    words: [yes]\n", r":2: entry 'a': field 'words': True was read as a yes/no value"),
        ("  - id: a\n    words: ['']\n", r":2: entry 'a': field 'words': an empty value"),
        ("  - words: [x]\n", r":1: entry '#1': field 'id': required"),
        ("  - id: a\n    words:\n      - x\n      - [y]\n", r":4: entry 'a': field 'words': holds a nested list"),
        ("  - id: a\n    tickers: {x: 1}\n", r":2: entry 'a': field 'tickers': must be a list, not a mapping"),
        ("  - id: a\n    name: [x]\n    words: [x]\n", r":2: entry 'a': field 'name': must be text"),
        ("  - id: a\n    stock_codes: ['7']\n", r":2: entry 'a': field 'stock_codes': '7' is not a stock code"),
        ("  - just text\n", r":1: entry #1 must be a mapping with an 'id'"),
        ("  - id: a\n    words: [x]\nextra: 1\n", r":3: unknown top-level field 'extra' \(only 'entries'\)"),
        ("  - id: a\n    words: ['{0} {x}']\n    sources: ['{y}']\n", r":3: entry 'a': field 'sources': unknown source '\{y\}'"),
    ],
)
def test_malformed_watchlist_names_line_and_field(tmp_path: Path, text: str, expected: str):
    # The file starts with "entries:" on line 0 of `text`'s numbering + 1, so lines below are offset by one.
    file = tmp_path / "watchlist.yaml"
    file.write_text("entries:\n" + text, encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(file)
    message = str(caught.value)
    assert message.startswith(str(file) + ":")
    shifted = re.sub(r":(\d+):", lambda m: f":{int(m.group(1)) + 1}:", expected, count=1)
    shifted = re.sub(r"first on line (\d+)", lambda m: f"first on line {int(m.group(1)) + 1}", shifted)
    assert re.search(shifted, message), message
    assert "\n" not in message


def test_watchlist_file_missing_or_wrong_shape(tmp_path: Path):
    with pytest.raises(WatchlistError, match="watchlist file not found"):
        load_watchlist(tmp_path / "nope.yaml")
    with pytest.raises(WatchlistError, match=r":1: expected a mapping with an 'entries' list"):
        parse_watchlist("- id: a\n  words: [x]\n", "w.yaml")
    assert len(parse_watchlist("entries:\n", "w.yaml")) == 0


def alias_bomb() -> str:
    """The "billion laughs" of YAML: 423 bytes, nine levels of nine aliases, 9**9 strings when expanded."""
    levels = ["a: &a [" + ",".join(['"lolololol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "entries:\n" + "".join(f"  {level}\n" for level in levels)


def test_an_alias_bomb_is_refused_before_anything_is_built(tmp_path: Path):
    # Before the bound this file took 80 s and ran out of a 1.5 GB address space (MemoryError).
    import tracemalloc

    file = tmp_path / "watchlist.yaml"
    file.write_text(alias_bomb(), encoding="utf-8")
    assert len(file.read_bytes()) == 423
    tracemalloc.start()
    try:
        with pytest.raises(WatchlistError) as caught:
            load_watchlist(file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (f"{file}:6: more than 32 YAML aliases (*name); write the values out "
                                 "(a file of aliases can expand without bound)")
    assert peak < 1_000_000  # bytes: the event stream is counted, no node list is ever expanded


def test_few_aliases_of_a_long_list_are_refused_by_the_expanded_size():
    words = "[" + ", ".join(f"w{i}" for i in range(5_000)) + "]"
    entries = "".join(f"  - id: e{i}\n    words: *many\n" for i in range(25))
    with pytest.raises(WatchlistError, match=r"^w.yaml:1: the document expands to more than 100,000 YAML nodes"):
        parse_watchlist(f"shared: &many {words}\nentries:\n{entries}", "w.yaml")
    with pytest.raises(WatchlistError, match=r"^w.yaml:2: a YAML alias refers to itself"):
        parse_watchlist("entries:\n  - &x\n    id: a\n    words: *x\n", "w.yaml")


def test_a_shared_word_list_may_use_an_alias():
    watchlist = parse_watchlist("entries:\n  - id: a\n    words: &xj [Xinjiang, 新疆]\n"
                                "  - id: b\n    tickers: [002415.sz]\n    words: *xj\n")
    assert watchlist.entry("b").words == ("Xinjiang", "新疆") == watchlist.entry("a").words
    assert watchlist.entry("b").tickers == ("002415.SZ",)


# ------------------------------------------------------------------------------------------------
# matching on real rows
# ------------------------------------------------------------------------------------------------


def _whole_word(word: str, texts: list[str | None]) -> bool:
    pattern = re.compile(r"\b" + re.escape(word) + r"\b", re.IGNORECASE | re.ASCII)
    return any(t and pattern.search(unicodedata.normalize("NFKC", t)) for t in texts)


def test_english_words_and_stock_code_on_hkex_fixture(fixtures_dir: Path):
    raw = hkex_fake.fixture_rows(fixtures_dir)
    table = hkex_rows(fixtures_dir)
    watchlist = one_entry("  - id: wisdom\n    stock_codes: ['00007']\n    words: [LISTING COMMITTEE, suspension]\n")
    matched = match_watchlist(table, watchlist)

    # Independent expectation: Python's re over the fixture's own title (unescaped) and stock name.
    import html as htmllib

    expected = {
        f"hkex:{r['NEWS_ID']}"
        for r in raw
        if "00007" in r["STOCK_CODE"].split("<br/>")
        and any(_whole_word(w, [r["TITLE"], htmllib.unescape(r["TITLE"]), r["STOCK_NAME"]])
                for w in ("listing committee", "suspension"))
    }
    assert len(expected) > 20  # the fixture has many suspension notices: a real test, not an empty one
    assert set(matched["filing_id"].to_pylist()) == expected
    assert matched.num_rows == len(expected)
    labels = set(matched["matched_on"].to_pylist())
    assert labels <= {"stock_code:00007 & word:LISTING COMMITTEE", "stock_code:00007 & word:suspension"}
    assert "stock_code:00007 & word:suspension" in labels


def test_chinese_words_on_cninfo_fixture(fixtures_dir: Path):
    payload = json.loads((fixtures_dir / CNINFO_PAGE).read_text(encoding="utf-8"))
    table = cninfo_rows(fixtures_dir)
    watchlist = one_entry("  - id: annual\n    tickers: [000001.sz]\n    words: [年度报告]\n"
                          "  - id: sdb\n    words: [深发展A]\n")  # half-width A matches the fixture's full-width Ａ
    matched = match_watchlist(table, watchlist)
    by_entry: dict[str, set[str]] = {"annual": set(), "sdb": set()}
    for entry_id, filing_id in zip(matched["entry_id"].to_pylist(), matched["filing_id"].to_pylist(), strict=True):
        by_entry[entry_id].add(filing_id)
    annual = {f"cninfo:{a['announcementId']}" for a in payload["announcements"] if "年度报告" in a["announcementTitle"]}
    sdb = {
        f"cninfo:{a['announcementId']}"
        for a in payload["announcements"]
        if "深发展A" in unicodedata.normalize("NFKC", a["announcementTitle"] + (a["secName"] or ""))
    }
    assert annual == {"cninfo:573256", "cninfo:573581"}
    assert by_entry["annual"] == annual
    assert by_entry["sdb"] == sdb and len(sdb) >= 6


def test_sec_cik_and_form_types_on_fixture(fixtures_dir: Path):
    lines = (fixtures_dir / SEC_DAILY).read_text().splitlines()
    data = [line.split("|") for line in lines if re.match(r"^\d+\|", line)]
    expected = {f"sec_edgar:{d[4].rsplit('/', 1)[1].removesuffix('.txt')}" for d in data
                if d[0] == "1000275" and d[2] in ("424B2", "424B5")}
    watchlist = one_entry("  - id: rbc\n    ciks: ['0001000275']\n    form_types: [424b2, 424B5]\n")
    matched = match_watchlist(sec_rows(fixtures_dir), watchlist)
    assert set(matched["filing_id"].to_pylist()) == expected and len(expected) == 5


def test_issuer_and_word_groups_must_both_match():
    table = rows(
        {"filing_id": "cninfo:1", "source": "cninfo", "issuer_id": "gssz0002236", "ticker": "002236.SZ",
         "company_name": "大华股份", "title": "关于终止新疆项目的公告"},
        {"filing_id": "cninfo:2", "source": "cninfo", "issuer_id": "gssz0002236", "ticker": "002236.SZ",
         "company_name": "大华股份", "title": "2024年年度报告"},
        {"filing_id": "cninfo:3", "source": "cninfo", "issuer_id": "gssz0002415", "ticker": "002415.SZ",
         "company_name": "海康威视", "title": "关于新疆项目的说明"},
        {"filing_id": "hkex:4", "source": "hkex", "issuer_id": "01234", "ticker": "1234.HK",
         "company_name": "SOME CO", "title": "Exit from the XINJIANG joint venture"},
        {"filing_id": "sec_edgar:5", "source": "sec_edgar", "issuer_id": "42", "company_name": "Xinjiangtech Corp"},
        {"filing_id": "hkex:6", "source": "hkex", "issuer_id": "01235", "company_name": "FULL WIDTH",
         "title": "ＸＩＮＪＩＡＮＧ update"},
    )
    watchlist = load_watchlist(PROJECT_ROOT / "include" / "watchlist.yaml")
    matched = match_watchlist(table, watchlist)
    found = {(e, f) for e, f in zip(matched["entry_id"].to_pylist(), matched["filing_id"].to_pylist(), strict=True)}
    assert ("dahua-xinjiang", "cninfo:1") in found
    assert ("dahua-xinjiang", "cninfo:2") not in found  # Dahua, but no Xinjiang
    assert ("hikvision-xinjiang", "cninfo:3") in found
    anywhere = {f for e, f in found if e == "xinjiang-anywhere"}
    # Whole words for Latin: "Xinjiangtech" is not "Xinjiang"; full-width letters are normalised.
    assert anywhere == {"cninfo:1", "cninfo:3", "hkex:4", "hkex:6"}
    labels = {(e, f): m for e, f, m in zip(matched["entry_id"].to_pylist(), matched["filing_id"].to_pylist(),
                                             matched["matched_on"].to_pylist(), strict=True)}
    assert labels[("dahua-xinjiang", "cninfo:1")] == "ticker:002236.SZ & word:新疆"


def test_stock_codes_do_not_cross_markets():
    table = rows(
        {"filing_id": "cninfo:1", "source": "cninfo", "issuer_id": "gssz0000001", "ticker": "000001.SZ", "title": "x"},
        {"filing_id": "hkex:2", "source": "hkex", "issuer_id": "00001", "ticker": "0001.HK", "title": "x"},
    )
    hk = match_watchlist(table, one_entry("  - id: hk\n    stock_codes: ['00001']\n"))
    cn = match_watchlist(table, one_entry("  - id: cn\n    stock_codes: ['000001']\n"))
    assert hk["filing_id"].to_pylist() == ["hkex:2"]
    assert cn["filing_id"].to_pylist() == ["cninfo:1"]


def test_form_types_list_column_and_sources_filter():
    table = rows({"filing_id": "sec_edgar:1", "source": "sec_edgar", "issuer_id": "7", "form_type": "10-K"},
                 {"filing_id": "hkex:2", "source": "hkex", "issuer_id": "00002", "form_type": "8-K"})
    table = table.append_column("form_types", pa.array([["10-K", "8-K"], ["8-K"]], pa.list_(pa.string())))
    both = match_watchlist(table, one_entry("  - id: f\n    form_types: [8-k]\n"))
    assert both["filing_id"].to_pylist() == ["sec_edgar:1", "hkex:2"]
    sec_only = match_watchlist(table, one_entry("  - id: f\n    form_types: [8-K]\n    sources: [sec_edgar]\n"))
    assert sec_only["filing_id"].to_pylist() == ["sec_edgar:1"]


# ------------------------------------------------------------------------------------------------
# the alerts table
# ------------------------------------------------------------------------------------------------


def test_alerts_are_not_repeated_on_rerun(tmp_path: Path, fixtures_dir: Path, replay_server):
    table = sec_rows(fixtures_dir)
    first_doc = "/Archives/edgar/data/1000275/000095010326000007/0000950103-26-000007-index.htm"
    page = b"<!doctype html><html><head><title>Filing index</title></head><body>424B2</body></html>"
    server = replay_server({("GET", first_doc): Reply(body=page, content_type="text/html; charset=utf-8")})
    settings = settings_for(tmp_path, {"sec_edgar": {"base_url": server.url + "/Archives/edgar"}})
    storage = Storage.from_settings(settings)
    watchlist = one_entry("  - id: rbc\n    name: RBC prospectuses\n    ciks: [1000275]\n"
                          "    form_types: [424B2, 424B5]\n")

    new = record_alerts(storage, settings, watchlist, rows=table)
    assert len(new) == 5
    assert {a["alert_id"] for a in new} == {
        hashlib.sha256(f"rbc\x1f{a['filing_id']}\x1f1000275".encode()).hexdigest() for a in new
    }
    captured = [a for a in new if a["document_key"]]
    assert len(captured) == 1 and captured[0]["document_bytes"] == len(page)
    assert captured[0]["document_sha256"] == hashlib.sha256(page).hexdigest()
    assert captured[0]["document_content_type"] == "text/html"
    assert storage.get_bytes(captured[0]["document_key"]) == page
    failed = [a for a in new if not a["document_key"]]
    assert len(failed) == 4 and all(a["document_error"] == "DocumentError: HTTP 404" for a in failed)
    json.dumps(new)  # XCom-ready

    requests_after_first = len(server.requests)
    assert record_alerts(storage, settings, watchlist, rows=table) == []
    assert record_alerts(storage, settings, watchlist, rows=pa.concat_tables([table, table])) == []
    assert len(server.requests) == requests_after_first  # nothing fetched again
    stored = read_alerts(storage, settings)
    assert stored.num_rows == 5
    assert sorted(stored["alert_id"].to_pylist()) == sorted(a["alert_id"] for a in new)

    # A new entry alerts on the same filings once, without touching the old alerts.
    wider = parse_watchlist("entries:\n  - id: rbc\n    ciks: [1000275]\n    form_types: [424B2, 424B5]\n"
                            "  - id: rbc-all\n    ciks: [1000275]\n")
    added = record_alerts(storage, settings, wider, rows=table, capture_documents=False)
    assert len(added) == 17 and {a["entry_id"] for a in added} == {"rbc-all"}
    assert read_alerts(storage, settings).num_rows == 22


def test_record_alerts_without_matches_writes_nothing(tmp_path: Path, fixtures_dir: Path):
    settings = settings_for(tmp_path)
    storage = Storage.from_settings(settings)
    nothing = one_entry("  - id: z\n    words: [zzzz]\n")
    assert record_alerts(storage, settings, nothing, rows=sec_rows(fixtures_dir)) == []
    assert storage.list("published") == []


def test_alerts_carry_the_decoded_title_beside_the_filed_one(tmp_path: Path, fixtures_dir: Path):
    import json
    from collections import defaultdict

    from filinglake.alerts.record import ALERTS, alert_id
    from filinglake.ingest import landing as pipeline
    from filinglake.publish import delta
    from filinglake.publish.run import publish
    from filinglake.query import run_query
    from filinglake.schema import ALERTS_SCHEMA

    settings = settings_for(tmp_path)
    storage = Storage.from_settings(settings)
    filed = {f"hkex:{r['NEWS_ID']}": r["TITLE"] for r in hkex_fake.fixture_rows(fixtures_dir) if "&#x3b;" in r["TITLE"]}
    by_day: dict[str, list[dict]] = defaultdict(list)
    for row in hkex_fake.fixture_rows(fixtures_dir):
        by_day[row["DATE_TIME"][:10]].append(row)
    for day, day_rows in by_day.items():
        if any(f"hkex:{r['NEWS_ID']}" in filed for r in day_rows):
            partition = "-".join(reversed(day.split("/"))) + "-en"
            ctx = pipeline.Context.build("hkex", partition, settings)
            ref = storage.archive_raw("hkex", partition, "t.json", json.dumps(day_rows).encode(), "https://example.invalid")
            pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})
    publish(storage, settings)
    # An alerts table written before title_clean existed, holding one alert on a filing with "&#x3b;".
    old_id, old_title = sorted(filed.items())[0]
    before = pa.schema([f for f in ALERTS_SCHEMA if f.name != "title_clean"])
    old = {**{name: None for name in before.names}, "alert_id": alert_id("old", old_id, "00007"), "entry_id": "old",
           "filing_id": old_id, "issuer_id": "00007", "title": old_title}
    table = delta.ensure_table(storage, ALERTS, before)
    table.merge(pa.Table.from_pylist([old], schema=before), predicate="t.alert_id = s.alert_id", source_alias="s",
                target_alias="t").when_not_matched_insert_all().execute()
    assert read_alerts(storage, settings)["title_clean"].to_pylist() == [None]  # readable before the upgrade

    watchlist = one_entry("  - id: semicolons\n    stock_codes: ['00007']\n    words: [suspension]\n")
    new = record_alerts(storage, settings, watchlist, capture_documents=False)

    def decoded(title: str) -> str:
        return " ".join(title.replace("&#x3b;", ";").split())

    shown = {a["filing_id"]: a for a in new if a["filing_id"] in filed}
    assert len(shown) >= 5
    for filing_id, alert in shown.items():
        assert (alert["title"], alert["title_clean"]) == (filed[filing_id], decoded(filed[filing_id]))
    # Every file of the table now has the column (the query view reads the Parquet files), the old alert too.
    stored = run_query("SELECT filing_id, entry_id, title, title_clean FROM alerts", storage=storage).to_pylist()
    assert {(r["entry_id"], r["filing_id"]): r["title_clean"] for r in stored} == {
        ("old", old_id): decoded(old_title), **{("semicolons", a["filing_id"]): a["title_clean"] for a in new}}
    assert {r["title"] for r in stored} >= set(filed[f] for f in shown)  # the filed titles stay stored


def test_alerts_command_shows_decoded_titles_as_text(tmp_path: Path, fixtures_dir: Path, monkeypatch, capsys):
    from filinglake.cli.app import main as cli_main

    settings = settings_for(tmp_path)
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)
    monkeypatch.setenv("COLUMNS", "500")  # rich: one line per alert
    storage = Storage.from_settings(settings)
    marked_up = rows({"filing_id": "hkex:1", "source": "hkex", "issuer_id": "00007", "company_name": "WISDOM [/]",
                      "title": "DECISION [/] OF THE [bold]LISTING COMMITTEE[/bold]&#x3b; SUSPENSION",
                      "title_clean": "DECISION [/] OF THE [bold]LISTING COMMITTEE[/bold]; SUSPENSION"})
    watchlist = one_entry("  - id: hk\n    words: [suspension]\n")
    assert len(record_alerts(storage, settings, watchlist, rows=marked_up, capture_documents=False)) == 1

    assert cli_main(["alerts"]) == 0
    shown = capsys.readouterr().out
    assert "DECISION [/] OF THE [bold]LISTING COMMITTEE[/bold]; SUSPENSION" in shown and "WISDOM [/]" in shown
    assert cli_main(["alerts", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    alert = json.loads(line)
    assert alert["title_clean"].endswith("; SUSPENSION") and alert["title"].endswith("&#x3b; SUSPENSION")


# ------------------------------------------------------------------------------------------------
# document capture
# ------------------------------------------------------------------------------------------------

CNINFO_DOC = "https://static.cninfo.com.cn/finalpage/2002-08-14/632064.PDF"  # a real fixture row's document


def test_capture_from_replay_records_sha256_size_and_type(tmp_path: Path, fixtures_dir: Path, replay_server):
    assert CNINFO_DOC in cninfo_rows(fixtures_dir)["document_url"].to_pylist()
    server = replay_server({
        ("GET", "/finalpage/2002-08-14/632064.PDF"): Reply(body=PDF_BYTES, content_type="application/pdf"),
        ("GET", "/finalpage/2002-04-22/576602.PDF"): Reply(body=PDF_BYTES, content_type="application/octet-stream"),
    })
    settings = settings_for(tmp_path, {"cninfo": {"static_url": server.url}})
    storage = Storage.from_settings(settings)

    record = documents.capture(storage, settings, CNINFO_DOC, "cninfo")
    assert record["new"] is True
    assert record["key"].startswith("raw/documents/source=cninfo/")
    assert record["key"].endswith(f"{hashlib.sha256(PDF_BYTES).hexdigest()[:16]}-632064.PDF")
    assert (record["sha256"], record["size"], record["content_type"]) == (
        hashlib.sha256(PDF_BYTES).hexdigest(), len(PDF_BYTES), "application/pdf")
    assert storage.get_bytes(record["key"]) == PDF_BYTES
    meta = storage.get_json(record["key"] + ".meta.json")
    assert meta["url"] == CNINFO_DOC and meta["sha256"] == record["sha256"] and meta["fetched_at"]
    assert server.requests[0].path == "/finalpage/2002-08-14/632064.PDF"

    again = documents.capture(storage, settings, CNINFO_DOC, "cninfo")
    assert again["new"] is False and again["key"] == record["key"] and again["fetched_at"] == record["fetched_at"]
    # Identical bytes from another URL are stored once (the type is sniffed from the bytes).
    other = documents.capture(storage, settings, "https://static.cninfo.com.cn/finalpage/2002-04-22/576602.PDF",
                              "cninfo")
    assert other["key"] == record["key"] and other["new"] is False
    assert len([k for k in storage.list("raw/documents") if not k.endswith(".meta.json")]) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/listedco/x.pdf",
        "https://www1.hkexnews.hk.evil.example.com/x.pdf",
        "https://www1.hkexnews.hk@evil.example.com/x.pdf",
        "ftp://www1.hkexnews.hk/x.pdf",
        "https://www1.hkexnews.hk:8443/x.pdf",
        "https://static.cninfo.com.cn/finalpage/x.pdf",  # a CNINFO host is not an HKEX host
    ],
)
def test_capture_refused_for_a_foreign_host(tmp_path: Path, replay_server, url: str):
    server = replay_server(lambda request: Reply(body=PDF_BYTES, content_type="application/pdf"))
    settings = settings_for(tmp_path, {"hkex": {"base_url": server.url}})
    storage = Storage.from_settings(settings)
    with pytest.raises(documents.ForeignHost) as caught:
        documents.capture(storage, settings, url, "hkex")
    assert str(caught.value).endswith("not fetched")
    assert server.requests == []
    assert storage.list("raw") == []


def test_capture_refuses_an_oversize_body(tmp_path: Path, replay_server):
    big = PDF_BYTES + b"0" * 5000
    server = replay_server({("GET", "/listedco/listconews/sehk/2025/1121/2025112100899.pdf"):
                            Reply(body=big, content_type="application/pdf")})
    settings = settings_for(tmp_path, {"hkex": {"base_url": server.url}}, document_max_bytes=4096)
    storage = Storage.from_settings(settings)
    with pytest.raises(documents.DocumentTooLarge, match="FILINGLAKE_DOCUMENT_MAX_BYTES=4,096"):
        documents.capture(storage, settings,
                          "https://www1.hkexnews.hk/listedco/listconews/sehk/2025/1121/2025112100899.pdf", "hkex")
    assert storage.list("raw") == []


class _NoLengthHandler(BaseHTTPRequestHandler):
    """Streams a body without Content-Length (HTTP/1.0, closed at the end): only a byte count can stop it."""

    protocol_version = "HTTP/1.0"
    body = PDF_BYTES + b"1" * 200_000

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.end_headers()
        for start in range(0, len(self.body), 8192):
            try:
                self.wfile.write(self.body[start:start + 8192])
            except (BrokenPipeError, ConnectionResetError):
                return

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def no_length_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NoLengthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_capture_stops_a_stream_without_content_length(tmp_path: Path, no_length_server: str):
    settings = settings_for(tmp_path, {"hkex": {"base_url": no_length_server}}, document_max_bytes=65_536)
    storage = Storage.from_settings(settings)
    with pytest.raises(documents.DocumentTooLarge):
        documents.capture(storage, settings, "https://www1.hkexnews.hk/listedco/big.pdf", "hkex")
    assert storage.list("raw") == []
    # The same stream under the cap is accepted whole.
    roomy = dataclasses.replace(settings, document_max_bytes=1_000_000)
    record = documents.capture(storage, roomy, "https://www1.hkexnews.hk/listedco/big.pdf", "hkex")
    assert record["size"] == len(_NoLengthHandler.body)


def test_capture_rejects_an_html_page_instead_of_a_pdf(tmp_path: Path, fixtures_dir: Path, replay_server):
    challenge = (fixtures_dir / "edgar/errors/sec_request_rate_threshold_exceeded.html").read_bytes()
    server = replay_server({("GET", "/listedco/doc.pdf"): Reply(body=challenge, content_type="text/html")})
    settings = settings_for(tmp_path, {"hkex": {"base_url": server.url}})
    with pytest.raises(documents.UnexpectedContent, match="HTML page came back instead of a PDF"):
        documents.capture(Storage.from_settings(settings), settings, "https://www1.hkexnews.hk/listedco/doc.pdf",
                          "hkex")


def test_fetch_url_follows_configured_roots_only():
    default = Settings()
    url = "https://www.sec.gov/Archives/edgar/data/1/000000000125000001/0000000001-25-000001-index.htm"
    assert documents.fetch_url(url, default) == url
    local = default.with_source("sec_edgar", base_url="http://127.0.0.1:9/Archives/edgar")
    assert documents.fetch_url(url, local) == (
        "http://127.0.0.1:9/Archives/edgar/data/1/000000000125000001/0000000001-25-000001-index.htm")
    # Outside the configured root: the source's stand-in serves it; unconfigured sources are left alone.
    assert documents.fetch_url("https://www.sec.gov/cgi-bin/browse-edgar", local, "sec_edgar") == (
        "http://127.0.0.1:9/cgi-bin/browse-edgar")
    assert documents.fetch_url("https://www1.hkexnews.hk/a.pdf", local, "hkex") == "https://www1.hkexnews.hk/a.pdf"
    # CNINFO pointed at a replay server for its API only: documents on the static host go there too.
    api_only = default.with_source("cninfo", base_url="http://127.0.0.1:7")
    assert documents.fetch_url(CNINFO_DOC, api_only, "cninfo") == "http://127.0.0.1:7/finalpage/2002-08-14/632064.PDF"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("600519.SH", "600519.SS"), ("SH600519", "600519.SS"), ("700.HK", "0700.HK"), ("00700", "0700.HK"),
     ("brk.b", "BRK-B"), ("aapl", "AAPL")],
)
def test_watchlist_tickers_are_read_in_any_spelling(typed: str, stored: str) -> None:
    assert one_entry(f"  - id: e\n    tickers: ['{typed}']\n").entries[0].tickers == (stored,)


def test_a_cik_listed_as_a_ticker_is_named_as_such() -> None:
    with pytest.raises(WatchlistError, match="not a ticker .a CIK. list it under ciks"):
        one_entry("  - id: e\n    tickers: ['0000320193']\n")


def test_ticker_spellings_match_the_same_real_rows(fixtures_dir: Path) -> None:
    """700.HK-style and SZ000001-style spellings fire on the same real HKEX and CNINFO rows as the stored form."""
    published = pa.concat_tables([hkex_rows(fixtures_dir).select(["filing_id", "source", "issuer_id", "ticker",
                                                                   "company_name", "form_type", "title"]),
                                  cninfo_rows(fixtures_dir).select(["filing_id", "source", "issuer_id", "ticker",
                                                                    "company_name", "form_type", "title"])])
    def matched(ticker: str) -> set[str]:
        found = match_watchlist(published, one_entry(f"  - id: e\n    tickers: ['{ticker}']\n"))
        return set(found["filing_id"].to_pylist())

    hk, cn = matched("0007.HK"), matched("000001.SZ")
    assert len(hk) > 1_000 and len(cn) > 0
    assert matched("7.HK") == matched("00007") == hk
    assert matched("SZ000001") == matched("000001") == cn
    # stock codes take ticker spellings too
    by_code = match_watchlist(published, one_entry("  - id: e\n    stock_codes: ['000001.SZ']\n"))
    assert set(by_code["filing_id"].to_pylist()) == cn
