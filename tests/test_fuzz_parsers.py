"""Parsers never raise on source data: seeded mutants of every captured fixture type through ``filinglake parse``.

Each mutant of a real captured file (byte flips, cuts, inserted garbage, NUL bytes, invalid UTF-8,
and for JSON: wrong types, huge numbers, deep nesting, impossible dates) is parsed by the CLI
in-process. Every run must exit 0 or 2, print no traceback, and when it exits 0 its counts must add
up: rows_in = rows_written + duplicates + quarantined. ``random`` is seeded per fixture, so a failure
names a mutant that can be reproduced exactly.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from filinglake.cli.app import main as cli_main
from filinglake.errors import BadResponse
from filinglake.sources.cninfo_stocks import parse_stock_list

MUTANTS_PER_BASE = 24
#: data lines kept from the large index fixtures (the mutations act on the header and the rows alike)
INDEX_LINES = 300
HKEX_ROWS = 40


@dataclass(frozen=True)
class Base:
    """One fixture type: a real captured file (or a slice of it), how it is named, and its source."""

    name: str
    source: str
    file_name: str
    data: bytes
    is_json: bool = False


def _index_excerpt(data: bytes) -> bytes:
    """The header and the first INDEX_LINES data lines of an index file, newlines as served."""
    newline = b"\r\n" if b"\r\n" in data[:4096] else (b"\r" if b"\n" not in data[:4096] else b"\n")
    lines = data.split(newline)
    dashes = next(i for i, line in enumerate(lines) if line.startswith(b"-----"))
    return newline.join(lines[: dashes + 1 + INDEX_LINES]) + newline


def bases(fixtures: Path) -> list[Base]:
    edgar = fixtures / "edgar"
    read = lambda relative: (edgar / relative).read_bytes()  # noqa: E731 - local shorthand
    daily_master = read("daily/master.20181231.excerpt.idx")
    hkex_rows = json.loads((fixtures / "hkex/titleSearch_result_parsed_00007_sunkken.json").read_bytes())[:HKEX_ROWS]
    envelope = {"result": json.dumps(hkex_rows, ensure_ascii=False), "hasNextRow": False,
                "recordCnt": len(hkex_rows), "loadedRecord": len(hkex_rows), "lang": "E"}
    stock_list = json.loads((fixtures / "cninfo/szse_stock_201601_CloudDataX.json").read_bytes())
    stock_list["stockList"] = stock_list["stockList"][:60]
    return [
        Base("sec-master-daily", "sec_edgar", "master.20181231.idx", daily_master),
        Base("sec-master-quarterly", "sec_edgar", "master.idx", read("full-index/1993/QTR4/master.idx")),
        Base("sec-form", "sec_edgar", "form.20200318.idx", _index_excerpt(read("daily/form.20200318.idx"))),
        Base("sec-company", "sec_edgar", "company.20221003.idx", _index_excerpt(read("daily/company.20221003.idx"))),
        Base("sec-xbrl-crlf", "sec_edgar", "xbrl.idx", _index_excerpt(read("full-index/2015/QTR4/xbrl.idx"))),
        Base("sec-xbrl-cr", "sec_edgar", "xbrl.idx",
             _index_excerpt(read("full-index/2014/QTR4/xbrl.partial-20141106.CR-line-endings.idx"))),
        Base("sec-master-gz", "sec_edgar", "master.20181231.idx.gz", gzip.compress(daily_master, mtime=0)),
        Base("sec-quarterly-gz", "sec_edgar", "master.gz",
             gzip.compress(_index_excerpt(gzip.decompress(read("full-index/2016/QTR3/master.gz"))), mtime=0)),
        Base("cninfo-query", "cninfo", "query.json",
             (fixtures / "cninfo/hisAnnouncement_query_000001_page4-of-98_2016-01_CloudDataX.json").read_bytes(),
             is_json=True),
        Base("cninfo-stock-list", "cninfo", "szse_stock.json", json.dumps(stock_list, ensure_ascii=False).encode(),
             is_json=True),
        Base("hkex-bare-rows", "hkex", "rows.json", json.dumps(hkex_rows, ensure_ascii=False).encode(), is_json=True),
        Base("hkex-envelope", "hkex", "titleSearch.json", json.dumps(envelope, ensure_ascii=False).encode(),
             is_json=True),
    ]


# ------------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------------

ODD_VALUES: list[object] = [
    None, True, 0, -1, 10**30, -(10**30), 1e308, "", " ", "\x00", "01/01/0001 00:00", "31/12/9999 23:59",
    "99/99/9999 99:99", [], {}, [1, 2], {"a": None}, "\ud800", "<br/><br/>", "../../etc/passwd",
    "https://evil.example/x", "9" * 400, -9_999_999_999_999_999,
]


def _flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _cut(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _insert(rng: random.Random, data: bytes, junk: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + junk + data[i:]


def _garbage(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))))


def _nul(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, b"\x00" * rng.randint(1, 8))


def _invalid_utf8(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]))


def _json_paths(node: object, path: tuple = ()) -> list[tuple]:
    paths = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            paths.extend(_json_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node[:5]):
            paths.extend(_json_paths(value, (*path, i)))
    return paths


def _replace_at(node: object, path: tuple, value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace_at(node[head], rest, value)}
    copy = list(node)  # type: ignore[arg-type]
    copy[head] = _replace_at(copy[head], rest, value)
    return copy


def _decoded(data: bytes) -> object:
    """The JSON inside a fixture, with the HKEX envelope's string ``result`` decoded so its rows are mutated too."""
    payload = json.loads(data)
    if isinstance(payload, dict) and isinstance(payload.get("result"), str):
        payload = {**payload, "result": json.loads(payload["result"])}
    return payload


def _encoded(payload: object, like: bytes) -> bytes:
    original = json.loads(like)
    if isinstance(original, dict) and isinstance(original.get("result"), str) and isinstance(payload, dict):
        payload = {**payload, "result": json.dumps(payload.get("result"), ensure_ascii=False)}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _wrong_type(rng: random.Random, data: bytes) -> bytes:
    payload = _decoded(data)
    path = rng.choice(_json_paths(payload))
    return _encoded(_replace_at(payload, path, rng.choice(ODD_VALUES)), data)


def _deep_nesting(rng: random.Random, data: bytes) -> bytes:
    payload = _decoded(data)
    path = rng.choice(_json_paths(payload))
    marker = "__DEEP__"
    text = _encoded(_replace_at(payload, path, marker), data).decode("utf-8", "surrogatepass")
    depth = rng.choice([500, 5_000, 100_000])
    deep = "[" * depth + "1" + "]" * depth
    # inside the HKEX envelope's string the marker is escaped JSON text: nest there as text, too
    text = text.replace(json.dumps(marker), deep, 1) if json.dumps(marker) in text else text.replace(
        json.dumps(marker)[1:-1].join(['\\"', '\\"']), deep, 1)
    return text.encode("utf-8", "surrogatepass")


def _bad_dates(rng: random.Random, data: bytes) -> bytes:
    payload = _decoded(data)
    value = rng.choice(["01/01/0001 00:00", "31/12/9999 23:59", "29/02/2023 10:00", -(10**16), 10**16, 253402300800000])
    key = rng.choice(["DATE_TIME", "announcementTime"])
    paths = [p for p in _json_paths(payload) if p and p[-1] == key]
    if not paths:
        return _wrong_type(rng, data)
    return _encoded(_replace_at(payload, rng.choice(paths), value), data)


BYTE_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [_flip, _cut, _garbage, _nul, _invalid_utf8]
JSON_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [_wrong_type, _deep_nesting, _bad_dates]


def _gz_inner(mutation: Callable[[random.Random, bytes], bytes]) -> Callable[[random.Random, bytes], bytes]:
    """Mutate the text inside a gzip file and compress it again (gets past the gzip check)."""
    def mutate(rng: random.Random, data: bytes) -> bytes:
        return gzip.compress(mutation(rng, gzip.decompress(data)), mtime=0)
    mutate.__name__ = f"gz({mutation.__name__})"
    return mutate


def mutations_for(base: Base) -> list[Callable[[random.Random, bytes], bytes]]:
    if base.is_json:
        return BYTE_MUTATIONS + JSON_MUTATIONS * 2
    if base.file_name.endswith("gz"):
        return BYTE_MUTATIONS + [_gz_inner(m) for m in BYTE_MUTATIONS]
    return BYTE_MUTATIONS


# ------------------------------------------------------------------------------------------------
# The runs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base_name", [
    "sec-master-daily", "sec-master-quarterly", "sec-form", "sec-company", "sec-xbrl-crlf", "sec-xbrl-cr",
    "sec-master-gz", "sec-quarterly-gz", "cninfo-query", "cninfo-stock-list", "hkex-bare-rows", "hkex-envelope",
])
def test_parse_command_survives_mutants(base_name: str, fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    base = next(b for b in bases(fixtures_dir) if b.name == base_name)
    rng = random.Random(f"filinglake-fuzz-{base.name}")
    kinds = mutations_for(base)
    problems: list[str] = []
    exits = {0: 0, 2: 0}
    for number in range(MUTANTS_PER_BASE):
        mutate = kinds[number % len(kinds)]
        mutant = mutate(rng, base.data)
        path = tmp_path / f"{number:03d}-{base.file_name}"
        path.write_bytes(mutant)
        label = f"{base.name} mutant {number} ({mutate.__name__}, {len(mutant)} bytes)"
        try:
            code = cli_main(["parse", "--source", base.source, str(path), "--output", str(tmp_path / f"out{number}")])
        except BaseException as exc:  # noqa: BLE001 - any escape is the finding
            capsys.readouterr()
            problems.append(f"{label}: raised {type(exc).__name__}: {str(exc)[:200]}")
            continue
        out, err = capsys.readouterr()
        if "Traceback" in err:
            problems.append(f"{label}: traceback on stderr: {err[-300:]}")
        if code not in (0, 2):
            problems.append(f"{label}: exit code {code}")
            continue
        exits[code] += 1
        if code == 2:
            errors = [line for line in err.splitlines() if line.startswith("filinglake: error:")]
            if len(errors) != 1:
                problems.append(f"{label}: exit 2 without exactly one error line: {err[-300:]!r}")
            continue
        summary = json.loads(out.strip().splitlines()[-1])
        if summary["rows_in"] != summary["rows_written"] + summary["duplicates"] + summary["quarantined"]:
            problems.append(f"{label}: counts do not add up: {summary}")
    assert not problems, "\n".join(problems[:10])
    assert sum(exits.values()) == MUTANTS_PER_BASE


def test_stock_list_parser_raises_only_bad_response(fixtures_dir: Path) -> None:
    """The stock list is not a ``parse`` source: its own parser gets the same mutants directly."""
    base = next(b for b in bases(fixtures_dir) if b.name == "cninfo-stock-list")
    rng = random.Random("filinglake-fuzz-stock-list-direct")
    kinds = mutations_for(base)
    refused = 0
    for number in range(MUTANTS_PER_BASE):
        mutant = kinds[number % len(kinds)](rng, base.data)
        try:
            parse_stock_list(mutant)  # a harmless mutant may parse; any exception but BadResponse fails the test
        except BadResponse as exc:
            assert "\n" not in str(exc)
            refused += 1
    assert refused >= 1  # the deep-nesting mutants at least


def test_hkex_impossible_date_is_quarantined(fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    """``01/01/0001 00:00`` is Hong Kong time before year 1 in UTC: a quarantined row, not an OverflowError."""
    rows = json.loads((fixtures_dir / "hkex/titleSearch_result_parsed_00007_sunkken.json").read_bytes())[:3]
    rows[1] = {**rows[1], "DATE_TIME": "01/01/0001 00:00"}
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    assert cli_main(["parse", "--source", "hkex", str(path), "--output", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["rows_in"], summary["quarantined"]) == (3, 1)
    assert summary["failures"]["filing_date_present"] == 1 and summary["failures"]["filed_at_present"] == 1


@pytest.mark.parametrize("source", ["cninfo", "hkex"])
def test_deeply_nested_json_is_one_error_line(source: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert cli_main(["parse", "--source", source, str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("filinglake: error:")]
    assert "nested" in line
