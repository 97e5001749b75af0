"""SQL over the published tables with DuckDB, offline, on ``file://`` and ``s3://`` storage alike.

Views: ``filings``, ``issuers``, ``daily_counts``, ``category_counts``, ``securities``, ``issuer_links`` (Delta
tables), ``alerts`` (``published/alerts`` when it exists, else empty with its columns) and ``quarantine``
(every source's quarantined rows, with the ``partition`` they came from, and one row per refused reference
list). Across markets:
``filings_across_markets`` (the filings of every linked issuer, with its link) and the table macro
``company_filings(key)`` (every filing of the company ``key`` names, in every market it is linked in:
``SELECT * FROM company_filings('000002.SZ')``). Functions (:data:`FUNCTIONS`): ``normalise_ticker(text)``,
the one ticker normaliser (:mod:`filinglake.tickers`), so ``WHERE ticker = normalise_ticker('700.HK')`` finds
``0700.HK``.

DuckDB 2.0.1 cannot download extensions here (no httpfs, no delta), so:

- a Delta table is read as the Parquet files its current version lists (``DeltaTable.file_uris()``)
  with hive partitioning for the partition columns. That is exact because delta-rs writes neither
  deletion vectors nor column mapping; a table written by another engine with those would need
  DuckDB's delta extension instead;
- S3 is reached through an fsspec filesystem registered with DuckDB (s3fs, notes §4.3 "Route B").

Read-only unless ``allow_writes``: two locks, because either alone leaves a gap.

- Only statements that read run (SELECT, its forms DESCRIBE/SHOW/SUMMARIZE/WITH, and EXPLAIN of one);
  COPY, ATTACH, INSTALL/LOAD, EXPORT, CREATE, INSERT, SET … are refused by type before they run.
- After the views are registered, DuckDB itself is closed: ``allowed_paths`` = the files the views read
  (plus the ``--output`` file), ``enable_external_access = false`` (no other file, no extension, no
  ATTACH), ``lock_configuration = true`` (no SET undoes it). A SELECT reaching for ``/etc/passwd``
  gets DuckDB's permission error. (DuckDB alone would still let ``COPY … TO`` overwrite one of the
  allowed data files, hence the statement check.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake import manifests
from filinglake.errors import FilinglakeError
from filinglake.publish import delta
from filinglake.publish.category_counts import CATEGORY_COUNTS
from filinglake.publish.daily_counts import DAILY_COUNTS
from filinglake.publish.filings import FILINGS
from filinglake.publish.issuers import ISSUERS
from filinglake.publish.links import ISSUER_LINKS
from filinglake.publish.securities import SECURITIES
from filinglake.schema import (
    VIEW_SCHEMAS,
    former_names,
)
from filinglake.storage import REFUSED_REFERENCES_LAYER, s3fs_filesystem

if TYPE_CHECKING:
    import duckdb

    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.query")

ALERTS = "alerts"
QUARANTINE = "quarantine"
FILINGS_ACROSS_MARKETS = "filings_across_markets"
COMPANY_FILINGS = "company_filings"
#: the views every query sees, with their columns
VIEWS = (FILINGS, ISSUERS, DAILY_COUNTS, CATEGORY_COUNTS, SECURITIES, ISSUER_LINKS, ALERTS, QUARANTINE)

#: the filings of every linked issuer, each with its link (an issuer is in one link at most)
_ACROSS_MARKETS_VIEW = f"""
CREATE OR REPLACE VIEW "{FILINGS_ACROSS_MARKETS}" AS
SELECT l.link_id, l.link_name, l.link_confidence, l.rule AS link_rule, f.*
FROM "{FILINGS}" f JOIN "{ISSUER_LINKS}" l ON l.source = f.source AND l.issuer_id = f.issuer_id
"""
#: every filing of the company ``key`` names: a ticker as the tables store it (``000002.SZ``, ``2202.HK``,
#: ``HSBC``), ``<source>:<issuer_id>`` or a link_id; the issuers it names, and every member of their links
_COMPANY_FILINGS_MACRO = f"""
CREATE OR REPLACE MACRO "{COMPANY_FILINGS}"(key) AS TABLE
WITH named AS (
    SELECT source, issuer_id FROM "{ISSUERS}"
    WHERE list_contains(tickers, key) OR source || ':' || issuer_id = key
    UNION SELECT source, issuer_id FROM "{SECURITIES}" WHERE ticker = key OR source || ':' || issuer_id = key
    UNION SELECT source, issuer_id FROM "{ISSUER_LINKS}"
    WHERE link_id = key OR ticker = key OR source || ':' || issuer_id = key
), members AS (
    SELECT source, issuer_id FROM named
    UNION SELECT l.source, l.issuer_id FROM "{ISSUER_LINKS}" l
    WHERE l.link_id IN (SELECT k.link_id FROM "{ISSUER_LINKS}" k JOIN named n USING (source, issuer_id))
)
SELECT l.link_id, l.link_name, f.*
FROM "{FILINGS}" f
JOIN members m ON m.source = f.source AND m.issuer_id = f.issuer_id
LEFT JOIN "{ISSUER_LINKS}" l ON l.source = f.source AND l.issuer_id = f.issuer_id
"""

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.int64(): "BIGINT",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.bool_(): "BOOLEAN",
}


#: statement types a read-only query may run (DESCRIBE, SHOW, SUMMARIZE and WITH parse as SELECT);
#: an EXPLAIN is judged by the statement it explains (EXPLAIN ANALYZE runs it)
READ_STATEMENTS = frozenset({"SELECT"})
_EXPLAIN_HEAD = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
#: how a refused statement type is named to the user
_STATEMENT_NAMES = {"LOAD": "INSTALL/LOAD", "VARIABLE_SET": "SET VARIABLE"}


class QueryError(FilinglakeError):
    """The SQL did not run (syntax, unknown column, a write refused …); the message is DuckDB's, hints included."""


class NothingPublished(QueryError):
    """The storage root holds no published table (nothing published yet, or FILINGLAKE_STORAGE points elsewhere)."""


def _duckdb_errors(exc: Exception) -> QueryError:
    # keep every line: DuckDB's hints ("Did you mean "filings"?", "LINE 1: …") follow the first one
    message = "\n".join(line for line in str(exc).strip().splitlines() if line.strip()) or type(exc).__name__
    return QueryError(f"query failed: {message}")


def require_published(storage: Storage) -> None:
    """:class:`NothingPublished` when no published table exists under ``storage``."""
    if not any(delta.open_table(storage, name) is not None for name in (FILINGS, ISSUERS, DAILY_COUNTS, SECURITIES, ALERTS)):
        raise NothingPublished(
            f"nothing is published under {storage.root}: run `filinglake publish` first, "
            "or check FILINGLAKE_STORAGE"
        )


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse, before anything runs, every statement of ``sql`` that is not a read."""
    import duckdb

    try:
        kinds = _statement_kinds(con, sql)
    except duckdb.Error as exc:
        raise _duckdb_errors(exc) from None
    for kind in kinds:
        if kind not in READ_STATEMENTS:
            name = _STATEMENT_NAMES.get(kind, kind)
            raise QueryError(
                f"query is read-only: {name} statements are refused (use --output FILE for results, "
                "or --allow-writes to let the SQL write)"
            )


def _statement_kinds(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The type of each statement in ``sql``; for an EXPLAIN, the type of what it explains."""
    kinds = []
    for statement in con.extract_statements(sql):
        kind = statement.type.name
        if kind == "EXPLAIN":
            inner = _EXPLAIN_HEAD.sub("", statement.query, count=1)
            kinds += _statement_kinds(con, inner) if inner != statement.query else [kind]
        else:
            kinds.append(kind)
    return kinds


def _lock(con: duckdb.DuckDBPyConnection, readable: list[str]) -> None:
    """From now on DuckDB opens only ``readable`` and no setting can be changed back."""
    con.execute(f"SET allowed_paths = {_file_list(readable)}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(paths: list[str]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


def _columns(schema: pa.Schema, present: set[str] | None = None) -> str:
    """Explicit columns and types: every view has the same shape whatever the files hold.

    ``present``: the columns the files hold, when some may be of an older version: a column is then
    read under its former name too (``COALESCE``), or is NULL when the files have it under no name.
    """
    parts = []
    for field in schema:
        value = f'"{field.name}"'
        if present is not None:
            found = [f'"{n}"' for n in (field.name, *former_names(field.name)) if n in present]
            value = "NULL" if not found else found[0] if len(found) == 1 else f"COALESCE({', '.join(found)})"
        typ = _DUCKDB_TYPES.get(field.type)
        parts.append(f'CAST({value} AS {typ}) AS "{field.name}"' if typ else f'{value} AS "{field.name}"')
    return ", ".join(parts)


def _empty_view(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    con.register(f"__empty_{name}", schema.empty_table())
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM "__empty_{name}"')


def _delta_files(storage: Storage, name: str) -> list[str] | None:
    """The Parquet files of the table's current version as DuckDB paths; None without a table."""
    table = delta.open_table(storage, name)
    if table is None:
        return None
    return [_local_path(uri) for uri in table.file_uris()]


def _local_path(uri: str) -> str:
    # delta-rs gives plain paths locally (file:// on some versions) and s3://bucket/key on S3
    return re.sub(r"^file://", "", uri)


def _table_view(con: duckdb.DuckDBPyConnection, storage: Storage, name: str, schema: pa.Schema) -> list[str]:
    """The view ``name`` over the table's current files (hive partitions as the table declares them);
    returns the files it reads."""
    table = delta.open_table(storage, name)
    partition_columns = tuple(table.metadata().partition_columns) if table is not None else ()
    files = [_local_path(uri) for uri in table.file_uris()] if table is not None else None
    if not files:
        _empty_view(con, name, schema)
        return []
    hive_types = "{" + ", ".join(f"{_quote(c)}: 'VARCHAR'" for c in partition_columns) + "}"
    options = f", hive_partitioning = true, hive_types = {hive_types}" if partition_columns else ""
    # by name: files written before a column was added (filings before ``categories``) lack it → NULL
    options += ", union_by_name = true"
    source = f"read_parquet({_file_list(files)}{options})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {_columns(schema, present)} FROM {source}')
    return files


def _quarantine_view(con: duckdb.DuckDBPyConnection, storage: Storage, schema: pa.Schema) -> list[str]:
    """The quarantine view over every source's committed quarantined rows; returns the files it reads."""
    keys = manifests.committed_files(storage, "quarantine")  # committed partitions only, never a leftover
    # and one row per refused reference list (publish.securities.record_refusals), each written whole
    keys += [k for k in storage.list(REFUSED_REFERENCES_LAYER) if k.endswith(".parquet")]
    if not keys:
        _empty_view(con, QUARANTINE, schema)
        return []
    paths = [storage.uri(k) if storage.scheme == "s3" else storage.path(k) for k in keys]
    base = schema.remove(schema.get_field_index("partition"))
    files = f"read_parquet({_file_list(paths)}, union_by_name = true, filename = true, hive_partitioning = false)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {files}").fetchall()}  # older files too
    con.execute(
        f'CREATE OR REPLACE VIEW "{QUARANTINE}" AS SELECT {_columns(base, present)}, '
        f"regexp_extract(filename, 'partition=([^/]+)/', 1) AS \"partition\" FROM {files}"
    )
    return paths


#: SQL functions every query session has (name → what it does), for the README and ``--help``
FUNCTIONS = {
    "normalise_ticker": "any spelling of a security → the form the tables store: normalise_ticker('700.HK') = "
                        "'0700.HK', '600519.SH' and 'SH600519' → '600519.SS', '00700' → '0700.HK', a CIK "
                        "'0000320193' → '320193' (compare it with issuer_id)",
}


def normalise_ticker(text: str) -> str:
    """The stored form of ``text`` (:func:`filinglake.tickers.normalise`): a ticker, or an unpadded CIK."""
    from filinglake.tickers import normalise

    return normalise(text).value


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The :data:`FUNCTIONS` as DuckDB scalar functions (NULL in, NULL out; unreadable text is an error)."""
    from duckdb import sqltypes

    con.create_function("normalise_ticker", normalise_ticker, [sqltypes.VARCHAR], sqltypes.VARCHAR,
                        side_effects=False)


def connect(storage: Storage, *, read_only: bool = True, writable: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views over ``storage`` (the table versions of now).

    ``read_only``: once the views exist, DuckDB may open only their files and ``writable`` (see the
    module docstring), and its configuration is locked.
    """
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    con.execute("SET TimeZone = 'UTC'")
    register_functions(con)
    if storage.scheme == "s3":
        con.register_filesystem(s3fs_filesystem(storage.settings))
    schemas = VIEW_SCHEMAS
    readable = [path for name in (FILINGS, ISSUERS, DAILY_COUNTS, SECURITIES, CATEGORY_COUNTS, ISSUER_LINKS, ALERTS)
                for path in _table_view(con, storage, name, schemas[name])]
    con.execute(_ACROSS_MARKETS_VIEW)
    con.execute(_COMPANY_FILINGS_MACRO)
    readable += _quarantine_view(con, storage, schemas[QUARANTINE])
    if read_only:
        _lock(con, [*readable, *writable])
    return con


def _storage_for(settings: Settings | None, storage: Storage | None) -> Storage:
    from filinglake.config import load_settings
    from filinglake.storage import Storage

    return storage if storage is not None else Storage.from_settings(settings or load_settings())


def run_query(sql: str, settings: Settings | None = None, *, storage: Storage | None = None,
              limit: int | None = None, allow_writes: bool = False) -> pa.Table:
    """Run ``sql`` over the views and return the result (at most ``limit`` rows when given).

    Read-only unless ``allow_writes`` (:class:`QueryError` for a statement that would write).
    """
    import duckdb

    con = connect(_storage_for(settings, storage), read_only=not allow_writes)
    try:
        if not allow_writes:
            check_read_only(con, sql)
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE …)
            return pa.table({})
        if limit is not None:
            relation = relation.limit(limit)
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise _duckdb_errors(exc) from None
    finally:
        con.close()


def write_result(sql: str, output: str, settings: Settings | None = None, *, storage: Storage | None = None,
                 allow_writes: bool = False) -> int:
    """Run ``sql`` and write every row to ``output`` (``.csv`` or ``.parquet``); returns the row count.

    Read-only unless ``allow_writes``: the one file written is ``output``.
    """
    import duckdb

    kind = output.lower().rsplit(".", 1)[-1]
    if kind not in ("csv", "parquet"):
        raise FilinglakeError(f"--output {output}: use a .csv or .parquet file name")
    target = str(Path(output).resolve()) if "://" not in output else output
    con = connect(_storage_for(settings, storage), read_only=not allow_writes, writable=(target, _tmp_sibling(target)))
    try:
        if not allow_writes:
            check_read_only(con, sql)
        relation = con.sql(sql)
        if relation is None:
            raise FilinglakeError("the statement returns no rows to write")
        options = "FORMAT csv, HEADER true" if kind == "csv" else "FORMAT parquet, COMPRESSION zstd"
        body = sql.strip().rstrip(";")
        # COPY answers with the number of rows it wrote
        return int(con.execute(f"COPY ({body}) TO {_quote(target)} ({options})").fetchall()[0][0])
    except duckdb.Error as exc:
        raise _duckdb_errors(exc) from None
    finally:
        con.close()


def _tmp_sibling(path: str) -> str:
    """Where DuckDB's COPY writes before it renames onto ``path`` (``tmp_<name>`` beside it)."""
    head, _, name = path.rpartition("/")
    return f"{head}/tmp_{name}" if head else f"tmp_{name}"
