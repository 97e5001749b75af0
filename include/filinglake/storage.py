"""Object-store paths, the raw archive and atomic writes, identical on ``file://`` and ``s3://``.

This module knows keys and bytes, not formats of sources. Keys are always ``/``-separated and
relative to the storage root (``FILINGLAKE_STORAGE``). Every write is all-or-nothing: an object
is serialised in memory and then put in one request (S3) or written to a temporary file and
renamed (local disk), so a crash never leaves half a file under its final key. Temporary files
are named ``.tmp-<uuid>-<name>.tmp``: never listed, and never matched by a ``*.parquet`` glob.

Which data files make up a partition is not decided here: see :mod:`filinglake.manifests`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from filinglake.config import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_name(name: str, max_length: int = 120) -> str:
    """A source-given name made safe to use as one key segment.

    Path separators, ``..`` and anything outside ``[A-Za-z0-9._=-]`` become ``_``; the result
    never starts with a dot and is never empty.
    """
    cleaned = _UNSAFE.sub("_", name.replace("\\", "/").split("/")[-1]).lstrip(".")
    cleaned = cleaned.replace("..", "_")[:max_length]
    return cleaned or "unnamed"


def partition_prefix(layer: str, source: str, partition: str) -> str:
    """``<layer>/source=<source>/partition=<partition>`` with both values sanitised."""
    return f"{layer}/source={safe_name(source)}/partition={safe_name(partition)}"


CLEAN_LAYER = "clean/filings"
QUARANTINE_LAYER = "quarantine"
#: one record per refused reference list (``<layer>/source=S/partition=<archive day>/<raw sha256[:16]>.parquet``),
#: read by the ``quarantine`` view beside the committed quarantine files
REFUSED_REFERENCES_LAYER = "quarantine/references"
RAW_LAYER = "raw"
MANIFEST_LAYER = "manifests"
VALIDATION_LAYER = "validation"


def clean_key(source: str, partition: str) -> str:
    """The single clean file of the layout before content-named files (old manifests name it)."""
    return f"{partition_prefix(CLEAN_LAYER, source, partition)}/part.parquet"


def quarantine_key(source: str, partition: str) -> str:
    """The single quarantine file of the layout before content-named files (old manifests name it)."""
    return f"{partition_prefix(QUARANTINE_LAYER, source, partition)}/part.parquet"


def manifest_key(source: str, partition: str) -> str:
    return f"{MANIFEST_LAYER}/source={safe_name(source)}/partition={safe_name(partition)}.json"


def validation_key(source: str, partition: str) -> str:
    return f"{partition_prefix(VALIDATION_LAYER, source, partition)}/gx_result.json"


TEMPORARY_PREFIX = ".tmp-"
TEMPORARY_SUFFIX = ".tmp"


def is_temporary(key: str) -> bool:
    """True for a temporary file of an unfinished local write."""
    return key.rsplit("/", 1)[-1].startswith(TEMPORARY_PREFIX)


@dataclass(frozen=True)
class StoredFile:
    """One stored object as a listing sees it."""

    key: str
    size: int
    modified: datetime | None  # last modification (S3: to the second)


@dataclass(frozen=True)
class RawRef:
    """One archived raw file: where it is, what it was, when it was first fetched."""

    key: str
    sha256: str
    size: int
    url: str
    name: str
    content_type: str | None
    fetched_at: str  # ISO-8601 UTC of the first time these bytes were archived
    new: bool = True  # False when identical bytes were already in the archive
    #: why these bytes were not landed (e.g. fewer rows than the landed partition); None when landed or pending
    not_landed: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Storage:
    """A storage root (``file://…`` or ``s3://bucket/prefix``) with key-level operations."""

    def __init__(self, root: str, settings: Settings | None = None):
        self.root = root.rstrip("/")
        parsed = urlparse(self.root)
        self.scheme = parsed.scheme
        if self.scheme == "file":
            self.fs: pafs.FileSystem = pafs.LocalFileSystem()
            self.base = unquote(parsed.path).rstrip("/")
        elif self.scheme == "s3":
            self.fs = _s3_filesystem(settings)
            self.base = (parsed.netloc + parsed.path).rstrip("/")
            if not parsed.netloc:
                raise ValueError(f"storage root {root!r} has no bucket")
        else:
            raise ValueError(f"unsupported storage root {root!r}: use file:// or s3://")
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        return cls(settings.storage, settings)

    # -- paths ---------------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """Filesystem path of ``key`` for ``self.fs`` (bucket/prefix/key on S3)."""
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"refusing key {key!r}: keys are relative and never climb")
        return f"{self.base}/{key}"

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    # -- bytes ---------------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self.path(key)).type == pafs.FileType.File

    def get_bytes(self, key: str) -> bytes:
        """The stored bytes of ``key``, as they were put (their sha256 is the archived one)."""
        # compression=None: pyarrow's default ("detect") gunzipped any key ending in .gz on the way,
        # so a raw master.gz came back decompressed, not as archived
        with self.fs.open_input_stream(self.path(key), compression=None) as stream:
            return stream.read()

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``data`` under ``key`` so that readers see the old object or the new one, never a part.

        ``content_type`` is stored as the S3 object's Content-Type (so an HTML page opens in a
        browser instead of downloading); local files ignore it.
        """
        path = self.path(key)
        if self.scheme == "file":
            directory = os.path.dirname(path)
            os.makedirs(directory, exist_ok=True)
            tmp = f"{directory}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{os.path.basename(path)}{TEMPORARY_SUFFIX}"
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:
            # One PUT: S3 makes the object visible only when the upload completes.
            metadata = {"Content-Type": content_type} if content_type else None
            with self.fs.open_output_stream(path, metadata=metadata) as stream:
                stream.write(data)

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.delete_file(self.path(key))

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (recursive), sorted; temporary files are skipped."""
        return [f.key for f in self.list_files(prefix)]

    def list_files(self, prefix: str, *, include_temporary: bool = False) -> list[StoredFile]:
        """Objects under ``prefix`` (recursive) with size and modification time, sorted by key."""
        selector = pafs.FileSelector(self.path(prefix.rstrip("/")), recursive=True, allow_not_found=True)
        files = []
        strip = len(self.base) + 1
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            key = info.path[strip:]
            if is_temporary(key) and not include_temporary:
                continue
            modified = info.mtime
            if modified is not None and modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
            files.append(StoredFile(key, info.size, modified))
        return sorted(files, key=lambda f: f.key)

    def stat(self, key: str) -> StoredFile | None:
        """Size and modification time of ``key``; None when there is no such object."""
        info = self.fs.get_file_info(self.path(key))
        if info.type != pafs.FileType.File:
            return None
        modified = info.mtime
        if modified is not None and modified.tzinfo is None:
            modified = modified.replace(tzinfo=UTC)
        return StoredFile(key, info.size, modified)

    # -- JSON ----------------------------------------------------------------------------------
    def put_json(self, key: str, obj: object) -> None:
        self.put_bytes(key, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def get_json(self, key: str) -> object:
        return json.loads(self.get_bytes(key))

    # -- Parquet -------------------------------------------------------------------------------
    def write_parquet(self, key: str, table: pa.Table) -> int:
        """Write ``table`` as one zstd Parquet object, atomically; returns the byte size.

        The bytes depend only on the table, so rewriting the same rows gives the same object.
        """
        data = parquet_bytes(table)
        self.put_bytes(key, data)
        return len(data)

    def read_parquet(self, key: str) -> pa.Table:
        return pq.read_table(self.path(key), filesystem=self.fs)

    # -- raw archive ---------------------------------------------------------------------------
    def archive_raw(
        self,
        source: str,
        partition: str,
        name: str,
        data: bytes,
        url: str,
        content_type: str | None = None,
    ) -> RawRef:
        """Archive raw bytes once: the key carries the sha256, so identical bytes map to one object.

        A sidecar ``<key>.meta.json`` records where the bytes came from and when they were first
        fetched; fetching identical bytes again returns the existing record (``new=False``).
        """
        digest = hashlib.sha256(data).hexdigest()
        key = f"{partition_prefix(RAW_LAYER, source, partition)}/{digest[:16]}-{safe_name(name)}"
        meta_key = f"{key}.meta.json"
        if self.exists(meta_key) and self.exists(key):
            meta = self.get_json(meta_key)
            assert isinstance(meta, dict)
            if meta.get("sha256") == digest:
                return RawRef(**{**meta, "new": False})
        ref = RawRef(
            key=key,
            sha256=digest,
            size=len(data),
            url=url,
            name=name,
            content_type=content_type,
            fetched_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        )
        self.put_bytes(key, data)
        meta = ref.to_dict()
        meta.pop("new")
        meta.pop("not_landed")
        self.put_json(meta_key, meta)  # written last: a raw object without meta is re-archived
        return ref

    def raw_ref(self, key: str) -> RawRef:
        meta = self.get_json(f"{key}.meta.json")
        assert isinstance(meta, dict)
        return RawRef(**{**meta, "new": False})

    def mark_raw(self, key: str, not_landed: str | None) -> None:
        """Record in the raw file's meta why its bytes were not landed (``None``: they were landed)."""
        meta_key = f"{key}.meta.json"
        meta = self.get_json(meta_key)
        assert isinstance(meta, dict)
        if meta.get("not_landed") == not_landed:
            return
        if not_landed is None:
            meta.pop("not_landed", None)
        else:
            meta["not_landed"] = not_landed
        self.put_json(meta_key, meta)


#: Columns whose values are (nearly) unique per row: dictionary encoding hashes every value, then
#: gives up at the dictionary page limit and writes them plain anyway (~10% of a filings write).
#: The short per-file constants too: zstd shrinks them to ~1 KB without the hashing (raw_key, a long
#: constant, costs the same either way and is half the size as a dictionary).
PLAIN_COLUMNS = frozenset({"filing_id", "native_id", "issuer_id", "company_name", "title", "title_clean", "document_url",
                           "source", "exchange", "language"})
#: Ids, free text and URLs: a partition is one row group whose min/max on these spans nearly the
#: whole range (nothing is ever pruned by it), and comparing every string costs ~15% of a filings
#: write. Dates, timestamps and the low-cardinality columns keep statistics (report.py reads them).
NO_STATISTICS_COLUMNS = frozenset({"filing_id", "native_id", "issuer_id", "company_name", "title", "title_clean",
                                   "document_url"})


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as zstd Parquet bytes; the bytes depend only on the table (same rows, same object)."""
    sink = pa.BufferOutputStream()
    leaves = [(field.name, path) for field in table.schema for path in _leaf_paths(field.name, field.type)]
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=[path for name, path in leaves if name not in PLAIN_COLUMNS],
        write_statistics=[path for name, path in leaves if name not in NO_STATISTICS_COLUMNS],
    )
    return sink.getvalue().to_pybytes()


def _leaf_paths(path: str, typ: pa.DataType) -> list[str]:
    """Parquet column paths under one Arrow field (the per-column options name leaves, e.g. ``x.list.element``)."""
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _leaf_paths(f"{path}.list.element", typ.value_type)
    if pa.types.is_struct(typ):
        return [leaf for i in range(typ.num_fields) for leaf in _leaf_paths(f"{path}.{typ.field(i).name}", typ.field(i).type)]
    if pa.types.is_map(typ):
        return _leaf_paths(f"{path}.key_value.key", typ.key_type) + _leaf_paths(f"{path}.key_value.value", typ.item_type)
    return [path]


def _endpoint_parts(endpoint_url: str) -> tuple[str, str]:
    parsed = urlparse(endpoint_url if "://" in endpoint_url else f"https://{endpoint_url}")
    return parsed.netloc, parsed.scheme or "https"


def _s3_filesystem(settings: Settings | None) -> pafs.S3FileSystem:
    kwargs: dict = {}
    if settings is not None:
        kwargs["region"] = settings.aws_region
        if settings.aws_access_key_id and settings.aws_secret_access_key:
            kwargs["access_key"] = settings.aws_access_key_id
            kwargs["secret_key"] = settings.aws_secret_access_key
            if settings.aws_session_token:
                kwargs["session_token"] = settings.aws_session_token
        if settings.s3_endpoint_url:
            host, scheme = _endpoint_parts(settings.s3_endpoint_url)
            kwargs["endpoint_override"] = host
            kwargs["scheme"] = scheme
    return pafs.S3FileSystem(**kwargs)


def s3fs_filesystem(settings: Settings | None):
    """An s3fs filesystem for ``settings`` (what DuckDB's ``register_filesystem`` takes)."""
    import s3fs

    kwargs: dict = {"client_kwargs": {}}
    if settings is not None:
        kwargs["client_kwargs"]["region_name"] = settings.aws_region
        if settings.aws_access_key_id and settings.aws_secret_access_key:
            kwargs["key"] = settings.aws_access_key_id
            kwargs["secret"] = settings.aws_secret_access_key
            if settings.aws_session_token:
                kwargs["token"] = settings.aws_session_token
        if settings.s3_endpoint_url:
            kwargs["endpoint_url"] = settings.s3_endpoint_url
    # no listing cache: a query must see the files of the table version it was planned on
    return s3fs.S3FileSystem(use_listings_cache=False, **kwargs)


def s3_storage_options(settings: Settings) -> dict[str, str]:
    """Options for delta-rs / object_store (``storage_options=``) matching ``settings``."""
    options: dict[str, str] = {"AWS_REGION": settings.aws_region}
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        options["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
        options["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key
        if settings.aws_session_token:
            options["AWS_SESSION_TOKEN"] = settings.aws_session_token
    if settings.s3_endpoint_url:
        options["AWS_ENDPOINT_URL"] = settings.s3_endpoint_url
        if settings.s3_endpoint_url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options["conditional_put"] = "etag"
    return options
