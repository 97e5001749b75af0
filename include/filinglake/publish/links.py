"""``published/issuer_links``: which issuers of different sources are one company, with the evidence.

One row per (link, member issuer). A link joins the ``(source, issuer_id)`` keys of ``filings`` that
belong to one company (the A and H shares of an A+H company, a Hong Kong secondary listing and its US
registrant …), so that one SQL statement finds the company's filings in every market
(``filinglake query``: the ``filings_across_markets`` view, the ``company_filings(key)`` macro).

A link is made only on exact evidence, never on part of a name or a similar name:

``curated`` (confidence high)
    an entry of the reviewed link list (``FILINGLAKE_ISSUER_LINKS``, default ``include/issuer_links.yaml``),
    each entry citing the public pages that say the listings are one company.
``full_name`` (high)
    two sources whose names are full registered names in one language (``Source.name_kind``) give the
    same name once normalised (:func:`normalise_name`), and each of the two sources has exactly one
    issuer with that name (a name two issuers share links nothing).
``secondary_listing_ticker`` (medium)
    a source marks a short name as a secondary listing and the name carries a ticker
    (``Source.secondary_listing_symbol``: HKEX ``QFIN-S``), and exactly one issuer of the other
    sources has that ticker (SEC ``QFIN``), at a time both names were listed.

A short name is never compared with another name (only a marked secondary listing's ticker is
read from one): the captured lists show why. HKEX's ``YUNJI`` (02670,
云迹科技) and SEC's ``Yunji Inc.`` (云集, YJ) are two companies whose names agree exactly once the
legal suffix is dropped, so is ``CHINA FOODS`` (00506) with ``China Foods Holdings Ltd.`` if
``HOLDINGS`` were dropped; HKEX ``SITC`` is SITC International, SEC ``SITC`` SITE Centers. CNINFO's
lists give Chinese short names (万科A) and HKEX's English short names (CHINA VANKE), so an A+H
pair has no name in common in the data we have: A+H links come from the reviewed list until a source
gives full Chinese names (then ``full_name`` links them: simplified and traditional characters are
different strings, there is no conversion).

Names and tickers come from ``published/securities`` (every version, with its dates) and
``published/issuers`` (names the issuers filed under, tickers). A link's ``valid_from``/``valid_to``
span the days its evidence held (both versions listed); null when the evidence has no dates.

Links chain: members joined by any evidence form one link. ``link_id`` is the reviewed entry's id, else
``<source>:<issuer_id>`` of the member that sorts first. ``link_confidence`` is high when high evidence
alone holds the link together, else medium.

The table is rebuilt (it is small: one row per linked issuer) when securities, issuers or the reviewed
list changed since it was built, and written only when its rows changed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.publish import delta
from filinglake.publish.issuers import ISSUERS
from filinglake.publish.securities import SECURITIES
from filinglake.schema import ISSUER_LINKS_SCHEMA, ISSUERS_SCHEMA, SECURITIES_SCHEMA
from filinglake.sources import all_sources, source_names

if TYPE_CHECKING:
    from filinglake.sources import NameKind, Source
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.publish.links")

ISSUER_LINKS = "issuer_links"
#: commit metadata: digest of what the table was built from (table versions, reviewed list, rules)
INPUTS_DIGEST = "filinglake_issuer_links_inputs"
#: changes whenever a rule changes, so that the next publish rebuilds the table
RULES_VERSION = "1"

CURATED, FULL_NAME, SECONDARY_LISTING_TICKER = "curated", "full_name", "secondary_listing_ticker"
HIGH, MEDIUM = "high", "medium"
#: rule → confidence, strongest first
RULES: dict[str, str] = {CURATED: HIGH, FULL_NAME: HIGH, SECONDARY_LISTING_TICKER: MEDIUM}

#: legal-form words dropped from the end of a name (repeatedly: ``CO LTD``, ``CO., LTD.``); words such as
#: HOLDINGS or GROUP are part of the name (``CHINA FOODS`` is not ``China Foods Holdings Ltd.``)
LEGAL_SUFFIXES = frozenset({
    "INC", "INCORPORATED", "CORP", "CORPORATION", "CO", "COMPANY", "LTD", "LIMITED", "PLC", "LLC", "LLP", "LP",
    "SA", "AG", "NV", "SE", "AB", "ASA", "OYJ", "SPA", "BHD", "BERHAD", "PTE", "PTY",
})
#: legal forms at the end of a Chinese name (simplified and traditional)
LEGAL_SUFFIXES_ZH = ("股份有限公司", "有限责任公司", "有限責任公司", "有限公司")
_STATE_TAG = re.compile(r"\s*[/\\][A-Z]{2,4}[/\\]?\s*$")  # SEC conformed names: /DE/, \PA\, /CAN/
_REMOVED = re.compile(r"[.'’`]")  # S.A. → SA, L.P. → LP
_SEPARATORS = re.compile(r"[^\w]+")


def normalise_name(name: str | None) -> str | None:
    """A name as the ``full_name`` rule compares it; None when nothing is left.

    NFKC (full-width → half-width: ``ＡＢＣ（中国）`` → ``ABC(中国)``), upper case, a trailing SEC state
    tag dropped (``/DE/``), ``&`` → ``AND``, dots and apostrophes removed, every other punctuation or
    symbol a space, a leading ``THE`` and trailing legal forms (:data:`LEGAL_SUFFIXES`,
    :data:`LEGAL_SUFFIXES_ZH`) dropped, spaces collapsed. Nothing else: no abbreviation is expanded,
    no word reordered, no character converted between simplified and traditional.
    """
    if not name:
        return None
    text = unicodedata.normalize("NFKC", name).upper().strip()
    text = _STATE_TAG.sub("", text).replace("&", " AND ")
    text = _SEPARATORS.sub(" ", _REMOVED.sub("", text)).strip()
    words = text.split()
    if words[:1] == ["THE"] and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    text = " ".join(words)
    changed = True
    while changed:
        changed = False
        for suffix in LEGAL_SUFFIXES_ZH:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)].rstrip(), True
    return text or None


# ------------------------------------------------------------------------------------------------
# The reviewed list
# ------------------------------------------------------------------------------------------------

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ENTRY_FIELDS = {"id", "name", "members", "evidence", "references", "valid_from"}


@dataclass(frozen=True)
class CuratedLink:
    """One entry of the reviewed link list."""

    id: str
    name: str
    members: tuple[tuple[str, str, str | None], ...]  # (source, issuer_id, ticker)
    evidence: str
    references: tuple[str, ...]
    valid_from: date | None = None


@dataclass
class Curated:
    """The reviewed list as read: its entries, the entries refused (id or position, why) and its digest."""

    links: list[CuratedLink] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    digest: str = ""


def load_curated(path: str | Path | None) -> Curated:
    """The reviewed links in ``path``; a bad entry is refused (with why) and the others kept; no file: none."""
    import yaml

    if not path:
        return Curated()
    file = Path(path)
    if not file.is_file():
        log.warning("issuer links: no reviewed list at %s: only rule-made links", file)
        return Curated(refused=[{"entry": str(file), "reason": "file not found"}])
    data = file.read_bytes()
    result = Curated(digest=hashlib.sha256(data).hexdigest())
    try:
        document = yaml.safe_load(data) or {}
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        log.warning("issuer links: %s is not YAML, no reviewed link used: %s", file, reason)
        result.refused.append({"entry": str(file), "reason": f"not YAML: {reason}"})
        return result
    entries = document.get("links") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        result.refused.append({"entry": str(file), "reason": "the file needs a list under `links:`"})
        return result
    seen_ids: set[str] = set()
    seen_members: dict[tuple[str, str], str] = {}
    for position, entry in enumerate(entries, start=1):
        where = str(entry.get("id")) if isinstance(entry, dict) and entry.get("id") else f"entry {position}"
        try:
            link = _curated_entry(entry)
            if link.id in seen_ids:
                raise ValueError(f"id {link.id!r} is used twice")
            for source, issuer_id, _ in link.members:
                if (source, issuer_id) in seen_members:
                    raise ValueError(f"{source}:{issuer_id} is already in entry {seen_members[(source, issuer_id)]!r}")
        except ValueError as exc:
            log.warning("issuer links: %s: %s: refused", file.name, f"{where}: {exc}")
            result.refused.append({"entry": where, "reason": str(exc)})
            continue
        seen_ids.add(link.id)
        seen_members.update({(s, i): link.id for s, i, _ in link.members})
        result.links.append(link)
    return result


def _text(entry: dict, name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`{name}` must be a non-empty text")
    return " ".join(value.split())


def _curated_entry(entry: object) -> CuratedLink:
    if not isinstance(entry, dict):
        raise ValueError("an entry is a mapping with id, name, members, evidence, references")
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; known: {sorted(_ENTRY_FIELDS)}")
    link_id = _text(entry, "id")
    if not _ID.fullmatch(link_id):
        raise ValueError(f"id {link_id!r}: use lowercase letters, digits and dashes")
    members = []
    for member in entry.get("members") or []:
        if not isinstance(member, dict) or not isinstance(member.get("issuer"), str):
            raise ValueError('each member needs `issuer: "<source>:<issuer_id>"`')
        source, _, issuer_id = member["issuer"].strip().partition(":")
        if source not in source_names() or not issuer_id.strip():
            raise ValueError(f"member {member['issuer']!r}: write <source>:<issuer_id>, source one of "
                             f"{', '.join(source_names())}")
        ticker = member.get("ticker")
        members.append((source, issuer_id.strip(), str(ticker).strip() if ticker else None))
    if len({(s, i) for s, i, _ in members}) < 2:
        raise ValueError("a link needs at least two different members")
    references = entry.get("references")
    if not isinstance(references, list) or not references or not all(
            isinstance(r, str) and r.startswith(("http://", "https://")) for r in references):
        raise ValueError("`references` must list the public pages (http/https) that show the link")
    valid_from = entry.get("valid_from")
    if valid_from is not None and not isinstance(valid_from, date):
        try:
            valid_from = date.fromisoformat(str(valid_from))
        except ValueError:
            raise ValueError(f"valid_from {valid_from!r} is not YYYY-MM-DD") from None
    return CuratedLink(link_id, _text(entry, "name"), tuple(members), _text(entry, "evidence"),
                       tuple(references), valid_from)


# ------------------------------------------------------------------------------------------------
# The rules
# ------------------------------------------------------------------------------------------------

Key = tuple[str, str]  # (source, issuer_id)


class Observation(NamedTuple):
    """A name or ticker an issuer was listed or filed under, with the days it held (None: undated)."""

    key: Key
    name: str | None
    ticker: str | None
    valid_from: date | None
    valid_to: date | None  # exclusive; None: still


@dataclass(frozen=True)
class Edge:
    """One piece of evidence that ``a`` and ``b`` are one company."""

    a: Key
    b: Key
    rule: str
    matched_value: str
    evidence: str
    valid_from: date | None
    valid_to: date | None

    @property
    def confidence(self) -> str:
        return RULES[self.rule]


def _overlap(x: Observation, y: Observation) -> tuple[bool, date | None, date | None]:
    """Whether both held on a common day, and the common span (an undated side takes the other's)."""
    start = max((d for d in (x.valid_from, y.valid_from) if d is not None), default=None)
    ends = [d for d in (x.valid_to, y.valid_to) if d is not None]
    end = min(ends) if ends else None
    return (start is None or end is None or start < end), start, end


def _span(pairs: list[tuple[Observation, Observation]]) -> tuple[bool, date | None, date | None]:
    """The days any pair held together: (held, first day, end or None)."""
    spans = [(s, e) for ok, s, e in (_overlap(x, y) for x, y in pairs) if ok]
    if not spans:
        return False, None, None
    starts = [s for s, _ in spans]
    start = None if any(s is None for s in starts) else min(starts)
    ends = [e for _, e in spans]
    end = None if any(e is None for e in ends) else max(ends)
    return True, start, end


def _label(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


def full_name_sources(sources: list[Source]) -> dict[str, NameKind]:
    """Sources whose full names another source can match: two or more give full names in one language."""
    kinds = {s.name: s.name_kind for s in sources if s.name_kind is not None and s.name_kind.full}
    languages = [kind.language for kind in kinds.values()]
    return {name: kind for name, kind in kinds.items() if languages.count(kind.language) > 1}


def secondary_listing_sources(sources: list[Source]) -> dict[str, Source]:
    """Sources that mark secondary listings in their short names (they override ``secondary_listing_symbol``)."""
    from filinglake.sources import Source

    return {s.name: s for s in sources if type(s).secondary_listing_symbol is not Source.secondary_listing_symbol}


def full_name_edges(observations: list[Observation], sources: list[Source]) -> list[Edge]:
    """``full_name``: one normalised full name, one issuer in each of two sources that give full names."""
    kinds = full_name_sources(sources)
    if not kinds:
        return []  # no two sources give full names in one language (today: SEC alone gives full names)
    by_name: dict[tuple[str, str], dict[Key, list[Observation]]] = {}
    for obs in observations:
        kind = kinds.get(obs.key[0])
        normal = normalise_name(obs.name) if kind else None
        if kind and normal:
            by_name.setdefault((kind.language, normal), {}).setdefault(obs.key, []).append(obs)
    edges = []
    for (_, normal), holders in sorted(by_name.items()):
        per_source: dict[str, list[Key]] = {}
        for key in holders:
            per_source.setdefault(key[0], []).append(key)
        if len(per_source) < 2 or any(len(keys) > 1 for keys in per_source.values()):
            continue  # one source only, or a name two issuers of one source share: no link
        keys = sorted(keys[0] for keys in per_source.values())
        for a, b in zip(keys, keys[1:], strict=False):
            held, start, end = _span([(x, y) for x in holders[a] for y in holders[b]])
            if held:
                names = " and ".join(f'{_label(k)} "{holders[k][-1].name}"' for k in (a, b))
                edges.append(Edge(a, b, FULL_NAME, normal, f'{names}: one full name once normalised ("{normal}")',
                                  start, end))
    return edges


def secondary_listing_edges(observations: list[Observation], sources: list[Source]) -> list[Edge]:
    """``secondary_listing_ticker``: a secondary listing's short name is another source's ticker, held by one issuer."""
    by_source = secondary_listing_sources(sources)
    symbols: dict[str, dict[Key, list[Observation]]] = {}
    tickers: dict[str, dict[Key, list[Observation]]] = {}
    for obs in observations:
        source = by_source.get(obs.key[0])
        symbol = source.secondary_listing_symbol(obs.name) if source is not None else None
        if symbol:
            symbols.setdefault(symbol, {}).setdefault(obs.key, []).append(obs)
        if obs.ticker:
            tickers.setdefault(obs.ticker, {}).setdefault(obs.key, []).append(obs)
    edges = []
    for symbol, listed in sorted(symbols.items()):
        if len(listed) != 1:
            continue  # two issuers carry the same symbol: no link
        (key, names), = listed.items()
        others = {k: v for k, v in tickers.get(symbol, {}).items() if k[0] != key[0]}
        if len(others) != 1:
            continue  # no other issuer has that ticker, or several (over time): no link
        (other, held_by), = others.items()
        held, start, end = _span([(x, y) for x in names for y in held_by])
        if held:
            evidence = (f'{_label(key)} short name "{names[-1].name}" marks a secondary listing of ticker "{symbol}", '
                        f"the ticker of {_label(other)} (the only issuer with it)")
            edges.append(Edge(key, other, SECONDARY_LISTING_TICKER, symbol, evidence, start, end))
    return edges


def curated_edges(curated: list[CuratedLink]) -> list[Edge]:
    """``curated``: each member of a reviewed entry linked to its first member."""
    edges = []
    for link in curated:
        first, *rest = [(s, i) for s, i, _ in link.members]
        text = f"{link.evidence} [{' '.join(link.references)}] (reviewed list entry {link.id})"
        edges += [Edge(first, key, CURATED, link.id, text, link.valid_from, None) for key in rest if key != first]
    return edges


# ------------------------------------------------------------------------------------------------
# Building the table
# ------------------------------------------------------------------------------------------------


class _Groups:
    """Union-find over issuer keys."""

    def __init__(self) -> None:
        self.parent: dict[Key, Key] = {}

    def find(self, key: Key) -> Key:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: Key, b: Key) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _rows(table: pa.Table, columns: list[str], mask: pa.ChunkedArray | pa.Array) -> list[dict]:
    return table.filter(mask).select(columns).to_pylist() if table.num_rows else []


def observations(securities: pa.Table, issuers: pa.Table, name_sources: set[str],
                 tickers: set[str] | None = None) -> list[Observation]:
    """Names of the issuers of ``name_sources``, and every issuer's listing of one of ``tickers`` (None: all).

    From securities versions (dated) and issuers rows (undated: the names and tickers they filed under).
    Only what a rule can use is read: the tables may hold every issuer that ever filed.
    """
    sources = pa.array(sorted(name_sources), pa.string())
    found = [Observation((r["source"], r["issuer_id"]), r["name"], None, r["valid_from"], r["valid_to"])
             for r in _rows(securities, ["source", "issuer_id", "name", "valid_from", "valid_to"],
                            pc.is_in(securities["source"], value_set=sources))]
    found += [Observation((r["source"], r["issuer_id"]), r["company_name"], None, None, None)
              for r in _rows(issuers, ["source", "issuer_id", "company_name"],
                             pc.is_in(issuers["source"], value_set=sources))]
    if tickers is not None and not tickers:
        return found
    wanted = pa.array(sorted(tickers or ()), pa.string())
    listed = pc.is_in(securities["ticker"], value_set=wanted) if tickers is not None else pc.is_valid(securities["ticker"])
    found += [Observation((r["source"], r["issuer_id"]), None, r["ticker"], r["valid_from"], r["valid_to"])
              for r in _rows(securities, ["source", "issuer_id", "ticker", "valid_from", "valid_to"], listed)]
    if issuers.num_rows:
        flat = pc.list_flatten(issuers["tickers"])
        parents = pc.list_parent_indices(issuers["tickers"])
        hits = pc.is_in(flat, value_set=wanted) if tickers is not None else pc.is_valid(flat)
        rows = issuers.take(pc.filter(parents, hits)).select(["source", "issuer_id"]).to_pylist()
        found += [Observation((r["source"], r["issuer_id"]), None, t, None, None)
                  for r, t in zip(rows, pc.filter(flat, hits).to_pylist(), strict=True)]
    return found


def _describe(securities: pa.Table, issuers: pa.Table, sources: list[Source], keys: set[Key]) -> dict[Key, dict]:
    """Per issuer of ``keys``: name, ticker and exchange to show (current main security, else its issuers row)."""
    ids = pa.array(sorted({issuer_id for _, issuer_id in keys}), pa.string())
    securities = securities.filter(pc.is_in(securities["issuer_id"], value_set=ids))
    issuers = issuers.filter(pc.is_in(issuers["issuer_id"], value_set=ids))
    shown: dict[Key, dict] = {}
    for r in issuers.select(["source", "issuer_id", "company_name", "ticker", "exchange"]).to_pylist():
        shown[(r["source"], r["issuer_id"])] = {"name": r["company_name"], "ticker": r["ticker"], "exchange": r["exchange"]}
    rows = securities.select(["source", "issuer_id", "name", "ticker", "exchange", "is_primary", "is_current",
                              "valid_from"]).to_pylist()
    rows.sort(key=lambda r: (bool(r["is_current"]), bool(r["is_primary"]), r["valid_from"] or date.min))
    for r in rows:  # the best version last: it wins
        if (r["source"], r["issuer_id"]) not in keys:
            continue
        known = shown.setdefault((r["source"], r["issuer_id"]), {})
        known.update({k: r[k] for k in ("name", "ticker") if r[k]})
        known["exchange"] = r["exchange"] or known.get("exchange")
    single = {s.name: s.exchanges[0] for s in sources if len(s.exchanges) == 1}
    for key in keys:
        shown.setdefault(key, {})
    for (source, _), known in shown.items():
        known["exchange"] = known.get("exchange") or single.get(source)
    return shown


def build_links(securities: pa.Table, issuers: pa.Table, curated: list[CuratedLink],
                sources: list[Source] | None = None) -> pa.Table:
    """The ``issuer_links`` rows from securities versions, issuers rows and the reviewed entries."""
    sources = sources if sources is not None else all_sources()
    marking = secondary_listing_sources(sources)
    named = observations(securities, issuers, set(full_name_sources(sources)) | set(marking), tickers=set())
    symbols = {marking[o.key[0]].secondary_listing_symbol(o.name) for o in named if o.key[0] in marking}
    seen = named + observations(securities, issuers, set(), tickers={s for s in symbols if s})
    edges = curated_edges(curated) + full_name_edges(seen, sources) + secondary_listing_edges(seen, sources)
    strength = {rule: n for n, rule in enumerate(RULES)}
    edges.sort(key=lambda e: (strength[e.rule], e.a, e.b))
    groups, strong = _Groups(), _Groups()
    for edge in edges:
        groups.join(edge.a, edge.b)
        if edge.confidence == HIGH:
            strong.join(edge.a, edge.b)
    best: dict[Key, Edge] = {}
    for edge in edges:  # strongest first: a member keeps its strongest evidence
        for key in (edge.a, edge.b):
            best.setdefault(key, edge)
    members: dict[Key, list[Key]] = {}
    for key in best:
        members.setdefault(groups.find(key), []).append(key)
    curated_by_member = {(s, i): link for link in curated for s, i, _ in link.members}
    shown = _describe(securities, issuers, sources, set(best))
    full_sources = {s.name for s in sources if s.name_kind is not None and s.name_kind.full}
    rows = []
    for keys in members.values():
        keys.sort()
        entries = sorted({curated_by_member[k].id: curated_by_member[k] for k in keys if k in curated_by_member}.items())
        if len(entries) > 1:
            log.warning("issuer links: reviewed entries %s are joined by rule evidence: one link",
                        ", ".join(i for i, _ in entries))
        link_id = entries[0][0] if entries else _label(keys[0])
        full_names = [shown.get(k, {}).get("name") for k in keys if k[0] in full_sources]
        link_name = entries[0][1].name if entries else next(
            (n for n in [*full_names, *(shown.get(k, {}).get("name") for k in keys)] if n), link_id)
        link_confidence = HIGH if len({strong.find(k) for k in keys}) == 1 else MEDIUM
        for key in keys:
            edge = best[key]
            known = shown.get(key, {})
            ticker = known.get("ticker") or next(
                (t for s, i, t in (curated_by_member[key].members if key in curated_by_member else ())
                 if (s, i) == key), None)
            rows.append({
                "link_id": link_id, "link_name": link_name, "link_confidence": link_confidence,
                "source": key[0], "issuer_id": key[1], "exchange": known.get("exchange"), "ticker": ticker,
                "name": known.get("name"), "rule": edge.rule, "confidence": edge.confidence,
                "matched_value": edge.matched_value, "linked_to": _label(edge.b if key == edge.a else edge.a),
                "evidence": edge.evidence, "valid_from": edge.valid_from, "valid_to": edge.valid_to,
            })
    table = pa.Table.from_pylist(rows, schema=ISSUER_LINKS_SCHEMA)
    return table.sort_by([("link_id", "ascending"), ("source", "ascending"), ("issuer_id", "ascending")])


def _inputs_digest(inputs: dict, curated: Curated) -> str:
    """What the links are built from: the versions of the open ``inputs`` (securities, issuers), the list, the rules."""
    versions = [f"{name}={table.version() if table is not None else -1}" for name, table in inputs.items()]
    text = "|".join([*versions, f"curated={curated.digest}", f"rules={RULES_VERSION}"])
    return hashlib.sha256(text.encode()).hexdigest()


def refresh_links(storage: Storage, *, force: bool = False) -> dict:
    """Rebuild ``published/issuer_links`` when securities, issuers or the reviewed list changed (or ``force``).

    Writes only when the rows changed. Returns ``rows``, ``links``, member rows per rule (``by_rule``),
    links per link_confidence (``by_confidence``), the reviewed entries ``refused`` (entry and why),
    ``rebuilt`` (recomputed) and ``written`` (a new table version committed).
    """
    settings = storage.settings
    if settings is None:  # a Storage made from a bare root: the environment's settings
        from filinglake.config import load_settings

        settings = load_settings()
    curated = load_curated(settings.issuer_links)
    inputs = {name: delta.open_table(storage, name) for name in (SECURITIES, ISSUERS)}  # opened once: read below
    digest = _inputs_digest(inputs, curated)
    table = delta.open_table(storage, ISSUER_LINKS)
    if table is not None and not force and _built_from(table) == digest:
        return {"rebuilt": False, "written": False, "rows": None, "links": None, "by_rule": {}, "by_confidence": {},
                "refused": curated.refused}
    # read at the versions the digest names
    securities = delta.read_if_exists(inputs[SECURITIES], SECURITIES_SCHEMA)
    issuers = delta.read_if_exists(inputs[ISSUERS], ISSUERS_SCHEMA,
                                   columns=["source", "issuer_id", "exchange", "company_name", "ticker", "tickers"])
    built = build_links(securities, issuers, curated.links)
    current = delta.read_snapshot(table, ISSUER_LINKS_SCHEMA) if table is not None else None
    written = current is None or not current.equals(built)

    def write() -> None:
        from deltalake import CommitProperties, write_deltalake

        target = delta.ensure_table(storage, ISSUER_LINKS, ISSUER_LINKS_SCHEMA, ())
        write_deltalake(target, delta.conform(built, ISSUER_LINKS_SCHEMA), mode="overwrite",
                        writer_properties=delta.writer_properties(),
                        commit_properties=CommitProperties(custom_metadata={INPUTS_DIGEST: digest}))

    if written:
        delta.retry_on_conflict("published/issuer_links", write)
    links = {r["link_id"]: r for r in built.select(["link_id", "link_confidence"]).to_pylist()}
    by_rule: dict[str, int] = {}
    for r in built.select(["link_id", "rule"]).to_pylist():
        by_rule[r["rule"]] = by_rule.get(r["rule"], 0) + 1
    by_confidence: dict[str, int] = {}
    for r in links.values():
        by_confidence[r["link_confidence"]] = by_confidence.get(r["link_confidence"], 0) + 1
    log.info("issuer_links %s: %d links, %d member rows (%s)", "written" if written else "unchanged", len(links),
             built.num_rows, ", ".join(f"{k} {v}" for k, v in sorted(by_confidence.items())) or "none")
    return {"rebuilt": True, "written": written, "rows": built.num_rows, "links": len(links), "by_rule": by_rule,
            "by_confidence": by_confidence, "refused": curated.refused}


def _built_from(table) -> str | None:
    """The inputs digest of the table's latest write (None: not written by :func:`refresh_links`)."""
    for commit in table.history(limit=10):
        if commit.get("operation") == "WRITE":
            return str(commit[INPUTS_DIGEST]) if INPUTS_DIGEST in commit else None
    return None


def read_links(storage: Storage, where: str | None = None) -> pa.Table:
    return delta.read(storage, ISSUER_LINKS, ISSUER_LINKS_SCHEMA, where=where)
