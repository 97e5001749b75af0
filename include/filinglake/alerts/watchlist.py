"""Watchlists: the YAML file that says which filings someone wants to hear about, read and checked.

A watchlist (``FILINGLAKE_WATCHLIST``, default ``include/watchlist.yaml``)::

    entries:
      - id: dahua-xinjiang            # stable: alert ids are derived from it
        name: Dahua (002236.SZ) mentions Xinjiang
        tickers: [002236.SZ]
        words: [Xinjiang, 新疆]

An entry has up to three groups of criteria — issuers (``tickers``, ``ciks``, ``stock_codes``),
``words`` and ``form_types`` — and may be limited to ``sources``; how they match is
:mod:`filinglake.alerts.matching`. Values are normalised here, once: tickers to their stored form
(:mod:`filinglake.tickers`: ``600519.SH`` → ``600519.SS``, ``700.HK`` → ``0700.HK``), CIKs
without leading zeros, stock codes also from a ticker spelling (``002236.SZ`` → ``002236``), Hong Kong stock codes padded to 5 digits, words and form types NFKC
(full-width ``ＸＩＮＪＩＡＮＧ`` is ``XINJIANG``), duplicates dropped.

The file is read in three steps, each bounded before the next one builds anything:

1. the YAML events are counted: more than :data:`MAX_ALIASES` aliases is refused (an "alias bomb"
   of 400 bytes otherwise expands to gigabytes);
2. the document is composed into a node graph (aliases share nodes) and its size with every alias
   expanded is computed on that graph: more than :data:`MAX_EXPANDED_NODES` is refused;
3. the Python values are checked by the pydantic models :class:`WatchEntry` and :class:`Watchlist`.

Every problem is a :class:`WatchlistError` of one line naming the file, the line, the entry and the
field (``watchlist.yaml:7: entry 'a': field 'stock_codes': write codes in quotes …``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from filinglake.errors import FilinglakeError

if TYPE_CHECKING:
    from filinglake.config import Settings

#: aliases (``*name``) a watchlist may use; sharing a word list between a few entries needs a handful
MAX_ALIASES = 32
#: YAML nodes once every alias is expanded; a real watchlist of a thousand entries stays far below
MAX_EXPANDED_NODES = 100_000

ENTRY_FIELDS = ("id", "name", "tickers", "ciks", "stock_codes", "words", "form_types", "sources")
CRITERIA = ("tickers", "ciks", "stock_codes", "words", "form_types")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TOP_LEVEL = "expected a mapping with an 'entries' list at the top"


class WatchlistError(FilinglakeError):
    """The watchlist file is missing or malformed; the message names the file, line and field."""


# ------------------------------------------------------------------------------------------------
# Values: each check raises a message that reads after "entry 'x': field 'y': "
# ------------------------------------------------------------------------------------------------


def _problem(message: str) -> PydanticCustomError:
    # the message goes through the context: braces in user values are not format fields
    return PydanticCustomError("watchlist", "{message}", {"message": message})


def _normalise_text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _plain(value: Any) -> str:
    """One scalar written in the file, as text; refuses what YAML read as something else."""
    if isinstance(value, dict | list):
        raise _problem("holds a nested list or mapping; give plain values")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _problem("an empty value")
    if isinstance(value, bool):
        raise _problem(f"{value!r} was read as a yes/no value; quote it")
    return str(value)


def _ticker(value: Any) -> str:
    """Any spelling of a ticker (600519.SH, SH600519, 700.HK, 00700, brk.b) → the stored form."""
    from filinglake.tickers import readings

    text = _plain(value)
    found = [ref for ref in readings(text) if ref.kind == "ticker"]
    if not found:
        hint = " (a CIK? list it under ciks)" if any(ref.kind == "cik" for ref in readings(text)) else ""
        raise _problem(f"{value!r} is not a ticker{hint}; e.g. AAPL, 600519.SS, 600519.SH, 002236.SZ, 0700.HK")
    return found[0].value


def _cik(value: Any) -> str:
    text = _plain(value).strip()
    if not text.isdigit() or int(text) == 0:
        raise _problem(f"{value!r} is not a CIK (digits)")
    return str(int(text))


def _stock_code(value: Any) -> str:
    text = _plain(value)
    if not isinstance(value, str):
        raise _problem(f"write codes in quotes (e.g. '00007', '002236'); unquoted, YAML reads {value!r} as a "
                       "number and loses the leading zeros")
    text = text.strip()
    if not text.isdigit():  # a ticker spelling of a code: 002236.SZ, SZ002236, 0700.HK
        from filinglake.tickers import readings

        codes = [ref.value for ref in readings(text) if ref.kind == "stock_code"]
        if codes:
            return codes[0]
    if not text.isdigit() or len(text) not in (4, 5, 6):
        raise _problem(f"{value!r} is not a stock code (5 digits for Hong Kong, 6 for Shanghai/Shenzhen/Beijing)")
    return text.zfill(5) if len(text) < 6 else text


def _word(value: Any) -> str:
    return _normalise_text(_plain(value))


def _form_type(value: Any) -> str:
    return _normalise_text(_plain(value)).upper()


def _source(value: Any) -> str:
    from filinglake.sources import source_names

    text = _plain(value)
    if text not in source_names():
        raise _problem(f"unknown source {text!r}; known: {', '.join(source_names())}")
    return text


def _entry_id(value: Any) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _ENTRY_ID.match(text):
        raise _problem("must be a stable identifier (letters, digits, '.', '_', '-'; at most 80 characters)")
    return text


def _name(value: Any) -> str:
    if isinstance(value, dict | list) or value is None or not str(value).strip():
        raise _problem("must be text")
    return str(value).strip()


Ticker = Annotated[str, BeforeValidator(_ticker)]
Cik = Annotated[str, BeforeValidator(_cik)]
StockCode = Annotated[str, BeforeValidator(_stock_code)]
Word = Annotated[str, BeforeValidator(_word)]
FormType = Annotated[str, BeforeValidator(_form_type)]
SourceName = Annotated[str, BeforeValidator(_source)]


# ------------------------------------------------------------------------------------------------
# The models
# ------------------------------------------------------------------------------------------------


class WatchEntry(BaseModel):
    """One thing to watch. Values are normalised when read (upper-case tickers, CIKs without zeros)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, BeforeValidator(_entry_id)]
    name: Annotated[str, BeforeValidator(_name)]
    tickers: tuple[Ticker, ...] = ()
    ciks: tuple[Cik, ...] = ()
    stock_codes: tuple[StockCode, ...] = ()
    words: tuple[Word, ...] = ()
    form_types: tuple[FormType, ...] = ()
    sources: tuple[SourceName, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and "id" in data:
            return {**data, "name": data["id"]}
        return data

    @field_validator("tickers", "ciks", "stock_codes", "words", "form_types", "sources", mode="before")
    @classmethod
    def _one_value_or_a_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            raise _problem("must be a list, not a mapping")
        return value if isinstance(value, list) else [value]

    @field_validator("tickers", "ciks", "stock_codes", "words", "form_types", "sources")
    @classmethod
    def _each_value_once(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))

    @model_validator(mode="after")
    def _has_criteria(self) -> WatchEntry:
        if not any(getattr(self, name) for name in CRITERIA):
            raise _problem(f"has no criteria: give at least one of {', '.join(CRITERIA)}")
        return self

    @property
    def has_issuers(self) -> bool:
        return bool(self.tickers or self.ciks or self.stock_codes)


class Watchlist(BaseModel):
    """The checked watchlist file: its entries, each id once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: tuple[WatchEntry, ...]
    _path: str = PrivateAttr(default="")
    #: (entry id, field, stored value) → the line of the file it was written on
    _lines: dict[tuple[str, str, str], int] = PrivateAttr(default_factory=dict)

    @field_validator("entries", mode="before")
    @classmethod
    def _entries_list(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _problem("'entries' must be a list of entries")
        return value

    @property
    def path(self) -> str:
        """Where the watchlist was read from (``<watchlist>`` for text)."""
        return self._path

    def __len__(self) -> int:
        return len(self.entries)

    def line_of(self, entry_id: str, field: str, value: str) -> int | None:
        """The line ``value`` (as stored) of ``field`` of entry ``entry_id`` was written on; None if unknown."""
        return self._lines.get((entry_id, field, value))

    def entry(self, entry_id: str) -> WatchEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)


# ------------------------------------------------------------------------------------------------
# Reading YAML with bounds, and pointing errors at lines
# ------------------------------------------------------------------------------------------------


def _yaml_problem(exc: yaml.YAMLError, where: str) -> WatchlistError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = f"{mark.line + 1}" if mark is not None else "?"
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return WatchlistError(f"{where}:{line}: not valid YAML: {problem}")


def _count_aliases(text: str, where: str) -> None:
    """Refuse more than :data:`MAX_ALIASES` aliases, from the event stream (nothing is built)."""
    aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                line = event.start_mark.line + 1
                raise WatchlistError(f"{where}:{line}: more than {MAX_ALIASES} YAML aliases (*name); "
                                     "write the values out (a file of aliases can expand without bound)")


def _expanded_size(root: yaml.Node, where: str) -> int:
    """Nodes of the document with every alias expanded, computed once per shared node (a DAG walk)."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise WatchlistError(f"{where}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        in_progress.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        in_progress.discard(key)
        sizes[key] = min(total, MAX_EXPANDED_NODES + 1)  # capped: the sums stay small integers
        return sizes[key]

    return size(root)


def _compose(text: str, where: str) -> tuple[yaml.Node | None, Any]:
    """(node graph, Python value) of the document, after the alias and size bounds."""
    loader = yaml.SafeLoader(text)
    try:
        _count_aliases(text, where)
        root = loader.get_single_node()
        if root is None:
            return None, None
        if _expanded_size(root, where) > MAX_EXPANDED_NODES:
            raise WatchlistError(f"{where}:1: the document expands to more than {MAX_EXPANDED_NODES:,} YAML nodes "
                                 "through its aliases; write the values out")
        return root, loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, where) from None
    finally:
        loader.dispose()


def _node_at(root: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """The deepest node of ``root`` along a pydantic error location (mapping keys, list indexes)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value
                          if isinstance(key, yaml.ScalarNode) and key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return node


def _entry_label(data: Any, index: int) -> str:
    raw = data.get("id") if isinstance(data, dict) else None
    return str(raw) if raw is not None and not isinstance(raw, dict | list) else f"#{index + 1}"


def _describe(error: Any, data: Any) -> str:
    """One pydantic error as a sentence naming the entry and field."""
    loc, kind = tuple(error["loc"]), error["type"]
    reason = error["ctx"]["message"] if kind == "watchlist" else error["msg"]
    if not loc or (loc == ("entries",) and kind == "missing"):
        return _TOP_LEVEL
    if loc[0] != "entries":
        return f"unknown top-level field {loc[0]!r} (only 'entries')"
    if len(loc) == 1:
        return reason
    index = loc[1]
    entries = data.get("entries") or []
    label = _entry_label(entries[index], index)
    if len(loc) == 2:
        if kind in ("model_type", "dict_type"):
            return f"entry #{index + 1} must be a mapping with an 'id'"
        return f"entry {label!r} {reason}"
    field = loc[2]
    if kind == "extra_forbidden":
        return f"entry {label!r}: unknown field {field!r}; fields are {', '.join(ENTRY_FIELDS)}"
    if kind == "missing":
        return f"entry {label!r}: field {field!r}: required"
    return f"entry {label!r}: field {field!r}: {reason}"


def _check_unique_ids(watchlist: Watchlist, root: yaml.Node, where: str) -> None:
    first_line: dict[str, int] = {}
    for index, entry in enumerate(watchlist.entries):
        line = _node_at(root, ("entries", index)).start_mark.line + 1
        if entry.id in first_line:
            raise WatchlistError(f"{where}:{line}: entry id {entry.id!r} is used twice (first on line "
                                 f"{first_line[entry.id]}); ids must be unique")
        first_line[entry.id] = line


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------


def parse_watchlist(text: str, where: str = "<watchlist>") -> Watchlist:
    """A :class:`Watchlist` from YAML text; :class:`WatchlistError` names the line and field of any problem."""
    root, data = _compose(text, where)
    if root is None:
        watchlist = Watchlist(entries=())
    else:
        if not isinstance(data, dict):
            raise WatchlistError(f"{where}:{root.start_mark.line + 1}: {_TOP_LEVEL}")
        try:
            watchlist = Watchlist.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            line = _node_at(root, tuple(error["loc"])).start_mark.line + 1
            raise WatchlistError(f"{where}:{line}: {_describe(error, data)}") from None
        _check_unique_ids(watchlist, root, where)
        watchlist._lines = _value_lines(watchlist, root, data)
    watchlist._path = where
    return watchlist


#: issuer fields → the check that stores their values
_ISSUER_VALUES = {"tickers": _ticker, "ciks": _cik, "stock_codes": _stock_code}


def _value_lines(watchlist: Watchlist, root: yaml.Node, data: dict) -> dict[tuple[str, str, str], int]:
    """(entry id, issuer field, stored value) → the line each value is written on (its first line)."""
    lines: dict[tuple[str, str, str], int] = {}
    for index, entry in enumerate(watchlist.entries):
        raw_entry = data["entries"][index]
        for field, store in _ISSUER_VALUES.items():
            if field not in raw_entry:
                continue
            node = _node_at(root, ("entries", index, field))
            raw = raw_entry[field]
            items = list(zip(node.value, raw, strict=False)) if isinstance(node, yaml.SequenceNode) else [(node, raw)]
            for item, value in items:
                lines.setdefault((entry.id, field, store(value)), item.start_mark.line + 1)
    return lines


def unknown_issuers(watchlist: Watchlist, securities: Any) -> list[str]:
    """One warning per issuer value of the watchlist that no published security knows, naming its line (in
    file order).

    ``securities``: rows of ``published/securities`` (``source``, ``issuer_id``, ``ticker``,
    ``stock_code``). A ticker is read with the one normaliser (:func:`filinglake.tickers.resolve`)
    against the tickers of every list, a CIK against the issuer ids of the sources whose issuer id is
    a CIK, a stock code against the lists' stock codes. Warnings only: an unknown value may be a
    security whose list is not archived yet, or one listed later, so the entry stays.
    """
    from filinglake.sources import all_sources
    from filinglake.tickers import resolve

    cik_sources = {s.name for s in all_sources() if s.issuer_columns.get("cik") == "a.issuer_id"}
    rows = securities.select(["source", "issuer_id", "ticker", "stock_code"]).to_pylist()
    known = {
        "tickers": {r["ticker"].upper() for r in rows if r["ticker"]},
        "ciks": {r["issuer_id"].lstrip("0") for r in rows if r["source"] in cik_sources and r["issuer_id"]},
        "stock_codes": {r["stock_code"] for r in rows if r["stock_code"]},
    }
    what = {"tickers": "ticker", "ciks": "CIK", "stock_codes": "stock code"}
    warnings: list[tuple[int, str]] = []
    for entry in watchlist.entries:
        for field in _ISSUER_VALUES:
            for value in getattr(entry, field):
                found = resolve(value, known[field]) if field == "tickers" else value in known[field]
                if found:
                    continue
                line = watchlist.line_of(entry.id, field, value)
                warnings.append((line or 0, f"{watchlist.path}:{line or '?'}: entry {entry.id!r}: {what[field]} {value!r} matches "
                                f"no known security ({len(rows):,} in published securities); the entry stays "
                                "and fires once a filing names it"))
    return [text for _, text in sorted(warnings, key=lambda w: w[0])]


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


def validate_watchlist(settings: Settings) -> Watchlist:
    """The configured watchlist (``settings.watchlist``), checked: call it before a publish commits anything.

    A publish whose watchlist is broken must fail before it merges, or the rows it merges are never
    evaluated once the watchlist is fixed.
    """
    return load_watchlist(settings.watchlist)
