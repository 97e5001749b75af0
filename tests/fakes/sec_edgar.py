"""Stand-in for SEC EDGAR: the archive (``/Archives/edgar/...``) and ``/files/company_tickers.json``,
served from the real captured files (tests and the offline demo).

Point ``FILINGLAKE_SEC_BASE_URL`` at ``server.url + SEC_ARCHIVE_PREFIX`` (``server.sec_base_url``);
company_tickers.json is then found next to it, as on www.sec.gov.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fakes.replay import Reply, RouteAnswer, file_reply
from filinglake.sources.sec_edgar import DEFAULT_BASE_URL as DEFAULT_SEC_BASE_URL
from filinglake.sources.sec_edgar import SEC_COMPANY_TICKERS_URL

#: Where the SEC archive lives on the replay server: FILINGLAKE_SEC_BASE_URL = server.url + SEC_ARCHIVE_PREFIX.
SEC_ARCHIVE_PREFIX = urlsplit(DEFAULT_SEC_BASE_URL).path
COMPANY_TICKERS_FIXTURE = "edgar/api/company_tickers.json"

#: archive-relative path (as under https://www.sec.gov/Archives/edgar/) -> fixture path under <fixtures>/edgar
_SEC_FIXTURES = {
    "full-index/1993/QTR4/master.idx": "full-index/1993/QTR4/master.idx",
    "full-index/2014/QTR4/xbrl.idx": "full-index/2014/QTR4/xbrl.partial-20141106.CR-line-endings.idx",
    "full-index/2015/QTR4/xbrl.idx": "full-index/2015/QTR4/xbrl.idx",
    "full-index/2016/QTR3/master.gz": "full-index/2016/QTR3/master.gz",
    "full-index/2019/QTR4/xbrl.idx": "full-index/2019/QTR4/xbrl.partial-20191116.idx",
    "full-index/2021/QTR1/form.idx": "full-index/2021/QTR1/form.excerpt-name-overflow.idx",
    # Downloaded 2025-04-01, "Last Data Received: March 29, 2025": the new quarter's empty form index.
    "full-index/2025/QTR2/form.idx": "full-index/form.empty-new-quarter.LDR-20250329.idx",
    "daily-index/2018/QTR4/master.20181231.idx": "daily/master.20181231.excerpt.idx",
    "daily-index/2020/QTR1/form.20200318.idx": "daily/form.20200318.idx",
    "daily-index/2022/QTR4/company.20221003.idx": "daily/company.20221003.idx",
    "daily-index/2026/QTR1/master.20260102.idx": "daily/master.20260102.excerpt.idx",
    # Directory listings (SEC serves index.html for the bare directory too).
    "full-index/1993/QTR4/index.html": "listings/full-index_1993_QTR4.html",
    "daily-index/2018/QTR4/index.html": "listings/daily-index_2018_QTR4.htm",
}

SEC_BLOCK_PAGE = "errors/sec_request_rate_threshold_exceeded.html"


def sec_fixture_map(fixtures_dir: Path) -> dict[str, Path]:
    """Archive-relative path (``full-index/2016/QTR3/master.gz``) -> the real fixture file served for it.

    Several fixtures are excerpts or mid-quarter captures (see PROVENANCE.md); tests compute their
    expectations from these files, not from the real SEC sizes.
    """
    edgar = Path(fixtures_dir) / "edgar"
    return {archive_path: edgar / relative for archive_path, relative in _SEC_FIXTURES.items()}


def sec_archive_routes(fixtures_dir: Path, prefix: str = SEC_ARCHIVE_PREFIX) -> dict[tuple[str, str], RouteAnswer]:
    """Routes serving the SEC fixtures as if this server were https://www.sec.gov/Archives/edgar."""
    routes: dict[tuple[str, str], RouteAnswer] = {}
    for archive_path, file in sec_fixture_map(fixtures_dir).items():
        answer = file_reply(file)
        routes[("GET", f"{prefix}/{archive_path}")] = answer
        if archive_path.endswith("/index.html"):
            routes[("GET", f"{prefix}/{archive_path.removesuffix('index.html')}")] = answer
    return routes


def sec_block_page_reply(fixtures_dir: Path) -> Reply:
    """SEC's real 403 "Request Rate Threshold Exceeded" page, as SEC sends it."""
    body = (Path(fixtures_dir) / "edgar" / SEC_BLOCK_PAGE).read_bytes()
    return Reply(status=403, body=body, content_type="text/html")




def routes(fixtures_dir: Path) -> dict[tuple[str, str], RouteAnswer]:
    """Everything the SEC stand-in serves: the archive and company_tickers.json (read by publish)."""
    return {
        **sec_archive_routes(fixtures_dir),
        ("GET", urlsplit(SEC_COMPANY_TICKERS_URL).path): file_reply(Path(fixtures_dir) / COMPANY_TICKERS_FIXTURE),
    }
