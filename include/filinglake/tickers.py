"""One ticker normaliser: every spelling users type for a security → the form filinglake stores.

Stored forms (the ``ticker`` and ``issuer_id`` columns of the published tables):

- US: the SEC ticker as ``company_tickers.json`` lists it (``AAPL``, share classes with a dash: ``BRK-B``);
  a CIK without padding (``320193``).
- Mainland China: six digits and the venue suffix: ``600519.SS`` (Shanghai), ``002236.SZ`` (Shenzhen),
  ``430047.BJ`` (Beijing). ``.SH`` (Wind/Tushare style), ``SH600519`` and a bare ``600519`` are accepted;
  a bare code gets its venue from the code's board prefix.
- Hong Kong: ``0700.HK`` (four digits at least) as ticker, ``00700`` (five digits) as HKEX stock code.
  ``700.HK``, ``00700.HK``, ``00700`` and ``HK0700`` are accepted.

A bare number is read as a mainland code when it has six digits and a mainland board prefix, as a HK
stock code when it has five digits, and as a CIK otherwise (``320193``, ``0000320193``). When the
caller knows which securities exist, :func:`resolve` takes the first reading that is known.

Used by the watchlist, the alerts and the query helpers; imports nothing of filinglake.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

#: mainland board prefixes → venue suffix (SSE main board and STAR, SZSE main/SME/ChiNext, BSE/NEEQ; B shares)
_MAINLAND_PREFIXES: tuple[tuple[str, str], ...] = (
    ("600", "SS"), ("601", "SS"), ("603", "SS"), ("605", "SS"), ("688", "SS"), ("689", "SS"), ("900", "SS"),
    ("000", "SZ"), ("001", "SZ"), ("002", "SZ"), ("003", "SZ"), ("004", "SZ"), ("300", "SZ"), ("301", "SZ"),
    ("302", "SZ"), ("200", "SZ"), ("201", "SZ"),
    ("430", "BJ"), ("830", "BJ"), ("831", "BJ"), ("832", "BJ"), ("833", "BJ"), ("834", "BJ"), ("835", "BJ"),
    ("836", "BJ"), ("837", "BJ"), ("838", "BJ"), ("839", "BJ"), ("870", "BJ"), ("871", "BJ"), ("872", "BJ"),
    ("873", "BJ"), ("920", "BJ"),
)
#: suffixes users type → the stored venue suffix
_VENUE_ALIASES = {"SS": "SS", "SH": "SS", "SHA": "SS", "SHG": "SS", "SZ": "SZ", "SZA": "SZ", "SHE": "SZ",
                  "BJ": "BJ", "BSE": "BJ", "HK": "HK", "HKG": "HK", "HKEX": "HK"}

_SUFFIXED = re.compile(r"^(?P<code>\d{1,6})\.(?P<venue>[A-Z]{2,4})$")
_PREFIXED = re.compile(r"^(?P<venue>SH|SZ|BJ|HK)[.:]?(?P<code>\d{1,6})$")
_DIGITS = re.compile(r"^\d{1,10}$")
_US_TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,9}(?:[.\-/][A-Z0-9]{1,4})?$")


@dataclass(frozen=True)
class SecurityRef:
    """One reading of what the user typed.

    ``kind`` says which column the ``value`` is compared with: ``ticker`` (the ``ticker`` column),
    ``cik`` (SEC ``issuer_id``), ``stock_code`` (HKEX ``issuer_id`` or a mainland code).
    """

    kind: str  # "ticker" | "cik" | "stock_code"
    value: str
    market: str  # "US" | "CN" | "HK"

    def __str__(self) -> str:
        return self.value


class TickerError(ValueError):
    """Text that is no spelling of any security filinglake knows how to store."""


def mainland_venue(code: str) -> str | None:
    """``SS``, ``SZ`` or ``BJ`` for a six-digit mainland code, from its board prefix; None when unknown."""
    if len(code) != 6 or not code.isdigit():
        return None
    return next((venue for prefix, venue in _MAINLAND_PREFIXES if code.startswith(prefix)), None)


def _hk(code: str) -> list[SecurityRef]:
    number = int(code)
    if not 0 < number <= 99_999:
        return []
    return [SecurityRef("ticker", f"{number:04d}.HK", "HK"), SecurityRef("stock_code", f"{number:05d}", "HK")]


def _mainland(code: str, venue: str) -> list[SecurityRef]:
    ticker = f"{code}.{venue}"
    return [SecurityRef("ticker", ticker, "CN"), SecurityRef("stock_code", code, "CN")]


def readings(text: str) -> list[SecurityRef]:
    """Every plausible reading of ``text``, the likeliest first; [] when it reads as nothing.

    A mainland or HK reading comes as two refs (its ticker and its stock code), so a caller can match
    either column.
    """
    raw = (text or "").strip().upper().replace(" ", "")
    if not raw:
        return []
    if m := _SUFFIXED.match(raw):
        venue = _VENUE_ALIASES.get(m["venue"])
        code = m["code"]
        if venue == "HK":
            return _hk(code)
        if venue in ("SS", "SZ", "BJ") and len(code) == 6:
            return _mainland(code, venue)
        # not a venue suffix: a US share class such as BRK.B is handled below
    if m := _PREFIXED.match(raw):
        code, venue = m["code"], _VENUE_ALIASES[m["venue"]]
        if venue == "HK":
            return _hk(code)
        return _mainland(code, venue) if len(code) == 6 else []
    if _DIGITS.match(raw):
        found: list[SecurityRef] = []
        venue = mainland_venue(raw)
        if venue:
            found += _mainland(raw, venue)
        if len(raw) == 5 or (len(raw) <= 4 and not venue):
            found += _hk(raw)
        cik = raw.lstrip("0")
        if cik and (len(raw) == 10 or not venue):
            found.append(SecurityRef("cik", cik, "US"))
        return found
    if _US_TICKER.match(raw):
        # company_tickers.json spells share classes with a dash (BRK-B); people also type BRK.B or BRK/B
        return [SecurityRef("ticker", re.sub(r"[./]", "-", raw), "US")]
    return []


def normalise(text: str) -> SecurityRef:
    """The likeliest reading of ``text``; :class:`TickerError` naming the text when there is none."""
    found = readings(text)
    if not found:
        raise TickerError(
            f"{text!r} is not a ticker, stock code or CIK filinglake understands "
            "(examples: AAPL, 320193, 600519.SS, 600519.SH, SH600519, 002236.SZ, 0700.HK, 700.HK, 00700)"
        )
    return found[0]


def resolve(text: str, known: Container[str]) -> SecurityRef | None:
    """The first reading of ``text`` whose value is in ``known`` (stored tickers, CIKs, stock codes)."""
    return next((ref for ref in readings(text) if ref.value in known), None)
