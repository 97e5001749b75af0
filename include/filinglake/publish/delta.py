"""Delta Lake plumbing for the published tables: where a table lives, creating, reading, merging, upkeep.

Also the two helpers every table module shares: :func:`duckdb_session` (the one way publish opens
DuckDB: no extension downloads, UTC) and :func:`retry_on_conflict` (a commit that lost to a
concurrent writer is recomputed and retried with backoff, then fails with one line).

Every published table is a Delta table (delta-rs) under ``<storage>/published/<name>``, written with
zstd. Writes are merges that update a row only when one of its columns changed, so publishing the same
inputs again commits nothing.

Reads go through delta-rs' own SQL engine (:class:`deltalake.QueryBuilder`), never
``DeltaTable.to_pyarrow_table``/``to_pyarrow_dataset``: a pyarrow dataset over delta-rs' filesystem
handler aborts the interpreter at exit now and then ("terminate called without an active exception",
exit 134, in 2 to 14 of 30 runs of one small script here; delta-io/delta-rs#2184,
pola-rs/polars#24169), and string filters on it trip pyarrow 26 (``equal(string, string_view)``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa

from filinglake.errors import FilinglakeError

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

    from filinglake.storage import Storage

T = TypeVar("T")

log = logging.getLogger("filinglake.publish.delta")

PUBLISHED_LAYER = "published"
#: keep a week of old files for time travel and for readers that listed files before a commit
DEFAULT_RETENTION_HOURS = 168


#: tries of one table update that keeps losing its commit to a concurrent writer
COMMIT_ATTEMPTS = 6
#: first wait after a lost commit (seconds); doubled each time, with jitter so two losers do not collide again
COMMIT_BACKOFF_SECONDS = 0.25


class CommitConflict(FilinglakeError):
    """Another writer kept committing to the same published table first; every retry lost."""


#: DuckDB threads of a publish session: one thread per query keeps a backfill's publish within 1 GB
#: (a 67k-row batch of synthetic EDGAR peaked at 919 MB with DuckDB's default of one thread per core
#: here, 745 MB with one, and took less CPU), and publish runs beside other tasks on a worker anyway
DUCKDB_THREADS = 1


_database: tuple[int, duckdb.DuckDBPyConnection] | None = None
_database_lock = threading.Lock()


def _shared_database() -> duckdb.DuckDBPyConnection:
    """This process's in-memory DuckDB database (a forked child opens its own).

    Opening a database costs 40-55 ms; a publish of one batch runs about 26 queries. Sessions are
    cursors on it: each has its own registered tables and settings.
    """
    import duckdb

    global _database
    with _database_lock:
        if _database is None or _database[0] != os.getpid():
            con = duckdb.connect(config={"autoinstall_known_extensions": "false",
                                         "autoload_known_extensions": "false", "threads": DUCKDB_THREADS})
            _database = (os.getpid(), con)
        return _database[1]


@contextmanager
def duckdb_session(tables: Mapping[str, object] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB session with ``tables`` (Arrow) registered under their names; closed after.

    Extension auto-install/auto-load is off (nothing is ever downloaded), the session is in UTC and
    runs :data:`DUCKDB_THREADS` thread(s). Sessions share one in-memory database per process
    (:func:`_shared_database`) but see only their own tables.
    """
    con = _shared_database().cursor()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, table in (tables or {}).items():
            con.register(name, table)
        yield con
    finally:
        con.close()


def duckdb_query(sql: str, tables: Mapping[str, object], params: dict | None = None) -> pa.Table:
    """Run one DuckDB query over Arrow ``tables`` and return its result as Arrow."""
    with duckdb_session(tables) as con:
        return con.sql(sql, params=params).to_arrow_table()


def retry_on_conflict(what: str, update: Callable[[], T], *, attempts: int | None = None) -> T:
    """Run ``update`` (read, compute, commit) again while its commit loses to a concurrent writer.

    ``update`` must recompute from the table's current state on every call (a lost commit means what
    it read is stale). Waits COMMIT_BACKOFF_SECONDS, doubling, with jitter; after ``attempts`` lost
    commits raises :class:`CommitConflict` (one line, no traceback in the CLI).
    """
    from deltalake.exceptions import CommitFailedError

    attempts = attempts or COMMIT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return update()
        except CommitFailedError as exc:
            if attempt == attempts:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise CommitConflict(
                    f"{what}: a concurrent writer committed first {attempts} times in a row; the table is "
                    f"consistent, publish again ({first_line})"
                ) from None
            wait = COMMIT_BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 - jitter
            log.warning("%s: commit lost to a concurrent writer (try %d of %d), retrying in %.2f s",
                        what, attempt, attempts, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def table_key(name: str) -> str:
    """``published/<name>``, the key of a published table relative to the storage root."""
    return f"{PUBLISHED_LAYER}/{name}"


def location(storage: Storage, name: str) -> tuple[str, dict[str, str] | None]:
    """(table URI for deltalake, storage_options) of the published table ``name``."""
    key = table_key(name)
    if storage.scheme == "file":
        return storage.path(key), None
    from filinglake.config import load_settings
    from filinglake.storage import s3_storage_options

    return storage.uri(key), s3_storage_options(storage.settings or load_settings())


#: rows per Parquet row group: small enough that a file of one month holds several, whose statistics
#: let a reader skip those without the issuer or day it looks for (delta-rs' default is about a million)
ROW_GROUP_ROWS = 16_384


def writer_properties():
    from deltalake import WriterProperties

    return WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS)


#: columns each table's compaction clusters its partitions by (Z-order; one column is a plain sort), so
#: file and row-group statistics prune a query for one issuer (``filings``: one issuer's filings are a
#: row group or two of each month instead of every row group)
CLUSTER_BY: dict[str, list[str]] = {"filings": ["issuer_id"]}


#: commits a table's log may gain after its last checkpoint before a publish writes one (:func:`checkpoint_if_due`)
CHECKPOINT_EVERY = 20


def checkpoint_if_due(storage: Storage, name: str, table: DeltaTable) -> bool:
    """Checkpoint ``table`` when its log holds :data:`CHECKPOINT_EVERY` or more commits since the last checkpoint.

    Every open replays the commits after the last checkpoint: on the 24-quarter synthetic history
    (25 commits, none checkpointed) opening ``filings`` took 12 ms, 4 ms after a 17 ms checkpoint, and a
    publish opens it about ten times. The weekly compaction checkpoints every table too; this keeps a
    table that publishes often between compactions (or was never compacted) from replaying a long log.
    Returns whether it wrote one.
    """
    import json

    marker = f"{table_key(name)}/_delta_log/_last_checkpoint"
    last = int(json.loads(storage.get_bytes(marker))["version"]) if storage.exists(marker) else -1
    if table.version() - last < CHECKPOINT_EVERY:
        return False
    table.create_checkpoint()
    return True


def open_table(storage: Storage, name: str) -> DeltaTable | None:
    """The table, or None when it was never written.

    Opening loads the table's active files with their statistics: about 9 ms for ``filings`` holding the
    whole synthetic EDGAR history (405 month partitions), 1.5 ms for a new table. A publish therefore opens
    ``filings`` once per step and hands the open table on (``filings=`` parameters); not found is the
    open's own error (asking ``is_deltatable`` first listed the log a second time).
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri, options = location(storage, name)
    try:
        return DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None


def committed_after(storage: Storage, name: str, version: int) -> bool:
    """Whether the table has a commit after ``version``: its log's next entry exists (one stat, no open)."""
    return storage.exists(f"{table_key(name)}/_delta_log/{version + 1:020d}.json")


def given_once(value):
    """A callable returning ``value`` on its first call and None after: an open table handed to the first
    try of a :func:`retry_on_conflict` body, while a retry (after a lost commit) opens the table afresh."""
    held = [value]
    return lambda: held.pop() if held else None


def ensure_table(
    storage: Storage,
    name: str,
    schema: pa.Schema,
    partition_by: Sequence[str] = (),
    configuration: dict[str, str] | None = None,
) -> DeltaTable:
    """Open the table, creating it empty (with ``schema`` and partitioning) the first time."""
    from deltalake import DeltaTable

    table = open_table(storage, name)
    if table is not None:
        return table
    uri, options = location(storage, name)
    # mode="ignore": a concurrent creator wins quietly and we open what it made
    DeltaTable.create(uri, schema=schema, mode="ignore", partition_by=list(partition_by) or None,
                      configuration=configuration, storage_options=options, name=name)
    return DeltaTable(uri, storage_options=options)


def plain_types(typ: pa.DataType) -> pa.DataType:
    """string_view/large_string → string, recursively through lists (what delta-rs hands back)."""
    if pa.types.is_string_view(typ) or pa.types.is_large_string(typ):
        return pa.string()
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_list_view(typ):
        return pa.list_(plain_types(typ.value_type))
    return typ


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, order and types (missing columns become nulls)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            if column.type != field.type:
                column = column.cast(plain_types(column.type)).cast(field.type)
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def sql_literal(value: object) -> str:
    """A SQL literal for a string, number or date (quotes doubled); used for partition predicates."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[object]) -> str:
    """``column IN (…)`` for a non-empty set of values (``FALSE`` for none)."""
    items = sorted({sql_literal(v) for v in values})
    return f"{column} IN ({', '.join(items)})" if items else "FALSE"


def read(
    storage: Storage,
    name: str,
    schema: pa.Schema,
    where: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Rows of a published table (``where``: SQL on its columns; partition columns prune files).

    Returns ``schema`` (or its ``columns``) with plain Arrow types; an empty table when the table does
    not exist yet.
    """
    return read_if_exists(open_table(storage, name), schema, where, columns)


def read_if_exists(
    table: DeltaTable | None,
    schema: pa.Schema,
    where: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """:func:`read_snapshot` of a table :func:`open_table` returned: an empty table when it does not exist."""
    if table is None:
        return (pa.schema([schema.field(c) for c in columns]) if columns else schema).empty_table()
    return read_snapshot(table, schema, where, columns)


def read_snapshot(
    table: DeltaTable,
    schema: pa.Schema,
    where: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """:func:`read` on an open table, at the version it was opened at (reads and a later commit agree)."""
    wanted = pa.schema([schema.field(c) for c in columns]) if columns else schema
    return conform(scan(table, wanted.names, where), wanted)


def scan(table: DeltaTable, columns: Sequence[str], where: str | None = None) -> pa.Table:
    """The ``columns`` of an open table's rows matching ``where``, in delta-rs' own Arrow types (string_view).

    For rows that go straight into DuckDB, which reads those types as they are: conforming the 800,000
    keys of a key-index bucket to plain strings cost 19 ms of a 160 ms lookup.
    """
    from deltalake import QueryBuilder

    return pa.table(QueryBuilder().register("t", table).execute(_select_sql(columns, where)).read_all())


def _select_sql(columns: Sequence[str], where: str | None) -> str:
    """``SELECT "a", "b" FROM "t" [WHERE …]``: the snapshot query of :func:`scan` and :func:`stream_snapshot`."""
    return "SELECT " + ", ".join(f'"{c}"' for c in columns) + ' FROM "t"' + (f" WHERE {where}" if where else "")


def stream_snapshot(
    table: DeltaTable,
    schema: pa.Schema,
    where: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.RecordBatchReader:
    """:func:`read_snapshot` as a stream of record batches (read once, types as delta-rs gives them:
    string views and the like, which DuckDB reads as they are), for scans too large to hold."""
    from deltalake import QueryBuilder

    sql = _select_sql(list(columns) if columns else schema.names, where)
    return pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(sql))


def changed_predicate(columns: Iterable[str], target: str = "t", source: str = "s") -> str:
    """``(t.a IS DISTINCT FROM s.a) OR …``; each term parenthesised (delta-rs fails to type it otherwise)."""
    terms = [f"({target}.{c} IS DISTINCT FROM {source}.{c})" for c in columns]
    if not terms:
        return "FALSE"
    return " OR ".join(terms)


#: the merge-source column marking a row to delete (:func:`merge_changed`'s ``tombstones``)
DELETE_FLAG = "_delete"


def merge_changed(
    table: DeltaTable,
    rows: pa.Table,
    keys: Sequence[str],
    *,
    delete_scope: str | None = None,
    tombstones: pa.Table | None = None,
    commit_metadata: dict[str, str] | None = None,
) -> dict:
    """Upsert ``rows`` on ``keys``: insert the new, update a matched row only when a column differs.

    ``delete_scope`` (SQL on target columns, alias ``t``) also deletes target rows inside that scope
    that ``rows`` no longer contain — for tables rebuilt wholesale per scope (issuers per source); it
    makes delta-rs read every file of the table. ``tombstones`` (rows with at least ``keys``) names the
    target rows to delete instead, in the same commit, and lets delta-rs read only the partitions of
    ``rows`` and ``tombstones``: what a refresh of a few partitions wants.
    ``commit_metadata`` is recorded in the commit (read back from the table's history).
    Returns delta-rs' merge metrics; nothing is committed when nothing changed.
    """
    from deltalake import CommitProperties

    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    compare = [c for c in rows.column_names if c not in keys]
    source = rows
    if tombstones is not None:
        source = pa.concat_tables([
            rows.append_column(DELETE_FLAG, pa.array([False] * rows.num_rows, pa.bool_())),
            conform(tombstones, rows.schema).append_column(
                DELETE_FLAG, pa.array([True] * tombstones.num_rows, pa.bool_())),
        ])
    merger = table.merge(
        source=source,
        predicate=on,
        source_alias="s",
        target_alias="t",
        writer_properties=writer_properties(),
        # a materialised source lets delta-rs prune target partitions from the source's values
        streamed_exec=False,
        commit_properties=CommitProperties(custom_metadata=commit_metadata) if commit_metadata else None,
    )
    if tombstones is None:
        merger = merger.when_matched_update_all(predicate=changed_predicate(compare)).when_not_matched_insert_all()
    else:
        columns = {c: f"s.{c}" for c in rows.column_names}
        merger = (merger.when_matched_delete(predicate=f"s.{DELETE_FLAG}")
                  .when_matched_update(updates=columns, predicate=changed_predicate(compare))
                  .when_not_matched_insert(updates=columns, predicate=f"NOT s.{DELETE_FLAG}"))
    if delete_scope:
        merger = merger.when_not_matched_by_source_delete(predicate=delete_scope)
    return merger.execute()


#: commit metadata of a table kept in step with ``filings``: the filings version it reflects
WATERMARK = "filinglake_filings_version"


def watermark(table: DeltaTable) -> int | None:
    """The ``filings`` version ``table`` reflects, from its latest commit that recorded one (None: never).

    The latest commit is read first: every refresh records the mark, so it nearly always has it, and
    reading fifty commits of a table with a long log (each lists the files it changed) costs more.
    """
    for limit in (1, 50):
        for commit in table.history(limit=limit):
            if WATERMARK in commit:
                return int(commit[WATERMARK])
    return None


def merge_counts(metrics: dict, rows: int) -> dict:
    """The counts publish reports for a table refresh, from delta-rs' merge metrics."""
    return {
        "rows": rows,
        "inserted": int(metrics.get("num_target_rows_inserted", 0)),
        "updated": int(metrics.get("num_target_rows_updated", 0)),
        "deleted": int(metrics.get("num_target_rows_deleted", 0)),
        # files of the table the merge read: what a refresh costs beyond its batch
        "files_read": int(metrics.get("num_target_files_scanned", 0)),
    }


def compact_tables(
    storage: Storage,
    names: Sequence[str] | None = None,
    *,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    dry_run: bool = False,
) -> dict[str, dict]:
    """Cluster (:data:`CLUSTER_BY`), compact small files, checkpoint, then delete files unreferenced for ``retention_hours``.

    Safe to run any time (compaction rewrites data without changing it); meant for a weekly job, not
    for every publish. Returns per table the files compacted and removed.
    """
    names = list(names) if names is not None else existing_tables(storage)
    report: dict[str, dict] = {}
    for name in names:
        table = open_table(storage, name)
        if table is None:
            continue
        # clustering first: it rewrites the partitions that gained files, which compaction would merge
        clustered = cluster(table, CLUSTER_BY[name]) if name in CLUSTER_BY else 0
        table = open_table(storage, name)
        assert table is not None
        compacted = table.optimize.compact(writer_properties=writer_properties())
        table = open_table(storage, name)
        assert table is not None
        table.create_checkpoint()
        removed = table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False)
        report[name] = {
            "files_added": compacted.get("numFilesAdded", 0),
            "files_removed": compacted.get("numFilesRemoved", 0),
            "vacuumed": len(removed),
            "clustered_partitions": clustered,
            "version": table.version(),
        }
        log.info("%s: compacted %s → %s files, clustered %d partition(s), vacuumed %d", name,
                 report[name]["files_removed"], report[name]["files_added"], clustered, len(removed))
    return report


def cluster(table: DeltaTable, columns: Sequence[str]) -> int:
    """Z-order (``columns``) every partition of ``table`` that holds more than one file; returns how many.

    A partition written in one piece is already in that order (publish appends rows sorted so), so only
    partitions that daily appends and merges added files to are rewritten: the weekly cost follows what
    changed, not the table. Each partition is one commit (memory holds one partition).
    """
    files = pa.table(table.get_add_actions(flatten=True))
    partition_columns = [c for c in files.column_names if c.startswith("partition.")]
    counts = files.group_by(partition_columns).aggregate([("path", "count")]).to_pylist()
    done = 0
    for row in counts:
        if row["path_count"] < 2:
            continue
        filters = [(c.removeprefix("partition."), "=", row[c]) for c in partition_columns]
        table.optimize.z_order(list(columns), partition_filters=filters, writer_properties=writer_properties())
        done += 1
    return done


def existing_tables(storage: Storage) -> list[str]:
    """Names of the tables under ``published/`` (those with a ``_delta_log``)."""
    names = set()
    for key in storage.list(PUBLISHED_LAYER):
        parts = key.split("/")
        if len(parts) > 2 and parts[2] == "_delta_log":
            names.add(parts[1])
    return sorted(names)
