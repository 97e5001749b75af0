"""The alerts table ``published/alerts``: each (watchlist entry, filing) recorded once, with its document.

An alert is one (entry, filing_id, issuer_id); its ``alert_id`` is the sha256 of those three, and
``published/alerts`` (Delta) is only ever inserted into on ``alert_id``, so reruns never repeat an
alert. For each new alert the document is captured (:mod:`filinglake.alerts.documents`); a failed
capture is recorded in ``document_error`` and never fails the publish. :func:`record_alerts` returns
the new alerts as JSON-friendly dicts (:func:`~filinglake.alerts.presentation.alert_json`), ready for
XCom and notifiers.

Which filings have been evaluated is recorded on the alerts table itself, as two Delta table
properties: the ``filings`` table's id and the last ``filings`` version whose changes were evaluated
(:data:`EVALUATED_VERSION`). :func:`record_alerts` evaluates every change since that version (read
from the ``filings`` change data feed) and moves the mark only after the alerts are in, so a publish
whose alert step failed, or was retried after ``filings`` had merged, has its alerts raised by the
next run. Table properties rather than a file beside the table: they travel with the table, any Delta
reader shows them, and each update is a Delta commit under the table's own conflict checks; the
commit metadata of an alert insert could not carry the mark, as most runs insert no alert.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.alerts.matching import match_watchlist
from filinglake.alerts.presentation import alert_json
from filinglake.alerts.watchlist import Watchlist, load_watchlist
from filinglake.errors import FilinglakeError
from filinglake.publish import delta
from filinglake.publish.filings import FILINGS, changed_rows, rows_for_keys
from filinglake.schema import ALERTS_SCHEMA

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.alerts.record")

ALERTS = "alerts"  # the published table: <storage>/published/alerts
#: documents fetched per record_alerts call at most; a first run on a broad watchlist must not crawl
DEFAULT_MAX_CAPTURES = 100
#: table properties of ``published/alerts``: the last ``filings`` version evaluated, and that table's id
EVALUATED_VERSION = "filinglake.alerts.evaluatedFilingsVersion"
EVALUATED_TABLE_ID = "filinglake.alerts.evaluatedFilingsTableId"


def alert_id(entry_id: str, filing_id: str, issuer_id: str | None) -> str:
    """sha256 of entry id, filing id and issuer id (unit-separator joined): stable across runs."""
    return hashlib.sha256("\x1f".join([entry_id, filing_id, issuer_id or ""]).encode()).hexdigest()


def read_alerts(storage: Storage, settings: Settings | None = None) -> pa.Table:
    """Every alert raised so far (an empty table before the first one); columns a table predates are null."""
    del settings  # the storage carries its settings (S3 options)
    present = _columns(storage)
    columns = [name for name in ALERTS_SCHEMA.names if name in present] if present else None
    return delta.conform(delta.read(storage, ALERTS, ALERTS_SCHEMA, columns=columns), ALERTS_SCHEMA)


def _columns(storage: Storage) -> list[str]:
    table = delta.open_table(storage, ALERTS)
    return [field.name for field in table.schema().fields] if table is not None else []


def upgrade_alerts_table(storage: Storage) -> bool:
    """Rewrite, once, an alerts table written before ``title_clean``: the column is taken from ``filings``.

    Every data file then has every column (engines that read the Parquet files directly, like
    ``filinglake query``, need that); table properties are kept. Returns whether it rewrote.
    """
    present = _columns(storage)
    if not present or "title_clean" in present:
        return False
    from deltalake import write_deltalake

    alerts = read_alerts(storage)
    keys = [[f, i] for f, i in zip(alerts["filing_id"].to_pylist(), alerts["issuer_id"].to_pylist(), strict=True)
            if i is not None]
    published = rows_for_keys(storage, keys)
    titles = {(f, i): t for f, i, t in zip(published["filing_id"].to_pylist(), published["issuer_id"].to_pylist(),
                                           published["title_clean"].to_pylist(), strict=True)}
    decoded = [titles.get(key) for key in zip(alerts["filing_id"].to_pylist(), alerts["issuer_id"].to_pylist(),
                                              strict=True)]
    upgraded = alerts.set_column(ALERTS_SCHEMA.get_field_index("title_clean"), ALERTS_SCHEMA.field("title_clean"),
                                 pa.array(decoded, pa.string()))
    write_deltalake(delta.open_table(storage, ALERTS), upgraded, mode="overwrite", schema_mode="overwrite",
                    writer_properties=delta.writer_properties())
    log.info("alerts: table rewritten with title_clean (%d alert(s))", alerts.num_rows)
    return True


def _mark_keys(source: str | None) -> tuple[str, str]:
    """The table properties holding the mark: one pair for all sources, or one pair per source."""
    suffix = f".{source}" if source else ""
    return EVALUATED_TABLE_ID + suffix, EVALUATED_VERSION + suffix


def evaluated_version(storage: Storage, source: str | None = None) -> int:
    """The last ``filings`` version whose changes were evaluated, for all sources or one (-1: none yet,
    or ``filings`` was recreated)."""
    filings, alerts = delta.open_table(storage, FILINGS), delta.open_table(storage, ALERTS)
    if filings is None or alerts is None:
        return -1
    marks = alerts.metadata().configuration
    table_key, version_key = _mark_keys(source)
    if marks.get(table_key) != filings.metadata().id or version_key not in marks:
        return -1
    return int(marks[version_key])


def _mark_evaluated(storage: Storage, filings_id: str, version: int, source: str | None = None) -> None:
    table = delta.ensure_table(storage, ALERTS, ALERTS_SCHEMA)
    table_key, version_key = _mark_keys(source)
    table.alter.set_table_properties({table_key: filings_id, version_key: str(version)}, raise_if_not_exists=False)


def _existing_ids(storage: Storage) -> set[str]:
    return set(delta.read(storage, ALERTS, ALERTS_SCHEMA, columns=["alert_id"])["alert_id"].to_pylist())


def _capture_all(storage: Storage, settings: Settings, candidates: list[dict], max_captures: int) -> None:
    """Capture each distinct document once; record the outcome on every alert that points at it."""
    from filinglake.alerts.documents import capture

    outcomes: dict[tuple[str, str], dict] = {}
    for alert in candidates:
        url, source = alert.get("document_url"), alert.get("source") or ""
        if not url:
            alert["document_error"] = "no document_url on the filing"
            continue
        if (source, url) not in outcomes:
            if len(outcomes) >= max_captures:
                outcomes[(source, url)] = {"error": f"not captured: more than {max_captures} documents in one run"}
            else:
                try:
                    outcomes[(source, url)] = capture(storage, settings, url, source)
                except Exception as exc:  # noqa: BLE001 - a document must never fail the publish
                    if not isinstance(exc, FilinglakeError | ValueError):
                        log.exception("capturing %s failed unexpectedly", url)
                    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    # the alert row carries document_url already: keep the reason short
                    message = message.replace(f"{url!r}: ", "").replace(f"{url}: ", "")
                    outcomes[(source, url)] = {"error": f"{type(exc).__name__}: {message}"}
        outcome = outcomes[(source, url)]
        if "error" in outcome:
            alert["document_error"] = outcome["error"]
        else:
            alert["document_key"] = outcome["key"]
            alert["document_sha256"] = outcome["sha256"]
            alert["document_bytes"] = outcome["size"]
            alert["document_content_type"] = outcome["content_type"]


def record_alerts(
    storage: Storage,
    settings: Settings,
    watchlist: Watchlist | None = None,
    *,
    rows: pa.Table | None = None,
    source: str | None = None,
    capture_documents: bool = True,
    max_captures: int = DEFAULT_MAX_CAPTURES,
    now: datetime | None = None,
) -> list[dict]:
    """Evaluate ``watchlist`` on every ``filings`` change not evaluated yet; record new alerts, return only those.

    The changes are those of the ``filings`` versions after :func:`evaluated_version` (every row the
    first time); the mark moves to the version evaluated once its alerts are recorded. ``rows``
    (published-shape filings) evaluates exactly those rows instead and leaves the mark alone (tools,
    tests). ``source`` evaluates that source's rows only, with a mark of its own (the publish DAG runs
    one alerts task per source, each in its host's pool). ``watchlist`` defaults to ``settings.watchlist``.

    An alert already in ``published/alerts`` is never inserted again (the merge inserts on
    ``alert_id`` only), so a rerun returns ``[]``. Concurrent publishes are expected to be serialised
    (the publish DAG runs one at a time); the merge still never duplicates an alert if they are not.
    """
    if watchlist is None:
        watchlist = load_watchlist(settings.watchlist)
    upgrade_alerts_table(storage)
    options = {"capture_documents": capture_documents, "max_captures": max_captures, "now": now}
    if rows is not None:
        return _record(storage, settings, watchlist, rows, **options)
    filings = delta.open_table(storage, FILINGS)
    if filings is None:
        return []
    up_to, after = filings.version(), evaluated_version(storage, source)
    if after >= up_to:
        return []
    changed = changed_rows(storage, after, up_to)
    if source is not None:
        import pyarrow.compute as pc

        changed = changed.filter(pc.equal(changed["source"], source))
    log.info("alerts%s: evaluating %d row(s) changed between filings v%d and v%d",
             f" ({source})" if source else "", changed.num_rows, after, up_to)
    new = _record(storage, settings, watchlist, changed, **options)
    _mark_evaluated(storage, filings.metadata().id, up_to, source)
    return new


def _record(
    storage: Storage,
    settings: Settings,
    watchlist: Watchlist,
    rows: pa.Table,
    *,
    capture_documents: bool,
    max_captures: int,
    now: datetime | None,
) -> list[dict]:
    """Match ``rows``, capture the documents of the new alerts and insert them; the new alerts as JSON."""
    matched = match_watchlist(rows, watchlist)
    if matched.num_rows == 0:
        return []
    new = _new_alerts(storage, matched, now)
    if not new:
        log.info("alerts: %d match(es), all alerted before", matched.num_rows)
        return []
    if capture_documents:
        _capture_all(storage, settings, new, max_captures)
    else:
        for alert in new:
            alert["document_error"] = "document capture disabled"
    _insert(storage, new)
    log.info("alerts: %d new alert(s) (%d match(es) in %d row(s))", len(new), matched.num_rows, rows.num_rows)
    return [alert_json(a) for a in new]


def _new_alerts(storage: Storage, matched: pa.Table, now: datetime | None) -> list[dict]:
    """Alert rows for the matches not alerted before, each (entry, filing_id, issuer_id) once."""
    existing = _existing_ids(storage)
    alerted_at = (now or datetime.now(UTC)).astimezone(UTC)
    candidates: dict[str, dict] = {}
    for row in matched.to_pylist():
        aid = alert_id(row["entry_id"], row["filing_id"], row["issuer_id"])
        if aid in existing or aid in candidates:
            continue
        candidates[aid] = {
            "alert_id": aid,
            **row,
            "alerted_at": alerted_at,
            "document_key": None,
            "document_sha256": None,
            "document_bytes": None,
            "document_content_type": None,
            "document_error": None,
        }
    return list(candidates.values())


def _insert(storage: Storage, new: list[dict]) -> None:
    """Insert-only merge on ``alert_id``: an alert already in the table is never touched."""
    batch = pa.Table.from_pylist(new, schema=ALERTS_SCHEMA)
    table = delta.ensure_table(storage, ALERTS, ALERTS_SCHEMA)
    metrics = (
        table.merge(batch, predicate="t.alert_id = s.alert_id", source_alias="s", target_alias="t",
                    writer_properties=delta.writer_properties())
        .when_not_matched_insert_all()
        .execute()
    )
    inserted = int(metrics.get("num_target_rows_inserted", len(new)))
    if inserted != len(new):
        # Another run inserted some of them between our read and our merge. The table still holds each
        # alert once; which run notifies is not knowable from here, so both may.
        log.warning("alerts: %d of %d new alerts were inserted concurrently by another run", len(new) - inserted,
                    len(new))
