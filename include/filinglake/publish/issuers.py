"""``published/issuers``: one row per (source, issuer_id), recomputed from published filings.

A publish recomputes exactly the issuers of its batch (changed or not, so a retry after a failure
half-way still completes them) from all their published rows, and merges the rows that differ. The
issuers are read in groups of at most :data:`ISSUER_FILTER_LIMIT`, each group's ids pushed into the
scan, so memory follows the batch's issuers, never the whole table. Reference lists (SEC's
company_tickers.json, CNINFO's stock lists: :mod:`filinglake.publish.references`) add tickers and
codes. A source whose reference data changed is rebuilt whole (``rebuild``), group by group, and its
issuers no longer in ``filings`` are deleted. Columns: :data:`filinglake.schema.ISSUERS_FIELDS`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.publish import delta
from filinglake.publish.filings import FILINGS
from filinglake.schema import ISSUERS_SCHEMA, PUBLISHED_FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

ISSUERS = "issuers"
ISSUERS_KEY = ("source", "issuer_id")
#: issuers recomputed per scan of ``filings`` (an IN list pushed into it). delta-rs' SQL parser crashed
#: on an IN list of 30,000 values (20,000 ran).
ISSUER_FILTER_LIMIT = 5_000
#: the filings columns an issuer row is computed from
_COLUMNS = ["source", "issuer_id", "exchange", "ticker", "company_name", "company_names", "filing_date", "last_seen_at"]

_ISSUERS_SQL = """
WITH agg AS (
    SELECT source, issuer_id,
           arg_max(exchange, (filing_date, last_seen_at, exchange)) AS exchange,
           arg_max(company_name, (filing_date, last_seen_at, company_name)) AS company_name,
           list_sort(list_distinct(flatten(list(company_names)))) AS names,
           arg_max(ticker, (filing_date, last_seen_at, ticker)) AS latest_ticker,
           list_sort(list_distinct(list(ticker))) AS filed_tickers,
           min(filing_date) AS first_filing_date, max(filing_date) AS last_filing_date,
           count(*) AS filings, max(last_seen_at) AS last_seen_at
    FROM pub
    GROUP BY source, issuer_id
)
SELECT a.source, a.issuer_id, a.exchange, a.company_name,
       list_filter(a.names, lambda n: n IS DISTINCT FROM a.company_name) AS former_names,
       coalesce(r.ticker, a.latest_ticker) AS ticker,
       list_sort(list_distinct(list_concat(a.filed_tickers, coalesce(r.tickers, [])))) AS tickers,
       CASE WHEN a.source = 'sec_edgar' THEN a.issuer_id END AS cik,
       CASE a.source WHEN 'cninfo' THEN coalesce(r.stock_code, split_part(a.latest_ticker, '.', 1))
                     WHEN 'hkex' THEN a.issuer_id END AS stock_code,
       CASE WHEN a.source = 'cninfo' THEN a.issuer_id END AS org_id,
       a.first_filing_date, a.last_filing_date, a.filings, a.last_seen_at
FROM agg a LEFT JOIN refs r ON r.source = a.source AND r.issuer_id = a.issuer_id
ORDER BY a.source, a.issuer_id
"""


def build_issuers(published: pa.Table, references: pa.Table) -> pa.Table:
    """Issuer rows from published filings (needs the columns the SQL reads) and reference lists."""
    rows = delta.duckdb_query(_ISSUERS_SQL, {"pub": published, "refs": references})
    return delta.conform(rows, ISSUERS_SCHEMA)


def affected_issuers(batch: pa.Table) -> dict[str, set[str]]:
    """source → issuer_ids of the clean rows in ``batch`` (whose issuer rows a publish recomputes)."""
    keyed = batch.filter(pc.and_(pc.is_valid(batch["source"]), pc.is_valid(batch["issuer_id"])))
    pairs = keyed.select(["source", "issuer_id"]).group_by(["source", "issuer_id"]).aggregate([])
    found: dict[str, set[str]] = defaultdict(set)
    for source, issuer in zip(pairs["source"].to_pylist(), pairs["issuer_id"].to_pylist(), strict=True):
        found[source].add(issuer)
    return dict(found)


def _published_issuer_ids(storage: Storage, source: str) -> set[str]:
    where = f"source = {delta.sql_literal(source)}"
    ids = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=where, columns=["issuer_id"])
    return set(pc.unique(ids["issuer_id"]).to_pylist())


def _groups(ids: set[str]) -> list[list[str]]:
    ordered = sorted(ids)
    return [ordered[i:i + ISSUER_FILTER_LIMIT] for i in range(0, len(ordered), ISSUER_FILTER_LIMIT)]


def _compute(storage: Storage, source: str, issuer_ids: set[str], references: pa.Table) -> pa.Table:
    """Issuer rows of ``issuer_ids`` of ``source``, one scan of ``filings`` per group of ids."""
    parts = [ISSUERS_SCHEMA.empty_table()]
    for group in _groups(issuer_ids):
        where = f"source = {delta.sql_literal(source)} AND {delta.sql_in('issuer_id', group)}"
        published = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=where, columns=_COLUMNS)
        parts.append(build_issuers(published, references))
        del published
    return pa.concat_tables(parts)


def refresh_issuers(
    storage: Storage,
    issuers_by_source: dict[str, set[str]],
    rebuild: Iterable[str] = (),
) -> dict:
    """Recompute the issuer rows of ``issuers_by_source`` from published filings; merge the differences.

    A source in ``rebuild`` (new reference data) is recomputed whole and its issuers no longer in
    ``filings`` are deleted. Retried when a concurrent publish commits first.
    """
    return delta.retry_on_conflict("published/issuers",
                                   lambda: _refresh_once(storage, issuers_by_source, set(rebuild)))


def _refresh_once(storage: Storage, issuers_by_source: dict[str, set[str]], rebuild: set[str]) -> dict:
    from filinglake.publish.references import issuer_references

    sources = sorted(set(issuers_by_source) | rebuild)
    if not sources:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "rebuilt": []}
    whole = sorted(s for s in sources if s in rebuild)
    references = issuer_references(storage, sources)
    rows = pa.concat_tables([
        _compute(storage, source,
                 _published_issuer_ids(storage, source) if source in whole else issuers_by_source[source],
                 references)
        for source in sources
    ])
    table = delta.ensure_table(storage, ISSUERS, ISSUERS_SCHEMA, ["source"])
    scope = delta.sql_in("t.source", whole) if whole else None
    metrics = delta.merge_changed(table, rows, ISSUERS_KEY, delete_scope=scope)
    return {**delta.merge_counts(metrics, rows.num_rows), "rebuilt": whole}
