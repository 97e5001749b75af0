"""The static HTML status page: ``reports/index.html`` beside the data it describes.

One self-contained page (inline CSS and SVG, no scripts, nothing fetched from the internet; its
Content-Security-Policy forbids both, and every value from the data is HTML-escaped, titles shown
decoded as text):

* filings per day per source: one SVG panel per source over its latest ``days`` calendar days,
  counting distinct ``filing_id`` per ``filing_date`` across all clean partitions (a filing in both
  a daily and a quarterly partition counts once);
* quarantine rate per source: quarantined / rows_in summed over the run manifests;
* freshness per source: latest ``filing_date`` and latest ``archived_at`` in the clean layer;
* landing deadlines: each daily source's expected landing time (``Source.landing_schedule``, the same
  declaration the Airflow deadline alerts read) and whether the latest day past its deadline landed by
  then (the latest ``finished_at`` of that day's manifests);
* the latest run manifests, each with links to its validation record (Great Expectations) and Data Docs page;
* published tables (when publish has run) and the latest alerts.

It reads the clean layer (Parquet footers first: only files that reach into the chart window are
read), the manifests, the validation records and, when present, ``published/``: so it works
before the first publish. Links are relative, so the page works from a file system, a bucket
served as a static site, or a copy of the whole storage root.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from filinglake import __version__, manifests
from filinglake.schema import former_names
from filinglake.storage import manifest_key, validation_key

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.storage import Storage

log = logging.getLogger("filinglake.report")

REPORT_KEY = "reports/index.html"
SUMMARY_KEY = "reports/summary.json"
DEFAULT_DAYS = 60
DEFAULT_LAST_RUNS = 20
#: colours for sources that declare none (``Source.report_colour``), in turn
_SPARE_COLOURS = ["#7d3c98", "#b9770e", "#117a65", "#5d6d7e"]
_SEGMENT = re.compile(r"(?:^|/)(source|partition)=([^/]+)")
_WEB_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
#: the page runs nothing and loads nothing: inline CSS only (data in it can never become a script)
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'none'; base-uri 'none'; "
                           "form-action 'none'")


@dataclass
class SourceStats:
    source: str
    partitions: int = 0
    rows_in: int = 0
    rows_written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    clean_rows: int = 0
    latest_filing_date: date | None = None
    latest_archived_at: datetime | None = None
    per_day: dict[date, int] = field(default_factory=dict)  # zero-filled over the window
    window: tuple[date, date] | None = None
    landed_at: dict[str, str] = field(default_factory=dict)  # partition -> its manifest's finished_at

    @property
    def quarantine_rate(self) -> float | None:
        return self.quarantined / self.rows_in if self.rows_in else None


@dataclass
class LandingCheck:
    """Whether a daily source's latest due day (its deadline passed) landed in time."""

    source: str
    expected: str  # LandingSchedule.describe()
    day: date | None  # the latest market day whose deadline has passed
    deadline: datetime | None
    partitions: list[str]  # that day's partitions with a manifest
    landed_at: datetime | None  # the latest finished_at among them

    @property
    def verdict(self) -> str:
        if self.day is None:
            return "–"
        if self.landed_at is None:
            return "missing"
        return "on time" if self.deadline is not None and self.landed_at <= self.deadline else "late"


@dataclass
class ReportData:
    generated_at: datetime
    sources: dict[str, SourceStats]
    runs: list[dict]  # latest manifests, newest first, with validation links
    published: dict[str, int | None]  # table -> rows (None: not published yet)
    alerts: list[dict]
    alerts_total: int
    days: int
    landing: list[LandingCheck] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "days": self.days,
            "sources": {
                name: {
                    "partitions": s.partitions,
                    "rows_in": s.rows_in,
                    "rows_written": s.rows_written,
                    "duplicates": s.duplicates,
                    "quarantined": s.quarantined,
                    "quarantine_rate": s.quarantine_rate,
                    "clean_rows": s.clean_rows,
                    "latest_filing_date": s.latest_filing_date.isoformat() if s.latest_filing_date else None,
                    "latest_archived_at": s.latest_archived_at.isoformat() if s.latest_archived_at else None,
                    "filings_per_day": {d.isoformat(): n for d, n in sorted(s.per_day.items())},
                }
                for name, s in sorted(self.sources.items())
            },
            "runs": self.runs,
            "published": self.published,
            "alerts_total": self.alerts_total,
            "landing": [
                {"source": c.source, "expected": c.expected, "day": c.day.isoformat() if c.day else None,
                 "deadline": c.deadline.isoformat() if c.deadline else None, "partitions": c.partitions,
                 "landed_at": c.landed_at.isoformat() if c.landed_at else None, "verdict": c.verdict}
                for c in self.landing
            ],
        }


# ------------------------------------------------------------------------------------------------
# Collecting
# ------------------------------------------------------------------------------------------------


def _segments(path: str) -> dict[str, str]:
    return dict(_SEGMENT.findall(path))


def _stat_bounds(fragment: Any, column: str) -> tuple[Any, Any]:
    """(min, max) of ``column`` (or its former name, in a file of an older version) from the row-group
    statistics of one Parquet fragment."""
    low = high = None
    names = (column, *former_names(column))
    for group in fragment.row_groups:
        statistics = group.statistics or {}
        stats = next((statistics[n] for n in names if statistics.get(n)), None)
        if not stats:
            continue
        low = stats["min"] if low is None or stats["min"] < low else low
        high = stats["max"] if high is None or stats["max"] > high else high
    return low, high


def _collect_clean(storage: Storage, sources: dict[str, SourceStats], days: int) -> None:
    import pyarrow.dataset as ds

    # committed files only: never a leftover of a landing that died, never a superseded version
    paths = [storage.path(key) for key in manifests.committed_files(storage, "clean")]
    if not paths:
        return
    dataset = ds.dataset(paths, filesystem=storage.fs, format="parquet")
    fragments: dict[str, list[tuple[Any, date | None, date | None]]] = defaultdict(list)
    for fragment in dataset.get_fragments():
        source = _segments(fragment.path).get("source")
        if not source:
            continue
        fragment.ensure_complete_metadata()
        stats = sources.setdefault(source, SourceStats(source))
        stats.clean_rows += fragment.metadata.num_rows
        low, high = _stat_bounds(fragment, "filing_date")
        _, archived = _stat_bounds(fragment, "archived_at")
        if isinstance(archived, datetime) and archived.tzinfo is None:
            archived = archived.replace(tzinfo=UTC)  # the column is UTC; statistics may come back naive
        if high is not None and (stats.latest_filing_date is None or high > stats.latest_filing_date):
            stats.latest_filing_date = high
        if archived is not None and (stats.latest_archived_at is None or archived > stats.latest_archived_at):
            stats.latest_archived_at = archived
        fragments[source].append((fragment, low, high))

    for source, items in fragments.items():
        stats = sources[source]
        if stats.latest_filing_date is None:
            continue
        end = stats.latest_filing_date
        start = end - timedelta(days=days - 1)
        stats.window = (start, end)
        # Only files whose dates reach into the window are read, and only two columns of them.
        tables = [
            fragment.to_table(columns=["filing_id", "filing_date"])
            for fragment, low, high in items
            if high is not None and high >= start and (low is None or low <= end)
        ]
        counts: dict[date, int] = {start + timedelta(days=i): 0 for i in range(days)}
        if tables:
            rows = pa.concat_tables(tables)
            rows = rows.filter(pc.and_(pc.greater_equal(rows["filing_date"], pa.scalar(start, pa.date32())),
                                       pc.less_equal(rows["filing_date"], pa.scalar(end, pa.date32()))))
            grouped = rows.group_by("filing_date").aggregate([("filing_id", "count_distinct")])
            for day, n in zip(grouped["filing_date"].to_pylist(), grouped["filing_id_count_distinct"].to_pylist(),
                              strict=True):
                counts[day] = n
        stats.per_day = counts


def _collect_manifests(storage: Storage, sources: dict[str, SourceStats], last_runs: int) -> list[dict]:
    found = []
    for key, manifest in manifests.iter_manifests(storage):
        manifest["_key"] = key
        found.append(manifest)
        stats = sources.setdefault(manifest["source"], SourceStats(manifest["source"]))
        stats.partitions += 1
        stats.landed_at[str(manifest.get("partition"))] = str(manifest.get("finished_at") or "")
        for name in ("rows_in", "rows_written", "duplicates", "quarantined"):
            setattr(stats, name, getattr(stats, name) + int(manifest.get(name) or 0))
    found.sort(key=lambda m: (str(m.get("finished_at") or ""), m["_key"]), reverse=True)
    return [_run_row(storage, m) for m in found[:last_runs]]


def _run_row(storage: Storage, manifest: dict) -> dict:
    from filinglake.ingest.validation import data_docs_key

    source, partition = str(manifest["source"]), str(manifest.get("partition"))
    row = {k: manifest.get(k) for k in ("source", "partition", "kind", "status", "rows_in", "rows_written",
                                          "duplicates", "quarantined", "finished_at", "seconds")}
    row["manifest_key"] = manifest["_key"] if manifest["_key"] else manifest_key(source, partition)
    gx_key, docs_key = validation_key(source, partition), data_docs_key(source, partition)
    row["validation_key"] = gx_key if storage.exists(gx_key) else None
    row["data_docs_key"] = docs_key if storage.exists(docs_key) else None
    row["validation_success"] = None
    if row["validation_key"]:
        try:
            record = storage.get_json(gx_key)
            row["validation_success"] = bool(record.get("success")) if isinstance(record, dict) else None
        except ValueError:
            pass
    return row


def _collect_published(storage: Storage) -> dict[str, int | None]:
    """Row count of every Delta table under ``published/``, from the log's add actions (no data read)."""
    import pyarrow.fs as pafs

    from filinglake.publish import delta

    tables: dict[str, int | None] = {}
    selector = pafs.FileSelector(storage.path(delta.PUBLISHED_LAYER), recursive=False, allow_not_found=True)
    names = sorted(info.base_name for info in storage.fs.get_file_info(selector)
                   if info.type == pafs.FileType.Directory)
    for name in names:
        table = delta.open_table(storage, name)
        if table is None:
            continue
        actions = pa.table(table.get_add_actions(flatten=True))
        records = actions["num_records"] if "num_records" in actions.column_names else None
        tables[name] = int(pc.sum(records).as_py() or 0) if records is not None else None
    return tables


def _landing_checks(sources: dict[str, SourceStats], now: datetime) -> list[LandingCheck]:
    """Per daily source: its latest day past the deadline, and when that day's partitions last landed."""
    from filinglake.sources import all_sources

    checks = []
    for source in all_sources():
        schedule = source.landing_schedule
        if schedule is None:
            continue
        day = schedule.latest_due_day(now)
        landed = sources.get(source.name, SourceStats(source.name)).landed_at
        prefix = day.isoformat() if day else None
        partitions = sorted(p for p in landed if prefix and (p == prefix or p.startswith(prefix + "-")))
        times = [datetime.fromisoformat(landed[p]) for p in partitions if landed[p]]
        checks.append(LandingCheck(source.name, schedule.describe(), day,
                                   schedule.deadline_time(day) if day else None, partitions,
                                   max(times) if times else None))
    return checks


def collect(storage: Storage, settings: Settings | None = None, *, days: int = DEFAULT_DAYS,
            last_runs: int = DEFAULT_LAST_RUNS, now: datetime | None = None) -> ReportData:
    """Everything the page shows, from the storage root (no network)."""
    from filinglake.alerts.record import read_alerts

    sources: dict[str, SourceStats] = {}
    _collect_clean(storage, sources, days)
    runs = _collect_manifests(storage, sources, last_runs)
    published = _collect_published(storage)
    alerts_table = read_alerts(storage, settings) if "alerts" in published else None
    alerts: list[dict] = []
    total = 0
    if alerts_table is not None and alerts_table.num_rows:
        total = alerts_table.num_rows
        order = pc.sort_indices(alerts_table, sort_keys=[("alerted_at", "descending"), ("alert_id", "ascending")])
        alerts = alerts_table.take(order).slice(0, 20).to_pylist()
    generated_at = (now or datetime.now(UTC)).astimezone(UTC)
    return ReportData(
        generated_at=generated_at,
        landing=_landing_checks(sources, generated_at),
        sources=sources,
        runs=runs,
        published=published,
        alerts=alerts,
        alerts_total=total,
        days=days,
    )


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _colour(source: str, index: int) -> str:
    from filinglake.sources import REGISTRY, source_class

    declared = source_class(source).report_colour if source in REGISTRY else None
    return declared or _SPARE_COLOURS[index % len(_SPARE_COLOURS)]


def _link(key: str | None, label: str) -> str:
    # The page lives at reports/index.html: every other key is one level up.
    return f'<a href="../{_e(key)}">{_e(label)}</a>' if key else '<span class="muted">–</span>'


def _external_link(url: str | None, label: str) -> str:
    """A link to a source's page: only an http(s) URL becomes a link (``javascript:…`` stays text)."""
    if url and _WEB_URL.match(url):
        return f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(label)}</a>'
    return _e(label)


def chart_svg(sources: dict[str, SourceStats], days: int) -> str:
    """One panel per source: bars of distinct filings per calendar day over its latest ``days`` days."""
    charted = [s for s in sorted(sources.values(), key=lambda s: s.source) if s.window]
    if not charted:
        return '<p class="muted">No clean rows yet: nothing to chart.</p>'
    width, panel_h, top, left, right, bottom = 760, 120, 22, 48, 12, 22
    plot_w, plot_h = width - left - right, panel_h - top - bottom
    height = panel_h * len(charted)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>Filings per day per source</title>']
    for index, stats in enumerate(charted):
        assert stats.window is not None
        y0 = index * panel_h
        colour = _colour(stats.source, index)
        peak = max(stats.per_day.values(), default=0) or 1
        bar_w = plot_w / days
        total = sum(stats.per_day.values())
        parts.append(f'<g class="series" data-source="{_e(stats.source)}" transform="translate(0,{y0})">')
        parts.append(f'<text x="{left}" y="14" class="panel-title">{_e(stats.source)} — {total:,} filings, '
                     f'{_e(stats.window[0])} to {_e(stats.window[1])}</text>')
        parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>')
        parts.append(f'<text x="{left - 6}" y="{top + 8}" class="tick" text-anchor="end">{peak:,}</text>')
        parts.append(f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>')
        for i, (day, n) in enumerate(sorted(stats.per_day.items())):
            if not n:
                continue
            h = max(plot_h * n / peak, 1.0)
            x = left + i * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}" data-date="{day.isoformat()}" data-count="{n}">'
                         f'<title>{day.isoformat()}: {n:,} filings</title></rect>')
        parts.append(f'<text x="{left}" y="{panel_h - 6}" class="tick">{_e(stats.window[0])}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{panel_h - 6}" class="tick" text-anchor="end">'
                     f'{_e(stats.window[1])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _age(then: datetime | date | None, now: datetime) -> str:
    if then is None:
        return "–"
    if not isinstance(then, datetime):
        then = datetime(then.year, then.month, then.day, tzinfo=UTC)
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} d"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
margin:24px auto;max-width:1100px;padding:0 16px;color:#1b1f23}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;
vertical-align:top}th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#6a737d}.bad{color:#b31d28;font-weight:600}.ok{color:#22863a}
.chart .axis{stroke:#999;stroke-width:1}.chart .tick{font-size:10px;fill:#6a737d}.chart .panel-title{font-size:12px;
font-weight:600;fill:#1b1f23}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""


def render_html(data: ReportData) -> str:
    """The page for ``data`` (pure function: same data, same bytes)."""
    from filinglake.alerts.presentation import display_title

    now = data.generated_at
    sources = sorted(data.sources.values(), key=lambda s: s.source)
    out: list[str] = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>filinglake status</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>filinglake status</h1>",
        f'<p class="muted">Generated {_e(now.isoformat(timespec="seconds"))} by filinglake {_e(__version__)}. '
        f"Sources: {len(sources)}; runs recorded: {sum(s.partitions for s in sources):,}; "
        f"alerts: {data.alerts_total:,}.</p>",
        f"<h2>Filings per day per source (latest {data.days} days of each)</h2>",
        chart_svg(data.sources, data.days),
    ]

    out.append("<h2>Quality: quarantine rate per source</h2>")
    out.append('<table class="quarantine"><tr><th>source</th><th class="num">partitions</th><th class="num">rows in'
               '</th><th class="num">written</th><th class="num">duplicates</th><th class="num">quarantined</th>'
               '<th class="num">quarantine rate</th></tr>')
    for index, s in enumerate(sources):
        rate_class = "bad" if (s.quarantine_rate or 0) > 0.01 else ""
        out.append(
            f'<tr data-source="{_e(s.source)}"><td><span class="swatch" style="background:{_colour(s.source, index)}">'
            f"</span>{_e(s.source)}</td><td class=\"num\">{s.partitions:,}</td><td class=\"num\">{s.rows_in:,}</td>"
            f'<td class="num">{s.rows_written:,}</td><td class="num">{s.duplicates:,}</td>'
            f'<td class="num">{s.quarantined:,}</td><td class="num {rate_class}">{_rate(s.quarantine_rate)}</td></tr>'
        )
    out.append("</table>")

    out.append("<h2>Freshness</h2>")
    out.append('<table class="freshness"><tr><th>source</th><th>latest filing_date</th><th>age</th>'
               '<th>latest archived_at (UTC)</th><th>age</th><th class="num">clean rows</th></tr>')
    for s in sources:
        ingested = s.latest_archived_at.isoformat(timespec="seconds") if s.latest_archived_at else None
        out.append(
            f'<tr data-source="{_e(s.source)}"><td>{_e(s.source)}</td><td>{_e(s.latest_filing_date or "–")}</td>'
            f"<td>{_age(s.latest_filing_date, now)}</td><td>{_e(ingested or '–')}</td>"
            f"<td>{_age(s.latest_archived_at, now)}</td><td class=\"num\">{s.clean_rows:,}</td></tr>"
        )
    out.append("</table>")

    out.append("<h2>Landing deadlines</h2>")
    out.append('<table class="deadlines"><tr><th>source</th><th>expected</th><th>latest due day</th>'
               '<th>deadline</th><th>landed (UTC)</th><th>verdict</th></tr>')
    for check in data.landing:
        css = {"on time": "ok", "late": "bad", "missing": "bad"}.get(check.verdict, "muted")
        landed = check.landed_at.astimezone(UTC).isoformat(timespec="seconds") if check.landed_at else "–"
        deadline = check.deadline.isoformat(timespec="minutes") if check.deadline else "–"
        out.append(
            f'<tr data-source="{_e(check.source)}"><td>{_e(check.source)}</td><td>{_e(check.expected)}</td>'
            f"<td>{_e(check.day or '–')}</td><td>{_e(deadline)}</td><td>{_e(landed)}</td>"
            f'<td class="{css}">{_e(check.verdict)}</td></tr>'
        )
    out.append("</table>")

    out.append(f"<h2>Latest runs ({len(data.runs)})</h2>")
    out.append('<table class="runs"><tr><th>finished (UTC)</th><th>source</th><th>partition</th><th>kind</th>'
               '<th>status</th><th class="num">rows in</th><th class="num">written</th><th class="num">dup</th>'
               '<th class="num">quarantined</th><th>manifest</th><th>validation record</th></tr>')
    for run in data.runs:
        verdict = run.get("validation_success")
        validation = (f'{_link(run.get("data_docs_key"), "data docs")} · {_link(run.get("validation_key"), "GX result")} '
              + ('<span class="ok">agrees</span>' if verdict else '<span class="bad">mismatch</span>'
                 if verdict is False else ""))
        if not run.get("validation_key") and not run.get("data_docs_key"):
            validation = '<span class="muted">not validated</span>'
        out.append(
            f"<tr><td>{_e(run.get('finished_at'))}</td><td>{_e(run.get('source'))}</td>"
            f"<td>{_e(run.get('partition'))}</td><td>{_e(run.get('kind'))}</td><td>{_e(run.get('status'))}</td>"
            f'<td class="num">{_e(run.get("rows_in"))}</td><td class="num">{_e(run.get("rows_written"))}</td>'
            f'<td class="num">{_e(run.get("duplicates"))}</td><td class="num">{_e(run.get("quarantined"))}</td>'
            f"<td>{_link(run.get('manifest_key'), 'json')}</td><td>{validation}</td></tr>"
        )
    out.append("</table>")

    out.append("<h2>Published tables</h2>")
    if data.published:
        out.append('<table class="published"><tr><th>table</th><th class="num">rows</th></tr>')
        for name, rows in sorted(data.published.items()):
            out.append(f"<tr><td>published/{_e(name)}</td><td class=\"num\">{_e(rows if rows is not None else '?')}"
                       "</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="muted">Nothing published yet (run <code>filinglake publish</code>).</p>')

    out.append(f"<h2>Latest alerts ({data.alerts_total:,} in total)</h2>")
    if data.alerts:
        out.append('<table class="alerts"><tr><th>alerted (UTC)</th><th>entry</th><th>matched on</th><th>source</th>'
                   "<th>issuer</th><th>filing</th><th>filed</th><th>document</th></tr>")
        for alert in data.alerts:
            alerted = alert.get("alerted_at")
            alerted_text = alerted.isoformat(timespec="seconds") if isinstance(alerted, datetime) else alerted
            what = display_title(alert)
            link = _external_link(alert.get("document_url"), what)
            if alert.get("document_key"):
                doc = _link(alert["document_key"], f"{alert.get('document_content_type')}, "
                            f"{alert.get('document_bytes') or 0:,} bytes")
            else:
                doc = f'<span class="muted">{_e(alert.get("document_error") or "–")}</span>'
            out.append(
                f"<tr><td>{_e(alerted_text)}</td><td>{_e(alert.get('entry_name'))}</td>"
                f"<td>{_e(alert.get('matched_on'))}</td><td>{_e(alert.get('source'))}</td>"
                f"<td>{_e(alert.get('company_name') or alert.get('issuer_id'))}</td><td>{link}</td>"
                f"<td>{_e(alert.get('filing_date'))}</td><td>{doc}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="muted">No alerts yet.</p>')
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(storage: Storage, settings: Settings | None = None, *, days: int = DEFAULT_DAYS,
                 last_runs: int = DEFAULT_LAST_RUNS) -> str:
    """Write ``reports/index.html`` (and ``reports/summary.json``); returns the page's URI."""
    data = collect(storage, settings, days=days, last_runs=last_runs)
    page = render_html(data)
    storage.put_bytes(REPORT_KEY, page.encode("utf-8"), content_type="text/html; charset=utf-8")
    storage.put_json(SUMMARY_KEY, data.to_json())
    log.info("report: %s (%d sources, %d runs, %d alerts)", storage.uri(REPORT_KEY), len(data.sources),
             len(data.runs), data.alerts_total)
    return storage.uri(REPORT_KEY)
