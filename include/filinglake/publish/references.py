"""Issuer cross-references: SEC CIK ↔ ticker(s), CNINFO stock code ↔ orgId.

Both come from lists the sources publish, archived in the raw layer like any other raw file, so the
issuers table is rebuilt from stored bytes and never from the network:

- SEC's ``https://www.sec.gov/files/company_tickers.json`` (a dict ``{"0": {"cik_str", "ticker",
  "title"}, …}``, one line, ranked so a CIK's first ticker is its main listing), fetched by
  :func:`fetch_sec_company_tickers` at most once per UTC day into
  ``raw/source=sec_company_tickers/partition=<day>/``;
- CNINFO's stock list ``szse_stock.json`` (code → orgId), which the CNINFO source archives under
  ``raw/source=cninfo_stocks/partition=<Beijing day>/`` (:mod:`filinglake.sources.cninfo_stocks`).

The loaders read the most recent archived copy; with none, the issuers table simply has no
cross-reference for that source.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.errors import BadResponse
from filinglake.storage import RAW_LAYER, RawRef, safe_name

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.references")

SEC_COMPANY_TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
SEC_TICKERS_SOURCE = "sec_company_tickers"
SEC_TICKERS_NAME = "company_tickers.json"
CNINFO_STOCKS_SOURCE = "cninfo_stocks"  # as archived by filinglake.sources.cninfo_stocks

#: one row per (source, issuer_id) with what the reference lists say about it
REFERENCE_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("issuer_id", pa.string()),
    ("ticker", pa.string()),  # the main one
    ("tickers", pa.list_(pa.string())),
    ("stock_code", pa.string()),
    ("reference_name", pa.string()),
])


# ------------------------------------------------------------------------------------------------
# SEC company_tickers.json
# ------------------------------------------------------------------------------------------------


def company_tickers_url(settings: Settings) -> str:
    """Where company_tickers.json is, next to the configured EDGAR archive (a replay server in tests)."""
    base = settings.sec_base_url.rstrip("/")
    if base.endswith("/Archives/edgar"):
        return base.removesuffix("/Archives/edgar") + "/files/company_tickers.json"
    return SEC_COMPANY_TICKERS_URL


def parse_company_tickers(data: bytes, name: str = SEC_TICKERS_NAME) -> pa.Table:
    """company_tickers.json → (cik, ticker, title, rank); :class:`BadResponse` for any other shape."""
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadResponse(f"{name}: not JSON ({exc})") from None
    if not isinstance(payload, dict) or not payload:
        raise BadResponse(f"{name}: expected a non-empty object keyed '0', '1', …, got {type(payload).__name__}")
    ciks, tickers, titles, ranks = [], [], [], []
    for key, row in payload.items():
        if not (isinstance(row, dict) and isinstance(row.get("cik_str"), int | str) and row.get("ticker")):
            raise BadResponse(f"{name}: entry {key!r} lacks cik_str/ticker: {str(row)[:120]}")
        try:
            rank = int(key)
            cik = int(row["cik_str"])
        except (TypeError, ValueError):
            raise BadResponse(f"{name}: entry {key!r} has a non-numeric key or CIK") from None
        ciks.append(str(cik))  # unpadded, like issuer_id
        tickers.append(str(row["ticker"]).strip())
        titles.append(row.get("title"))
        ranks.append(rank)
    return pa.table({
        "cik": pa.array(ciks, pa.string()),
        "ticker": pa.array(tickers, pa.string()),
        "title": pa.array(titles, pa.string()),
        "rank": pa.array(ranks, pa.int64()),
    })


def fetch_sec_company_tickers(
    storage: Storage,
    settings: Settings,
    *,
    client: PoliteClient | None = None,
    today: date | None = None,
) -> RawRef:
    """Archive today's company_tickers.json (once per UTC day; later calls reuse the archived copy).

    The returned reference has ``new=True`` only when the list differs from the latest copy archived
    before (so the issuers table needs a rebuild), not merely because a new day was fetched.
    """
    from filinglake.http import make_client

    day = (today or datetime.now(UTC).date()).isoformat()
    existing = latest_archived(storage, SEC_TICKERS_SOURCE, SEC_TICKERS_NAME, partition=day)
    if existing is not None:
        return storage.raw_ref(existing)
    previous = latest_archived(storage, SEC_TICKERS_SOURCE, SEC_TICKERS_NAME)
    previous_sha = storage.raw_ref(previous).sha256 if previous else None
    url = company_tickers_url(settings)
    own_client = client is None
    client = client or make_client("sec_edgar", settings)
    try:
        response = client.get(url)
    finally:
        if own_client:
            client.close()
    if response.status_code != 200:
        raise BadResponse(f"{url}: HTTP {response.status_code} where company_tickers.json was expected")
    table = parse_company_tickers(response.content)  # validate before archiving
    ref = storage.archive_raw(SEC_TICKERS_SOURCE, day, SEC_TICKERS_NAME, response.content, url,
                              response.headers.get("content-type"))
    log.info("company_tickers.json archived at %s (%d tickers)", ref.key, table.num_rows)
    return replace(ref, new=ref.sha256 != previous_sha)


def sec_ticker_reference(storage: Storage) -> pa.Table:
    """CIK → tickers from the latest archived company_tickers.json (empty without one)."""
    key = latest_archived(storage, SEC_TICKERS_SOURCE, SEC_TICKERS_NAME)
    if key is None:
        return REFERENCE_SCHEMA.empty_table()
    rows = parse_company_tickers(storage.get_bytes(key), key).to_pylist()
    by_cik: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["rank"]):  # rank order: a CIK's first ticker is its main one
        entry = by_cik.setdefault(row["cik"], {"tickers": [], "title": row["title"]})
        if row["ticker"] not in entry["tickers"]:
            entry["tickers"].append(row["ticker"])
    return pa.Table.from_pylist(
        [
            {"source": "sec_edgar", "issuer_id": cik, "ticker": e["tickers"][0], "tickers": e["tickers"],
             "stock_code": None, "reference_name": e["title"]}
            for cik, e in sorted(by_cik.items())
        ],
        schema=REFERENCE_SCHEMA,
    )


# ------------------------------------------------------------------------------------------------
# CNINFO stock list
# ------------------------------------------------------------------------------------------------


def cninfo_stock_reference(storage: Storage) -> pa.Table:
    """orgId → stock code and ticker from the latest archived CNINFO stock list (empty without one)."""
    from filinglake.sources.cninfo import exchange_of, ticker_of
    from filinglake.sources.cninfo_stocks import STOCK_LIST_NAME, parse_stock_list

    key = latest_archived(storage, CNINFO_STOCKS_SOURCE, STOCK_LIST_NAME)
    if key is None:
        return REFERENCE_SCHEMA.empty_table()
    by_org: dict[str, dict] = {}
    for stock in parse_stock_list(storage.get_bytes(key), key):
        ticker = ticker_of(stock.code, exchange_of(stock.code, stock.org_id))
        by_org.setdefault(stock.org_id, {
            "source": "cninfo", "issuer_id": stock.org_id, "ticker": ticker,
            "tickers": [ticker] if ticker else [], "stock_code": stock.code, "reference_name": stock.name,
        })
    return pa.Table.from_pylist([by_org[k] for k in sorted(by_org)], schema=REFERENCE_SCHEMA)


def issuer_references(storage: Storage, sources: list[str] | None = None) -> pa.Table:
    """Cross-references for ``sources`` (all known when None), one row per (source, issuer_id)."""
    loaders = {"sec_edgar": sec_ticker_reference, "cninfo": cninfo_stock_reference}
    tables = [loader(storage) for source, loader in loaders.items() if sources is None or source in sources]
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
