"""What publish reads: the landed clean partitions (``clean/filings/source=…/partition=…``).

:func:`clean_partitions` and :func:`read_clean` are the only way publish reads the clean layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake.errors import FilinglakeError
from filinglake.publish import delta
from filinglake.schema import FILINGS_SCHEMA
from filinglake.storage import CLEAN_LAYER, clean_key

if TYPE_CHECKING:
    from filinglake.storage import Storage


class PublishError(FilinglakeError):
    """A partition asked for cannot be published (e.g. its clean Parquet is missing)."""


def clean_partitions(storage: Storage, sources: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every landed (source, partition), from the keys under ``clean/filings/``."""
    wanted = set(sources) if sources is not None else None
    found = set()
    for key in storage.list(CLEAN_LAYER):
        parts = key[len(CLEAN_LAYER) + 1:].split("/")
        if len(parts) != 3 or parts[2] != "part.parquet":
            continue
        if not (parts[0].startswith("source=") and parts[1].startswith("partition=")):
            continue
        source, partition = parts[0][len("source="):], parts[1][len("partition="):]
        if wanted is None or source in wanted:
            found.add((source, partition))
    return sorted(found)


def read_clean(storage: Storage, partitions: Sequence[tuple[str, str]]) -> pa.Table:
    """The clean rows of ``partitions`` (FILINGS_SCHEMA); a missing partition is a :class:`PublishError`."""
    tables = []
    for source, partition in partitions:
        key = clean_key(source, partition)
        if not storage.exists(key):
            raise PublishError(f"{source} {partition}: no clean partition at {key} (land it first)")
        table = storage.read_parquet(key)
        tables.append(delta.conform(table, FILINGS_SCHEMA))
    return pa.concat_tables(tables) if tables else FILINGS_SCHEMA.empty_table()
