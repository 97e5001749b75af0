"""``published/category_counts``: published rows per (source, exchange, category, filing_date).

A separate table rather than a ``category`` column in ``daily_counts``: a row with several categories
(an HKEX headline lists several tier-two categories, a CNINFO row several codes) counts once under each,
so category counts do not add up to the day's rows — ``daily_counts`` keeps its key and its sums.
A category is (``category_code``, ``category_name_zh``, ``category_name_en``), empty strings for
unknown parts; a code without a known name is counted under its code, never dropped, and a row without
categories (SEC, pre-2007 HKEX, CNINFO rows without announcementType) counts once under three empty
strings. Refreshed like :mod:`filinglake.publish.daily_counts`: the batch's days and every day in the
``filings`` change feed since its watermark are recounted from ``filings`` and the differences merged.
Columns: :data:`filinglake.schema.CATEGORY_COUNTS_FIELDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.publish import delta
from filinglake.publish.daily_counts import DayRows, recount_days
from filinglake.schema import CATEGORY_COUNTS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

CATEGORY_COUNTS = "category_counts"
CATEGORY_COUNTS_KEY = ("source", "exchange", "category_code", "category_name_zh", "category_name_en", "filing_date")

_CATEGORY_ROWS = """
    SELECT filing_id, issuer_id, source, coalesce(exchange, '') AS exchange, filing_date, filing_month,
           unnest(CASE WHEN len(coalesce(categories, [])) = 0 THEN [NULL] ELSE list_distinct(categories) END) AS category
    FROM {table}
    WHERE filing_date IS NOT NULL
"""
_CATEGORY_COUNTS_SQL = f"""
WITH {{touched}}rows AS ({_CATEGORY_ROWS.format(table="pub")})
SELECT source, exchange,
       coalesce(category.code, '') AS category_code,
       coalesce(category.name_zh, '') AS category_name_zh,
       coalesce(category.name_en, '') AS category_name_en,
       filing_date, any_value(filing_month) AS filing_month,
       count(*) AS published_rows,
       count(DISTINCT filing_id) AS filings, count(DISTINCT issuer_id) AS issuers
FROM rows {{only}}
GROUP BY source, exchange, category_code, category_name_zh, category_name_en, filing_date
ORDER BY ALL
"""
# A row is one key and its categories are made distinct before the unnest, so a group's rows are its
# distinct keys: count(*) where count(DISTINCT (filing_id, issuer_id)) cost more; with filing_month (a
# function of filing_date) taken as any value rather than grouped by: 75 ms → 60 ms on the 82,000 rows
# a daily's back-dated days hold in the whole synthetic EDGAR history.
_TOUCHED_GROUPS = f"""touched_groups AS (
    SELECT DISTINCT source, exchange, filing_date, category FROM ({_CATEGORY_ROWS.format(table="touched")})
), """
_ONLY_TOUCHED = """SEMI JOIN touched_groups g ON rows.source = g.source AND rows.exchange = g.exchange
    AND rows.filing_date = g.filing_date AND rows.category IS NOT DISTINCT FROM g.category"""


def build_category_counts(published: pa.Table, touched: pa.Table | None = None) -> pa.Table:
    """Count published-shape rows (one per key, as ``filings`` holds them) per (source, exchange, category,
    filing_date).

    ``touched`` (rows with :data:`~filinglake.publish.filings.COUNTED_COLUMNS`): only the counts of the
    groups they fall in."""
    tables = {"pub": published} if touched is None else {"pub": published, "touched": touched}
    sql = _CATEGORY_COUNTS_SQL.format(touched="" if touched is None else _TOUCHED_GROUPS,
                                      only="" if touched is None else _ONLY_TOUCHED)
    return delta.conform(delta.duckdb_query(sql, tables), CATEGORY_COUNTS_SCHEMA)


def refresh_category_counts(storage: Storage, touched: pa.Table, day_rows: DayRows | None = None, *,
                            filings=None) -> dict:
    """Recount the counts ``touched`` (rows) falls in and those changed since the watermark; merge the
    differences (retried). ``day_rows``: the rows ``daily_counts`` read for the same days, reused;
    ``filings``: the table already open, read by the first try; see
    :func:`~filinglake.publish.daily_counts.recount_days`."""
    columns = ["filing_id", "issuer_id", "source", "exchange", "filing_date", "filing_month", "categories"]
    return recount_days(storage, touched, CATEGORY_COUNTS, CATEGORY_COUNTS_SCHEMA, CATEGORY_COUNTS_KEY,
                        columns, build_category_counts, day_rows, filings=filings)
