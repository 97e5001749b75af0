"""``published/filing_keys``: where each published key lives — a compact index of ``filings``.

One row per (source, filing_id, issuer_id, filing_month) ever inserted into ``filings``, with the key's
``key_hash`` (:data:`KEY_HASH_SQL`): how a publish finds the published row of a key whatever month it
was first filed in, without reading every month. A lookup reads a bucket's hashes, not its key strings,
then the months of the hashes it found (on the whole synthetic EDGAR history, the 2020 bucket's 778,594
keys in 49 ms instead of 95 ms).
A filing's date differs between SEC's daily and quarterly indexes by days as a rule, but a date can
move further (a filing-date adjustment, a late dissemination): the index finds such a key in any month,
so it stays one row.

The index is partitioned by ``source`` and ``id_bucket``, a function of the filing id alone (so a key
never changes bucket), declared by each source (``Source.filing_id_bucket``): for SEC the accession's
year (``0001140361-20-006155`` → ``2020``), the year the filing was submitted, which is what new
filings share; for CNINFO and HKEX the million of the announcement id (``cninfo:1216543210`` →
``1216000000``, ``hkex:9117564`` → ``0009000000``): both ids grow over time, so a day's ids fall in one
million or two, and a bucket never holds more than a million ids (CNINFO's recent ids advance 2–3
million a year, HKEX's NEWS_ID about half a million). A daily batch therefore reads one or two buckets
of the index (:func:`scan_predicates`), with its filing ids pushed into the scan when they are few
(else the bucket's keys read whole and joined: delta-rs evaluates a long IN list slowly), whatever the
length of the history. A source without a rule (or an id its rule does not cover) has the bucket ``all``.

Index rows written before a source had a rule sit in its legacy ``all`` bucket. They are re-bucketed
once, by the first sync that sees them (:func:`rebucket_legacy`): their copies are appended under
their buckets, then the ``all`` partition is replaced by the rows that stay there, in a commit that
conflicts with any key appended to it meanwhile (then it is redone). A key is never absent from the
index on the way (at worst listed twice, which costs a lookup nothing), and until the ``all``
partition is gone every lookup of that source reads it too, so a key published before the rule
changed is still found. Moving once rather than reading ``all`` in every lookup: the legacy partition
is as large as the source's whole history before the upgrade, and a daily would keep paying for it.
The move reads the legacy partition whole, once (measured here: 100,000 keys 0.45 s CPU and +140 MB
peak RSS, 1,000,000 keys 1.6 s CPU and +430 MB); a deployment with a large CNINFO or HKEX history
pays it in its first publish after the upgrade, and its later lookups read only their buckets.

It is append-only and kept from ``filings``' change data feed (the inserted rows since the version it
reflects, its watermark in each commit, as ``issuers`` does): a publish that failed after its
``filings`` commit is caught up by the next one, and a key listed twice (a retry, two publishes at
once, a key that moved month) only makes the lookup read one more partition of ``filings``, where
the key's row is looked for by its full key. A table without the index (written before it) gets it
built once from ``filings``, month by month.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.publish import delta

if TYPE_CHECKING:
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.filing_keys")

FILING_KEYS = "filing_keys"
FILING_KEYS_PARTITIONS = ("source", "id_bucket")
FILING_KEYS_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("id_bucket", pa.string()),
    ("filing_id", pa.string()),
    ("issuer_id", pa.string()),
    ("filing_month", pa.string()),
    ("key_hash", pa.int64()),
])
#: the bucket of a filing id when its source declares none (or its rule gives null); also where a source's
#: keys sat before it declared a rule (re-bucketed once by :func:`rebucket_legacy`)
ONE_BUCKET = "all"
#: up to this many filing ids of a bucket are pushed into its scan as an IN list (file statistics then skip
#: files without them); more, and the bucket's keys are read whole and joined here. delta-rs evaluates an
#: IN list at a cost that grows with its length times the rows scanned (measured on a bucket of 175,000
#: keys: 10 ids 0.02 s, 200 ids 0.03 s, 1,000 ids 0.09 s, 2,648 ids — a daily's — 0.23 s; the whole
#: bucket read without one 0.03 s)
KEY_FILTER_LIMIT = 200
#: rows appended per commit while the index is built from an existing ``filings`` table
BUILD_CHUNK_ROWS = 2_000_000


#: DuckDB SQL on ``filing_id`` and ``issuer_id``: the first 60 bits of the MD5 of the two (a fixed
#: function, unlike DuckDB's ``hash``, which may change between versions). A lookup reads this one int64
#: column of a bucket instead of its two key strings; two keys sharing a hash (about one pair in 10^9 per
#: daily against a million-key bucket) only make the lookup name one more month of ``filings`` to read,
#: where rows are matched by their full key
KEY_HASH_SQL = "CAST(('0x' || left(md5(filing_id || chr(31) || issuer_id), 15)) AS BIGINT)"


def id_bucket_sql() -> str:
    """DuckDB SQL on ``source`` and ``filing_id``: each registered source's ``filing_id_bucket`` rule."""
    from filinglake.sources import all_sources

    whens = [f"WHEN {delta.sql_literal(s.name)} THEN ({s.filing_id_bucket})"
             for s in all_sources() if s.filing_id_bucket]
    cases = f"CASE source {' '.join(whens)} END" if whens else "NULL"
    return f"coalesce({cases}, {delta.sql_literal(ONE_BUCKET)})"


def with_buckets(keys: pa.Table) -> pa.Table:
    """``keys`` (source, filing_id, issuer_id[, filing_month]) with their ``id_bucket`` and ``key_hash``."""
    return delta.duckdb_query(f"SELECT *, {id_bucket_sql()} AS id_bucket, {KEY_HASH_SQL} AS key_hash FROM keys",
                              {"keys": keys})


def _rows(keys: pa.Table) -> pa.Table:
    return delta.conform(with_buckets(keys.select(["source", "filing_id", "issuer_id", "filing_month"])),
                         FILING_KEYS_SCHEMA)


def scan_predicates(keyed: pa.Table, partitions: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(source, bucket, delta-rs WHERE) of each index partition a lookup of ``keyed`` reads.

    ``keyed``: keys with their ``id_bucket`` (:func:`with_buckets`); ``partitions``: the (source,
    id_bucket) pairs the index holds. The buckets of the batch, plus a source's legacy ``all`` bucket
    while it holds rows (keys published before the source had a rule, not yet re-bucketed). Filing ids
    are pushed into the scan when there are at most :data:`KEY_FILTER_LIMIT` per bucket (else the
    bucket is read whole, three columns, and joined).
    """
    present = set(partitions)
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for source, bucket, filing_id in zip(keyed["source"].to_pylist(), keyed["id_bucket"].to_pylist(),
                                         keyed["filing_id"].to_pylist(), strict=True):
        wanted[(source, bucket)].add(filing_id)
        if (source, ONE_BUCKET) in present:
            wanted[(source, ONE_BUCKET)].add(filing_id)
    scans = []
    for (source, bucket), ids in sorted(wanted.items()):
        if (source, bucket) not in present:
            continue  # nothing of this bucket was ever published: every key of it is new
        where = f"source = {delta.sql_literal(source)} AND id_bucket = {delta.sql_literal(bucket)}"
        if len(ids) <= KEY_FILTER_LIMIT:
            where += f" AND {delta.sql_in('filing_id', ids)}"
        scans.append((source, bucket, where))
    return scans


def _partitions(table) -> set[tuple[str, str]]:
    return {(p["source"], p["id_bucket"]) for p in table.partitions()}


def lookup(storage: Storage, keys: pa.Table, table=None) -> pa.Table:
    """Every (source, filing_id, issuer_id, filing_month) the index holds for ``keys`` (source, filing_id, issuer_id).

    Reads only the partitions :func:`scan_predicates` names, and of them only ``key_hash``, joined here
    with the wanted keys' hashes; the months of the hashes found are read after (pushed into the scan
    when few), and a key takes the months of its hash. ``table``: the index already open (as
    :func:`sync` returns it), else it is opened.
    """
    table = table if table is not None else delta.open_table(storage, FILING_KEYS)
    empty = FILING_KEYS_SCHEMA.empty_table()
    if table is None or keys.num_rows == 0:
        return empty
    keyed = with_buckets(keys.select(["source", "filing_id", "issuer_id"]))
    found = [empty]
    for source, bucket, where in scan_predicates(keyed, _partitions(table)):
        wanted = keyed.filter(pc.equal(keyed["source"], source)).select(["filing_id", "issuer_id", "key_hash"])
        # the hashes alone first: a daily's keys are new as a rule, and then no month is read at all
        hashes = delta.scan(table, ["key_hash"], where)
        matched = delta.duckdb_query("SELECT DISTINCT h.key_hash FROM hashes h SEMI JOIN wanted w USING (key_hash)",
                                     {"hashes": hashes, "wanted": wanted})["key_hash"].to_pylist()
        del hashes
        if not matched:
            continue
        if len(matched) <= KEY_FILTER_LIMIT:
            where += f" AND {delta.sql_in('key_hash', matched)}"
        rows = delta.scan(table, ["key_hash", "filing_month"], where)
        found.append(delta.conform(delta.duckdb_query(
            "SELECT DISTINCT $source AS source, $bucket AS id_bucket, w.filing_id, w.issuer_id, r.filing_month, "
            "w.key_hash FROM rows r JOIN wanted w USING (key_hash)",
            {"rows": rows, "wanted": wanted}, params={"source": source, "bucket": bucket}), FILING_KEYS_SCHEMA))
    return pa.concat_tables(found)


def sync(storage: Storage, filings=None, *, index=None) -> dict:
    """Append the keys ``filings`` inserted since the version the index reflects; returns what it did
    (``table``: the index as it now stands, for a lookup right after).

    ``filings``: the filings table already open (each open replays its log), used by the first try;
    ``index``: the index already open (as an earlier sync returned it), likewise.

    Builds the index from ``filings`` when it does not exist yet, the feed since its watermark is gone,
    or it was written before ``key_hash`` (once, on upgrade: measured on the 27M-row history, see the
    README); re-buckets keys left in a source's legacy ``all`` bucket (:func:`rebucket_legacy`). Retried when a concurrent publish commits first; two syncs at once may both append the
    same keys, which costs a lookup nothing but a duplicate row.
    """
    given, given_index = delta.given_once(filings), delta.given_once(index)  # a retry opens both afresh
    return delta.retry_on_conflict(f"published/{FILING_KEYS}", lambda: _sync_once(storage, given(), given_index()))


def _sync_once(storage: Storage, filings=None, index=None) -> dict:
    from deltalake import CommitProperties, write_deltalake

    from filinglake.publish.filings import FILINGS, changes_since

    filings = filings if filings is not None else delta.open_table(storage, FILINGS)
    if filings is None:
        return {"appended": 0, "built": False}
    up_to = filings.version()
    if index is not None:
        index.update_incremental()  # another publish may have appended since it was opened
    else:
        index = delta.open_table(storage, FILING_KEYS)
    feed = None
    if index is not None and not _has_key_hash(index):
        log.info("filing_keys: written before key_hash; rebuilt once from filings")
        index = None
    if index is not None:
        if rebucket_legacy(storage, index):
            index = delta.open_table(storage, FILING_KEYS)
            assert index is not None
        if delta.watermark(index) == up_to:
            return {"appended": 0, "built": False, "table": index}
        feed = changes_since(storage, index, up_to, ["source", "filing_id", "issuer_id", "filing_month"],
                             filings=filings)
    if feed is None:
        return _build(storage, filings, up_to)
    inserted = feed.filter(pc.equal(feed["_change_type"], "insert"))
    rows = _rows(delta.duckdb_query("SELECT DISTINCT source, filing_id, issuer_id, filing_month FROM inserted",
                                    {"inserted": inserted}))
    write_deltalake(index, rows, mode="append", partition_by=list(FILING_KEYS_PARTITIONS),
                    writer_properties=delta.writer_properties(),
                    commit_properties=CommitProperties(custom_metadata={delta.WATERMARK: str(up_to)}))
    return {"appended": rows.num_rows, "built": False, "table": index}  # the write moved ``index`` to its commit


def _has_key_hash(index) -> bool:
    return "key_hash" in index.schema().to_arrow().names


def _ruled_sources() -> set[str]:
    from filinglake.sources import all_sources

    return {s.name for s in all_sources() if s.filing_id_bucket}


def rebucket_legacy(storage: Storage, index) -> int:
    """Move the keys of each source with a bucket rule out of its legacy ``all`` bucket; returns how many moved.

    Per source: appends their copies under their buckets (one commit), then replaces the ``all``
    partition with the keys that stay there (their rule gives none) in a commit made on ``index`` as it
    was read: a key appended to ``all`` meanwhile (a publish of the previous version) makes it conflict,
    and the caller's retry moves that key too. Interrupted between the two commits, a key is listed twice.
    """
    from deltalake import write_deltalake

    legacy = sorted(s for s, b in _partitions(index) if b == ONE_BUCKET and s in _ruled_sources())
    moved = 0
    for source in legacy:
        where = f"source = {delta.sql_literal(source)} AND id_bucket = {delta.sql_literal(ONE_BUCKET)}"
        rows = _rows(delta.read_snapshot(index, FILING_KEYS_SCHEMA, where))
        leaving = pc.not_equal(rows["id_bucket"], ONE_BUCKET)
        out = rows.filter(leaving)
        if out.num_rows == 0:
            continue
        uri, options = delta.location(storage, FILING_KEYS)  # a second handle: ``index`` stays at its version
        write_deltalake(uri, out, mode="append", partition_by=list(FILING_KEYS_PARTITIONS),
                        storage_options=options, writer_properties=delta.writer_properties())
        # the commit moves ``index`` to the new version, from which the next source is read
        write_deltalake(index, rows.filter(pc.invert(leaving)), mode="overwrite", predicate=where,
                        partition_by=list(FILING_KEYS_PARTITIONS), writer_properties=delta.writer_properties())
        log.info("filing_keys: %d key(s) of %s moved out of the legacy bucket %r", out.num_rows, source, ONE_BUCKET)
        moved += out.num_rows
    return moved


def _build(storage: Storage, filings, up_to: int) -> dict:
    """(Re)create the index from ``filings`` at version ``up_to``, one month partition at a time."""
    from deltalake import CommitProperties, write_deltalake

    from filinglake.schema import PUBLISHED_FILINGS_SCHEMA

    uri, options = delta.location(storage, FILING_KEYS)
    pairs = sorted({(p["source"], p["filing_month"]) for p in filings.partitions()})
    chunks: list[pa.Table] = []
    written, first = 0, True

    def flush(last: bool) -> None:
        nonlocal chunks, first
        rows = pa.concat_tables(chunks) if chunks else FILING_KEYS_SCHEMA.empty_table()
        metadata = {delta.WATERMARK: str(up_to)} if last else {}
        write_deltalake(uri, rows, mode="overwrite" if first else "append", storage_options=options,
                        partition_by=list(FILING_KEYS_PARTITIONS), writer_properties=delta.writer_properties(),
                        schema_mode="overwrite" if first else None,
                        commit_properties=CommitProperties(custom_metadata=metadata))
        chunks, first = [], False

    pending = 0
    for source, month in pairs:
        where = f"source = {delta.sql_literal(source)} AND filing_month = {delta.sql_literal(month)}"
        part = delta.read_snapshot(filings, PUBLISHED_FILINGS_SCHEMA, where,
                                   ["source", "filing_id", "issuer_id", "filing_month"])
        chunks.append(_rows(part))
        pending += part.num_rows
        written += part.num_rows
        if pending >= BUILD_CHUNK_ROWS:
            flush(last=False)
            pending = 0
    flush(last=True)
    log.info("filing_keys: built from filings v%d (%d keys)", up_to, written)
    return {"appended": written, "built": True, "table": delta.open_table(storage, FILING_KEYS)}
