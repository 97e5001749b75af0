"""The data-docs page of a validated partition: one small HTML file, safe to open, that works offline.

Rendered from the validation record itself (:class:`~filinglake.ingest.validation.ValidationReport` and GX's
``describe_dict``), not by GX's renderer: that page pulled nine scripts and their stylesheets from
CDNs and wrote failing values into the markup raw, so a quarantined HKEX title
``<script>alert(5)</script>`` ran in the reader's browser. Here:

* every value that comes from the data (and every other string) goes through :func:`html.escape`
  with quotes escaped, so it is text, never markup, inside an element or an attribute;
* values are never links (a document URL from the data is shown, not followed);
* the page has no script, no external stylesheet, font or image: its style is inline and a
  Content-Security-Policy forbids loading anything, as a second line of defence.

The page shows, per rule, GX's unexpected count next to the row checks' count with GX's example
values, the disagreements if any, and the first quarantined rows of the partition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from filinglake.ingest.validation import ValidationReport

#: quarantined rows shown on the page (the whole list is in the quarantine Parquet)
QUARANTINE_SAMPLE_ROWS = 20
#: what the page shows of a quarantined row; ``failed_checks`` is in the quarantine Parquet
QUARANTINE_COLUMNS = ("filing_id", "issuer_id", "company_name", "form_type", "title", "filing_date", "document_url")
#: nothing may be loaded: inline styles only
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { white-space: pre-wrap; word-break: break-all; background: #f6f6f6; padding: 0 0.2em; }
.ok { color: #176117; } .bad { color: #a11; font-weight: bold; }
ul.values { margin: 0; padding-left: 1.2em; }
"""


def text(value: Any) -> str:
    """``value`` as escaped HTML text: missing values read ``null``, a blank string shows its quotes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<em>null</em>"
    if isinstance(value, Mapping):
        return ", ".join(f"{escape(str(k))}={text(v)}" for k, v in value.items())
    rendered = str(value)
    if rendered.strip() == "":
        rendered = f'"{rendered}"'
    return f"<code>{escape(rendered, quote=True)}</code>"


def _cells(values: Iterable[Any], numeric: bool = False) -> str:
    css = ' class="n"' if numeric else ""
    return "".join(f"<td{css}>{v}</td>" for v in values)


def _examples(entry: Mapping[str, Any] | None) -> str:
    found = ((entry or {}).get("result") or {}).get("partial_unexpected_list") or []
    if not found:
        return ""
    return '<ul class="values">' + "".join(f"<li>{text(v)}</li>" for v in found) + "</ul>"


def _columns(entry: Mapping[str, Any] | None) -> str:
    kwargs = (entry or {}).get("kwargs") or {}
    columns = kwargs.get("column_list") or ([kwargs["column"]] if "column" in kwargs else [])
    return ", ".join(text(c) for c in columns)


def _rules_table(report: ValidationReport) -> str:
    entries = {e.get("rule"): e for e in (report.gx_result or {}).get("expectations", [])}
    rows = []
    for rule, counts in report.per_rule.items():
        entry = entries.get(rule)
        agrees = counts["exception"] is None and counts["gx_unexpected"] == counts["row_checks"]
        rows.append(
            "<tr>"
            + _cells([escape(rule)])
            + _cells([escape(str(counts["gx_unexpected"])), escape(str(counts["row_checks"]))], numeric=True)
            + _cells(
                [
                    '<span class="ok">yes</span>' if agrees else '<span class="bad">no</span>',
                    escape(str((entry or {}).get("expectation_type") or "")),
                    _columns(entry),
                    _examples(entry),
                    escape(counts["exception"] or ""),
                ]
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("rule", "GX unexpected", "row checks", "agree", "GX expectation", "GX column(s)",
                  "GX example values", "exception")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _quarantine_table(quarantined: pa.Table | None) -> str:
    if quarantined is None or quarantined.num_rows == 0:
        return "<p>No quarantined rows.</p>"
    columns = [c for c in QUARANTINE_COLUMNS if c in quarantined.column_names]
    sample = quarantined.slice(0, QUARANTINE_SAMPLE_ROWS).select(columns).to_pylist()
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + _cells(text(row[c]) for c in columns) + "</tr>" for row in sample)
    shown = f"the first {len(sample)} of {quarantined.num_rows}" if quarantined.num_rows > len(sample) else "all"
    return (
        f"<p>Showing {shown} quarantined rows; the rules each row broke are in the quarantine Parquet "
        "(<code>failed_checks</code>).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def render_data_docs(report: ValidationReport, quarantined: pa.Table | None = None) -> str:
    """The partition's page: the record's verdict, the per-rule comparison, some quarantined rows."""
    where = f"{report.source} {report.partition}" if report.source else report.suite
    if report.success:
        verdict = (
            f'<p class="ok">GX agrees with the row checks on {len(report.per_rule)} rules, '
            f"{report.rows} rows.</p>"
        )
    else:
        problems = "".join(f"<li>{escape(m)}</li>" for m in report.mismatches)
        verdict = f'<p class="bad">Validation record DISAGREES with the row checks ({report.rows} rows):</p><ul>{problems}</ul>'
    statistics = (report.gx_result or {}).get("statistics") or {}
    gx_verdict = (
        f"<p>GX's own verdict: {escape(str(statistics.get('successful_expectations', '?')))} of "
        f"{escape(str(statistics.get('evaluated_expectations', '?')))} expectations met "
        "(rows that break a rule are quarantined, so a partition with quarantined rows is expected "
        "to miss some).</p>"
    )
    title = escape(f"Validation record: {where}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY, quote=True)}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1>"
        f'<section id="filinglake-comparison">{verdict}{gx_verdict}'
        f"<h2>Rules</h2>{_rules_table(report)}</section>"
        f'<section id="quarantined"><h2>Quarantined rows</h2>{_quarantine_table(quarantined)}</section>'
        f"<p>Record: <code>{escape(report.key or '')}</code></p>"
        "</body></html>\n"
    )
