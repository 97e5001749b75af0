"""Row-level data quality: each source declares its rules once; this module executes them.

A :class:`Rule` is data (a name, a kind, columns and parameters). Two executors read the same
list: :func:`check_rows` here (vectorised pyarrow, decides quarantine and names the rules each row
broke) and :mod:`filinglake.ingest.validation` (a Great Expectations suite that is the validation
record). Both treat an empty or blank string as missing, and both let a missing value pass every
rule except ``required`` — that is GX's own convention for column-map expectations, so the two
executors count the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filinglake.schema import CONTENT_COLUMNS, QUARANTINE_SCHEMA

RuleKind = Literal["required", "matches", "in_set", "date_between", "unique"]


@dataclass(frozen=True)
class Rule:
    """One named check on one or more columns of the unified schema."""

    name: str
    kind: RuleKind
    columns: tuple[str, ...]
    pattern: str | None = None
    values: tuple[str, ...] | None = None
    min_date: date | None = None
    max_date: date | None = None
    description: str = ""

    @property
    def column(self) -> str:
        return self.columns[0]


def required(column: str) -> Rule:
    return Rule(f"{column}_present", "required", (column,), description=f"{column} is present and not blank")


def matches(column: str, pattern: str, name: str, description: str = "") -> Rule:
    re.compile(pattern)  # fail at declaration, not at run time
    return Rule(name, "matches", (column,), pattern=pattern, description=description or f"{column} ~ /{pattern}/")


def in_set(column: str, values: list[str] | tuple[str, ...], name: str | None = None) -> Rule:
    return Rule(
        name or f"{column}_known",
        "in_set",
        (column,),
        values=tuple(values),
        description=f"{column} in {sorted(values)}",
    )


def date_between(column: str, min_date: date, max_date: date, name: str | None = None) -> Rule:
    return Rule(
        name or f"{column}_plausible",
        "date_between",
        (column,),
        min_date=min_date,
        max_date=max_date,
        description=f"{min_date} <= {column} <= {max_date}",
    )


def url_on_hosts(column: str, hosts: list[str], name: str | None = None) -> Rule:
    """The URL is absolute http(s) on one of ``hosts`` (exact host names)."""
    alternatives = "|".join(re.escape(h) for h in hosts)
    return matches(
        column,
        rf"^https?://({alternatives})(/|$)",
        name or f"{column}_on_source_host",
        f"{column} is on {', '.join(hosts)}",
    )


def unique(columns: list[str] | tuple[str, ...], name: str = "key_unique") -> Rule:
    return Rule(name, "unique", tuple(columns), description=f"({', '.join(columns)}) is unique after dedup")


# ------------------------------------------------------------------------------------------------
# Vectorised executor
# ------------------------------------------------------------------------------------------------


def _missing(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where the value is null, or an empty/blank string."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        # "empty, or whitespace only" without building trimmed copies: utf8_is_space uses the same
        # whitespace set as utf8_trim_whitespace (checked over every code point) but is False for ""
        blank = pc.or_(pc.utf8_is_space(values), pc.equal(pc.binary_length(values), 0))
        return pc.or_kleene(pc.is_null(values), pc.fill_null(blank, False))
    return pc.is_null(values)


# Regex shapes with an exact equivalent in plain string kernels. RE2 costs ~100 ns a value; the
# kernels below cost a few ns, and check_rows runs each rule on every row of a partition.
_FIXED_SHAPE = re.compile(r"\^((?:\\d(?:\{\d+\})?|[A-Za-z0-9 _:,-])+)\$")
_FIXED_PIECE = re.compile(r"\\d(?:\{(\d+)\})?|([A-Za-z0-9 _:,-]+)")
_DIGIT_RUN = re.compile(r"\^\[1-9\]\\d\{0,(\d+)\}\$")
_URL_HOSTS = re.compile(r"\^https\?://\((.+)\)\(/\|\$\)")


def _fixed_shape_match(col: pa.ChunkedArray, body: str) -> pa.ChunkedArray:
    """``^(\\d{n}|literal)+$``: the exact byte length, ASCII digit runs and literals at their byte offsets.

    Works on bytes (a string slice counts code points, ~3x slower); the pieces cover every byte, so
    a multi-byte character anywhere fails one of them. A chunk whose values all have the shape's
    width is read as a (rows, width) byte matrix instead (~3x cheaper again: no slices).
    """
    low, span = [], []  # per byte of the shape: the allowed range [low, low + span]
    for match in _FIXED_PIECE.finditer(body):
        count, literal = match.groups()
        if literal:
            low += list(literal.encode())
            span += [0] * len(literal)
        else:
            low += [ord("0")] * int(count or 1)
            span += [9] * int(count or 1)
    width = len(low)
    chunks = []
    for chunk in col.chunks:
        rows = _fixed_width_rows(chunk, width)
        if rows is None:
            chunks.append(_fixed_shape_kernels(chunk, body, width))
            continue
        outside = np.greater(rows - np.array(low, np.uint8), np.array(span, np.uint8))  # uint8 wraps below low
        word = next(w for w in (8, 4, 2, 1) if width % w == 0)  # OR the row's flags a word at a time
        flags = outside.view(np.dtype(f"u{word}"))
        bad = flags[:, 0].copy()
        for k in range(1, width // word):
            bad |= flags[:, k]
        chunks.append(pa.array(bad == 0))
    return pa.chunked_array(chunks, pa.bool_())


def _fixed_width_rows(chunk: pa.Array, width: int) -> np.ndarray | None:
    """The chunk's bytes as a (rows, width) matrix when every value is ``width`` bytes, else None."""
    n = len(chunk)
    if n == 0 or width == 0 or not (pa.types.is_string(chunk.type) or pa.types.is_binary(chunk.type)):
        return None
    _, offsets_buffer, data = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, chunk.offset * 4)
    if not (np.diff(offsets) == width).all():
        return None
    return np.frombuffer(data, np.uint8, width * n, int(offsets[0])).reshape(n, width)


def _fixed_shape_kernels(chunk: pa.Array, body: str, width: int) -> pa.Array:
    """:func:`_fixed_shape_match` on one chunk of mixed widths, with slice and compare kernels."""
    raw = chunk.cast(pa.binary())  # zero-copy
    ok = pc.equal(pc.binary_length(raw), width)
    offset = 0
    for match in _FIXED_PIECE.finditer(body):
        count, literal = match.groups()
        piece_width = len(literal) if literal else int(count or 1)
        piece = pc.binary_slice(raw, offset, offset + piece_width)
        if literal:
            check = pc.equal(piece, pa.scalar(literal.encode(), pa.binary()))
        else:  # ascii_is_decimal reads bytes; viewing a slice as string skips a UTF-8 validation it does not need
            check = pc.ascii_is_decimal(piece.view(pa.string()))
        ok = pc.and_(ok, check)
        offset += piece_width
    return ok


def _fast_match(col: pa.ChunkedArray, pattern: str) -> pa.ChunkedArray | None:
    """``match_substring_regex(col, pattern)`` through cheaper kernels, or None for other shapes.

    Nulls may come out as null or False: rule_failures only reads present values.
    """
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    fixed = _FIXED_SHAPE.fullmatch(pattern)
    if fixed:
        return _fixed_shape_match(col, fixed.group(1))
    run = _DIGIT_RUN.fullmatch(pattern)
    if run:  # a number without leading zeros: all ASCII digits, 1..n+1 of them, not starting with 0
        not_zero = pc.invert(pc.starts_with(col, "0"))
        short = pc.less_equal(pc.binary_length(col), int(run.group(1)) + 1)
        return pc.and_(pc.and_(pc.ascii_is_decimal(col), short), not_zero)
    hosts = _URL_HOSTS.fullmatch(pattern)
    if hosts:  # url_on_hosts: "http(s)://<host>" exactly, or followed by "/"
        names = [re.sub(r"\\(.)", r"\1", alt) for alt in hosts.group(1).split("|")]
        if "|".join(re.escape(name) for name in names) != hosts.group(1):
            return None  # not plain escaped host names
        ok = None
        for name in names:
            for scheme in ("https", "http"):
                for prefix, kernel in ((f"{scheme}://{name}/", pc.starts_with), (f"{scheme}://{name}", pc.equal)):
                    hit = kernel(col, prefix)
                    ok = hit if ok is None else pc.or_(ok, hit)
                    if pc.all(ok).as_py() is True:  # every value passes: the other alternatives change nothing
                        return ok
        return ok
    return None


def _matches(col: pa.ChunkedArray, pattern: str) -> pa.ChunkedArray:
    fast = _fast_match(col, pattern)
    return fast if fast is not None else pc.match_substring_regex(col, pattern)


def rule_failures(table: pa.Table, rule: Rule, *, _cache: dict | None = None) -> pa.ChunkedArray | pa.Array:
    """Boolean mask, True where the row breaks ``rule`` (never null).

    ``_cache`` (check_rows) shares work between the rules of one table: missing-value masks per
    column and repeated-key row sets.
    """
    cache = {} if _cache is None else _cache
    if rule.kind == "unique":
        return _duplicate_key_mask(table, rule.columns, cache)
    col = table[rule.column]
    missing = cache.get(("missing", rule.column))
    if missing is None:
        missing = cache[("missing", rule.column)] = _missing(col)
    if rule.kind == "required":
        return missing
    if rule.kind == "matches":
        ok = _matches(col, rule.pattern)
    elif rule.kind == "in_set":
        ok = pc.is_in(col, value_set=pa.array(rule.values, type=col.type))
    elif rule.kind == "date_between":
        lo = pa.scalar(rule.min_date, type=col.type)
        hi = pa.scalar(rule.max_date, type=col.type)
        ok = pc.and_(pc.greater_equal(col, lo), pc.less_equal(col, hi))
    else:  # pragma: no cover - Rule.kind is a Literal
        raise ValueError(f"unknown rule kind {rule.kind!r}")
    return pc.fill_null(pc.and_(pc.invert(missing), pc.invert(pc.fill_null(ok, True))), False)


def _joined_key(table: pa.Table, columns: list[str]) -> pa.ChunkedArray:
    """One string per row standing for its values on ``columns`` (nulls compare equal).

    Each value is prefixed with its byte length, so the joined strings are equal exactly when the
    rows are (a value holding the separator cannot make two different keys look alike).
    """
    parts = []
    for name in columns:
        col = _as_text(table[name])
        if len(columns) > 1:
            parts.append(pc.cast(pc.binary_length(col), pa.string()))
        parts.append(col)
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``col`` as (large) strings with nulls as ``"\x00"``: how key comparisons see a value."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return pc.fill_null(col, "\x00") if col.null_count else col


_MIX = np.uint64(0xC2B2AE3D27D4EB4F)
_SHIFT = np.uint64(29)
#: MASKS[k] keeps the low k bytes of a little-endian word
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
#: fingerprint words read from the start of each value (and one from its end when longer)
_WORDS = 3


def _stir(h: np.ndarray, word: np.ndarray) -> None:
    np.bitwise_xor(h, word, out=h)
    np.multiply(h, _MIX, out=h)
    np.bitwise_xor(h, h >> _SHIFT, out=h)


def _chunk_fingerprint(chunk: pa.Array) -> np.ndarray:
    """uint64 per value from its byte length and up to 32 of its bytes: equal values, equal numbers.

    The same function of the value whatever chunk it sits in: its length, then ``_WORDS`` words
    from its start (zero bytes past its end), then its last 8 bytes when it is longer than those.
    """
    n = len(chunk)
    if n == 0:
        return np.zeros(0, np.uint64)
    offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    _, offsets_buffer, data = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, offset_type, n + 1, chunk.offset * np.dtype(offset_type).itemsize)
    lengths = np.diff(offsets)
    h = lengths.astype(np.uint64)
    shortest, longest = int(lengths.min()), int(lengths.max())
    zero = np.uint64(0)
    if longest == 0:
        for _ in range(_WORDS + 1):
            _stir(h, zero)
        return h
    base, end = int(offsets[0]), int(offsets[-1])
    if shortest == longest >= 8:
        # every value has the same width: its words are strided views of the data, no gather
        width = longest

        def at(position: int) -> np.ndarray:
            return np.ndarray((n,), "<u8", buffer=data, offset=base + position, strides=(width,))

        for k in range(_WORDS):
            if 8 * k + 8 <= width:
                _stir(h, at(8 * k))
            elif 8 * k < width:  # the value's last bytes: the word ending at its end, shifted down
                _stir(h, at(width - 8) >> np.uint64(8 * (8 * k + 8 - width)))
            else:
                _stir(h, zero)
        _stir(h, at(width - 8) if width > 8 * _WORDS else zero)
        return h
    padded = np.zeros(end - base + 8 * (_WORDS + 1), np.uint8)  # words past the last value read zeros
    padded[: end - base] = np.frombuffer(data, np.uint8, end - base, base)
    words = np.ndarray((len(padded) - 7,), "<u8", buffer=padded, strides=(1,))
    starts = (offsets[:-1] - base).astype(np.int64)
    for k in range(_WORDS):
        if 8 * k >= longest:
            _stir(h, zero)
            continue
        word = words[starts + 8 * k]
        if shortest < 8 * (k + 1):  # bytes past a value's end belong to the next one
            word &= _MASKS[np.clip(lengths - 8 * k, 0, 8)]
        _stir(h, word)
    if longest > 8 * _WORDS:
        word = words[np.maximum(starts + lengths - 8, 0)]
        word *= lengths > 8 * _WORDS
        _stir(h, word)
    else:
        _stir(h, zero)
    return h


def _fingerprint(table: pa.Table, columns: list[str]) -> np.ndarray:
    """uint64 per row, equal for rows equal on ``columns`` (different rows rarely collide)."""
    h = np.zeros(table.num_rows, np.uint64)
    for name in columns:
        chunks = [c for c in _as_text(table[name]).chunks if len(c)]
        if chunks:
            _stir(h, np.concatenate([_chunk_fingerprint(c) for c in chunks]))
    return h


def _repeated_rows(table: pa.Table, columns: list[str], cache: dict | None = None) -> pa.Array:
    """Indices of rows whose values on ``columns`` occur more than once, ascending.

    Hashing a quarter's strings (``value_counts``) costs ~150 ns a row, ~300 ns on a 4x quarter
    whose hash table outgrows the caches. A 64-bit fingerprint of each row, sorted, finds the few
    rows that can repeat for ~20 ns a row; only those are then compared exactly.
    ``cache`` remembers the answer per (table, columns): deduplication and the unique rule ask the
    same question of the same table.
    """
    slot = ("repeated", id(table), tuple(columns))
    if cache is not None and slot in cache:
        return cache[slot][1]
    fingerprints = _fingerprint(table, columns)
    ordered = np.sort(fingerprints)
    twins = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if len(twins) == 0:
        rows = pa.array([], pa.int64())
    else:
        candidates = pc.cast(pc.indices_nonzero(pc.is_in(pa.array(fingerprints), value_set=pa.array(twins))),
                             pa.int64())
        key = _joined_key(_rows_at(table.select(list(columns)), candidates), columns)
        counts = pc.value_counts(key)
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        rows = pc.filter(candidates, pc.is_in(key, value_set=repeated))
    if cache is not None:
        cache[slot] = (table, rows)  # holding the table keeps its id from being reused
    return rows


def _flag_rows(n: int, rows: pa.Array) -> pa.Array:
    """Boolean mask of length ``n``, True at the (distinct) indices ``rows``.

    A scatter; ``is_in(range(n), rows)`` spent ~35 ms per 200k rows building range(n) in Python.
    """
    if len(rows) == 0:
        return pa.repeat(pa.scalar(False), n)
    return pc.fill_null(pc.scatter(pa.repeat(pa.scalar(True), len(rows)), rows, max_index=n - 1), False)


def _rows_at(table: pa.Table, rows: pa.Array) -> pa.Table:
    """The rows at the ascending indices ``rows``, in order.

    A filter, not a take: take concatenates every chunk of a string column first (~5 ms per call
    on a quarter for a handful of rows).
    """
    return table.filter(_flag_rows(table.num_rows, rows))


def _duplicate_key_mask(table: pa.Table, columns: tuple[str, ...], cache: dict | None = None) -> pa.Array:
    """True for every row whose key appears more than once (all members of the group, like GX).

    Rows unique on the first two key columns are unique on the whole key, so the full key is only
    compared among those candidates: on real indexes that is a handful of rows.
    """
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.bool_())
    candidates = _repeated_rows(table, list(columns[:2]), cache) if len(columns) > 2 else None
    if candidates is not None:
        if len(candidates) == 0:
            return pa.repeat(pa.scalar(False), n)
        inner = _repeated_rows(_rows_at(table.select(list(columns)), candidates), list(columns))
        flagged = pc.take(candidates, inner)
    else:
        flagged = _repeated_rows(table, list(columns), cache)
    return _flag_rows(n, flagged)


@dataclass
class CheckResult:
    """Outcome of deduplicating and checking one partition's rows."""

    clean: pa.Table
    quarantine: pa.Table
    rows_in: int
    duplicates: int
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return self.clean.num_rows

    @property
    def quarantined(self) -> int:
        return self.quarantine.num_rows

    def counts(self) -> dict[str, int]:
        return {
            "rows_in": self.rows_in,
            "rows_written": self.rows_written,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
        }


def drop_exact_duplicates(
    table: pa.Table, key: tuple[str, str] = ("filing_id", "issuer_id"), _cache: dict | None = None
) -> tuple[pa.Table, int]:
    """Keep the first of rows equal on every content column; return (kept rows, how many dropped).

    Lineage columns (raw_key, archived_at) are not compared: the same row seen on two pages of
    one fetch is still one row. Only rows sharing ``key`` (two content columns) can be exact
    duplicates, so the wide comparison runs on those alone.
    """
    if table.num_rows == 0:
        return table, 0
    cols = [c for c in CONTENT_COLUMNS if c in table.column_names]
    candidates = _repeated_rows(table, list(key), _cache)
    if len(candidates) == 0:
        return table, 0
    subset = _rows_at(table.select(cols), candidates).append_column("__row", candidates)
    # group_by treats nulls as equal keys, which is what "exact duplicate" means here.
    firsts = subset.group_by(cols, use_threads=False).aggregate([("__row", "min")])["__row_min"]
    drop = pc.filter(candidates, pc.invert(pc.is_in(candidates, value_set=firsts)))
    if len(drop) == 0:
        return table, 0
    return table.filter(pc.invert(_flag_rows(table.num_rows, drop))), len(drop)


def _dedup_key(table: pa.Table, rules: list[Rule]) -> tuple[str, str]:
    """The candidate key for exact duplicates: a unique rule's first two columns when they are content
    columns (any two content columns will do; sharing them lets the rule reuse the hash count)."""
    for rule in rules:
        if (rule.kind == "unique" and len(rule.columns) > 2
                and all(c in CONTENT_COLUMNS and c in table.column_names for c in rule.columns[:2])):
            return rule.columns[0], rule.columns[1]
    return "filing_id", "issuer_id"


def check_rows(table: pa.Table, rules: list[Rule]) -> CheckResult:
    """Deduplicate, run every rule, split into clean rows and quarantined rows with reasons."""
    rows_in = table.num_rows
    cache: dict = {}
    deduped, duplicates = drop_exact_duplicates(table, _dedup_key(table, rules), cache)
    masks = [(rule.name, rule_failures(deduped, rule, _cache=cache)) for rule in rules]
    cache.clear()
    failures = {name: int(pc.sum(mask).as_py() or 0) for name, mask in masks}
    if not any(failures.values()):
        # nothing to quarantine: keep the table as it is instead of filtering it into a copy
        quarantine = deduped.slice(0, 0).append_column("failed_checks", pa.array([], pa.list_(pa.string())))
        quarantine = quarantine.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA)
        return CheckResult(deduped, quarantine, rows_in, duplicates, failures)
    any_fail = pa.repeat(pa.scalar(False), deduped.num_rows)
    for _, mask in masks:
        any_fail = pc.or_(any_fail, mask)
    clean = deduped.filter(pc.invert(any_fail))
    bad = deduped.filter(any_fail)
    reasons: list[list[str]] = [[] for _ in range(bad.num_rows)]
    for name, mask in masks:
        flags = pc.filter(mask, any_fail).to_pylist()
        for i, flag in enumerate(flags):
            if flag:
                reasons[i].append(name)
    quarantine = bad.append_column("failed_checks", pa.array(reasons, pa.list_(pa.string())))
    quarantine = quarantine.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA)
    return CheckResult(
        clean=clean,
        quarantine=quarantine,
        rows_in=rows_in,
        duplicates=duplicates,
        failures=failures,
    )
