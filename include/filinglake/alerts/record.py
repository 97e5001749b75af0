"""Watchlists and alerts: the new filings someone asked to hear about, each recorded once.

A watchlist is a YAML file (``FILINGLAKE_WATCHLIST``, default ``include/watchlist.yaml``)::

    entries:
      - id: dahua-xinjiang            # stable: alert ids are derived from it
        name: Dahua (002236.SZ) mentions Xinjiang
        tickers: [002236.SZ]
        words: [Xinjiang, 新疆]

An entry has up to three groups of criteria — issuers (``tickers``, ``ciks``, ``stock_codes``),
``words`` and ``form_types`` — and may be limited to ``sources``. Inside a group any value is enough;
every group that is given must match. So the entry above means "Dahua filings that mention
Xinjiang", and ``{words: [Xinjiang, 新疆]}`` alone means "any filing that mentions it".

Matching, column by column with pyarrow on published-shape rows:

* ``tickers``: the ``ticker`` column, case-insensitive (``002236.SZ``, ``0700.HK``);
* ``ciks``: SEC rows whose ``issuer_id`` is that CIK (leading zeros ignored);
* ``stock_codes``: written as strings, 5 digits for Hong Kong (``'00007'``: HKEX ``issuer_id``),
  6 digits for the mainland (``'002236'``: the code in front of the ticker suffix);
* ``words``: ``title``, ``title_clean`` and ``company_name`` after NFKC normalisation (full-width
  ``ＸＩＮＪＩＡＮＧ`` is ``XINJIANG``), case-insensitively. Latin-script words match as whole words
  (``Apple`` does not match ``Pineapple``); words with CJK characters match as substrings, since
  Chinese text has no spaces between words;
* ``form_types``: ``form_type`` or any of ``form_types``, case-insensitive.

An alert is one (entry, filing_id, issuer_id); its ``alert_id`` is the sha256 of those three, and
``published/alerts`` (Delta) is only ever inserted into on ``alert_id``, so reruns never repeat an
alert. For each new alert the document is captured (:mod:`filinglake.alerts.documents`); a failed capture
is recorded in ``document_error`` and never fails the publish.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.errors import FilinglakeError
from filinglake.publish import delta

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.alerts.record")

ALERTS = "alerts"  # the published table: <storage>/published/alerts
#: documents fetched per raise_alerts call at most; a first run on a broad watchlist must not crawl
DEFAULT_MAX_CAPTURES = 100

ALERTS_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("entry_id", pa.string(), nullable=False),
        pa.field("entry_name", pa.string()),
        pa.field("matched_on", pa.string()),
        pa.field("filing_id", pa.string(), nullable=False),
        pa.field("issuer_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("exchange", pa.string()),
        pa.field("ticker", pa.string()),
        pa.field("company_name", pa.string()),
        pa.field("title", pa.string()),
        pa.field("form_type", pa.string()),
        pa.field("filing_date", pa.date32()),
        pa.field("document_url", pa.string()),
        pa.field("alerted_at", pa.timestamp("us", tz="UTC")),
        pa.field("document_key", pa.string()),
        pa.field("document_sha256", pa.string()),
        pa.field("document_bytes", pa.int64()),
        pa.field("document_content_type", pa.string()),
        pa.field("document_error", pa.string()),
    ]
)

#: filing columns copied into an alert (those a source may lack become nulls)
_FILING_COLUMNS = ("filing_id", "issuer_id", "source", "exchange", "ticker", "company_name", "title", "form_type",
                   "filing_date", "document_url")
_TEXT_COLUMNS = ("title", "title_clean", "company_name")


class WatchlistError(FilinglakeError):
    """The watchlist file is missing or malformed; the message names the file, line and field."""


# ------------------------------------------------------------------------------------------------
# The watchlist model
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEntry:
    """One thing to watch. Values are normalised at load time (upper-case tickers, CIKs without zeros)."""

    id: str
    name: str
    tickers: tuple[str, ...] = ()
    ciks: tuple[str, ...] = ()
    stock_codes: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    form_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    line: int = 0

    @property
    def has_issuers(self) -> bool:
        return bool(self.tickers or self.ciks or self.stock_codes)


@dataclass(frozen=True)
class Watchlist:
    entries: tuple[WatchEntry, ...] = ()
    path: str = ""

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, entry_id: str) -> WatchEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)


_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_ENTRY_FIELDS = ("id", "name", "tickers", "ciks", "stock_codes", "words", "form_types", "sources")
_CRITERIA = ("tickers", "ciks", "stock_codes", "words", "form_types")


@dataclass
class _Node:
    """A YAML value with the line it starts on (1-based), so errors can point at it."""

    value: Any
    line: int
    children: Any = field(default=None)  # dict[str, _Node] | list[_Node] | None


def _compose(text: str, where: str) -> _Node | None:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return None if root is None else _wrap(root, loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise WatchlistError(f"{where}:{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def _wrap(node: Any, loader: Any) -> _Node:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        children: dict[str, _Node] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            children[str(key)] = _wrap(value_node, loader)
        return _Node(value=dict, line=line, children=children)
    if isinstance(node, yaml.SequenceNode):
        return _Node(value=list, line=line, children=[_wrap(item, loader) for item in node.value])
    return _Node(value=loader.construct_object(node, deep=True), line=line)


def _values(node: _Node, where: str, entry_id: str, name: str) -> list[_Node]:
    """A field holds one scalar or a list of scalars."""
    items = node.children if node.value is list else [node]
    if node.value is dict:
        raise WatchlistError(f"{where}:{node.line}: entry {entry_id!r}: field {name!r} must be a list, not a mapping")
    for item in items:
        if item.value in (dict, list):
            raise WatchlistError(f"{where}:{item.line}: entry {entry_id!r}: field {name!r} holds a nested "
                                 "list or mapping; give plain values")
        if item.value is None or (isinstance(item.value, str) and not item.value.strip()):
            raise WatchlistError(f"{where}:{item.line}: entry {entry_id!r}: field {name!r} has an empty value")
    return items


def _normalise_text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _parse_entry(node: _Node, where: str, index: int, known_sources: set[str]) -> WatchEntry:
    if node.value is not dict:
        raise WatchlistError(f"{where}:{node.line}: entry #{index + 1} must be a mapping with an 'id'")
    fields = node.children
    unknown = [name for name in fields if name not in _ENTRY_FIELDS]
    id_node = fields.get("id")
    entry_id = str(id_node.value) if id_node is not None and id_node.value not in (dict, list, None) else ""
    label = entry_id or f"#{index + 1}"
    if unknown:
        bad = fields[unknown[0]]
        raise WatchlistError(f"{where}:{bad.line}: entry {label!r}: unknown field {unknown[0]!r}; "
                             f"fields are {', '.join(_ENTRY_FIELDS)}")
    if not entry_id or not _ENTRY_ID.match(entry_id):
        line = id_node.line if id_node is not None else node.line
        raise WatchlistError(f"{where}:{line}: entry {label!r}: field 'id' must be a stable identifier "
                             "(letters, digits, '.', '_', '-'; at most 80 characters)")

    def strings(name: str) -> list[tuple[str, int]]:
        if name not in fields:
            return []
        out = []
        for item in _values(fields[name], where, entry_id, name):
            if isinstance(item.value, bool):
                raise WatchlistError(f"{where}:{item.line}: entry {entry_id!r}: field {name!r}: {item.value!r} "
                                     "was read as a yes/no value; quote it")
            out.append((item.value, item.line))
        return out

    tickers = [str(v).strip().upper() for v, _ in strings("tickers")]
    ciks = []
    for value, line in strings("ciks"):
        text = str(value).strip()
        if not text.isdigit() or int(text) == 0:
            raise WatchlistError(f"{where}:{line}: entry {entry_id!r}: field 'ciks': {value!r} is not a CIK (digits)")
        ciks.append(str(int(text)))
    stock_codes = []
    for value, line in strings("stock_codes"):
        if not isinstance(value, str):
            raise WatchlistError(f"{where}:{line}: entry {entry_id!r}: field 'stock_codes': write codes in quotes "
                                 f"(e.g. '00007', '002236'); unquoted, YAML reads {value!r} as a number and "
                                 "loses the leading zeros")
        text = value.strip()
        if not text.isdigit() or len(text) not in (4, 5, 6):
            raise WatchlistError(f"{where}:{line}: entry {entry_id!r}: field 'stock_codes': {value!r} is not a stock "
                                 "code (5 digits for Hong Kong, 6 for Shanghai/Shenzhen/Beijing)")
        stock_codes.append(text.zfill(5) if len(text) < 6 else text)
    words = [_normalise_text(str(v)) for v, _ in strings("words")]
    form_types = [_normalise_text(str(v)).upper() for v, _ in strings("form_types")]
    sources = []
    for value, line in strings("sources"):
        if str(value) not in known_sources:
            raise WatchlistError(f"{where}:{line}: entry {entry_id!r}: field 'sources': unknown source {value!r}; "
                                 f"known: {', '.join(sorted(known_sources))}")
        sources.append(str(value))
    if not (tickers or ciks or stock_codes or words or form_types):
        raise WatchlistError(f"{where}:{node.line}: entry {entry_id!r} has no criteria: give at least one of "
                             f"{', '.join(_CRITERIA)}")
    name_node = fields.get("name")
    name = entry_id
    if name_node is not None:
        if name_node.value in (dict, list, None) or not str(name_node.value).strip():
            raise WatchlistError(f"{where}:{name_node.line}: entry {entry_id!r}: field 'name' must be text")
        name = str(name_node.value).strip()
    unique = lambda values: tuple(dict.fromkeys(values))  # noqa: E731 - order-preserving dedup
    return WatchEntry(
        id=entry_id,
        name=name,
        tickers=unique(tickers),
        ciks=unique(ciks),
        stock_codes=unique(stock_codes),
        words=unique(words),
        form_types=unique(form_types),
        sources=unique(sources),
        line=node.line,
    )


def parse_watchlist(text: str, where: str = "<watchlist>") -> Watchlist:
    """A :class:`Watchlist` from YAML text; :class:`WatchlistError` names the line and field of any problem."""
    from filinglake.sources import source_names

    known_sources = set(source_names())
    root = _compose(text, where)
    if root is None:
        return Watchlist((), where)
    if root.value is not dict or "entries" not in root.children:
        raise WatchlistError(f"{where}:{root.line}: expected a mapping with an 'entries' list at the top")
    extra = [k for k in root.children if k != "entries"]
    if extra:
        raise WatchlistError(f"{where}:{root.children[extra[0]].line}: unknown top-level field {extra[0]!r} "
                             "(only 'entries')")
    entries_node = root.children["entries"]
    if entries_node.value is None:
        return Watchlist((), where)
    if entries_node.value is not list:
        raise WatchlistError(f"{where}:{entries_node.line}: 'entries' must be a list of entries")
    entries: list[WatchEntry] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(entries_node.children):
        entry = _parse_entry(node, where, index, known_sources)
        if entry.id in seen:
            raise WatchlistError(f"{where}:{entry.line}: entry id {entry.id!r} is used twice (first on line "
                                 f"{seen[entry.id]}); ids must be unique")
        seen[entry.id] = entry.line
        entries.append(entry)
    return Watchlist(tuple(entries), where)


def load_watchlist(path: str | Path) -> Watchlist:
    """Read and check a watchlist file."""
    file = Path(path)
    if not file.is_file():
        raise WatchlistError(f"{file}: watchlist file not found (set FILINGLAKE_WATCHLIST)")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise WatchlistError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_watchlist(text, str(file))


# ------------------------------------------------------------------------------------------------
# Matching (vectorised)
# ------------------------------------------------------------------------------------------------


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
        self.is_sec = pc.equal(self.source, "sec_edgar")
        self.is_hkex = pc.equal(self.source, "hkex")
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
        issuers.append((f"cik:{cik}", pc.and_(cols.is_sec, pc.equal(cols.cik, cik))))
    for code in entry.stock_codes:
        if len(code) == 5:
            issuers.append((f"stock_code:{code}", pc.and_(cols.is_hkex, pc.equal(cols.issuer, code))))
        else:
            issuers.append((f"stock_code:{code}", pc.and_(pc.invert(_mask(cols.is_hkex)),
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
    empty = pa.schema([ALERTS_SCHEMA.field(name) for name in ("entry_id", "entry_name", "matched_on")]
                      + [ALERTS_SCHEMA.field(name) for name in _FILING_COLUMNS])
    if rows.num_rows == 0 or not watchlist.entries:
        return empty.empty_table()
    cols = _Columns(rows)
    filing = pa.table({name: _column(rows, name, empty.field(name).type) for name in _FILING_COLUMNS})
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
                    **{name: picked[name] for name in _FILING_COLUMNS},
                },
                schema=empty,
            )
        )
    return pa.concat_tables(parts) if parts else empty.empty_table()


def alert_id(entry_id: str, filing_id: str, issuer_id: str | None) -> str:
    """sha256 of entry id, filing id and issuer id (unit-separator joined): stable across runs."""
    return hashlib.sha256("\x1f".join([entry_id, filing_id, issuer_id or ""]).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# The alerts table
# ------------------------------------------------------------------------------------------------


def read_alerts(storage: Storage, settings: Settings | None = None) -> pa.Table:
    """Every alert raised so far (an empty table before the first one)."""
    del settings  # the storage carries its settings (S3 options)
    return delta.read(storage, ALERTS, ALERTS_SCHEMA)


def _existing_ids(storage: Storage) -> set[str]:
    return set(delta.read(storage, ALERTS, ALERTS_SCHEMA, columns=["alert_id"])["alert_id"].to_pylist())


def _capture_all(storage: Storage, settings: Settings, candidates: list[dict], max_captures: int) -> None:
    """Capture each distinct document once; record the outcome on every alert that points at it."""
    from filinglake.alerts.documents import capture

    outcomes: dict[tuple[str, str], dict] = {}
    for alert in candidates:
        url, source = alert.get("document_url"), alert.get("source") or ""
        if not url:
            alert["document_error"] = "no document_url on the filing"
            continue
        if (source, url) not in outcomes:
            if len(outcomes) >= max_captures:
                outcomes[(source, url)] = {"error": f"not captured: more than {max_captures} documents in one run"}
            else:
                try:
                    outcomes[(source, url)] = capture(storage, settings, url, source)
                except Exception as exc:  # noqa: BLE001 - a document must never fail the publish
                    if not isinstance(exc, FilinglakeError | ValueError):
                        log.exception("capturing %s failed unexpectedly", url)
                    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    # the alert row carries document_url already: keep the reason short
                    message = message.replace(f"{url!r}: ", "").replace(f"{url}: ", "")
                    outcomes[(source, url)] = {"error": f"{type(exc).__name__}: {message}"}
        outcome = outcomes[(source, url)]
        if "error" in outcome:
            alert["document_error"] = outcome["error"]
        else:
            alert["document_key"] = outcome["key"]
            alert["document_sha256"] = outcome["sha256"]
            alert["document_bytes"] = outcome["size"]
            alert["document_content_type"] = outcome["content_type"]


def raise_alerts(
    storage: Storage,
    settings: Settings,
    filings: pa.Table,
    watchlist: Watchlist | None = None,
    *,
    capture_documents: bool = True,
    max_captures: int = DEFAULT_MAX_CAPTURES,
    now: datetime | None = None,
) -> list[dict]:
    """Evaluate ``watchlist`` on ``filings`` (published-shape rows), record new alerts, return only those.

    An alert already in ``published/alerts`` is never inserted again (the merge inserts on
    ``alert_id`` only), so a rerun returns ``[]``. ``watchlist`` defaults to ``settings.watchlist``.
    Returned dicts are JSON-friendly (dates and times as ISO strings), ready for XCom and notifiers.
    Concurrent publishes are expected to be serialised (the publish DAG runs one at a time); the
    merge still never duplicates an alert if they are not.
    """
    if watchlist is None:
        watchlist = load_watchlist(settings.watchlist)
    matched = match_watchlist(filings, watchlist)
    if matched.num_rows == 0:
        return []
    existing = _existing_ids(storage)
    alerted_at = (now or datetime.now(UTC)).astimezone(UTC)
    candidates: dict[str, dict] = {}
    for row in matched.to_pylist():
        aid = alert_id(row["entry_id"], row["filing_id"], row["issuer_id"])
        if aid in existing or aid in candidates:
            continue
        candidates[aid] = {
            "alert_id": aid,
            **row,
            "alerted_at": alerted_at,
            "document_key": None,
            "document_sha256": None,
            "document_bytes": None,
            "document_content_type": None,
            "document_error": None,
        }
    if not candidates:
        log.info("alerts: %d match(es), all alerted before", matched.num_rows)
        return []
    new = list(candidates.values())
    if capture_documents:
        _capture_all(storage, settings, new, max_captures)
    else:
        for alert in new:
            alert["document_error"] = "document capture disabled"

    batch = pa.Table.from_pylist(new, schema=ALERTS_SCHEMA)
    table = delta.ensure_table(storage, ALERTS, ALERTS_SCHEMA)
    # Insert-only: an alert_id already in the table is never touched, whatever else changed.
    metrics = (
        table.merge(batch, predicate="t.alert_id = s.alert_id", source_alias="s", target_alias="t",
                    writer_properties=delta.writer_properties())
        .when_not_matched_insert_all()
        .execute()
    )
    inserted = int(metrics.get("num_target_rows_inserted", len(new)))
    if inserted != len(new):
        # Another run inserted some of them between our read and our merge. The table still holds each
        # alert once; which run notifies is not knowable from here, so both may.
        log.warning("alerts: %d of %d new alerts were inserted concurrently by another run", len(new) - inserted,
                    len(new))
    log.info("alerts: %d new alert(s) (%d match(es) in %d row(s))", len(new), matched.num_rows, filings.num_rows)
    return [_jsonable(a) for a in new]


def _jsonable(alert: dict) -> dict:
    out = {}
    for key, value in alert.items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        out[key] = value
    return out
