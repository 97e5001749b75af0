"""Matching a watchlist against filings, column by column with pyarrow (no Python loop over rows).

Rows are published-shape (or clean) filings; each :class:`~filinglake.alerts.watchlist.WatchEntry`
becomes one boolean mask per criterion:

* ``tickers``: the ``ticker`` column, case-insensitive (``002236.SZ``, ``0700.HK``);
* ``ciks``: SEC rows whose ``issuer_id`` is that CIK (leading zeros ignored);
* ``stock_codes``: 5 digits are Hong Kong (HKEX ``issuer_id``), 6 digits the mainland (the code in
  front of the ticker suffix, ``002236`` of ``002236.SZ``);
* ``words``: ``title``, ``title_clean`` and ``company_name`` after NFKC normalisation,
  case-insensitively. Latin-script words match as whole words (``Apple`` does not match
  ``Pineapple``); words with CJK characters match as substrings, since Chinese text has no spaces
  between words;
* ``form_types``: ``form_type`` or any of ``form_types``, case-insensitive.

Inside a group (issuers, words, form types) any criterion is enough; every group an entry gives
must match, and ``sources`` limits the entry to those sources. ``matched_on`` says which criterion
of each group matched first (``ticker:002236.SZ & word:新疆``).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.alerts.watchlist import WatchEntry, Watchlist
from filinglake.schema import ALERTS_SCHEMA

#: filing columns copied into a match (those a source may lack become nulls)
FILING_COLUMNS = ("filing_id", "issuer_id", "source", "exchange", "ticker", "company_name", "title", "title_clean",
                  "form_type", "filing_date", "document_url")
_TEXT_COLUMNS = ("title", "title_clean", "company_name")
#: what :func:`match_watchlist` returns
MATCHES_SCHEMA = pa.schema([ALERTS_SCHEMA.field(name) for name in ("entry_id", "entry_name", "matched_on")]
                           + [ALERTS_SCHEMA.field(name) for name in FILING_COLUMNS])


def _column(table: pa.Table, name: str, typ: pa.DataType | None = None) -> pa.Array:
    """One contiguous array (element-wise kernels on differently chunked inputs misalign); string by default."""
    typ = typ or pa.string()
    if name not in table.column_names:
        return pa.nulls(table.num_rows, typ)
    column = table[name].combine_chunks()
    return column if column.type.equals(typ) else column.cast(typ)


def _re2_escape(text: str) -> str:
    # RE2 treats a backslash before any ASCII punctuation as a literal; letters, digits, spaces, CJK stay as is.
    return "".join("\\" + ch if ch.isascii() and not ch.isalnum() and not ch.isspace() and ch != "_" else ch
                   for ch in text)


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _has_cjk(text: str) -> bool:
    # Wide characters: CJK ideographs, kana, hangul (full-width Latin is already half-width after NFKC).
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in text)


def word_pattern(word: str) -> str:
    """RE2 pattern for ``word``: a whole word for Latin-script words, a substring when it has CJK characters.

    Chinese and Japanese text has no spaces between words (and mixes in Latin letters and digits:
    ``深发展A2001年``), so boundaries only apply to words written without CJK characters.
    """
    pattern = _re2_escape(word)
    if _has_cjk(word):
        return pattern
    if _is_word_char(word[0]):
        pattern = r"\b" + pattern
    if _is_word_char(word[-1]):
        pattern += r"\b"
    return pattern


def _false(n: int) -> pa.Array:
    return pa.array([False] * n, pa.bool_())


def _any_in_list(flat_values: pa.Array, wanted: list[str], n: int) -> pa.Array:
    """Per row: does the list<string> cell hold any of ``wanted`` (case-insensitive)?"""
    if len(flat_values) == 0:
        return _false(n)
    flat = pc.utf8_upper(pc.list_flatten(flat_values))
    parents = pc.list_parent_indices(flat_values)
    hit_rows = pc.filter(parents, pc.fill_null(pc.is_in(flat, value_set=pa.array(wanted, pa.string())), False))
    return pc.is_in(pa.array(range(n), pa.int64()), value_set=hit_rows.cast(pa.int64()))


def _issuer_id_sources(column: str) -> list[str]:
    """Sources whose ``issuers`` column ``column`` is the issuer id itself (``Source.issuer_columns``)."""
    from filinglake.sources import all_sources

    return [source.name for source in all_sources() if source.issuer_columns.get(column) == "a.issuer_id"]


class _Columns:
    """Normalised views of the input rows, computed once for all entries."""

    def __init__(self, rows: pa.Table):
        n = rows.num_rows
        self.n = n
        self.source = _column(rows, "source")
        self.ticker_upper = pc.utf8_upper(_column(rows, "ticker"))
        issuer = _column(rows, "issuer_id")
        self.issuer = issuer
        self.cik = pc.replace_substring_regex(issuer, r"^0+(\d)", r"\1")
        # "002236.SZ" -> "002236": the mainland stock code in front of the market suffix
        self.ticker_code = pc.replace_substring_regex(_column(rows, "ticker"), r"\..*$", "")
        # which sources' issuer ids are CIKs, and which are stock codes, as each source declares it
        cik_sources, code_sources = _issuer_id_sources("cik"), _issuer_id_sources("stock_code")
        self.issuer_is_cik = pc.is_in(self.source, value_set=pa.array(cik_sources, pa.string()))
        self.issuer_is_code = pc.is_in(self.source, value_set=pa.array(code_sources, pa.string()))
        self.form_upper = pc.utf8_upper(_column(rows, "form_type"))
        self.form_types = rows["form_types"].combine_chunks() if "form_types" in rows.column_names else None
        self.texts = [pc.utf8_normalize(_column(rows, name), "NFKC") for name in _TEXT_COLUMNS if name in rows.column_names]


def _mask(array: Any) -> pa.Array:
    return pc.fill_null(array, False)


def _group(criteria: list[tuple[str, Any]], n: int) -> tuple[Any, Any] | None:
    """(any-of mask, label of the first criterion that matched per row) for one group, or None if empty."""
    if not criteria:
        return None
    mask: Any = _false(n)
    label: Any = pa.nulls(n, pa.string())
    for name, hit in reversed(criteria):  # reversed so the first listed criterion wins the label
        hit = _mask(hit)
        mask = pc.or_(mask, hit)
        label = pc.if_else(hit, pa.scalar(name, pa.string()), label)
    return mask, label


def _entry_matches(entry: WatchEntry, cols: _Columns) -> tuple[Any, list[Any]]:
    n = cols.n
    issuers: list[tuple[str, Any]] = []
    for ticker in entry.tickers:
        issuers.append((f"ticker:{ticker}", pc.equal(cols.ticker_upper, ticker)))
    for cik in entry.ciks:
        issuers.append((f"cik:{cik}", pc.and_(cols.issuer_is_cik, pc.equal(cols.cik, cik))))
    for code in entry.stock_codes:
        if len(code) == 5:
            issuers.append((f"stock_code:{code}", pc.and_(cols.issuer_is_code, pc.equal(cols.issuer, code))))
        else:
            issuers.append((f"stock_code:{code}", pc.and_(pc.invert(_mask(cols.issuer_is_code)),
                                                          pc.equal(cols.ticker_code, code))))
    words: list[tuple[str, Any]] = []
    for word in entry.words:
        pattern = word_pattern(word)
        hit: Any = _false(n)
        for text in cols.texts:
            hit = pc.or_(hit, _mask(pc.match_substring_regex(text, pattern, ignore_case=True)))
        words.append((f"word:{word}", hit))
    forms: list[tuple[str, Any]] = []
    for form in entry.form_types:
        hit = pc.equal(cols.form_upper, form)
        if cols.form_types is not None:
            hit = pc.or_(_mask(hit), _any_in_list(cols.form_types, [form], n))
        forms.append((f"form:{form}", hit))

    mask: Any = pa.array([True] * n, pa.bool_())
    labels = []
    for group in (_group(issuers, n), _group(words, n), _group(forms, n)):
        if group is not None:
            mask = pc.and_(mask, group[0])
            labels.append(group[1])
    if entry.sources:
        mask = pc.and_(mask, _mask(pc.is_in(cols.source, value_set=pa.array(entry.sources, pa.string()))))
    return _mask(mask), labels


def _join_labels(labels: list[Any], mask: Any) -> pa.Array:
    """"ticker:002236.SZ & word:新疆" for the rows ``mask`` keeps (every group label is set on those rows)."""
    kept = [pc.filter(label, mask) for label in labels]
    if len(kept) == 1:
        return kept[0]
    # no nulls here by construction; null_handling="skip" would be wrong anyway (pyarrow 26 drops
    # trailing all-null rows from its output)
    return pc.binary_join_element_wise(*kept, pa.scalar(" & "))


def match_watchlist(rows: pa.Table, watchlist: Watchlist) -> pa.Table:
    """Rows that match each entry: entry_id, entry_name, matched_on and the filing columns.

    One output row per (entry, input row); the same (entry, filing_id, issuer_id) may appear more
    than once if the input repeats a filing (clean rows list a combined SEC filing per form type).
    """
    if rows.num_rows == 0 or not watchlist.entries:
        return MATCHES_SCHEMA.empty_table()
    cols = _Columns(rows)
    filing = pa.table({name: _column(rows, name, MATCHES_SCHEMA.field(name).type) for name in FILING_COLUMNS})
    parts = []
    for entry in watchlist.entries:
        mask, labels = _entry_matches(entry, cols)
        picked = filing.filter(mask)
        if picked.num_rows == 0:
            continue
        k = picked.num_rows
        parts.append(
            pa.table(
                {
                    "entry_id": pa.array([entry.id] * k, pa.string()),
                    "entry_name": pa.array([entry.name] * k, pa.string()),
                    "matched_on": _join_labels(labels, mask),
                    **{name: picked[name] for name in FILING_COLUMNS},
                },
                schema=MATCHES_SCHEMA,
            )
        )
    return pa.concat_tables(parts) if parts else MATCHES_SCHEMA.empty_table()
