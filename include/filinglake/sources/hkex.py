"""HKEXnews title search (all issuers, one Hong Kong day, one language stream) → unified rows.

Endpoint (notes/sources.md §5.1): ``GET {hkex_base_url}/search/titleSearchServlet.do`` with
``stockId=-1`` and ``fromDate=toDate=YYYYMMDD``. The answer is an envelope whose ``result`` is a
*string* holding the JSON array of rows (decode twice; ``null`` or ``"[]"`` when the day is empty).
There is no page number: ``rowRange`` is the number of rows wanted, and each response holds rows
1..rowRange, so we raise it until ``hasNextRow`` is false. One query never returns more than
10,000 rows: a day that reaches the cap is split by tier-one headline category (``t1code``), and a
category that still reaches it fails the partition (:class:`IncompleteFetch`) instead of landing a
partial day.

Queries send ``market=SEHK`` as the web page does (``Hkex.market``). notes/sources.md §5.1 says SEHK is the
Main Board only; whether GEM issuers need their own ``market=GEM`` query is unverified offline and should
be settled by a live contract test.

Partitions are ``YYYY-MM-DD-en`` and ``YYYY-MM-DD-zh``: the English and Chinese lists give the two
language versions of a document different NEWS_IDs (§5.3), so they are separate streams.

Row mapping (§5.2):

- one unified row per issuer: ``STOCK_CODE``/``STOCK_NAME`` join several issuers with ``<br/>``;
- ``title`` is ``TITLE`` as served (HTML entities and all); ``title_clean`` has tags stripped first,
  then entities decoded (so ``KARL THOMSON&lt;00007&gt;`` keeps its ``<00007>``), whitespace collapsed;
- ``form_type`` is ``LONG_TEXT`` with entities decoded: the tier-one category and the bracketed
  headline categories, e.g. ``Announcements and Notices - [Inside Information / Suspension]``, status
  prefixes such as ``(Headline Revised)`` included; published rows map its names to HKEX's tier-one and
  tier-two codes in ``categories`` (:mod:`filinglake.sources.hkex_categories`). ``SHORT_TEXT`` is display HTML (truncated, with
  tooltips) and is not used. Pre-2007 rows have no category (null);
- ``DATE_TIME`` is ``dd/MM/yyyy HH:mm`` Hong Kong time (UTC+8, no DST) → ``filed_at`` in UTC, and
  ``filing_date`` is the Hong Kong date;
- ``document_url`` is ``https://www1.hkexnews.hk`` + ``FILE_LINK`` for a root-relative link, null for an
  empty link, and the link as served otherwise (absolute elsewhere, relative without ``/``): such a
  value, or any URL with ``..`` or a backslash, fails ``document_url_on_source_host`` → quarantine.

An HTML page where JSON was expected (F5-style bot challenges come with status 200) is a
:class:`ChallengePage`: a bad response (nothing archived) that is also a block (retried later).

Language of a saved response parsed without context: the envelope's ``lang`` (``E`` → en, ``ZH`` → zh);
for a bare array of rows (how other tools save them) the stream is ``zh`` when most titles contain CJK
characters, else ``en``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from filinglake.errors import BadResponse, Blocked, HttpError, IncompleteFetch
from filinglake.freshness import ALL_DAYS, LandingSchedule
from filinglake.http import BROWSER_USER_AGENT, looks_like_html
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
from filinglake.sources.hkex_stocks import (
    CHINESE_STOCK_LIST_NAME,
    CHINESE_STOCK_LIST_PATH,
    STOCK_LIST_NAME,
    STOCK_LIST_PATH,
    STOCKS_SOURCE,
)
from filinglake.sources.json_decoding import load_json

if TYPE_CHECKING:
    import pyarrow as pa

    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.ingest import row_checks as quality

SOURCE = "hkex"
EXCHANGE = "HKEX"
DOCUMENT_HOST = "www1.hkexnews.hk"
DEFAULT_BASE_URL = "https://www1.hkexnews.hk"  # the HKEXnews root
#: HKEXnews serves its title search JSON to browser-like XHR requests from its own search page
REQUEST_HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Accept": "application/json, text/javascript, */*; q=0.01",
    "Accept-Language": "en-US,en;q=0.9",
    "X-Requested-With": "XMLHttpRequest",
    "Referer": "https://www1.hkexnews.hk/search/titlesearch.xhtml?lang=en",
}
DOCUMENT_ROOT = f"https://{DOCUMENT_HOST}"
SEARCH_PATH = "/search/titleSearchServlet.do"
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
#: HKEXnews went online in 1999; nothing in the title search is older.
FIRST_DAY = date(1999, 1, 1)
#: most rows one title-search query returns, whatever rowRange asks for (§5.1)
ROW_CAP = 10_000
#: first rowRange asked; the next request asks for recordCnt at once
INITIAL_ROW_RANGE = 1_000
#: requests per query part before giving up on a list that keeps growing under us
MAX_REQUESTS_PER_QUERY = 8
#: language stream → the servlet's ``lang`` value
LANGUAGE_PARAM = {"en": "E", "zh": "ZH"}
#: the envelope's ``lang`` → language stream (values other than E/ZH are accepted defensively)
_ENVELOPE_LANGUAGE = {"E": "en", "EN": "en", "ZH": "zh", "C": "zh", "TC": "zh", "ZH_HK": "zh"}
#: tier-one headline categories (HKEXnews' ncms/script/eds/tierone_c.json, 20 codes):
#: the split used when a whole day reaches ROW_CAP.
T1_CODES: tuple[str, ...] = (
    "10000", "20000", "30000", "40000", "50000", "51000", "51500", "52000", "53000", "54000",
    "55000", "56000", "57000", "58000", "59000", "70000", "80000", "81000", "90000", "91000",
)
#: how long to stay away after an HTML challenge page (F5-style bot defence, §5.4)
CHALLENGE_BACKOFF_SECONDS = 600.0
#: keys every row of a response has; one missing from *every* row means the shape changed
CORE_ROW_KEYS = ("NEWS_ID", "STOCK_CODE", "STOCK_NAME", "TITLE", "DATE_TIME", "FILE_LINK")

_PARTITION_ID = re.compile(r"^(\d{4}-\d{2}-\d{2})-(en|zh)$")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: a URL on the document host whose path has no ``..`` and no backslash (RE2 and Python re alike:
#: no look-ahead, so "no '..'" is spelled as "every dot is followed by a non-dot")
_NO_DOUBLE_DOT = r"[^.\\]*(\.[^.\\]+)*\.?"
DOCUMENT_URL_PATTERN = rf"^https?://{re.escape(DOCUMENT_HOST)}(/{_NO_DOUBLE_DOT})?$"


# ------------------------------------------------------------------------------------------------
# Response → rows
# ------------------------------------------------------------------------------------------------


class ChallengePage(Blocked, BadResponse):
    """HKEXnews answered HTML (a bot challenge, an error page) with status 200 where JSON was expected.

    Both kinds at once: a :class:`BadResponse` (not data: never archived or parsed) and a
    :class:`Blocked` (the host is turning us away; a later attempt can succeed).
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message, CHALLENGE_BACKOFF_SECONDS if retry_after is None else retry_after)


@dataclass(frozen=True)
class Envelope:
    """One decoded title-search response."""

    rows: list[dict[str, Any]]
    has_next_row: bool
    record_count: int | None  # recordCnt: rows matching the query (may exceed what was loaded)
    loaded_record: int | None
    lang: str | None  # the envelope's lang, e.g. "E"


def _count(value: Any, what: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise BadResponse(f"{name}: {what} is {value!r}, not a count")
    return int(value)


def _load_json(data: bytes, name: str) -> Any:
    if looks_like_html(data):
        title = re.search(rb"<title>(.*?)</title>", data[:8192], re.IGNORECASE | re.DOTALL)
        what = title.group(1).decode("utf-8", "replace").strip() if title else "an HTML page"
        raise ChallengePage(f"{name}: got HTML ({what[:80]!r}; a challenge page?) where an HKEXnews "
                            "title-search response was expected")
    return load_json(data, name)


def _check_rows(rows: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise BadResponse(f"{name}: rows are a {type(rows).__name__}, expected a JSON array")
    bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
    if bad is not None:
        raise BadResponse(f"{name}: row {bad} is a {type(rows[bad]).__name__}, expected an object")
    if rows:
        # A key missing from every row is a renamed field, not a bad row: fail instead of quarantining a day.
        absent = [k for k in CORE_ROW_KEYS if not any(k in row for row in rows)]
        if absent:
            raise BadResponse(f"{name}: rows have no {', '.join(absent)}: the title-search row shape changed")
    return rows


def decode_envelope(data: bytes, name: str = "") -> Envelope:
    """A saved response → :class:`Envelope`; a bare JSON array of rows is accepted too (no counts).

    Raises :class:`BadResponse` for HTML (challenge pages come with status 200), non-JSON, or JSON
    of the wrong shape.
    """
    name = name or "title-search response"
    payload = _load_json(data, name)
    if isinstance(payload, list):
        return Envelope(_check_rows(payload, name), False, None, None, None)
    if not isinstance(payload, dict) or "result" not in payload or "hasNextRow" not in payload:
        shape = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise BadResponse(f"{name}: expected an envelope with 'result' and 'hasNextRow', got {shape}")
    result = payload["result"]
    if result is None:
        rows: Any = []
    elif isinstance(result, str):
        # `result` is double-encoded: a string holding the JSON array.
        rows = load_json(result, f"{name}: 'result' is not a JSON string of rows") if result.strip() else []
        rows = [] if rows is None else rows
    elif isinstance(result, list):
        rows = result  # tolerated: a copy saved after decoding once
    else:
        raise BadResponse(f"{name}: 'result' is a {type(result).__name__}, expected a JSON string or null")
    has_next = payload["hasNextRow"]
    if not isinstance(has_next, bool):
        raise BadResponse(f"{name}: 'hasNextRow' is {has_next!r}, expected true or false")
    lang = payload.get("lang")
    return Envelope(
        rows=_check_rows(rows, name),
        has_next_row=has_next,
        record_count=_count(payload.get("recordCnt"), "recordCnt", name),
        loaded_record=_count(payload.get("loadedRecord"), "loadedRecord", name),
        lang=str(lang) if lang is not None else None,
    )


def detect_language(envelope: Envelope) -> str:
    """The stream of a response: the envelope's ``lang``, else CJK in most titles → ``zh``, else ``en``."""
    if envelope.lang:
        known = _ENVELOPE_LANGUAGE.get(envelope.lang.strip().upper())
        if known is None:
            raise BadResponse(f"unknown title-search lang {envelope.lang!r}: expected E or ZH")
        return known
    titles = [str(r.get("TITLE") or "") for r in envelope.rows if r.get("TITLE")]
    with_cjk = sum(1 for t in titles if _CJK.search(t))
    return "zh" if titles and with_cjk * 2 > len(titles) else "en"


def _text(value: Any) -> str | None:
    """A row value as text (numbers too); None for missing."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def split_joined(value: str | None) -> list[str]:
    """``"01346<br/>02318<br/>"`` → ``["01346", "02318"]`` (empty pieces dropped, pieces stripped)."""
    if not value:
        return []
    return [piece.strip() for piece in _BR.split(value) if piece.strip()]


def clean_title(title: str | None) -> str | None:
    """Tags stripped first, then entities decoded (escaped ``&lt;00007&gt;`` is text), whitespace collapsed."""
    if title is None:
        return None
    text = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", title))).strip()
    return text or None


def category(long_text: str | None) -> str | None:
    """The headline category path from ``LONG_TEXT`` (no tags there; entities decoded)."""
    if not long_text:
        return None
    text = _SPACES.sub(" ", html.unescape(long_text)).strip()
    return text or None


#: HKEX's stock short name conventions (www.hkex.com.hk, Products > Securities > Equities, "Naming
#: Conventions of Stock Short Name"): up to 15 characters, then markers; ``S`` is the secondary listing
#: indicator (with ``W`` weighted voting rights, ``B`` biotech: ``-SW``, ``-SB``). ``-SS`` (share stapled
#: units), ``-R`` (RMB counter), ``-W`` alone … mark no listing elsewhere.
_SECONDARY_LISTING_NAME = re.compile(r"([A-Z][A-Z0-9]{0,9})-S[WB]?")


def secondary_listing_symbol(name: str | None) -> str | None:
    """The ticker-like word before a secondary-listing marker (``QFIN-S`` → ``QFIN``), else None."""
    match = _SECONDARY_LISTING_NAME.fullmatch((name or "").strip())
    return match.group(1) if match else None


def ticker_for(stock_code: str) -> str | None:
    """``"00700"`` → ``"0700.HK"``, ``"09988"`` → ``"9988.HK"``, ``"80737"`` → ``"80737.HK"``."""
    return f"{int(stock_code):04d}.HK" if re.fullmatch(r"\d{5}", stock_code) else None


def document_url(file_link: str | None) -> str | None:
    """Absolute URL for a root-relative ``FILE_LINK``; anything else is kept as served for the rules to judge."""
    link = (file_link or "").strip()
    if not link:
        return None  # "Multiple Files" rows without a link
    if link.startswith("/") and not link.startswith("//"):
        return DOCUMENT_ROOT + link
    return link


def filed_time(date_time: str | None) -> datetime | None:
    """``"21/11/2025 18:49"`` (Hong Kong) → aware UTC datetime; None when missing or malformed."""
    if not date_time:
        return None
    try:
        local = datetime.strptime(date_time.strip(), "%d/%m/%Y %H:%M")
        return local.replace(tzinfo=HONG_KONG).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 01/01/0001 00:00 HKT is before year 1 in UTC
        return None


def rows_to_table(rows: Sequence[dict[str, Any]], language: str) -> pa.Table:
    """Title-search rows → the parser schema, one row per issuer."""
    import pyarrow as pa

    from filinglake.schema import PARSED_SCHEMA, empty_parsed

    columns: dict[str, list[Any]] = {name: [] for name in PARSED_SCHEMA.names}
    for row in rows:
        news_id = (_text(row.get("NEWS_ID")) or "").strip() or None
        title = _text(row.get("TITLE"))
        filed_at = filed_time(_text(row.get("DATE_TIME")))
        shared = {
            "filing_id": f"{SOURCE}:{news_id}" if news_id else None,
            "source": SOURCE,
            "exchange": EXCHANGE,
            "native_id": news_id,
            "form_type": category(_text(row.get("LONG_TEXT"))),
            "title": title,
            "title_clean": clean_title(title),
            "language": language,
            "filed_at": filed_at,
            "filing_date": filed_at.astimezone(HONG_KONG).date() if filed_at else None,
            "document_url": document_url(_text(row.get("FILE_LINK"))),
        }
        codes = split_joined(_text(row.get("STOCK_CODE")))
        names = split_joined(_text(row.get("STOCK_NAME")))
        # Nothing is dropped: a row without a stock code becomes one row with a null issuer (quarantined).
        for i, code in enumerate(codes or [None]):
            values = {
                **shared,
                "issuer_id": code,
                "ticker": ticker_for(code) if code else None,
                "company_name": names[i] if i < len(names) else None,  # names line up with codes
            }
            for column in columns:
                columns[column].append(values[column])
    if not rows:
        return empty_parsed()
    return pa.table({name: pa.array(columns[name], PARSED_SCHEMA.field(name).type) for name in columns},
                    schema=PARSED_SCHEMA)


def parse_response(data: bytes, name: str = "") -> pa.Table:
    """One saved title-search response (envelope or bare row array) → rows in the parser schema."""
    envelope = decode_envelope(data, name)
    return rows_to_table(envelope.rows, detect_language(envelope))


# ------------------------------------------------------------------------------------------------
# Fetch: growing rowRange, splitting at the cap
# ------------------------------------------------------------------------------------------------


def hk_today(now: datetime | None = None) -> date:
    """Today's date in Hong Kong."""
    return (now or datetime.now(UTC)).astimezone(HONG_KONG).date()


@dataclass(frozen=True)
class QueryPart:
    """One title-search query for a day: everything, or one tier-one headline category."""

    label: str
    search_type: str = "0"
    t1code: str = "-2"


WHOLE_DAY = QueryPart("all")


def search_url(base_url: str, day: date, language: str, row_range: int, part: QueryPart = WHOLE_DAY,
               market: str = "SEHK") -> str:
    """The title-search URL for one day, language and part (parameter order as the web page sends it)."""
    stamp = day.strftime("%Y%m%d")
    params = [
        ("sortDir", "0"), ("sortByOptions", "DateTime"), ("category", "0"), ("market", market),
        ("stockId", "-1"), ("documentType", "-1"), ("fromDate", stamp), ("toDate", stamp), ("title", ""),
        ("searchType", part.search_type), ("t1code", part.t1code), ("t2Gcode", "-2"), ("t2code", "-2"),
        ("rowRange", str(row_range)), ("lang", LANGUAGE_PARAM[language]),
    ]
    return f"{base_url.rstrip('/')}{SEARCH_PATH}?{urlencode(params)}"


@dataclass
class QueryOutcome:
    """The final, complete response of one query part (or the fact that it reached the cap)."""

    part: QueryPart
    url: str
    body: bytes
    content_type: str | None
    envelope: Envelope
    capped: bool
    requests: int

    @property
    def news_ids(self) -> set[str]:
        return {str(r.get("NEWS_ID")) for r in self.envelope.rows}

    def note(self) -> dict[str, object]:
        return {"part": self.part.label, "rows": len(self.envelope.rows), "record_count": self.envelope.record_count,
                "requests": self.requests, "capped": self.capped}


class Hkex(Source):
    """HKEXnews title search, all issuers: partitions ``YYYY-MM-DD-en`` and ``YYYY-MM-DD-zh`` (Hong Kong days)."""

    name = SOURCE
    exchanges = (EXCHANGE,)
    document_hosts = (DOCUMENT_HOST,)
    declared_settings = (
        root_setting("base_url", "FILINGLAKE_HKEX_BASE_URL", DEFAULT_BASE_URL, "HKEXnews root"),
        SourceSetting("rate", "FILINGLAKE_HKEX_RATE", 0.5, "requests per second to HKEXnews"),
    )
    pool = SOURCE
    #: HKEXnews publishes no limit: ours is one paced client at 0.5 request/s (seen elsewhere: ~1/s)
    host_rate_limit = 0.5
    #: HKEXnews posts until ~23:00 Hong Kong, weekends included: the day's final run at 02:00 the next day,
    #: due by 05:00 Hong Kong (intraday refreshes come from ``hkex_intraday``)
    landing_schedule = LandingSchedule("Asia/Hong_Kong", ALL_DAYS, run_at=timedelta(hours=26),
                                       deadline=timedelta(hours=29))
    issuer_columns = {"stock_code": "a.issuer_id"}
    # the million of the NEWS_ID (hkex:9117564 → 0009000000): ids grow over time, so a day's fall in one
    # or two buckets and a bucket holds at most a million ids (publish/filing_keys.py)
    filing_id_bucket = (r"CASE WHEN regexp_matches(filing_id, '^hkex:\d{1,15}$') THEN printf('%010d', "
                        r"CAST(substr(filing_id, 6) AS BIGINT) // 1000000 * 1000000) ELSE 'other' END")
    #: HKEXnews' stock list (:mod:`.hkex_stocks`), fetched at publish time once per UTC day
    reference_archive = (STOCKS_SOURCE, STOCK_LIST_NAME)
    #: and its Chinese twin, archived beside it: the Chinese short names (``securities.name_zh``)
    reference_companion = CHINESE_STOCK_LIST_NAME
    #: STOCK_NAME and the stock lists give the stock short name (at most 15 characters: ``HSBC HOLDINGS``)
    name_kind = NameKind("en", full=False)
    report_colour = "#1e8449"

    def request_headers(self, settings: Settings) -> dict[str, str]:
        return dict(REQUEST_HEADERS)

    def secondary_listing_symbol(self, name: str | None) -> str | None:
        """``QFIN-S`` → ``QFIN``: the short name of a secondary listing (marker ``S``, ``SW``, ``SB``) when it
        is one ticker-like word; None for every other name (``NEW ORIENTAL-S``, ``XIAOMI-W``, ``LANGHAM-SS``)."""
        return secondary_listing_symbol(name)

    def reference_url(self, settings: Settings) -> str:
        """HKEXnews' active stock list (English), under the configured root (a stand-in server in tests)."""
        return f"{self.own_settings(settings).base_url.rstrip('/')}{STOCK_LIST_PATH}"

    def reference_companion_url(self, settings: Settings) -> str:
        """HKEXnews' active stock list in Chinese, under the same root."""
        return f"{self.own_settings(settings).base_url.rstrip('/')}{CHINESE_STOCK_LIST_PATH}"

    def reference_rows(self, data: bytes, name: str = STOCK_LIST_NAME) -> list[IssuerReference]:
        """Stock code (the HKEX issuer id) → ticker and English short name."""
        from filinglake.sources.hkex_stocks import parse_stock_list

        rows = []
        for stock in parse_stock_list(data, name):
            ticker = ticker_for(stock.code)
            rows.append(IssuerReference(stock.code, ticker, (ticker,) if ticker else (), stock.code, stock.name))
        return rows

    def reference_securities(self, data: bytes, name: str = STOCK_LIST_NAME) -> list[SecurityReference]:
        """One security per stock code: its stockId, English short name and board (Main Board or GEM).

        The list has no Chinese name: ``name_zh`` comes from the Chinese list (:meth:`reference_companion_securities`).
        """
        from filinglake.sources.hkex_stocks import parse_stock_list

        return [
            SecurityReference(stock.code, stock.code, ticker_for(stock.code), stock.name, exchange=EXCHANGE,
                              stock_code=stock.code, board=stock.board, stock_id=stock.stock_id, name_en=stock.name)
            for stock in parse_stock_list(data, name)
        ]

    def reference_companion_securities(self, data: bytes,
                                       name: str = CHINESE_STOCK_LIST_NAME) -> list[SecurityReference]:
        """One security per stock code of the Chinese list: its stockId, board and Chinese short name (``name``
        and ``name_zh``; ``name_en`` null)."""
        from filinglake.sources.hkex_stocks import parse_chinese_stock_list

        return [
            SecurityReference(stock.code, stock.code, ticker_for(stock.code), stock.name, exchange=EXCHANGE,
                              stock_code=stock.code, board=stock.board, stock_id=stock.stock_id, name_zh=stock.name)
            for stock in parse_chinese_stock_list(data, name)
        ]

    def categories(self, form_type: str | None) -> list[tuple[str | None, str | None, str | None]] | None:
        """The tier-one and tier-two categories of a LONG_TEXT ``form_type`` (:mod:`.hkex_categories`)."""
        from filinglake.sources.hkex_categories import categories

        return categories(form_type)
    #: largest rowRange ever asked for (the server's cap)
    max_row_range: int = ROW_CAP
    initial_row_range: int = INITIAL_ROW_RANGE
    market: str = "SEHK"

    def partition(self, partition_id: str) -> Partition:
        match = _PARTITION_ID.match(partition_id.strip())
        if not match:
            raise ValueError(
                f"{partition_id!r} is not an HKEX partition: use YYYY-MM-DD-en or YYYY-MM-DD-zh (a Hong Kong day)"
            )
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(f"{partition_id!r}: {match.group(1)} is not a date") from None
        if day < FIRST_DAY:
            raise ValueError(f"{partition_id}: HKEXnews starts in {FIRST_DAY.year}")
        language = match.group(2)
        return Partition(SOURCE, f"{day.isoformat()}-{language}", "daily", day, day, (("language", language),))

    def partitions_for_day(self, day: date) -> list[str]:
        """Both language streams of one Hong Kong day."""
        return [f"{day.isoformat()}-{language}" for language in LANGUAGE_PARAM]

    # fetch ---------------------------------------------------------------------------------------

    def _get(self, client: PoliteClient, url: str, label: str) -> tuple[bytes, str | None, Envelope]:
        response = client.get(url)
        if response.status_code != 200:
            raise HttpError(f"{url}: HTTP {response.status_code}", status=response.status_code)
        body = response.content
        return body, response.headers.get("content-type"), decode_envelope(body, f"title search {label}")

    def run_query(self, client: PoliteClient, base_url: str, day: date, language: str,
                  part: QueryPart = WHOLE_DAY) -> QueryOutcome:
        """Raise ``rowRange`` until the server says ``hasNextRow`` false, or until it stops giving more (the cap)."""
        row_range = min(self.initial_row_range, self.max_row_range)
        for request_number in range(1, MAX_REQUESTS_PER_QUERY + 1):
            url = search_url(base_url, day, language, row_range, part, self.market)
            body, content_type, envelope = self._get(client, url, f"{day} {language} {part.label}")
            expected = _ENVELOPE_LANGUAGE.get((envelope.lang or "").strip().upper())
            if envelope.lang and expected != language:
                raise BadResponse(f"{url}: asked for lang={LANGUAGE_PARAM[language]}, got lang={envelope.lang!r}")
            loaded = len(envelope.rows)
            if envelope.loaded_record is not None and envelope.loaded_record != loaded:
                raise IncompleteFetch(f"{url}: loadedRecord says {envelope.loaded_record}, result holds {loaded} rows")
            total = envelope.record_count
            outcome = QueryOutcome(part, url, body, content_type, envelope, False, request_number)
            if not envelope.has_next_row:
                return outcome
            # More rows exist. Fewer than asked (or asking for the most already): the server's cap.
            if loaded < row_range or row_range >= self.max_row_range or (total or 0) > self.max_row_range:
                outcome.capped = True
                return outcome
            row_range = min(self.max_row_range, max(total or 0, row_range * 2))
        raise IncompleteFetch(
            f"title search {day} {language} {part.label}: still more rows after {MAX_REQUESTS_PER_QUERY} requests "
            "(the list kept growing); retry later"
        )

    def fetch(self, partition: Partition, client: PoliteClient, settings: Settings,
              today: date | None = None) -> FetchResult:
        day, language = partition.start, partition.option("language") or "en"
        if day > (today or hk_today()):
            raise ValueError(f"{partition.id} is in the future (Hong Kong time)")
        base = self.own_settings(settings).base_url
        whole = self.run_query(client, base, day, language)
        outcomes = [whole]
        if whole.capped:
            outcomes = self._split_by_category(client, base, day, language, whole)
        for outcome in outcomes:
            _check_complete(outcome)
        files = [
            RawFile(f"titleSearch-{partition.id}-{o.part.label}.json", o.url, o.body, o.content_type)
            for o in outcomes if o.envelope.rows
        ]
        notes: dict[str, object] = {"row_cap": self.max_row_range, "whole_day": whole.note()}
        if whole.capped:  # the categories that held rows (XCom-sized: at most 20)
            notes["split_by_t1code"] = [o.note() for o in outcomes if o.envelope.rows]
        if not files:
            return FetchResult(empty_reason=f"HKEXnews lists no {language} documents for {day}", notes=notes)
        return FetchResult(files=files, notes=notes)

    def _split_by_category(self, client: PoliteClient, base: str, day: date, language: str,
                           whole: QueryOutcome) -> list[QueryOutcome]:
        parts = [QueryPart(f"t1-{code}", "1", code) for code in T1_CODES]
        outcomes = [self.run_query(client, base, day, language, part) for part in parts]
        capped = [o.part.t1code for o in outcomes if o.capped]
        if capped:
            raise IncompleteFetch(
                f"title search {day} {language}: headline category t1code {', '.join(capped)} alone reaches the "
                f"{self.max_row_range:,}-row cap; this day cannot be fetched completely by category"
            )
        found: set[str] = set().union(*(o.news_ids for o in outcomes))
        announced = whole.envelope.record_count
        if announced is not None and announced > len(whole.envelope.rows) and len(found) != announced:
            raise IncompleteFetch(
                f"title search {day} {language}: the day has {announced:,} documents but the {len(parts)} "
                f"headline categories hold {len(found):,}; not landing a partial day"
            )
        missing = whole.news_ids - found
        if missing or len(found) < len(whole.envelope.rows):
            raise IncompleteFetch(
                f"title search {day} {language}: {len(missing):,} documents of the capped whole-day list are in no "
                "headline category (e.g. pre-2007 document types); not landing a partial day"
            )
        return outcomes

    # parse / rules -------------------------------------------------------------------------------

    def parse(self, data: bytes, name: str = "") -> pa.Table:
        return parse_response(data, name)

    def rules(self, partition: Partition | None) -> list[quality.Rule]:
        from filinglake.ingest import row_checks as quality

        latest = (partition.end if partition else hk_today()) + timedelta(days=1)
        return [
            quality.required("filing_id"),
            quality.required("native_id"),
            quality.required("issuer_id"),
            quality.required("title"),
            quality.required("filing_date"),
            quality.required("filed_at"),
            quality.matches("native_id", r"^\d+$", "news_id_digits"),
            quality.matches("issuer_id", r"^\d{5}$", "stock_code_5_digits"),
            quality.date_between("filing_date", FIRST_DAY, latest),
            quality.matches(
                "document_url", DOCUMENT_URL_PATTERN, "document_url_on_source_host",
                f"document_url is on {DOCUMENT_HOST} and its path has no '..' or backslash",
            ),
            quality.unique(["native_id", "issuer_id"]),
        ]


def _check_complete(outcome: QueryOutcome) -> None:
    """The final response holds every row it announces (recordCnt and each row's TOTAL_COUNT)."""
    envelope, loaded = outcome.envelope, len(outcome.envelope.rows)
    if envelope.record_count is not None and envelope.record_count != loaded:
        raise IncompleteFetch(f"{outcome.url}: recordCnt says {envelope.record_count}, loaded {loaded} rows")
    totals = {str(r["TOTAL_COUNT"]).strip() for r in envelope.rows if r.get("TOTAL_COUNT") not in (None, "")}
    if totals and totals != {str(loaded)}:
        raise IncompleteFetch(f"{outcome.url}: rows say TOTAL_COUNT {sorted(totals)}, loaded {loaded} rows")
