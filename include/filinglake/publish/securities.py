"""``published/securities``: every security the archived reference lists name, as dated snapshots (SCD-2).

Each archived copy of a source's reference list (``Source.reference_archive``: SEC's
``company_tickers.json``, CNINFO's stock list, HKEXnews' stock list) is a snapshot dated by its archive
day (its raw partition; the latest copy fetched that day when there are several). A source's companion
list (``Source.reference_companion``: HKEXnews' Chinese stock list, archived beside the English one)
completes each snapshot: the latest valid companion archived on or before the snapshot's day fills what
its securities lack (``name_zh``), joined on the key; a security only the companion names is added when
both lists are of the same day (``name_en`` null). A refused companion is skipped like a refused snapshot,
so it never blanks names an earlier one gave. A security is a
(source, issuer_id, security_id) — SEC: CIK and ticker, CNINFO: orgId and stock code, HKEX: the stock code
twice — and one row is
one version of it: ``valid_from`` is the first snapshot listing it as it is, ``valid_to`` the first one
that does not (the ticker gone, the name or listing changed), null while current. A ticker change
therefore closes the old security's row and opens the new one's.

The table is rebuilt from the raw archive whenever the set of snapshots changes (identical bytes are
parsed once), and left alone otherwise; the snapshot set is recorded in its commit metadata. A
snapshot that is not a valid list (mojibake, an entry without its ticker, HTML …) is refused whole
with one line naming the file and the rule it broke; the other snapshots still make the table. Each
refusal is also recorded as one quarantine row (:func:`record_refusals`: ``source``, ``raw_key``,
``archived_at``, ``failed_checks`` = the reason, under ``quarantine/references/source=S/partition=<day>/``),
so the ``quarantine`` view shows it; a record whose snapshot is no longer refused (the day's copy
replaced by a valid one) is removed.

:func:`with_reference` fills the ticker filings lack from it, and the ``issuer_name`` column: the
ticker and name valid for the issuer at the filing date (the version nearest in time when the date lies
outside every snapshot), the name in the row's language (a ``zh`` row: ``name_zh`` when the version has
one). A ticker a source filed is never replaced, and ``company_name`` stays as filed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.errors import BadResponse
from filinglake.publish import delta
from filinglake.schema import QUARANTINE_SCHEMA, SECURITIES_SCHEMA
from filinglake.sources import all_sources
from filinglake.storage import RAW_LAYER, REFUSED_REFERENCES_LAYER, parquet_bytes, partition_prefix, safe_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from filinglake.sources import SecurityReference, Source
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.securities")

SECURITIES = "securities"
SECURITIES_PARTITIONS = ("source",)
#: commit metadata: digest of the snapshots the table was built from
SNAPSHOTS_DIGEST = "filinglake_securities_snapshots"
#: in the digest: a table built before refusals were recorded is rebuilt once, recording them
_DIGEST_VERSION = "refusals-recorded"
_KEY = ("source", "issuer_id", "security_id")
#: what a companion list may add to a security its reference list names
_COMPLETED_FIELDS = ("ticker", "name", "exchange", "stock_code", "board", "stock_id", "name_en", "name_zh")
_ATTRIBUTES = ("ticker", "name", "name_pinyin", "exchange", "stock_code", "category", "board", "stock_id", "name_en",
               "name_zh", "is_primary")


@dataclass(frozen=True)
class Snapshot:
    """One archived reference list: its source, archive day and raw key."""

    source: str
    day: date
    key: str


def snapshots(storage: Storage, source: Source, *, companion: bool = False) -> list[Snapshot]:
    """The archived reference lists of ``source`` (with ``companion``: its companion lists), one per archive day
    (the last fetched that day), oldest first."""
    if source.reference_archive is None or (companion and source.reference_companion is None):
        return []
    archive, name = source.reference_archive
    if companion:
        name = str(source.reference_companion)
    suffix = f"-{safe_name(name)}"
    by_day: dict[str, list[str]] = {}
    for key in storage.list(f"{RAW_LAYER}/source={safe_name(archive)}"):
        if key.endswith(suffix) and storage.exists(f"{key}.meta.json"):  # without its meta: an interrupted archive
            by_day.setdefault(key.split("/partition=", 1)[1].split("/", 1)[0], []).append(key)
    found = []
    for day, keys in sorted(by_day.items()):
        try:
            when = date.fromisoformat(day)
        except ValueError:
            log.warning("securities: %s is not under a dated partition: skipped", keys[0])
            continue
        key = keys[0] if len(keys) == 1 else max(keys, key=lambda k: storage.raw_ref(k).fetched_at)
        found.append(Snapshot(source.name, when, key))
    return found


def _digest(snaps: list[Snapshot]) -> str:
    # the columns count too: a table built before a column was added is rebuilt with it
    text = "\n".join([_DIGEST_VERSION, ",".join(SECURITIES_SCHEMA.names),
                      *(f"{s.source}|{s.day.isoformat()}|{s.key}" for s in snaps)])
    return hashlib.sha256(text.encode()).hexdigest()


def build_securities(storage: Storage, sources: list[Source] | None = None) -> tuple[pa.Table, list[dict]]:
    """The securities table from every archived snapshot, and the refused snapshots (key, reason)."""
    rows: list[dict] = []
    refused: list[dict] = []
    for source in sources if sources is not None else all_sources():
        source_rows, source_refused = _versions(storage, source, snapshots(storage, source),
                                                snapshots(storage, source, companion=True))
        rows += source_rows
        refused += source_refused
    table = pa.Table.from_pylist(rows, schema=SECURITIES_SCHEMA)
    return table.sort_by([(c, "ascending") for c in (*_KEY, "valid_from")]), refused


def _parsed(storage: Storage, snap: Snapshot, parse: Callable[[bytes, str], list[SecurityReference]],
            cache: dict[str, list[SecurityReference] | str]) -> list[SecurityReference] | str:
    """The securities of a snapshot, or why it is refused (bytes parsed once: the key holds their digest)."""
    content = snap.key.rsplit("/", 1)[1].split("-", 1)[0]  # archive keys start with the sha256's head
    if content not in cache:
        try:
            cache[content] = parse(storage.get_bytes(snap.key), snap.key)
        except BadResponse as exc:
            cache[content] = str(exc).splitlines()[0]
            log.warning("securities: refused %s: %s", snap.key, cache[content])
    return cache[content]


def _refusal(source: Source, snap: Snapshot, reason: str) -> dict:
    return {"source": source.name, "day": snap.day.isoformat(), "key": snap.key, "reason": reason}


def _completed(securities: list[SecurityReference], companion: list[SecurityReference],
               same_day: bool) -> list[SecurityReference]:
    """``securities`` with what the companion list adds, joined on (issuer_id, security_id): each attribute a
    security lacks (HKEX: ``name_zh``) from the companion's security. The companion's other securities are added
    (with what the reference list would have said null) only when it was archived the same day: one carried over
    from an earlier day completes names but revives no security delisted since."""
    extra = {(c.issuer_id, c.security_id): c for c in companion}
    merged = []
    for security in securities:
        other = extra.pop((security.issuer_id, security.security_id), None)
        if other is not None:
            missing = {f: getattr(other, f) for f in _COMPLETED_FIELDS
                       if getattr(security, f) is None and getattr(other, f) is not None}
            security = replace(security, **missing) if missing else security
        merged.append(security)
    return merged + list(extra.values()) if same_day else merged


def _versions(storage: Storage, source: Source, snaps: list[Snapshot],
              companions: list[Snapshot] | None = None) -> tuple[list[dict], list[dict]]:
    """SCD-2 versions of ``source``'s securities over its snapshots (bad snapshots refused whole).

    Each snapshot is completed by the latest valid companion list archived on or before its day: a refused
    companion is as if it had not been archived, so it never blanks what an earlier one gave.
    """
    parsed: dict[str, list[SecurityReference] | str] = {}  # content digest (in the key) → securities or why not
    open_rows: dict[tuple, dict] = {}
    closed: list[dict] = []
    refused: list[dict] = []
    valid_companions: list[tuple[Snapshot, list[SecurityReference]]] = []
    companion_cache: dict[str, list[SecurityReference] | str] = {}
    for snap in companions or []:
        companion = _parsed(storage, snap, source.reference_companion_securities, companion_cache)
        if isinstance(companion, str):
            refused.append(_refusal(source, snap, companion))
        else:
            valid_companions.append((snap, companion))
    for snap in snaps:
        securities = _parsed(storage, snap, source.reference_securities, parsed)
        if isinstance(securities, str):  # every day's copy of bad bytes is refused (and recorded)
            refused.append(_refusal(source, snap, securities))
            continue  # a refused snapshot is as if it had not been archived
        earlier = [(c, found) for c, found in valid_companions if c.day <= snap.day]
        if earlier:
            companion_snap, companion = earlier[-1]
            securities = _completed(securities, companion, companion_snap.day == snap.day)
        current: dict[tuple, dict] = {}
        for security in securities:
            values = asdict(security)
            current.setdefault((source.name, values["issuer_id"], values["security_id"]), values)
        for key in list(open_rows):
            row = open_rows[key]
            now = current.get(key)
            if now is None or any(now[a] != row[a] for a in _ATTRIBUTES):
                row["valid_to"], row["is_current"] = snap.day, False
                closed.append(open_rows.pop(key))
        for key, values in current.items():
            row = open_rows.get(key)
            if row is None:
                row = open_rows[key] = {"source": source.name, **values, "valid_from": snap.day, "valid_to": None,
                                        "is_current": True, "raw_key": snap.key}
            row["last_seen_on"] = snap.day
    return closed + list(open_rows.values()), refused


def refresh_securities(storage: Storage, *, force: bool = False) -> dict:
    """Rebuild ``published/securities`` when the archived snapshots changed since it was built (or ``force``).

    Returns counts: ``rows``, ``current``, ``snapshots``, ``refused`` (key and reason of each bad
    snapshot, also recorded in the quarantine: :func:`record_refusals`) and ``rebuilt`` (False when
    nothing changed, nothing was committed).
    """
    sources = [s for s in all_sources() if s.reference_archive is not None]
    snaps = [snap for source in sources for companion in (False, True)
             for snap in snapshots(storage, source, companion=companion)]
    digest = _digest(snaps)
    table = delta.open_table(storage, SECURITIES)
    if table is not None and not force and _built_from(table) == digest:
        return {"rebuilt": False, "snapshots": len(snaps), "rows": None, "current": None, "refused": []}
    built, refused = build_securities(storage, sources)

    def write() -> None:
        from deltalake import CommitProperties, write_deltalake

        target = delta.ensure_table(storage, SECURITIES, SECURITIES_SCHEMA, SECURITIES_PARTITIONS)
        write_deltalake(target, delta.conform(built, SECURITIES_SCHEMA), mode="overwrite", schema_mode="overwrite",
                        writer_properties=delta.writer_properties(),
                        commit_properties=CommitProperties(custom_metadata={SNAPSHOTS_DIGEST: digest}))

    record_refusals(storage, refused)  # before the commit: an unchanged digest later never records them
    delta.retry_on_conflict("published/securities", write)
    current = int(pc.sum(built["is_current"]).as_py() or 0) if built.num_rows else 0
    log.info("securities rebuilt from %d snapshot(s): %d rows, %d current, %d snapshot(s) refused",
             len(snaps), built.num_rows, current, len(refused))
    return {"rebuilt": True, "snapshots": len(snaps), "rows": built.num_rows, "current": current, "refused": refused}


def refusal_key(refusal: dict) -> str:
    """Where the quarantine record of a refused snapshot lives (named by the raw key's content digest)."""
    content = refusal["key"].rsplit("/", 1)[1].split("-", 1)[0]
    prefix = partition_prefix(REFUSED_REFERENCES_LAYER, refusal["source"], refusal["day"])
    return f"{prefix}/{safe_name(content)}.parquet"


def record_refusals(storage: Storage, refused: list[dict]) -> None:
    """Make the quarantine records match ``refused`` (every refusal of a full rebuild).

    A record already written is left as it is (a rebuild writes nothing new); one no longer refused is
    deleted. Each record is one quarantine row: the filing columns null but ``source``, ``raw_key`` and
    ``archived_at``; ``failed_checks`` holds the one-line reason (the rule and where it broke).
    """
    wanted = {refusal_key(r): r for r in refused}
    for key in storage.list(REFUSED_REFERENCES_LAYER):
        if key not in wanted:
            storage.delete(key)
            log.info("securities: %s no longer refused: its quarantine record removed", key)
    for key, refusal in wanted.items():
        if storage.exists(key):
            continue
        archived_at = datetime.fromisoformat(storage.raw_ref(refusal["key"]).fetched_at)
        row = {"source": refusal["source"], "raw_key": refusal["key"], "archived_at": archived_at,
               "failed_checks": [refusal["reason"]]}
        storage.put_bytes(key, parquet_bytes(pa.Table.from_pylist([row], schema=QUARANTINE_SCHEMA)))


def _built_from(table) -> str | None:
    """The snapshot digest of the table's latest write (None: never written by :func:`refresh_securities`)."""
    for commit in table.history(limit=10):
        if commit.get("operation") == "WRITE":
            return str(commit[SNAPSHOTS_DIGEST]) if SNAPSHOTS_DIGEST in commit else None
    return None


def read_securities(storage: Storage, where: str | None = None) -> pa.Table:
    return delta.read(storage, SECURITIES, SECURITIES_SCHEMA, where=where)


# ------------------------------------------------------------------------------------------------
# Filling filings from the securities
# ------------------------------------------------------------------------------------------------

#: how far a security version is from a filing date: 0 when the version covers it (or, without a date,
#: when it is current), else the days to the nearest edge
_DISTANCE = """CASE
    WHEN w.filing_date IS NULL THEN CASE WHEN s.valid_to IS NULL THEN 0 ELSE 1 END
    WHEN w.filing_date < s.valid_from THEN date_diff('day', w.filing_date, s.valid_from)
    WHEN s.valid_to IS NOT NULL AND w.filing_date >= s.valid_to THEN date_diff('day', s.valid_to, w.filing_date) + 1
    ELSE 0
END"""

_NEAREST_SQL = f"""
WITH wanted AS (
    SELECT DISTINCT source, issuer_id, filing_date, ticker FROM batch
), ranked AS (
    SELECT w.source, w.issuer_id, w.filing_date, w.ticker AS filed_ticker, s.ticker, s.name, s.name_en, s.name_zh,
           row_number() OVER (
               PARTITION BY w.source, w.issuer_id, w.filing_date, w.ticker, s.ticker IS NULL
               ORDER BY {_DISTANCE}, s.is_primary DESC, s.valid_from DESC, s.security_id
           ) AS n_ticker,
           row_number() OVER (
               PARTITION BY w.source, w.issuer_id, w.filing_date, w.ticker
               ORDER BY {_DISTANCE}, s.ticker IS NOT DISTINCT FROM w.ticker DESC, s.is_primary DESC,
                        s.valid_from DESC, s.security_id
           ) AS n_name
    FROM wanted w JOIN securities s ON s.source = w.source AND s.issuer_id = w.issuer_id
)
SELECT b.* REPLACE (coalesce(b.ticker, t.ticker) AS ticker),
       CASE WHEN b.language = 'zh' THEN coalesce(n.name_zh, n.name) ELSE coalesce(n.name_en, n.name) END AS issuer_name
FROM batch b
LEFT JOIN ranked t
  ON t.n_ticker = 1 AND t.ticker IS NOT NULL AND t.source = b.source AND t.issuer_id = b.issuer_id
     AND t.filing_date IS NOT DISTINCT FROM b.filing_date AND t.filed_ticker IS NOT DISTINCT FROM b.ticker
LEFT JOIN ranked n
  ON n.n_name = 1 AND n.source = b.source AND n.issuer_id = b.issuer_id
     AND n.filing_date IS NOT DISTINCT FROM b.filing_date AND n.filed_ticker IS NOT DISTINCT FROM b.ticker
"""


def with_reference(storage: Storage, batch: pa.Table) -> pa.Table:
    """``batch`` (clean rows) with a null ticker filled, and ``issuer_name`` added, from ``published/securities``.

    Both come from the security version valid for the issuer at the filing date (the nearest version in
    time when the date lies outside every snapshot). The ticker is the issuer's main one; a ticker a
    source filed is kept as filed. ``issuer_name`` is the name the list gives the security the row
    names (its filed ticker), else the issuer's main one, in the row's language: a ``zh`` row (CNINFO, HKEX's
    Chinese stream) gets the version's ``name_zh``, any other row its ``name_en``, each falling back to the
    list's ``name`` when the version has none (HKEX before a Chinese list was archived, a code only one list
    names): CNINFO's short Chinese name, HKEXnews' English or Chinese short name, SEC's title; null for an
    issuer no list names. ``company_name`` stays as filed.
    """
    if not batch.num_rows:
        return _with_issuer_name(batch, None)
    securities = read_securities(storage)
    if not securities.num_rows:
        return _with_issuer_name(batch, None)
    filled = delta.duckdb_query(_NEAREST_SQL, {"batch": batch.drop_columns(
        [c for c in ("issuer_name",) if c in batch.column_names]), "securities": securities})
    return _with_issuer_name(filled.select(batch.column_names).cast(batch.schema), filled["issuer_name"])


def _with_issuer_name(batch: pa.Table, names) -> pa.Table:
    names = names if names is not None else pa.nulls(batch.num_rows, pa.string())
    if "issuer_name" in batch.column_names:
        batch = batch.drop_columns(["issuer_name"])
    return batch.append_column(pa.field("issuer_name", pa.string()), names.cast(pa.string()))
