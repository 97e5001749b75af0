"""CNINFO ``announcementType`` codes → category names (public reference data, not a capture).

``announcementType`` is a ``||``-separated list of CNINFO's internal codes (``01010503||010113||010301``);
old rows have null. CNINFO publishes no code list, so each name below is taken from a public file that
documents the codes, and every entry names its file in :data:`SOURCES` (repository, path, commit: open
``https://github.com/<repo>/blob/<commit>/<path>``):

- ``tencent-newstype``: a Tencent stock-quote API write-up whose table "newstype 代码说明" (under
  ``noticeList/searchByType``) names 11 codes; ``newstype`` carries CNINFO's announcementType codes
  (``01010503,010113,010301`` on 浦发银行 2025年年度报告).
- ``cninfo-season-param``: a Java crawler of CNINFO's former full-text search
  (``/search/stockfulltext.jsp``) sending ``noticeType=seasonParam[season-1]`` with
  ``seasonParam = {"010305","010303","010307","010301"}``: season 1 (Q1 report), 2 (half-year), 3 (Q3),
  4 (annual). The names are those four report kinds.

notes/sources.md §2.4 gives ``01010503||010113||01030301`` for a semi-annual report: of those,
``01010503`` is "listed-company announcement" and ``010113`` "other", so the report type is carried by
``01030301``, which no public list names: it stays an unknown code (kept, names null), as does every
code not listed here. No name is guessed. An adapter seen in the code search index (it records per code
the titles it was observed on, e.g. ``011301`` 利润分配方案公告) agrees with these names, but its repository
could not be identified, so it is cited nowhere.
"""

from __future__ import annotations

from typing import NamedTuple


class CodeSource(NamedTuple):
    """A public file naming CNINFO announcementType codes."""

    repo: str  # owner/name on GitHub
    path: str
    commit: str  # the version read
    what: str


#: where the names come from (key → file); every :data:`ANNOUNCEMENT_TYPES` entry cites at least one
SOURCES: dict[str, CodeSource] = {
    "tencent-newstype": CodeSource(
        "buuzzy/zlclaw", "docs/westock-data-api.md", "96b77f3d9ab6a47ef221fb982c0f8a805fe9b2e7",
        "Tencent stock-quote API notes, table 'newstype 代码说明' under noticeList/searchByType"),
    "cninfo-season-param": CodeSource(
        "darknessitachi/findata", "src/michael/findata/FinDataExtractor.java", "0759750ad024831084493d5d191fcfb6b8b6c4b0",
        "seasonParam = {\"010305\",\"010303\", \"010307\", \"010301\"}: noticeType of CNINFO's stockfulltext.jsp "
        "per report season 1-4"),
}

#: code → (Chinese name, English name, the :data:`SOURCES` naming it). English names are our translation.
ANNOUNCEMENT_TYPE_SOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "01010501": ("上交所", "Shanghai Stock Exchange", ("tencent-newstype",)),
    "01010503": ("上市公司公告", "listed company announcement", ("tencent-newstype",)),
    "01010701": ("券商公告", "securities firm announcement", ("tencent-newstype",)),
    "01010903": ("审计报告", "audit report", ("tencent-newstype",)),
    "010113": ("其他", "other", ("tencent-newstype",)),
    "010301": ("年度报告", "annual report", ("tencent-newstype", "cninfo-season-param")),
    "010303": ("半年度报告", "semi-annual report", ("cninfo-season-param",)),
    "010305": ("第一季度报告", "first-quarter report", ("cninfo-season-param",)),
    "010307": ("第三季度报告", "third-quarter report", ("cninfo-season-param",)),
    "011301": ("利润分配", "profit distribution", ("tencent-newstype",)),
    "012301": ("聘请中介机构", "engagement of intermediaries", ("tencent-newstype",)),
    "012303": ("人事变动", "personnel changes", ("tencent-newstype",)),
    "012330": ("可持续发展报告", "sustainability report", ("tencent-newstype",)),
    "012913": ("内部控制", "internal control", ("tencent-newstype",)),
}

#: code → (Chinese name, English name)
ANNOUNCEMENT_TYPES: dict[str, tuple[str, str]] = {
    code: (zh, en) for code, (zh, en, _) in ANNOUNCEMENT_TYPE_SOURCES.items()}


def source_of(code: str) -> list[CodeSource]:
    """The public files that name ``code`` ([] for a code no list names: unknown)."""
    entry = ANNOUNCEMENT_TYPE_SOURCES.get(code)
    return [SOURCES[key] for key in entry[2]] if entry else []


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
