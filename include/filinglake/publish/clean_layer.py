"""What publish reads: the committed clean partitions, through their manifests (:mod:`filinglake.manifests`).

:func:`clean_partitions` and :func:`read_clean` are the only way publish reads the clean layer, so a
partition being re-landed is read whole, old or new, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from filinglake import manifests
from filinglake.errors import FilinglakeError
from filinglake.publish import delta
from filinglake.schema import FILINGS_SCHEMA

if TYPE_CHECKING:
    from filinglake.storage import Storage


class PublishError(FilinglakeError):
    """A partition asked for cannot be published (e.g. its clean Parquet is missing)."""


def clean_partitions(storage: Storage, sources: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every committed (source, partition): those with a manifest (see :mod:`filinglake.manifests`)."""
    return manifests.committed_partitions(storage, sources)


def read_clean(storage: Storage, partitions: Sequence[tuple[str, str]]) -> pa.Table:
    """The committed clean rows of ``partitions`` (FILINGS_SCHEMA); an unlanded one is a :class:`PublishError`."""
    tables = []
    for source, partition in partitions:
        manifest = manifests.read_manifest(storage, source, partition)
        if manifest is None:
            raise PublishError(f"{source} {partition}: no clean partition committed (no manifest; land it first)")
        tables.append(delta.conform(manifests.read_layer(storage, manifest, "clean"), FILINGS_SCHEMA))
    return pa.concat_tables(tables) if tables else FILINGS_SCHEMA.empty_table()
