"""SEC EDGAR full-index (quarterly) and daily-index files → unified rows.

Formats (notes/sources.md §1): ``master`` and ``xbrl`` are ``|``-delimited; ``form`` and ``company``
are fixed width but their columns shift (long names overflow), so they are split on runs of two or
more spaces, never by position. Data starts after the first line beginning ``-----``; preambles
vary from 7 to 11 lines. Daily dates are ``YYYYMMDD``, quarterly ``YYYY-MM-DD``.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from filinglake.errors import BadResponse, NotYetPublished
from filinglake.freshness import WEEKDAYS, LandingSchedule
from filinglake.sources.base import (
    FetchResult,
    IssuerReference,
    NameKind,
    Partition,
    RawFile,
    Source,
    SourceSetting,
    root_setting,
)

if TYPE_CHECKING:
    import httpx
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from filinglake.config import Settings
    from filinglake.http import PoliteClient
    from filinglake.ingest import row_checks as quality

SOURCE = "sec_edgar"
FIRST_QUARTER = (1993, 1)
ACCESSION_PATTERN = r"^\d{10}-\d{2}-\d{6}$"
_DASH_LINE = re.compile(rb"^-{5,}[ \t]*$", re.MULTILINE)
#: the dashed line that ends the preamble is looked for in this many leading bytes
_PREAMBLE_WINDOW = 64 * 1024
_TWO_SPACES = re.compile(r" {2,}")
_DATE = re.compile(r"^(\d{8}|\d{4}-\d{2}-\d{2})$")
DOCUMENT_HOST = "www.sec.gov"
DEFAULT_BASE_URL = "https://www.sec.gov/Archives/edgar"  # the EDGAR archive root
#: a daily index is posted from about 22:00 US Eastern; until then its absence is not "no filings".
#: Past this many days after the day, a business day's missing index is a failure, never a wait.
NOT_YET_POSTED_GRACE = timedelta(days=2)


class IndexMissing(BadResponse):
    """No index for a closed period (an older quarter, a business day past its posting window).

    Not "not posted yet": SEC would have posted it by now. Retrying cannot help; the message names
    every URL tried.
    """

PIPE_COLUMNS = ["cik", "company_name", "form_type", "date_filed", "filename"]

SEC_RATE_BLOCK_MARKER = b"Request Rate Threshold Exceeded"
SEC_UNDECLARED_TOOL_MARKER = b"Undeclared Automated Tool"

#: SEC's CIK ↔ ticker list, archived once a UTC day under raw/source=<SEC_TICKERS_SOURCE>/
SEC_COMPANY_TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
SEC_TICKERS_SOURCE = "sec_company_tickers"
SEC_TICKERS_NAME = "company_tickers.json"


# ------------------------------------------------------------------------------------------------
# Bytes → text lines
# ------------------------------------------------------------------------------------------------


def decompress(data: bytes, name: str = "") -> bytes:
    """Undo gzip (also double gzip) and zlib wrapping; plain bytes pass through.

    A truncated or corrupt archive is a :class:`BadResponse`, never a partial index.
    """
    for _ in range(3):  # double-gzipped copies exist in the wild
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (EOFError, OSError, zlib.error) as exc:
                raise BadResponse(f"{name or 'index'}: truncated or corrupt gzip ({exc})") from None
        elif data[:1] == b"\x78" and data[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
            try:
                data = zlib.decompress(data)
            except zlib.error as exc:
                raise BadResponse(f"{name or 'index'}: corrupt zlib stream ({exc})") from None
        else:
            break
    return data


def normalise_newlines(data: bytes) -> bytes:
    """CRLF and CR-only files become LF (SEC serves LF; copies in the wild have both)."""
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _reject_non_index(data: bytes, name: str) -> None:
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head:
        title = re.search(rb"<title>(.*?)</title>", data[:8192], re.IGNORECASE | re.DOTALL)
        what = title.group(1).decode("latin-1").strip() if title else "an HTML page"
        raise BadResponse(f"{name or 'index'}: got HTML ({what!r}) where an EDGAR index was expected")


def split_preamble(data: bytes, name: str = "") -> tuple[str, memoryview]:
    """(header text before the dashed line, body after it: a view of ``data``, not a copy)."""
    if not data or data.isspace():  # data.strip() would copy the whole index to learn the same
        raise BadResponse(f"{name or 'index'}: empty body where an EDGAR index was expected")
    _reject_non_index(data, name)
    match = _DASH_LINE.search(data, 0, _PREAMBLE_WINDOW)
    if match is None:
        raise BadResponse(f"{name or 'index'}: no '-----' line in the first 64 KiB: not an EDGAR index")
    header = data[: match.start()].decode("latin-1")
    return header, memoryview(data)[match.end() + 1 :]


def detect_kind(header: str) -> str:
    """'pipe' (master, xbrl), 'form' or 'company', from the column header line(s)."""
    lines = [ln for ln in header.splitlines() if ln.strip()]
    if not lines:
        raise BadResponse("EDGAR index has no column header line")
    last = lines[-1].strip()
    column_line = " ".join(ln.strip() for ln in lines[-2:])
    if "|" in last:
        return "pipe"
    if last.startswith("Form Type") or column_line.startswith("Form Type"):
        return "form"
    if "Company Name" in column_line:
        return "company"
    raise BadResponse(f"EDGAR index header not recognised: {last[:80]!r}")


# ------------------------------------------------------------------------------------------------
# Body → columns
# ------------------------------------------------------------------------------------------------


def _pipe_csv_options(invalid_row_handler) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return {
        "read_options": pacsv.ReadOptions(column_names=PIPE_COLUMNS, block_size=16 << 20),
        "parse_options": pacsv.ParseOptions(
            delimiter="|", quote_char=False, escape_char=False, invalid_row_handler=invalid_row_handler
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types={c: pa.string() for c in PIPE_COLUMNS},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def _parse_pipe(body: bytes | memoryview) -> dict[str, pa.ChunkedArray | pa.Array]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cut_short: list[list[str | None]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        # A row with the wrong field count (a truncated last line) is kept for quarantine, not dropped.
        fields: list[str | None] = list(row.text.split("|"))[:5]
        cut_short.append(fields + [None] * (5 - len(fields)))
        return "skip"

    table = pacsv.read_csv(pa.py_buffer(body), **_pipe_csv_options(keep_invalid))
    if cut_short:
        extra = pa.table({c: pa.array([r[i] for r in cut_short], pa.string()) for i, c in enumerate(PIPE_COLUMNS)})
        table = pa.concat_tables([table, extra])
    return {c: table[c] for c in PIPE_COLUMNS}


def _split_fixed_line(line: str, kind: str) -> list[str | None]:
    """One fixed-width row → [cik, company, form, date, filename]; short rows keep what they have."""
    parts = line.rstrip().rsplit(None, 3)  # CIK, date and file name never contain spaces
    if len(parts) < 4 or not _DATE.match(parts[2]) or not parts[1].isdigit():
        head, cik, when, filename = line.strip(), None, None, None
    else:
        head, cik, when, filename = parts
    head = head.rstrip()
    if kind == "form":
        pieces = _TWO_SPACES.split(head, maxsplit=1)
        form, company = (pieces + [None])[:2] if len(pieces) > 1 else (head, None)
    else:
        pieces = _TWO_SPACES.split(head)
        if len(pieces) > 1:
            form = pieces[-1]
            company = head[: head.rfind(form)].rstrip()
        else:
            company, form = head, None
    return [cik, company, form, when, filename]


def _parse_fixed(body: bytes | memoryview, kind: str) -> dict[str, pa.Array]:
    import pyarrow as pa

    rows = [_split_fixed_line(line, kind) for line in str(body, "latin-1").split("\n") if line.strip()]
    return {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(PIPE_COLUMNS)}


def _parse_dates(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """YYYY-MM-DD (quarterly) or YYYYMMDD (daily) → date32; anything else → null (then quarantined)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(text, pa.date32())  # ISO dates: the fast path for quarterly files
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        compact = pc.replace_substring(text, "-", "")
        return pc.cast(pc.strptime(compact, format="%Y%m%d", unit="s", error_is_null=True), pa.date32())


def _ascii_slice(values: pa.ChunkedArray | pa.Array, start: int, stop: int) -> pa.ChunkedArray | pa.Array:
    """``utf8_slice_codeunits`` for ASCII-only text, by bytes (~10x cheaper: no code point walk)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sliced = pc.binary_slice(values.cast(pa.binary()), start, stop)  # the cast is zero-copy
    if isinstance(sliced, pa.ChunkedArray):
        return pa.chunked_array([chunk.view(pa.string()) for chunk in sliced.chunks], pa.string())
    return sliced.view(pa.string())  # ASCII bytes cut anywhere are still valid UTF-8


_URL_PREFIX = f"https://{DOCUMENT_HOST}/Archives/edgar/data/"
_FILING_ID_PREFIX = f"{SOURCE}:".encode()
_URL_SUFFIX = b"-index.htm"


def _fixed_width_strings(rows: np.ndarray) -> pa.Array:
    """A (n, width) uint8 matrix → n strings of ``width`` bytes (the matrix is the data buffer)."""
    import numpy as np
    import pyarrow as pa

    n, width = rows.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows))


def _ids_of_well_formed(accession: pa.ChunkedArray, cik: pa.ChunkedArray) -> tuple | None:
    """(filing_id, document_url) when every accession is ``dddddddddd-dd-dddddd``-shaped; else None.

    Twenty bytes with a dash at 10 and 13 and nowhere else: the filing id and the URL's
    ``/<folder>/<accession>-index.htm`` tail are then fixed-width byte matrices built from the
    accession's bytes (the general path's replace_substring and 8-part join cost ~3x more). Same
    strings, same chunks as the general path.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (isinstance(accession, pa.ChunkedArray) and isinstance(cik, pa.ChunkedArray)):
        return None  # the fixed-width formats' columns: small files, the general path
    if [len(c) for c in accession.chunks] != [len(c) for c in cik.chunks]:
        return None
    filing_ids, urls = [], []
    for acc, ciks in zip(accession.chunks, cik.chunks, strict=True):
        n = len(acc)
        if acc.null_count or not pa.types.is_string(acc.type) or n == 0:
            return None
        _, offsets_buffer, data = acc.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, acc.offset * 4)
        if not (np.diff(offsets) == 20).all():
            return None
        rows = np.frombuffer(data, np.uint8, 20 * n, int(offsets[0])).reshape(n, 20)
        if not ((rows[:, 10] == ord("-")).all() and (rows[:, 13] == ord("-")).all()):
            return None
        tail = np.empty((n, 50), np.uint8)  # "/" folder(18) "/" accession(20) "-index.htm"
        tail[:, 0] = tail[:, 19] = ord("/")
        tail[:, 1:11], tail[:, 11:13], tail[:, 13:19] = rows[:, 0:10], rows[:, 11:13], rows[:, 14:20]
        if (tail[:, 1:19] == ord("-")).any():  # a dash elsewhere: the general path removes every dash
            return None
        tail[:, 20:40] = rows
        tail[:, 40:50] = np.frombuffer(_URL_SUFFIX, np.uint8)
        filing_id = np.empty((n, len(_FILING_ID_PREFIX) + 20), np.uint8)
        filing_id[:, : len(_FILING_ID_PREFIX)] = np.frombuffer(_FILING_ID_PREFIX, np.uint8)
        filing_id[:, len(_FILING_ID_PREFIX) :] = rows
        filing_ids.append(_fixed_width_strings(filing_id))
        urls.append(pc.binary_join_element_wise(_URL_PREFIX, ciks, _fixed_width_strings(tail), ""))
    return pa.chunked_array(filing_ids, pa.string()), pa.chunked_array(urls, pa.string())


def _to_unified(cols: dict, ascii_only: bool = False) -> pa.Table:
    """Parsed columns → PARSED_SCHEMA; ``ascii_only``: the caller knows every value is 7-bit."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from filinglake.schema import PARSED_SCHEMA, empty_parsed

    n = len(cols["cik"])
    if n == 0:
        return empty_parsed()
    cik = cols["cik"]
    if pc.any(pc.starts_with(cik, "0")).as_py():
        cik = pc.replace_substring_regex(cik, r"^0+(\d)", r"\1")
    filename = cols["filename"]
    # "<path>/<accession>.txt": slicing is ~20x cheaper than a regex; a malformed name gives a value
    # that fails the accession_format rule, so the row is quarantined rather than silently fixed.
    well_formed = pc.ends_with(filename, ".txt")
    sliced = _ascii_slice(filename, -24, -4) if ascii_only else pc.utf8_slice_codeunits(filename, -24, -4)
    # if_else copies every string; when every name is well formed (nulls stay null either way) skip it
    accession = sliced if pc.all(well_formed).as_py() is not False else pc.if_else(well_formed, sliced, None)
    built = _ids_of_well_formed(accession, cik)
    if built is not None:
        filing_id, document_url = built
    else:
        folder = pc.replace_substring(accession, "-", "")
        document_url = pc.binary_join_element_wise(_URL_PREFIX, cik, "/", folder, "/", accession, "-index.htm", "")
        filing_id = pc.binary_join_element_wise(f"{SOURCE}:", accession, "")
    const = lambda v: pa.repeat(pa.scalar(v, pa.string()), n)  # noqa: E731 - tiny local helper
    columns = {
        "filing_id": filing_id,
        "source": const(SOURCE),
        "exchange": const("SEC"),
        "native_id": accession,
        "issuer_id": cik,
        "ticker": pa.nulls(n, pa.string()),
        "company_name": cols["company_name"],
        "form_type": cols["form_type"],
        "title": pa.nulls(n, pa.string()),
        "title_clean": pa.nulls(n, pa.string()),
        "language": const("en"),
        "filed_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        "filing_date": _parse_dates(cols["date_filed"]),
        "document_url": document_url,
    }
    return pa.table(columns, schema=PARSED_SCHEMA)


def _stream_gzip_pipe(data: bytes, name: str = "") -> dict[str, pa.ChunkedArray] | None:
    """The common case (a gzipped ``|``-delimited index, LF, ASCII) parsed while it is gunzipped.

    pyarrow.csv reads the body from a decompressing stream: parsing runs while the rest inflates and
    the decompressed index is never held whole (gunzip then parse cost ~25% more CPU on a quarter,
    and its bytes twice over). The preamble is read from a peek at the first 64 KiB, as
    :func:`split_preamble` reads it. Anything else returns None and takes the general path, which
    decides (and words the errors): plain, zlib or double-gzipped bytes, CR in the preamble, a
    preamble it does not accept, a corrupt or trailing-garbage archive, rows with the wrong field
    count, non-ASCII text. Arrow's CSV reader ends lines at LF, CRLF and CR, as normalise_newlines
    does, and reads concatenated gzip members, as gzip.decompress does.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if data[:2] != b"\x1f\x8b":
        return None
    try:
        peek = zlib.decompressobj(31).decompress(data, _PREAMBLE_WINDOW + 1)
    except zlib.error:
        return None
    if peek[:2] == b"\x1f\x8b" or (peek[:1] == b"\x78" and peek[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda")):
        return None
    match = _DASH_LINE.search(peek, 0, _PREAMBLE_WINDOW)
    if b"\r" in peek or match is None or peek[match.end() : match.end() + 1] != b"\n":
        return None
    try:
        _reject_non_index(peek, name)
        if detect_kind(peek[: match.start()].decode("latin-1")) != "pipe":
            return None
    except BadResponse:
        return None
    try:
        stream = pa.CompressedInputStream(pa.BufferReader(data), "gzip")
        if len(stream.read(match.end() + 1)) != match.end() + 1:
            return None
        # no invalid-row handler: a row with the wrong field count (a truncated last line) is an
        # error here, and the general path keeps it for quarantine
        table = pacsv.read_csv(stream, **_pipe_csv_options(None))
    except (pa.ArrowException, OSError, ValueError):
        return None
    if not all(_ascii_bytes(chunk) for c in PIPE_COLUMNS for chunk in table[c].chunks):
        return None  # latin-1 (or UTF-8) text: the general path transcodes it
    return {c: table[c] for c in PIPE_COLUMNS}


def _ascii_bytes(chunk: pa.Array) -> bool:
    """Every byte of the chunk's values is 7-bit (one max over the data buffer: ~7x cheaper than string_is_ascii)."""
    import numpy as np

    _, offsets_buffer, data = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, len(chunk) + 1, chunk.offset * 4)
    size = int(offsets[-1] - offsets[0])
    return size == 0 or int(np.frombuffer(data, np.uint8, size, int(offsets[0])).max()) < 0x80


def parse_index(data: bytes, name: str = "") -> pa.Table:
    """Any EDGAR index file (plain, .gz or zlib; LF, CRLF or CR) → rows in the parser schema."""
    streamed = _stream_gzip_pipe(data, name)
    if streamed is not None:
        return _to_unified(streamed, ascii_only=True)
    data = normalise_newlines(decompress(data, name))
    header, body = split_preamble(data, name)  # the body is a view: copying it cost ~0.1 s per GB
    kind = detect_kind(header)
    ascii_only = data.isascii() or bytes(body).isascii()  # (a non-ASCII header: rare, then copy)
    if not ascii_only:
        # pyarrow.csv reads UTF-8; EDGAR files are latin-1 (7-bit in practice): transcode the rare exception.
        body = memoryview(str(body, "latin-1").encode("utf-8"))
    cols = _parse_pipe(body) if kind == "pipe" else _parse_fixed(body, kind)
    return _to_unified(cols, ascii_only)


# ------------------------------------------------------------------------------------------------
# Partitions and URLs
# ------------------------------------------------------------------------------------------------


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1) - timedelta(days=1)
    return start, end


def daily_file_stamp(day: date) -> str:
    """The date part of a daily index file name, by era (sources.md §1.3).

    MMDDYY before 1995, YYMMDD from 1995 until the 1998 Q2 switch, YYYYMMDD after. The cut-over is
    disputed; the quarter listing (index.json) is the authority, so ``daily_candidates`` tries the
    neighbouring form too.
    """
    if day.year < 1995:
        return day.strftime("%m%d%y")
    if day < date(1998, 4, 1):
        return day.strftime("%y%m%d")
    return day.strftime("%Y%m%d")


def listed_days(listing: bytes, year: int) -> set[date]:
    """Days whose daily master index a quarter folder's listing (``index.json``) names.

    Stamps are read by era (:func:`daily_file_stamp`): 8 digits are YYYYMMDD; 6 digits are MMDDYY or
    YYMMDD, whichever gives a date in the folder's ``year``.
    """
    days = set()
    for raw in set(re.findall(rb"master\.(\d{6}|\d{8})\.idx", listing)):
        stamp = raw.decode()
        formats = ("%Y%m%d",) if len(stamp) == 8 else ("%m%d%y", "%y%m%d")
        for fmt in formats:
            try:
                parsed = datetime.strptime(stamp, fmt).date()
            except ValueError:
                continue
            if parsed.year == year:
                days.add(parsed)
                break
    return days


def sec_closed(day: date) -> str | None:
    """Why EDGAR was closed on ``day`` (a weekend or a US federal holiday, as observed), else None.

    The federal calendar comes from pandas (``USFederalHolidayCalendar``, observance rules included).
    Closures outside it (days of mourning, the 2018-12-24 executive order) are known only from SEC's
    own listing: see :meth:`SecEdgar.later_day_listed`.
    """
    if day.weekday() >= 5:
        return "weekend"
    from pandas.tseries.holiday import USFederalHolidayCalendar

    holidays = USFederalHolidayCalendar().holidays(start=day, end=day, return_name=True)
    if len(holidays):
        return f"US federal holiday: {holidays.iloc[0]}"
    return None


def posting_window_end(day: date) -> date:
    """The last day on which ``day``'s missing daily index may still be "not posted yet".

    :data:`NOT_YET_POSTED_GRACE` after the day, or the day after the next business day if that is
    later: a closure outside the federal calendar on a Friday only shows in SEC's listing once
    Monday's index is posted.
    """
    following = day + timedelta(days=1)
    while sec_closed(following):
        following += timedelta(days=1)
    return max(day + NOT_YET_POSTED_GRACE, following + timedelta(days=1))


def daily_candidates(day: date) -> list[str]:
    stamps = [daily_file_stamp(day)]
    if date(1998, 1, 1) <= day <= date(1998, 12, 31):
        alt = day.strftime("%Y%m%d") if stamps[0] != day.strftime("%Y%m%d") else day.strftime("%y%m%d")
        stamps.append(alt)
    return stamps


class SecEdgar(Source):
    """SEC EDGAR master indexes: daily (``YYYY-MM-DD``) and quarterly (``YYYYQn``) partitions."""

    name = SOURCE
    exchanges = ("SEC",)
    document_hosts = (DOCUMENT_HOST,)
    declared_settings = (
        root_setting("base_url", "FILINGLAKE_SEC_BASE_URL", DEFAULT_BASE_URL,
                     "EDGAR archive root (point at a replay server in tests)"),
        SourceSetting("rate", "FILINGLAKE_SEC_RATE", 5.0,
                      "requests per second to the SEC host, across threads (SEC allows at most 10)",
                      most=10, why="SEC allows at most 10 requests per second"),
        SourceSetting("block_seconds", "FILINGLAKE_SEC_BLOCK_SECONDS", 600.0,
                      "how long to back off after SEC's 403 'Request Rate Threshold Exceeded' page"),
    )
    pool = SOURCE
    #: SEC's documented limit: "no more than 10 requests per second, regardless of the number of machines"
    host_rate_limit = 10.0
    #: SEC posts a business day's index from ~22:00 ET: fetched at 23:30, due by 06:00 ET the next day
    landing_schedule = LandingSchedule("America/New_York", WEEKDAYS, run_at=timedelta(hours=23, minutes=30),
                                       deadline=timedelta(hours=30))
    issuer_columns = {"cik": "a.issuer_id"}
    # the accession's year (0001140361-20-006155 → 2020; EDGAR began in 1993)
    filing_id_bucket = (r"CASE WHEN regexp_matches(filing_id, '-\d{2}-\d{6}$') THEN CAST("
                        r"CAST(regexp_extract(filing_id, '-(\d{2})-\d{6}$', 1) AS INTEGER)"
                        r" + CASE WHEN CAST(regexp_extract(filing_id, '-(\d{2})-\d{6}$', 1) AS INTEGER) >= 93"
                        r" THEN 1900 ELSE 2000 END AS VARCHAR) END")
    reference_archive = (SEC_TICKERS_SOURCE, SEC_TICKERS_NAME)
    #: company_tickers.json's ``title`` and the indexes' Company Name are the registrant's conformed name
    name_kind = NameKind("en", full=True)
    report_colour = "#1f5fa8"

    def request_headers(self, settings: Settings) -> dict[str, str]:
        return {"User-Agent": settings.require_sec_user_agent(), "Accept-Encoding": "gzip, deflate"}

    def detect_block(self, response: httpx.Response) -> str | None:
        return sec_block_detector(response)

    def reference_url(self, settings: Settings) -> str:
        return company_tickers_url(settings)

    def reference_rows(self, data: bytes, name: str = SEC_TICKERS_NAME) -> list[IssuerReference]:
        """CIK → tickers in company_tickers.json's rank order (a CIK's first ticker is its main listing)."""
        by_cik: dict[str, IssuerReference] = {}
        for cik, ticker, title, _rank in sorted(company_tickers_rows(data, name), key=lambda row: row[3]):
            known = by_cik.get(cik)
            if known is None:
                by_cik[cik] = IssuerReference(cik, ticker, (ticker,), None, title)
            elif ticker not in known.tickers:
                by_cik[cik] = IssuerReference(cik, known.ticker, (*known.tickers, ticker), None, known.reference_name)
        return [by_cik[cik] for cik in sorted(by_cik)]

    def partition(self, partition_id: str) -> Partition:
        text = partition_id.strip().upper()
        quarter = re.fullmatch(r"(\d{4})Q([1-4])", text)
        if quarter:
            year, q = int(quarter.group(1)), int(quarter.group(2))
            if (year, q) < FIRST_QUARTER:
                raise ValueError(f"{partition_id}: EDGAR full-index starts at 1993Q1")
            start, end = quarter_bounds(year, q)
            return Partition(SOURCE, f"{year}Q{q}", "quarterly", start, end)
        try:
            day = date.fromisoformat(partition_id.strip())
        except ValueError:
            raise ValueError(
                f"{partition_id!r} is not a SEC partition: use YYYY-MM-DD (daily) or YYYYQn (quarterly)"
            ) from None
        if day < date(1993, 1, 1):
            raise ValueError(f"{partition_id}: EDGAR indexes start in 1993")
        return Partition(SOURCE, day.isoformat(), "daily", day, day)

    def index_urls(self, partition: Partition, base_url: str) -> list[tuple[str, str]]:
        """(file name, URL) candidates in preference order."""
        year, q = partition.start.year, quarter_of(partition.start)
        if partition.kind == "quarterly":
            folder = f"{base_url}/full-index/{year}/QTR{q}"
            return [("master.gz", f"{folder}/master.gz"), ("master.idx", f"{folder}/master.idx")]
        folder = f"{base_url}/daily-index/{year}/QTR{q}"
        urls = []
        for stamp in daily_candidates(partition.start):
            urls.append((f"master.{stamp}.idx", f"{folder}/master.{stamp}.idx"))
            urls.append((f"master.{stamp}.idx.gz", f"{folder}/master.{stamp}.idx.gz"))
        return urls

    def fetch(self, partition: Partition, client: PoliteClient, settings: Settings, today: date | None = None) -> FetchResult:
        """The partition's index, or a reason it legitimately has none; anything else fails naming the URLs tried.

        A missing index is "empty" only when SEC was closed (:func:`sec_closed`, or the quarter's
        listing shows later days but not this one); "not posted yet" (retried) only for the current
        quarter or a day within its posting window (:func:`posting_window_end`); anything older is
        :class:`IndexMissing`.
        """
        today = today or datetime.now(UTC).date()
        # A period that has not begun has no index to look for: say so without asking SEC.
        if partition.start > today:
            if partition.kind == "quarterly":
                raise ValueError(f"{partition.id} is in the future (the newest quarter is the current one)")
            raise NotYetPublished(f"{partition.id}: that day has not come yet; no daily index to fetch")
        tried: list[str] = []
        for name, url in self.index_urls(partition, self.own_settings(settings).base_url):
            response = client.get(url)
            tried.append(f"{url} → {response.status_code}")
            if response.status_code in (403, 404, 410):
                continue  # SEC answers 403 or 404 for a key that does not exist (its block page is caught earlier)
            if response.status_code != 200:
                raise BadResponse(f"{url}: unexpected HTTP {response.status_code}")
            body = response.content
            # Validate now: never archive a block page, HTML or a truncated archive as an index.
            header, _ = split_preamble(normalise_newlines(decompress(body, name)), name)
            detect_kind(header)
            return FetchResult(files=[RawFile(name, url, body, response.headers.get("content-type"))],
                               notes={"urls_tried": tried})
        if partition.kind == "quarterly":
            if partition.end >= today:  # the current quarter: its folder appears after its first business day
                raise NotYetPublished(f"{partition.id}: no quarterly index yet ({'; '.join(tried)})")
            raise IndexMissing(f"{partition.id}: no quarterly index although the quarter ended on {partition.end}; "
                               f"tried {'; '.join(tried)}")
        return self._missing_day(partition, client, settings, today, tried)

    def _missing_day(self, partition: Partition, client: PoliteClient, settings: Settings, today: date,
                     tried: list[str]) -> FetchResult:
        """No daily index for the day: empty if SEC was closed, else not posted yet (recent) or a failure."""
        day = partition.end
        closed = sec_closed(day)
        if closed:
            return FetchResult(empty_reason=f"no daily index for {partition.id}: SEC closed ({closed})",
                               notes={"urls_tried": tried})
        listed_later = self.later_day_listed(partition, client, settings, today, tried)
        if listed_later:
            return FetchResult(
                empty_reason=(f"no daily index for {partition.id} while SEC lists the later {listed_later} "
                              "and not this day (closure)"),
                notes={"urls_tried": tried},
            )
        if today <= posting_window_end(day):
            raise NotYetPublished(
                f"{partition.id}: daily index not posted yet (SEC posts from about 22:00 ET); will retry "
                f"(tried {'; '.join(tried)})"
            )
        raise IndexMissing(
            f"{partition.id}: no daily index for a business day (not a weekend or US federal holiday, and "
            f"SEC's listing does not show a closure); tried {'; '.join(tried)}"
        )

    def later_day_listed(self, partition: Partition, client: PoliteClient, settings: Settings,
                         today: date | None = None, tried: list[str] | None = None) -> str | None:
        """The first daily master index SEC lists after ``partition``'s day, if any (its file name).

        The folder listings (``index.json``) are the calendar's authority (sources.md §1.8): if a
        later day is posted and this one is not, the missing day had no index. The day's quarter
        is asked first, then the next quarter when it has begun (a closure on a quarter's last
        business days). A listing that names the day itself is a contradiction (the index URLs
        answered "not there"): :class:`BadResponse`. Trouble reading a listing means "don't know",
        except a block, which propagates. Each listing URL is appended to ``tried``.
        """
        day = partition.end
        today = today or datetime.now(UTC).date()
        tried = tried if tried is not None else []
        year, quarter = day.year, quarter_of(day)
        folders = [(year, quarter)]
        if quarter_bounds(year, quarter)[1] < today:
            folders.append((year + (quarter == 4), quarter % 4 + 1))
        for folder_year, folder_quarter in folders:
            url = f"{self.own_settings(settings).base_url}/daily-index/{folder_year}/QTR{folder_quarter}/index.json"
            response = client.get(url)
            tried.append(f"{url} → {response.status_code}")
            if response.status_code != 200:
                return None
            listed = listed_days(response.content, folder_year)
            if day in listed:
                raise BadResponse(f"{url} lists the daily index of {partition.id}, yet {'; '.join(tried[:-1])}")
            later = sorted(d for d in listed if d > day)
            if later:
                return f"master.{daily_file_stamp(later[0])}.idx"
        return None

    def parse(self, data: bytes, name: str = "") -> pa.Table:
        return parse_index(data, name)

    def rules(self, partition: Partition | None) -> list[quality.Rule]:
        from filinglake.ingest import row_checks as quality

        # Back-dated rows are real (letters, drafts released late); rows dated after the index are not.
        latest = (partition.end if partition else datetime.now(UTC).date()) + timedelta(days=1)
        return [
            quality.required("filing_id"),
            quality.required("native_id"),
            quality.required("issuer_id"),
            quality.required("company_name"),
            quality.required("form_type"),
            quality.required("filing_date"),
            quality.matches("native_id", ACCESSION_PATTERN, "accession_format"),
            quality.matches("issuer_id", r"^[1-9]\d{0,9}$", "cik_digits"),
            quality.date_between("filing_date", date(1993, 1, 1), latest),
            quality.url_on_hosts("document_url", [DOCUMENT_HOST]),
            # the key of a clean row is the distinct index row, not (accession, CIK)
            quality.unique(["native_id", "issuer_id", "form_type", "company_name", "filing_date"]),
        ]


# ------------------------------------------------------------------------------------------------
# Block pages and the CIK ↔ ticker reference list
# ------------------------------------------------------------------------------------------------


def sec_block_detector(response: httpx.Response) -> str | None:
    """Recognise SEC's block pages.

    Returns a reason for the "Request Rate Threshold Exceeded" page (403, blocks the IP ~10 minutes).
    Raises :class:`~filinglake.http.UndeclaredUserAgent` for the "Undeclared Automated Tool" page: SEC
    wants a declared ``User-Agent``, which only configuration can fix.
    """
    from filinglake.http import UndeclaredUserAgent, looks_like_html

    if response.status_code == 200 and not looks_like_html(response.content[:4096]):
        return None  # the common case: data, do not scan megabytes of index text
    body = response.content
    if SEC_UNDECLARED_TOOL_MARKER in body:
        raise UndeclaredUserAgent(
            f"SEC refused {response.request.url} as an 'Undeclared Automated Tool': set "
            "FILINGLAKE_SEC_USER_AGENT to 'Company Name contact@company.example'"
        )
    if SEC_RATE_BLOCK_MARKER in body:
        return f"SEC block page 'Request Rate Threshold Exceeded' (HTTP {response.status_code})"
    return None


def company_tickers_url(settings: Settings) -> str:
    """Where company_tickers.json is, next to the configured EDGAR archive (a replay server in tests)."""
    base = SecEdgar.own_settings(settings).base_url.rstrip("/")
    if base.endswith("/Archives/edgar"):
        return base.removesuffix("/Archives/edgar") + "/files/company_tickers.json"
    return SEC_COMPANY_TICKERS_URL


def company_tickers_rows(data: bytes, name: str = SEC_TICKERS_NAME) -> list[tuple[str, str, str | None, int]]:
    """company_tickers.json (``{"0": {"cik_str", "ticker", "title"}, …}``) → (cik, ticker, title, rank)
    rows; :class:`BadResponse` for any other shape."""
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadResponse(f"{name}: not JSON ({exc})") from None
    if not isinstance(payload, dict) or not payload:
        raise BadResponse(f"{name}: expected a non-empty object keyed '0', '1', …, got {type(payload).__name__}")
    rows = []
    for key, row in payload.items():
        if not (isinstance(row, dict) and isinstance(row.get("cik_str"), int | str) and row.get("ticker")):
            raise BadResponse(f"{name}: entry {key!r} lacks cik_str/ticker: {str(row)[:120]}")
        try:
            rank = int(key)
            cik = int(row["cik_str"])
        except (TypeError, ValueError):
            raise BadResponse(f"{name}: entry {key!r} has a non-numeric key or CIK") from None
        rows.append((str(cik), str(row["ticker"]).strip(), row.get("title"), rank))  # CIK unpadded, like issuer_id
    return rows


def parse_company_tickers(data: bytes, name: str = SEC_TICKERS_NAME) -> pa.Table:
    """company_tickers.json → an Arrow table (cik, ticker, title, rank); :class:`BadResponse` for any other shape."""
    import pyarrow as pa

    ciks, tickers, titles, ranks = zip(*company_tickers_rows(data, name), strict=True)
    return pa.table({
        "cik": pa.array(ciks, pa.string()),
        "ticker": pa.array(tickers, pa.string()),
        "title": pa.array(titles, pa.string()),
        "rank": pa.array(ranks, pa.int64()),
    })
