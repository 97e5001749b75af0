"""``published/issuers``: one row per (source, issuer_id), kept in step with ``filings``.

The table records in each commit the ``filings`` version it reflects (its watermark). A refresh
reads what ``filings`` changed since (its change data feed: cost follows the changes, not the table)
and updates each issuer that changed, plus the issuers of the batch (so new reference data reaches
them):

- **incrementally** from its current row and its new or changed filings, when that is exact: new
  filings only add (counts, dates, names; the latest values are the new filing's when it is later
  than every published one, the published row's when it is back-dated, the greater of both on a tie
  of dates, as the recomputation breaks ties) and changed filings kept their date, exchange, name
  and ticker;
- **recomputed** from all its published rows otherwise (a filing moved month or was folded, tickers
  on its filings, a published row without a date, exchange or name, CNINFO issuers), the ids pushed
  into the scan in groups of at most :data:`ISSUER_FILTER_LIMIT`.

Both give the same row (``tests/test_publish.py`` checks the table against a recomputation). The
"latest" values are those of the latest filing date, ties broken by the greatest value. Reference
lists (SEC's company_tickers.json, CNINFO's stock lists: :mod:`filinglake.publish.references`) add
tickers, codes and ``issuer_name`` (the latest list's name). A table written before a column gains it and
is recomputed once. When a source's reference data changed (``rebuild``), the issuers whose name or
tickers in the list differ from their row are recomputed (a few hundred on a day SEC's list changed,
not the whole history); a source whose issuer columns come from the list (CNINFO's codes) is
recomputed whole, its issuers no longer in ``filings`` deleted. A whole recomputation streams the
source's filings through one aggregate, so its memory follows the number of issuers, not of filings.
Columns: :data:`filinglake.schema.ISSUERS_FIELDS`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.publish import delta
from filinglake.publish.filings import FILINGS, change_feed, changes_since
from filinglake.schema import ISSUERS_SCHEMA, PUBLISHED_FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

ISSUERS = "issuers"
ISSUERS_KEY = ("source", "issuer_id")
#: issuers recomputed per scan of ``filings`` (an IN list pushed into it). delta-rs' SQL parser crashed
#: on an IN list of 30,000 values (20,000 ran).
ISSUER_FILTER_LIMIT = 5_000
#: up to this many issuer rows are looked up by id; more, and the source's rows are read and joined
#: (one row per issuer: a small table next to filings, and one scan beats many IN lists)
ISSUER_LOOKUP_LIMIT = 1_000
#: the filings columns an issuer row is computed from
_COLUMNS = ["source", "issuer_id", "exchange", "ticker", "company_name", "company_names", "filing_date", "last_seen_at"]

#: ``issuers`` columns only some sources fill (each source's ``Source.issuer_columns`` says how)
SOURCE_ISSUER_COLUMNS = ("cik", "stock_code", "org_id")
#: the one expression a step forward can keep up to date without the source's reference list
_ISSUER_ID = "a.issuer_id"


def _declared_columns() -> list[tuple[str, dict[str, str]]]:
    """(source name, its issuer_columns) for every registered source; unknown columns are an error."""
    from filinglake.sources import all_sources

    declared = [(s.name, dict(s.issuer_columns)) for s in all_sources()]
    unknown = {c for _, columns in declared for c in columns} - set(SOURCE_ISSUER_COLUMNS)
    if unknown:
        raise ValueError(f"sources fill issuers columns that do not exist: {sorted(unknown)}")
    return declared


def _case_columns(source_column: str, *, step: bool = False) -> str:
    """``CASE <source> WHEN … THEN <expression> END AS <column>`` for each source-filled column.

    ``step``: for the step-forward query, which only keeps sources whose columns are the issuer id itself
    (the others are recomputed, see :func:`_recomputed_sources`).
    """
    cases = []
    for column in SOURCE_ISSUER_COLUMNS:
        whens = []
        for name, columns in _declared_columns():
            expression = columns.get(column)
            if expression is None or (step and expression != _ISSUER_ID):
                continue
            whens.append(f"WHEN {delta.sql_literal(name)} THEN {'issuer_id' if step else expression}")
        cases.append(f"CASE {source_column} {' '.join(whens)} END AS {column}" if whens
                     else f"CAST(NULL AS VARCHAR) AS {column}")
    return ",\n       ".join(cases)


def _recomputed_sources() -> str:
    """Sources whose issuer columns need more than the issuer id (a reference list): never stepped forward."""
    names = [name for name, columns in _declared_columns() if any(e != _ISSUER_ID for e in columns.values())]
    return ", ".join(delta.sql_literal(n) for n in names) or "NULL"


_ISSUERS_SQL = """
WITH agg AS (
    SELECT source, issuer_id,
           arg_max(exchange, (filing_date, exchange)) AS exchange,
           arg_max(company_name, (filing_date, company_name)) AS company_name,
           -- DISTINCT: the aggregate keeps each issuer's distinct values, not every row's (a whole-history rebuild)
           list_sort(list_distinct(flatten(list(DISTINCT company_names)))) AS names,
           arg_max(ticker, (filing_date, ticker)) AS latest_ticker,
           list_sort(list_distinct(list(DISTINCT ticker))) AS filed_tickers,
           min(filing_date) AS first_filing_date, max(filing_date) AS last_filing_date,
           count(*) AS filings, max(last_seen_at) AS last_seen_at
    FROM pub {only}
    GROUP BY source, issuer_id
)
SELECT a.source, a.issuer_id, a.exchange, a.company_name,
       list_filter(a.names, lambda n: n IS DISTINCT FROM a.company_name) AS former_names,
       r.reference_name AS issuer_name,
       coalesce(r.ticker, a.latest_ticker) AS ticker,
       list_sort(list_distinct(list_concat(a.filed_tickers, coalesce(r.tickers, [])))) AS tickers,
       {source_columns},
       a.first_filing_date, a.last_filing_date, a.filings, a.last_seen_at
FROM agg a LEFT JOIN refs r ON r.source = a.source AND r.issuer_id = a.issuer_id
ORDER BY a.source, a.issuer_id
"""


def build_issuers(published, references: pa.Table, only: pa.Table | None = None) -> pa.Table:
    """Issuer rows from published filings (needs the columns the SQL reads) and reference lists.

    ``published``: an Arrow table or a stream of batches (read once: the aggregate holds per issuer
    only its distinct names and tickers). ``only``: (source, issuer_id) rows to keep.
    """
    tables = {"pub": published, "refs": references}
    if only is not None:
        tables["only_ids"] = only
    sql = _ISSUERS_SQL.format(source_columns=_case_columns("a.source"),
                              only="SEMI JOIN only_ids USING (source, issuer_id)" if only is not None else "")
    return delta.conform(delta.duckdb_query(sql, tables), ISSUERS_SCHEMA)


def affected_issuers(batch: pa.Table) -> dict[str, set[str]]:
    """source → issuer_ids of the clean rows in ``batch`` (whose issuer rows a publish recomputes)."""
    keyed = batch.filter(pc.and_(pc.is_valid(batch["source"]), pc.is_valid(batch["issuer_id"])))
    pairs = keyed.select(["source", "issuer_id"]).group_by(["source", "issuer_id"]).aggregate([])
    found: dict[str, set[str]] = defaultdict(set)
    for source, issuer in zip(pairs["source"].to_pylist(), pairs["issuer_id"].to_pylist(), strict=True):
        found[source].add(issuer)
    return dict(found)


def _groups(ids: set[str]) -> list[list[str]]:
    ordered = sorted(ids)
    return [ordered[i:i + ISSUER_FILTER_LIMIT] for i in range(0, len(ordered), ISSUER_FILTER_LIMIT)]


def _compute(filings, source: str, issuer_ids: set[str] | None, references: pa.Table) -> pa.Table:
    """Issuer rows of ``issuer_ids`` (None: every issuer) of ``source`` from ``filings`` (an open snapshot).

    Up to :data:`ISSUER_FILTER_LIMIT` ids: one scan with the ids pushed into it. More: the source's
    rows stream through one aggregate (memory holds the issuers, not their filings: a whole-history
    rebuild of 27M rows would not fit as a table).
    """
    if issuer_ids is None or len(issuer_ids) > ISSUER_FILTER_LIMIT:
        rows = delta.stream_snapshot(filings, PUBLISHED_FILINGS_SCHEMA, f"source = {delta.sql_literal(source)}",
                                     _COLUMNS)
        only = None if issuer_ids is None else pa.table(
            {"source": [source] * len(issuer_ids), "issuer_id": sorted(issuer_ids)})
        return build_issuers(rows, references, only)
    parts = [ISSUERS_SCHEMA.empty_table()]
    for group in _groups(issuer_ids):
        where = f"source = {delta.sql_literal(source)} AND {delta.sql_in('issuer_id', group)}"
        published = delta.read_snapshot(filings, PUBLISHED_FILINGS_SCHEMA, where=where, columns=_COLUMNS)
        parts.append(build_issuers(published, references))
        del published
    return pa.concat_tables(parts)


# What changed per key since the watermark: the key's latest image, whether it was inserted in that
# range, and the columns an issuer row depends on as they were before the range (for updated keys).
_CHANGES_SQL = """
WITH ends AS (
    SELECT * FROM feed WHERE _change_type IN ('insert', 'update_postimage')
    QUALIFY row_number() OVER (PARTITION BY source, filing_id, issuer_id ORDER BY _commit_version DESC) = 1
), starts AS (
    SELECT * FROM feed WHERE _change_type = 'update_preimage'
    QUALIFY row_number() OVER (PARTITION BY source, filing_id, issuer_id ORDER BY _commit_version) = 1
), inserted AS (
    SELECT source, filing_id, issuer_id,
           -- deleted too (moved month, folded duplicates) or inserted twice (two publishes at once): the
           -- issuer row may already count the key, so it is recomputed
           count(*) FILTER (WHERE _change_type = 'insert') > 1 OR count(*) FILTER (WHERE _change_type = 'delete') > 0
               AS churned
    FROM feed WHERE _change_type IN ('insert', 'delete') GROUP BY ALL
    HAVING count(*) FILTER (WHERE _change_type = 'insert') > 0
)
SELECT e.source, e.issuer_id, e.exchange, e.ticker, e.company_name, e.company_names, e.filing_date, e.last_seen_at,
       i.filing_id IS NOT NULL AS is_insert,
       coalesce(i.churned, false) OR i.filing_id IS NULL AND (s.filing_date IS DISTINCT FROM e.filing_date OR s.exchange IS DISTINCT FROM e.exchange
           OR s.company_name IS DISTINCT FROM e.company_name OR s.ticker IS DISTINCT FROM e.ticker) AS is_reshaped
FROM ends e
LEFT JOIN inserted i USING (source, filing_id, issuer_id)
LEFT JOIN starts s USING (source, filing_id, issuer_id)
"""

# An issuer row from its current row (``old``) and its changes, or ``recompute`` when that is not exact.
_INCREMENT_SQL = """
WITH agg AS (
    SELECT source, issuer_id,
           count(*) FILTER (WHERE is_insert) AS inserts,
           min(filing_date) FILTER (WHERE is_insert) AS new_first,
           max(filing_date) FILTER (WHERE is_insert) AS new_last,
           arg_max(exchange, (filing_date, exchange)) FILTER (WHERE is_insert) AS new_exchange,
           arg_max(company_name, (filing_date, company_name)) FILTER (WHERE is_insert) AS new_company_name,
           flatten(list(company_names)) AS new_names,
           max(last_seen_at) AS new_last_seen_at,
           bool_or(is_reshaped OR ticker IS NOT NULL OR exchange IS NULL OR company_name IS NULL
                   OR filing_date IS NULL) AS irregular
    FROM changes GROUP BY source, issuer_id
), joined AS (
    SELECT a.source, a.issuer_id, o.issuer_id IS NOT NULL AS known, o.*  EXCLUDE (source, issuer_id),
           coalesce(g.inserts, 0) AS inserts, g.new_first, g.new_last, g.new_exchange, g.new_company_name,
           coalesce(g.new_names, []) AS new_names, g.new_last_seen_at, coalesce(g.irregular, false) AS irregular,
           r.ticker AS ref_ticker, coalesce(r.tickers, []) AS ref_tickers, r.stock_code AS ref_stock_code,
           r.reference_name AS ref_name
    FROM affected a
    LEFT JOIN old o USING (source, issuer_id)
    LEFT JOIN agg g USING (source, issuer_id)
    LEFT JOIN refs r USING (source, issuer_id)
), decided AS (
    SELECT *,
           source IN ({recomputed_sources}) OR irregular
           OR (NOT known AND inserts = 0)
           OR (known AND inserts > 0 AND (last_filing_date IS NULL OR exchange IS NULL OR company_name IS NULL))
           OR (known AND NOT list_has_all(ref_tickers, tickers))
           OR (known AND ref_ticker IS NULL AND len(tickers) > 0) AS recompute,
           -- which filing is the latest now: the published one (back-dated inserts), the new one, or a tie
           CASE WHEN inserts = 0 OR new_last < last_filing_date THEN 'old'
                WHEN new_last = last_filing_date THEN 'tie' ELSE 'new' END AS latest
    FROM joined
), named AS (
    SELECT *,
           CASE latest WHEN 'old' THEN exchange WHEN 'new' THEN new_exchange
                ELSE greatest(exchange, new_exchange) END AS exchange_now,
           CASE latest WHEN 'old' THEN company_name WHEN 'new' THEN new_company_name
                ELSE greatest(company_name, new_company_name) END AS name_now
    FROM decided
)
SELECT source, issuer_id, recompute,
       exchange_now AS exchange,
       name_now AS company_name,
       list_sort(list_filter(list_distinct(list_concat(coalesce(former_names, []), [company_name], new_names)),
                             lambda n: n IS DISTINCT FROM name_now)) AS former_names,
       ref_name AS issuer_name,
       ref_ticker AS ticker,
       list_sort(list_distinct(ref_tickers)) AS tickers,
       {step_columns},
       least(first_filing_date, new_first) AS first_filing_date,
       greatest(last_filing_date, new_last) AS last_filing_date,
       coalesce(filings, 0) + inserts AS filings,
       greatest(last_seen_at, new_last_seen_at) AS last_seen_at
FROM named
ORDER BY source, issuer_id
"""


def _changes(feed: pa.Table) -> pa.Table:
    """Per changed key of a filings change feed: its latest image and how it changed."""
    return delta.duckdb_query(_CHANGES_SQL, {"feed": feed})


def _current_rows(table, affected: pa.Table) -> pa.Table:
    """The issuer rows of ``affected`` (source, issuer_id) in ``table``'s snapshot."""
    parts = [ISSUERS_SCHEMA.empty_table()]
    for source in sorted(set(affected["source"].to_pylist())):
        wanted = affected.filter(pc.equal(affected["source"], source))
        where = f"source = {delta.sql_literal(source)}"
        if wanted.num_rows <= ISSUER_LOOKUP_LIMIT:
            where += f" AND {delta.sql_in('issuer_id', wanted['issuer_id'].to_pylist())}"
        rows = delta.read_snapshot(table, ISSUERS_SCHEMA, where)
        parts.append(delta.duckdb_query("SELECT r.* FROM rows r SEMI JOIN wanted w USING (source, issuer_id)",
                                        {"rows": rows, "wanted": wanted}))
    return pa.concat_tables([delta.conform(p, ISSUERS_SCHEMA) for p in parts])


def refresh_issuers(
    storage: Storage,
    issuers_by_source: dict[str, set[str]],
    rebuild: Iterable[str] = (),
    *,
    filings=None,
) -> dict:
    """Bring ``issuers`` up to the current ``filings`` (see the module doc); also re-render ``issuers_by_source``.

    A source in ``rebuild`` (new reference data) has the issuers its list now describes differently
    recomputed (every issuer, those no longer in ``filings`` deleted, when its issuer columns come
    from the list). Retried when a concurrent publish commits first. ``filings``: the table already
    open, read by the first try (a retry opens it again).
    """
    given = delta.given_once(filings)
    return delta.retry_on_conflict("published/issuers",
                                   lambda: _refresh_once(storage, issuers_by_source, set(rebuild), given()))


def _refresh_once(storage: Storage, issuers_by_source: dict[str, set[str]], rebuild: set[str],
                  filings=None) -> dict:
    from filinglake.publish.references import issuer_references

    filings = filings if filings is not None else delta.open_table(storage, FILINGS)
    up_to = filings.version() if filings is not None else -1
    table = delta.ensure_table(storage, ISSUERS, ISSUERS_SCHEMA, ["source"])
    if filings is None:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "rebuilt": [], "recomputed": 0}
    feed = changes_since(storage, table, up_to, ["filing_id", *_COLUMNS], filings=filings)
    if _add_missing_columns(table):  # written before a column (issuer_name): every row gets it once
        feed = None
    whole = {s for s in rebuild if s in _list_column_sources()}  # their columns come from the list
    if feed is None:  # unknown what changed since this table was written: recompute every source once
        sources_published = delta.read_snapshot(filings, PUBLISHED_FILINGS_SCHEMA, columns=["source"])["source"]
        whole |= set(pc.unique(sources_published).to_pylist())
        feed = change_feed(storage, up_to, up_to, ["filing_id", *_COLUMNS], filings=filings)  # empty
    changes = _changes(feed)
    affected = {(s, i) for s, ids in issuers_by_source.items() for i in ids}
    affected |= set(zip(changes["source"].to_pylist(), changes["issuer_id"].to_pylist(), strict=True))
    affected = {(s, i) for s, i in affected if s not in whole}
    sources = sorted({s for s, _ in affected} | rebuild | whole)
    if not sources:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "rebuilt": [], "recomputed": 0}
    references = issuer_references(storage, sources)
    wanted = pa.table({"source": [s for s, _ in sorted(affected)], "issuer_id": [i for _, i in sorted(affected)]},
                      schema=pa.schema([("source", pa.string()), ("issuer_id", pa.string())]))
    sql = _INCREMENT_SQL.format(recomputed_sources=_recomputed_sources(), step_columns=_case_columns("source", step=True))
    stepped = delta.duckdb_query(sql, {"affected": wanted, "old": _current_rows(table, wanted),
                                                  "changes": changes, "refs": references})
    recompute = stepped.filter(stepped["recompute"])
    by_source: dict[str, set[str] | None] = defaultdict(set)
    for source, issuer in zip(recompute["source"].to_pylist(), recompute["issuer_id"].to_pylist(), strict=True):
        by_source[source].add(issuer)  # type: ignore[union-attr]
    for source in sorted(rebuild - whole):  # new reference data: the issuers whose reference values changed
        by_source[source] = by_source[source] | _reference_changed(table, source, references)  # type: ignore[operator]
    for source in whole:
        by_source[source] = None
    keep = stepped.filter(pc.invert(stepped["recompute"]))
    redone = [(s, i) for s, ids in by_source.items() if ids for i in ids]
    if redone:  # recomputed instead of stepped: one row per key in the merge
        keep = delta.duckdb_query("SELECT k.* FROM keep k ANTI JOIN redone r USING (source, issuer_id)", {
            "keep": keep, "redone": pa.table({"source": [s for s, _ in redone], "issuer_id": [i for _, i in redone]})})
    rows = pa.concat_tables(
        [delta.conform(keep, ISSUERS_SCHEMA)]
        + [_compute(filings, source, ids, references) for source, ids in sorted(by_source.items())
           if ids is None or ids]
    )
    scope = delta.sql_in("t.source", sorted(whole)) if whole else None
    metrics = delta.merge_changed(table, rows, ISSUERS_KEY, delete_scope=scope,
                                  commit_metadata={delta.WATERMARK: str(up_to)})
    recomputed = sum(len(ids) for ids in by_source.values() if ids is not None)
    return {**delta.merge_counts(metrics, rows.num_rows), "rebuilt": sorted(whole), "recomputed": recomputed}


def _list_column_sources() -> set[str]:
    """Sources whose issuer columns come from their reference list: rebuilt whole when it changes."""
    return {name for name, columns in _declared_columns() if any(e != _ISSUER_ID for e in columns.values())}


# An issuer whose reference values differ from its row: its row is recomputed after new reference data.
# Tickers compare both ways (one the list dropped may have come from filings: recomputing tells).
_REFERENCE_CHANGED_SQL = """
SELECT o.issuer_id FROM old o LEFT JOIN refs r USING (source, issuer_id)
WHERE o.issuer_name IS DISTINCT FROM r.reference_name
   OR (r.ticker IS NOT NULL AND o.ticker IS DISTINCT FROM r.ticker)
   OR (r.ticker IS NULL AND o.ticker IS NOT NULL)
   OR NOT list_has_all(coalesce(o.tickers, []), coalesce(r.tickers, []))
   OR NOT list_has_all(coalesce(r.tickers, []), coalesce(o.tickers, []))
"""


def _reference_changed(table, source: str, references: pa.Table) -> set[str]:
    """Issuers of ``source`` in ``table`` (issuers) whose reference values differ from ``references``."""
    old = delta.read_snapshot(table, ISSUERS_SCHEMA, f"source = {delta.sql_literal(source)}",
                              ["source", "issuer_id", "issuer_name", "ticker", "tickers"])
    ids = delta.duckdb_query(_REFERENCE_CHANGED_SQL, {"old": old, "refs": references})["issuer_id"]
    return set(ids.to_pylist())


def _add_missing_columns(table) -> list[str]:
    """Add the columns of :data:`ISSUERS_SCHEMA` a table written before them lacks; returns their names."""
    from deltalake import Field

    present = set(table.schema().to_arrow().names)
    missing = [f for f in ISSUERS_SCHEMA if f.name not in present]
    if missing:
        table.alter.add_columns([Field.from_arrow(f) for f in missing])
        table.update_incremental()
    return [f.name for f in missing]
