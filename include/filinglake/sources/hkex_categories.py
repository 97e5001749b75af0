"""HKEXnews headline categories: the names in ``LONG_TEXT`` → HKEX tier-one / tier-two codes.

``form_type`` of an HKEX row is ``LONG_TEXT`` (entities decoded), e.g.
``(Headlines Revised) Announcements and Notices - [Inside Information / Suspension]``: an optional
status prefix in parentheses, the tier-one name, then `` - [`` and the tier-two names joined by
`` / `` (spaces around the slash; a slash inside a name has none: ``Notice of EGM/SGM``).

Why a table declared here rather than HKEX's own lists archived as reference data: the lists HKEX
serves (``ncms/script/eds/tierone_c.json`` …, notes/sources.md §5.5) name categories in one language
and carry no English↔Chinese link, the English ``_e`` lists are unverified, and the run-time need is
small (20 tier-one codes) — a fetched list would add a network dependency to publishing for no gain.
The codes are public (sources.md §5.5), and the tests check every Chinese name declared here against
HKEX's own Traditional Chinese lists (the captured ``*_c`` caches), so a wrong entry fails a test.

Sources: tier-one codes and English names: notes/sources.md §5.5 and the English names exactly as they
start ``LONG_TEXT`` in the real rows of stock 00007 (the 17 of ``tests/fakes/hkex.py``; 57000–59000 and
91000 appear in no captured English row, so their English names are not declared and such rows keep
the parsed name with a null code). Chinese names: HKEX ``tierone_c.json`` / ``tiertwo_c.json``
(HK-CCASS/hkexann cache, §5.5). Tier-two codes: the 13 that notes/sources.md §5.5 names in English
(19750 Inside Information, 13xxx results, 17xxx trading status, 40xxx reports); other tier-two names
are kept with a null code (HKEX's English tier-two list is not available offline).
"""

from __future__ import annotations

import re

#: tier-one code → (Chinese name (HKEX tierone_c.json), English names as they start LONG_TEXT)
TIER_ONE: dict[str, tuple[str, tuple[str, ...]]] = {
    "10000": ("公告及通告", ("Announcements and Notices",)),
    "20000": ("通函", ("Circulars",)),
    "30000": ("上市文件", ("Listing Documents",)),
    "40000": ("財務報表/環境、社會及管治資料", ("Financial Statements/ESG Information", "Financial Statements")),
    "50000": ("翌日披露報表", ("Next Day Disclosure Returns",)),
    "51000": ("股份購回報告 (2009年1月1日前)", ("Share Buyback Reports",)),
    "51500": ("月報表", ("Monthly Returns",)),
    "52000": ("委任代表表格", ("Proxy Forms",)),
    "53000": ("公司資料報表", ("Company Information Sheet",)),
    "54000": ("憲章文件", ("Constitutional Documents",)),
    "55000": ("合併守則 - 交易披露", ("Takeovers Code - dealing disclosures",)),
    "56000": ("展示文件", ("Documents on Display",)),
    "57000": ("展示文件（債務證券發行計劃）", ()),
    "58000": ("展示文件（債務證券）", ()),
    "59000": ("展示文件（結構性產品）", ()),
    "70000": ("債券及結構性產品", ("Debt and Structured Products",)),
    "80000": ("交易所買賣基金的交易資料", ("Trading Information of Exchange Traded Funds",)),
    "81000": ("槓桿及反向產品的交易資料", ("Trading Information of Leveraged and Inverse Products",)),
    "90000": ("監管者發出的公告及消息", ("Regulatory Announcement & News",)),
    "91000": ("申請版本、整體協調人公告及聆訊後資料集", ()),
}

#: tier-two code → (tier-one code, Chinese name (HKEX tiertwo_c.json), English name (sources.md §5.5))
TIER_TWO: dict[str, tuple[str, str, str]] = {
    "13100": ("10000", "向實體提供墊款", "Advances to an Entity"),
    "13200": ("10000", "延遲發表業績公告", "Delay in Results Announcement"),
    "13300": ("10000", "末期業績", "Final Results"),
    "13400": ("10000", "中期業績", "Interim Results"),
    "13600": ("10000", "季度業績", "Quarterly Results"),
    "17650": ("10000", "復牌", "Resumption"),
    "17850": ("10000", "停牌", "Suspension"),
    "17960": ("10000", "短暫停牌", "Trading Halt"),
    "19750": ("10000", "內幕消息", "Inside Information"),
    "40100": ("40000", "年報", "Annual Report"),
    "40200": ("40000", "中期/半年度報告", "Interim/Half-Year Report"),
    "40300": ("40000", "季度報告", "Quarterly Report"),
    "40400": ("40000", "環境、社會及管治資料/報告", "Environmental, Social and Governance Information/Report"),
}

_STATUS_PREFIX = re.compile(r"^\s*\([^)]*\)\s*")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _key(name: str) -> str:
    return _SPACES.sub(" ", name).strip().casefold()


_T1_BY_NAME: dict[str, str] = {}
for _code, (_zh, _english) in TIER_ONE.items():
    for _name in (_zh, *_english):
        _T1_BY_NAME[_key(_name)] = _code
_T2_BY_NAME: dict[tuple[str, str], str] = {}
for _code, (_t1, _zh, _en) in TIER_TWO.items():
    _T2_BY_NAME[(_t1, _key(_zh))] = _code
    _T2_BY_NAME[(_t1, _key(_en))] = _code


def split_long_text(long_text: str | None) -> tuple[str, list[str]] | None:
    """``"(Headlines Revised) A - [B / C]"`` → ``("A", ["B", "C"])``; None for an empty text."""
    text = (long_text or "").strip()
    while _STATUS_PREFIX.match(text):
        text = _STATUS_PREFIX.sub("", text, count=1)
    if not text:
        return None
    head, bracket, rest = text.partition(" - [")
    if bracket and rest.endswith("]"):
        return head.strip(), [p.strip() for p in rest[:-1].split(" / ") if p.strip()]
    return text, []


def tier_one_code(name: str) -> str | None:
    """The tier-one code of an English or Chinese tier-one name; None when not declared."""
    return _T1_BY_NAME.get(_key(name))


def categories(form_type: str | None) -> list[tuple[str | None, str | None, str | None]] | None:
    """(code, name_zh, name_en): the tier-one category first, then each tier-two one, as listed.

    A name not declared here is kept (in the language it was filed in) with a null code. None for rows
    without a category (pre-2007 rows have no LONG_TEXT).
    """
    parsed = split_long_text(form_type)
    if parsed is None:
        return None
    head, tier_two = parsed
    t1 = tier_one_code(head)
    out: list[tuple[str | None, str | None, str | None]] = []
    if t1 is not None:
        zh, english = TIER_ONE[t1]
        out.append((t1, zh, head if head in english else (english[0] if english else None)))
    else:
        out.append((None, head, None) if _CJK.search(head) else (None, None, head))
    for name in dict.fromkeys(tier_two):
        t2 = _T2_BY_NAME.get((t1 or "", _key(name)))
        if t2 is not None:
            _, zh, en = TIER_TWO[t2]
            out.append((t2, zh, en))
        else:
            out.append((None, name, None) if _CJK.search(name) else (None, None, name))
    return out
