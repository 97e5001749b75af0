"""What a committed partition is: its manifest, written last, names the data files that make it up.

Landing writes a partition's clean and quarantine rows to files named by their content
(``clean/filings/source=S/partition=P/<sha256>.parquet``, the same under ``quarantine/``), then
writes the manifest ``manifests/source=S/partition=P.json`` naming them (key, size, sha256, rows).
That one write is the commit: a reader going through this module sees the previous version of the
partition whole until the manifest switches, and the new one whole after it. Files no manifest
names (a landing killed before its manifest, a superseded version) are invisible to readers;
:func:`remove_superseded` deletes them once it is safe.

Partitions of the earlier layout (one ``part.parquet`` per layer, named by the manifest's
``outputs``) are read through the same functions.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from filinglake.errors import FilinglakeError
from filinglake.schema import FILINGS_SCHEMA, QUARANTINE_SCHEMA, with_current_names
from filinglake.storage import (
    CLEAN_LAYER,
    MANIFEST_LAYER,
    QUARANTINE_LAYER,
    TEMPORARY_SUFFIX,
    clean_key,
    is_temporary,
    manifest_key,
    parquet_bytes,
    partition_prefix,
    quarantine_key,
)

if TYPE_CHECKING:
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.manifests")

Layer = Literal["clean", "quarantine"]
#: layer name in a manifest -> where its files live
LAYERS: dict[str, str] = {"clean": CLEAN_LAYER, "quarantine": QUARANTINE_LAYER}
_SCHEMAS = {"clean": FILINGS_SCHEMA, "quarantine": QUARANTINE_SCHEMA}
_LEGACY_KEYS = {"clean": clean_key, "quarantine": quarantine_key}


class NotCommitted(FilinglakeError):
    """A partition has no manifest: it was never landed (or its first landing never finished)."""


class MissingDataFile(FilinglakeError):
    """A file the manifest names is not in storage (deleted by hand, or storage lost it)."""


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------


def write_data_file(storage: Storage, source: str, partition: str, layer: Layer, table: pa.Table) -> dict:
    """Write ``table`` under a key named by its sha256; returns the manifest entry (key, size, sha256, rows).

    The same rows give the same bytes and so the same key: a rerun rewrites nothing new.
    """
    data = parquet_bytes(table)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{partition_prefix(LAYERS[layer], source, partition)}/{digest[:32]}.parquet"
    stored = storage.stat(key)
    if stored is None or stored.size != len(data):
        storage.put_bytes(key, data)
    return {"key": key, "size": len(data), "sha256": digest, "rows": table.num_rows}


def commit(storage: Storage, manifest: dict) -> list[str]:
    """Switch the partition to ``manifest`` (one atomic write), then remove what it superseded.

    Returns the keys removed.
    """
    source, partition = str(manifest["source"]), str(manifest["partition"])
    key = manifest_key(source, partition)
    previous = read_manifest(storage, source, partition)
    previous_stat = storage.stat(key)
    storage.put_json(key, manifest)
    return remove_superseded(storage, manifest, previous, previous_stat.modified if previous_stat else None)


def remove_superseded(
    storage: Storage, manifest: dict, previous: dict | None, previous_committed_at: datetime | None
) -> list[str]:
    """Delete the partition's data files (and temporaries, its manifest's too) that ``manifest`` does not name.

    Only files that are certainly dead go: those the previous manifest named, and those older than
    the previous manifest (leftovers of landings that died before it). A file written after the
    previous commit by a landing still in progress is left alone; the next landing removes it.
    """
    source, partition = str(manifest["source"]), str(manifest["partition"])
    keep = {key for layer in LAYERS for key in data_keys(manifest, layer)}
    named_before = {key for layer in LAYERS for key in data_keys(previous, layer)} if previous else set()
    removed = []
    for layer_prefix in LAYERS.values():
        for stored in storage.list_files(partition_prefix(layer_prefix, source, partition), include_temporary=True):
            if stored.key in keep:
                continue
            older = (previous_committed_at is not None and stored.modified is not None
                     and stored.modified < previous_committed_at)
            if stored.key in named_before or older:
                storage.delete(stored.key)
                removed.append(stored.key)
    # a landing killed while renaming its manifest leaves the temporary beside the manifests
    directory, name = manifest_key(source, partition).rsplit("/", 1)
    for stored in storage.list_files(directory, include_temporary=True):
        if (is_temporary(stored.key) and stored.key.endswith(f"-{name}{TEMPORARY_SUFFIX}")
                and previous_committed_at is not None and stored.modified is not None
                and stored.modified < previous_committed_at):
            storage.delete(stored.key)
            removed.append(stored.key)
    if removed:
        log.info("%s %s: removed %d superseded file(s)", source, partition, len(removed))
    return removed


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


def read_manifest(storage: Storage, source: str, partition: str) -> dict | None:
    """The committed manifest of a partition, or None when it was never committed."""
    key = manifest_key(source, partition)
    if not storage.exists(key):
        return None
    manifest = storage.get_json(key)
    if not isinstance(manifest, dict):
        raise FilinglakeError(f"{key}: not a manifest (a JSON object was expected)")
    return manifest


def _partition_of(key: str) -> tuple[str, str] | None:
    """(source, partition) of ``manifests/source=S/partition=P.json``; None for any other key."""
    parts = key[len(MANIFEST_LAYER) + 1:].split("/")
    if len(parts) != 2 or not parts[0].startswith("source=") or not parts[1].startswith("partition="):
        return None
    if not parts[1].endswith(".json"):
        return None
    return parts[0][len("source="):], parts[1][len("partition="):-len(".json")]


def committed_partitions(storage: Storage, sources: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every committed (source, partition), sorted: those with a manifest."""
    wanted = set(sources) if sources is not None else None
    found = []
    for key in storage.list(MANIFEST_LAYER):
        named = _partition_of(key)
        if named and (wanted is None or named[0] in wanted):
            found.append(named)
    return sorted(found)


def iter_manifests(storage: Storage, sources: Iterable[str] | None = None) -> Iterator[tuple[str, dict]]:
    """(manifest key, manifest) of every committed partition; unreadable manifests are logged and skipped."""
    for source, partition in committed_partitions(storage, sources):
        key = manifest_key(source, partition)
        try:
            manifest = storage.get_json(key)
        except ValueError:
            log.warning("%s is not JSON; skipped", key)
            continue
        if isinstance(manifest, dict) and "source" in manifest:
            yield key, manifest


def data_files(manifest: dict, layer: Layer) -> list[dict]:
    """The manifest's entries for ``layer``: ``{"key", ...}`` (size, sha256, rows in the current layout)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}: expected one of {', '.join(LAYERS)}")
    files = manifest.get("files")
    if isinstance(files, dict):
        return [dict(entry) for entry in files.get(layer) or []]
    # Earlier layout: one part.parquet per layer, named by "outputs" (or implied by the partition).
    outputs = manifest.get("outputs") or {}
    key = outputs.get(layer) or _LEGACY_KEYS[layer](str(manifest["source"]), str(manifest["partition"]))
    return [{"key": key, "legacy": True}]


def data_keys(manifest: dict, layer: Layer) -> list[str]:
    """Keys of the data files of ``layer`` that make up the committed partition."""
    return [entry["key"] for entry in data_files(manifest, layer)]


def read_layer(storage: Storage, manifest: dict, layer: Layer) -> pa.Table:
    """The rows of one layer of a committed partition (clean: FILINGS_SCHEMA, quarantine: with failed_checks).

    A named file that is missing is a :class:`MissingDataFile`, except in an old-layout partition
    recorded as empty (that layout did not always write empty files).
    """
    tables = []
    for entry in data_files(manifest, layer):
        key = entry["key"]
        if not storage.exists(key):
            if entry.get("legacy") and manifest.get("status") == "empty":
                continue
            raise MissingDataFile(
                f"{manifest.get('source')} {manifest.get('partition')}: {key} is named by the manifest "
                "but missing from storage"
            )
        tables.append(with_current_names(storage.read_parquet(key)))  # a file of an older version too
    if not tables:
        return _SCHEMAS[layer].empty_table()
    return pa.concat_tables(tables, promote_options="default")


def read_committed(storage: Storage, source: str, partition: str, layer: Layer = "clean") -> pa.Table:
    """The rows of one layer of the committed partition; :class:`NotCommitted` when there is none."""
    manifest = read_manifest(storage, source, partition)
    if manifest is None:
        raise NotCommitted(f"{source} {partition}: not landed (no manifest at {manifest_key(source, partition)})")
    return read_layer(storage, manifest, layer)


def committed_files(storage: Storage, layer: Layer, sources: Iterable[str] | None = None) -> list[str]:
    """Keys of every data file of ``layer`` named by a committed manifest (what a query should read)."""
    keys = []
    for _, manifest in iter_manifests(storage, sources):
        for entry in data_files(manifest, layer):
            if entry.get("legacy") and not storage.exists(entry["key"]):
                continue  # an old empty partition without its file
            keys.append(entry["key"])
    return sorted(keys)
