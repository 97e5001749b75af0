"""HKEXnews' stock lists: stock code → HKEXnews' internal ``stockId`` and short name, in English and in
Chinese (reference data).

Where they come from (notes/sources.md §5.4):

- ``GET {hkex_base_url}/ncms/script/eds/activestock_sehk_e.json``: every active security of the
  title search in one JSON array of ``{"c": "00005", "i": 7224?, "n": "HSBC HOLDINGS", …}`` objects
  (``c`` code, ``i`` stockId, ``n`` English short name; other keys ignored). This is what the
  pipeline fetches (``Hkex.reference_url``), once per UTC day, at publish time.
- ``GET {hkex_base_url}/search/prefix.do?…&type=A&name=<code>`` answers the same (code, stockId, name)
  one prefix at a time; tools that walk it save the answers as a table
  ``stock_code,stockId,name[,market]`` (``market`` ``SEHK`` or ``GEM``). That table is accepted too, so
  such a compiled list can be archived and published like a fetched one.
- ``GET {hkex_base_url}/ncms/script/eds/activestock_sehk_c.json``: the same list in Chinese, same shape,
  ``n`` the Traditional Chinese short name (``{"c": "00005", "i": …, "n": "滙豐控股"}``). Public code that
  fetches it and reads ``c``/``i``/``n``: noho/dayu-agent ``dayu/fins/downloaders/hkexnews_downloader.py``
  (commit 04a44d0b4a05, ``HKEXNEWS_ACTIVE_STOCK_ZH_URL``). The pipeline fetches it beside the English list
  (``Hkex.reference_companion_url``), archives it under the same raw source and day, and publishes its names
  as ``securities.name_zh``, joined to the English list on the stock code. No copy of it is captured in the
  fixtures: the tests write small lists in this shape.

None of them carries the board. The board follows from the code: HKEX gives GEM securities the codes
08001–08999, every other code is on the Main Board. A compiled
table's ``market`` column is the compiling tool's label, not HKEXnews' (prefix.do is asked with
``market=SEHK`` and answers no market): it is checked for a known value and otherwise not used; one real
compilation labels 6 of its 70 08xxx codes GEM and the other 64 SEHK.

A list is refused whole (:class:`BadResponse`, one line naming the rule and the first entry that broke
it) when any entry breaks a rule: a list with one bad entry cannot be trusted for the others either.
Mojibake is looked for both ways: UTF-8 read as Latin-1 (``Ã©``) and UTF-8 read as GBK, the usual way a
Chinese list is garbled (``滙豐控股`` → ``婊欒睈鎺ц偂``): such text encodes back to GBK as valid UTF-8 with
Chinese characters in it, which none of the 4,779 genuine Chinese names of CNINFO's 2021 list does.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from filinglake.errors import BadResponse
from filinglake.http import looks_like_html
from filinglake.sources.json_decoding import load_json

STOCK_LIST_PATH = "/ncms/script/eds/activestock_sehk_e.json"
STOCK_LIST_NAME = "activestock_sehk_e.json"
#: the same list with Traditional Chinese short names, archived beside the English one
CHINESE_STOCK_LIST_PATH = "/ncms/script/eds/activestock_sehk_c.json"
CHINESE_STOCK_LIST_NAME = "activestock_sehk_c.json"
#: raw archive of the list (``raw/source=hkex_stocks/partition=<UTC day>/…``)
STOCKS_SOURCE = "hkex_stocks"
MAIN_BOARD = "Main Board"
GEM = "GEM"
#: values of a compiled table's ``market`` column
_MARKETS = ("SEHK", "GEM")
#: JSON key / table column → field, for each accepted spelling
_JSON_KEYS = {"code": "c", "stock_id": "i", "name": "n"}
_TABLE_COLUMNS = {"code": "stock_code", "stock_id": "stockId", "name": "name"}
#: UTF-8 read as Latin-1/cp1252 (``Ã©``, ``â€™``), and the replacement character left by a failed decode
_MOJIBAKE = re.compile("\ufffd|[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac|[\u0080-\u009f]")
_CHINESE = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_CODE = re.compile(r"[0-9]{5}")
_STOCK_ID = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class HkexStock:
    """One security of the list."""

    code: str  # 5 digits, zero-padded: 00700
    stock_id: str  # HKEXnews' internal id (the title search's stockId): 7609
    name: str  # short name in the list's language: TENCENT, 騰訊控股
    board: str  # Main Board or GEM


#: the rules every entry must pass, in the order they are checked (name → what it says)
RULES: dict[str, str] = {
    "stock_code_5_digits": "the stock code is 5 digits (00700)",
    "stock_id_digits": "the stockId is a number",
    "name_present": "the short name is present",
    "name_not_mojibake": "the name has no replacement character and is not UTF-8 read as Latin-1 or as GBK",
    "market_known": "the market, where the list has one, is SEHK or GEM",
    "stock_code_unique": "each stock code appears once",
    "names_chinese": "the Chinese list names at least one security in Chinese characters",
}


def board_of(code: str) -> str:
    """GEM for 08000–08999 (HKEX's GEM code range), the Main Board otherwise."""
    return GEM if code.startswith("08") else MAIN_BOARD


def _entries(data: bytes, name: str) -> list[tuple[str, dict[str, object]]]:
    """(where it is: "entry N" or "line N", raw fields) of every entry, from the JSON list or the compiled table."""
    if looks_like_html(data):
        raise BadResponse(f"{name}: got an HTML page where HKEXnews' stock list was expected")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadResponse(f"{name}: rule utf8: the stock list is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    head = text.lstrip()
    if head.startswith("["):
        payload = load_json(text, name)
        if not isinstance(payload, list):
            raise BadResponse(f"{name}: expected a JSON array of stocks")
        entries = []
        for i, item in enumerate(payload):
            if not isinstance(item, dict):
                raise BadResponse(f"{name}: entry {i} is a {type(item).__name__}, expected an object")
            entries.append((f"entry {i}", {field: item.get(key) for field, key in _JSON_KEYS.items()}))
        return entries
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in _TABLE_COLUMNS.values() if c not in columns]
    if missing:
        raise BadResponse(f"{name}: neither HKEXnews' JSON stock list nor a stock_code,stockId,name table "
                          f"(no column {', '.join(missing)}; header {columns[:6]})")
    reader.fieldnames = columns
    entries = []
    for row in reader:
        fields: dict[str, object] = {field: row.get(column) for field, column in _TABLE_COLUMNS.items()}
        if "market" in columns:
            fields["market"] = row.get("market") or ""
        entries.append((f"line {reader.line_num}", fields))
    return entries


def _text(value: object) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def _read_as_gbk(name: str) -> bool:
    """Whether ``name`` is UTF-8 text that was decoded as GBK: it encodes back to valid UTF-8 with Chinese in it."""
    if not _CHINESE.search(name):
        return False
    try:
        original = name.encode("gbk").decode("utf-8")
    except UnicodeError:
        return False
    return bool(_CHINESE.search(original))


def _broken(fields: dict[str, object]) -> str | None:
    """The first rule an entry breaks, or None."""
    code, stock_id, name = _text(fields["code"]), _text(fields["stock_id"]), _text(fields["name"])
    if not _CODE.fullmatch(code):
        return "stock_code_5_digits"
    if not _STOCK_ID.fullmatch(stock_id):
        return "stock_id_digits"
    if not name:
        return "name_present"
    if _MOJIBAKE.search(name) or _read_as_gbk(name):
        return "name_not_mojibake"
    if "market" in fields and _text(fields["market"]).upper() not in _MARKETS:
        return "market_known"
    return None


def parse_stock_list(data: bytes, name: str = STOCK_LIST_NAME) -> list[HkexStock]:
    """The bytes of the stock list (English or Chinese) → stocks; :class:`BadResponse` naming the rule a bad
    list breaks."""
    entries = _entries(data, name)
    if not entries:
        raise BadResponse(f"{name}: rule list_not_empty: the stock list has no entries")
    stocks: list[HkexStock] = []
    seen: set[str] = set()
    for label, fields in entries:
        rule = _broken(fields)
        if rule is None and _text(fields["code"]) in seen:
            rule = "stock_code_unique"
        if rule is not None:
            raise BadResponse(f"{name}: rule {rule} ({RULES[rule]}) broken at {label}: {str(fields)[:160]}; "
                              "the whole list is refused")
        code = _text(fields["code"])
        seen.add(code)
        stocks.append(HkexStock(code, str(int(_text(fields["stock_id"]))), _text(fields["name"]), board_of(code)))
    return stocks


def parse_chinese_stock_list(data: bytes, name: str = CHINESE_STOCK_LIST_NAME) -> list[HkexStock]:
    """The bytes of the Chinese stock list → stocks (``name`` in Chinese): the rules of every list, and
    ``names_chinese`` (an English list served at the Chinese path would otherwise pass for one)."""
    stocks = parse_stock_list(data, name)
    if not any(_CHINESE.search(stock.name) for stock in stocks):
        raise BadResponse(f"{name}: rule names_chinese ({RULES['names_chinese']}) broken: no name has a Chinese "
                          f"character (first: {stocks[0].code} {stocks[0].name!r}); the whole list is refused")
    return stocks
