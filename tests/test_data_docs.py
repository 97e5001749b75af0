"""The data-docs page of a partition is safe to open: values from the data are text, never markup,
and the page loads nothing from another host (it works offline).

Input: the real HKEXnews rows of the busiest fixture day (2012-11-14, stock 00007) plus copies of
one of them carrying hostile values, which the row checks quarantine. The written page is parsed
with ``html.parser``, as a browser would tokenise it.
"""

from __future__ import annotations

import json
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from support.landed_partition import land_rows

from filinglake.ingest.validation import validate_partition
from filinglake.sources.hkex import Hkex
from filinglake.storage import Storage

SOURCE = "hkex"
DAY = date(2012, 11, 14)
PARTITION = f"{DAY.isoformat()}-en"
FIXTURE = "hkex/titleSearch_result_parsed_00007_sunkken.json"

SCRIPT_TITLE = "<script>alert(5)</script>"
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(1)>'
HOSTILE_URL = "https://evil.example/x.pdf'><script src=https://evil.example/a.js></script>"


class PageTokens(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _hostile_rows(day_rows: pa.Table) -> pa.Table:
    """Copies of the day's first real row, each with its own NEWS_ID and one hostile value (or two)."""
    first = day_rows.slice(0, 1).to_pylist()[0]
    faults = [
        # a script title on a row quarantined for its stock code, which breaks out of an attribute
        {"title": SCRIPT_TITLE, "title_clean": SCRIPT_TITLE, "issuer_id": ATTRIBUTE_BREAKER},
        # a script title on a row quarantined for its document URL (another host, markup inside)
        {"title": SCRIPT_TITLE, "title_clean": SCRIPT_TITLE, "document_url": HOSTILE_URL},
    ]
    rows = []
    for i, fault in enumerate(faults):
        native_id = f"9900000{i}"
        rows.append({**first, "native_id": native_id, "filing_id": f"hkex:{native_id}", **fault})
    return pa.Table.from_pylist(rows, schema=day_rows.schema)


@pytest.fixture
def hostile_partition(tmp_path, fixtures_dir: Path) -> tuple[Storage, dict]:
    source = Hkex()
    parsed = source.parse((fixtures_dir / FIXTURE).read_bytes(), "titleSearch.json")
    day_rows = parsed.filter(pc.equal(parsed["filing_date"], pa.scalar(DAY)))
    assert day_rows.num_rows == 7  # the busiest fixture day
    storage = Storage(f"file://{tmp_path}")
    rules = source.rules(source.partition(PARTITION))
    manifest = land_rows(storage, SOURCE, PARTITION, pa.concat_tables([day_rows, _hostile_rows(day_rows)]), rules)
    assert (manifest["rows_written"], manifest["quarantined"]) == (7, 2)
    assert manifest["failures"]["stock_code_5_digits"] == 1
    assert manifest["failures"]["document_url_on_source_host"] == 1
    report = validate_partition(storage, SOURCE, PARTITION, rules)
    assert report.success, report.mismatches
    return storage, {"report": report, "manifest": manifest}


def _page(storage: Storage, key: str) -> PageTokens:
    tokens = PageTokens()
    tokens.feed(storage.get_bytes(key).decode("utf-8"))
    tokens.close()
    return tokens


def test_data_docs_page_escapes_values_and_runs_no_script(hostile_partition):
    storage, landed = hostile_partition
    page = _page(storage, landed["report"].data_docs_key)

    names = [tag for tag, _ in page.tags]
    assert "script" not in names
    assert "img" not in names and "iframe" not in names and "object" not in names
    handlers = [(tag, name) for tag, attrs in page.tags for name in attrs if name.lower().startswith("on")]
    assert handlers == []
    text = "".join(page.text)
    # the hostile values are there, as text a reader can see
    assert SCRIPT_TITLE in text
    assert ATTRIBUTE_BREAKER in text
    assert HOSTILE_URL in text


def test_data_docs_page_loads_nothing_from_another_host(hostile_partition):
    storage, landed = hostile_partition
    page = _page(storage, landed["report"].data_docs_key)

    fetched = [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href", "srcset", "data", "action", "poster") and value
    ]
    remote = [f for f in fetched if f[2].strip().lower().startswith(("http:", "https:", "//"))]
    assert remote == []
    assert not [attrs for tag, attrs in page.tags if tag == "link" and "stylesheet" in (attrs.get("rel") or "")]
    # the page says what it is about without any third-party renderer
    text = " ".join(" ".join(page.text).split())
    assert f"{SOURCE} {PARTITION}" in text
    assert "stock_code_5_digits" in text and "document_url_on_source_host" in text


def test_data_docs_page_matches_the_stored_record(hostile_partition):
    storage, landed = hostile_partition
    report = landed["report"]
    record = json.loads(storage.get_bytes(report.key))
    text = " ".join(" ".join(_page(storage, report.data_docs_key).text).split())

    assert record["data_docs_key"] == report.data_docs_key
    for rule, entry in record["per_rule"].items():
        assert f"{rule} {entry['gx_unexpected']} {entry['row_checks']}" in text
