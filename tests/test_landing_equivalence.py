"""The landing path's fast kernels give exactly what the straightforward implementation gives.

Row checks skip RE2 for regex shapes that plain string kernels decide exactly, share hash counts
between deduplication and the unique rule, and Parquet is written with per-column encodings. None
of that may change a row: here the real 2016 Q3 master index (plus injected duplicates and broken
rows) is landed and compared with a reference written the plain way (Python loops, Python ``re``).
"""

from __future__ import annotations

import gzip
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
from filinglake.sources import sec_edgar
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
    mixed = pa.chunked_array([pa.array(TRICKY + real[: len(real) // 2]), pa.array(real[len(real) // 2 :] + mutated)])
    by_width: dict[int, list[str]] = {}  # chunks of one width each: read as byte matrices
    for value in TRICKY + real + mutated:
        if value is not None:
            by_width.setdefault(len(value.encode()), []).append(value)
    uniform = pa.chunked_array([pa.array(group, pa.string()) for group in by_width.values()])
    for values in (mixed, uniform):
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


def test_streamed_gzip_parse_gives_the_general_paths_rows(fixtures_dir, monkeypatch) -> None:
    # A gzipped pipe index is parsed while it is gunzipped; every variant below must give what the
    # general path (gunzip, newlines, preamble, transcoding) gives, or the same error.
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    text = gzip.decompress(data)
    start = text.index(b"\n", text.index(b"\n-----") + 1) + 1
    head, body = text[:start], text[start : text.index(b"\n", start + 400_000) + 1]
    cut = body.rindex(b"\n", 0, 200_000) + 1
    variants = {
        "real": (data, True),
        "crlf": (gzip.compress((head + body).replace(b"\n", b"\r\n"), mtime=0), False),
        "crlf past the peek": (gzip.compress(head + body[:cut] + body[cut:].replace(b"\n", b"\r\n"), mtime=0), True),
        "cr past the peek": (gzip.compress(head + body[:cut] + body[cut:].replace(b"\n", b"\r"), mtime=0), True),
        "cr lines": (gzip.compress((head + body).replace(b"\n", b"\r"), mtime=0), False),
        "two members": (gzip.compress(head + body[:cut], mtime=0) + gzip.compress(body[cut:], mtime=0), True),
        "latin-1 name": (gzip.compress(head + body.replace(b"|", "|SOCI\xc9T\xc9 ".encode("latin-1"), 1), mtime=0), False),
        "utf-8 name": (gzip.compress(head + body.replace(b"|", "|SOCIÉTÉ ".encode(), 1), mtime=0), False),
        "short last line": (gzip.compress(head + body + b"1234|CUT SHORT", mtime=0), False),
        "double gzip": (gzip.compress(gzip.compress(head + body, mtime=0), mtime=0), False),
        "trailing zeros": (gzip.compress(head + body, mtime=0) + b"\0" * 8, False),
        "truncated": (gzip.compress(head + body, mtime=0)[:-100], False),
        "html": (gzip.compress(b"<html><title>Sorry</title></html>", mtime=0), False),
        "empty body": (gzip.compress(head, mtime=0), False),
    }
    for label, (raw, streams) in variants.items():
        assert (sec_edgar._stream_gzip_pipe(raw, "master.gz") is not None) == streams, label
        outcomes = []
        for general in (False, True):
            with monkeypatch.context() as patch:
                if general:
                    patch.setattr(sec_edgar, "_stream_gzip_pipe", lambda data, name="": None)
                try:
                    table = sec_edgar.parse_index(raw, "master.gz")
                except Exception as exc:  # noqa: BLE001 - the same error either way
                    outcomes.append((type(exc), str(exc)))
                else:
                    outcomes.append((table, [[len(c) for c in col.chunks] for col in table.columns]))
        (fast, fast_chunks), (slow, slow_chunks) = outcomes
        assert fast.equals(slow) if isinstance(fast, pa.Table) else fast == slow, label
        assert fast_chunks == slow_chunks, label


def test_well_formed_accessions_give_the_general_paths_ids(fixtures_dir, monkeypatch) -> None:
    # Filing ids and document URLs of well-formed accessions are built from byte matrices; the
    # general path (replace_substring and a join) must give the same strings in the same chunks
    # (chunks shape the Parquet bytes, and so the content-named file).
    data = gzip.decompress((fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes())
    lines = data.split(b"\n")
    odd = lines[:]
    odd[20] = odd[20].replace(b".txt", b"").replace(b"-", b"", 1) + b"-1.txt"  # 20 bytes, a dash moved
    odd[21] = odd[21].replace(b"-", b"--", 1)  # 21 bytes
    for body in (data, b"\n".join(odd)):
        fast = sec_edgar.parse_index(body, "master.idx")
        with monkeypatch.context() as patch:
            patch.setattr(sec_edgar, "_ids_of_well_formed", lambda accession, cik: None)
            general = sec_edgar.parse_index(body, "master.idx")
        assert fast.equals(general)
        for name in ("filing_id", "document_url"):
            assert [len(c) for c in fast[name].chunks] == [len(c) for c in general[name].chunks]
    cols = sec_edgar._parse_pipe(sec_edgar.split_preamble(b"\n".join(odd))[1])
    accession = sec_edgar._ascii_slice(cols["filename"], -24, -4)
    assert sec_edgar._ids_of_well_formed(accession, cols["cik"]) is None  # the odd rows take the general path


def test_repeated_rows_are_found_whatever_the_chunks(master: pa.Table) -> None:
    # Repeated keys are found through a fingerprint of each value read from the Arrow buffers:
    # it must be the same number for the same value in any chunk (fixed or mixed widths, sliced,
    # large_string), and the rows it reports must be exactly those whose key repeats.
    real = master["native_id"].to_pylist()[::50] + master["issuer_id"].to_pylist()[::50]
    tricky = [v for v in TRICKY if v is not None] + ["x" * 23, "y" * 24, "z" * 25, "q" * 40, "a\x1fb", "a", "\x1fb"]
    values = tricky + real
    one_each = quality._fingerprint(pa.table({"k": pa.array(values)}), ["k"])
    by_value = dict(zip(values, one_each.tolist(), strict=True))
    width20 = [v for v in real if len(v) == 20]
    layouts = [
        pa.chunked_array([pa.array(values[:7]), pa.array(values[7:])]),
        pa.chunked_array([pa.array(width20)]),  # one width: read without a gather
        pa.chunked_array([pa.array(["pad"] + values).slice(1)]),
        pa.chunked_array([pa.array(values, pa.large_string())]),
    ]
    for layout in layouts:
        got = quality._fingerprint(pa.table({"k": layout}), ["k"]).tolist()
        assert got == [by_value[v] for v in layout.to_pylist()]
    assert len(set(by_value.values())) == len(by_value)  # no collisions among these
    # repeated (native_id, issuer_id) pairs in the real quarter plus injected repeats, nulls equal
    rows = master.select(["native_id", "issuer_id"]).to_pylist()
    extra = [rows[5], rows[77], {"native_id": None, "issuer_id": "1"}, {"native_id": None, "issuer_id": "1"},
             {"native_id": "a\x1fb", "issuer_id": "c"}, {"native_id": "a", "issuer_id": "b\x1fc"}]
    table = pa.concat_tables([master.select(["native_id", "issuer_id"]), pa.Table.from_pylist(extra)])
    keys = [(r["native_id"], r["issuer_id"]) for r in table.to_pylist()]
    counts = Counter(keys)
    expected = [i for i, k in enumerate(keys) if counts[k] > 1]
    assert {5, 77, len(keys) - 4, len(keys) - 3} <= set(expected)
    assert quality._repeated_rows(table, ["native_id", "issuer_id"]).to_pylist() == expected


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
