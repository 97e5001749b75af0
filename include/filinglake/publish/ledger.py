"""What publish already published: ``published/_ledger.json``, one entry per published partition.

An entry holds the partition's content id (:func:`content_id`, from its manifest) when it was
published, so ``filinglake publish`` without arguments publishes exactly the partitions that are new
or changed since (:func:`pending`). Checking costs one listing of ``manifests/``: a manifest whose
size and modification time are those recorded is not read again; one that differs is read and its
content id compared (a re-landing of the same bytes writes a new manifest with the same content id).

The ledger is written after a publish completed every table. Two publishes finishing at the same
moment may each write their own entries over the other's: the partitions lost that way are simply
published again next time, which changes nothing (publishing is idempotent).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from filinglake.publish.delta import PUBLISHED_LAYER
from filinglake.storage import MANIFEST_LAYER, manifest_key

if TYPE_CHECKING:
    from filinglake.storage import Storage

LEDGER_KEY = f"{PUBLISHED_LAYER}/_ledger.json"
#: the manifest fields that say what a partition's clean data is (not when or how fast it was landed)
CONTENT_FIELDS = ("outputs", "rows_in", "rows_written", "duplicates", "quarantined")

Partition = tuple[str, str]


def content_id(manifest: dict) -> str:
    """sha256 of what a manifest says the partition holds: equal ids, equal clean data.

    A manifest names its clean files with their sha256 (:mod:`filinglake.manifests`): those and the
    counts are the content. A manifest of the earlier one-file layout has no sha256: its
    :data:`CONTENT_FIELDS` stand in.
    """
    from filinglake.manifests import data_files

    clean = data_files(manifest, "clean")
    if all(entry.get("sha256") for entry in clean):
        content: dict = {"clean": sorted(entry["sha256"] for entry in clean),
                         **{k: manifest.get(k) for k in CONTENT_FIELDS if k != "outputs"}}
    else:
        content = {k: manifest.get(k) for k in CONTENT_FIELDS}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _entry_name(partition: Partition) -> str:
    return f"{partition[0]}/{partition[1]}"


def read_ledger(storage: Storage) -> dict[str, dict]:
    """``"source/partition"`` → entry (``content_id``, ``manifest_size``, ``manifest_mtime_ns``, …)."""
    if not storage.exists(LEDGER_KEY):
        return {}
    return dict(storage.get_json(LEDGER_KEY).get("partitions", {}))  # type: ignore[union-attr]


def _manifest_stats(storage: Storage) -> dict[str, tuple[int, int]]:
    """manifest key → (size, mtime_ns), from one listing of ``manifests/``."""
    selector = pafs.FileSelector(storage.path(MANIFEST_LAYER), recursive=True, allow_not_found=True)
    strip = len(storage.base) + 1
    return {info.path[strip:]: (info.size, info.mtime_ns or 0)
            for info in storage.fs.get_file_info(selector) if info.type == pafs.FileType.File}


def current_states(storage: Storage, partitions: Sequence[Partition],
                   ledger: dict[str, dict] | None = None) -> dict[Partition, dict]:
    """partition → its state now (``content_id``, manifest size and mtime); manifests read only when changed."""
    ledger = read_ledger(storage) if ledger is None else ledger
    stats = _manifest_stats(storage)
    states: dict[Partition, dict] = {}
    for partition in partitions:
        key = manifest_key(*partition)
        size, mtime_ns = stats.get(key, (None, None))
        recorded = ledger.get(_entry_name(partition), {})
        if size is None:
            cid = None  # landed without a manifest: nothing to compare, published once
        elif (recorded.get("manifest_size"), recorded.get("manifest_mtime_ns")) == (size, mtime_ns):
            cid = recorded.get("content_id")
        else:
            cid = content_id(storage.get_json(key))  # type: ignore[arg-type]
        states[partition] = {"content_id": cid, "manifest_size": size, "manifest_mtime_ns": mtime_ns}
    return states


def pending(storage: Storage, partitions: Sequence[Partition]) -> tuple[list[Partition], dict[Partition, dict]]:
    """(the ``partitions`` new or changed since the ledger recorded them, every partition's state now)."""
    ledger = read_ledger(storage)
    states = current_states(storage, partitions, ledger)
    todo = [p for p in partitions
            if _entry_name(p) not in ledger or ledger[_entry_name(p)].get("content_id") != states[p]["content_id"]]
    return todo, states


def record(storage: Storage, states: dict[Partition, dict], filings_version: int,
           partitions: Iterable[Partition] | None = None) -> None:
    """Record ``partitions`` (default: all of ``states``) as published at ``filings_version``."""
    ledger = read_ledger(storage)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for partition in partitions if partitions is not None else states:
        ledger[_entry_name(partition)] = {**states[partition], "published_at": now, "filings_version": filings_version}
    storage.put_json(LEDGER_KEY, {"partitions": dict(sorted(ledger.items()))})
