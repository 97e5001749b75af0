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
from dataclasses import dataclass
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

    Many partitions (a backfill's) are published in batches of at most :data:`BATCH_ROWS` clean rows
    (:func:`batches`), each a whole publish recorded in the ledger, so memory follows the batch and an
    interrupted publish resumes after the last batch it completed.

    Returns counts summed over the batches, the keys of the new and changed rows (``new_keys``,
    ``changed_keys``: ``[filing_id, issuer_id]`` pairs, at most :data:`KEY_LIST_LIMIT` of each; ``new`` and
    ``changed`` count them all), and the ``filings`` versions before and after, from which
    :func:`~filinglake.publish.filings.changed_rows` reads those rows back.
    """
    del settings  # the storage carries its settings; kept for the documented signature
    started = time.perf_counter()
    wanted = sorted({(s, p) for s, p in partitions}) if partitions is not None else clean_partitions(storage)
    security_counts = securities.refresh_securities(storage)  # before filings: they take tickers from it
    planned = batches(storage, wanted)
    total_rows = sum(b.rows for b in planned) or 1
    results: list[dict] = []
    done_rows = 0
    states: dict = {}
    for number, batch in enumerate(planned, 1):
        if len(planned) > 1:
            log.info("publish batch %d/%d: %s, %s clean rows%s", number, len(planned), batch.describe(),
                     f"{batch.rows:,}", _eta(time.perf_counter() - started, done_rows, total_rows))
        if batch.part == 0:  # before reading: a re-landing meanwhile stays pending
            states = ledger.current_states(storage, batch.partitions)
        result = _publish_batch(storage, batch, states, rebuild_issuers if number == 1 else ())
        for key in ("new_keys", "changed_keys"):  # a backfill's keys would fill the memory: counted past the limit
            result[key] = result[key][:max(0, KEY_LIST_LIMIT - sum(len(r[key]) for r in results))]
        results.append(result)
        done_rows += batch.rows
    if not planned:  # nothing landed: the tables are still brought up to date (issuers, links)
        results.append(_publish_batch(storage, Batch([], 0), {}, rebuild_issuers))
    link_counts = links.refresh_links(storage)  # from securities and issuers: cheap, written only when changed
    result = _combined(results)
    result.update({"partitions": [list(p) for p in wanted], "batches": len(planned), "securities": security_counts,
                   "issuer_links": link_counts, "seconds": round(time.perf_counter() - started, 3)})
    issuer_counts, day_counts = result["issuers"], result["daily_counts"]
    log.info(
        "published %d partition(s): %d clean rows → %d keys: %d inserted, %d updated, %d unchanged "
        "(filings v%s → v%s); issuers +%d ~%d; daily_counts +%d ~%d -%d; %.2f s",
        len(wanted), result["rows_read"], result["rows"], result["inserted"], result["updated"],
        result["unchanged"], result["version_before"], result["version"], issuer_counts["inserted"],
        issuer_counts["updated"], day_counts["inserted"], day_counts["updated"], day_counts["deleted"],
        result["seconds"],
    )
    return result


#: clean rows published per batch: memory follows this (about 600-800 MB of peak RSS for 100,000 SEC
#: rows, imports included); a partition with more rows (an EDGAR quarter: ~200,000) is published in parts
BATCH_ROWS = 100_000
#: new and changed keys returned per publish (a backfill's would be millions: they are counted instead)
KEY_LIST_LIMIT = 10_000


@dataclass(frozen=True)
class Batch:
    """What one publish step merges: whole partitions, or part ``part`` of ``parts`` of one large partition."""

    partitions: list[tuple[str, str]]
    rows: int
    part: int = 0
    parts: int = 1

    def describe(self) -> str:
        if not self.partitions:
            return "nothing"
        first, last = self.partitions[0], self.partitions[-1]
        span = f"{first[0]}/{first[1]}" + (f" .. {last[1]}" if len(self.partitions) > 1 else "")
        return f"{span} (part {self.part + 1} of {self.parts})" if self.parts > 1 else \
            f"{len(self.partitions)} partition(s) {span}"


def batches(storage: Storage, partitions: Sequence[tuple[str, str]]) -> list[Batch]:
    """``partitions`` in order, grouped into batches of at most :data:`BATCH_ROWS` clean rows.

    A partition larger than that is split into parts of about equal rows, at month ends where it can
    (:func:`part_of`). A key listed twice in one index (the real 2016 Q3 master lists 13 such) may fall
    in two parts: the later part finds it published and folds into its row, as a re-publish does. Rows are the manifests' ``rows_written``; a partition without a
    manifest fails later, in :func:`~filinglake.publish.clean_layer.read_clean`, naming it.
    """
    from filinglake.manifests import read_manifest

    planned: list[Batch] = []
    batch: list[tuple[str, str]] = []
    rows = 0
    for partition in partitions:
        manifest = read_manifest(storage, *partition)
        size = int((manifest or {}).get("rows_written") or 0)
        if batch and rows + size > BATCH_ROWS:
            planned.append(Batch(batch, rows))
            batch, rows = [], 0
        if size > BATCH_ROWS:
            parts = -(-size // BATCH_ROWS)
            planned += [Batch([partition], (i + 1) * size // parts - i * size // parts, i, parts) for i in range(parts)]
            continue
        batch.append(partition)
        rows += size
    if batch:
        planned.append(Batch(batch, rows))
    return planned


def part_of(clean: pa.Table, part: int, parts: int) -> pa.Table:
    """Part ``part`` of ``parts`` of one partition's clean rows: in filing-date order, cut at month ends.

    Each part holds a run of dates, cut where a month ends when one is within a quarter of a part of the
    even cut (and no part then exceeds :data:`BATCH_ROWS`): an EDGAR quarter's three parts are its three
    months, so each writes one file to one month of ``filings`` (already clustered by issuer: the weekly
    compaction has nothing to rewrite after a backfill) and rewrites one month of each counts table,
    where even cuts of the index's own order wrote three files to every month. The sort is stable over
    the partition's one clean file, so every run cuts the same parts, each row in one.
    """
    import numpy as np
    import pyarrow.compute as pc

    order = pc.array_sort_indices(clean["filing_date"], null_placement="at_end")  # stable: same-day rows keep their order
    dates = clean["filing_date"].take(order)
    month = pc.fill_null(pc.add(pc.multiply(pc.year(dates), 12), pc.month(dates)), -1).to_numpy()
    month_ends = (np.flatnonzero(np.diff(month)) + 1).tolist()
    total = clean.num_rows
    cuts = [0]
    for k in range(1, parts):
        even = k * total // parts
        near = [c for c in month_ends if abs(c - even) <= total // (4 * parts)
                and c - cuts[-1] <= BATCH_ROWS and total - c <= (parts - k) * BATCH_ROWS]
        cuts.append(min(near, key=lambda c: abs(c - even)) if near else even)
    cuts.append(total)
    return clean.take(order.slice(cuts[part], cuts[part + 1] - cuts[part]))


def _eta(elapsed: float, done_rows: int, total_rows: int) -> str:
    if not done_rows:
        return ""
    left = elapsed * (total_rows - done_rows) / done_rows
    return f"; {done_rows / total_rows:.0%} done, about {left / 60:.0f} min left" if left >= 60 else \
        f"; {done_rows / total_rows:.0%} done, about {left:.0f} s left"


_SUMMED_TABLES = ("issuers", "daily_counts", "category_counts")


def _combined(results: list[dict]) -> dict:
    """One result for a publish of several batches: counts summed, versions from first to last."""
    first, last = results[0], results[-1]
    counts = {k for r in results for k, v in r.items() if type(v) is int} - {"version_before", "version"}
    out: dict = {k: sum(r.get(k, 0) for r in results) for k in counts}
    out["version_before"], out["version"] = first["version_before"], last["version"]
    for key in ("new_keys", "changed_keys"):
        out[key] = [k for r in results for k in r[key]]
    months: dict[str, set[str]] = {}
    for r in results:
        for source, names in r["months"].items():
            months.setdefault(source, set()).update(names)
    out["months"] = {s: sorted(m) for s, m in sorted(months.items())}
    out["sources"] = sorted(months)
    for table in _SUMMED_TABLES:
        per_batch = [r[table] for r in results]
        out[table] = {k: (sum(c[k] for c in per_batch) if type(per_batch[0][k]) is int else per_batch[-1][k])
                      for k in per_batch[0]}
    out["issuers"]["rebuilt"] = sorted({s for r in results for s in r["issuers"].get("rebuilt", [])})
    return out


def _publish_batch(storage: Storage, batch: Batch, states: dict, rebuild_issuers: Iterable[str]) -> dict:
    """Publish one batch into filings, issuers, daily_counts and category_counts; record it in the ledger
    (a partition in parts: after its last part, with its state from before its first)."""
    clean = read_clean(storage, batch.partitions)
    if batch.parts > 1:
        clean = part_of(clean, batch.part, batch.parts)
    batch_rows = securities.with_reference(storage, clean)
    del clean
    merged = filings.merge_filings(storage, batch_rows)
    table = merged.pop("table")  # filings as this merge left it: every refresh reads this one snapshot
    touched = merged.pop("touched")  # the batch's rows before and after: the counts they fall in are recounted
    affected = issuers.affected_issuers(batch_rows)
    del batch_rows
    for attempt in range(REFRESH_ATTEMPTS):
        if attempt:
            table = delta.open_table(storage, filings.FILINGS)
        issuer_counts = issuers.refresh_issuers(storage, affected, rebuild_issuers, filings=table)
        day_rows = daily_counts.DayRows()  # the recounted days' rows, read once for both counts tables
        day_counts = daily_counts.refresh_daily_counts(storage, touched, day_rows, filings=table)
        category_day_counts = category_counts.refresh_category_counts(storage, touched, day_rows, filings=table)
        del day_rows
        # Recomputed from that snapshot: valid only if no other publish changed filings meanwhile (else again).
        if not delta.committed_after(storage, filings.FILINGS, table.version()):
            break
        log.info("filings changed while issuers and daily_counts were recomputed: recomputing them again")
    if batch.part == batch.parts - 1:
        ledger.record(storage, states, merged["version"])
    return {**merged,
            "new": len(merged["new_keys"]), "changed": len(merged["changed_keys"]),
            "issuers": issuer_counts, "daily_counts": day_counts, "category_counts": category_day_counts}


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
