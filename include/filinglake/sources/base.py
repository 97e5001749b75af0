"""What every source provides, and everything that makes one source differ from another.

Behaviour: partitions, fetch (HTTP → raw files), parse (bytes → Arrow), rules. Declarations, read by
the rest of the code through the registry (:mod:`filinglake.sources`) so that adding a source means
adding one module: its exchanges, its settings (environment variables for its roots, request rate and
block back-off, read through the registry: ``source_settings(name, settings)``), HTTP client options (headers,
block detection; documents follow its roots, a stand-in server replaces them), its Airflow pool
and host rate limit, document hosts, issuer reference list and the ``issuers`` columns it fills, and its
report colour.

Sources know HTTP and formats, never storage: the pipeline archives what ``fetch`` returns and
feeds the archived bytes to ``parse``. Source modules import pyarrow inside functions only, so reading
the declarations (DAG parsing, CLI start-up) stays light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import httpx
    import pyarrow as pa

    from filinglake.config import Settings
    from filinglake.freshness import LandingSchedule
    from filinglake.http import PoliteClient
    from filinglake.ingest.row_checks import Rule


@dataclass(frozen=True)
class SourceSetting:
    """One setting a source declares, read from the environment (``source_settings(name, settings).<key>``).

    ``kind`` "url": a root the source is fetched from (a trailing ``/`` is dropped); "number": positive,
    at most ``most`` when given (``why`` says whose limit that is).
    """

    key: str  # attribute name on the source's settings: "base_url", "rate", "block_seconds" ...
    env: str  # the environment variable, e.g. FILINGLAKE_SEC_RATE
    default: str | float
    help: str  # one line for the configuration tables (README, .env.example, ``env_vars()``)
    kind: str = "number"
    most: float | None = None
    why: str = ""

    def default_text(self) -> str:
        """The default as the configuration tables show it (``5``, not ``5.0``)."""
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    def read(self, environment: Mapping[str, str]) -> object:
        """Its value in ``environment`` (the default when unset); a ConfigError names the variable."""
        from filinglake.config import read_number, read_url

        if self.kind == "url":
            return read_url(self.env, str(self.default), environment)
        return read_number(self.env, float(self.default), environment, most=self.most, why=self.why)


@dataclass(frozen=True)
class SourceSettings:
    """One source's settings: ``.rate``, ``.base_url`` … as the source declares them.

    Each value is read when asked for, so a malformed variable raises its ConfigError only where that
    value is used: a bad ``FILINGLAKE_SEC_RATE`` fails SEC requests, nothing else.
    """

    source: str
    declared: tuple[SourceSetting, ...]
    environment: Mapping[str, str]
    given: Mapping[str, object]  # values set in code (``Settings.with_source``), ahead of the environment

    def __getattr__(self, key: str) -> object:
        if key.startswith("_") or key in ("source", "declared", "environment", "given"):
            raise AttributeError(key)  # not a setting (copy, pickle, a half-built object)
        if not any(s.key == key for s in self.declared):
            raise AttributeError(f"{self.source} declares no setting {key!r}; it declares "
                                 f"{', '.join(s.key for s in self.declared) or 'none'}")
        return self.get(key)

    def get(self, key: str, default: object = None) -> object:
        """The value of ``key``, or ``default`` when the source does not declare it."""
        if key in self.given:
            return self.given[key]
        setting = next((s for s in self.declared if s.key == key), None)
        return default if setting is None else setting.read(self.environment)


def root_setting(key: str, env: str, default: str, help: str) -> SourceSetting:
    return SourceSetting(key, env, default, help, kind="url")


@dataclass(frozen=True)
class Partition:
    """The unit of work: one source and one period (a day, or a quarter for quarterly indexes)."""

    source: str
    id: str  # "2016-07-01", "2016Q3", "2024-12-23-en" ... used verbatim in storage keys
    kind: str  # "daily" | "quarterly" | source-specific
    start: date
    end: date
    options: tuple[tuple[str, str], ...] = ()  # extra, e.g. (("language", "zh"),)

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class RawFile:
    """Bytes exactly as a source served them, with where they came from."""

    name: str
    url: str
    data: bytes
    content_type: str | None = None


@dataclass
class FetchResult:
    """What a fetch produced: raw files, or a reason why the period legitimately has none."""

    files: list[RawFile] = field(default_factory=list)
    empty_reason: str | None = None
    notes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuerReference:
    """One issuer as a source's reference list describes it (e.g. SEC company_tickers, CNINFO stock list)."""

    issuer_id: str
    ticker: str | None  # the main one
    tickers: tuple[str, ...]
    stock_code: str | None
    reference_name: str | None


@dataclass(frozen=True)
class SecurityReference:
    """One listed security as a source's reference list names it (a row of ``published/securities``)."""

    issuer_id: str  # CIK, CNINFO orgId, HKEX stock code
    security_id: str  # its key within the issuer: the ticker (SEC), the stock code (CNINFO)
    ticker: str | None  # market-suffixed: AAPL, 002236.SZ
    name: str | None  # as the list spells it
    is_primary: bool = True  # the issuer's main listing (SEC: its first ticker in the list)
    exchange: str | None = None
    stock_code: str | None = None
    name_pinyin: str | None = None
    category: str | None = None  # CNINFO: A股, B股, CDR
    board: str | None = None  # market segment: HKEX Main Board, GEM
    stock_id: str | None = None  # the source's internal id of the security (HKEXnews stockId)
    name_en: str | None = None  # its English name, where the list has one
    name_zh: str | None = None  # its Chinese name, where the list has one


@dataclass(frozen=True)
class NameKind:
    """What the issuer names of a source are (its reference list's and its filings'), for ``issuer_links``.

    ``full``: the registered name of the company (SEC's conformed company name), which a link may be
    made on when another source gives the same full name; False: an abbreviated short name (CNINFO's
    证券简称, HKEX's stock short name), never evidence on its own (two companies share short names).
    """

    language: str  # "en", "zh": names are only compared within one language
    full: bool


class Source(ABC):
    """One disclosure source. Subclasses are stateless; settings and clients are passed in."""

    name: ClassVar[str] = ""
    #: venues its rows name in ``exchange``
    exchanges: ClassVar[tuple[str, ...]] = ()
    #: hosts documents and index pages may be linked on (and fetched from)
    document_hosts: ClassVar[tuple[str, ...]] = ()

    # Settings and HTTP -----------------------------------------------------------------------------
    #: its environment variables, read by :meth:`own_settings` (no edit in filinglake.config for a new
    #: source). Keys with a meaning to the HTTP client: ``rate`` (requests/second per process, required),
    #: ``block_seconds`` (how long a detected block holds the host off; absent: the client's default).
    #: ``url`` settings are the roots it is fetched from, most specific first; documents linked under a
    #: root's default are fetched from the configured one.
    declared_settings: ClassVar[tuple[SourceSetting, ...]] = ()

    # Airflow ---------------------------------------------------------------------------------------
    #: the pool its fetch tasks run in (slots in ``deploy/airflow/pools.json``)
    pool: ClassVar[str] = ""
    #: requests/second the host may get from all our workers together: pool slots × rate stay within it
    host_rate_limit: ClassVar[float] = 0.0
    #: daily sources: the market days, when the day's run fires and by when its partition should have
    #: landed (read by the timetable, the deadline alert and the status page); None: not a daily source
    landing_schedule: ClassVar[LandingSchedule | None] = None

    # Published tables and report ---------------------------------------------------------------------
    #: ``issuers`` column → DuckDB expression over ``a`` (the issuer's published rows: ``a.issuer_id``,
    #: ``a.latest_ticker``) and ``r`` (its reference row, may be NULL), for the columns this source fills
    issuer_columns: ClassVar[dict[str, str]] = {}
    #: DuckDB SQL on ``filing_id`` naming the bucket of the key index (publish/filing_keys.py) a filing id
    #: belongs to: a function of the id alone that new filings share (SEC: the accession's year). None: one
    #: bucket for the whole source (its daily publishes then read all of its keys in the index)
    filing_id_bucket: ClassVar[str | None] = None
    #: raw archive of its issuer reference list: (archive source name, file name); None: it has none
    reference_archive: ClassVar[tuple[str, str] | None] = None
    #: file name of a second list archived beside the reference list (same archive source and days) that
    #: adds to the securities it names (HKEX: the Chinese stock list, for ``name_zh``); None: none
    reference_companion: ClassVar[str | None] = None
    #: what its issuer names are (:class:`NameKind`); None: its names are never compared across sources
    name_kind: ClassVar[NameKind | None] = None
    #: its colour on the status page (None: one of the spare colours)
    report_colour: ClassVar[str | None] = None

    @classmethod
    def setting(cls, key: str) -> SourceSetting:
        """Its declared setting ``key``; a clear error names what it declares."""
        for declared in cls.declared_settings:
            if declared.key == key:
                return declared
        raise KeyError(f"{cls.name} declares no setting {key!r}; it declares "
                       f"{', '.join(s.key for s in cls.declared_settings) or 'none'}")

    @classmethod
    def own_settings(cls, settings: Settings) -> SourceSettings:
        """Its declared settings as ``settings`` has them (given in code, else the environment, else default)."""
        given = dict(settings.source_values.get(cls.name, {}))
        if unknown := set(given) - {s.key for s in cls.declared_settings}:
            raise ValueError(f"{cls.name} declares no setting {', '.join(sorted(unknown))}; it declares "
                             f"{', '.join(s.key for s in cls.declared_settings)}")
        return SourceSettings(cls.name, cls.declared_settings, settings.environment, given)

    @classmethod
    def root_settings(cls) -> tuple[SourceSetting, ...]:
        """The settings holding the roots it is fetched from, most specific first."""
        return tuple(s for s in cls.declared_settings if s.kind == "url")

    def request_headers(self, settings: Settings) -> dict[str, str]:
        """Headers every request to this source carries."""
        return {}

    def detect_block(self, response: httpx.Response) -> str | None:
        """Why ``response`` is a block page (the host then is held off), or None for an ordinary answer."""
        return None

    def reference_url(self, settings: Settings) -> str | None:
        """Where its issuer reference list is fetched at publish time (None: not fetched that way)."""
        return None

    def reference_companion_url(self, settings: Settings) -> str | None:
        """Where :attr:`reference_companion` is fetched, with the reference list (None: not fetched that way)."""
        return None

    def reference_companion_securities(self, data: bytes, name: str = "") -> list[SecurityReference]:
        """The securities an archived companion list names, keyed like :meth:`reference_securities`, with
        what it adds (HKEX: ``name_zh``); BadResponse for a bad list."""
        raise NotImplementedError(f"{self.name} has no reference companion list")

    def categories(self, form_type: str | None) -> list[tuple[str | None, str | None, str | None]] | None:
        """(code, name_zh, name_en) of each category a row's ``form_type`` names, from the source's own
        category lists; a code without a known name keeps null names. None: no category (the default)."""
        return None

    def secondary_listing_symbol(self, name: str | None) -> str | None:
        """The other market's ticker a short name carries when the source marks the security as a
        secondary listing of a company listed elsewhere (HKEX ``QFIN-S``: ``QFIN``); None otherwise (the default)."""
        return None

    def reference_rows(self, data: bytes, name: str = "") -> list[IssuerReference]:
        """The issuers an archived reference list names; raises BadResponse for any other shape."""
        raise NotImplementedError(f"{self.name} has no issuer reference list")

    def reference_securities(self, data: bytes, name: str = "") -> list[SecurityReference]:
        """The securities an archived reference list names (``published/securities``); BadResponse for a bad list.

        By default one per (issuer, ticker) of :meth:`reference_rows`; sources whose lists say more override it.
        """
        return [
            SecurityReference(row.issuer_id, ticker, ticker, row.reference_name, is_primary=ticker == row.ticker,
                              stock_code=row.stock_code, name_en=row.reference_name)
            for row in self.reference_rows(data, name) for ticker in row.tickers
        ]

    def environment_for_root(self, root_url: str) -> dict[str, str]:
        """The variables that send every request of this source to ``root_url`` (a stand-in server).

        Each root keeps its default path under ``root_url`` (SEC: ``<root_url>/Archives/edgar``).
        """
        from urllib.parse import urlsplit

        return {s.env: root_url.rstrip("/") + urlsplit(str(s.default)).path for s in self.root_settings()}

    @abstractmethod
    def partition(self, partition_id: str) -> Partition:
        """Parse a partition id (``2016-07-01``, ``2016Q3`` …); raises ValueError with a clear message."""

    @abstractmethod
    def fetch(self, partition: Partition, client: PoliteClient, settings: Settings) -> FetchResult:
        """Download the raw files of ``partition``; raise errors.* on anything not trustworthy."""

    @abstractmethod
    def parse(self, data: bytes, name: str = "") -> pa.Table:
        """Parse one raw file into the parser schema (:data:`filinglake.schema.PARSED_SCHEMA`)."""

    @abstractmethod
    def rules(self, partition: Partition | None) -> list[Rule]:
        """The rule list for rows of ``partition`` (``None``: a file parsed outside any partition)."""
