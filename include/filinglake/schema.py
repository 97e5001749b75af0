"""The unified filings schema: one row = one disclosure as seen for one issuer.

Every source maps its rows onto these columns; the clean layer, the quarantine layer and the
published tables all start from here. Text is kept as filed; normalised copies get their own
columns (``title_clean``) instead of overwriting the original.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

import pyarrow as pa

#: column name -> (Arrow type, nullable, meaning). The order here is the column order on disk.
FIELDS: list[tuple[str, pa.DataType, bool, str]] = [
    ("filing_id", pa.string(), False, "`<source>:<native id>`, e.g. `sec_edgar:0001021408-01-503754`"),
    ("source", pa.string(), False, "`sec_edgar`, `cninfo`, `hkex`"),
    ("exchange", pa.string(), False, "venue or regulator: `SEC`, `SZSE`, `SSE`, `BSE`, `HKEX`"),
    ("native_id", pa.string(), False, "accession number, announcementId, NEWS_ID (always a string)"),
    ("issuer_id", pa.string(), False, "CIK (no padding), CNINFO orgId, HKEX stock code (5 digits)"),
    ("ticker", pa.string(), True, "market-suffixed where known: `002236.SZ`, `600519.SS`, `0700.HK`"),
    ("company_name", pa.string(), True, "issuer name as filed"),
    ("form_type", pa.string(), True, "SEC form type, CNINFO category, HKEX headline category"),
    ("title", pa.string(), True, "announcement title as filed (none in SEC indexes)"),
    ("title_clean", pa.string(), True, "title without markup or HTML entities"),
    ("language", pa.string(), False, "`en`, `zh`"),
    ("filed_at", pa.timestamp("us", tz="UTC"), True, "exact time where the source has it (UTC)"),
    ("filing_date", pa.date32(), True, "the date in the exchange's own time zone"),
    ("document_url", pa.string(), True, "absolute URL of the document or its index page"),
    ("raw_key", pa.string(), False, "object key of the raw file this row came from"),
    ("archived_at", pa.timestamp("us", tz="UTC"), False, "when the raw file was first archived"),
]

FILINGS_SCHEMA = pa.schema([pa.field(name, typ, nullable=True) for name, typ, _, _ in FIELDS])

#: Column names an earlier version wrote in clean and quarantine Parquet → today's name. A lake written
#: before a rename keeps working: its readers (:func:`with_current_names` in ``manifests.read_layer``,
#: the quarantine view, the status page's statistics) read the old column under the new name.
FORMER_COLUMN_NAMES: dict[str, str] = {"ingested_at": "archived_at"}


def former_names(column: str) -> list[str]:
    """Names ``column`` had in Parquet written by earlier versions (newest rename first)."""
    return [old for old, new in FORMER_COLUMN_NAMES.items() if new == column]


def with_current_names(table: pa.Table) -> pa.Table:
    """``table`` with columns of a former name renamed to today's (unchanged when it has none)."""
    names = set(table.column_names)
    renames = {old: new for old, new in FORMER_COLUMN_NAMES.items() if old in names and new not in names}
    return table.rename_columns([renames.get(n, n) for n in table.column_names]) if renames else table

#: Columns that describe the disclosure itself (everything but lineage); exact duplicates are
#: rows equal on all of these.
CONTENT_COLUMNS: list[str] = [name for name, *_ in FIELDS if name not in ("raw_key", "archived_at")]

#: What a parser returns: the unified columns without the lineage columns the pipeline adds.
PARSED_SCHEMA = pa.schema([f for f in FILINGS_SCHEMA if f.name in CONTENT_COLUMNS])

QUARANTINE_SCHEMA = FILINGS_SCHEMA.append(
    pa.field("failed_checks", pa.list_(pa.string()), nullable=False)
)


def empty_parsed() -> pa.Table:
    """A zero-row table with the parser schema (a day with no filings)."""
    return PARSED_SCHEMA.empty_table()


def conform(table: pa.Table, schema: pa.Schema = PARSED_SCHEMA) -> pa.Table:
    """Reorder and cast ``table`` to ``schema``; missing nullable columns become nulls."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def describe() -> str:
    """The schema as a Markdown table (used by the README and `filinglake schema`)."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for name, typ, nullable, meaning in FIELDS:
        kind = f"{typ}{', null' if nullable else ''}"
        lines.append(f"| {name} | {kind} | {meaning} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Alerts (published/alerts): one row per (watchlist entry, filing_id, issuer_id), inserted once
# ------------------------------------------------------------------------------------------------

ALERTS_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string(), nullable=False),  # sha256 of entry id, filing_id, issuer_id
        pa.field("entry_id", pa.string(), nullable=False),  # the watchlist entry that matched
        pa.field("entry_name", pa.string()),
        pa.field("matched_on", pa.string()),  # e.g. "ticker:002236.SZ & word:新疆"
        pa.field("filing_id", pa.string(), nullable=False),
        pa.field("issuer_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("exchange", pa.string()),
        pa.field("ticker", pa.string()),
        pa.field("company_name", pa.string()),
        pa.field("title", pa.string()),  # as filed (may hold HTML entities such as &#x3b;)
        pa.field("form_type", pa.string()),
        pa.field("filing_date", pa.date32()),
        pa.field("document_url", pa.string()),
        pa.field("alerted_at", pa.timestamp("us", tz="UTC")),
        pa.field("document_key", pa.string()),  # raw/documents/... of the captured document
        pa.field("document_sha256", pa.string()),
        pa.field("document_bytes", pa.int64()),
        pa.field("document_content_type", pa.string()),
        pa.field("document_error", pa.string()),  # why the document was not captured
        pa.field("title_clean", pa.string()),  # the title decoded, as shown to people (last: older tables gain it)
    ]
)


# ================================================================================================
# Published tables (Delta, under published/<name>): written by filinglake.publish
# ================================================================================================
# Each table is listed as (column, Arrow type, meaning); every column is nullable in Arrow. The
# module that maintains a table is named after it: filinglake/publish/<table>.py.

_TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.string())
#: one readable category of a published row (:mod:`filinglake.publish.categories`)
CATEGORY_TYPE = pa.struct([
    pa.field("code", pa.string()),  # the source's own code (CNINFO announcementType code, HKEX t1/t2 code)
    pa.field("name_zh", pa.string()),  # its Chinese name, from the source's own list
    pa.field("name_en", pa.string()),  # its English name
])
CATEGORIES_TYPE = pa.list_(CATEGORY_TYPE)

#: ``published/filings``: one row per (filing_id, issuer_id) across every source and every ingest,
#: partitioned by ``source`` and ``filing_month``; see :mod:`filinglake.publish.filings`.
PUBLISHED_FILINGS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("filing_id", pa.string(), "`<source>:<native id>` (key, with issuer_id)"),
    ("issuer_id", pa.string(), "CIK, CNINFO orgId, HKEX stock code (key, with filing_id)"),
    ("source", pa.string(), "`sec_edgar`, `cninfo`, `hkex` (partition column)"),
    ("exchange", pa.string(), "venue or regulator, from the latest ingest"),
    ("native_id", pa.string(), "accession number, announcementId, NEWS_ID"),
    ("ticker", pa.string(), "ticker on the latest ingest that had one"),
    ("company_name", pa.string(), "issuer name on the latest ingest"),
    ("company_names", _STRINGS, "every name the filing was listed under, sorted"),
    ("form_type", pa.string(), "form type of the first ingest (the earliest archived_at)"),
    ("form_types", _STRINGS, "every form type it was listed under, sorted (a combined SEC filing has several)"),
    ("title", pa.string(), "title as filed, latest ingest"),
    ("title_clean", pa.string(), "title without markup, latest ingest"),
    ("language", pa.string(), "`en`, `zh`"),
    ("filed_at", _TIMESTAMP_UTC, "exact filing time where the source has it"),
    ("filing_date", pa.date32(), "filing date of the first ingest: a row never moves once published"),
    ("filing_month", pa.string(), "`YYYY-MM` of filing_date (`unknown` without one); partition column"),
    ("document_url", pa.string(), "document or index page, latest ingest"),
    ("raw_key", pa.string(), "raw object of the latest ingest"),
    ("first_seen_at", _TIMESTAMP_UTC, "earliest archived_at of the rows folded in"),
    ("last_seen_at", _TIMESTAMP_UTC, "latest archived_at of the rows folded in"),
    ("categories", CATEGORIES_TYPE, "categories form_type names, each {code, name_zh, name_en}: CNINFO each "
     "announcementType code, HKEX the tier-one then tier-two categories; unknown code: names null; null "
     "when the source has no category scheme (SEC) or the row no form_type"),
    ("issuer_name", pa.string(), "the issuer's name in the reference list (`securities`) valid at the filing date, "
     "else the nearest in time, in the row's language (`zh`: name_zh, else name_en; either falls back to name): "
     "CNINFO short Chinese name, HKEX English or Chinese short name, SEC title; null when no list names the "
     "issuer. company_name stays as filed"),
]

#: ``published/issuers``: one row per (source, issuer_id); see :mod:`filinglake.publish.issuers`.
ISSUERS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("source", pa.string(), "source of its filings (key, with issuer_id; partition column)"),
    ("issuer_id", pa.string(), "CIK, CNINFO orgId, HKEX stock code (5 digits)"),
    ("exchange", pa.string(), "exchange of its latest filing"),
    ("company_name", pa.string(), "the name on its latest filing"),
    ("former_names", _STRINGS, "every other name it filed under, sorted"),
    ("issuer_name", pa.string(), "the name its source's latest archived reference list gives it (SEC title, CNINFO "
     "short Chinese name, HKEX English short name); null when that list does not name it"),
    ("ticker", pa.string(), "main ticker: the reference list's first, else the latest filed"),
    ("tickers", _STRINGS, "every ticker from its filings and the reference list, sorted"),
    ("cik", pa.string(), "SEC CIK (unpadded); null for other sources"),
    ("stock_code", pa.string(), "CNINFO 6-digit code, HKEX 5-digit code"),
    ("org_id", pa.string(), "CNINFO orgId"),
    ("first_filing_date", pa.date32(), "earliest filing_date of its published rows"),
    ("last_filing_date", pa.date32(), "latest filing_date of its published rows"),
    ("filings", pa.int64(), "number of its published rows in filings"),
    ("last_seen_at", _TIMESTAMP_UTC, "latest last_seen_at of its published rows"),
]

#: ``published/daily_counts``: published rows per (source, exchange, form_type, filing_date); see
#: :mod:`filinglake.publish.daily_counts`.
DAILY_COUNTS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("source", pa.string(), "key, with exchange, form_type and filing_date; partition column"),
    ("exchange", pa.string(), "exchange of the published rows (empty string when none)"),
    ("form_type", pa.string(), "the published row's form_type (empty string when a source has none)"),
    ("filing_date", pa.date32(), "the published row's filing_date (rows without one are not counted)"),
    ("filing_month", pa.string(), "`YYYY-MM` of filing_date"),
    ("published_rows", pa.int64(), "published rows: one per (filing_id, issuer_id)"),
    ("filings", pa.int64(), "distinct filing_id"),
    ("issuers", pa.int64(), "distinct issuer_id"),
]

#: ``published/category_counts``: published rows per (source, exchange, category, filing_date); a row
#: with several categories counts once under each; see :mod:`filinglake.publish.category_counts`.
CATEGORY_COUNTS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("source", pa.string(), "key, with exchange, the category columns and filing_date; partition column"),
    ("exchange", pa.string(), "exchange of the published rows (empty string when none)"),
    ("category_code", pa.string(), "the category's code; empty string for a name without a known code, "
     "and (with both names empty) for rows without categories"),
    ("category_name_zh", pa.string(), "its Chinese name (empty string when unknown)"),
    ("category_name_en", pa.string(), "its English name (empty string when unknown)"),
    ("filing_date", pa.date32(), "the published row's filing_date (rows without one are not counted)"),
    ("filing_month", pa.string(), "`YYYY-MM` of filing_date"),
    ("published_rows", pa.int64(), "published rows in this category: one per (filing_id, issuer_id)"),
    ("filings", pa.int64(), "distinct filing_id"),
    ("issuers", pa.int64(), "distinct issuer_id"),
]


#: ``published/securities``: every security the archived reference lists name, with or without filings,
#: one row per version (SCD-2: a name or listing change closes a row and opens the next); see
#: :mod:`filinglake.publish.securities`.
SECURITIES_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("source", pa.string(), "source whose reference list names it (key, with issuer_id, security_id, valid_from)"),
    ("issuer_id", pa.string(), "CIK, CNINFO orgId, HKEX stock code: joins filings.issuer_id"),
    ("security_id", pa.string(), "the security within its issuer: the ticker (SEC), the stock code (CNINFO 6 "
     "digits, HKEX 5 digits)"),
    ("ticker", pa.string(), "market-suffixed ticker: `AAPL`, `002236.SZ`, `600519.SS`, `0700.HK`"),
    ("name", pa.string(), "name as the list spells it (SEC title, CNINFO short Chinese name, HKEX English short name; "
     "HKEX Chinese short name for a code only HKEXnews' Chinese list names)"),
    ("name_pinyin", pa.string(), "pinyin initials of the CNINFO short name; null for others"),
    ("exchange", pa.string(), "listing venue (CNINFO: SZSE/SSE/BSE from code and orgId; `HKEX`); null where the list "
     "names none"),
    ("stock_code", pa.string(), "CNINFO 6-digit or HKEX 5-digit stock code; null for SEC"),
    ("category", pa.string(), "CNINFO share class: `A股`, `B股`, `CDR`; null for others"),
    ("board", pa.string(), "market segment: HKEX `Main Board` or `GEM` (codes 08000-08999); null where unknown"),
    ("stock_id", pa.string(), "the source's internal id of the security: HKEXnews `stockId` (what its title search "
     "asks for); null for others"),
    ("name_en", pa.string(), "English name where the list has one (SEC title, HKEX short name); null otherwise "
     "(HKEX: a code only the Chinese list names)"),
    ("name_zh", pa.string(), "Chinese name where the list has one (CNINFO short name; HKEX short name from "
     "HKEXnews' Chinese list, joined on the stock code); null otherwise"),
    ("is_primary", pa.bool_(), "the issuer's main listing (SEC: its first ticker in company_tickers.json)"),
    ("valid_from", pa.date32(), "archive day of the first snapshot listing this version"),
    ("valid_to", pa.date32(), "archive day of the first snapshot without it (exclusive); null while current"),
    ("is_current", pa.bool_(), "listed, as it is, in the latest snapshot"),
    ("last_seen_on", pa.date32(), "archive day of the last snapshot listing this version"),
    ("raw_key", pa.string(), "raw object of the snapshot that opened this version"),
]


#: ``published/issuer_links``: one row per (link, member issuer): issuers of several sources that are one
#: company, each with the evidence that joined it; see :mod:`filinglake.publish.links`.
ISSUER_LINKS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("link_id", pa.string(), "the link (key, with source and issuer_id): the reviewed entry's id, else "
     "`<source>:<issuer_id>` of its first member"),
    ("link_name", pa.string(), "the company: the reviewed entry's name, else a member's full name"),
    ("link_confidence", pa.string(), "`high` when high evidence alone holds the link together, else `medium`"),
    ("source", pa.string(), "the member's source: joins filings/issuers with issuer_id"),
    ("issuer_id", pa.string(), "the member: CIK, CNINFO orgId, HKEX stock code"),
    ("exchange", pa.string(), "the member's venue, where known"),
    ("ticker", pa.string(), "the member's main ticker (current reference list, else issuers, else the reviewed entry)"),
    ("name", pa.string(), "the member's name (current reference list, else its latest filing); null when unknown"),
    ("rule", pa.string(), "the strongest evidence joining the member: `curated`, `full_name`, `secondary_listing_ticker`"),
    ("confidence", pa.string(), "that evidence's confidence: `high` (curated, full_name) or `medium`"),
    ("matched_value", pa.string(), "what matched exactly: the normalised full name, the ticker, the reviewed entry id"),
    ("linked_to", pa.string(), "`<source>:<issuer_id>` of the member that evidence joins it to"),
    ("evidence", pa.string(), "the evidence in words, with the values compared (reviewed entries: their sources)"),
    ("valid_from", pa.date32(), "first day the evidence held (both listings named so); null when undated"),
    ("valid_to", pa.date32(), "day it stopped holding (exclusive); null while it holds or when undated"),
]


def _published_schema(fields: list[tuple[str, pa.DataType, str]]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ, _ in fields])


PUBLISHED_FILINGS_SCHEMA = _published_schema(PUBLISHED_FILINGS_FIELDS)
ISSUERS_SCHEMA = _published_schema(ISSUERS_FIELDS)
DAILY_COUNTS_SCHEMA = _published_schema(DAILY_COUNTS_FIELDS)
SECURITIES_SCHEMA = _published_schema(SECURITIES_FIELDS)
CATEGORY_COUNTS_SCHEMA = _published_schema(CATEGORY_COUNTS_FIELDS)
ISSUER_LINKS_SCHEMA = _published_schema(ISSUER_LINKS_FIELDS)

#: every view of ``filinglake query`` that the data dictionary documents, name → Arrow schema, in the
#: dictionary's order; the ``quarantine`` view adds the partition each quarantined row came from
VIEW_SCHEMAS: dict[str, pa.Schema] = {
    "filings": PUBLISHED_FILINGS_SCHEMA,
    "issuers": ISSUERS_SCHEMA,
    "daily_counts": DAILY_COUNTS_SCHEMA,
    "category_counts": CATEGORY_COUNTS_SCHEMA,
    "alerts": ALERTS_SCHEMA,
    "securities": SECURITIES_SCHEMA,
    "issuer_links": ISSUER_LINKS_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA.append(pa.field("partition", pa.string())),
}


# ------------------------------------------------------------------------------------------------
# The data dictionary: what every column of every published table means, with an example value
# ------------------------------------------------------------------------------------------------
# ``python -m filinglake.data_dictionary`` renders it with the tables' Arrow schemas into
# docs/data_dictionary.md; tests fail when a published column has no entry here, when an entry names
# no column, and when an example does not fit the column's type or (for columns whose values do not
# depend on when the pipeline ran) does not occur in the demo's published data.


class ColumnDoc(NamedTuple):
    meaning: str
    example: object  # a Python value of the column's type (str, int, date, datetime, list[str])


class TableDoc(NamedTuple):
    about: str
    columns: dict[str, ColumnDoc]


_MEANING = {name: meaning for name, _, _, meaning in FIELDS}
_RBC_ACCESSION = "0001140361-16-072674"  # a 424B5 of Royal Bank of Canada (CIK 1000275) in the 2016Q3 master
_RBC_FILING_ID = f"sec_edgar:{_RBC_ACCESSION}"
_HKEX_FILING_ID = "hkex:11924816"
#: examples of ``source``: the source part of an example filing_id (no source is named outside sources/)
_SEC_SOURCE, _HKEX_SOURCE = (_RBC_FILING_ID.split(":", 1)[0], _HKEX_FILING_ID.split(":", 1)[0])
_RBC_URL = "https://www.sec.gov/Archives/edgar/data/1000275/000114036116072674/0001140361-16-072674-index.htm"
_RBC_RAW = "raw/source=sec_edgar/partition=2016Q3/442a39b78fd81f05-master.gz"
_RUN_TIME = datetime(2026, 1, 5, 11, 2, 7, tzinfo=UTC)  # columns holding when the pipeline ran: any instant
_HKEX_TITLE = ("DECISION OF THE LISTING COMMITTEE ON CANCELLATION OF LISTING&#x3b; REQUEST TO THE LISTING REVIEW "
               "COMMITTEE TO REVIEW THE DECISION OF THE LISTING COMMITTEE&#x3b; AND CONTINUED SUSPENSION OF TRADING")

#: the unified columns as the clean and quarantine layers hold them (examples: an HKEX row)
_LANDED_COLUMNS: dict[str, ColumnDoc] = {
    "filing_id": ColumnDoc(_MEANING["filing_id"], _HKEX_FILING_ID),
    "source": ColumnDoc(_MEANING["source"], _HKEX_SOURCE),
    "exchange": ColumnDoc(_MEANING["exchange"], "HKEX"),
    "native_id": ColumnDoc(_MEANING["native_id"], "11924816"),
    "issuer_id": ColumnDoc(_MEANING["issuer_id"], "00007"),
    "ticker": ColumnDoc(_MEANING["ticker"], "0007.HK"),
    "company_name": ColumnDoc(_MEANING["company_name"], "WISDOM WEALTH"),
    "form_type": ColumnDoc(_MEANING["form_type"], "Announcements and Notices - [Other - Business Update / Suspension]"),
    "title": ColumnDoc(_MEANING["title"], "LIST OF DIRECTORS AND THEIR ROLE AND FUNCTION"),
    "title_clean": ColumnDoc(_MEANING["title_clean"], "LIST OF DIRECTORS AND THEIR ROLE AND FUNCTION"),
    "language": ColumnDoc(_MEANING["language"], "en"),
    "filed_at": ColumnDoc(_MEANING["filed_at"], datetime(2025, 11, 4, 9, 0, tzinfo=UTC)),
    "filing_date": ColumnDoc(_MEANING["filing_date"], date(2025, 11, 4)),
    "document_url": ColumnDoc(_MEANING["document_url"], "https://www1.hkexnews.hk/listedco/listconews/sehk/2025/1111/2025111101374.pdf"),
    "raw_key": ColumnDoc(_MEANING["raw_key"],
                         "raw/source=hkex/partition=2025-11-04-en/ee8f61cd586c119a-titleSearch-2025-11-04-en-all.json"),
    "archived_at": ColumnDoc(_MEANING["archived_at"], _RUN_TIME),
}

DATA_DICTIONARY: dict[str, TableDoc] = {
    "filings": TableDoc(
        "Delta table `published/filings`: one row per disclosure and issuer (`filing_id`, `issuer_id`) across "
        "every source and every ingest (a SEC accession listed in a daily and a quarterly index is one row). "
        "Partitioned by `source` and `filing_month`: filter on them to read less.",
        {
            "filing_id": ColumnDoc(_MEANING["filing_id"], _RBC_FILING_ID),
            "issuer_id": ColumnDoc(_MEANING["issuer_id"], "1000275"),
            "source": ColumnDoc(_MEANING["source"], _SEC_SOURCE),
            "exchange": ColumnDoc(_MEANING["exchange"], "SEC"),
            "native_id": ColumnDoc(_MEANING["native_id"], _RBC_ACCESSION),
            "ticker": ColumnDoc(_MEANING["ticker"] + "; SEC rows get the ticker valid for the CIK at the filing date "
                                "from the archived `company_tickers.json` snapshots (`securities`)", "000001.SZ"),
            "company_name": ColumnDoc("issuer name as filed, from the latest ingest that listed one", "ROYAL BANK OF CANADA"),
            "company_names": ColumnDoc("every name the filing was listed under, sorted", ["ROYAL BANK OF CANADA"]),
            "form_type": ColumnDoc(_MEANING["form_type"] + "; the first one seen", "424B5"),
            "form_types": ColumnDoc("every form type the filing was listed under, sorted", ["424B5"]),
            "title": ColumnDoc(_MEANING["title"], "深发展Ａ2001年中期报告"),
            "title_clean": ColumnDoc(_MEANING["title_clean"] + "; search this one", "深发展Ａ2001年中期报告"),
            "language": ColumnDoc(_MEANING["language"], "zh"),
            "filed_at": ColumnDoc(_MEANING["filed_at"] + "; null in SEC indexes",
                                  datetime(2001, 8, 21, 3, 25, 15, tzinfo=UTC)),
            "filing_date": ColumnDoc(_MEANING["filing_date"] + "; the first one seen", date(2016, 7, 18)),
            "filing_month": ColumnDoc("`YYYY-MM` of `filing_date` (`unknown` without one); partition column with "
                                      "`source`", "2016-07"),
            "document_url": ColumnDoc(_MEANING["document_url"], _RBC_URL),
            "raw_key": ColumnDoc(_MEANING["raw_key"] + " (the latest ingest)", _RBC_RAW),
            "first_seen_at": ColumnDoc("earliest `archived_at` of the rows folded into this one (UTC)", _RUN_TIME),
            "last_seen_at": ColumnDoc("latest `archived_at` of the rows folded into this one (UTC)", _RUN_TIME),
            "categories": ColumnDoc(
                "readable categories of `form_type`, each {code, name_zh, name_en}: CNINFO each `announcementType` "
                "code, HKEX the tier-one then tier-two headline categories; an unknown code keeps its code with "
                "null names; null for SEC (no category scheme) or a row without `form_type`",
                [{"code": "10000", "name_zh": "公告及通告", "name_en": "Announcements and Notices"},
                 {"code": "19750", "name_zh": "內幕消息", "name_en": "Inside Information"}]),
            "issuer_name": ColumnDoc(
                "the issuer's name from the reference lists (`securities`): the version valid at `filing_date`, "
                "else the nearest in time — CNINFO's short Chinese name (filled where CNINFO's `secName` is "
                "missing), HKEXnews' English short name (Chinese short name on rows of the `zh` stream, when "
                "HKEXnews' Chinese list names the code), SEC's `company_tickers.json` title; null when no archived "
                "list names the issuer. Looked up at publish; `company_name` stays as filed", "WISDOM WEALTH"),
        },
    ),
    "issuers": TableDoc(
        "Delta table `published/issuers`: one row per source and issuer, kept up to date from the rows each "
        "publish changes in `filings` (and the sources' reference lists, e.g. SEC's `company_tickers.json`, for "
        "tickers). Partitioned by `source`.",
        {
            "source": ColumnDoc(_MEANING["source"], _SEC_SOURCE),
            "issuer_id": ColumnDoc(_MEANING["issuer_id"], "1000275"),
            "exchange": ColumnDoc("venue of its latest filing: `SEC`, `SZSE`, `SSE`, `BSE`, `HKEX`", "SEC"),
            "company_name": ColumnDoc("the name on its latest filing", "ROYAL BANK OF CANADA"),
            "former_names": ColumnDoc("every other name it filed under, sorted (empty when none)", []),
            "issuer_name": ColumnDoc(
                "the name the reference lists give it now: its source's latest archived list (SEC "
                "`company_tickers.json` title, CNINFO's short Chinese name, HKEXnews' English short name); null "
                "when that list does not name it (or the source has none). `company_name` is the filed name; "
                "`filings.issuer_name` the list's name at each filing date", "ROYAL BANK OF CANADA"),
            "ticker": ColumnDoc("main ticker: the reference list's first (SEC `company_tickers.json`), else the "
                                "latest filed", "RY"),
            "tickers": ColumnDoc("every ticker known for it, sorted", ["RY"]),
            "cik": ColumnDoc("SEC CIK, unpadded (SEC issuers only)", "1000275"),
            "stock_code": ColumnDoc("CNINFO 6-digit or HKEX 5-digit stock code (null for SEC)", "000001"),
            "org_id": ColumnDoc("CNINFO orgId (CNINFO issuers only)", "gssz0000001"),
            "first_filing_date": ColumnDoc("its earliest published `filing_date`", date(2016, 7, 1)),
            "last_filing_date": ColumnDoc("its latest published `filing_date`", date(2026, 1, 2)),
            "filings": ColumnDoc("its rows in `filings`", 266),
            "last_seen_at": ColumnDoc("latest `last_seen_at` of its filings: when it was last ingested (UTC)", _RUN_TIME),
        },
    ),
    "daily_counts": TableDoc(
        "Delta table `published/daily_counts`: rows of `filings` per source, exchange, form type and "
        "filing date; a publish recounts the counts its rows fall in. Partitioned by `source` and `filing_month`.",
        {
            "source": ColumnDoc(_MEANING["source"], _SEC_SOURCE),
            "exchange": ColumnDoc(_MEANING["exchange"] + " (`''` when a row has none)", "SEC"),
            "form_type": ColumnDoc("the published row's `form_type` (`''` when a source has none, e.g. CNINFO)", "424B5"),
            "filing_date": ColumnDoc(_MEANING["filing_date"], date(2016, 7, 1)),
            "filing_month": ColumnDoc("`YYYY-MM` of `filing_date`", "2016-07"),
            "published_rows": ColumnDoc("rows of `filings`: one per (filing_id, issuer_id)", 19),
            "filings": ColumnDoc("distinct `filing_id` (a filing with co-registrants counts once)", 8),
            "issuers": ColumnDoc("distinct `issuer_id`", 19),
        },
    ),
    "alerts": TableDoc(
        "Delta table `published/alerts`: one row per (watchlist entry, filing_id, issuer_id), inserted once "
        "when a publish brings a matching filing (`include/watchlist.yaml`), with its captured document. "
        "The `alerts` view is empty, with these columns, until the first alert.",
        {
            "alert_id": ColumnDoc("sha256 of entry id, filing_id and issuer_id: stable across reruns",
                                  "264353ba04dcebdc79beda6f5a05e294d8901d357aadd73b0a458768f1471824"),
            "entry_id": ColumnDoc("the watchlist entry that matched (its `id`)", "sec-rbc-424b5"),
            "entry_name": ColumnDoc("the entry's `name`", "Royal Bank of Canada prospectus supplements (SEC form 424B5)"),
            "matched_on": ColumnDoc("what matched, one term per group of the entry", "cik:1000275 & form:424B5"),
            "filing_id": ColumnDoc(_MEANING["filing_id"], "sec_edgar:0000950103-26-000043"),
            "issuer_id": ColumnDoc(_MEANING["issuer_id"], "1000275"),
            "source": ColumnDoc(_MEANING["source"], _SEC_SOURCE),
            "exchange": ColumnDoc(_MEANING["exchange"], "SEC"),
            "ticker": ColumnDoc(_MEANING["ticker"], "000001.SZ"),
            "company_name": ColumnDoc(_MEANING["company_name"], "ROYAL BANK OF CANADA"),
            "title": ColumnDoc("title as filed (may hold HTML entities such as `&#x3b;`)", _HKEX_TITLE),
            "form_type": ColumnDoc(_MEANING["form_type"], "424B5"),
            "filing_date": ColumnDoc(_MEANING["filing_date"], date(2026, 1, 2)),
            "document_url": ColumnDoc(_MEANING["document_url"],
                                      "https://www.sec.gov/Archives/edgar/data/1000275/000095010326000043/"
                                      "0000950103-26-000043-index.htm"),
            "alerted_at": ColumnDoc("when the alert was recorded (UTC)", _RUN_TIME),
            "document_key": ColumnDoc("storage key of the captured document under `raw/documents/`; null when "
                                      "not captured", "raw/documents/source=hkex/9f2c4a1e0b7d3c58-2025111100981.pdf"),
            "document_sha256": ColumnDoc("sha256 of the captured document",
                                         "9f2c4a1e0b7d3c58e6a1f0d2b4c6e8a0f1e3d5c7b9a2c4e6f8a0b1d3e5f7a9c2"),
            "document_bytes": ColumnDoc("size of the captured document in bytes", 183_402),
            "document_content_type": ColumnDoc("Content-Type the document was served with", "application/pdf"),
            "document_error": ColumnDoc("why the document was not captured (null when it was)", "DocumentError: HTTP 404"),
            "title_clean": ColumnDoc("the title decoded, as shown to people",
                                     _HKEX_TITLE.replace("&#x3b;", ";")),
        },
    ),
    "category_counts": TableDoc(
        "Delta table `published/category_counts`: rows of `filings` per source, exchange, category and "
        "filing date (a row with several categories counts under each; a row with none under empty strings). "
        "Partitioned by `source` and `filing_month`.",
        {name: ColumnDoc(meaning, example) for (name, _, meaning), example in zip(CATEGORY_COUNTS_FIELDS, [
            _HKEX_SOURCE, "HKEX", "10000", "公告及通告", "Announcements and Notices", date(2012, 11, 14), "2012-11",
            3, 3, 1,
        ], strict=True)},
    ),
    "securities": TableDoc(
        "Delta table `published/securities`: every security the archived reference lists name (SEC "
        "`company_tickers.json`, CNINFO stock lists, HKEXnews' English and Chinese stock lists), with or without "
        "filings, one row per version: a ticker, name or listing change closes a row (`valid_to`) and opens the "
        "next. Partitioned by `source`.",
        {name: ColumnDoc(meaning, example) for (name, _, meaning), example in zip(SECURITIES_FIELDS, [
            _SEC_SOURCE, "320193", "AAPL", "AAPL", "Apple Inc.", "dhgf", "HKEX", "00700", "A股", "GEM", "7609",
            "TENCENT", "騰訊控股", True,
            date(2016, 1, 15), date(2021, 9, 27), True, date(2021, 9, 27),
            "raw/source=sec_company_tickers/partition=2026-01-05/46835610c575d76d-company_tickers.json",
        ], strict=True)},
    ),
    "issuer_links": TableDoc(
        "Delta table `published/issuer_links`: one row per link and member issuer. A link joins the issuers "
        "(`source`, `issuer_id`) of several sources that are one company (an A+H company's A and H shares, a "
        "Hong Kong secondary listing and its SEC registrant), each on exact evidence: a reviewed list entry "
        "citing public sources (`curated`), one full registered name in two sources (`full_name`), or a "
        "secondary listing's short name that is another source's ticker (`secondary_listing_ticker`); never "
        "a short or partial name. Rebuilt by publish; the views `filings_across_markets` and the macro "
        "`company_filings(key)` use it. Not partitioned.",
        {name: ColumnDoc(meaning, example) for (name, _, meaning), example in zip(ISSUER_LINKS_FIELDS, [
            "hsbc-holdings", "HSBC Holdings plc", "high", _SEC_SOURCE, "1089113", "SEC", "HSBC", "HSBC HOLDINGS PLC",
            "curated", "high", "hsbc-holdings", f"{_HKEX_SOURCE}:00005",
            f'{_HKEX_SOURCE}:03660 short name "QFIN-S" marks a secondary listing of ticker "QFIN", the ticker of '
            f"{_SEC_SOURCE}:1741530 (the only issuer with it)",
            date(2024, 5, 1), date(2025, 11, 21),
        ], strict=True)},
    ),
    "quarantine": TableDoc(
        "View (no Delta table) over every source's committed quarantine Parquet: rows that failed a row "
        "check at landing and were kept out of `filings`, with the checks they failed and their partition; "
        "and one row per reference list refused whole (only `source`, `raw_key`, `archived_at` set, the "
        "reason in `failed_checks`, `partition` its archive day).",
        {
            **_LANDED_COLUMNS,
            "failed_checks": ColumnDoc("names of the row checks the row failed (see each source's rules); for a "
                                       "refused reference list, the one-line reason (the rule and where it broke)",
                                       ["document_url_on_source_host"]),
            "partition": ColumnDoc("the landed partition the row came from (`YYYY-MM-DD`, `YYYYQn`, "
                                   "`YYYY-MM-DD-en` …)", "2025-11-04-en"),
        },
    ),
}
