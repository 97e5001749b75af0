"""Capture the document behind an alerted filing (PDF, HTML or text) into ``raw/documents/``.

Only URLs on the source's own document hosts (``Source.document_hosts``) are followed: a filing
row is source-given data, and a link elsewhere is refused, not fetched. The body is streamed with
a byte cap (``FILINGLAKE_DOCUMENT_MAX_BYTES``) and checked for what it claims to be: a URL ending
in ``.pdf`` must hold a PDF, and an HTML page in its place (a block or challenge page) is an error.

Bytes are stored once under ``raw/documents/source=<source>/<sha256[:16]>-<name>`` with a sidecar
``.meta.json`` (sha256, size, content_type, url, fetched_at); capturing identical bytes again, from
any URL, returns the stored object.

Where the bytes are fetched from follows the configured source roots (each source's
``Source.root_settings()``, e.g. ``FILINGLAKE_SEC_BASE_URL``): when one points somewhere else (a
replay server in tests and the demo), the document is fetched from there (:func:`fetch_url`), never
from the real host. The host check is always made on the document URL as the source gave it.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from filinglake.errors import FilinglakeError
from filinglake.storage import RAW_LAYER, safe_name

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.alerts.documents")

DOCUMENTS_LAYER = f"{RAW_LAYER}/documents"
#: content types kept, and what each is called in messages
ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "text/html": "HTML",
    "application/xhtml+xml": "HTML",
    "text/plain": "text",
    "text/xml": "XML",
    "application/xml": "XML",
}


class DocumentError(FilinglakeError):
    """A document could not be captured (the message says why, in one line)."""


class ForeignHost(DocumentError):
    """The URL is not on one of the source's document hosts; it was not fetched."""


class DocumentTooLarge(DocumentError):
    """The document is larger than FILINGLAKE_DOCUMENT_MAX_BYTES; the download was stopped."""


class UnexpectedContent(DocumentError):
    """The body is not a document we keep (an HTML challenge page instead of a PDF, a binary of another kind)."""


def documents_prefix(source: str) -> str:
    return f"{DOCUMENTS_LAYER}/source={safe_name(source)}"


def document_hosts(source: str) -> tuple[str, ...]:
    """The hosts ``source`` links its documents on."""
    from filinglake.sources import get_source

    try:
        hosts = get_source(source).document_hosts
    except (ValueError, ImportError) as exc:
        raise ForeignHost(f"no document hosts known for source {source!r} ({exc}); not fetched") from None
    return tuple(h.lower() for h in hosts)


def check_url(url: str, source: str) -> str:
    """``url`` if it is plain http(s) on one of ``source``'s document hosts; :class:`ForeignHost` otherwise."""
    hosts = document_hosts(source)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ForeignHost(f"{url!r} is not a valid URL; not fetched") from None
    if parts.scheme not in ("http", "https"):
        raise ForeignHost(f"{url!r}: not http(s); not fetched")
    if parts.username or parts.password:
        raise ForeignHost(f"{url!r}: carries credentials; not fetched")
    host = (parts.hostname or "").lower()
    if host not in hosts:
        raise ForeignHost(f"{url!r}: host {host or '(none)'!r} is not a {source} document host "
                          f"({', '.join(hosts) or 'none'}); not fetched")
    if port not in (None, 80, 443):
        raise ForeignHost(f"{url!r}: port {port} is not a {source} document host port; not fetched")
    return url.strip()


def _roots(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Per source: (default root, configured root), most specific first."""
    from filinglake.sources import all_sources

    return {source.name: [(str(s.default), getattr(source.own_settings(settings), s.key))
                          for s in source.root_settings()]
            for source in all_sources()}


def fetch_url(url: str, settings: Settings, source: str | None = None) -> str:
    """Where to fetch ``url`` from when a source root is configured away from its default.

    A URL under a default root that is configured elsewhere is fetched under the configured root.
    Otherwise, if ``source`` has any root configured elsewhere, the URL's path is fetched from that
    place: a replay server stands in for all of a source's hosts, and a document must never slip out
    to the real host while the source itself points at a stand-in. Unconfigured: ``url`` unchanged.
    """
    roots = _roots(settings)
    candidates = roots.get(source, []) if source else [pair for pairs in roots.values() for pair in pairs]
    for default, configured in candidates:
        configured = configured.rstrip("/")
        if configured == default:
            continue
        for scheme in ("https://", "http://"):
            root = scheme + default.split("://", 1)[1]
            if url == root or url.startswith(root + "/"):
                return configured + url[len(root):]
    for default, configured in roots.get(source or "", []):
        if configured.rstrip("/") != default:
            parts, place = urlsplit(url), urlsplit(configured)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            return f"{place.scheme}://{place.netloc}{path}"
    return url


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _document_name(url: str) -> str:
    path = unquote(urlsplit(url).path)
    return safe_name(path.rstrip("/").rsplit("/", 1)[-1] or "document")


def classify(url: str, body: bytes, declared_type: str | None) -> str:
    """The media type to record for ``body``, or :class:`UnexpectedContent` saying what it is instead."""
    from filinglake.http import looks_like_html

    declared = _media_type(declared_type)
    is_pdf = body.startswith(b"%PDF-")
    wants_pdf = declared == "application/pdf" or urlsplit(url).path.lower().endswith(".pdf")
    if wants_pdf and not is_pdf:
        if looks_like_html(body):
            raise UnexpectedContent(f"{url}: an HTML page came back instead of a PDF (a block or challenge page?)")
        raise UnexpectedContent(f"{url}: not a PDF (body starts {body[:8]!r}, Content-Type {declared or 'none'})")
    if is_pdf:
        return "application/pdf"
    if declared in ALLOWED_TYPES:
        return declared
    if looks_like_html(body):
        return "text/html"
    kept = ", ".join(sorted(set(ALLOWED_TYPES.values())))
    raise UnexpectedContent(f"{url}: Content-Type {declared or 'none'} is not a document kind we keep ({kept})")


def _stored_copy(storage: Storage, source: str, digest: str) -> dict | None:
    """The meta record of bytes with this sha256 already stored for ``source``, if any."""
    prefix = documents_prefix(source)
    for key in storage.list(prefix):
        name = key.rsplit("/", 1)[-1]
        if name.startswith(digest[:16] + "-") and key.endswith(".meta.json"):
            meta = storage.get_json(key)
            if isinstance(meta, dict) and meta.get("sha256") == digest and storage.exists(meta.get("key", "")):
                return meta
    return None


def capture(storage: Storage, settings: Settings, url: str, source: str, *,
            client: PoliteClient | None = None) -> dict:
    """Download ``url`` (a ``source`` document) into ``raw/documents/``; returns its record.

    The record: ``key``, ``sha256``, ``size``, ``content_type``, ``url``, ``fetched_at`` and ``new``
    (False when identical bytes were already stored). Raises :class:`DocumentError` subclasses
    (foreign host, too large, unexpected content, HTTP status) and the HTTP client's errors.
    """
    from filinglake.http import ResponseTooLarge
    from filinglake.sources import make_client

    check_url(url, source)
    target = fetch_url(url.strip(), settings, source)
    cap = settings.document_max_bytes
    own_client = client is None
    client = client or make_client(source, settings)
    try:
        try:
            response = client.get(target, max_bytes=cap)
        except ResponseTooLarge as exc:
            raise DocumentTooLarge(f"{url}: larger than FILINGLAKE_DOCUMENT_MAX_BYTES={cap:,} bytes; "
                                   "download stopped") from exc
    finally:
        if own_client:
            client.close()
    if 300 <= response.status_code < 400:
        raise DocumentError(f"{url}: HTTP {response.status_code} redirect to "
                            f"{response.headers.get('Location', '?')!r} (redirects are not followed)")
    if response.status_code != 200:
        raise DocumentError(f"{url}: HTTP {response.status_code}")
    body = response.content
    content_type = classify(url, body, response.headers.get("Content-Type"))
    digest = hashlib.sha256(body).hexdigest()

    stored = _stored_copy(storage, source, digest)
    if stored is not None:
        log.info("document %s: identical bytes already stored at %s", url, stored["key"])
        return {**stored, "new": False}
    key = f"{documents_prefix(source)}/{digest[:16]}-{_document_name(url)}"
    record = {
        "key": key,
        "sha256": digest,
        "size": len(body),
        "content_type": content_type,
        "url": url,
        "fetched_from": target,
        "source": source,
        "fetched_at": datetime.now(UTC).isoformat(timespec="microseconds"),
    }
    storage.put_bytes(key, body)
    storage.put_json(f"{key}.meta.json", record)  # last: bytes without a meta record are captured again
    log.info("document %s: %d bytes (%s) stored at %s", url, len(body), content_type, key)
    return {**record, "new": True}
