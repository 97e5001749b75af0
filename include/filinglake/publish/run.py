"""One publish: reference snapshots → ``securities``; clean partitions → ``filings``, then ``issuers``,
``daily_counts`` and ``category_counts``, then ``issuer_links``, then the ledger.

Each published table has its own module (:mod:`~filinglake.publish.filings`,
:mod:`~filinglake.publish.issuers`, :mod:`~filinglake.publish.daily_counts`); this one orders them:
securities first (filings take tickers from it: :mod:`~filinglake.publish.securities`), then filings
(the others are recomputed from it), ``issuer_links`` from securities and issuers
(:mod:`~filinglake.publish.links`), the ledger last (:mod:`~filinglake.publish.ledger`:
a partition counts as published only once every table has it). :func:`publish` publishes the
partitions it is given; :func:`publish_pending` those new or changed since they were last published.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.publish import (
    category_counts,
    daily_counts,
    delta,
    filings,
    issuers,
    ledger,
    links,
    securities,
)
from filinglake.publish.clean_layer import clean_partitions, read_clean
from filinglake.schema import (
    CATEGORY_COUNTS_SCHEMA,
    DAILY_COUNTS_SCHEMA,
    ISSUER_LINKS_SCHEMA,
    ISSUERS_SCHEMA,
    PUBLISHED_FILINGS_SCHEMA,
    SECURITIES_SCHEMA,
)

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.run")

#: every published table and its schema (for :func:`read_published`)
PUBLISHED_TABLES: dict[str, pa.Schema] = {
    filings.FILINGS: PUBLISHED_FILINGS_SCHEMA,
    issuers.ISSUERS: ISSUERS_SCHEMA,
    daily_counts.DAILY_COUNTS: DAILY_COUNTS_SCHEMA,
    securities.SECURITIES: SECURITIES_SCHEMA,
    category_counts.CATEGORY_COUNTS: CATEGORY_COUNTS_SCHEMA,
    links.ISSUER_LINKS: ISSUER_LINKS_SCHEMA,
}


#: recomputations of issuers and daily_counts while concurrent publishes keep changing filings under them
REFRESH_ATTEMPTS = 5


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
    are all recomputed (after new reference data, e.g. a new company_tickers.json). A commit lost to
    a concurrent publish is retried; one that keeps losing raises
    :class:`~filinglake.publish.delta.CommitConflict`.

    Returns counts, the keys of the new and changed rows (``new_keys``, ``changed_keys``:
    ``[filing_id, issuer_id]`` pairs), and the ``filings`` versions before and after, from which
    :func:`~filinglake.publish.filings.changed_rows` reads those rows back.
    """
    del settings  # the storage carries its settings; kept for the documented signature
    started = time.perf_counter()
    wanted = sorted({(s, p) for s, p in partitions}) if partitions is not None else clean_partitions(storage)
    states = ledger.current_states(storage, wanted)  # before reading: a re-landing meanwhile stays pending
    security_counts = securities.refresh_securities(storage)  # before filings: they take tickers from it
    batch = securities.with_reference(storage, read_clean(storage, wanted))
    merged = filings.merge_filings(storage, batch)
    affected = issuers.affected_issuers(batch)
    del batch
    for _ in range(REFRESH_ATTEMPTS):
        # Recomputed from filings: valid only if no other publish changed filings meanwhile (else again).
        version = delta.open_table(storage, filings.FILINGS).version()  # type: ignore[union-attr]
        issuer_counts = issuers.refresh_issuers(storage, affected, rebuild_issuers)
        day_rows = daily_counts.DayRows()  # the recounted days' rows, read once for both counts tables
        day_counts = daily_counts.refresh_daily_counts(storage, merged["days"], day_rows)
        category_day_counts = category_counts.refresh_category_counts(storage, merged["days"], day_rows)
        del day_rows
        if delta.open_table(storage, filings.FILINGS).version() == version:  # type: ignore[union-attr]
            break
        log.info("filings changed while issuers and daily_counts were recomputed: recomputing them again")
    link_counts = links.refresh_links(storage)  # from securities and issuers: cheap, written only when changed
    ledger.record(storage, states, merged["version"])
    months = merged["months"]
    result = {
        "partitions": [list(p) for p in wanted],
        **{k: v for k, v in merged.items() if k not in ("months", "days")},
        "sources": sorted(months),
        "months": months,
        "issuers": issuer_counts,
        "daily_counts": day_counts,
        "securities": security_counts,
        "category_counts": category_day_counts,
        "issuer_links": link_counts,
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info(
        "published %d partition(s): %d clean rows → %d keys: %d inserted, %d updated, %d unchanged "
        "(filings v%s → v%s); issuers +%d ~%d; daily_counts +%d ~%d -%d; %.2f s",
        len(wanted), merged["rows_read"], merged["rows"], merged["inserted"], merged["updated"],
        merged["unchanged"], merged["version_before"], merged["version"], issuer_counts["inserted"],
        issuer_counts["updated"], day_counts["inserted"], day_counts["updated"], day_counts["deleted"],
        result["seconds"],
    )
    return result


def publish_pending(
    storage: Storage,
    settings: Settings | None = None,
    sources: Iterable[str] | None = None,
    *,
    rebuild_issuers: Iterable[str] = (),
) -> dict:
    """Publish the landed partitions (of ``sources``, default all) that are new or changed since last published.

    Nothing pending (and nothing to rebuild): no table is written and the result says so
    (``partitions`` empty, ``version`` equal to ``version_before``), in well under a second.
    """
    landed = clean_partitions(storage, sources)
    todo, _ = ledger.pending(storage, landed)
    rebuild = sorted(set(rebuild_issuers))
    if todo or rebuild:
        return publish(storage, settings, todo, rebuild_issuers=rebuild)
    security_counts = securities.refresh_securities(storage)  # new reference snapshots, no new partition
    link_counts = links.refresh_links(storage)  # new securities or reviewed links
    table = delta.open_table(storage, filings.FILINGS)
    version = table.version() if table is not None else -1
    log.info("nothing to publish: %d landed partition(s), all published as they are", len(landed))
    return {"partitions": [], "rows_read": 0, "rows": 0, "skipped_without_key": 0, "inserted": 0, "updated": 0,
            "unchanged": 0, "new_keys": [], "changed_keys": [], "version_before": version, "version": version,
            "merge_ms": 0, "sources": [], "months": {},
            "issuers": {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0, "rebuilt": []},
            "daily_counts": {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0}, "securities": security_counts,
            "category_counts": {"inserted": 0, "updated": 0, "deleted": 0, "rows": 0}, "issuer_links": link_counts,
            "seconds": 0.0}


def summary(result: dict) -> dict:
    """The XCom-sized part of a publish result (no key lists)."""
    out = {k: v for k, v in result.items() if k not in ("new_keys", "changed_keys")}
    out["new"] = len(result.get("new_keys", []))
    out["changed"] = len(result.get("changed_keys", []))
    return out


def read_published(storage: Storage, name: str, where: str | None = None) -> pa.Table:
    """A whole published table (``filings``, ``issuers``, ``daily_counts``, ``securities``, ``issuer_links`` …) as
    Arrow; empty if absent."""
    if name not in PUBLISHED_TABLES:
        raise ValueError(f"unknown published table {name!r}; known: {', '.join(sorted(PUBLISHED_TABLES))}")
    return delta.read(storage, name, PUBLISHED_TABLES[name], where=where)


def compact_tables(storage: Storage, *, retention_hours: int = delta.DEFAULT_RETENTION_HOURS) -> dict:
    """Weekly compaction of every published table (see :func:`filinglake.publish.delta.compact_tables`)."""
    return delta.compact_tables(storage, retention_hours=retention_hours)
