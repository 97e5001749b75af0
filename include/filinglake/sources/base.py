"""What every source provides: partitions, fetch (HTTP → raw files), parse (bytes → Arrow), rules.

Sources know HTTP and formats, never storage: the pipeline archives what ``fetch`` returns and
feeds the archived bytes to ``parse``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.ingest.row_checks import Rule


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


class Source(ABC):
    """One disclosure source. Subclasses are stateless; settings and clients are passed in."""

    name: str = ""
    #: hosts documents and index pages may be linked on (and fetched from)
    document_hosts: tuple[str, ...] = ()

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
