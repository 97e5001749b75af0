"""A fake CNINFO for tests and the offline demo, built on :class:`fakes.replay.ReplayServer`.

It answers ``POST /new/hisAnnouncement/query`` the way CNINFO does (form body, 30 rows a page,
newest first, ``announcements: null`` when nothing matches) from a list of announcement rows, and
``GET /new/data/szse_stock.json`` with a real captured stock list. Point
``FILINGLAKE_CNINFO_BASE_URL`` at ``server.url``.

The rows are the real captured page (stock 000001, 2001–2002; each served on its own Beijing day)
plus any synthetic rows a test adds. Synthetic rows are built from the real row shape and may carry
a hidden ``_categories`` list so category filters work; it is never sent. CNINFO's paging cap is
reproduced: past ``page_cap`` the server silently repeats its last page, as the real one does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from fakes.replay import RecordedRequest, Reply, RouteAnswer
from filinglake.sources.cninfo import BEIJING, CATEGORIES, MAX_PAGES, PAGE_SIZE, QUERY_PATH, exchange_of
from filinglake.sources.cninfo_stocks import STOCK_LIST_PATH

QUERY_FIXTURE = "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json"
STOCK_LIST_FIXTURE = "cninfo/szse_stock_20210927_ForstMaple.json"
STOCK_LIST_2016_FIXTURE = "cninfo/szse_stock_201601_CloudDataX.json"
MOJIBAKE_STOCK_LIST_FIXTURE = "cninfo/szse_stock_mojibake-gbk_CloudDataX.json"
_PLATE_OF_EXCHANGE = {"SZSE": "sz", "SSE": "sh", "BSE": "bj"}
_HIDDEN = "_categories"

CHALLENGE_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>\xe8\xae\xbf\xe9\x97\xae\xe9\xaa\x8c\xe8\xaf\x81"
    b"</title></head><body><script>document.cookie='acw_sc__v2=0';location.reload();</script></body></html>"
)


def fixture_announcements(fixtures_dir: Path) -> list[dict]:
    """The 8 real announcement rows of the captured query page."""
    payload = json.loads((Path(fixtures_dir) / QUERY_FIXTURE).read_bytes())
    return list(payload["announcements"])


def beijing_day(row: dict) -> date:
    return datetime.fromtimestamp(row["announcementTime"] / 1000, tz=BEIJING).date()


def synthetic_announcements(
    template: dict,
    day: date,
    count: int,
    *,
    plates: tuple[str, ...] = ("sz", "sh", "bj"),
    categories: tuple[str, ...] = CATEGORIES,
    uncategorised: int = 0,
    first_id: int = 1_300_000_000,
) -> list[dict]:
    """``count`` rows shaped like ``template`` on ``day`` (Beijing midnight, like modern rows).

    Rows go round-robin over ``plates`` (one issuer per row: codes 002xxx / 600xxx / 830xxx) and over
    ``categories``; the last ``uncategorised`` rows have no category, as ad-hoc notices may not.
    """
    code_prefix = {"sz": ("002", "gssz0"), "sh": ("600", "gssh0"), "bj": ("830", "gsbj0")}
    millis = int(datetime.combine(day, time(0), tzinfo=BEIJING).timestamp() * 1000)
    rows = []
    for i in range(count):
        plate = plates[i % len(plates)]
        prefix, org_prefix = code_prefix[plate]
        code = f"{prefix}{i % 1000:03d}"
        announcement_id = str(first_id + i)
        row = dict(template)
        row.update({
            "announcementId": announcement_id,
            "announcementTitle": f"关于第{i + 1}号事项的<em>公告</em>",
            "announcementTime": millis,
            "storageTime": None,
            "adjunctUrl": f"finalpage/{day.isoformat()}/{announcement_id}.PDF",
            "adjunctType": "PDF",
            "adjunctSize": 100 + i % 900,
            "secCode": code,
            "secName": f"测试{code}",
            "orgId": f"{org_prefix}{code}",
            "announcementType": "01010503||010113",
            "columnId": "250401||251302",
            _HIDDEN: [] if i >= count - uncategorised else [categories[i % len(categories)]],
        })
        rows.append(row)
    return rows


@dataclass
class CninfoReplay:
    """The fake server's state: rows, the stock list it serves, its paging behaviour."""

    announcements: list[dict]
    stock_list: bytes
    page_cap: int = MAX_PAGES
    #: when set, the server never hands out more than this many rows of any query but still
    #: announces the full total (a silently truncating server)
    truncate_after: int | None = None
    stock_list_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: query filters → matching rows, newest first (paging asks the same query ~100 times)
    _matches: dict[tuple, list[dict]] = field(default_factory=dict, repr=False)

    def routes(self) -> dict[tuple[str, str], RouteAnswer]:
        return {("POST", QUERY_PATH): self.answer_query, ("GET", STOCK_LIST_PATH): self.answer_stock_list}

    def add(self, rows: Iterable[dict]) -> None:
        with self._lock:
            self.announcements.extend(rows)
            self._matches.clear()

    # -- answers ---------------------------------------------------------------------------------
    def answer_stock_list(self, _request: RecordedRequest) -> Reply:
        with self._lock:
            self.stock_list_requests += 1
        return Reply(body=self.stock_list, content_type="application/json;charset=UTF-8")

    def answer_query(self, request: RecordedRequest) -> Reply:
        form = request.form
        matched = self.matching(form)
        total = len(matched)
        visible = matched if self.truncate_after is None else matched[: self.truncate_after]
        size = min(_int(form.get("pageSize"), PAGE_SIZE), PAGE_SIZE)
        page = max(_int(form.get("pageNum"), 1), 1)
        served_page = min(page, self.page_cap)  # past the cap: the last page again, silently
        rows = visible[(served_page - 1) * size : served_page * size]
        payload = {
            "classifiedAnnouncements": None,
            "totalSecurities": 0,
            "totalAnnouncement": total,
            "totalRecordNum": total,
            "announcements": [_public(r) for r in rows] or None,
            "categoryList": None,
            "hasMore": page * size < len(visible),
            "totalpages": 0,
            "pageNum": page,
        }
        return Reply.json(payload)

    def matching(self, form: dict[str, str]) -> list[dict]:
        """Rows a query selects, newest first."""
        key = tuple(form.get(k) or "" for k in ("seDate", "stock", "plate", "category"))
        with self._lock:
            cached = self._matches.get(key)
            rows = list(self.announcements)
        if cached is not None:
            return cached
        start, end = _date_range(key[0])
        code, _, org_id = key[1].partition(",")
        plate = key[2]
        categories = {c for c in key[3].split(";") if c}
        out = []
        for row in rows:
            if start and not (start <= beijing_day(row) <= end):
                continue
            if code and (row.get("secCode") != code or row.get("orgId") != org_id):
                continue  # CNINFO answers 0 rows for a wrong orgId, without an error
            if plate and _PLATE_OF_EXCHANGE.get(exchange_of(row.get("secCode"), row.get("orgId")) or "") != plate:
                continue
            if categories and not categories & set(row.get(_HIDDEN) or ()):
                continue
            out.append(row)
        out.sort(key=_newest_first)
        with self._lock:
            if len(self.announcements) == len(rows):  # nothing was added meanwhile
                self._matches[key] = out
        return out


def _newest_first(row: dict) -> tuple[int, int]:
    return (-int(row["announcementTime"]), -int(row["announcementId"]))


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != _HIDDEN}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _date_range(se_date: str) -> tuple[date | None, date | None]:
    if "~" not in se_date:
        return None, None
    first, last = se_date.split("~", 1)
    return date.fromisoformat(first.strip()), date.fromisoformat(last.strip())


def cninfo_replay(
    fixtures_dir: Path,
    *,
    extra_announcements: Iterable[dict] = (),
    page_cap: int = MAX_PAGES,
    stock_list_fixture: str = STOCK_LIST_FIXTURE,
    truncate_after: int | None = None,
) -> CninfoReplay:
    """A fake CNINFO serving the real fixture rows (plus ``extra_announcements``) and a real stock list."""
    return CninfoReplay(
        announcements=fixture_announcements(fixtures_dir) + list(extra_announcements),
        stock_list=(Path(fixtures_dir) / stock_list_fixture).read_bytes(),
        page_cap=page_cap,
        truncate_after=truncate_after,
    )


def cninfo_routes(fixtures_dir: Path, **options) -> dict[tuple[str, str], RouteAnswer]:
    """Routes for :class:`~fakes.replay.ReplayServer` (options as :func:`cninfo_replay`)."""
    return cninfo_replay(fixtures_dir, **options).routes()


def fixture_days(fixtures_dir: Path) -> list[date]:
    """The Beijing days of the real fixture rows (the days a demo can land with real data)."""
    return sorted({beijing_day(r) for r in fixture_announcements(fixtures_dir)})


def routes(fixtures_dir: Path) -> dict[tuple[str, str], RouteAnswer]:
    """The CNINFO stand-in as the demo serves it: the real rows and stock list, no options."""
    return cninfo_routes(fixtures_dir)
