"""Clean partitions → the published Delta tables ``filings``, ``issuers`` and ``daily_counts``.

``filings`` has one row per (filing_id, issuer_id) across all sources and all ingests: the same SEC
accession listed in a daily and in a quarterly index is one row. Rows are folded in two steps, both
in DuckDB over Arrow:

1. the batch (every clean row of the partitions being published) and the rows already published for
   the same keys are grouped by key: lists (``form_types``, ``company_names``) are unioned, the
   first-seen values (``form_type``, ``filing_date``) come from the earliest ingest, the others from
   the latest ingest that had a value, ``first_seen_at``/``last_seen_at`` are the min/max
   ``ingested_at`` — all functions of the rows alone, so the result does not depend on the order in
   which partitions are published;
2. a Delta MERGE on (source, filing_month, filing_id, issuer_id) inserts new keys and updates a
   matched row only when a column differs, so a retry or a backfill of published data commits nothing.

The table is partitioned by ``source`` and ``filing_month`` (``YYYY-MM`` of ``filing_date``, the
first-seen date, so a row never moves) and records its change data feed: the rows a publish
inserted or changed can be read back by version (:func:`changed_rows`), which is how the DAG hands
them to the alerts task without pushing them through XCom.

``issuers`` (one row per source and issuer) and ``daily_counts`` (rows per source, exchange, form
type and day) are recomputed from ``filings`` for what a publish touched and merged the same way.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake import manifests
from filinglake.errors import FilinglakeError
from filinglake.publish import delta
from filinglake.schema import FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.run")

FILINGS = "filings"
ISSUERS = "issuers"
DAILY_COUNTS = "daily_counts"

_TS = pa.timestamp("us", tz="UTC")
_NAMES = pa.list_(pa.string())

PUBLISHED_FILINGS_SCHEMA = pa.schema([
    ("filing_id", pa.string()),
    ("issuer_id", pa.string()),
    ("source", pa.string()),
    ("exchange", pa.string()),
    ("native_id", pa.string()),
    ("ticker", pa.string()),
    ("company_name", pa.string()),  # latest
    ("company_names", _NAMES),  # every name it was listed under, sorted
    ("form_type", pa.string()),  # first seen
    ("form_types", _NAMES),  # all, sorted
    ("title", pa.string()),
    ("title_clean", pa.string()),
    ("language", pa.string()),
    ("filed_at", _TS),
    ("filing_date", pa.date32()),  # first seen
    ("filing_month", pa.string()),  # YYYY-MM of filing_date; partition column with source
    ("document_url", pa.string()),
    ("raw_key", pa.string()),  # latest
    ("first_seen_at", _TS),  # earliest ingested_at of the rows folded in
    ("last_seen_at", _TS),  # latest ingested_at
])
FILINGS_KEY = ("source", "filing_month", "filing_id", "issuer_id")
FILINGS_PARTITIONS = ("source", "filing_month")
#: filing_month of a row without a filing_date (no source lets one through its checks today)
UNKNOWN_MONTH = "unknown"

ISSUERS_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("issuer_id", pa.string()),  # CIK, CNINFO orgId, HKEX stock code
    ("exchange", pa.string()),
    ("company_name", pa.string()),  # the name on its latest filing
    ("former_names", _NAMES),  # every other name it filed under, sorted
    ("ticker", pa.string()),  # main ticker: the reference list's first, else the latest filed
    ("tickers", _NAMES),
    ("cik", pa.string()),  # SEC CIK (unpadded)
    ("stock_code", pa.string()),  # CNINFO 6-digit code, HKEX 5-digit code
    ("org_id", pa.string()),  # CNINFO orgId
    ("first_filing_date", pa.date32()),
    ("last_filing_date", pa.date32()),
    ("filings", pa.int64()),  # published rows of this issuer
    ("last_seen_at", _TS),
])
ISSUERS_KEY = ("source", "issuer_id")

DAILY_COUNTS_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("exchange", pa.string()),
    ("form_type", pa.string()),  # the published row's form_type ("" when a source has none)
    ("filing_date", pa.date32()),
    ("filing_month", pa.string()),
    ("published_rows", pa.int64()),  # published rows: one per (filing_id, issuer_id)
    ("filings", pa.int64()),  # distinct filing_id
    ("issuers", pa.int64()),  # distinct issuer_id
])
DAILY_COUNTS_KEY = ("source", "exchange", "form_type", "filing_date")

#: Delta table properties of ``filings``: the change data feed lets consumers read what a publish changed
FILINGS_CONFIGURATION = {"delta.enableChangeDataFeed": "true"}


class PublishError(FilinglakeError):
    """A partition asked for cannot be published (e.g. its clean Parquet is missing)."""


# ------------------------------------------------------------------------------------------------
# Reading the clean layer
# ------------------------------------------------------------------------------------------------


def clean_partitions(storage: Storage, sources: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every committed (source, partition): those with a manifest (see :mod:`filinglake.manifests`)."""
    return manifests.committed_partitions(storage, sources)


def read_clean(storage: Storage, partitions: Sequence[tuple[str, str]]) -> pa.Table:
    """The committed clean rows of ``partitions`` (FILINGS_SCHEMA); an unlanded one is a :class:`PublishError`."""
    tables = []
    for source, partition in partitions:
        manifest = manifests.read_manifest(storage, source, partition)
        if manifest is None:
            raise PublishError(f"{source} {partition}: no clean partition committed (no manifest; land it first)")
        tables.append(delta.conform(manifests.read_layer(storage, manifest, "clean"), FILINGS_SCHEMA))
    return pa.concat_tables(tables) if tables else FILINGS_SCHEMA.empty_table()


# ------------------------------------------------------------------------------------------------
# Folding rows into one per key
# ------------------------------------------------------------------------------------------------


def _connect():
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    con.execute("SET TimeZone = 'UTC'")
    return con


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
           ingested_at AS first_seen_at, ingested_at AS last_seen_at
    FROM batch
    WHERE filing_id IS NOT NULL AND issuer_id IS NOT NULL AND hash(filing_id, issuer_id) % $buckets = $bucket
    UNION ALL BY NAME
    SELECT * EXCLUDE (filing_month) FROM existing
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
           min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at
    FROM ranked
    GROUP BY filing_id, issuer_id
)
SELECT *, coalesce(strftime(filing_date, '%Y-%m'), '{UNKNOWN_MONTH}') AS filing_month FROM folded
"""
#: rows folded per DuckDB pass: bounds memory (about 1 GB per 400k rows in one pass, measured)
FOLD_BUCKET_ROWS = 200_000


def fold(batch: pa.Table, existing: pa.Table | None = None) -> pa.Table:
    """One published row per (filing_id, issuer_id) from clean rows plus the already published rows.

    Large inputs are folded in hash buckets of whole keys, one DuckDB pass each.
    """
    existing = existing if existing is not None else PUBLISHED_FILINGS_SCHEMA.empty_table()
    buckets = max(1, -(-(batch.num_rows + existing.num_rows) // FOLD_BUCKET_ROWS))
    con = _connect()
    try:
        con.register("batch", batch)
        con.register("existing", existing)
        parts = [
            delta.conform(con.sql(_FOLD_SQL, params={"buckets": buckets, "bucket": i}).to_arrow_table(),
                          PUBLISHED_FILINGS_SCHEMA)
            for i in range(buckets)
        ]
    finally:
        con.close()
    return pa.concat_tables(parts).sort_by([(c, "ascending") for c in FILINGS_KEY])


def _scope(months_by_source: dict[str, set[str]]) -> str:
    """SQL selecting the (source, filing_month) partitions given (partition pruning for reads)."""
    terms = [
        f"(source = {delta.sql_literal(source)} AND {delta.sql_in('filing_month', months)})"
        for source, months in sorted(months_by_source.items())
    ]
    return " OR ".join(terms) if terms else "FALSE"


def _months_by_source(table: pa.Table) -> dict[str, set[str]]:
    months: dict[str, set[str]] = defaultdict(set)
    pairs = table.select(["source", "filing_month"]).group_by(["source", "filing_month"]).aggregate([])
    for row in pairs.to_pylist():
        months[row["source"]].add(row["filing_month"])
    return dict(months)


def _classify(folded: pa.Table, existing: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(new keys, changed keys) of ``folded`` against ``existing`` (both published-shape)."""
    compare = [c for c in PUBLISHED_FILINGS_SCHEMA.names if c not in FILINGS_KEY]
    differs = " OR ".join(f"(f.{c} IS DISTINCT FROM e.{c})" for c in compare)
    con = _connect()
    try:
        con.register("folded", folded)
        con.register("existing", existing)
        joined = con.sql(f"""
            SELECT f.filing_id, f.issuer_id, e.filing_id IS NULL AS is_new,
                   e.filing_id IS NOT NULL AND ({differs}) AS is_changed
            FROM folded f LEFT JOIN existing e
              ON e.source = f.source AND e.filing_id = f.filing_id AND e.issuer_id = f.issuer_id
            ORDER BY f.filing_id, f.issuer_id
        """).to_arrow_table()
    finally:
        con.close()
    new = joined.filter(joined["is_new"]).select(["filing_id", "issuer_id"])
    changed = joined.filter(joined["is_changed"]).select(["filing_id", "issuer_id"])
    return new, changed


_BATCH_KEYS_SQL = f"""
SELECT DISTINCT source, coalesce(strftime(filing_date, '%Y-%m'), '{UNKNOWN_MONTH}') AS filing_month, filing_id, issuer_id
FROM batch
WHERE filing_id IS NOT NULL AND issuer_id IS NOT NULL
"""


def _existing_for(storage: Storage, batch: pa.Table) -> pa.Table:
    """Published rows with the keys of ``batch`` (clean rows).

    Rows are read from the batch's (source, filing_month) partitions; a key published under another
    month (a source that moved a filing's date) is found by a key-only scan of the batch's sources
    and its row read too, so the fold sees the whole history and no key is published twice.
    """
    if batch.num_rows == 0:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    con = _connect()
    try:
        con.register("batch", batch)
        keys = con.sql(_BATCH_KEYS_SQL).to_arrow_table()
        months = _months_by_source(keys)
        published_keys = delta.read(
            storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=delta.sql_in("source", sorted(months)), columns=FILINGS_KEY
        )
        con.register("keys", keys)
        con.register("published_keys", published_keys)
        elsewhere = con.sql("""
            SELECT p.* FROM published_keys p
            SEMI JOIN keys k ON p.source = k.source AND p.filing_id = k.filing_id AND p.issuer_id = k.issuer_id
            ANTI JOIN keys m USING (source, filing_month, filing_id, issuer_id)
        """).to_arrow_table()
        for row in elsewhere.select(["source", "filing_month"]).to_pylist():
            months.setdefault(row["source"], set()).add(row["filing_month"])
        candidates = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=_scope(months))
        if candidates.num_rows == 0:
            return candidates
        con.register("candidates", candidates)
        rows = con.sql("""
            SELECT c.* FROM candidates c
            SEMI JOIN keys k ON c.source = k.source AND c.filing_id = k.filing_id AND c.issuer_id = k.issuer_id
        """)
        return delta.conform(rows.to_arrow_table(), PUBLISHED_FILINGS_SCHEMA)
    finally:
        con.close()


def merge_filings(storage: Storage, batch: pa.Table) -> dict:
    """Fold ``batch`` (clean rows) into ``published/filings``; returns counts, keys and versions."""
    table = delta.ensure_table(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, FILINGS_PARTITIONS, FILINGS_CONFIGURATION)
    version_before = table.version()
    existing = _existing_for(storage, batch)
    folded = fold(batch, existing)
    new, changed = _classify(folded, existing)
    moved = _moved_rows(folded, existing)
    if moved:
        # The key now belongs to another month: drop its old row, the merge inserts it in the new one.
        table.delete(" OR ".join(moved))
        log.info("filings: %d key(s) moved to another filing month", len(moved))
    metrics: dict = {}
    if folded.num_rows:
        metrics = delta.merge_changed(table, folded, FILINGS_KEY)
    inserted = int(metrics.get("num_target_rows_inserted", 0))
    updated = int(metrics.get("num_target_rows_updated", 0))
    if (inserted, updated) != (new.num_rows + len(moved), changed.num_rows - len(moved)):
        # Someone else published between our read and our merge; the table is still right.
        log.warning("filings: merge inserted %d / updated %d, expected %d / %d (a concurrent publish?)",
                    inserted, updated, new.num_rows, changed.num_rows)
    version = delta.open_table(storage, FILINGS).version()  # type: ignore[union-attr]
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
        "version": version,
        "months": {s: sorted(m) for s, m in _months_by_source(folded).items()},
        "merge_ms": int(metrics.get("execution_time_ms", 0)),
    }


def _moved_rows(folded: pa.Table, existing: pa.Table) -> list[str]:
    """Predicates for published rows whose key the fold placed in another filing month."""
    if existing.num_rows == 0:
        return []
    con = _connect()
    try:
        con.register("folded", folded.select(list(FILINGS_KEY)))
        con.register("existing", existing.select(list(FILINGS_KEY)))
        stale = con.sql("""
            SELECT e.* FROM existing e JOIN folded f
              ON e.source = f.source AND e.filing_id = f.filing_id AND e.issuer_id = f.issuer_id
            WHERE e.filing_month IS DISTINCT FROM f.filing_month
        """).to_arrow_table().to_pylist()
    finally:
        con.close()
    return ["(" + " AND ".join(f"{k} = {delta.sql_literal(r[k])}" for k in FILINGS_KEY) + ")" for r in stale]


def _rows_without_key(batch: pa.Table) -> int:
    missing = pc.or_(pc.is_null(batch["filing_id"]), pc.is_null(batch["issuer_id"]))
    return int(pc.sum(pc.cast(missing, pa.int64())).as_py() or 0)


def _pairs(keys: pa.Table) -> list[list[str]]:
    return [[f, i] for f, i in zip(keys["filing_id"].to_pylist(), keys["issuer_id"].to_pylist(), strict=True)]


# ------------------------------------------------------------------------------------------------
# issuers and daily_counts
# ------------------------------------------------------------------------------------------------

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
       {source_columns},
       a.first_filing_date, a.last_filing_date, a.filings, a.last_seen_at
FROM agg a LEFT JOIN refs r ON r.source = a.source AND r.issuer_id = a.issuer_id
ORDER BY a.source, a.issuer_id
"""


#: ``issuers`` columns only some sources fill (each source's ``Source.issuer_columns`` says how)
SOURCE_ISSUER_COLUMNS = ("cik", "stock_code", "org_id")


def _source_issuer_columns() -> str:
    """``CASE a.source WHEN <source> THEN <its expression> … END AS <column>`` for each source-filled column."""
    from filinglake.sources import all_sources

    sources = all_sources()
    unknown = {c for s in sources for c in s.issuer_columns} - set(SOURCE_ISSUER_COLUMNS)
    if unknown:
        raise ValueError(f"sources fill issuers columns that do not exist: {sorted(unknown)}")
    cases = []
    for column in SOURCE_ISSUER_COLUMNS:
        whens = " ".join(f"WHEN {delta.sql_literal(s.name)} THEN {s.issuer_columns[column]}"
                         for s in sources if column in s.issuer_columns)
        cases.append(f"CASE a.source {whens} END AS {column}" if whens else f"CAST(NULL AS VARCHAR) AS {column}")
    return ",\n       ".join(cases)


def build_issuers(published: pa.Table, references: pa.Table) -> pa.Table:
    """Issuer rows from published filings (needs the columns the SQL reads) and reference lists."""
    con = _connect()
    try:
        con.register("pub", published)
        con.register("refs", references)
        sql = _ISSUERS_SQL.format(source_columns=_source_issuer_columns())
        return delta.conform(con.sql(sql).to_arrow_table(), ISSUERS_SCHEMA)
    finally:
        con.close()


#: Up to this many issuers of a source are recomputed alone (an IN list pushed into the scan); more, and
#: the source is rebuilt whole. delta-rs' SQL parser crashed on an IN list of 30,000 values (20,000 ran).
ISSUER_FILTER_LIMIT = 5_000


def affected_issuers(batch: pa.Table) -> dict[str, set[str]]:
    """source → issuer_ids of the clean rows in ``batch`` (whose issuer rows a publish recomputes)."""
    keyed = batch.filter(pc.and_(pc.is_valid(batch["source"]), pc.is_valid(batch["issuer_id"])))
    pairs = keyed.select(["source", "issuer_id"]).group_by(["source", "issuer_id"]).aggregate([])
    found: dict[str, set[str]] = defaultdict(set)
    for source, issuer in zip(pairs["source"].to_pylist(), pairs["issuer_id"].to_pylist(), strict=True):
        found[source].add(issuer)
    return dict(found)


def refresh_issuers(
    storage: Storage,
    issuers_by_source: dict[str, set[str]],
    rebuild: Iterable[str] = (),
) -> dict:
    """Recompute issuer rows from published filings and merge the differences.

    ``issuers_by_source`` names the issuers a publish touched; a source in ``rebuild`` (new reference
    data) or with more than :data:`ISSUER_FILTER_LIMIT` of them is recomputed whole, and its issuers no
    longer in ``filings`` are deleted.
    """
    from filinglake.publish.references import issuer_references

    rebuild = set(rebuild)
    sources = sorted(set(issuers_by_source) | rebuild)
    if not sources:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "rebuilt": []}
    whole = sorted(s for s in sources if s in rebuild or len(issuers_by_source.get(s, ())) > ISSUER_FILTER_LIMIT)
    scopes = [delta.sql_in("source", whole)] if whole else []
    scopes += [f"(source = {delta.sql_literal(s)} AND {delta.sql_in('issuer_id', issuers_by_source[s])})"
               for s in sources if s not in whole]
    columns = ["source", "issuer_id", "exchange", "ticker", "company_name", "company_names", "filing_date",
               "last_seen_at"]
    published = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=" OR ".join(scopes), columns=columns)
    rows = build_issuers(published, issuer_references(storage, sources))
    table = delta.ensure_table(storage, ISSUERS, ISSUERS_SCHEMA, ["source"])
    scope = delta.sql_in("t.source", whole) if whole else None
    metrics = delta.merge_changed(table, rows, ISSUERS_KEY, delete_scope=scope)
    return {**_sync_counts(metrics, rows.num_rows), "rebuilt": whole}


_DAILY_COUNTS_SQL = """
SELECT source, coalesce(exchange, '') AS exchange, coalesce(form_type, '') AS form_type, filing_date,
       filing_month, count(*) AS published_rows, count(DISTINCT filing_id) AS filings, count(DISTINCT issuer_id) AS issuers
FROM pub
WHERE filing_date IS NOT NULL
GROUP BY ALL
ORDER BY ALL
"""


def build_daily_counts(published: pa.Table) -> pa.Table:
    con = _connect()
    try:
        con.register("pub", published)
        return delta.conform(con.sql(_DAILY_COUNTS_SQL).to_arrow_table(), DAILY_COUNTS_SCHEMA)
    finally:
        con.close()


def refresh_daily_counts(storage: Storage, months_by_source: dict[str, Iterable[str]]) -> dict:
    """Recount the (source, filing_month) partitions a publish touched and merge the differences."""
    months = {s: set(m) for s, m in months_by_source.items() if m}
    if not months:
        return {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0}
    columns = ["filing_id", "issuer_id", "source", "exchange", "form_type", "filing_date", "filing_month"]
    published = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=_scope(months), columns=columns)
    rows = build_daily_counts(published)
    table = delta.ensure_table(storage, DAILY_COUNTS, DAILY_COUNTS_SCHEMA, ["source"])
    scope = " OR ".join(
        f"(t.source = {delta.sql_literal(s)} AND {delta.sql_in('t.filing_month', m)})" for s, m in sorted(months.items())
    )
    metrics = delta.merge_changed(table, rows, DAILY_COUNTS_KEY, delete_scope=scope)
    return _sync_counts(metrics, rows.num_rows)


def _sync_counts(metrics: dict, rows: int) -> dict:
    return {
        "rows": rows,
        "inserted": int(metrics.get("num_target_rows_inserted", 0)),
        "updated": int(metrics.get("num_target_rows_updated", 0)),
        "deleted": int(metrics.get("num_target_rows_deleted", 0)),
    }


# ------------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------------


def publish(
    storage: Storage,
    settings: Settings | None = None,
    partitions: Sequence[tuple[str, str]] | None = None,
    *,
    rebuild_issuers: Iterable[str] = (),
) -> dict:
    """Merge the clean ``partitions`` (every landed one when None) into the published tables.

    Idempotent: publishing the same inputs again inserts and updates nothing (and commits nothing).
    The issuers and daily counts of everything in the batch are recomputed, changed or not, so a
    retry after a failure half-way still completes them. ``rebuild_issuers``: sources whose issuers
    are all recomputed (after new reference data, e.g. a new company_tickers.json).

    Returns counts, the keys of the new and changed rows (``new_keys``, ``changed_keys``:
    ``[filing_id, issuer_id]`` pairs), and the ``filings`` versions before and after, from which
    :func:`changed_rows` reads those rows back.
    """
    del settings  # the storage carries its settings; kept for the documented signature
    started = time.perf_counter()
    wanted = sorted({(s, p) for s, p in partitions}) if partitions is not None else clean_partitions(storage)
    batch = read_clean(storage, wanted)
    filings = merge_filings(storage, batch)
    months = filings["months"]
    issuers = refresh_issuers(storage, affected_issuers(batch), rebuild_issuers)
    daily_counts = refresh_daily_counts(storage, months)
    result = {
        "partitions": [list(p) for p in wanted],
        **{k: v for k, v in filings.items() if k != "months"},
        "sources": sorted(months),
        "months": months,
        "issuers": issuers,
        "daily_counts": daily_counts,
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info(
        "published %d partition(s): %d clean rows → %d keys: %d inserted, %d updated, %d unchanged "
        "(filings v%s → v%s); issuers +%d ~%d; daily_counts +%d ~%d -%d; %.2f s",
        len(wanted), filings["rows_read"], filings["rows"], filings["inserted"], filings["updated"],
        filings["unchanged"], filings["version_before"], filings["version"], issuers["inserted"],
        issuers["updated"], daily_counts["inserted"], daily_counts["updated"], daily_counts["deleted"],
        result["seconds"],
    )
    return result


def summary(result: dict) -> dict:
    """The XCom-sized part of a publish result (no key lists)."""
    out = {k: v for k, v in result.items() if k not in ("new_keys", "changed_keys")}
    out["new"] = len(result.get("new_keys", []))
    out["changed"] = len(result.get("changed_keys", []))
    return out


# ------------------------------------------------------------------------------------------------
# Reading back what changed
# ------------------------------------------------------------------------------------------------


def changed_rows(storage: Storage, after_version: int, up_to_version: int | None = None) -> pa.Table:
    """Rows of ``filings`` inserted or changed by the commits after ``after_version`` (their latest state).

    Read from the table's change data feed; published-shape rows, one per key.
    """
    table = delta.open_table(storage, FILINGS)
    if table is None:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    last = table.version() if up_to_version is None else up_to_version
    if last <= after_version:
        return PUBLISHED_FILINGS_SCHEMA.empty_table()
    feed = pa.table(table.load_cdf(starting_version=after_version + 1, ending_version=last).read_all())
    con = _connect()
    try:
        con.register("feed", feed)
        latest = con.sql(f"""
            SELECT {', '.join(PUBLISHED_FILINGS_SCHEMA.names)} FROM feed
            WHERE _change_type IN ('insert', 'update_postimage')
            QUALIFY row_number() OVER (PARTITION BY filing_id, issuer_id ORDER BY _commit_version DESC) = 1
            ORDER BY filing_id, issuer_id
        """).to_arrow_table()
    finally:
        con.close()
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
    sources = {k[0].split(":", 1)[0] for k in keys}
    candidates = delta.read(storage, FILINGS, PUBLISHED_FILINGS_SCHEMA, where=delta.sql_in("source", sources))
    con = _connect()
    try:
        con.register("candidates", candidates)
        con.register("wanted", wanted)
        rows = con.sql("SELECT c.* FROM candidates c SEMI JOIN wanted w USING (filing_id, issuer_id) "
                       "ORDER BY filing_id, issuer_id").to_arrow_table()
    finally:
        con.close()
    return delta.conform(rows, PUBLISHED_FILINGS_SCHEMA)


def read_published(storage: Storage, name: str, where: str | None = None) -> pa.Table:
    """A whole published table (``filings``, ``issuers``, ``daily_counts``) as Arrow; empty if absent."""
    schemas = {FILINGS: PUBLISHED_FILINGS_SCHEMA, ISSUERS: ISSUERS_SCHEMA, DAILY_COUNTS: DAILY_COUNTS_SCHEMA}
    if name not in schemas:
        raise ValueError(f"unknown published table {name!r}; known: {', '.join(sorted(schemas))}")
    return delta.read(storage, name, schemas[name], where=where)


def compact_and_vacuum(storage: Storage, *, retention_hours: int = delta.DEFAULT_RETENTION_HOURS) -> dict:
    """Weekly upkeep of every published table (see :func:`filinglake.publish.delta.compact_and_vacuum`)."""
    return delta.compact_and_vacuum(storage, retention_hours=retention_hours)


__all__ = [
    "DAILY_COUNTS", "DAILY_COUNTS_SCHEMA", "FILINGS", "ISSUERS", "ISSUERS_SCHEMA", "PUBLISHED_FILINGS_SCHEMA",
    "PublishError", "changed_rows", "clean_partitions", "compact_and_vacuum", "fold", "publish", "read_published",
    "rows_for_keys", "summary", "version_before",
]
