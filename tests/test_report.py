"""The static status page, built from partitions the real pipeline landed from replayed fixtures.

SEC: the real 2026-01-02 daily excerpt plus a hand-written 2026-01-05 index with one broken row
(so a quarantine rate is non-zero); HKEX: the busiest day of the real 00007 fixture. Expectations
(distinct filings per day, rates, latest dates) are computed from the fixture files and manifests.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fakes import hkex as hkex_fake
from fakes.replay import ReplayServer, Reply
from fakes.sec_edgar import sec_archive_routes

from filinglake import report
from filinglake.alerts.record import record_alerts
from filinglake.alerts.watchlist import parse_watchlist
from filinglake.config import Settings
from filinglake.ingest.landing import ingest
from filinglake.manifests import read_committed
from filinglake.storage import Storage, clean_key, manifest_key

SEC_DAY = "2026-01-02"
HANDWRITTEN_DAY = "2026-01-05"
HANDWRITTEN_INDEX = b"""Description:           Daily Index of EDGAR Dissemination Feed
Last Data Received:    Jan 5, 2026
Comments:              webmaster@sec.gov
Anonymous FTP:         ftp://ftp.sec.gov/edgar/

CIK|Company Name|Form Type|Date Filed|File Name
--------------------------------------------------------------------------------
320193|Apple Inc.|8-K|20260105|edgar/data/320193/0000320193-26-000001.txt
1000275|ROYAL BANK OF CANADA|424B2|20260105|edgar/data/1000275/0000950103-26-000100.txt
1000275|ROYAL BANK OF CANADA|424B2|20260105|edgar/data/1000275/not-an-accession.txt
"""


class _Page(HTMLParser):
    """Collects the parts of the page the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.series: list[str] = []
        self.bars: dict[str, dict[str, int]] = {}
        self.links: list[str] = []
        self.rows: dict[str, dict[str, list[str]]] = {}  # table class -> source -> cell texts
        self._series: str | None = None
        self._table: str | None = None
        self._row_source: str | None = None
        self._cell: list[str] | None = None
        self.svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.svg += 1
        elif tag == "g" and a.get("class") == "series":
            self._series = a["data-source"]
            self.series.append(self._series)
            self.bars[self._series] = {}
        elif tag == "rect" and self._series and a.get("data-date"):
            self.bars[self._series][a["data-date"]] = int(a["data-count"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "table":
            self._table = a.get("class")
            self.rows.setdefault(self._table, {})
        elif tag == "tr" and a.get("data-source"):
            self._row_source = a["data-source"]
            self.rows[self._table][self._row_source] = []
        elif tag == "td" and self._row_source:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self._series = None
        elif tag == "td" and self._cell is not None and self._row_source:
            self.rows[self._table][self._row_source].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row_source = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def landed(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Storage, Settings, dict]:
    """A storage root with three SEC days and one HKEX day landed by the real pipeline."""
    root = tmp_path_factory.mktemp("report-storage")
    routes = dict(sec_archive_routes(fixtures_dir))
    routes[("GET", "/Archives/edgar/daily-index/2026/QTR1/master.20260105.idx")] = Reply(body=HANDWRITTEN_INDEX)
    routes.update(hkex_fake.hkex_routes(fixtures_dir))
    hk_day = hkex_fake.fixture_days(fixtures_dir)[0][0]
    with ReplayServer(routes) as server:
        settings = (Settings(storage=root.as_uri(), sec_user_agent="filinglake-tests ops@example.com")
                    .with_source("sec_edgar", base_url=server.sec_base_url, rate=10)
                    .with_source("hkex", base_url=server.url, rate=50))
        manifests = {
            ("sec_edgar", SEC_DAY): ingest("sec_edgar", SEC_DAY, settings, validate=True),
            ("sec_edgar", "2018-12-31"): ingest("sec_edgar", "2018-12-31", settings, validate=False),
            ("sec_edgar", HANDWRITTEN_DAY): ingest("sec_edgar", HANDWRITTEN_DAY, settings, validate=False),
            ("hkex", f"{hk_day}-en"): ingest("hkex", f"{hk_day}-en", settings, validate=False),
        }
    return Storage.from_settings(settings), settings, manifests


def test_report_renders_chart_rates_freshness_and_runs(landed, fixtures_dir: Path):
    storage, settings, manifests = landed
    uri = report.write_report(storage, settings, days=30)
    assert uri == storage.uri("reports/index.html")
    text = storage.get_bytes("reports/index.html").decode("utf-8")
    page = parse_page(text)

    # The chart: one SVG, one series per source present, bars = distinct filings per day.
    assert page.svg == 1
    assert sorted(page.series) == ["hkex", "sec_edgar"]
    excerpt = (fixtures_dir / "edgar/daily/master.20260102.excerpt.idx").read_text().splitlines()
    accessions = {line.rsplit("/", 1)[1] for line in excerpt if re.match(r"^\d+\|.*\|20260102\|", line)}
    assert page.bars["sec_edgar"] == {"2026-01-02": len(accessions), "2026-01-05": 2}
    assert len(accessions) == 48  # 50 rows, one accession listed under three CIKs
    hk_day, hk_rows = hkex_fake.fixture_days(fixtures_dir)[0]
    hk_manifest = manifests[("hkex", f"{hk_day}-en")]
    assert page.bars["hkex"] == {hk_day.isoformat(): hk_manifest["rows_written"]}
    assert hk_manifest["rows_in"] == hk_rows
    assert "http://" not in text.split("<body>")[1].split("<h2>Latest alerts")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere: no scripts, no CDN

    # Quarantine rate per source, from the manifests: one broken row in the hand-written SEC day.
    assert manifests[("sec_edgar", HANDWRITTEN_DAY)]["quarantined"] == 1
    sec_in = sum(m["rows_in"] for (s, _), m in manifests.items() if s == "sec_edgar")
    assert sec_in == 50 + 10 + 3
    assert page.rows["quarantine"]["sec_edgar"][-1] == f"{1 / sec_in:.2%}"
    hk_rate = hk_manifest["quarantined"] / hk_manifest["rows_in"]
    assert page.rows["quarantine"]["hkex"][-1] == f"{hk_rate:.2%}"

    # Freshness: latest filing_date and archived_at per source.
    sec_fresh = page.rows["freshness"]["sec_edgar"]
    assert sec_fresh[1] == HANDWRITTEN_DAY
    latest_fetch = max(ref["fetched_at"] for (s, _), m in manifests.items() if s == "sec_edgar" for ref in m["raw"])
    assert sec_fresh[3] == latest_fetch[:19] + "+00:00"
    assert page.rows["freshness"]["hkex"][1] == hk_day.isoformat()

    # The latest runs, linking their manifests and (for the validated one) the validation record and data docs.
    for source, partition in manifests:
        assert f"../manifests/source={source}/partition={partition}.json" in page.links
    docs = f"../validation/source=sec_edgar/partition={SEC_DAY}/data_docs.html"
    assert docs in page.links and f"../validation/source=sec_edgar/partition={SEC_DAY}/gx_result.json" in page.links
    reports_dir = Path(storage.path("reports"))
    assert (reports_dir / docs).resolve().is_file()
    assert not any("partition=2018-12-31/data_docs" in link for link in page.links)  # not validated
    assert "Nothing published yet" in text

    summary = storage.get_json("reports/summary.json")
    assert summary["sources"]["sec_edgar"]["latest_filing_date"] == HANDWRITTEN_DAY
    assert summary["sources"]["sec_edgar"]["filings_per_day"]["2026-01-02"] == 48


def test_report_counts_a_filing_once_across_partitions(landed):
    storage, settings, _ = landed
    # The same rows landed again under another partition (a quarterly refresh would do this).
    again = read_committed(storage, "sec_edgar", SEC_DAY)
    storage.write_parquet(clean_key("sec_edgar", "2026Q1"), again)  # committed in the earlier one-file layout
    storage.put_json(manifest_key("sec_edgar", "2026Q1"), {"source": "sec_edgar", "partition": "2026Q1",
                                                           "outputs": {"clean": clean_key("sec_edgar", "2026Q1")}})
    try:
        data = report.collect(storage, settings, days=30)
        assert data.sources["sec_edgar"].per_day[date(2026, 1, 2)] == 48
        assert data.sources["sec_edgar"].clean_rows == 2 * again.num_rows + 10 + 2
    finally:
        storage.delete(clean_key("sec_edgar", "2026Q1"))
        storage.delete(manifest_key("sec_edgar", "2026Q1"))


def test_report_shows_alerts_after_they_are_raised(landed, tmp_path: Path):
    storage, settings, _ = landed
    rows = read_committed(storage, "sec_edgar", SEC_DAY)
    watchlist = parse_watchlist("entries:\n  - id: rbc\n    name: RBC 424B5\n    ciks: [1000275]\n"
                                "    form_types: [424B5]\n")
    new = record_alerts(storage, settings, watchlist, rows=rows, capture_documents=False)
    assert len(new) == 1
    page_text = storage.get_bytes("reports/index.html").decode() if storage.exists("reports/index.html") else ""
    report.write_report(storage, settings)
    text = storage.get_bytes("reports/index.html").decode()
    assert text != page_text
    assert "Latest alerts (1 in total)" in text and "RBC 424B5" in text and "cik:1000275 &amp; form:424B5" in text
    assert "published/alerts" in text


def test_report_on_an_empty_root(tmp_path: Path):
    settings = dataclasses.replace(Settings(), storage=(tmp_path / "empty").as_uri())
    storage = Storage.from_settings(settings)
    report.write_report(storage, settings)
    text = storage.get_bytes("reports/index.html").decode()
    assert "No clean rows yet" in text and "Nothing published yet" in text and "No alerts yet" in text


class _Exposure(HTMLParser):
    """What a browser could run or fetch from a page: script elements, event handlers, URLs by scheme."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[str] = []
        self.fetched: list[str] = []  # src=… (images, scripts, frames): anything loaded without a click
        self.hrefs: list[str] = []
        self.policy: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            elif name in ("src", "srcset", "data", "action", "formaction"):
                self.fetched.append(value or "")
            elif name in ("href", "xlink:href"):
                self.hrefs.append(value or "")
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy":
            self.policy = dict(attrs).get("content")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE = "<script>alert(5)</script>"


def test_values_from_the_data_are_shown_as_text_and_nothing_runs(fixtures_dir: Path, tmp_path: Path):
    # HKEX serves titles HTML-escaped: title_clean decodes them, so a title can *become* markup.
    import json

    from filinglake.ingest import landing as pipeline

    settings = dataclasses.replace(Settings(), storage=(tmp_path / "lake").as_uri())
    storage = Storage.from_settings(settings)
    day, _ = hkex_fake.fixture_days(fixtures_dir)[0]
    stamp = day.strftime("%d/%m/%Y")
    rows = [r for r in hkex_fake.fixture_rows(fixtures_dir) if r["DATE_TIME"].startswith(stamp)]
    escaped = {**rows[0], "NEWS_ID": "99000001",
               "TITLE": "&lt;script&gt;alert(5)&lt;/script&gt; CONTINUED SUSPENSION&#x3b; AND UPDATE"}
    quarantined = {**rows[0], "NEWS_ID": "99000002", "TITLE": HOSTILE, "FILE_LINK": "javascript:alert(5)"}
    partition = f"{day.isoformat()}-en"
    ctx = pipeline.Context.build("hkex", partition, settings)
    ref = storage.archive_raw("hkex", partition, "titleSearch.json", json.dumps(rows + [escaped, quarantined]).encode(),
                              "https://example.invalid/titleSearch.json")
    manifest = pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})
    assert manifest["quarantined"] == 1
    clean = read_committed(storage, "hkex", partition)
    watchlist = parse_watchlist(f"entries:\n  - id: scripted\n    name: '{HOSTILE} <img src=x onerror=alert(5)>'\n"
                                "    words: [suspension]\n")
    new = record_alerts(storage, settings, watchlist, rows=clean, capture_documents=False)
    shown = next(a for a in new if a["filing_id"] == "hkex:99000001")
    assert shown["title"] == escaped["TITLE"]  # the filed title stays stored
    assert shown["title_clean"] == f"{HOSTILE} CONTINUED SUSPENSION; AND UPDATE"
    # a document URL that is not http(s) (only hand-made rows get past the row checks with one)
    hand_made = clean.filter(pc.equal(clean["native_id"], "99000001")).set_column(
        clean.schema.get_field_index("document_url"), "document_url", pa.array(["javascript:alert(5)"]))
    other = parse_watchlist("entries:\n  - id: linked\n    words: [suspension]\n")
    assert len(record_alerts(storage, settings, other, rows=hand_made, capture_documents=False)) == 1

    report.write_report(storage, settings)
    text = storage.get_bytes("reports/index.html").decode("utf-8")
    page = _Exposure()
    page.feed(text)
    assert page.scripts == 0 and page.handlers == [] and page.fetched == []
    assert [h for h in page.hrefs if not re.match(r"^(\.\./|https?://)", h)] == []  # no javascript: links
    assert page.policy is not None and "script-src 'none'" in page.policy and "default-src 'none'" in page.policy
    visible = "".join(page.text)
    assert f"{HOSTILE} CONTINUED SUSPENSION; AND UPDATE" in visible  # decoded for people, shown as text
    assert f"{HOSTILE} <img src=x onerror=alert(5)>" in visible
    assert "&#x3b;" not in visible


# --- landing deadlines: the same declaration the Airflow deadline alerts read ------------------------


def test_landing_deadline_verdicts_from_manifest_times():
    from datetime import UTC, datetime

    from filinglake.sources import get_source

    now = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # Tuesday 07:00 ET: Monday 5 January's SEC deadline has passed
    sec = report.SourceStats("sec_edgar", landed_at={"2026-01-05": "2026-01-06T04:40:00+00:00",  # 23:40 ET
                                                     "2026-01-02": "2026-01-03T04:40:00+00:00"})
    hkex = report.SourceStats("hkex", landed_at={"2026-01-05-en": "2026-01-05T18:20:00+00:00",  # 02:20 HK
                                                 "2026-01-05-zh": "2026-01-05T21:30:00+00:00"})  # 05:30 HK
    checks = {c.source: c for c in report._landing_checks({"sec_edgar": sec, "hkex": hkex}, now)}
    assert set(checks) == {"sec_edgar", "cninfo", "hkex"}  # every source with a landing_schedule

    assert checks["sec_edgar"].day == date(2026, 1, 5)
    assert checks["sec_edgar"].deadline == get_source("sec_edgar").landing_schedule.deadline_time(date(2026, 1, 5))
    assert checks["sec_edgar"].deadline == datetime(2026, 1, 6, 11, 0, tzinfo=UTC)  # 06:00 EST
    assert checks["sec_edgar"].verdict == "on time"
    # HKEX's day is due by 05:00 Hong Kong: the zh stream landed at 05:30, so the day is late
    assert checks["hkex"].day == date(2026, 1, 5)
    assert checks["hkex"].partitions == ["2026-01-05-en", "2026-01-05-zh"]
    assert checks["hkex"].verdict == "late"
    assert checks["cninfo"].verdict == "missing"

    sec.landed_at["2026-01-05"] = "2026-01-06T11:30:00+00:00"  # 06:30 ET: half an hour late
    assert {c.source: c.verdict for c in report._landing_checks({"sec_edgar": sec}, now)}["sec_edgar"] == "late"
    # on Saturday the latest due SEC day is still Friday (no weekend partitions)
    saturday = datetime(2026, 1, 10, 20, 0, tzinfo=UTC)
    assert {c.source: c.day for c in report._landing_checks({}, saturday)}["sec_edgar"] == date(2026, 1, 9)


def test_report_page_shows_the_landing_deadlines(landed):
    from datetime import UTC, datetime

    storage, settings, _ = landed
    data = report.collect(storage, settings, days=30, now=datetime(2026, 1, 6, 12, 0, tzinfo=UTC))
    rows = parse_page(report.render_html(data)).rows["deadlines"]
    # landed by this test run (long after 6 January 2026): past the deadline
    assert rows["sec_edgar"][2:] == ["2026-01-05", "2026-01-06T06:00-05:00", rows["sec_edgar"][4], "late"]
    assert rows["sec_edgar"][1] == "Mon, Tue, Wed, Thu, Fri; runs 23:30, lands by 06:00 the next day (America/New_York)"
    assert rows["cninfo"][-1] == "missing" and rows["hkex"][-1] == "missing"
    assert data.to_json()["landing"][0]["verdict"] in {"late", "missing", "on time"}
