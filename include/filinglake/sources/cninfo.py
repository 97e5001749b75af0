"""CNINFO (巨潮资讯网) announcements for Shenzhen, Shanghai and Beijing A shares → unified rows.

One endpoint, ``POST /new/hisAnnouncement/query`` (form-encoded, 30 rows a page; notes/sources.md §2).

Partitions
    ``YYYY-MM-DD``: one Beijing calendar day, market-wide (``column=szse`` covers SZ, SH and BJ).
    ``stock-<code>_<from>_<to>``: one issuer over a date range (per-issuer backfill), e.g.
    ``stock-002236_2020-01-01_2024-12-31``: the one spelling typed (DAG param, ``--partition``), shown
    (logs, manifests, status page) and stored; the orgId the query needs comes from CNINFO's stock
    list (:mod:`filinglake.sources.cninfo_stocks`). The older ``stock=002236:2020-01-01..2024-12-31``
    is still accepted (saved triggers and scripts use it) and read as the same partition.
    Every fetch also keeps the day's snapshot of the stock list (fetched at most once per Beijing day;
    best effort for daily partitions, required for per-issuer ones).

Completeness
    CNINFO stops paging at about 100 pages (3,000 rows) and then silently repeats data. A query whose
    ``totalAnnouncement`` exceeds the cap is split: a date range into halves, a day into plates
    (sz, sh, bj), a plate into the ``category_*`` codes. For every query part the distinct
    announcements collected must equal ``totalAnnouncement`` and the parts of a split must add up to
    their parent, else :class:`~filinglake.errors.IncompleteFetch`: a partial day is never landed.

Row mapping (decisions)
    - ``native_id`` = announcementId, ``issuer_id`` = orgId, ``filing_id`` = ``cninfo:<announcementId>``.
    - ``exchange`` and ticker suffix come from the 6-digit code; the orgId prefix (gssz/gssh/gsbj) is
      only a fallback, because orgIds record history, not venue (269 SZ/SH codes have ``gfbj`` orgIds
      from their NEEQ days; 601607 has ``gssh0600849``).
    - ``company_name`` = secName, null in old rows (6 of 8 fixture rows): not required for CNINFO.
    - ``form_type`` = announcementType as filed (CNINFO's internal codes, e.g. ``01010503||010113``),
      null in old rows. The ``category_*`` codes are query filters, not row attributes: a row only
      "has" a category when its day happened to be split by category, so using them would make the
      same announcement's form_type depend on how busy its day was. Published rows name each code in
      ``categories`` (:mod:`filinglake.sources.cninfo_types`, where each name's source is recorded).
    - ``filed_at`` = announcementTime (epoch ms) as UTC. Modern rows carry local midnight (a date, not
      a time); 2001–02 rows carry real clock times. ``filing_date`` is its Asia/Shanghai date.
    - ``document_url`` = the static host + adjunctUrl (``parse`` has no settings: the canonical public
      host is used, and the rules check it). A path with ``.``/``..`` segments is left unjoined and an
      absolute URL is kept verbatim, so both fail the host rule and are quarantined, never followed.
      ``.html`` adjuncts (4 of 8 fixture rows) live in the same ``finalpage/`` tree as the PDFs.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from filinglake.errors import BadResponse, Blocked, IncompleteFetch
from filinglake.freshness import ALL_DAYS, LandingSchedule
from filinglake.http import BROWSER_USER_AGENT
from filinglake.sources.base import (
    FetchResult,
    IssuerReference,
    NameKind,
    Partition,
    RawFile,
    SecurityReference,
    Source,
    SourceSetting,
    root_setting,
)
from filinglake.sources.cninfo_stocks import STOCK_LIST_NAME, STOCKS_SOURCE
from filinglake.sources.json_decoding import load_json

if TYPE_CHECKING:
    import pyarrow as pa

    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.ingest import row_checks as quality
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.sources.cninfo")

SOURCE = "cninfo"
QUERY_PATH = "/new/hisAnnouncement/query"
BEIJING = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(1990, 1, 1)  # SZSE and SSE opened in December 1990
PAGE_SIZE = 30  # the server's own maximum
MAX_PAGES = 100  # CNINFO repeats data past about page 100: split the query before that

STATIC_URL = "https://static.cninfo.com.cn"  # canonical public document host
DEFAULT_BASE_URL = "https://www.cninfo.com.cn"  # the API root
STATIC_HOST = "static.cninfo.com.cn"
WWW_HOST = "www.cninfo.com.cn"
#: absolute http(s) on a CNINFO host; every path segment starts with a safe non-dot character, so
#: ``.``/``..`` segments, percent-encoding tricks and foreign hosts all fail.
DOCUMENT_URL_PATTERN = (
    r"^https?://(static\.cninfo\.com\.cn|www\.cninfo\.com\.cn)(/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)+"
    r"(\?[A-Za-z0-9_=&.~-]*)?$"
)
ANNOUNCEMENT_ID_PATTERN = r"^\d{1,20}$"
TICKER_PATTERN = r"^\d{6}\.(SZ|SS|BJ)$"
EXCHANGES = ("SZSE", "SSE", "BSE")
#: CNINFO serves its JSON to browser-like XHR requests from its own pages
REQUEST_HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Accept": "application/json, text/javascript, */*; q=0.01",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
    "X-Requested-With": "XMLHttpRequest",
    "Origin": "https://www.cninfo.com.cn",
    "Referer": "https://www.cninfo.com.cn/new/commonUrl?url=disclosure/list/notice",
}

#: plates of ``column=szse``: Shenzhen, Shanghai, Beijing
PLATES = ("sz", "sh", "bj")
#: CNINFO's ``category_*`` codes (history-notice.js; notes/sources.md §2.2)
CATEGORIES = (
    "category_ndbg_szsh", "category_bndbg_szsh", "category_yjdbg_szsh", "category_sjdbg_szsh",
    "category_yjygjxz_szsh", "category_qyfpxzcs_szsh", "category_dshgg_szsh", "category_jshgg_szsh",
    "category_gddh_szsh", "category_rcjy_szsh", "category_gszl_szsh", "category_zj_szsh",
    "category_tbclts_szsh", "category_sf_szsh", "category_zf_szsh", "category_gqjl_szsh",
    "category_pg_szsh", "category_jj_szsh", "category_gszq_szsh", "category_kzzq_szsh",
    "category_qtrz_szsh", "category_gqbd_szsh", "category_bcgz_szsh", "category_cqdq_szsh",
    "category_fxts_szsh", "category_tszlq_szsh",
)

# Code prefix → venue (A, B shares and CDRs); BSE codes are 43/83/87/88 and, since 2024, 92.
_SZSE_PREFIXES = ("000", "001", "002", "003", "300", "301", "200", "201")
_SSE_PREFIXES = ("600", "601", "603", "605", "688", "689", "900")
_BSE_PREFIXES = ("43", "83", "87", "88", "92")
_ORG_PREFIX_EXCHANGE = {"gssz": "SZSE", "gssh": "SSE", "gsbj": "BSE"}
_SUFFIX = {"SZSE": "SZ", "SSE": "SS", "BSE": "BJ"}

_STOCK_PARTITION = re.compile(
    r"^stock[-=:](?P<code>\d{6})[_:](?P<start>\d{4}-\d{2}-\d{2})(?:_|\.\.)(?P<end>\d{4}-\d{2}-\d{2})$"
)
#: how long to stay away after a challenge page (CNINFO's circuit breaker, 熔断)
CHALLENGE_BACKOFF_SECONDS = 600.0
_EM_TAG = re.compile(r"</?em\s*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


# ------------------------------------------------------------------------------------------------
# Row-level helpers
# ------------------------------------------------------------------------------------------------


def exchange_of(code: str | None, org_id: str | None = None) -> str | None:
    """SZSE / SSE / BSE from the 6-digit code, falling back to a gssz/gssh/gsbj orgId; None if unknown."""
    if code and re.fullmatch(r"\d{6}", code):
        if code.startswith(_SZSE_PREFIXES):
            return "SZSE"
        if code.startswith(_SSE_PREFIXES):
            return "SSE"
        if code.startswith(_BSE_PREFIXES):
            return "BSE"
    if org_id:
        return _ORG_PREFIX_EXCHANGE.get(org_id[:4].lower())
    return None


def ticker_of(code: str | None, exchange: str | None) -> str | None:
    """``002236.SZ``, ``600519.SS``, ``430047.BJ``; None without a 6-digit code and a venue."""
    if not code or not exchange or not re.fullmatch(r"\d{6}", code):
        return None
    return f"{code}.{_SUFFIX[exchange]}"


def clean_title(title: str | None) -> str | None:
    """The title without ``<em>`` highlight tags and HTML entities, whitespace collapsed."""
    if title is None:
        return None
    text = html.unescape(_EM_TAG.sub("", title))
    return _WHITESPACE.sub(" ", text).strip()


def document_url(adjunct_url: str | None, static_url: str = STATIC_URL) -> str | None:
    """Absolute document URL on the static host; unsafe input is returned so that the host rule rejects it.

    Relative paths are joined to ``static_url`` only when no segment is empty, ``.`` or ``..``.
    Absolute URLs are kept verbatim: on a CNINFO host they pass, anywhere else they are quarantined.
    """
    if adjunct_url is None or not str(adjunct_url).strip():
        return None
    value = str(adjunct_url).strip()
    if "://" in value or value.startswith("//"):
        return value
    path = value.lstrip("/")
    if any(segment in ("", ".", "..") for segment in path.replace("\\", "/").split("/")):
        return value  # never joined: not absolute, fails document_url_on_cninfo
    return f"{static_url}/{path}"


def _epoch_ms(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


# ------------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------------


class ChallengePage(Blocked, BadResponse):
    """CNINFO answered HTML (a challenge or circuit-breaker page) with status 200 where JSON was expected.

    Both kinds at once: a :class:`BadResponse` (not data, never archived or parsed) and a
    :class:`Blocked` (the host is shedding us; trying again later can succeed).
    """

    def __init__(self, message: str, retry_after: float = CHALLENGE_BACKOFF_SECONDS):
        super().__init__(message, retry_after)


def decode_query_page(data: bytes, name: str = "") -> dict:
    """One hisAnnouncement/query response → its JSON object, or :class:`BadResponse`.

    ``announcements: null`` (CNINFO's "nothing matched") comes back as an empty list.
    """
    from filinglake.http import looks_like_html

    what = name or "CNINFO response"
    if looks_like_html(data):
        title = re.search(rb"<title>(.*?)</title>", data[:8192], re.IGNORECASE | re.DOTALL)
        shown = title.group(1).decode("utf-8", "replace").strip()[:80] if title else "an HTML page"
        raise ChallengePage(f"{what}: got HTML ({shown!r}; a challenge or circuit-breaker page?) "
                            "where CNINFO's announcement JSON was expected")
    payload = load_json(data, what)
    if not isinstance(payload, dict) or "announcements" not in payload or "totalAnnouncement" not in payload:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise BadResponse(f"{what}: not a hisAnnouncement response (no announcements/totalAnnouncement; got {keys})")
    total = payload["totalAnnouncement"]
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise BadResponse(f"{what}: totalAnnouncement is {total!r}, expected a count")
    rows = payload["announcements"]
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise BadResponse(f"{what}: announcements is a {type(rows).__name__}, expected a list or null")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "announcementId" not in row:
            raise BadResponse(f"{what}: announcement {i} has no announcementId (response shape changed?)")
    has_more = payload.get("hasMore")
    if has_more is not None and not isinstance(has_more, bool):
        raise BadResponse(f"{what}: hasMore is {has_more!r}, expected true/false")
    return {**payload, "announcements": rows}


def parse_query_page(data: bytes, name: str = "") -> pa.Table:
    """One saved query response → rows in the parser schema (``announcements: null`` → 0 rows)."""
    import pyarrow as pa

    from filinglake.schema import PARSED_SCHEMA, empty_parsed

    rows = decode_query_page(data, name)["announcements"]
    if not rows:
        return empty_parsed()
    columns: dict[str, list] = {f.name: [] for f in PARSED_SCHEMA}
    for row in rows:
        native_id = _text(row.get("announcementId"))
        native_id = native_id.strip() if native_id else native_id
        org_id = _text(row.get("orgId"))
        code = _text(row.get("secCode"))
        exchange = exchange_of(code, org_id)
        title = _text(row.get("announcementTitle"))
        millis = _epoch_ms(row.get("announcementTime"))
        filed_at = filing_date = None
        if millis is not None:
            try:
                filed_at = datetime.fromtimestamp(millis / 1000, tz=BEIJING)
                filing_date = filed_at.date()
            except (OverflowError, OSError, ValueError):
                pass  # absurd epoch: left null, the row is quarantined for a missing filing_date
        columns["filing_id"].append(f"{SOURCE}:{native_id}" if native_id else None)
        columns["source"].append(SOURCE)
        columns["exchange"].append(exchange)
        columns["native_id"].append(native_id)
        columns["issuer_id"].append(org_id)
        columns["ticker"].append(ticker_of(code, exchange))
        columns["company_name"].append(_text(row.get("secName")))
        columns["form_type"].append(_text(row.get("announcementType")))
        columns["title"].append(title)
        columns["title_clean"].append(clean_title(title))
        columns["language"].append("zh")
        columns["filed_at"].append(filed_at)
        columns["filing_date"].append(filing_date)
        columns["document_url"].append(document_url(_text(row.get("adjunctUrl"))))
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in PARSED_SCHEMA}, schema=PARSED_SCHEMA)


def announcement_keys(rows: list[dict]) -> set[tuple[str, str, str]]:
    """What makes a listed row distinct: (announcementId, secCode, orgId)."""
    return {(str(r.get("announcementId")), str(r.get("secCode")), str(r.get("orgId"))) for r in rows}


# ------------------------------------------------------------------------------------------------
# Queries and the cap
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPart:
    """One hisAnnouncement query: a date range, optionally narrowed to a plate, a category, a stock."""

    start: date
    end: date
    stock: str = ""  # "<code>,<orgId>"
    plate: str = ""
    category: str = ""
    dated_names: bool = False  # put the date range in file names (per-issuer partitions)

    def form(self, page: int) -> dict[str, str]:
        """The form body; every key is sent, as CNINFO's own page does."""
        return {
            "pageNum": str(page),
            "pageSize": str(PAGE_SIZE),
            "column": "szse",
            "tabName": "fulltext",
            "plate": self.plate,
            "stock": self.stock,
            "searchkey": "",
            "secid": "",
            "category": self.category,
            "trade": "",
            "seDate": f"{self.start.isoformat()}~{self.end.isoformat()}",
            "sortName": "",
            "sortType": "",
            "isHLtitle": "true",
        }

    @property
    def label(self) -> str:
        dates = f"{self.start:%Y%m%d}-{self.end:%Y%m%d}-" if self.dated_names else ""
        return f"{dates}{self.plate or 'all'}-{self.category or 'all'}"

    def file_name(self, page: int) -> str:
        return f"query-{self.label}-p{page}.json"

    def split(self) -> tuple[str, list[QueryPart]]:
        """(how, parts) covering this query with narrower ones; IncompleteFetch when nothing is left to split."""
        if self.start < self.end:
            middle = self.start + timedelta(days=(self.end - self.start).days // 2)
            return "dates", [replace(self, end=middle), replace(self, start=middle + timedelta(days=1))]
        if not self.plate and not self.stock:
            return "plate", [replace(self, plate=p) for p in PLATES]
        if not self.category:
            return "category", [replace(self, category=c) for c in CATEGORIES]
        raise IncompleteFetch(f"query {self.label} ({self.start}) exceeds CNINFO's paging cap and cannot be split further")


@dataclass
class _Collector:
    """Pages through query parts, splitting past the cap, and keeps every page as a raw file."""

    client: PoliteClient
    url: str
    max_pages: int
    files: list[RawFile] = field(default_factory=list)
    queries: list[dict] = field(default_factory=list)

    def page(self, part: QueryPart, number: int) -> dict:
        name = part.file_name(number)
        response = self.client.post(self.url, data=part.form(number))
        if response.status_code != 200:
            raise BadResponse(f"{self.url} ({name}): HTTP {response.status_code}")
        payload = decode_query_page(response.content, name)  # never archive HTML or another shape
        self.files.append(RawFile(name, self.url, response.content, response.headers.get("content-type")))
        return payload

    def collect(self, part: QueryPart) -> set[tuple[str, str, str]]:
        """Distinct announcement keys of ``part``, complete or IncompleteFetch."""
        first = self.page(part, 1)
        total = first["totalAnnouncement"]
        if total > self.max_pages * PAGE_SIZE:
            self.files.pop()  # the probe page only told us the total; its rows come again from the parts
            how, parts = part.split()
            keys: set[tuple[str, str, str]] = set()
            for child in parts:
                keys |= self.collect(child)
            self.queries.append({"query": part.label, "total": total, "split_by": how, "parts": len(parts)})
            if len(keys) != total:
                detail = (f"the {len(parts)} categories cover {len(keys):,} of {total:,} announcements "
                          "(some have no category_* code)") if how == "category" else \
                         f"its {len(parts)} parts by {how} hold {len(keys):,} announcements, the whole {total:,}"
                raise IncompleteFetch(f"{part.label} on {part.start}..{part.end}: {detail}")
            return keys
        rows = list(first["announcements"])
        payload, number = first, 1
        while payload["announcements"] and self._has_more(payload, len(rows), total):
            number += 1
            if number > self.max_pages:
                raise IncompleteFetch(f"{part.label}: still more rows after {self.max_pages} pages "
                                      f"({len(rows):,} of {total:,})")
            payload = self.page(part, number)
            if payload["totalAnnouncement"] != total:
                raise IncompleteFetch(f"{part.label}: totalAnnouncement changed while paging "
                                      f"({total:,} → {payload['totalAnnouncement']:,}); retry")
            rows.extend(payload["announcements"])
        keys = announcement_keys(rows)
        self.queries.append({"query": part.label, "total": total, "pages": number, "rows": len(rows)})
        if len(keys) != total:
            raise IncompleteFetch(
                f"{part.label} on {part.start}..{part.end}: collected {len(keys):,} distinct announcements "
                f"({len(rows):,} rows over {number} page(s)) but CNINFO announced {total:,}"
            )
        return keys

    @staticmethod
    def _has_more(payload: dict, collected: int, total: int) -> bool:
        more = payload.get("hasMore")
        return collected < total if more is None else more


# ------------------------------------------------------------------------------------------------
# The source
# ------------------------------------------------------------------------------------------------


def beijing_today() -> date:
    return datetime.now(BEIJING).date()


def stock_partition_id(code: str, start: date, end: date) -> str:
    """The id of a per-issuer partition, as typed, shown and stored: ``stock-002236_2020-01-01_2024-12-31``."""
    return f"stock-{code}_{start.isoformat()}_{end.isoformat()}"


class Cninfo(Source):
    """CNINFO hisAnnouncement: daily market-wide partitions and per-issuer date-range partitions."""

    name = SOURCE
    exchanges = EXCHANGES
    document_hosts = (STATIC_HOST, WWW_HOST)
    declared_settings = (
        root_setting("static_url", "FILINGLAKE_CNINFO_STATIC_URL", STATIC_URL, "CNINFO document host"),
        root_setting("base_url", "FILINGLAKE_CNINFO_BASE_URL", DEFAULT_BASE_URL, "CNINFO API root"),
        SourceSetting("rate", "FILINGLAKE_CNINFO_RATE", 0.5, "requests per second to CNINFO"),
    )
    pool = SOURCE
    #: CNINFO publishes no limit: ours is one paced client at 0.5 request/s (seen elsewhere: ~1/s)
    host_rate_limit = 0.5
    #: announcements run into the evening, every day of the week: the day's final run at 00:30 Beijing,
    #: due by 04:00 Beijing the next day (intraday refreshes come from ``cninfo_intraday``)
    landing_schedule = LandingSchedule("Asia/Shanghai", ALL_DAYS, run_at=timedelta(hours=24, minutes=30),
                                       deadline=timedelta(hours=28))
    issuer_columns = {
        "stock_code": "coalesce(r.stock_code, split_part(a.latest_ticker, '.', 1))",
        "org_id": "a.issuer_id",
    }
    # the million of the announcementId (cninfo:1216543210 → 1216000000): ids grow over time, so a day's
    # fall in one or two buckets and a bucket holds at most a million ids (publish/filing_keys.py)
    filing_id_bucket = (r"CASE WHEN regexp_matches(filing_id, '^cninfo:\d{1,15}$') THEN printf('%010d', "
                        r"CAST(substr(filing_id, 8) AS BIGINT) // 1000000 * 1000000) ELSE 'other' END")
    reference_archive = (STOCKS_SOURCE, STOCK_LIST_NAME)
    #: the stock list's ``zwjc`` and the announcements' ``secName`` are 证券简称, short names (万科A)
    name_kind = NameKind("zh", full=False)
    report_colour = "#c0392b"

    def request_headers(self, settings: Settings) -> dict[str, str]:
        return dict(REQUEST_HEADERS)

    def categories(self, form_type: str | None) -> list[tuple[str | None, str | None, str | None]] | None:
        """Each ``||``-separated announcementType code with its name (:mod:`.cninfo_types`)."""
        from filinglake.sources.cninfo_types import categories

        return categories(form_type)

    def reference_rows(self, data: bytes, name: str = STOCK_LIST_NAME) -> list[IssuerReference]:
        """orgId → stock code and ticker from CNINFO's stock list (the first entry of an orgId wins)."""
        from filinglake.sources.cninfo_stocks import parse_stock_list

        by_org: dict[str, IssuerReference] = {}
        for stock in parse_stock_list(data, name):
            ticker = ticker_of(stock.code, exchange_of(stock.code, stock.org_id))
            by_org.setdefault(stock.org_id, IssuerReference(
                stock.org_id, ticker, (ticker,) if ticker else (), stock.code, stock.name))
        return [by_org[org_id] for org_id in sorted(by_org)]

    def reference_securities(self, data: bytes, name: str = STOCK_LIST_NAME) -> list[SecurityReference]:
        """One security per stock code of the list (an orgId's first code is its main listing)."""
        from filinglake.sources.cninfo_stocks import parse_stock_list

        securities: dict[str, SecurityReference] = {}
        orgs: set[str] = set()
        for stock in parse_stock_list(data, name):
            if stock.code in securities:
                continue  # codes are unique in every real list; keep the first
            exchange = exchange_of(stock.code, stock.org_id)
            securities[stock.code] = SecurityReference(
                stock.org_id, stock.code, ticker_of(stock.code, exchange), stock.name,
                is_primary=stock.org_id not in orgs, exchange=exchange, stock_code=stock.code,
                name_pinyin=stock.pinyin, category=stock.category, name_zh=stock.name)
            orgs.add(stock.org_id)
        return list(securities.values())

    def __init__(self, max_pages: int = MAX_PAGES):
        self.max_pages = max_pages

    def partition(self, partition_id: str) -> Partition:
        text = partition_id.strip()
        stock = _STOCK_PARTITION.match(text)
        if stock:
            try:
                start, end = date.fromisoformat(stock["start"]), date.fromisoformat(stock["end"])
            except ValueError as exc:
                raise ValueError(f"{partition_id!r}: bad date ({exc})") from None
            if end < start:
                raise ValueError(f"{partition_id!r}: the range ends before it starts")
            if start < FIRST_DAY:
                raise ValueError(f"{partition_id!r}: CNINFO has nothing before {FIRST_DAY}")
            code = stock["code"]
            return Partition(SOURCE, stock_partition_id(code, start, end), "stock", start, end, (("stock", code),))
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{partition_id!r} is not a CNINFO partition: use YYYY-MM-DD (a Beijing day) or "
                "stock-<code>_<from>_<to> (e.g. stock-002236_2020-01-01_2024-12-31)"
            ) from None
        if day < FIRST_DAY:
            raise ValueError(f"{partition_id}: CNINFO has nothing before {FIRST_DAY}")
        return Partition(SOURCE, day.isoformat(), "daily", day, day)

    def partitions_for_day(self, day: date) -> list[str]:
        return [day.isoformat()]

    def stock_partition_id(self, code: str, start: date, end: date) -> str:
        return self.partition(stock_partition_id(code.strip(), start, end)).id

    def fetch(
        self,
        partition: Partition,
        client: PoliteClient,
        settings: Settings,
        today: date | None = None,
        storage: Storage | None = None,
    ) -> FetchResult:
        today = today or beijing_today()
        if partition.start > today:
            raise ValueError(f"{partition.id} is in the future (today in Beijing is {today})")
        from filinglake.errors import FilinglakeError
        from filinglake.sources.cninfo_stocks import stock_directory

        notes: dict[str, object] = {}
        root = QueryPart(partition.start, partition.end, dated_names=partition.kind == "stock")
        if partition.kind == "stock":
            directory = stock_directory(client, settings, today=today, storage=storage)
            stock = directory.resolve(partition.option("stock") or "")
            root = replace(root, stock=stock.stock_param)
            notes["stock"] = {"code": stock.code, "org_id": stock.org_id, "name": stock.name,
                              "stock_list": directory.raw_key, "stock_list_day": directory.as_of}
        else:
            # Daily runs keep the stock list's daily snapshot (the issuers table's code ↔ orgId reference);
            # one request per Beijing day at most. Best effort: the day's announcements do not depend on it.
            try:
                notes["stock_list"] = stock_directory(client, settings, today=today, storage=storage).raw_key
            except FilinglakeError as exc:
                log.warning("cninfo: stock list not refreshed for %s: %s", today, exc)
                notes["stock_list_error"] = str(exc)
        collector = _Collector(client, f"{self.own_settings(settings).base_url}{QUERY_PATH}", self.max_pages)
        keys = collector.collect(root)
        notes.update({"announcements": len(keys), "pages": len(collector.files), "queries": collector.queries})
        empty_reason = None
        if not keys:
            empty_reason = f"CNINFO lists no announcements for {partition.id}"
            if partition.kind == "stock":
                log.warning("cninfo: no announcements at all for %s: a known issuer with none is unusual",
                            partition.id)
        return FetchResult(files=collector.files, empty_reason=empty_reason, notes=notes)

    def parse(self, data: bytes, name: str = "") -> pa.Table:
        return parse_query_page(data, name)

    def rules(self, partition: Partition | None) -> list[quality.Rule]:
        from filinglake.ingest import row_checks as quality

        latest = (partition.end if partition else beijing_today()) + timedelta(days=1)
        return [
            quality.required("filing_id"),
            quality.required("native_id"),
            quality.required("issuer_id"),
            quality.required("exchange"),
            quality.required("title"),
            quality.required("filing_date"),
            quality.matches("native_id", ANNOUNCEMENT_ID_PATTERN, "announcement_id_digits"),
            quality.matches("issuer_id", r"^[A-Za-z0-9]{1,32}$", "org_id_format"),
            quality.in_set("exchange", EXCHANGES),
            quality.matches("ticker", TICKER_PATTERN, "ticker_format"),
            quality.date_between("filing_date", FIRST_DAY, latest),
            quality.matches("document_url", DOCUMENT_URL_PATTERN, "document_url_on_cninfo",
                            f"document_url is a clean path on {STATIC_HOST} or {WWW_HOST}"),
            # The ticker is part of the key: A and B shares of one company share an orgId
            # (82 pairs in the 2016 list), so one announcement may be listed once per share class.
            quality.unique(["native_id", "issuer_id", "ticker"]),
        ]
