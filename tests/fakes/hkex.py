"""Stand-in for HKEXnews: the title search, answering from the real captured rows, and the stock list
(tests and the offline demo).

The stock list is served at its real path (``/ncms/script/eds/activestock_sehk_e.json``) from the real
capture :data:`STOCK_LIST_FIXTURE`, byte for byte: HKEXnews' list as a ``stock_code,stockId,name,market``
table (2,330 securities compiled from prefix.do answers), a form the HKEX source accepts beside the JSON.
The Chinese list (``/ncms/script/eds/activestock_sehk_c.json``) has no capture: it is served from
:data:`CHINESE_STOCK_LIST`, written by hand in HKEXnews' shape (``[{"c", "i", "n"}]``) for a few securities of
the English capture (their codes and stockIds as captured, their Chinese short names as HKEX gives them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fakes.replay import RecordedRequest, Reply, RouteAnswer, file_reply
from filinglake.sources.hkex import ROW_CAP, SEARCH_PATH, _text, category
from filinglake.sources.hkex_stocks import CHINESE_STOCK_LIST_PATH, STOCK_LIST_PATH

FIXTURE_ROWS = "hkex/titleSearch_result_parsed_00007_sunkken.json"
STOCK_LIST_FIXTURE = "hkex/prefix_stockId_mapping_sunkken.csv"
#: HKEXnews' Chinese stock list for some securities of STOCK_LIST_FIXTURE (hand-written: no capture exists)
CHINESE_STOCK_LIST: list[dict[str, Any]] = [
    {"c": "00001", "i": 1, "n": "長和"},
    {"c": "00005", "i": 5, "n": "滙豐控股"},
    {"c": "00007", "i": 7, "n": "智富資源投資"},
    {"c": "00700", "i": 7609, "n": "騰訊控股"},
    {"c": "01810", "i": 190371, "n": "小米集團－Ｗ"},
    {"c": "02202", "i": 107641, "n": "萬科企業"},
]

#: English tier-one names as they start LONG_TEXT → t1code; only the replay server needs this.
_T1_BY_ENGLISH_NAME = {
    "Announcements and Notices": "10000",
    "Circulars": "20000",
    "Listing Documents": "30000",
    "Financial Statements/ESG Information": "40000",
    "Financial Statements": "40000",
    "Next Day Disclosure Returns": "50000",
    "Share Buyback Reports": "51000",
    "Monthly Returns": "51500",
    "Proxy Forms": "52000",
    "Company Information Sheet": "53000",
    "Constitutional Documents": "54000",
    "Takeovers Code - dealing disclosures": "55000",
    "Documents on Display": "56000",
    "Debt and Structured Products": "70000",
    "Trading Information of Exchange Traded Funds": "80000",
    "Trading Information of Leveraged and Inverse Products": "81000",
    "Regulatory Announcement & News": "90000",
}


def fixture_rows(fixtures_dir: Path) -> list[dict[str, Any]]:
    """The real captured rows (stock 00007, English, 1,101 rows)."""
    return json.loads((Path(fixtures_dir) / FIXTURE_ROWS).read_text(encoding="utf-8"))


def row_day(row: dict[str, Any]) -> date | None:
    try:
        return datetime.strptime(str(row.get("DATE_TIME", "")).strip(), "%d/%m/%Y %H:%M").date()
    except ValueError:
        return None


def row_t1code(row: dict[str, Any]) -> str | None:
    """The tier-one code of a row from its LONG_TEXT, status prefixes like ``(Headline Revised)`` ignored."""
    text = category(_text(row.get("LONG_TEXT"))) or ""
    text = re.sub(r"^\([^)]*\)\s*", "", text)
    return _T1_BY_ENGLISH_NAME.get(text.split(" - [", 1)[0].strip())


def synthetic_rows(fixtures_dir: Path, day: date, count: int, *, long_text: str = "Announcements and Notices - [Other]",
                   first_news_id: int = 90_000_001, stock_codes: Sequence[str] = ("00001", "00005", "00700")
                   ) -> list[dict[str, Any]]:
    """``count`` made-up rows in the real row shape (a fixture row as template) for cap tests."""
    template = fixture_rows(fixtures_dir)[0]
    rows = []
    for i in range(count):
        news_id = first_news_id + i
        rows.append({
            **template,
            "NEWS_ID": str(news_id),
            "STOCK_CODE": stock_codes[i % len(stock_codes)],
            "STOCK_NAME": f"SYNTHETIC {stock_codes[i % len(stock_codes)]}",
            "TITLE": f"SYNTHETIC ANNOUNCEMENT {news_id}",
            "DATE_TIME": f"{day:%d/%m/%Y} {8 + (i // 60) % 15:02d}:{i % 60:02d}",
            "LONG_TEXT": long_text,
            "SHORT_TEXT": f"{long_text}<br/>",
            "FILE_LINK": f"/listedco/listconews/sehk/{day:%Y/%m%d}/{day:%Y%m%d}{i:05d}.pdf",
        })
    return rows


def hkex_routes(fixtures_dir: Path, *, row_cap: int = ROW_CAP, extra_rows: Iterable[dict[str, Any]] = (),
                report_total_beyond_cap: bool = True) -> dict[tuple[str, str], RouteAnswer]:
    """Routes answering the title search like HKEXnews, from the real fixture rows (plus ``extra_rows``).

    Rows are selected by day (``DATE_TIME``'s date within fromDate..toDate), language (the fixture is
    English: ``lang=ZH`` finds nothing) and, with ``searchType=1``, by ``t1code``. Each answer holds
    rows 1..min(rowRange, row_cap) with ``hasNextRow``, ``loadedRecord``, ``recordCnt`` and each row's
    ``TOTAL_COUNT`` set like the real servlet; ``result`` is a JSON string, or null when nothing matches.
    ``report_total_beyond_cap=False`` makes ``recordCnt`` stop at the cap too (a server that hides the total).
    """
    pool = [dict(r) for r in fixture_rows(fixtures_dir)] + [dict(r) for r in extra_rows]
    indexed = [(row_day(r), row_t1code(r), r) for r in pool]

    def answer(request: RecordedRequest) -> Reply:
        q = request.query
        try:
            start = datetime.strptime(q["fromDate"], "%Y%m%d").date()
            end = datetime.strptime(q["toDate"], "%Y%m%d").date()
            row_range = int(q["rowRange"])
            lang = q["lang"]
        except (KeyError, ValueError) as exc:
            return Reply(status=400, body=f"replay: bad title-search query ({exc!r})".encode())
        if q.get("stockId", "-1") != "-1" or q.get("market") != "SEHK" or lang not in ("E", "ZH"):
            return Reply(status=400, body=b"replay: only stockId=-1, market=SEHK, lang=E|ZH are served")
        by_category = q.get("searchType") == "1" and q.get("t1code", "-2") != "-2"
        matched = [
            row for day, t1, row in indexed
            if lang == "E" and day is not None and start <= day <= end and (not by_category or t1 == q["t1code"])
        ]
        total = len(matched) if report_total_beyond_cap else min(len(matched), row_cap)
        served = [{**row, "TOTAL_COUNT": str(total)} for row in matched[: min(row_range, row_cap)]]
        return Reply.json({
            "result": json.dumps(served, ensure_ascii=False) if served else None,
            "sortList": "[[0,0]]",
            "hasNextRow": len(served) < len(matched),
            "rowRange": row_range,
            "loadedRecord": len(served),
            "recordCnt": total,
            "lang": lang,
        })

    return {("GET", SEARCH_PATH): answer}


def fixture_days(fixtures_dir: Path) -> list[tuple[date, int]]:
    """(day, rows) of the fixture, busiest first: handy picks for demos and end-to-end tests."""
    counts: dict[date, int] = {}
    for row in fixture_rows(fixtures_dir):
        day = row_day(row)
        if day is not None:
            counts[day] = counts.get(day, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def routes(fixtures_dir: Path) -> dict[tuple[str, str], RouteAnswer]:
    """The HKEXnews stand-in as the demo serves it: the real rows, no options, and the real stock list."""
    return {**hkex_routes(fixtures_dir), **stock_list_routes(fixtures_dir)}


def chinese_stock_list_bytes(entries: Sequence[dict[str, Any]] = CHINESE_STOCK_LIST) -> bytes:
    """A Chinese stock list as HKEXnews serves it: one JSON array, UTF-8."""
    return json.dumps(list(entries), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def stock_list_routes(fixtures_dir: Path, chinese: bytes | None = None) -> dict[tuple[str, str], RouteAnswer]:
    """HKEXnews' stock lists at their real paths: the captured English list, and ``chinese`` (by default
    :data:`CHINESE_STOCK_LIST`) as the Chinese one."""
    body = chinese_stock_list_bytes() if chinese is None else chinese
    return {("GET", STOCK_LIST_PATH): file_reply(Path(fixtures_dir) / STOCK_LIST_FIXTURE, content_type="text/csv"),
            ("GET", CHINESE_STOCK_LIST_PATH): lambda _request: Reply(body=body,
                                                                     content_type="application/json;charset=UTF-8")}
