"""CNINFO ``announcementType`` codes → category names (public reference data, not a capture).

``announcementType`` is a ``||``-separated list of CNINFO's internal codes (``01010503||010113||010301``);
old rows have null. CNINFO publishes no code list, so each name below is taken from public code that
documents the codes, and the source of every entry is recorded next to it:

- [T] Tencent stock-quote API notes, table "newstype 代码说明" under ``noticeList/searchByType``
  (``newstype`` carries CNINFO's announcementType codes, e.g. ``01010503,010113,010301`` on
  浦发银行 2025年年度报告). Found through the code search index (file id 53518140008); the index
  does not name the repository.
- [S] CNINFO's former full-text search ``http://www.cninfo.com.cn/search/stockfulltext.jsp``, whose
  periodic-report parameter a public Java crawler sends as
  ``seasonParam = {"010305","010303","010307","010301"}`` (Q1, half-year, Q3, annual). Code search
  index file id 12946276499 (repository not named by the index).
- [M] A CNINFO adapter that records, per code, the titles it was observed on
  (``011301``: 利润分配方案公告; ``010303``: 半年度报告; ``01010503``/``010113`` on nearly every
  record). Code search index file id 70980343474 (repository not named by the index).

notes/sources.md §2.4 gives ``01010503||010113||01030301`` for a semi-annual report: of those,
``01010503`` is "listed-company announcement" and ``010113`` "other" [T], so the report type is carried
by ``01030301``, which no public list names: it stays an unknown code (kept, names null), as does every
code not listed here. No name is guessed.
"""

from __future__ import annotations

#: code → (Chinese name, English name). English names are our translation of the Chinese ones.
ANNOUNCEMENT_TYPES: dict[str, tuple[str, str]] = {
    "01010501": ("上交所", "Shanghai Stock Exchange"),  # [T]
    "01010503": ("上市公司公告", "listed company announcement"),  # [T] [M]
    "01010701": ("券商公告", "securities firm announcement"),  # [T]
    "01010903": ("审计报告", "audit report"),  # [T]
    "010113": ("其他", "other"),  # [T] [M]
    "010301": ("年度报告", "annual report"),  # [T] [S]
    "010303": ("半年度报告", "semi-annual report"),  # [S] [M]
    "010305": ("第一季度报告", "first-quarter report"),  # [S]
    "010307": ("第三季度报告", "third-quarter report"),  # [S]
    "011301": ("利润分配", "profit distribution"),  # [T] [M]
    "012301": ("聘请中介机构", "engagement of intermediaries"),  # [T]
    "012303": ("人事变动", "personnel changes"),  # [T]
    "012330": ("可持续发展报告", "sustainability report"),  # [T]
    "012913": ("内部控制", "internal control"),  # [T]
}


def split_codes(announcement_type: str | None) -> list[str]:
    """``"01010503||010113"`` → ``["01010503", "010113"]`` (commas also split; order kept, repeats dropped)."""
    if not announcement_type:
        return []
    pieces = announcement_type.replace(",", "||").split("||")
    return list(dict.fromkeys(p.strip() for p in pieces if p.strip()))


def categories(announcement_type: str | None) -> list[tuple[str | None, str | None, str | None]] | None:
    """(code, name_zh, name_en) for each code of ``announcement_type``; unknown codes keep null names.

    None when the row has no announcementType (old rows).
    """
    codes = split_codes(announcement_type)
    if not codes:
        return None
    return [(code, *ANNOUNCEMENT_TYPES.get(code, (None, None))) for code in codes]
