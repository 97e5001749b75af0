"""The published layer on real captured data: Delta merges, issuers, daily counts, queries, S3.

Clean partitions are landed the way the pipeline lands them (raw archive → parse → row checks → clean
Parquet) from the real SEC, CNINFO and HKEX captures. Where a case needs the same filings in two
ingests (a daily and a quarterly index), the second index is derived at test time from real rows:
quarterly files list the same rows as daily ones, with ISO dates and a longer preamble.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fakes.replay import file_reply
from fakes.sec_edgar import SEC_ARCHIVE_PREFIX

from filinglake.alerts.record import record_alerts
from filinglake.alerts.watchlist import parse_watchlist
from filinglake.cli.app import main as cli_main
from filinglake.config import Settings
from filinglake.ingest import landing as pipeline
from filinglake.publish import delta
from filinglake.publish.clean_layer import PublishError, clean_partitions
from filinglake.publish.daily_counts import DAILY_COUNTS
from filinglake.publish.filings import FILINGS, changed_rows, rows_for_keys
from filinglake.publish.issuers import ISSUERS
from filinglake.publish.references import (
    SEC_TICKERS_NAME,
    SEC_TICKERS_SOURCE,
    company_tickers_url,
    fetch_sec_company_tickers,
    parse_company_tickers,
)
from filinglake.publish.run import compact_tables, publish, read_published
from filinglake.query import QueryError, run_query, write_result
from filinglake.report import write_report
from filinglake.schema import PUBLISHED_FILINGS_SCHEMA
from filinglake.storage import Storage

DAILY_2026 = "edgar/daily/master.20260102.excerpt.idx"
QUARTER_1993 = "edgar/full-index/1993/QTR4/master.idx"
QUARTER_2016 = "edgar/full-index/2016/QTR3/master.gz"
COMPANY_TICKERS = "edgar/api/company_tickers.json"
CNINFO_PAGE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
CNINFO_STOCK_LIST = "cninfo/szse_stock_20210927_ForstMaple.json"
HKEX_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
#: an accession listed under three CIKs in the 2026-01-02 excerpt
SHARED_ACCESSION = "0001999371-26-000004"
#: a day of the HKEX capture with seven English rows for 00007
HKEX_DAY = date(2012, 11, 14)
CNINFO_PARTITION = "stock-000001_2001-01-01_2002-12-31"


# ------------------------------------------------------------------------------------------------
# Landing real indexes as clean partitions
# ------------------------------------------------------------------------------------------------


def land(settings: Settings, source: str, partition: str, name: str, data: bytes, *, force: bool = False) -> dict:
    """Archive ``data`` as the partition's raw file and write its clean/quarantine Parquet (no network)."""
    ctx = pipeline.Context.build(source, partition, settings)
    ref = ctx.storage.archive_raw(source, partition, name, data, f"https://example.invalid/{name}")
    return pipeline.write_partition(ctx, {"raw": [ref.to_dict()]}, force=force)


def as_quarterly(daily: bytes, quarter_header: bytes) -> bytes:
    """The rows of a daily master index laid out as the quarterly index lists them (ISO dates)."""
    body = daily.split(b"-" * 80 + b"\n", 1)[1]
    return quarter_header + re.sub(rb"\|(\d{4})(\d{2})(\d{2})\|", rb"|\1-\2-\3|", body)


def header_of(index: bytes) -> bytes:
    """Preamble, column line and dashed line of a real index."""
    head, _, _ = index.partition(b"-" * 80 + b"\n")
    return head + b"-" * 80 + b"\n"


def quarter_2016_lines(fixtures_dir: Path, pattern: bytes) -> list[bytes]:
    text = gzip.decompress((fixtures_dir / QUARTER_2016).read_bytes())
    return [line for line in text.split(b"\n") if re.search(pattern, line)]


def as_daily(lines: list[bytes], daily_header: bytes) -> bytes:
    return daily_header + b"".join(re.sub(rb"\|(\d{4})-(\d{2})-(\d{2})\|", rb"|\1\2\3|", ln) + b"\n" for ln in lines)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage=(tmp_path / "lake").as_uri())


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage.from_settings(settings)


@pytest.fixture
def daily_2026(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / DAILY_2026).read_bytes()


@pytest.fixture
def quarter_header(fixtures_dir: Path) -> bytes:
    return header_of((fixtures_dir / QUARTER_1993).read_bytes())


def sorted_rows(table: pa.Table) -> list[dict]:
    keys = [c for c in ("source", "filing_id", "issuer_id") if c in table.column_names]
    return table.sort_by([(c, "ascending") for c in keys]).to_pylist()


def archive_company_tickers(storage: Storage, fixtures_dir: Path) -> None:
    data = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    storage.archive_raw(SEC_TICKERS_SOURCE, "2024-05-01", SEC_TICKERS_NAME, data, "https://www.sec.gov/files/company_tickers.json")


# ------------------------------------------------------------------------------------------------
# filings: merge, idempotency, dedup across ingests, upserts
# ------------------------------------------------------------------------------------------------


def test_publish_daily_index_one_row_per_filing_and_issuer(settings, storage, daily_2026) -> None:
    manifest = land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    assert manifest["rows_written"] == 50

    result = publish(storage, settings)

    assert result["partitions"] == [["sec_edgar", "2026-01-02"]]
    assert (result["rows_read"], result["rows"], result["inserted"], result["updated"]) == (50, 50, 50, 0)
    assert len(result["new_keys"]) == 50 and result["changed_keys"] == []
    filings = read_published(storage, FILINGS)
    assert filings.num_rows == 50
    shared = filings.filter(pc.equal(filings["native_id"], SHARED_ACCESSION))
    assert sorted(shared["issuer_id"].to_pylist()) == ["1002624", "1012678", "1012968"]
    assert set(shared["filing_month"].to_pylist()) == {"2026-01"}
    # partitioned by source and month on disk, zstd Parquet
    files = delta.open_table(storage, FILINGS).file_uris()
    assert files and all("/source=sec_edgar/filing_month=2026-01/" in f for f in files)
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_second_publish_is_a_true_no_op(settings, storage, daily_2026, fixtures_dir) -> None:
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    first = publish(storage, settings)
    before = {name: sorted_rows(read_published(storage, name)) for name in (FILINGS, ISSUERS)}
    counts_before = read_published(storage, DAILY_COUNTS).sort_by([("filing_date", "ascending"),
                                                                    ("form_type", "ascending")]).to_pylist()

    second = publish(storage, settings)

    assert first["inserted"] == 70 and first["version"] == first["version_before"] + 1
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 70)
    assert second["new_keys"] == [] and second["changed_keys"] == []
    assert second["version"] == second["version_before"] == first["version"]  # nothing committed
    assert (second["issuers"]["inserted"], second["issuers"]["updated"], second["issuers"]["deleted"]) == (0, 0, 0)
    assert (second["daily_counts"]["inserted"], second["daily_counts"]["updated"]) == (0, 0)
    assert {name: sorted_rows(read_published(storage, name)) for name in (FILINGS, ISSUERS)} == before
    assert read_published(storage, DAILY_COUNTS).sort_by([("filing_date", "ascending"),
                                                           ("form_type", "ascending")]).to_pylist() == counts_before
    # re-landing the same raw bytes rewrites the same clean rows: still nothing to publish
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    third = publish(storage, settings, [("sec_edgar", "2026-01-02")])
    assert (third["inserted"], third["updated"], third["version"]) == (0, 0, first["version"])


def test_same_filings_from_daily_and_quarterly_index_are_one_row_each(
    settings, storage, daily_2026, quarter_header
) -> None:
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    daily = publish(storage, settings, [("sec_edgar", "2026-01-02")])
    daily_rows = {(r["filing_id"], r["issuer_id"]): r for r in read_published(storage, FILINGS).to_pylist()}
    land(settings, "sec_edgar", "2026Q1", "master.idx", as_quarterly(daily_2026, quarter_header))

    quarterly = publish(storage, settings, [("sec_edgar", "2026Q1")])

    assert daily["inserted"] == 50
    # seen again: no new row, each updated only for when and where it was last seen
    assert (quarterly["inserted"], quarterly["updated"]) == (0, 50)
    filings = read_published(storage, FILINGS)
    assert filings.num_rows == 50
    for row in filings.to_pylist():
        before = daily_rows[(row["filing_id"], row["issuer_id"])]
        assert row["first_seen_at"] == before["first_seen_at"] < row["last_seen_at"]
        assert row["raw_key"].startswith("raw/source=sec_edgar/partition=2026Q1/")
        assert {k: v for k, v in row.items() if k not in ("last_seen_at", "raw_key")} == {
            k: v for k, v in before.items() if k not in ("last_seen_at", "raw_key")}
    # publishing both partitions again, in one batch, changes nothing
    again = publish(storage, settings)
    assert (again["inserted"], again["updated"], again["rows"]) == (0, 0, 50)


@pytest.mark.parametrize("publish_moved_first", [False, True])
def test_a_filing_listed_under_another_month_stays_one_row(
    settings, storage, daily_2026, quarter_header, publish_moved_first
) -> None:
    # The same 50 real rows, one of them listed again with a date in the previous month (2025-12-31).
    moved = re.sub(rb"\|2026-01-02\|", b"|2025-12-31|", as_quarterly(daily_2026, quarter_header), count=1)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)  # seen first
    land(settings, "sec_edgar", "2025Q4", "master.idx", moved)
    order = [("sec_edgar", "2025Q4"), ("sec_edgar", "2026-01-02")]
    for partition in order if publish_moved_first else reversed(order):
        publish(storage, settings, [partition])

    filings = read_published(storage, FILINGS)
    keys = set(zip(filings["filing_id"].to_pylist(), filings["issuer_id"].to_pylist(), strict=True))
    assert filings.num_rows == len(keys) == 50
    # the first-seen date wins, whichever partition was published first
    assert set(filings["filing_month"].to_pylist()) == {"2026-01"}
    assert publish(storage, settings)["inserted"] == 0


@pytest.mark.parametrize("publish_moved_first", [False, True])
def test_a_filing_listed_months_later_stays_one_row(
    settings, storage, fixtures_dir, daily_2026, quarter_header, publish_moved_first
) -> None:
    # Real 2016 Q3 rows of 15 July, listed again by a daily index of 15 September (a date moved by two
    # months, beyond any neighbouring-month window), among real rows of a busier table: the key index
    # finds each published row in its first month, whichever listing is published first.
    day = quarter_2016_lines(fixtures_dir, rb"\|2016-07-15\|")[:200]
    land(settings, "sec_edgar", "2016Q3", "master.idx", quarter_header + b"\n".join(day) + b"\n")
    later = [re.sub(rb"\|2016-07-15\|", b"|2016-09-15|", line) for line in day[:40]]
    land(settings, "sec_edgar", "2016-09-15", "master.20160915.idx", as_daily(later, header_of(daily_2026)))
    order = [("sec_edgar", "2016Q3"), ("sec_edgar", "2016-09-15")]
    for partition in order if not publish_moved_first else reversed(order):
        publish(storage, settings, [partition])

    filings = read_published(storage, FILINGS)
    keys = set(zip(filings["filing_id"].to_pylist(), filings["issuer_id"].to_pylist(), strict=True))
    assert filings.num_rows == len(keys) == 200
    months = filings.group_by("filing_month").aggregate([("filing_id", "count")]).to_pylist()
    # the first-landed listing's date wins (the quarter was landed first), whichever is published first
    assert {m["filing_month"]: m["filing_id_count"] for m in months} == {"2016-07": 200}
    assert_tables_match_a_recomputation(storage)
    assert publish(storage, settings)["inserted"] == 0


def test_form_types_from_a_daily_and_a_quarterly_index_are_kept(settings, storage, fixtures_dir, daily_2026,
                                                                 quarter_header) -> None:
    # A real combined filing: 2016Q3 lists accession 0001047469-16-014429 for TELECOM ARGENTINA under
    # SC 13E3 and SC TO-T. The day's index is given only the first of the two lines.
    lines = quarter_2016_lines(fixtures_dir, rb"/0001047469-16-014429\.txt$")
    assert len(lines) == 3  # the filer (Fintech Telecom) and the subject company's two form types
    first_line = [ln for ln in lines if b"|SC 13E3|" in ln or b"Fintech" in ln]
    land(settings, "sec_edgar", "2016-07-22", "master.20160722.idx", as_daily(first_line, header_of(daily_2026)))
    publish(storage, settings)
    quarter = quarter_header + b"".join(ln + b"\n" for ln in lines)
    land(settings, "sec_edgar", "2016Q3", "master.idx", quarter)

    result = publish(storage, settings, [("sec_edgar", "2016Q3")])

    assert (result["inserted"], result["updated"]) == (0, 2)
    row = rows_for_keys(storage, [["sec_edgar:0001047469-16-014429", "932470"]]).to_pylist()[0]
    assert row["form_types"] == ["SC 13E3", "SC TO-T"]
    assert row["form_type"] == "SC 13E3"  # first seen, in the daily index
    assert row["filing_date"] == date(2016, 7, 22) and row["filing_month"] == "2016-07"
    assert read_published(storage, FILINGS).num_rows == 2


def test_combined_filing_and_two_names_in_one_quarter(settings, storage, fixtures_dir, quarter_header) -> None:
    lines = quarter_2016_lines(fixtures_dir, rb"^(932470|97196)\|")
    land(settings, "sec_edgar", "2016Q3", "master.idx", quarter_header + b"".join(ln + b"\n" for ln in lines))
    publish(storage, settings)
    filings = read_published(storage, FILINGS)
    by_key = {(r["filing_id"], r["issuer_id"]): r for r in filings.to_pylist()}
    assert len(by_key) == filings.num_rows < len(lines)
    assert by_key[("sec_edgar:0001047469-16-014429", "932470")]["form_types"] == ["SC 13E3", "SC TO-T"]
    renamed = by_key[("sec_edgar:0000000000-16-085101", "97196")]
    assert renamed["company_names"] == ["AMERICAN INDEPENDENCE CORP", "AMIC Holdings, Inc."]
    assert renamed["company_name"] in renamed["company_names"]


def test_changed_row_is_updated_and_keeps_both_names(settings, storage, daily_2026, quarter_header) -> None:
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    first = publish(storage, settings)
    # The later quarterly index lists CIK 1000045 under a new name (hand-edited: a rename between ingests).
    renamed = as_quarterly(daily_2026, quarter_header).replace(b"|OLD MARKET CAPITAL Corp|", b"|OMC Holdings Corp|")
    land(settings, "sec_edgar", "2026Q1", "master.idx", renamed)

    result = publish(storage, settings, [("sec_edgar", "2026Q1")])

    key = ["sec_edgar:0001437749-26-000015", "1000045"]
    assert key in result["changed_keys"] and result["inserted"] == 0
    row = rows_for_keys(storage, [key]).to_pylist()[0]
    assert row["company_name"] == "OMC Holdings Corp"  # latest
    assert row["company_names"] == ["OLD MARKET CAPITAL Corp", "OMC Holdings Corp"]
    # the change data feed hands the new state of every changed row to the alerts task
    feed = changed_rows(storage, first["version"], result["version"])
    assert feed.num_rows == 50 and feed.schema == PUBLISHED_FILINGS_SCHEMA
    assert {"OMC Holdings Corp"} == set(pc.unique(
        feed.filter(pc.equal(feed["issuer_id"], "1000045"))["company_name"]).to_pylist())
    assert changed_rows(storage, result["version"]).num_rows == 0
    issuer = read_published(storage, ISSUERS, where="issuer_id = '1000045'").to_pylist()[0]
    assert issuer["company_name"] == "OMC Holdings Corp"
    assert issuer["former_names"] == ["OLD MARKET CAPITAL Corp"]


def test_missing_partition_is_an_error(settings, storage) -> None:
    with pytest.raises(PublishError, match="no clean partition"):
        publish(storage, settings, [("sec_edgar", "2026-01-05")])


def test_nothing_landed_publishes_nothing(settings, storage) -> None:
    result = publish(storage, settings)
    assert (result["rows"], result["inserted"], result["updated"]) == (0, 0, 0)
    assert run_query("select count(*) as n from filings", storage=storage).to_pylist() == [{"n": 0}]


# ------------------------------------------------------------------------------------------------
# issuers and daily_counts
# ------------------------------------------------------------------------------------------------


def test_issuers_carry_tickers_from_company_tickers_json(settings, storage, fixtures_dir, daily_2026) -> None:
    reference = parse_company_tickers((fixtures_dir / COMPANY_TICKERS).read_bytes())
    assert reference.num_rows == 9_610 and len(pc.unique(reference["cik"])) == 7_919
    archive_company_tickers(storage, fixtures_dir)
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)

    publish(storage, settings)

    issuers = {r["issuer_id"]: r for r in read_published(storage, ISSUERS).to_pylist()}
    filings = read_published(storage, FILINGS)
    assert set(issuers) == set(filings["issuer_id"].to_pylist())
    morgan = issuers["895421"]  # one CIK, nine tickers (common and preferred shares)
    assert morgan["ticker"] == "MS"
    assert morgan["tickers"] == sorted(["MS", "MS-PA", "MS-PE", "MS-PF", "MS-PI", "MS-PK", "MS-PL", "MS-PO", "MS-PP"])
    assert morgan["cik"] == "895421" and morgan["company_name"] == "MORGAN STANLEY DEAN WITTER & CO"
    assert issuers["1000275"]["ticker"] == "RY" and issuers["1000275"]["filings"] == 17
    assert issuers["60512"]["filings"] == 3 and issuers["60512"]["first_filing_date"] == date(1993, 10, 7)
    assert issuers["29082"]["tickers"] == []  # DISNEY WALT CO's 1993 CIK is not in the 2024 list


def test_issuers_are_recomputed_for_the_batch_and_rebuilt_on_new_references(
    settings, storage, fixtures_dir, daily_2026
) -> None:
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    first = publish(storage, settings, [("sec_edgar", "1993Q4")])
    second = publish(storage, settings, [("sec_edgar", "2026-01-02")])
    assert first["issuers"]["rebuilt"] == second["issuers"]["rebuilt"] == []  # small batches: their issuers only
    assert (first["issuers"]["inserted"], second["issuers"]["inserted"]) == (17, 16)
    issuers = {r["issuer_id"]: r for r in read_published(storage, ISSUERS).to_pylist()}
    assert len(issuers) == 33 and issuers["895421"]["tickers"] == []

    archive_company_tickers(storage, fixtures_dir)
    untouched = publish(storage, settings, [("sec_edgar", "2026-01-02")])
    assert read_published(storage, ISSUERS, where="issuer_id = '895421'")["tickers"].to_pylist() == [[]]
    assert untouched["issuers"]["updated"] == 7  # the batch's issuers listed in company_tickers.json

    rebuilt = publish(storage, settings, [("sec_edgar", "2026-01-02")], rebuild_issuers=["sec_edgar"])
    # new reference data: the issuers the list describes differently are recomputed, not the whole source
    assert rebuilt["issuers"]["rebuilt"] == [] and rebuilt["issuers"]["recomputed"] == 3
    assert (rebuilt["issuers"]["inserted"], rebuilt["issuers"]["deleted"]) == (0, 0)
    # the 1993 quarter's CIKs in the 2024 list: MORGAN STANLEY (MS …), 3M (MMM), 314808 (VAL-WT)
    assert rebuilt["issuers"]["updated"] == 3
    assert read_published(storage, ISSUERS, where="issuer_id = '895421'")["ticker"].to_pylist() == ["MS"]
    assert read_published(storage, ISSUERS).num_rows == 33
    assert_tables_match_a_recomputation(storage)


def test_cninfo_issuer_links_stock_code_and_org_id(settings, storage, fixtures_dir) -> None:
    storage.archive_raw("cninfo_stocks", "2021-09-27", "szse_stock.json", (fixtures_dir / CNINFO_STOCK_LIST).read_bytes(),
                        "https://www.cninfo.com.cn/new/data/szse_stock.json")
    land(settings, "cninfo", CNINFO_PARTITION, "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    publish(storage, settings)
    issuer = read_published(storage, ISSUERS).to_pylist()
    assert len(issuer) == 1
    assert {k: issuer[0][k] for k in ("source", "issuer_id", "org_id", "stock_code", "ticker", "exchange", "filings")} == {
        "source": "cninfo", "issuer_id": "gssz0000001", "org_id": "gssz0000001", "stock_code": "000001",
        "ticker": "000001.SZ", "exchange": "SZSE", "filings": 8}
    assert issuer[0]["company_name"] == "深发展Ａ" and issuer[0]["former_names"] == []


def test_daily_counts_add_up_to_the_published_rows(settings, storage, fixtures_dir, daily_2026) -> None:
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    publish(storage, settings)
    counts = read_published(storage, DAILY_COUNTS)
    filings = read_published(storage, FILINGS)
    assert pc.sum(counts["published_rows"]).as_py() == filings.num_rows == 70
    day = counts.filter(pc.and_(pc.equal(counts["filing_date"], date(2026, 1, 2)), pc.equal(counts["form_type"], "497")))
    # one accession under three CIKs, plus one more 497: four rows, two filings
    assert day.select(["published_rows", "filings", "issuers"]).to_pylist() == [
        {"published_rows": 4, "filings": 2, "issuers": 4}]


# ------------------------------------------------------------------------------------------------
# Query
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def demo_lake(settings, storage, fixtures_dir, daily_2026) -> Storage:
    """SEC (daily 2026-01-02 + company_tickers.json), CNINFO (stock 000001) and HKEX (00007, one day) published."""
    archive_company_tickers(storage, fixtures_dir)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    land(settings, "cninfo", CNINFO_PARTITION, "page-1.json", (fixtures_dir / CNINFO_PAGE).read_bytes())
    rows = json.loads((fixtures_dir / HKEX_ROWS).read_text(encoding="utf-8"))
    day_rows = [r for r in rows if r["DATE_TIME"].startswith(HKEX_DAY.strftime("%d/%m/%Y"))]
    land(settings, "hkex", f"{HKEX_DAY.isoformat()}-en", "titleSearch.json", json.dumps(day_rows).encode())
    publish(storage, settings)
    return storage


def test_query_ticker_over_a_date_range(demo_lake: Storage) -> None:
    cninfo = run_query(
        "SELECT filing_date, title FROM filings WHERE ticker = '000001.SZ' "
        "AND filing_date BETWEEN DATE '2002-01-01' AND DATE '2002-12-31' ORDER BY filing_date, title",
        storage=demo_lake,
    )
    assert cninfo.num_rows == 6
    assert cninfo["filing_date"].to_pylist()[0] == date(2002, 4, 18)
    sec = run_query(
        "SELECT f.form_type, count(*) AS n FROM filings f JOIN issuers i USING (source, issuer_id) "
        "WHERE list_contains(i.tickers, 'RY') AND f.filing_date BETWEEN '2026-01-01' AND '2026-01-31' "
        "GROUP BY ALL ORDER BY ALL",
        storage=demo_lake,
    )
    assert sec.to_pylist() == [{"form_type": "424B2", "n": 4}, {"form_type": "424B5", "n": 1},
                               {"form_type": "FWP", "n": 12}]


def test_query_title_words_in_chinese_and_english(demo_lake: Storage) -> None:
    chinese = run_query("SELECT title FROM filings WHERE title LIKE '%年度报告%' ORDER BY title", storage=demo_lake)
    assert chinese["title"].to_pylist() == ["深发展Ａ2001年年度报告", "深发展Ａ2001年年度报告摘要"]
    english = run_query(
        "SELECT source, ticker, title_clean FROM filings WHERE regexp_matches(title_clean, '(?i)\\bresults\\b')",
        storage=demo_lake,
    )
    assert english.num_rows >= 1
    assert set(english["source"].to_pylist()) == {"hkex"} and set(english["ticker"].to_pylist()) == {"0007.HK"}


def test_query_views_exist_even_when_empty(demo_lake: Storage) -> None:
    described = run_query("SELECT table_name FROM information_schema.tables ORDER BY 1", storage=demo_lake)
    assert {"filings", "issuers", "daily_counts", "alerts", "quarantine"} <= set(described["table_name"].to_pylist())
    assert run_query("SELECT count(*) AS n FROM alerts", storage=demo_lake).to_pylist() == [{"n": 0}]
    quarantined = run_query("SELECT source, partition, count(*) AS n FROM quarantine GROUP BY ALL", storage=demo_lake)
    assert quarantined.num_rows == 0  # every row of these captures passes its checks
    with pytest.raises(QueryError, match="query failed"):
        run_query("SELECT nope FROM filings", storage=demo_lake)


def test_query_quarantine_view_lists_bad_rows_with_their_partition(settings, storage, fixtures_dir, tmp_path) -> None:
    # The real 2018-12-31 excerpt with its last line cut in half: that row fails its checks.
    raw = (fixtures_dir / "edgar/daily/master.20181231.excerpt.idx").read_bytes().rstrip(b"\n")
    last_line = raw.rsplit(b"\n", 1)[1]
    manifest = land(settings, "sec_edgar", "2018-12-31", "master.20181231.idx", raw[: len(raw) - len(last_line) // 2])
    assert (manifest["rows_written"], manifest["quarantined"]) == (9, 1)

    bad = run_query("SELECT source, partition, issuer_id, failed_checks FROM quarantine", storage=storage).to_pylist()

    assert len(bad) == 1
    assert (bad[0]["source"], bad[0]["partition"]) == ("sec_edgar", "2018-12-31")
    assert bad[0]["issuer_id"] == last_line.split(b"|", 1)[0].decode().lstrip("0")
    assert bad[0]["failed_checks"] and set(bad[0]["failed_checks"]) <= set(manifest["failures"])
    out = tmp_path / "quarantine.csv"
    assert write_result("SELECT source, partition FROM quarantine", str(out), storage=storage) == 1
    assert out.read_text(encoding="utf-8").splitlines() == ["source,partition", "sec_edgar,2018-12-31"]


def test_readme_duckdb_snippet_reads_the_published_tables(demo_lake: Storage) -> None:
    # The README's plain-DuckDB recipe (no delta extension), run as written on a local root.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    snippet = next(b for b in blocks if "file_uris()" in b and "read_parquet" in b)
    namespace: dict = {}
    exec(snippet.replace("<root>", demo_lake.base), namespace)  # noqa: S102 - our own README
    result = namespace["result"].fetchall()
    expected = run_query("SELECT count(*) FROM filings WHERE source = 'cninfo'", storage=demo_lake).to_pylist()
    assert result == [(list(expected[0].values())[0],)] and result[0][0] == 8


def test_query_command_prints_a_table_and_writes_files(demo_lake: Storage, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", demo_lake.root)
    monkeypatch.setenv("COLUMNS", "200")
    sql = ("SELECT filing_date, ticker, title FROM filings WHERE ticker = '000001.SZ' "
           "AND filing_date BETWEEN '2002-04-01' AND '2002-04-30' ORDER BY filing_date, title")
    assert cli_main(["query", sql]) == 0
    out = capsys.readouterr().out
    assert "深发展Ａ2001年年度报告摘要" in out and "深发展Ａ2002年第一季度报告" in out
    assert "3 row(s)" in out
    assert cli_main(["query", "SELECT * FROM filings ORDER BY filing_id, issuer_id", "--limit", "2"]) == 0
    assert "more not shown" in capsys.readouterr().out

    csv_file, parquet_file = tmp_path / "out.csv", tmp_path / "out.parquet"
    assert cli_main(["query", sql, "--output", str(csv_file)]) == 0
    assert csv_file.read_text(encoding="utf-8").splitlines()[0] == "filing_date,ticker,title"
    assert cli_main(["query", "SELECT * FROM filings", "--output", str(parquet_file)]) == 0
    assert pq.read_table(parquet_file).num_rows == read_published(demo_lake, FILINGS).num_rows
    assert cli_main(["query", "SELECT nope"]) == 2


def test_publish_command_by_source_and_partition(settings, storage, daily_2026, fixtures_dir, monkeypatch,
                                                 capsys) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    assert cli_main(["publish", "--source", "sec_edgar", "--partition", "1993Q4", "--no-alerts"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (first["partitions"], first["inserted"], first["new"]) == (1, 20, 20)
    assert cli_main(["publish", "--partition", "sec_edgar/2026-01-02", "--partition", "sec_edgar/1993Q4",
                     "--no-alerts"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["partitions"], second["inserted"], second["unchanged"]) == (2, 50, 20)
    assert cli_main(["publish", "--partition", "1993Q4"]) == 2  # which source?
    assert clean_partitions(storage) == [("sec_edgar", "1993Q4"), ("sec_edgar", "2026-01-02")]


def test_publish_command_raises_each_alert_once(settings, daily_2026, monkeypatch, capsys, tmp_path,
                                                replay_server) -> None:
    # Document capture goes to the stand-in SEC host (which has no documents: the error is recorded).
    server = replay_server({})
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text("entries:\n  - id: rbc\n    ciks: [1000275]\n    form_types: [424B5]\n", encoding="utf-8")
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)
    monkeypatch.setenv("FILINGLAKE_WATCHLIST", str(watchlist))
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", "filinglake tests tests@example.com")
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)

    assert cli_main(["publish"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["alerts"] == 1
    assert "alert rbc: cik:1000275 & form:424B5" in captured.err and "0000950103-26-000043" in captured.err
    assert cli_main(["publish"]) == 0  # nothing new: no alert again
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["alerts"] == 0


def test_compact_tables_keeps_the_content(settings, storage, daily_2026, quarter_header) -> None:
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    publish(storage, settings)
    land(settings, "sec_edgar", "2026Q1", "master.idx", as_quarterly(daily_2026, quarter_header))
    publish(storage, settings)
    before = sorted_rows(read_published(storage, FILINGS))
    report = compact_tables(storage, retention_hours=0)
    assert report[FILINGS]["vacuumed"] >= 1
    assert sorted_rows(read_published(storage, FILINGS)) == before
    assert run_query("SELECT count(*) AS n FROM filings", storage=storage).to_pylist() == [{"n": 50}]


def test_compaction_clusters_a_month_that_gained_files_by_issuer(settings, storage, fixtures_dir, daily_2026) -> None:
    # Two real days of July 2016 published one after the other: the month has two files, each in
    # issuer order but not together; compaction rewrites it as one run of issuers, rows unchanged.
    for day in ("15", "18"):
        lines = quarter_2016_lines(fixtures_dir, rb"\|2016-07-" + day.encode() + rb"\|")
        land(settings, "sec_edgar", f"2016-07-{day}", f"master.201607{day}.idx", as_daily(lines, header_of(daily_2026)))
        publish(storage, settings, [("sec_edgar", f"2016-07-{day}")])
    month = "published/filings/source=sec_edgar/filing_month=2016-07/"
    table = delta.open_table(storage, FILINGS)
    assert sum(month in uri for uri in table.file_uris()) == 2
    before = sorted_rows(read_published(storage, FILINGS))

    report = compact_tables(storage, retention_hours=0)

    assert report[FILINGS]["clustered_partitions"] == 1
    files = [uri for uri in delta.open_table(storage, FILINGS).file_uris() if month in uri]
    assert len(files) == 1
    written = pq.ParquetFile(files[0])
    issuers = written.read(columns=["issuer_id"])["issuer_id"].to_pylist()
    assert issuers == sorted(issuers) and len(set(issuers)) > 1_000
    assert written.metadata.num_row_groups == -(-len(issuers) // delta.ROW_GROUP_ROWS)
    assert sorted_rows(read_published(storage, FILINGS)) == before
    assert compact_tables(storage, retention_hours=0)[FILINGS]["clustered_partitions"] == 0


# ------------------------------------------------------------------------------------------------
# References fetched into the raw archive
# ------------------------------------------------------------------------------------------------


def test_company_tickers_fetched_once_a_day_into_the_raw_archive(settings, storage, fixtures_dir, replay_server) -> None:
    server = replay_server({("GET", "/files/company_tickers.json"): file_reply(fixtures_dir / COMPANY_TICKERS)})
    fetch_settings = Settings(storage=settings.storage, sec_user_agent="filinglake tests tests@example.com",
                              http_retries=1).with_source("sec_edgar", base_url=server.sec_base_url)
    assert company_tickers_url(fetch_settings) == f"{server.url}/files/company_tickers.json"
    assert company_tickers_url(Settings()) == "https://www.sec.gov/files/company_tickers.json"

    ref = fetch_sec_company_tickers(storage, fetch_settings, today=date(2026, 1, 2))
    again = fetch_sec_company_tickers(storage, fetch_settings, today=date(2026, 1, 2))
    next_day = fetch_sec_company_tickers(storage, fetch_settings, today=date(2026, 1, 3))

    assert ref.key.startswith("raw/source=sec_company_tickers/partition=2026-01-02/")
    assert again.key == ref.key and len(server.requests_to("/files/company_tickers.json")) == 2
    assert next_day.key.startswith("raw/source=sec_company_tickers/partition=2026-01-03/")
    # new when the list differs from the last archived one: the first fetch, not the same bytes next day
    assert (ref.new, again.new, next_day.new) == (True, False, False)
    assert server.requests[0].headers["user-agent"] == "filinglake tests tests@example.com"
    assert storage.get_bytes(ref.key) == (fixtures_dir / COMPANY_TICKERS).read_bytes()


def test_block_page_is_not_archived_as_company_tickers(settings, storage, fixtures_dir, replay_server) -> None:
    from fakes.replay import Reply

    from filinglake.errors import Blocked

    page = (fixtures_dir / "edgar/errors/sec_request_rate_threshold_exceeded.html").read_bytes()
    server = replay_server({("GET", "/files/company_tickers.json"): Reply(body=page, content_type="text/html")})
    fetch_settings = Settings(storage=settings.storage, sec_user_agent="filinglake tests tests@example.com",
                              http_retries=1).with_source("sec_edgar", base_url=server.url + SEC_ARCHIVE_PREFIX)
    with pytest.raises(Blocked, match="Request Rate Threshold Exceeded"):
        fetch_sec_company_tickers(storage, fetch_settings, today=date(2026, 1, 2))
    assert storage.list("raw/source=sec_company_tickers") == []


# ------------------------------------------------------------------------------------------------
# S3
# ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_s3() -> Iterator[str]:
    """moto in server mode on 127.0.0.1, in its own process.

    Not ThreadedMotoServer: delta-rs holds the GIL while it waits for S3, so a server thread in the test's
    own interpreter never answers and every Delta call times out (after 180 s).
    """
    import subprocess
    import sys
    import time

    import boto3
    import httpx

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server_bin = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(server_bin), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"moto_server did not start on {endpoint}")
            time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="filinglake-publish")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_publish_and_query_on_s3(moto_s3: str, fixtures_dir: Path, daily_2026: bytes, tmp_path: Path) -> None:
    settings = Settings(storage="s3://filinglake-publish/lake", s3_endpoint_url=moto_s3, aws_access_key_id="test",
                        aws_secret_access_key="test")
    storage = Storage.from_settings(settings)
    archive_company_tickers(storage, fixtures_dir)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)

    first = publish(storage, settings)
    second = publish(storage, settings)

    assert (first["inserted"], second["inserted"], second["updated"]) == (50, 0, 0)
    assert second["version"] == first["version"]
    ry = run_query(
        "SELECT count(*) AS n FROM filings f JOIN issuers i USING (source, issuer_id) "
        "WHERE i.ticker = 'RY' AND f.filing_date BETWEEN '2026-01-01' AND '2026-01-31'",
        storage=storage,
    )
    assert ry.to_pylist() == [{"n": 17}]
    assert run_query("SELECT sum(published_rows) AS n FROM daily_counts", storage=storage)["n"].to_pylist() == [50]
    written = write_result("SELECT * FROM issuers ORDER BY issuer_id", str(tmp_path / "issuers.parquet"),
                           storage=storage)
    assert written == 16 == pq.read_table(tmp_path / "issuers.parquet").num_rows

    # alerts on the rows the publish inserted, the alerts view and the status page: on S3 as well
    watchlist = parse_watchlist("entries:\n  - id: rbc\n    ciks: [1000275]\n    form_types: [424B5]\n")
    inserted = changed_rows(storage, first["version_before"], first["version"])
    assert len(record_alerts(storage, settings, watchlist, rows=inserted, capture_documents=False)) == 1
    assert record_alerts(storage, settings, watchlist, rows=inserted, capture_documents=False) == []
    assert run_query("SELECT entry_id, filing_id FROM alerts", storage=storage).to_pylist() == [
        {"entry_id": "rbc", "filing_id": "sec_edgar:0000950103-26-000043"}]
    assert write_report(storage, settings) == "s3://filinglake-publish/lake/reports/index.html"
    page = storage.get_bytes("reports/index.html").decode("utf-8")
    assert '<g class="series" data-source="sec_edgar"' in page and "<rect" in page  # the chart
    assert "Latest alerts (1 in total)" in page


# ------------------------------------------------------------------------------------------------
# Concurrent publishes and lost commits
# ------------------------------------------------------------------------------------------------


def published_state(storage: Storage) -> dict[str, list[dict]]:
    """Every published table's rows, sorted (filings without the per-commit lineage-free columns)."""
    counts = read_published(storage, DAILY_COUNTS)
    return {
        FILINGS: sorted_rows(read_published(storage, FILINGS)),
        ISSUERS: sorted_rows(read_published(storage, ISSUERS)),
        DAILY_COUNTS: counts.sort_by([(c, "ascending") for c in ("filing_date", "form_type", "exchange")]).to_pylist(),
    }


def land_daily_and_quarter(settings: Settings, daily_2026: bytes, quarter_header: bytes) -> None:
    """The real 2026-01-02 excerpt, and the same 50 rows as the 2026Q1 index lists them: the same keys twice."""
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    land(settings, "sec_edgar", "2026Q1", "master.idx", as_quarterly(daily_2026, quarter_header))


def sequential_state(settings: Settings, tmp_path: Path) -> dict[str, list[dict]]:
    """The reference: a copy of the lake as landed, the daily and the quarterly published one after the other."""
    import shutil

    copy = tmp_path / "sequential"
    shutil.copytree(Storage.from_settings(settings).base, copy)
    storage = Storage(copy.as_uri())
    publish(storage, None, [("sec_edgar", "2026-01-02")])
    publish(storage, None, [("sec_edgar", "2026Q1")])
    return published_state(storage)


def test_two_publishes_racing_on_the_same_keys_leave_one_row_per_key(
    settings, storage, daily_2026, quarter_header, tmp_path, monkeypatch
) -> None:
    # Both publishes read the table before either writes (a barrier between reading and writing), so
    # both find the 50 keys new and both append them: the later one must fold them back into one row each.
    import threading

    from filinglake.publish import filings

    land_daily_and_quarter(settings, daily_2026, quarter_header)
    expected = sequential_state(settings, tmp_path)
    barrier = threading.Barrier(2, timeout=60)
    classify = filings._classify
    calls = []

    def classify_then_wait(folded, existing):
        result = classify(folded, existing)
        calls.append(1)
        if len(calls) <= 2:  # the first try of each publish
            barrier.wait()
        return result

    monkeypatch.setattr(filings, "_classify", classify_then_wait)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(partition: str) -> None:
        try:
            results[partition] = publish(storage, settings, [("sec_edgar", partition)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in ("2026-01-02", "2026Q1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert results["2026-01-02"]["inserted"] == results["2026Q1"]["inserted"] == 50  # both appended
    assert sum(r.get("repaired", 0) for r in results.values()) == 50
    assert published_state(storage) == expected
    again = publish(storage, settings)
    assert (again["inserted"], again["updated"]) == (0, 0)


def test_two_publish_commands_at_once_both_succeed_or_the_loser_says_one_line(
    settings, storage, daily_2026, quarter_header, tmp_path
) -> None:
    import subprocess
    import sys

    land_daily_and_quarter(settings, daily_2026, quarter_header)
    expected = sequential_state(settings, tmp_path)
    script = "import sys; from filinglake.cli.app import main; sys.exit(main(sys.argv[1:]))"
    environment = {**__import__("os").environ, "FILINGLAKE_STORAGE": settings.storage}
    processes = [
        subprocess.Popen([sys.executable, "-c", script, "publish", "--partition", f"sec_edgar/{p}", "--no-alerts"],
                         env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in ("2026-01-02", "2026Q1")
    ]
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in processes]

    for code, _, err in outcomes:
        assert "Traceback" not in err
        assert code in (0, 2)
        if code == 2:
            assert len([ln for ln in err.splitlines() if ln.startswith("filinglake: error:")]) == 1
    if any(code != 0 for code, _, _ in outcomes):  # the loser: publishing again completes the table
        publish(storage, settings)
    assert published_state(storage) == expected


def test_a_commit_that_keeps_losing_fails_with_one_line(settings, daily_2026, monkeypatch, capsys) -> None:
    from deltalake.exceptions import CommitFailedError

    from filinglake.publish import delta, filings

    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)
    monkeypatch.setattr(delta, "COMMIT_BACKOFF_SECONDS", 0.01)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    tries = []

    def lose(*args, **kwargs):
        tries.append(1)
        raise CommitFailedError("Transaction failed: version already exists: 1")

    monkeypatch.setattr(filings, "_append", lose)

    assert cli_main(["publish", "--no-alerts"]) == 2

    err = capsys.readouterr().err
    assert len(tries) == delta.COMMIT_ATTEMPTS
    errors = [ln for ln in err.splitlines() if ln.startswith("filinglake: error:")]
    assert errors == [errors[0]] and "published/filings: a concurrent writer committed first" in errors[0]
    assert "Traceback" not in err
    assert read_published(Storage.from_settings(settings), FILINGS).num_rows == 0


# ------------------------------------------------------------------------------------------------
# The ledger: publishing what is new or changed
# ------------------------------------------------------------------------------------------------


def table_versions(storage: Storage) -> dict[str, int]:
    return {name: delta.open_table(storage, name).version() for name in delta.existing_tables(storage)}


def test_publish_pending_publishes_only_new_or_changed_partitions(
    settings, storage, daily_2026, fixtures_dir, monkeypatch
) -> None:
    from filinglake.publish import run
    from filinglake.publish.ledger import read_ledger

    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    first = run.publish_pending(storage, settings)
    assert first["partitions"] == [["sec_edgar", "2026-01-02"]] and first["inserted"] == 50
    assert set(read_ledger(storage)) == {"sec_edgar/2026-01-02"}

    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    second = run.publish_pending(storage, settings)
    assert second["partitions"] == [["sec_edgar", "1993Q4"]] and second["inserted"] == 20

    # nothing new: no clean data read, no table written
    versions = table_versions(storage)

    def must_not_read(*args, **kwargs):
        raise AssertionError("a no-op publish read the clean layer")

    monkeypatch.setattr(run, "read_clean", must_not_read)
    assert run.publish_pending(storage, settings)["partitions"] == []
    # landing the same bytes again writes a new manifest with the same content: still nothing to do
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    noop = run.publish_pending(storage, settings)
    assert noop["partitions"] == [] and noop["version"] == noop["version_before"] == versions[FILINGS]
    assert table_versions(storage) == versions
    monkeypatch.undo()

    # a (forced) re-landing with other rows (the last line of the day dropped) is published again, alone
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026.rstrip(b"\n").rsplit(b"\n", 1)[0],
         force=True)
    changed = run.publish_pending(storage, settings)
    assert changed["partitions"] == [["sec_edgar", "2026-01-02"]] and changed["rows_read"] == 49
    assert run.publish_pending(storage, settings)["partitions"] == []


def test_content_id_follows_the_data_not_the_timing() -> None:
    from filinglake.publish.ledger import content_id

    manifest = {"outputs": {"clean": "clean/x.parquet", "clean_bytes": 100}, "rows_in": 3, "rows_written": 2,
                "duplicates": 1, "quarantined": 0, "finished_at": "2026-01-02T00:00:00+00:00", "seconds": 1.5}
    assert content_id(manifest) == content_id({**manifest, "finished_at": "2026-01-03T00:00:00+00:00", "seconds": 9})
    assert content_id(manifest) != content_id({**manifest, "rows_written": 3})
    assert content_id(manifest) != content_id({**manifest, "outputs": {"clean": "clean/x.parquet", "clean_bytes": 99}})


def test_content_id_of_a_committed_partition_follows_its_files_sha256() -> None:
    from filinglake.publish.ledger import content_id

    files = {"clean": [{"key": "clean/filings/source=s/partition=p/ab.parquet", "size": 10, "sha256": "ab", "rows": 2}],
             "quarantine": [{"key": "quarantine/source=s/partition=p/cd.parquet", "size": 5, "sha256": "cd", "rows": 0}]}
    manifest = {"source": "s", "partition": "p", "files": files, "rows_in": 2, "rows_written": 2, "duplicates": 0,
                "quarantined": 0, "finished_at": "2026-01-02T00:00:00+00:00"}
    assert content_id(manifest) == content_id({**manifest, "finished_at": "2026-01-03T00:00:00+00:00"})
    changed = {**files, "clean": [{**files["clean"][0], "sha256": "ef"}]}
    assert content_id(manifest) != content_id({**manifest, "files": changed})


def test_publish_command_without_arguments_publishes_what_is_pending(settings, storage, daily_2026, fixtures_dir,
                                                                     monkeypatch, capsys) -> None:
    monkeypatch.setenv("FILINGLAKE_STORAGE", settings.storage)
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    assert cli_main(["publish", "--no-alerts"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["partitions"] == 1
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    assert cli_main(["publish", "--no-alerts"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["partitions"], out["inserted"]) == (1, 20)
    assert cli_main(["publish", "--no-alerts"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["partitions"] == 0
    assert cli_main(["publish", "--all", "--no-alerts"]) == 0  # everything again: nothing changes
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["partitions"], out["inserted"], out["updated"], out["unchanged"]) == (2, 0, 0, 70)


# ------------------------------------------------------------------------------------------------
# issuers and daily_counts kept in step incrementally: equal to a recomputation from all of filings
# ------------------------------------------------------------------------------------------------


def assert_tables_match_a_recomputation(storage: Storage) -> None:
    from filinglake.publish.daily_counts import build_daily_counts
    from filinglake.publish.issuers import build_issuers
    from filinglake.publish.references import issuer_references

    filings = read_published(storage, FILINGS)
    keys = list(zip(filings["filing_id"].to_pylist(), filings["issuer_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))  # one row per key
    sources = sorted(set(filings["source"].to_pylist()))
    expected_issuers = build_issuers(filings, issuer_references(storage, sources))
    assert sorted_rows(read_published(storage, ISSUERS)) == sorted_rows(expected_issuers)
    order = [(c, "ascending") for c in ("source", "filing_date", "exchange", "form_type")]
    assert (read_published(storage, DAILY_COUNTS).sort_by(order).to_pylist()
            == build_daily_counts(filings).sort_by(order).to_pylist())


def test_issuers_and_daily_counts_stay_exact_publish_after_publish(
    settings, storage, fixtures_dir, daily_2026, quarter_header
) -> None:
    # Real dailies (2020-03-18 lists 144 back-dated rows, back to 2019-07-18), a real quarter, the same
    # rows again as a quarterly index, a rename, a filing listed under another month, new tickers.
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx", (fixtures_dir / "edgar/daily/form.20200318.idx")
         .read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    renamed = as_quarterly(daily_2026, quarter_header).replace(b"|OLD MARKET CAPITAL Corp|", b"|OMC Holdings Corp|")
    land(settings, "sec_edgar", "2026Q1", "master.idx", renamed)
    moved = re.sub(rb"\|2026-01-02\|", b"|2025-12-31|", as_quarterly(daily_2026, quarter_header), count=1)
    land(settings, "sec_edgar", "2025Q4", "master.idx", moved)

    steps = [("sec_edgar", "1993Q4"), ("sec_edgar", "2020-03-18"), ("sec_edgar", "2026-01-02"),
             ("sec_edgar", "2026Q1"), ("sec_edgar", "2025Q4")]
    results = []
    for partition in steps:
        results.append(publish(storage, settings, [partition]))
        assert_tables_match_a_recomputation(storage)
    # the 2020-03-18 day: its 3,000-odd issuers mostly stepped forward, not recomputed from filings
    day = results[1]
    assert day["inserted"] > 3_000 and day["issuers"]["inserted"] > 2_500
    assert day["issuers"]["recomputed"] < day["issuers"]["rows"] / 10
    # a new reference list reaches the issuers of the next batch, and a rebuild reaches all of them
    archive_company_tickers(storage, fixtures_dir)
    publish(storage, settings, [("sec_edgar", "2026-01-02")])
    publish(storage, settings, [("sec_edgar", "2026-01-02")], rebuild_issuers=["sec_edgar"])
    assert_tables_match_a_recomputation(storage)
    assert publish(storage, settings)["inserted"] == 0
    assert_tables_match_a_recomputation(storage)


def _moved_day(lines: list[bytes], day: bytes, tag: int, rename=None) -> list[bytes]:
    """Real 2016 Q3 rows refiled on ``day`` (ISO) under new accessions (``tag`` as their leading digits)."""
    out = []
    for i, line in enumerate(lines):
        line = re.sub(rb"\|\d{4}-\d{2}-\d{2}\|", b"|" + day + b"|", line)
        line = re.sub(rb"/\d{2}(\d{8}-\d{2}-\d{6})\.txt", lambda m: b"/%02d%s.txt" % (tag, m[1]), line)
        if rename is not None:
            cik, name, rest = line.split(b"|", 2)
            line = b"|".join([cik, rename(i, name), rest])
        out.append(line)
    return out


def test_back_dated_and_same_day_filings_step_issuers_forward_exactly(
    settings, storage, fixtures_dir, daily_2026, quarter_header
) -> None:
    # One real day of 2016 Q3 (thousands of issuers) filed again on 15 Sep first; the real day itself
    # then arrives back-dated for every one of those issuers; then the same issuers file again on
    # 15 Sep under other names, half greater and half smaller than the published latest name: a tie
    # of dates decided by the name, as the recomputation decides it.
    day = quarter_2016_lines(fixtures_dir, rb"\|2016-07-15\|")
    assert len(day) > 1_000
    land(settings, "sec_edgar", "2016-09-15", "master.20160915.idx",
         as_daily(_moved_day(day, b"2016-09-15", 91), header_of(daily_2026)))
    land(settings, "sec_edgar", "2016-07-15", "master.20160715.idx", as_daily(day, header_of(daily_2026)))
    renamed = _moved_day(day, b"2016-09-15", 92, lambda i, name: name + b" ZZ" if i % 2 else name[:-1])
    land(settings, "sec_edgar", "2016Q3", "master.idx", quarter_header + b"\n".join(renamed) + b"\n")

    results = []
    for partition in ("2016-09-15", "2016-07-15", "2016Q3"):
        results.append(publish(storage, settings, [("sec_edgar", partition)]))
        assert_tables_match_a_recomputation(storage)
    back_dated, tie = results[1]["issuers"], results[2]["issuers"]
    assert back_dated["recomputed"] == 0 and back_dated["updated"] > 1_000
    assert tie["recomputed"] == 0 and tie["updated"] > 1_000
    latest = {r["issuer_id"]: r for r in read_published(storage, ISSUERS).to_pylist()}
    names = {r["company_name"] for r in latest.values()}
    assert any(n.endswith(" ZZ") for n in names) and not all(n.endswith(" ZZ") for n in names)
    assert publish(storage, settings)["inserted"] == 0
    assert_tables_match_a_recomputation(storage)


def assert_category_counts_match_a_recomputation(storage: Storage) -> None:
    from filinglake.publish.category_counts import CATEGORY_COUNTS, build_category_counts

    order = [(c, "ascending") for c in ("source", "filing_date", "exchange", "category_code")]
    assert (read_published(storage, CATEGORY_COUNTS).sort_by(order).to_pylist()
            == build_category_counts(read_published(storage, FILINGS)).sort_by(order).to_pylist())


def test_both_counts_tables_recount_a_day_from_one_read(settings, storage, fixtures_dir, monkeypatch) -> None:
    # The real 2020-03-18 daily (its back-dated rows reach nine months): daily_counts and
    # category_counts recount the same days from one read of filings, and both stay exact.
    from filinglake.publish import daily_counts

    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    reads = []
    real_read = daily_counts.delta.read_snapshot

    def counted(table, schema, where=None, columns=None):
        if schema is PUBLISHED_FILINGS_SCHEMA and where and "filing_date IN" in where:  # the recounted days
            reads.append(where)
        return real_read(table, schema, where, columns)

    monkeypatch.setattr(daily_counts.delta, "read_snapshot", counted)
    result = publish(storage, settings, [("sec_edgar", "2020-03-18")])

    assert len(reads) == 1 and result["daily_counts"]["inserted"] > 0 and result["category_counts"]["inserted"] > 0
    assert_tables_match_a_recomputation(storage)
    assert_category_counts_match_a_recomputation(storage)


def test_a_recount_rewrites_only_the_months_of_its_days(settings, storage, fixtures_dir, daily_2026) -> None:
    # The real 2020-03-18 daily (rows from July 2019 to March 2020) published, then one real day of July
    # 2016: daily_counts and category_counts rewrite the July 2016 partition only, and stay exact.
    from filinglake.publish.category_counts import CATEGORY_COUNTS

    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    before = {name: set(delta.open_table(storage, name).file_uris()) for name in (DAILY_COUNTS, CATEGORY_COUNTS)}
    assert all(len({uri.split("filing_month=")[1][:7] for uri in files}) == 9 for files in before.values())
    lines = quarter_2016_lines(fixtures_dir, rb"\|2016-07-15\|")
    land(settings, "sec_edgar", "2016-07-15", "master.20160715.idx", as_daily(lines, header_of(daily_2026)))

    result = publish(storage, settings, [("sec_edgar", "2016-07-15")])

    assert result["daily_counts"]["inserted"] > 100
    for name, files in before.items():
        after = set(delta.open_table(storage, name).file_uris())
        assert files <= after  # every file of the nine 2019/2020 months is still the current one
        assert {uri.split("filing_month=")[1][:7] for uri in after - files} == {"2016-07"}
    assert_tables_match_a_recomputation(storage)
    assert run_query("SELECT count(DISTINCT filing_month) AS n FROM daily_counts", storage=storage).to_pylist() == [
        {"n": 10}]


def test_a_back_dated_row_recounts_only_the_counts_it_falls_in(settings, storage, fixtures_dir, daily_2026) -> None:
    # The real rows of 2016-07-15 published as that day's daily, except two of its seven S-8 filings; those
    # arrive back-dated in the next day's daily. Only the counts they fall in are recounted (one per
    # table: their form type, their category), not the day's other form types, and both tables stay exact.
    day = quarter_2016_lines(fixtures_dir, rb"\|2016-07-15\|")
    late = [line for line in day if b"|S-8|" in line][-2:]
    land(settings, "sec_edgar", "2016-07-15", "master.20160715.idx",
         as_daily([line for line in day if line not in late], header_of(daily_2026)))
    first = publish(storage, settings, [("sec_edgar", "2016-07-15")])
    land(settings, "sec_edgar", "2016-07-18", "master.20160718.idx", as_daily(late, header_of(daily_2026)))

    result = publish(storage, settings, [("sec_edgar", "2016-07-18")])

    assert first["daily_counts"]["rows"] > 50  # the day's form types, every one counted the first time
    assert result["inserted"] == 2
    assert (result["daily_counts"]["rows"], result["daily_counts"]["updated"], result["daily_counts"]["inserted"]) == (
        1, 1, 0)
    assert result["category_counts"]["rows"] == 1
    assert_tables_match_a_recomputation(storage)
    counts = read_published(storage, DAILY_COUNTS, "form_type = 'S-8'").to_pylist()
    assert [(c["filing_date"].isoformat(), c["published_rows"]) for c in counts] == [("2016-07-15", 7)]
    assert_category_counts_match_a_recomputation(storage)


def test_a_recount_reads_only_the_months_of_its_days(settings, storage, fixtures_dir, daily_2026) -> None:
    # The real 2020-03-18 daily fills nine months (July 2019 to March 2020) of both counts tables; a real
    # day of July 2016 published next is merged without reading any file of those months (a delete
    # scope made delta-rs read every file of the table, a cost that grew with the history).
    from filinglake.publish.category_counts import CATEGORY_COUNTS

    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    lines = quarter_2016_lines(fixtures_dir, rb"\|2016-07-15\|")
    land(settings, "sec_edgar", "2016-07-15", "master.20160715.idx", as_daily(lines[:300], header_of(daily_2026)))
    first = publish(storage, settings, [("sec_edgar", "2016-07-15")])
    assert first["daily_counts"]["inserted"] > 30
    assert first["daily_counts"]["files_read"] == first["category_counts"]["files_read"] == 0
    # the same day again with more rows: only July 2016's file is read and rewritten
    land(settings, "sec_edgar", "2016-07-15", "master.20160715.idx", as_daily(lines, header_of(daily_2026)))
    again = publish(storage, settings, [("sec_edgar", "2016-07-15")])
    assert again["daily_counts"]["updated"] > 0
    assert again["daily_counts"]["files_read"] == again["category_counts"]["files_read"] == 1
    assert {uri.split("filing_month=")[1][:7] for uri in delta.open_table(storage, CATEGORY_COUNTS).file_uris()} \
        == {"2016-07", "2019-07", "2019-08", "2019-09", "2019-10", "2019-11", "2019-12", "2020-01", "2020-02", "2020-03"}
    assert_tables_match_a_recomputation(storage)


def test_a_recount_rewrites_only_the_months_whose_counts_changed(settings, storage, fixtures_dir) -> None:
    # The real 2020-03-18 daily (nine months of days) published, then landed again with one more
    # 1-A filing on 2020-03-18: all its days are recounted, only March 2020's counts differ, and only
    # March 2020's files of both counts tables are rewritten.
    from filinglake.publish.category_counts import CATEGORY_COUNTS

    daily = (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes()
    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx", daily)
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    before = {name: set(delta.open_table(storage, name).file_uris()) for name in (DAILY_COUNTS, CATEGORY_COUNTS)}
    line = next(ln for ln in daily.splitlines(keepends=True) if b"0001140361-20-006155" in ln)
    extra = line.replace(b"0001140361-20-006155", b"0001140361-20-906155")
    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx", daily.replace(line, line + extra), force=True)

    result = publish(storage, settings, [("sec_edgar", "2020-03-18")])

    assert (result["inserted"], result["daily_counts"]["updated"], result["daily_counts"]["inserted"]) == (1, 1, 0)
    for name, files in before.items():
        after = set(delta.open_table(storage, name).file_uris())
        assert {uri.split("filing_month=")[1][:7] for uri in (files - after) | (after - files)} == {"2020-03"}
    assert_tables_match_a_recomputation(storage)


def test_filings_get_a_checkpoint_once_their_log_is_long(settings, storage, fixtures_dir, daily_2026,
                                                         monkeypatch) -> None:
    # every open of a table replays the commits since its last checkpoint: a publish writes one for
    # filings when CHECKPOINT_EVERY commits have piled up (20; 3 here, with two real partitions)
    monkeypatch.setattr(delta, "CHECKPOINT_EVERY", 3)
    marker = f"published/{FILINGS}/_delta_log/_last_checkpoint"
    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    publish(storage, settings, [("sec_edgar", "1993Q4")])  # creates the table (v0) and appends (v1)
    assert not storage.exists(marker)
    publish(storage, settings, [("sec_edgar", "2026-01-02")])  # v2: three commits since none
    table = delta.open_table(storage, FILINGS)
    assert json.loads(storage.get_bytes(marker))["version"] == table.version() == 2
    assert not delta.checkpoint_if_due(storage, FILINGS, table)  # nothing new since
    before = sorted_rows(read_published(storage, FILINGS))
    assert publish(storage, settings, [("sec_edgar", "2026-01-02")])["inserted"] == 0
    assert sorted_rows(read_published(storage, FILINGS)) == before
    assert_tables_match_a_recomputation(storage)


def publish_daily_leaving_issuers_behind(settings: Settings, storage: Storage, fixtures_dir: Path,
                                         daily_2026: bytes) -> None:
    """1993Q4 published whole; then the 2026-01-02 daily merged into filings while issuers fails."""
    from filinglake.publish import issuers

    land(settings, "sec_edgar", "1993Q4", "master.idx", (fixtures_dir / QUARTER_1993).read_bytes())
    land(settings, "sec_edgar", "2026-01-02", "master.20260102.idx", daily_2026)
    publish(storage, settings, [("sec_edgar", "1993Q4")])

    def fail(*args, **kwargs):
        raise OSError("storage went away")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(issuers, "refresh_issuers", fail)
        with pytest.raises(OSError, match="storage went away"):
            publish(storage, settings, [("sec_edgar", "2026-01-02")])
    assert read_published(storage, FILINGS).num_rows == 70
    assert read_published(storage, ISSUERS).num_rows == 17  # the daily's issuers are missing


def test_a_refresh_that_failed_is_caught_up_by_the_next_publish(settings, storage, fixtures_dir, daily_2026) -> None:
    publish_daily_leaving_issuers_behind(settings, storage, fixtures_dir, daily_2026)

    caught_up = publish(storage, settings, [("sec_edgar", "1993Q4")])  # another partition, unchanged

    assert caught_up["inserted"] == 0 and caught_up["issuers"]["inserted"] == 16
    assert_tables_match_a_recomputation(storage)


def test_an_unreadable_change_feed_falls_back_to_a_recomputation(
    settings, storage, fixtures_dir, daily_2026, monkeypatch
) -> None:
    # The feed since the tables' watermark is gone (vacuumed after a week of failed refreshes).
    from deltalake.exceptions import DeltaError

    from filinglake.publish import filings

    publish_daily_leaving_issuers_behind(settings, storage, fixtures_dir, daily_2026)

    def vacuumed(*args, **kwargs):
        raise DeltaError("Generic DeltaTable error: change data files not found")

    monkeypatch.setattr(filings, "change_feed", vacuumed)
    result = publish(storage, settings, [("sec_edgar", "1993Q4")])

    assert result["issuers"]["rebuilt"] == ["sec_edgar"] and result["issuers"]["inserted"] == 16
    assert_tables_match_a_recomputation(storage)


def test_the_recounted_days_of_a_source_without_categories_are_read_without_them(settings, storage, fixtures_dir,
                                                                                  monkeypatch) -> None:
    # SEC maps no form type to a category, so every SEC row's categories are null: the recount of the real
    # 2020-03-18 daily's 36 days does not read that column (a quarter of the read), and counts stay exact
    from filinglake.publish.categories import has_categories

    land(settings, "sec_edgar", "2020-03-18", "form.20200318.idx",
         (fixtures_dir / "edgar/daily/form.20200318.idx").read_bytes())
    read_columns = []
    read_snapshot = delta.read_snapshot

    def recording(table, schema, where=None, columns=None):
        if schema is PUBLISHED_FILINGS_SCHEMA and where and "filing_date IN" in where:  # the recounted days
            read_columns.append(list(columns or schema.names))
        return read_snapshot(table, schema, where, columns)

    monkeypatch.setattr(delta, "read_snapshot", recording)
    publish(storage, settings, [("sec_edgar", "2020-03-18")])
    assert read_columns and all("categories" not in c and "form_type" in c for c in read_columns)
    assert not has_categories("sec_edgar")
    assert has_categories("cninfo") and has_categories("hkex")
    assert_tables_match_a_recomputation(storage)
    assert_category_counts_match_a_recomputation(storage)
