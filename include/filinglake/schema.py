"""The unified filings schema: one row = one disclosure as seen for one issuer.

Every source maps its rows onto these columns; the clean layer, the quarantine layer and the
published tables all start from here. Text is kept as filed; normalised copies get their own
columns (``title_clean``) instead of overwriting the original.
"""

from __future__ import annotations

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
    ("ingested_at", pa.timestamp("us", tz="UTC"), False, "when the raw file was first archived"),
]

FILINGS_SCHEMA = pa.schema([pa.field(name, typ, nullable=True) for name, typ, _, _ in FIELDS])

#: Columns that describe the disclosure itself (everything but lineage); exact duplicates are
#: rows equal on all of these.
CONTENT_COLUMNS: list[str] = [name for name, *_ in FIELDS if name not in ("raw_key", "ingested_at")]

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
    ("form_type", pa.string(), "form type of the first ingest (the earliest ingested_at)"),
    ("form_types", _STRINGS, "every form type it was listed under, sorted (a combined SEC filing has several)"),
    ("title", pa.string(), "title as filed, latest ingest"),
    ("title_clean", pa.string(), "title without markup, latest ingest"),
    ("language", pa.string(), "`en`, `zh`"),
    ("filed_at", _TIMESTAMP_UTC, "exact filing time where the source has it"),
    ("filing_date", pa.date32(), "filing date of the first ingest: a row never moves once published"),
    ("filing_month", pa.string(), "`YYYY-MM` of filing_date (`unknown` without one); partition column"),
    ("document_url", pa.string(), "document or index page, latest ingest"),
    ("raw_key", pa.string(), "raw object of the latest ingest"),
    ("first_seen_at", _TIMESTAMP_UTC, "earliest ingested_at of the rows folded in"),
    ("last_seen_at", _TIMESTAMP_UTC, "latest ingested_at of the rows folded in"),
    ("categories", CATEGORIES_TYPE, "categories form_type names, each {code, name_zh, name_en}: CNINFO each "
     "announcementType code, HKEX the tier-one then tier-two categories; unknown code: names null; null "
     "when the source has no category scheme (SEC) or the row no form_type"),
]

#: ``published/issuers``: one row per (source, issuer_id); see :mod:`filinglake.publish.issuers`.
ISSUERS_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("source", pa.string(), "source of its filings (key, with issuer_id; partition column)"),
    ("issuer_id", pa.string(), "CIK, CNINFO orgId, HKEX stock code (5 digits)"),
    ("exchange", pa.string(), "exchange of its latest filing"),
    ("company_name", pa.string(), "the name on its latest filing"),
    ("former_names", _STRINGS, "every other name it filed under, sorted"),
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


def _published_schema(fields: list[tuple[str, pa.DataType, str]]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ, _ in fields])


PUBLISHED_FILINGS_SCHEMA = _published_schema(PUBLISHED_FILINGS_FIELDS)
ISSUERS_SCHEMA = _published_schema(ISSUERS_FIELDS)
DAILY_COUNTS_SCHEMA = _published_schema(DAILY_COUNTS_FIELDS)
CATEGORY_COUNTS_SCHEMA = _published_schema(CATEGORY_COUNTS_FIELDS)
