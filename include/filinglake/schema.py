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
