"""CNINFO's stock list (``/new/data/szse_stock.json``): stock code → orgId, kept as daily reference data.

Per-issuer queries need ``stock="<code>,<orgId>"`` and a wrong orgId is not an error at CNINFO: it
silently answers ``totalAnnouncement=0`` (notes/sources.md §2.6). orgIds cannot be guessed from the
code (601318 → ``9900002221``; 3,355 of 4,763 codes in the 2021 list break the ``gssz0``+code
pattern), so codes are resolved through the list CNINFO publishes.

The list is reference data, not filings: it is archived in the raw layer under its own source name
(``raw/source=cninfo_stocks/partition=<Beijing day>/…``) and fetched at most once per Beijing day;
later callers that day reuse the archived copy. This is the one place a source module touches
storage, because "fetch once a day" needs a memory that outlives the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from filinglake.errors import BadResponse, InputError
from filinglake.sources.json_decoding import load_json

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.sources.cninfo_stocks")

STOCKS_SOURCE = "cninfo_stocks"
STOCK_LIST_PATH = "/new/data/szse_stock.json"
STOCK_LIST_NAME = "szse_stock.json"
BEIJING = ZoneInfo("Asia/Shanghai")
#: Every real list has A shares; a list without the category "A股" was decoded with the wrong charset.
A_SHARE = "A股"
_REQUIRED_KEYS = ("orgId", "code")
_TEXT_KEYS = ("category", "zwjc", "pinyin")  # optional, but text when present


class UnknownStock(InputError):
    """A stock code that is not in CNINFO's stock list (a typo, or not an A/B share listed on SZ/SH/BJ)."""


@dataclass(frozen=True)
class Stock:
    """One row of the stock list."""

    code: str
    org_id: str
    category: str | None = None  # A股, B股, CDR
    name: str | None = None  # zwjc: short Chinese name
    pinyin: str | None = None

    @property
    def stock_param(self) -> str:
        """The ``stock`` form value of a hisAnnouncement query: ``"<code>,<orgId>"``."""
        return f"{self.code},{self.org_id}"


@dataclass(frozen=True)
class StockDirectory:
    """The stock list of one day, indexed by code."""

    stocks: dict[str, Stock]
    as_of: str  # the Beijing day it was fetched (its raw partition)
    raw_key: str | None = None  # where the list is archived (None when built in memory)

    def __len__(self) -> int:
        return len(self.stocks)

    def __contains__(self, code: object) -> bool:
        return code in self.stocks

    def resolve(self, code: str) -> Stock:
        """The stock for a 6-digit code; :class:`UnknownStock` with a clear message otherwise."""
        wanted = code.strip()
        stock = self.stocks.get(wanted)
        if stock is None:
            raise UnknownStock(
                f"stock code {wanted!r} is not in CNINFO's stock list of {self.as_of} "
                f"({len(self.stocks):,} codes): check the code (6 digits, e.g. 002236)"
            )
        return stock


def parse_stock_list(data: bytes, name: str = STOCK_LIST_NAME) -> list[Stock]:
    """The bytes of ``szse_stock.json`` → stocks; :class:`BadResponse` for anything that is not the list.

    Rejected: HTML (a challenge page served with status 200), JSON of another shape, and mojibake
    (UTF-8 decoded as GBK and re-encoded: ``A股`` becomes ``A鑲�``), which would poison names.
    """
    from filinglake.http import looks_like_html

    if looks_like_html(data):
        raise BadResponse(f"{name}: got an HTML page where CNINFO's stock list (JSON) was expected")
    payload = load_json(data, name)
    rows = payload.get("stockList") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise BadResponse(f"{name}: expected {{'stockList': [...]}}, got {type(payload).__name__}"
                          f"{' with keys ' + str(sorted(payload)[:5]) if isinstance(payload, dict) else ''}")
    if not rows:
        raise BadResponse(f"{name}: the stock list is empty")
    stocks: list[Stock] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k].strip() for k in _REQUIRED_KEYS):
            raise BadResponse(f"{name}: row {i} lacks code/orgId: {str(row)[:120]}")
        wrong = [k for k in _TEXT_KEYS if row.get(k) is not None and not isinstance(row[k], str)]
        if wrong:
            raise BadResponse(f"{name}: row {i} has {', '.join(wrong)} that is not text: {str(row)[:120]}")
        stocks.append(Stock(code=row["code"].strip(), org_id=row["orgId"].strip(), category=row.get("category"),
                            name=row.get("zwjc"), pinyin=row.get("pinyin")))
    _reject_mojibake(stocks, name)
    return stocks


def _reject_mojibake(stocks: list[Stock], name: str) -> None:
    text_fields = [s.category or "" for s in stocks] + [s.name or "" for s in stocks]
    if any("\ufffd" in t for t in text_fields):
        raise BadResponse(f"{name}: the stock list contains U+FFFD replacement characters: "
                          "its Chinese text was decoded with the wrong charset (mojibake)")
    if not any(s.category == A_SHARE for s in stocks):
        seen = sorted({s.category or "" for s in stocks})[:5]
        raise BadResponse(f"{name}: no row has category {A_SHARE!r} (saw {seen}): "
                          "wrong charset (mojibake) or not CNINFO's A-share list")


def directory_from_bytes(data: bytes, as_of: str, raw_key: str | None = None) -> StockDirectory:
    stocks = parse_stock_list(data)
    by_code: dict[str, Stock] = {}
    for stock in stocks:
        by_code.setdefault(stock.code, stock)  # codes are unique in every real list; keep the first
    return StockDirectory(by_code, as_of, raw_key)


def beijing_today(now: datetime | None = None) -> date:
    return (now or datetime.now(BEIJING)).astimezone(BEIJING).date()


def archived_list_key(storage: Storage, day: date) -> str | None:
    """Key of a stock list archived for ``day`` (the most recently fetched one), or None."""
    from filinglake.storage import RAW_LAYER, partition_prefix

    keys = [k for k in storage.list(partition_prefix(RAW_LAYER, STOCKS_SOURCE, day.isoformat()))
            if not k.endswith(".meta.json") and storage.exists(f"{k}.meta.json")]
    if not keys:
        return None
    return max(keys, key=lambda k: storage.raw_ref(k).fetched_at)


def stock_directory(
    client: PoliteClient,
    settings: Settings,
    *,
    today: date | None = None,
    storage: Storage | None = None,
) -> StockDirectory:
    """Today's (Beijing) stock list: the archived copy when there is one, else fetched once and archived."""
    from filinglake.sources import source_settings
    from filinglake.storage import Storage

    storage = storage or Storage.from_settings(settings)
    day = today or beijing_today()
    key = archived_list_key(storage, day)
    if key is not None:
        log.info("cninfo: reusing the stock list archived for %s (%s)", day, key)
        return directory_from_bytes(storage.get_bytes(key), day.isoformat(), key)
    url = f"{source_settings('cninfo', settings).base_url}{STOCK_LIST_PATH}"  # the list sits on the API host
    response = client.get(url)
    if response.status_code != 200:
        raise BadResponse(f"{url}: HTTP {response.status_code} where CNINFO's stock list was expected")
    directory = directory_from_bytes(response.content, day.isoformat())  # validate before archiving
    ref = storage.archive_raw(STOCKS_SOURCE, day.isoformat(), STOCK_LIST_NAME, response.content, url,
                              response.headers.get("content-type"))
    log.info("cninfo: stock list for %s archived at %s (%d codes)", day, ref.key, len(directory))
    return StockDirectory(directory.stocks, directory.as_of, ref.key)
