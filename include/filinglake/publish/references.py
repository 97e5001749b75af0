"""Issuer cross-references from the lists sources publish (SEC: CIK ↔ tickers; CNINFO: stock code ↔ orgId;
HKEX: stock code ↔ stockId and English short name, and the Chinese short name from its companion list).

Which list a source has, how it is parsed and what it says about each issuer is declared on the source
(``Source.reference_archive``, ``Source.reference_rows``, ``Source.reference_url``); this module iterates
the registry. The lists are archived in the raw layer like any other raw file, so the issuers table is
rebuilt from stored bytes and never from the network:

- a source with a ``reference_url`` (SEC's ``company_tickers.json``, HKEXnews' stock list) has it fetched by
  :func:`fetch_reference_list` at most once per UTC day into ``raw/source=<archive>/partition=<day>/``, with
  its ``reference_companion`` (HKEXnews' Chinese stock list) beside it;
- others archive theirs while ingesting (CNINFO's stock list: :mod:`filinglake.sources.cninfo_stocks`).

The loaders read the most recent archived copy; with none, the issuers table simply has no
cross-reference for that source.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.errors import BadResponse
from filinglake.sources import all_sources, get_source
from filinglake.sources.sec_edgar import (  # noqa: F401 - still importable from here (tests/test_publish.py)
    SEC_TICKERS_NAME,
    SEC_TICKERS_SOURCE,
    company_tickers_url,
    parse_company_tickers,
)
from filinglake.sources.sec_edgar import SOURCE as SEC_EDGAR
from filinglake.storage import RAW_LAYER, RawRef, safe_name

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.sources import Source
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.references")

#: one row per (source, issuer_id) with what the reference lists say about it
REFERENCE_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("issuer_id", pa.string()),
    ("ticker", pa.string()),  # the main one
    ("tickers", pa.list_(pa.string())),
    ("stock_code", pa.string()),
    ("reference_name", pa.string()),
])


def fetch_reference_list(
    storage: Storage,
    settings: Settings,
    source: Source,
    *,
    client: PoliteClient | None = None,
    today: date | None = None,
) -> RawRef:
    """Archive today's reference list of ``source`` (once per UTC day; later calls reuse the archived copy).

    The returned reference has ``new=True`` only when the list differs from the latest copy archived
    before (so the issuers table needs a rebuild), not merely because a new day was fetched.

    A source with a companion list (``Source.reference_companion``: HKEXnews' Chinese stock list) has it
    archived the same way right after, under the same archive source and day. Its failure (HTTP, a list
    refused by its rules) is a warning only: the reference list stays archived, and the securities keep the
    names of the last companion archived before.
    """
    from filinglake.errors import FilinglakeError
    from filinglake.sources import make_client

    url = source.reference_url(settings)
    if source.reference_archive is None or url is None:
        raise ValueError(f"{source.name} publishes no reference list to fetch")
    archive, name = source.reference_archive
    day = (today or datetime.now(UTC).date()).isoformat()
    own_client = client is None
    clients: list[PoliteClient] = [client] if client is not None else []

    def get(target: str) -> httpx.Response:
        if not clients:
            clients.append(make_client(source, settings))
        return clients[0].get(target)

    try:
        ref = _archive_once_a_day(storage, get, archive, day, name, url, source.reference_rows)
        companion_url = source.reference_companion_url(settings)
        if source.reference_companion is not None and companion_url is not None:
            try:
                _archive_once_a_day(storage, get, archive, day, source.reference_companion, companion_url,
                                    source.reference_companion_securities)
            except FilinglakeError as exc:
                log.warning("%s not archived (the securities keep the last archived copy's names): %s",
                            source.reference_companion, str(exc).splitlines()[0])
    finally:
        if own_client and clients:
            clients[0].close()
    return ref


def _archive_once_a_day(storage: Storage, get: Callable[[str], httpx.Response], archive: str, day: str, name: str,
                        url: str, check: Callable[[bytes, str], list]) -> RawRef:
    """Fetch ``url`` and archive it as ``name`` of ``day`` unless that day has it; ``check`` (a source's
    parser, raising BadResponse) validates the bytes before they are archived."""
    existing = latest_archived(storage, archive, name, partition=day)
    if existing is not None:
        return storage.raw_ref(existing)
    previous = latest_archived(storage, archive, name)
    previous_sha = storage.raw_ref(previous).sha256 if previous else None
    response = get(url)
    if response.status_code != 200:
        raise BadResponse(f"{url}: HTTP {response.status_code} where {name} was expected")
    entries = check(response.content, name)  # validate before archiving
    ref = storage.archive_raw(archive, day, name, response.content, url, response.headers.get("content-type"))
    log.info("%s archived at %s (%d entries)", name, ref.key, len(entries))
    return replace(ref, new=ref.sha256 != previous_sha)


def fetch_reference_lists(storage: Storage, settings: Settings,
                          errors: dict[str, str] | None = None) -> dict[str, RawRef]:
    """:func:`fetch_reference_list` for every source that publishes one; source name → archived copy.

    With ``errors``, a source whose list cannot be fetched (or is refused) is recorded there (name →
    reason) and the others are still fetched; without it, the first failure is raised.
    """
    from filinglake.errors import FilinglakeError

    refs: dict[str, RawRef] = {}
    for source in all_sources():
        if source.reference_url(settings) is None:
            continue
        try:
            refs[source.name] = fetch_reference_list(storage, settings, source)
        except (FilinglakeError, ValueError) as exc:  # ConfigError is a ValueError (no SEC user agent)
            if errors is None:
                raise
            errors[source.name] = str(exc).splitlines()[0]
            log.warning("%s reference list not refreshed: %s", source.name, errors[source.name])
    return refs


def fetch_sec_company_tickers(
    storage: Storage,
    settings: Settings,
    *,
    client: PoliteClient | None = None,
    today: date | None = None,
) -> RawRef:
    """SEC's company_tickers.json through :func:`fetch_reference_list` (the name publish callers use)."""
    return fetch_reference_list(storage, settings, get_source(SEC_EDGAR), client=client, today=today)


def source_reference(storage: Storage, source: Source) -> pa.Table:
    """What the latest archived reference list of ``source`` says, one row per issuer (empty without one)."""
    if source.reference_archive is None:
        return REFERENCE_SCHEMA.empty_table()
    archive, name = source.reference_archive
    key = latest_archived(storage, archive, name)
    if key is None:
        return REFERENCE_SCHEMA.empty_table()
    return pa.Table.from_pylist(
        [
            {"source": source.name, "issuer_id": row.issuer_id, "ticker": row.ticker, "tickers": list(row.tickers),
             "stock_code": row.stock_code, "reference_name": row.reference_name}
            for row in source.reference_rows(storage.get_bytes(key), key)
        ],
        schema=REFERENCE_SCHEMA,
    )


def issuer_references(storage: Storage, sources: list[str] | None = None) -> pa.Table:
    """Cross-references for ``sources`` (all known when None), one row per (source, issuer_id)."""
    tables = [source_reference(storage, source) for source in all_sources()
              if source.reference_archive is not None and (sources is None or source.name in sources)]
    return pa.concat_tables(tables) if tables else REFERENCE_SCHEMA.empty_table()


# ------------------------------------------------------------------------------------------------
# The raw archive
# ------------------------------------------------------------------------------------------------


def latest_archived(storage: Storage, source: str, name: str, partition: str | None = None) -> str | None:
    """Key of the most recently fetched archived ``name`` of ``source`` (in ``partition`` if given)."""
    prefix = f"{RAW_LAYER}/source={safe_name(source)}"
    if partition is not None:
        prefix += f"/partition={safe_name(partition)}"
    suffix = f"-{safe_name(name)}"
    keys = [k for k in storage.list(prefix) if k.endswith(suffix)]
    best: tuple[str, str, str] | None = None
    for key in keys:
        if not storage.exists(f"{key}.meta.json"):
            continue  # a raw object without its meta is an interrupted archive
        partition_of = key.split("/partition=", 1)[1].split("/", 1)[0]
        candidate = (partition_of, storage.raw_ref(key).fetched_at, key)
        best = max(best, candidate) if best else candidate
    return best[2] if best else None
