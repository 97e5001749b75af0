"""The ticker normaliser on the spellings analysts type and on the real reference lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filinglake.tickers import TickerError, mainland_venue, normalise, readings, resolve


@pytest.mark.parametrize(
    ("typed", "kind", "stored"),
    [
        ("600519", "ticker", "600519.SS"),
        ("600519.SH", "ticker", "600519.SS"),
        ("600519.SS", "ticker", "600519.SS"),
        ("SH600519", "ticker", "600519.SS"),
        ("sh600519", "ticker", "600519.SS"),
        ("002236.SZ", "ticker", "002236.SZ"),
        ("SZ002236", "ticker", "002236.SZ"),
        ("002236", "ticker", "002236.SZ"),
        ("430047.BJ", "ticker", "430047.BJ"),
        ("700.HK", "ticker", "0700.HK"),
        ("0700.HK", "ticker", "0700.HK"),
        ("00700.HK", "ticker", "0700.HK"),
        ("00700", "ticker", "0700.HK"),
        ("HK0700", "ticker", "0700.HK"),
        ("80737.HK", "ticker", "80737.HK"),
        ("AAPL", "ticker", "AAPL"),
        ("aapl ", "ticker", "AAPL"),
        ("BRK.B", "ticker", "BRK-B"),
        ("BRK-B", "ticker", "BRK-B"),
        ("0000320193", "cik", "320193"),
        ("320193", "cik", "320193"),
    ],
)
def test_every_spelling_maps_to_the_stored_form(typed: str, kind: str, stored: str) -> None:
    ref = normalise(typed)
    assert (ref.kind, ref.value) == (kind, stored)


def test_hk_and_mainland_readings_carry_the_stock_code_too() -> None:
    assert [(r.kind, r.value) for r in readings("700.HK")] == [("ticker", "0700.HK"), ("stock_code", "00700")]
    assert ("stock_code", "002236") in [(r.kind, r.value) for r in readings("002236.SZ")]


@pytest.mark.parametrize("typed", ["", "   ", "hello world!", "600519.XX", "12345678901", "SH12345"])
def test_nonsense_is_an_error_naming_the_text(typed: str) -> None:
    with pytest.raises(TickerError, match="not a ticker"):
        normalise(typed)


def test_resolve_takes_the_first_reading_that_is_known() -> None:
    # 00700 could be a HK stock code or a padded CIK 700: the known securities decide
    assert resolve("00700", {"0700.HK"}).value == "0700.HK"
    assert resolve("00700", {"700"}).kind == "cik"
    assert resolve("00700", {"AAPL"}) is None


def test_venue_from_the_code_agrees_with_cninfo_for_every_listed_stock(fixtures_dir: Path) -> None:
    """The real CNINFO stock list: an orgId starting gssz/gssh says the venue; the code prefix must agree."""
    stocks = json.loads((fixtures_dir / "cninfo/szse_stock_20210927_ForstMaple.json").read_text())["stockList"]
    venue_of_org = {"gssz": "SZ", "gssh": "SS"}
    checked = [(s["code"], venue_of_org[s["orgId"][:4]]) for s in stocks if s["orgId"][:4] in venue_of_org]
    assert len(checked) == 1_490
    wrong = [(code, venue, mainland_venue(code)) for code, venue in checked if mainland_venue(code) != venue]
    assert wrong == []
    # and every A/B share code in the list has a venue at all
    assert [s["code"] for s in stocks if s["category"] in ("A股", "B股") and mainland_venue(s["code"]) is None] == []


def test_every_sec_ticker_is_its_own_stored_form(fixtures_dir: Path) -> None:
    listed = json.loads((fixtures_dir / "edgar/api/company_tickers.json").read_text())
    tickers = [row["ticker"] for row in listed.values()]
    assert len(tickers) == 9_610
    assert [t for t in tickers if normalise(t).value != t] == []


def test_every_hkex_stock_code_reads_as_hk(fixtures_dir: Path) -> None:
    lines = (fixtures_dir / "hkex/prefix_stockId_mapping_sunkken.csv").read_text(encoding="utf-8").splitlines()[1:]
    codes = [line.split(",")[0] for line in lines if line]
    assert len(codes) == 2_330
    assert [c for c in codes if normalise(c).market != "HK" or readings(c)[1].value != c] == []
