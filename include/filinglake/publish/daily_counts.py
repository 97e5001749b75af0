"""``published/daily_counts``: published rows per (source, exchange, form_type, filing_date).

A publish recounts exactly the counts that changed — those the rows of its batch fall in (the folded
rows and the rows they replaced: ``touched`` of :func:`filinglake.publish.filings.merge_filings`) and
those of every row in the ``filings`` change data feed since the version the table reflects (its
watermark, recorded in each commit; so a refresh that failed is caught up by the next publish) — from
``filings``, reading only their days, and merges the counts that differ; a count of such a day that no longer has rows is
deleted in the same commit (as a tombstone, so the merge reads and rewrites only the months of those
days, never the whole table). Recounting (rather than adding) keeps the distinct counts exact and a re-publish idempotent.
Columns: :data:`filinglake.schema.DAILY_COUNTS_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.publish import delta
from filinglake.publish.categories import has_categories
from filinglake.publish.filings import COUNTED_COLUMNS, FILINGS, changes_since, days_by_source
from filinglake.schema import DAILY_COUNTS_SCHEMA, PUBLISHED_FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

DAILY_COUNTS = "daily_counts"
DAILY_COUNTS_KEY = ("source", "exchange", "form_type", "filing_date")
#: both counts tables are partitioned by month, so a recount rewrites only the months of its days (a table
#: written before, partitioned by source alone, keeps working and rewrites its whole source instead)
COUNTS_PARTITIONS = ("source", "filing_month")

_DAILY_COUNTS_SQL = """
SELECT source, coalesce(exchange, '') AS exchange, coalesce(form_type, '') AS form_type, filing_date,
       filing_month, count(*) AS published_rows, count(DISTINCT filing_id) AS filings, count(DISTINCT issuer_id) AS issuers
FROM pub
WHERE filing_date IS NOT NULL {only}
GROUP BY ALL
ORDER BY ALL
"""
_ONLY_TOUCHED = """AND (source, coalesce(exchange, ''), coalesce(form_type, ''), filing_date) IN (
    SELECT (source, coalesce(exchange, ''), coalesce(form_type, ''), filing_date) FROM touched)"""


def build_daily_counts(published: pa.Table, touched: pa.Table | None = None) -> pa.Table:
    """Count rows per (source, exchange, form_type, filing_date) of published-shape rows.

    ``touched`` (rows with :data:`COUNTED_COLUMNS`): only the counts of the groups they fall in."""
    tables = {"pub": published} if touched is None else {"pub": published, "touched": touched}
    sql = _DAILY_COUNTS_SQL.format(only="" if touched is None else _ONLY_TOUCHED)
    return delta.conform(delta.duckdb_query(sql, tables), DAILY_COUNTS_SCHEMA)


def _days_scope(days_by_source: dict[str, set[date]], prefix: str = "", *, by_month: bool = True) -> str:
    """SQL selecting the given days of each source (with their months, which prune partitions, unless
    ``by_month`` is false: a counts table written before it was partitioned by month)."""
    terms = []
    for source, days in sorted(days_by_source.items()):
        months = {d.strftime("%Y-%m") for d in days}
        in_months = f" AND {delta.sql_in(prefix + 'filing_month', months)}" if by_month else ""
        terms.append(f"({prefix}source = {delta.sql_literal(source)}{in_months}"
                     f" AND {delta.sql_in(prefix + 'filing_date', days)})")
    return " OR ".join(terms) if terms else "FALSE"


#: batches with more rows (before and after their merge, plus the change feed) recount their days whole:
#: restricting to the touched counts pays for a daily (a few thousand rows, a few form types per back-dated
#: day) and cost a backfill (67,000 rows a batch, every count of its days touched) 13% more publish time
TOUCHED_ROWS_LIMIT = 20_000
_COUNTED_SCHEMA = pa.schema([PUBLISHED_FILINGS_SCHEMA.field(c) for c in COUNTED_COLUMNS])


class DayRows:
    """The published rows of a set of days at one ``filings`` version, read once for every counts table.

    ``daily_counts`` and ``category_counts`` recount the same days after a publish; the second finds
    them here instead of reading the same partitions of ``filings`` again.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._rows: pa.Table | None = None

    def read(self, storage: Storage, version: int, days: dict[str, set[date]], columns: list[str],
             filings=None) -> pa.Table:
        """The ``columns`` of the rows of ``days``; ``filings``: the table already open at ``version``."""
        key = (version, tuple(sorted((s, tuple(sorted(d))) for s, d in days.items())))
        if key != self._key or self._rows is None:
            self._rows = None  # the previous days' rows go before the next are read
            # a source without categories (SEC) has null categories on every row: not read, which cost a
            # quarter of the read (the days a daily recounts in the whole synthetic EDGAR history: 59 → 43 ms)
            uncategorised = not any(has_categories(s) for s in days)
            read = [c for c in COUNTED_COLUMNS if not (uncategorised and c == "categories")]
            table = filings if filings is not None else delta.open_table(storage, FILINGS)
            rows = delta.read_if_exists(table, PUBLISHED_FILINGS_SCHEMA, _days_scope(days), read)
            if uncategorised:
                field = PUBLISHED_FILINGS_SCHEMA.field("categories")
                rows = rows.append_column(field, pa.nulls(rows.num_rows, field.type))
            self._rows = rows
            self._key = key
        return self._rows.select(columns)


def refresh_daily_counts(storage: Storage, touched: pa.Table, day_rows: DayRows | None = None, *,
                         filings=None) -> dict:
    """Recount the counts ``touched`` (rows) falls in and those changed since the watermark; merge the
    differences (retried). ``filings``: the table already open, read by the first try; see :func:`recount_days`."""
    columns = ["filing_id", "issuer_id", "source", "exchange", "form_type", "filing_date", "filing_month"]
    return recount_days(storage, touched, DAILY_COUNTS, DAILY_COUNTS_SCHEMA, DAILY_COUNTS_KEY, columns,
                        build_daily_counts, day_rows, filings=filings)


def recount_days(storage: Storage, touched: pa.Table, name: str, schema: pa.Schema,
                 key: tuple[str, ...], columns: list[str], build: Callable[..., pa.Table],
                 day_rows: DayRows | None = None, *, filings=None) -> dict:
    """The per-day recount of a counts table ``name`` (this one, ``category_counts``): the days of
    ``touched`` and those in the ``filings`` change feed since its watermark are counted by ``build`` from
    their published rows (``columns`` of them, shared through ``day_rows`` with the other counts table) and
    the differences merged; retried on a commit conflict. ``filings``: the table already open, read by the
    first try (a retry opens it again).

    ``touched``: the batch's rows before and after its merge (:data:`COUNTED_COLUMNS`). Only the counts
    of their groups and of the change feed's rows (every change type: a row that left a group changes
    it too) are recounted; a count no such row falls in cannot have changed. A daily's back-dated rows
    touch a few form types on each of their days: recounting only those, not every row of those days,
    halved the aggregation on the whole synthetic EDGAR history. A batch of more than
    :data:`TOUCHED_ROWS_LIMIT` rows (a backfill's) touches nearly every count of its days: its days are
    recounted whole, which is the same result without the cost of finding the groups.
    """
    days = days_by_source(touched)
    touched = touched if touched.num_rows <= TOUCHED_ROWS_LIMIT else None
    rows = day_rows if day_rows is not None else DayRows()
    given = delta.given_once(filings)
    return delta.retry_on_conflict(
        f"published/{name}",
        lambda: _recount_once(storage, days, name, schema, key, columns, build, rows, given(), touched))


def _recount_once(storage: Storage, batch_days: dict[str, set[date]], name: str, schema: pa.Schema,
                  key: tuple[str, ...], columns: list[str], build: Callable[..., pa.Table],
                  day_rows: DayRows, filings=None, touched: pa.Table | None = None) -> dict:
    filings = filings if filings is not None else delta.open_table(storage, FILINGS)
    up_to = filings.version() if filings is not None else -1
    table = delta.ensure_table(storage, name, schema, COUNTS_PARTITIONS)
    feed = changes_since(storage, table, up_to, COUNTED_COLUMNS if touched is not None else ["source", "filing_date"],
                         filings=filings)
    if feed is None:  # unknown what changed since this table was written: every group of every day once
        feed = (delta.read_snapshot(filings, PUBLISHED_FILINGS_SCHEMA, columns=["source", "filing_date"])
                if filings is not None else pa.table({"source": pa.array([], pa.string()),
                                                      "filing_date": pa.array([], pa.date32())}))
        touched = None
    elif touched is not None and touched.num_rows + feed.num_rows <= TOUCHED_ROWS_LIMIT:
        touched = pa.concat_tables([delta.conform(touched, _COUNTED_SCHEMA), delta.conform(feed, _COUNTED_SCHEMA)])
    else:  # a large catch-up since the watermark: its days whole
        touched = None
    changed = days_by_source(feed)
    days = {s: batch_days.get(s, set()) | changed.get(s, set()) for s in set(batch_days) | set(changed)}
    days = {s: d for s, d in days.items() if d}
    if not days:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "files_read": 0}
    rows = build(day_rows.read(storage, up_to, days, columns, filings), touched)
    # the month (a function of the day) in the join lets delta-rs read and rewrite only those partitions
    by_month = tuple(c for c in table.metadata().partition_columns if c not in key)
    merge_key = (*key, *by_month)
    # counts of these days that no longer have rows go as tombstones, not as a delete scope: a scope
    # makes delta-rs read every file of the table (all months of history), tombstones only their months
    counted = delta.read_snapshot(table, schema, _days_scope(days, by_month=bool(by_month)))
    if touched is not None:  # only the touched groups' counts can have changed (or gone)
        groups = build(touched).select(list(key))
        counted = delta.conform(delta.duckdb_query(
            "SELECT c.* FROM counted c SEMI JOIN groups g ON " + " AND ".join(
                f"c.{k} IS NOT DISTINCT FROM g.{k}" for k in key), {"counted": counted, "groups": groups}), schema)
    on = " AND ".join(f"c.{k} IS NOT DISTINCT FROM r.{k}" for k in merge_key)
    gone = delta.duckdb_query(f"SELECT c.* FROM counted c ANTI JOIN rows r ON {on}", {"counted": counted, "rows": rows})
    # only the counts that differ go to the merge, so its join covers them alone (a daily's back-dated
    # days recount nine months of days; a few hundred counts change); none differing: no merge at all
    same = " AND ".join(f"c.{c} IS NOT DISTINCT FROM r.{c}" for c in schema.names)
    differing = delta.conform(delta.duckdb_query(f"SELECT r.* FROM rows r ANTI JOIN counted c ON {same}",
                                                 {"counted": counted, "rows": rows}), schema)
    if differing.num_rows == 0 and gone.num_rows == 0:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": rows.num_rows, "files_read": 0}
    metrics = delta.merge_changed(table, differing, merge_key, tombstones=delta.conform(gone, schema),
                                  commit_metadata={delta.WATERMARK: str(up_to)})
    return delta.merge_counts(metrics, rows.num_rows)
