"""``published/filings``: clean rows folded into one row per (filing_id, issuer_id), merged into Delta.

The same SEC accession listed in a daily and in a quarterly index is one row. A publish folds in
three steps, each costing what the batch costs, not what the table holds:

1. **look up** the published rows of the batch's keys (:func:`published_for`): the months each key
   was ever published under come from the compact key index :mod:`~filinglake.publish.filing_keys`
   (one year of SEC keys per daily, with the batch's filing ids pushed into the scan), then only
   those (source, filing_month) partitions of ``filings`` are read, the filing ids pushed in again.
   A row's month is that of its first-seen filing date; a source may list one filing under another
   date later (SEC's daily index dates an after-hours acceptance on the next business day, a filing
   date can be adjusted), and the key is still found in whatever month it was published, so it
   stays one row. Keys of a batch that are not in the index are new: nothing of ``filings`` is read;
2. **fold** (:func:`fold`, DuckDB over Arrow): batch and published rows are grouped by key; lists
   (``form_types``, ``company_names``) are unioned, the first-seen values (``form_type``,
   ``filing_date``) come from the earliest ingest, the others from the latest ingest that had a
   value, ``first_seen_at``/``last_seen_at`` are the min/max ``archived_at``, ``categories`` is mapped
   from ``form_type`` (:mod:`filinglake.publish.categories`), ``issuer_name`` is the batch's (looked up
   in ``securities`` by :func:`filinglake.publish.securities.with_reference`) else the published one — functions of the rows alone, so the result
   does not depend on the order in which partitions are published;
3. **write** only what differs: rows of new keys are appended (no scan of the table); changed rows
   are merged on (source, filing_month, filing_id, issuer_id) in one commit that reads only their
   partitions, and a key whose first-seen date moved to another month has its old row deleted in
   that same commit. Unchanged rows are not written at all, so a retry or a backfill of published
   data commits nothing. A commit lost to a concurrent publish is recomputed and retried
   (:func:`filinglake.publish.delta.retry_on_conflict`); a key two concurrent publishes both
   appended is folded back into one row by the one that committed last (:func:`repair_duplicates`).

The table is partitioned by ``source`` and ``filing_month`` and records its change data feed: the
rows a publish inserted or changed are read back by version (:func:`changed_rows`), which is how the
DAG hands them to the alerts task without pushing them through XCom. Columns:
:data:`filinglake.schema.PUBLISHED_FILINGS_FIELDS`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.publish import delta, filing_keys
from filinglake.publish.categories import with_categories
from filinglake.schema import PUBLISHED_FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.filings")

FILINGS = "filings"
FILINGS_KEY = ("source", "filing_month", "filing_id", "issuer_id")
FILINGS_PARTITIONS = ("source", "filing_month")
#: the columns both counts tables (daily_counts, category_counts) are built from: one read of a day's rows
#: serves both, and a row's values of them say which counts it falls in
COUNTED_COLUMNS = ["filing_id", "issuer_id", "source", "exchange", "form_type", "filing_date", "filing_month",
                   "categories"]
#: the order rows are written in: by issuer within each partition (one issuer's rows share row groups)
FILINGS_WRITE_ORDER = ("source", "filing_month", "issuer_id", "filing_id")
#: filing_month of a row without a filing_date (no source lets one through its checks today)
UNKNOWN_MONTH = "unknown"
#: Delta table properties: the change data feed lets consumers read what a publish changed
FILINGS_CONFIGURATION = {"delta.enableChangeDataFeed": "true"}
#: up to this many distinct filing ids of a source are pushed into the lookup scan as an IN list;
#: more, and the lookup reads the window's months one at a time. delta-rs' SQL parser crashed on an IN
#: list of 30,000 values (20,000 ran).
KEY_FILTER_LIMIT = 5_000
#: rows folded per DuckDB pass: bounds memory (about 1 GB per 400k rows in one pass, measured; a synthetic
#: quarter of 201k rows peaked at 847 MB in one pass, 702 MB in two, for 6% more CPU)
FOLD_BUCKET_ROWS = 100_000

# ------------------------------------------------------------------------------------------------
# Fold
# ------------------------------------------------------------------------------------------------


def _latest(column: str) -> str:
    # the value of the best-ranked row (most recent ingest) that has one
    return f"arg_min({column}, latest_rank) AS {column}"


def _first(column: str) -> str:
    # the value of the earliest ingest; ties broken by the value, so the choice is deterministic
    return f"arg_min({column}, (first_seen_at, {column})) AS {column}"


def _union(column: str) -> str:
    return f"list_sort(list_distinct(flatten(list({column})))) AS {column}"


# One rank per row instead of a struct key per column: the same choice with a fraction of the memory.
# The ranking is a total order on what distinguishes rows of one key (a rank tie would need two rows
# from the same raw file with the same name, form type, date and title), so the fold is deterministic.
_FOLD_SQL = f"""
WITH seen AS (
    SELECT filing_id, issuer_id, source, exchange, native_id, ticker,
           company_name, [company_name] AS company_names, form_type, [form_type] AS form_types,
           title, title_clean, language, filed_at, filing_date, document_url, raw_key,
           archived_at AS first_seen_at, archived_at AS last_seen_at, issuer_name, 0 AS from_published
    FROM batch
    WHERE filing_id IS NOT NULL AND issuer_id IS NOT NULL AND hash(filing_id, issuer_id) % $buckets = $bucket
    UNION ALL BY NAME
    SELECT * EXCLUDE (filing_month), 1 AS from_published FROM existing
    WHERE hash(filing_id, issuer_id) % $buckets = $bucket
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY filing_id, issuer_id
        ORDER BY last_seen_at DESC, raw_key DESC, company_name DESC, form_type DESC, filing_date DESC, title DESC
    ) AS latest_rank
    FROM seen
),
folded AS (
    SELECT filing_id, issuer_id,
           {_latest('source')}, {_latest('exchange')}, {_latest('native_id')}, {_latest('ticker')},
           {_latest('company_name')}, {_union('company_names')},
           {_first('form_type')}, {_union('form_types')},
           {_latest('title')}, {_latest('title_clean')}, {_latest('language')}, {_latest('filed_at')},
           {_first('filing_date')}, {_latest('document_url')}, {_latest('raw_key')},
           min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at,
           -- looked up at this publish (the batch's), else as published before
           arg_min(issuer_name, (from_published, latest_rank)) AS issuer_name
    FROM ranked
    GROUP BY filing_id, issuer_id
)
SELECT *, coalesce(strftime(filing_date, '%Y-%m'), '{UNKNOWN_MONTH}') AS filing_month FROM folded
"""


def fold(batch: pa.Table, existing: pa.Table | None = None) -> pa.Table:
    """One published row per (filing_id, issuer_id) from clean rows plus the already published rows.

    Large inputs are folded in hash buckets of whole keys, one DuckDB pass each.
    """
    existing = existing if existing is not None else PUBLISHED_FILINGS_SCHEMA.empty_table()
    if "issuer_name" not in batch.column_names:  # clean rows not looked up in the securities
        batch = batch.append_column(pa.field("issuer_name", pa.string()), pa.nulls(batch.num_rows, pa.string()))
    buckets = max(1, -(-(batch.num_rows + existing.num_rows) // FOLD_BUCKET_ROWS))
    with delta.duckdb_session({"batch": batch, "existing": existing}) as con:
        parts = [
            delta.conform(con.sql(_FOLD_SQL, params={"buckets": buckets, "bucket": i}).to_arrow_table(),
                          PUBLISHED_FILINGS_SCHEMA)
            for i in range(buckets)
        ]
    # categories follow form_type: recomputed on every fold, so a mapping that learned a code updates the row
    folded = with_categories(pa.concat_tables(parts))
    # each month's rows by issuer: appended files are clustered as compaction clusters them (delta.CLUSTER_BY)
    return folded.sort_by([(c, "ascending") for c in FILINGS_WRITE_ORDER])


# ------------------------------------------------------------------------------------------------
# Looking up what is already published
# ------------------------------------------------------------------------------------------------

_BATCH_KEYS_SQL = f"""
SELECT DISTINCT source, coalesce(strftime(filing_date, '%Y-%m'), '{UNKNOWN_MONTH}') AS filing_month, filing_id, issuer_id
FROM batch
WHERE filing_id IS NOT NULL AND issuer_id IS NOT NULL
"""


def months_by_source(table: pa.Table) -> dict[str, set[str]]:
    """source → the filing_months of ``table``'s rows (published-shape rows or batch keys)."""
    months: dict[str, set[str]] = defaultdict(set)
    pairs = table.select(["source", "filing_month"]).group_by(["source", "filing_month"]).aggregate([])
    for source, month in zip(pairs["source"].to_pylist(), pairs["filing_month"].to_pylist(), strict=True):
        months[source].add(month)
    return dict(months)


def published_for(storage: Storage, batch: pa.Table, snapshot=None, index=None) -> pa.Table:
    """Published rows with the keys of ``batch`` (clean rows), in whatever month they were published.

    ``snapshot``: read this open version of ``filings`` (a merge on it then conflicts with any commit
    made since) instead of opening the latest. ``index``: the key index already caught up with it
    (as :func:`filinglake.publish.filing_keys.sync` returns it), else it is caught up here.

    The months come from the key index (:func:`filinglake.publish.filing_keys.lookup`, caught up with
    ``filings`` first); only those partitions are read, with the batch's filing ids pushed into the
    scan when there are at most :data:`KEY_FILTER_LIMIT` (else a month at a time, joined here).
    """
    if batch.num_rows == 0:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    table = snapshot if snapshot is not None else delta.open_table(storage, FILINGS)
    if table is None:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    keys = delta.duckdb_query(_BATCH_KEYS_SQL, {"batch": batch})
    if index is None:
        index = filing_keys.sync(storage, table).get("table")
    located = filing_keys.lookup(storage, keys, index)
    found = []
    for source, months in sorted(months_by_source(located).items()):
        source_keys = located.filter(pc.equal(located["source"], source))
        in_source = f"source = {delta.sql_literal(source)}"
        filing_ids = pc.unique(source_keys["filing_id"]).to_pylist()
        if len(filing_ids) <= KEY_FILTER_LIMIT:
            scans = [f"{in_source} AND {delta.sql_in('filing_month', months)} AND {delta.sql_in('filing_id', filing_ids)}"]
        else:  # a large batch (a quarter published again): whole months, one at a time, so memory holds one month
            scans = [f"{in_source} AND filing_month = {delta.sql_literal(m)}" for m in sorted(months)]
        for where in scans:
            rows = delta.read_snapshot(table, PUBLISHED_FILINGS_SCHEMA, where)
            if rows.num_rows:
                found.append(delta.duckdb_query(
                    "SELECT r.* FROM rows r SEMI JOIN keys k ON r.filing_id = k.filing_id AND r.issuer_id = k.issuer_id",
                    {"rows": rows, "keys": source_keys.select(["filing_id", "issuer_id"])},
                ))
    if not found:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    return pa.concat_tables([delta.conform(t, PUBLISHED_FILINGS_SCHEMA) for t in found])


# ------------------------------------------------------------------------------------------------
# Merging
# ------------------------------------------------------------------------------------------------


def _classify(folded: pa.Table, existing: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(new keys, changed keys) of ``folded`` against ``existing`` (both published-shape)."""
    compare = [c for c in PUBLISHED_FILINGS_SCHEMA.names if c not in FILINGS_KEY]
    differs = " OR ".join(f"(f.{c} IS DISTINCT FROM e.{c})" for c in compare)
    joined = delta.duckdb_query(f"""
        SELECT f.filing_id, f.issuer_id, e.filing_id IS NULL AS is_new,
               e.filing_id IS NOT NULL AND ({differs}) AS is_changed
        FROM folded f LEFT JOIN existing e
          ON e.source = f.source AND e.filing_id = f.filing_id AND e.issuer_id = f.issuer_id
        ORDER BY f.filing_id, f.issuer_id
    """, {"folded": folded, "existing": existing})
    new = joined.filter(joined["is_new"]).select(["filing_id", "issuer_id"])
    changed = joined.filter(joined["is_changed"]).select(["filing_id", "issuer_id"])
    return new, changed


def _moved_out(folded: pa.Table, existing: pa.Table) -> pa.Table:
    """Published rows whose key the fold placed in another filing month (their old row goes)."""
    if existing.num_rows == 0:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    stale = delta.duckdb_query("""
        SELECT e.* FROM existing e SEMI JOIN folded f
          ON e.source = f.source AND e.filing_id = f.filing_id AND e.issuer_id = f.issuer_id
             AND e.filing_month IS DISTINCT FROM f.filing_month
    """, {"folded": folded.select(list(FILINGS_KEY)), "existing": existing})
    return delta.conform(stale, PUBLISHED_FILINGS_SCHEMA)


#: commit metadata naming the publish that made a commit (to notice commits of a concurrent publish)
PUBLISH_ID = "filinglake_publish"
_DELETE = "_delete"


def _merge(table, upserts: pa.Table, tombstones: pa.Table, publish_id: str, *, upserts_match: bool = True) -> dict:
    """One commit: delete the target rows matching ``tombstones``; update changed / insert ``upserts``.

    ``upserts_match=False``: upserts never match a target row (all are inserted), so a tombstone and an
    upsert may share a key (a duplicate repaired into one row).
    """
    from deltalake import CommitProperties

    source = pa.concat_tables([
        upserts.append_column(_DELETE, pa.array([False] * upserts.num_rows, pa.bool_())),
        tombstones.append_column(_DELETE, pa.array([True] * tombstones.num_rows, pa.bool_())),
    ])
    columns = {c: f"s.{c}" for c in PUBLISHED_FILINGS_SCHEMA.names}
    compare = [c for c in PUBLISHED_FILINGS_SCHEMA.names if c not in FILINGS_KEY]
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in FILINGS_KEY) + ("" if upserts_match else f" AND s.{_DELETE}")
    return (
        table.merge(
            source=source,
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            writer_properties=delta.writer_properties(),
            streamed_exec=False,  # a materialised source lets delta-rs prune target partitions
            commit_properties=CommitProperties(custom_metadata={PUBLISH_ID: publish_id}),
        )
        .when_matched_delete(predicate=f"s.{_DELETE}")
        .when_matched_update(updates=columns, predicate=delta.changed_predicate(compare))
        .when_not_matched_insert(updates=columns, predicate=f"NOT s.{_DELETE}")
        .execute()
    )


def _append(table, rows: pa.Table, publish_id: str) -> None:
    """Append rows whose keys are not published (a blind append: no scan of the table)."""
    from deltalake import CommitProperties, write_deltalake

    write_deltalake(table, rows, mode="append", writer_properties=delta.writer_properties(),
                    commit_properties=CommitProperties(custom_metadata={PUBLISH_ID: publish_id}))


def _others_committed(table, since_version: int, publish_id: str) -> bool:
    """Whether a commit after ``since_version`` was made by someone else than this publish."""
    table.update_incremental()
    commits = table.history(limit=max(1, table.version() - since_version))
    return any(int(c["version"]) > since_version and c.get(PUBLISH_ID) != publish_id for c in commits)


def days_by_source(*tables: pa.Table) -> dict[str, set[date]]:
    """source → the filing dates of the rows of ``tables`` (published-shape), nulls left out."""
    days: dict[str, set[date]] = defaultdict(set)
    for table in tables:
        dated = table.filter(pc.is_valid(table["filing_date"]))
        pairs = dated.select(["source", "filing_date"]).group_by(["source", "filing_date"]).aggregate([])
        for source, day in zip(pairs["source"].to_pylist(), pairs["filing_date"].to_pylist(), strict=True):
            days[source].add(day)
    return dict(days)


def merge_filings(storage: Storage, batch: pa.Table) -> dict:
    """Fold ``batch`` (clean rows) into ``published/filings``; returns counts, keys and versions.

    Changed rows (and moved keys) are merged in one commit that reads only their partitions; rows of
    new keys are appended without reading the table. A publish that finds commits of another publish
    among its own checks its keys afterwards and folds any key both inserted into one row
    (:func:`repair_duplicates`). The key index is caught up last (``key_index_ms``). ``touched``: the
    rows the batch may have changed, before and after the fold (the columns saying which counts they
    fall in, their days among them), for :mod:`filinglake.publish.daily_counts`; ``table``:
    ``filings`` open at ``version``, for the refreshes that follow (each open of a large table costs).
    """
    merged = delta.retry_on_conflict("published/filings", lambda: _merge_filings_once(storage, batch))
    table, index = merged.pop("table"), merged.pop("index")
    if merged.pop("concurrent"):
        merged["repaired"] = repair_duplicates(storage, batch)
        table = delta.open_table(storage, FILINGS)
        assert table is not None
    else:  # the merge's own handle, brought to the latest version (an open would replay the log again)
        table.update_incremental()
    merged["version"] = table.version()
    delta.checkpoint_if_due(storage, FILINGS, table)  # keeps each later open of filings from replaying a long log
    started = time.perf_counter()
    filing_keys.sync(storage, table, index=index)  # the keys this publish inserted, so the next one finds them
    merged["key_index_ms"] = int((time.perf_counter() - started) * 1000)
    merged["table"] = table
    return merged


def _merge_filings_once(storage: Storage, batch: pa.Table) -> dict:
    table = delta.ensure_table(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, FILINGS_PARTITIONS, FILINGS_CONFIGURATION)
    add_missing_columns(table)
    version_before = table.version()
    publish_id = uuid.uuid4().hex
    index = filing_keys.sync(storage, table).get("table")  # caught up with this snapshot, for the lookup
    existing = published_for(storage, batch, snapshot=table, index=index)
    folded = fold(batch, existing)
    new, changed = _classify(folded, existing)
    moved = _moved_out(folded, existing)
    metrics: dict = {}
    if changed.num_rows:
        upserts = delta.duckdb_query("SELECT f.* FROM folded f SEMI JOIN changed c USING (filing_id, issuer_id)",
                                     {"folded": folded, "changed": changed})
        metrics = _merge(table, delta.conform(upserts, PUBLISHED_FILINGS_SCHEMA), moved, publish_id)
    if new.num_rows:
        _append(table, delta.conform(delta.duckdb_query(
            "SELECT f.* FROM folded f SEMI JOIN new n USING (filing_id, issuer_id)", {"folded": folded, "new": new}),
            PUBLISHED_FILINGS_SCHEMA), publish_id)
    if moved.num_rows:
        log.info("filings: %d key(s) moved to another filing month", moved.num_rows)
    inserted = new.num_rows + int(metrics.get("num_target_rows_inserted", 0))
    updated = int(metrics.get("num_target_rows_updated", 0))
    if (inserted, updated) != (new.num_rows + moved.num_rows, changed.num_rows - moved.num_rows):
        # Someone else published the same keys between our read and our merge; the table is still right.
        log.warning("filings: merge inserted %d / updated %d, expected %d / %d (a concurrent publish?)",
                    inserted, updated, new.num_rows + moved.num_rows, changed.num_rows - moved.num_rows)
    return {
        "rows_read": batch.num_rows,
        "rows": folded.num_rows,
        "skipped_without_key": _rows_without_key(batch),
        "inserted": inserted,
        "updated": updated,
        "unchanged": folded.num_rows - inserted - updated,
        "new_keys": _pairs(new),
        "changed_keys": _pairs(changed),
        "version_before": version_before,
        "months": {s: sorted(m) for s, m in months_by_source(folded).items()},
        "touched": pa.concat_tables([folded.select(COUNTED_COLUMNS), existing.select(COUNTED_COLUMNS)]),
        "merge_ms": int(metrics.get("execution_time_ms", 0)),
        "concurrent": bool(new.num_rows or changed.num_rows) and _others_committed(table, version_before, publish_id),
        "table": table,  # at its latest version when this publish committed, else at the one it read
        "index": index,
    }


def add_missing_columns(table) -> list[str]:
    """Add the columns of :data:`PUBLISHED_FILINGS_SCHEMA` a table written before them lacks (``categories``,
    ``issuer_name``).

    Their values are null in the rows already published until a publish folds those keys again
    (``filinglake publish --all`` refills them all). Returns the columns added.
    """
    from deltalake import Field

    present = set(table.schema().to_arrow().names)
    missing = [f for f in PUBLISHED_FILINGS_SCHEMA if f.name not in present]
    if missing:
        table.alter.add_columns([Field.from_arrow(f) for f in missing])
        table.update_incremental()
        log.warning("filings: added column(s) %s to a table written before them", ", ".join(f.name for f in missing))
    return [f.name for f in missing]


def repair_duplicates(storage: Storage, batch: pa.Table) -> int:
    """Fold every key of ``batch`` published more than once (two publishes appended it at once) into one row.

    One commit deletes all rows of those keys and inserts their fold; retried on a lost commit.
    Returns how many keys were repaired.
    """
    def once() -> int:
        # read and merge one snapshot: a concurrent repair committed meanwhile makes this commit conflict
        # (and the retry find nothing left to fold) rather than fold the same keys a second time
        table = delta.open_table(storage, FILINGS)
        rows = published_for(storage, batch, snapshot=table)
        doubled = delta.duckdb_query("""
            SELECT r.* FROM rows r SEMI JOIN (
                SELECT source, filing_id, issuer_id FROM rows GROUP BY ALL HAVING count(*) > 1
            ) d USING (source, filing_id, issuer_id)
        """, {"rows": rows})
        if doubled.num_rows == 0:
            return 0
        doubled = delta.conform(doubled, PUBLISHED_FILINGS_SCHEMA)
        one_each = fold(batch.schema.empty_table(), doubled)
        tombstones = delta.conform(
            delta.duckdb_query("SELECT DISTINCT * FROM keys", {"keys": doubled.select(list(FILINGS_KEY))}),
            PUBLISHED_FILINGS_SCHEMA)
        _merge(table, one_each, tombstones, uuid.uuid4().hex, upserts_match=False)
        log.warning("filings: %d key(s) inserted by two concurrent publishes folded into one row each",
                    one_each.num_rows)
        return one_each.num_rows

    return delta.retry_on_conflict("published/filings", once)


def _rows_without_key(batch: pa.Table) -> int:
    missing = pc.or_(pc.is_null(batch["filing_id"]), pc.is_null(batch["issuer_id"]))
    return int(pc.sum(pc.cast(missing, pa.int64())).as_py() or 0)


def _pairs(keys: pa.Table) -> list[list[str]]:
    return [[f, i] for f, i in zip(keys["filing_id"].to_pylist(), keys["issuer_id"].to_pylist(), strict=True)]


# ------------------------------------------------------------------------------------------------
# Reading back what changed
# ------------------------------------------------------------------------------------------------


#: the change data feed's rows: published columns, then what happened to the row and in which commit
CHANGE_FEED_SCHEMA = PUBLISHED_FILINGS_SCHEMA.append(pa.field("_change_type", pa.string())).append(
    pa.field("_commit_version", pa.int64()))


def change_feed(storage: Storage, after_version: int, up_to_version: int | None = None,
                columns: Sequence[str] | None = None, *, filings=None) -> pa.Table:
    """The change data feed of the commits after ``after_version`` up to ``up_to_version`` (default: latest).

    ``_change_type``: ``insert``, ``update_preimage``, ``update_postimage``, ``delete``. ``columns``:
    only these published columns (the two change columns always come along). ``filings``: the table
    already open (opening it replays its log again: milliseconds that grow with its history).
    """
    schema = CHANGE_FEED_SCHEMA
    if columns is not None:
        schema = pa.schema([CHANGE_FEED_SCHEMA.field(c) for c in [*columns, "_change_type", "_commit_version"]])
    table = filings if filings is not None else delta.open_table(storage, FILINGS)
    if table is None:
        return schema.empty_table()
    last = table.version() if up_to_version is None else up_to_version
    if last <= after_version:
        return schema.empty_table()
    feed = table.load_cdf(starting_version=after_version + 1, ending_version=last,
                          columns=list(schema.names) if columns is not None else None)
    return delta.conform(pa.table(feed.read_all()), schema)


def changes_since(storage: Storage, table, up_to_version: int, columns: Sequence[str], *,
                  filings=None) -> pa.Table | None:
    """The filings change feed since the version ``table`` (kept in step with filings) reflects
    (``filings``: the filings table already open, at ``up_to_version`` or later).

    None when that cannot be known — ``table`` was written before it recorded watermarks, or the feed
    of those versions is gone (vacuumed after a week without a successful refresh): the caller then
    recomputes from the whole of ``filings``, once.
    """
    from deltalake.exceptions import DeltaError

    mark = delta.watermark(table)
    if mark is None and table.version() > 0:
        return None
    try:
        return change_feed(storage, -1 if mark is None else mark, up_to_version, columns, filings=filings)
    except (DeltaError, OSError) as exc:
        log.warning("filings change feed after v%s unreadable (%s): recomputing from the whole table", mark, exc)
        return None


def changed_rows(storage: Storage, after_version: int, up_to_version: int | None = None) -> pa.Table:
    """Rows of ``filings`` inserted or changed by the commits after ``after_version`` (their latest state).

    Read from the table's change data feed; published-shape rows, one per key.
    """
    feed = change_feed(storage, after_version, up_to_version)
    if feed.num_rows == 0:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    latest = delta.duckdb_query(f"""
        SELECT {', '.join(PUBLISHED_FILINGS_SCHEMA.names)} FROM feed
        WHERE _change_type IN ('insert', 'update_postimage')
        QUALIFY row_number() OVER (PARTITION BY filing_id, issuer_id ORDER BY _commit_version DESC) = 1
        ORDER BY filing_id, issuer_id
    """, {"feed": feed})
    return delta.conform(latest, PUBLISHED_FILINGS_SCHEMA)


def version_before(storage: Storage, when: datetime) -> int:
    """The ``filings`` version that was current just before ``when`` (-1: the table did not exist yet).

    A retried publish finds the rows an earlier, failed try already merged unchanged; reading
    :func:`changed_rows` from this version on still hands them to the alerts.
    """
    table = delta.open_table(storage, FILINGS)
    if table is None:
        return -1
    cutoff_ms = when.timestamp() * 1000
    commits = table.history(limit=100)  # newest first; a run commits once per try
    for commit in commits:
        if commit["timestamp"] < cutoff_ms:
            return int(commit["version"])
    return min((int(c["version"]) for c in commits), default=0) - 1


def rows_for_keys(storage: Storage, keys: Sequence[Sequence[str]]) -> pa.Table:
    """Published rows for ``[filing_id, issuer_id]`` pairs (e.g. ``new_keys`` of a publish result)."""
    if not keys:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    wanted = pa.table({"filing_id": [k[0] for k in keys], "issuer_id": [k[1] for k in keys]})
    where = delta.sql_in("source", {k[0].split(":", 1)[0] for k in keys})
    filing_ids = {k[0] for k in keys}
    if len(filing_ids) <= KEY_FILTER_LIMIT:
        where += f" AND {delta.sql_in('filing_id', filing_ids)}"
    candidates = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=where)
    rows = delta.duckdb_query("SELECT c.* FROM candidates c SEMI JOIN wanted w USING (filing_id, issuer_id) "
                              "ORDER BY filing_id, issuer_id", {"candidates": candidates, "wanted": wanted})
    return delta.conform(rows, PUBLISHED_FILINGS_SCHEMA)
