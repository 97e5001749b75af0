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

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.publish import delta
from filinglake.publish.daily_counts import _days_scope
from filinglake.publish.filings import FILINGS, changes_since, days_by_source
from filinglake.schema import CATEGORY_COUNTS_SCHEMA, PUBLISHED_FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

CATEGORY_COUNTS = "category_counts"
CATEGORY_COUNTS_KEY = ("source", "exchange", "category_code", "category_name_zh", "category_name_en", "filing_date")

_CATEGORY_COUNTS_SQL = """
WITH rows AS (
    SELECT filing_id, issuer_id, source, exchange, filing_date, filing_month,
           unnest(CASE WHEN len(coalesce(categories, [])) = 0 THEN [NULL] ELSE categories END) AS category
    FROM pub
    WHERE filing_date IS NOT NULL
)
SELECT source, coalesce(exchange, '') AS exchange,
       coalesce(category.code, '') AS category_code,
       coalesce(category.name_zh, '') AS category_name_zh,
       coalesce(category.name_en, '') AS category_name_en,
       filing_date, filing_month,
       count(DISTINCT (filing_id, issuer_id)) AS published_rows,
       count(DISTINCT filing_id) AS filings, count(DISTINCT issuer_id) AS issuers
FROM rows
GROUP BY ALL
ORDER BY ALL
"""


def build_category_counts(published: pa.Table) -> pa.Table:
    """Count published-shape rows per (source, exchange, category, filing_date)."""
    return delta.conform(delta.duckdb_query(_CATEGORY_COUNTS_SQL, {"pub": published}), CATEGORY_COUNTS_SCHEMA)


def refresh_category_counts(storage: Storage, days_by_source: dict[str, Iterable[date]]) -> dict:
    """Recount the days given and those changed since the watermark; merge the differences (retried)."""
    days = {s: set(d) for s, d in days_by_source.items() if d}
    return delta.retry_on_conflict("published/category_counts", lambda: _refresh_once(storage, days))


def _refresh_once(storage: Storage, batch_days: dict[str, set[date]]) -> dict:
    filings = delta.open_table(storage, FILINGS)
    up_to = filings.version() if filings is not None else -1
    table = delta.ensure_table(storage, CATEGORY_COUNTS, CATEGORY_COUNTS_SCHEMA, ["source"])
    feed = changes_since(storage, table, up_to, ["source", "filing_date"])
    if feed is None:  # unknown what changed since this table was written: every day once
        feed = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, columns=["source", "filing_date"])
    changed = days_by_source(feed)
    days = {s: batch_days.get(s, set()) | changed.get(s, set()) for s in set(batch_days) | set(changed)}
    days = {s: d for s, d in days.items() if d}
    if not days:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0}
    columns = ["filing_id", "issuer_id", "source", "exchange", "filing_date", "filing_month", "categories"]
    published = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=_days_scope(days), columns=columns)
    rows = build_category_counts(published)
    metrics = delta.merge_changed(table, rows, CATEGORY_COUNTS_KEY, delete_scope=_days_scope(days, prefix="t."),
                                  commit_metadata={delta.WATERMARK: str(up_to)})
    return delta.merge_counts(metrics, rows.num_rows)
