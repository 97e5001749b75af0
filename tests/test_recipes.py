"""README "Asking questions": every SQL recipe runs on the lake `make demo` publishes and finds what the fixtures hold.

The recipes are read from README.md (a ``### heading`` and one ```sql block each), run through
:func:`filinglake.query.run_query` on the demo lake (``demo_lake`` in conftest: the demo's partitions
landed from the stand-ins, published, alerts recorded), and each is checked for its columns and for
values counted straight from the fixture files (``support.sec_index``), never from the pipeline.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from support.demo_lake import OFF_HOST_LINK, QUARANTINE_PARTITION
from support.sec_index import sec_index_rows

from filinglake.query import run_query
from filinglake.storage import Storage

README = Path(__file__).resolve().parents[1] / "README.md"


def recipes() -> dict[str, str]:
    """heading → SQL of every recipe in the README's "Asking questions" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Asking questions\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for block in re.split(r"^### ", section, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sqls = re.findall(r"```sql\n(.*?)```", body, re.S)
        assert len(sqls) == 1, f"recipe {heading!r} must hold exactly one ```sql block"
        found[heading.strip()] = sqls[0]
    return found


def rows_of(table: pa.Table) -> list[dict]:
    return table.to_pylist()


# --- one check per recipe: expected columns, then what the fixtures say --------------------------


def check_one_company(result: pa.Table, fixtures_dir: Path) -> None:
    rows = rows_of(result)
    rbc = [r for r in rows if r["source"] == "sec_edgar"]
    # every listing of Royal Bank of Canada (CIK 1000275) in the demo's SEC indexes, once
    assert len(rbc) == sum(1 for r in sec_index_rows(fixtures_dir) if r.cik == "1000275") == 266
    assert {"424B5", "424B2", "FWP"} <= {r["form_type"] for r in rbc}
    assert any(r["form_type"] == "424B5" and r["filing_date"].isoformat().startswith("2016-07") for r in rbc)
    assert {r["source"] for r in rows} == {"sec_edgar", "cninfo", "hkex"}  # RY, 000001.SZ, 00007
    assert "深发展Ａ2001年年度报告" in {r["title_clean"] for r in rows}
    assert rows == sorted(rows, key=lambda r: r["filing_date"], reverse=True)


def check_alerts(result: pa.Table, fixtures_dir: Path) -> None:
    rows = rows_of(result)
    by_entry = Counter(r["entry_id"] for r in rows)
    # the default watchlist's fixture entries: Ping An annual reports, HKEX 00007 on suspension / the Listing
    # Committee, Royal Bank of Canada 424B5s (among them the one of the 2026-01-02 daily index)
    assert by_entry["cninfo-000001-annual-report"] == 2
    assert by_entry["hkex-00007-suspension"] == 2
    rbc = [r for r in rows if r["entry_id"] == "sec-rbc-424b5"]
    assert rbc and all(r["form_type"] == "424B5" and r["matched_on"] == "cik:1000275 & form:424B5" for r in rbc)
    assert any(r["document_url"].endswith("/0000950103-26-000043-index.htm") for r in rbc)
    assert {r["title_clean"] for r in rows if r["source"] == "cninfo"} == {"深发展Ａ2001年年度报告", "深发展Ａ2001年年度报告摘要"}


def check_form_type_counts(result: pa.Table, fixtures_dir: Path) -> None:
    rows = {(r["source"], r["filing_month"], r["form_type"]): r for r in rows_of(result)}
    expected = sum(1 for r in sec_index_rows(fixtures_dir) if r.form == "424B5" and r.date.startswith("2016-07"))
    assert rows[("sec_edgar", "2016-07", "424B5")]["published_rows"] == expected == 375
    assert ("cninfo", "2002-04", "") in rows  # CNINFO rows carry no category yet


def check_quarantine(result: pa.Table, fixtures_dir: Path) -> None:
    rows = {r["failed_check"]: r for r in rows_of(result)}
    # the demo's own partitions quarantine nothing (README says so): every row is from the broken fixture rows
    assert {(r["source"], r["partition"]) for r in rows_of(result)} == {QUARANTINE_PARTITION}
    assert set(rows) == {"document_url_on_source_host", "stock_code_5_digits"}
    off_host = rows["document_url_on_source_host"]
    assert (off_host["source"], off_host["partition"]) == QUARANTINE_PARTITION
    assert (off_host["rows"], off_host["first_document_url"]) == (1, OFF_HOST_LINK)
    assert rows["stock_code_5_digits"]["first_issuer_id"] == "7"


def check_busiest_days(result: pa.Table, fixtures_dir: Path) -> None:
    (day, rows), *_ = Counter(r.date for r in sec_index_rows(fixtures_dir)).most_common(1)
    first = rows_of(result)[0]
    assert (first["filing_date"].isoformat(), first["source"], first["published_rows"]) == (day, "sec_edgar", rows)
    assert (day, rows) == ("2016-07-05", 6611)
    assert result.num_rows == 10


def check_top_issuers(result: pa.Table, fixtures_dir: Path) -> None:
    (cik, count), *_ = Counter(r.cik for r in sec_index_rows(fixtures_dir)).most_common(1)
    first = rows_of(result)[0]
    assert (first["issuer_id"], first["filings"], first["company_name"]) == (cik, count, "UBS AG")
    assert [r["filings"] for r in rows_of(result)] == sorted((r["filings"] for r in rows_of(result)), reverse=True)


def check_word_search(result: pa.Table, fixtures_dir: Path) -> None:
    titles = {r["title_clean"]: r for r in rows_of(result)}
    assert titles["深发展Ａ2001年年度报告"]["document_url"] == "https://static.cninfo.com.cn/finalpage/2002-04-18/573256.PDF"
    assert "深发展Ａ2001年年度报告摘要" in titles
    assert any(t.startswith("DECISION OF THE LISTING COMMITTEE") for t in titles)  # title_clean: `;`, not `&#x3b;`
    assert all(r["document_url"] for r in rows_of(result)) and {r["source"] for r in rows_of(result)} == {"cninfo", "hkex"}


def check_freshness(result: pa.Table, fixtures_dir: Path) -> None:
    rows = {r["source"]: r for r in rows_of(result)}
    assert rows["sec_edgar"]["latest_filing_date"].isoformat() == max(r.date for r in sec_index_rows(fixtures_dir))
    assert rows["cninfo"]["latest_filing_date"] == date(2002, 10, 25)
    assert rows["hkex"]["latest_filing_date"] == date(2025, 11, 11)
    assert rows["sec_edgar"]["rows_in_latest_7_days"] == 50  # the 2026-01-02 excerpt (2025-12-27..2026-01-02)
    assert all(r["days_behind"] > 0 and r["last_archived_at"] is not None for r in rows.values())


def check_renamed_issuers(result: pa.Table, fixtures_dir: Path) -> None:
    names: dict[str, set[str]] = {}
    for r in sec_index_rows(fixtures_dir):
        names.setdefault(r.cik, set()).add(r.company)
    renamed = {cik for cik, n in names.items() if len(n) > 1}
    sec = {r["issuer_id"]: r for r in rows_of(result) if r["source"] == "sec_edgar"}
    assert set(sec) == renamed and len(renamed) == 176
    assert sec["895421"]["former_names"] == ["MORGAN STANLEY DEAN WITTER & CO"]
    assert sec["895421"]["company_name"] == "MORGAN STANLEY"


def check_company_in_every_market(result: pa.Table, fixtures_dir: Path) -> None:
    rows = rows_of(result)
    # HSBC Holdings: SEC CIK 1089113 linked to HKEX 00005 by the reviewed list; the demo lands no HKEX index of it
    assert len(rows) == sum(1 for r in sec_index_rows(fixtures_dir) if r.cik == "1089113") > 0
    assert {(r["link_id"], r["source"], r["issuer_id"], r["ticker"]) for r in rows} == {
        ("hsbc-holdings", "sec_edgar", "1089113", "HSBC")}
    assert {"6-K", "FWP"} <= {r["form_type"] for r in rows}
    assert rows == sorted(rows, key=lambda r: r["filing_date"], reverse=True)


def check_co_registrants(result: pa.Table, fixtures_dir: Path) -> None:
    (accession, issuers), *_ = Counter(r.accession for r in sec_index_rows(fixtures_dir)).most_common(1)
    first = rows_of(result)[0]
    assert (first["filing_id"], first["issuers"]) == (f"sec_edgar:{accession}", issuers)
    assert (accession, issuers) == ("0001571049-16-016449", 576)
    assert len(first["first_companies"]) == 3


def check_any_spelling(result: pa.Table, fixtures_dir: Path) -> None:
    rows = rows_of(result)
    by_source = Counter(r["source"] for r in rows)
    # Royal Bank of Canada by its padded CIK: every listing in the demo's SEC indexes, ticker RY from the list
    assert by_source["sec_edgar"] == sum(1 for r in sec_index_rows(fixtures_dir) if r.cik == "1000275") == 266
    sec = {(r["ticker"], r["issuer_name"]) for r in rows if r["source"] == "sec_edgar"}
    assert sec == {("RY", "ROYAL BANK OF CANADA")}
    # 7.HK is HKEX 0007.HK: filed under the names of the time, named as HKEXnews' stock list has it now
    hkex = [r for r in rows if r["source"] == "hkex"]
    assert hkex and {r["ticker"] for r in hkex} == {"0007.HK"} and {r["issuer_name"] for r in hkex} == {"WISDOM WEALTH"}
    assert "WISDOM WEALTH" not in {r["company_name"] for r in hkex if r["filing_date"].year == 2012}
    # SZ000001 is 000001.SZ (the demo archives no CNINFO stock list: no issuer_name there)
    assert by_source["cninfo"] > 0 and {r["ticker"] for r in rows if r["source"] == "cninfo"} == {"000001.SZ"}
    assert rows == sorted(rows, key=lambda r: r["filing_date"], reverse=True)


CHECKS: dict[str, tuple[list[str], Callable[[pa.Table, Path], None]]] = {
    "One security in any spelling, with the name its list gives it": (
        ["source", "filing_date", "ticker", "company_name", "issuer_name", "title_clean", "document_url"],
        check_any_spelling),
    "Everything one company filed, on every source": (
        ["source", "filing_date", "form_type", "company_name", "title_clean", "document_url"], check_one_company),
    "A watchlist's alerts of the last 7 days": (
        ["alerted_at", "entry_id", "matched_on", "source", "ticker", "company_name", "form_type", "filing_date",
         "title_clean", "document_url", "document_key", "document_error"], check_alerts),
    "Form-type counts per month per source": (
        ["source", "filing_month", "form_type", "published_rows", "filings"], check_form_type_counts),
    "What is in quarantine, and why": (
        ["source", "partition", "failed_check", "rows", "first_native_id", "first_issuer_id", "first_document_url"],
        check_quarantine),
    "The busiest days": (["filing_date", "source", "published_rows", "filings", "issuers"], check_busiest_days),
    "Issuers with the most filings": (
        ["source", "issuer_id", "company_name", "ticker", "filings", "first_filing_date", "last_filing_date"],
        check_top_issuers),
    "Filings with a document link for a word in the title (Chinese and English)": (
        ["source", "filing_date", "ticker", "company_name", "title_clean", "document_url"], check_word_search),
    "Daily freshness per source": (
        ["source", "latest_filing_date", "last_archived_at", "days_behind", "rows_in_latest_7_days"], check_freshness),
    "Issuers that filed under more than one name": (
        ["source", "issuer_id", "company_name", "former_names", "filings", "last_filing_date"], check_renamed_issuers),
    "One company's filings in every market it is listed in": (
        ["link_id", "source", "issuer_id", "ticker", "filing_date", "form_type", "company_name", "title_clean",
         "document_url"], check_company_in_every_market),
    "One filing, several issuers (co-registrants)": (
        ["filing_id", "form_type", "filing_date", "issuers", "first_companies"], check_co_registrants),
}


def test_the_readme_has_a_checked_recipe_for_each_heading() -> None:
    found = recipes()
    assert 8 <= len(found) <= 12
    assert set(found) == set(CHECKS), "a README recipe without a check here, or a check without its recipe"
    assert "(docs/data_dictionary.md)" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("heading", list(CHECKS))
def test_recipe_answers_from_the_demo_data(heading: str, demo_lake: Storage, fixtures_dir: Path) -> None:
    columns, check = CHECKS[heading]
    result = run_query(recipes()[heading], storage=demo_lake)
    assert result.num_rows > 0
    assert result.column_names == columns
    check(result, fixtures_dir)
