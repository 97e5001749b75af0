"""The landing path's fast kernels give exactly what the straightforward implementation gives.

Row checks skip RE2 for regex shapes that plain string kernels decide exactly, share hash counts
between deduplication and the unique rule, and Parquet is written with per-column encodings. None
of that may change a row: here the real 2016 Q3 master index (plus injected duplicates and broken
rows) is landed and compared with a reference written the plain way (Python loops, Python ``re``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from filinglake import manifests
from filinglake.ingest import row_checks as quality
from filinglake.ingest.landing import with_lineage
from filinglake.schema import CONTENT_COLUMNS, FILINGS_SCHEMA, QUARANTINE_SCHEMA
from filinglake.sources.sec_edgar import ACCESSION_PATTERN, SecEdgar
from filinglake.storage import Storage

PATTERNS = [
    ACCESSION_PATTERN,
    r"^[1-9]\d{0,9}$",
    r"^[1-9]\d{0,2}$",
    r"^\d{4}-\d{2}-\d{2}$",
    r"^AB\d{3}:x$",
    quality.url_on_hosts("u", ["www.sec.gov"]).pattern,
    quality.url_on_hosts("u", ["a.example.com", "b-c.example.org"]).pattern,
]

TRICKY = [
    None, "", " ", "0", "1", "01", "10", "1234567890", "12345678901", "0123456789", "１２", "١٢٣", "12\n", "\n12",
    "0001021408-01-503754", "0001021408-01-50375", "0001021408-01-5037544", "000102140801-503754-",
    "0001021408-01-50375a", "000102140８-01-503754", "0001021408-01-503754\n", "0001021408—01-503754",
    "2016-07-01", "2016-7-01", "AB123:x", "ab123:x", "AB12:x", "AB1234:x", "AB١٢٣:x", "AB123:xé",
    "https://www.sec.gov", "http://www.sec.gov", "https://www.sec.gov/", "https://www.sec.gov/Archives/x",
    "https://www.sec.gov.evil.net/", "https://www.sec.gov\n", "https://wwwXsec.gov/", "HTTPS://www.sec.gov/",
    "ftp://www.sec.gov/", " https://www.sec.gov/", "https://a.example.com", "https://b-c.example.org/x",
    "https://bXc.example.org/", "https://a.example.com:443/", "é", "\x00", "1\x001",
]


@pytest.fixture(scope="module")
def master(fixtures_dir) -> pa.Table:
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    return with_lineage(SecEdgar().parse(data, "master.gz"), "raw/test", datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fast_kernels_agree_with_the_regex(pattern: str, master: pa.Table) -> None:
    real = [v for name in ("native_id", "issuer_id", "document_url") for v in master[name].to_pylist()[::97]]
    mutated = [v[:-1] for v in real] + [v + "0" for v in real] + ["x" + v[1:] for v in real if v]
    values = pa.chunked_array([pa.array(TRICKY + real[: len(real) // 2]), pa.array(real[len(real) // 2 :] + mutated)])
    fast = quality._fast_match(values, pattern)
    assert fast is not None, "this shape has a fast path"
    expected = pc.match_substring_regex(values, pattern)
    # nulls never reach a verdict (rule_failures lets missing values pass), so compare present values
    present = pc.is_valid(values)
    assert pc.filter(pc.fill_null(fast, False), present).equals(pc.filter(expected, present))


def test_other_shapes_keep_the_regex() -> None:
    values = pa.chunked_array([pa.array(["12", "a"])])
    for pattern in (r"^\d+$", r"^\d{2,3}$", r"^a.b$", r"^https?://(a|b.*)(/|$)", r"^[1-9]\d*$"):
        assert quality._fast_match(values, pattern) is None


def _reference(table: pa.Table, rules: list[quality.Rule]) -> tuple[pa.Table, pa.Table, int]:
    """check_rows the plain way: first of exact duplicates kept, every rule row by row."""
    seen: set = set()
    kept, duplicates = [], 0
    for row in table.to_pylist():
        content = tuple(row[c] for c in CONTENT_COLUMNS)
        if content in seen:
            duplicates += 1
            continue
        seen.add(content)
        kept.append(row)

    def missing(value: object) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    keys = {r.name: Counter(tuple(row[c] for c in r.columns) for row in kept) for r in rules if r.kind == "unique"}
    clean, quarantine = [], []
    for row in kept:
        failed = []
        for rule in rules:
            value = row[rule.column]
            if rule.kind == "required":
                bad = missing(value)
            elif rule.kind == "unique":
                bad = keys[rule.name][tuple(row[c] for c in rule.columns)] > 1
            elif missing(value):
                bad = False
            elif rule.kind == "matches":  # RE2 semantics: ASCII \d, $ only at the very end
                bad = re.search(rule.pattern.replace("$", r"\Z"), value, re.ASCII) is None
            elif rule.kind == "in_set":
                bad = value not in rule.values
            else:
                bad = not (rule.min_date <= value <= rule.max_date)
            if bad:
                failed.append(rule.name)
        (quarantine if failed else clean).append({**row, "failed_checks": failed} if failed else row)
    return (pa.Table.from_pylist(clean, FILINGS_SCHEMA), pa.Table.from_pylist(quarantine, QUARANTINE_SCHEMA),
            duplicates)


def test_real_quarter_lands_the_reference_rows(master: pa.Table, tmp_path) -> None:
    # Real rows plus what a bad response brings: exact duplicates, a key repeated with other
    # content, broken accessions, CIKs and URLs; a daily partition's rules put the later days
    # of the quarter in quarantine.
    head = master.slice(0, 300).to_pylist()
    broken = [
        {**head[0], "company_name": head[0]["company_name"] + " (amended)"},
        {**head[1], "native_id": "0001021408-01-50375"},
        {**head[2], "issuer_id": "0123"},
        {**head[3], "document_url": "https://www.sec.gov.evil.net/x"},
        {**head[4], "native_id": "  "},
    ]
    table = pa.concat_tables([master, master.slice(1000, 50), pa.Table.from_pylist(broken, FILINGS_SCHEMA)])
    source = SecEdgar()
    rules = source.rules(source.partition("2016-08-15"))
    result = quality.check_rows(table, rules)
    clean, quarantine, duplicates = _reference(table, rules)
    assert result.duplicates == duplicates == 50
    assert 0 < quarantine.num_rows < clean.num_rows
    assert result.clean.cast(FILINGS_SCHEMA).equals(clean)
    assert result.quarantine.equals(quarantine)
    # and the landed Parquet files hold the same rows, schema included
    storage = Storage(tmp_path.as_uri())
    for layer, expected in (("clean", clean), ("quarantine", quarantine)):
        rows = result.clean.cast(FILINGS_SCHEMA) if layer == "clean" else result.quarantine
        entry = manifests.write_data_file(storage, "sec_edgar", "2016-08-15", layer, rows)
        landed = storage.read_parquet(entry["key"])
        assert landed.schema == expected.schema
        assert landed.equals(expected)
        # the report reads filing_date and archived_at bounds from the statistics, not the rows
        meta = pq.read_metadata(storage.path(entry["key"])).row_group(0)
        stats = {meta.column(i).path_in_schema: meta.column(i).statistics for i in range(meta.num_columns)}
        for column in ("filing_date", "archived_at"):
            assert (stats[column].min, stats[column].max) == (pc.min(expected[column]).as_py(),
                                                              pc.max(expected[column]).as_py())


def test_archived_gzip_reads_back_as_archived(fixtures_dir, tmp_path) -> None:
    # a raw key ending in .gz is returned as stored (pyarrow would gunzip it by its name)
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    storage = Storage(tmp_path.as_uri())
    ref = storage.archive_raw("sec_edgar", "2016Q3", "master.gz", data, "https://www.sec.gov/master.gz")
    assert ref.key.endswith(".gz")
    stored = storage.get_bytes(ref.key)
    assert stored == data
    assert hashlib.sha256(stored).hexdigest() == ref.sha256
