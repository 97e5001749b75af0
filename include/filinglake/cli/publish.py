"""CLI commands for the published layer: ``publish``, ``query``, ``compact``.

Registered by :mod:`filinglake.cli.app` through ``COMMAND_MODULES``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import typer

#: longest cell printed in the terminal table (the full value goes to --output)
MAX_CELL = 120


def publish(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="only these sources (repeatable)")] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option("--partition", "-p", help="only these partitions, e.g. 2026-01-02 or 2016Q3 (repeatable; "
                                               "with one --source, or written SOURCE/PARTITION); published "
                                               "even if already published"),
    ] = None,
    republish: Annotated[
        bool, typer.Option("--all", help="every landed partition (of --source), not only the new or changed ones")
    ] = False,
    fetch_tickers: Annotated[
        bool, typer.Option(help="archive SEC's company_tickers.json first (needs FILINGLAKE_SEC_USER_AGENT)")
    ] = False,
    rebuild_issuers: Annotated[
        list[str] | None,
        typer.Option("--rebuild-issuers", help="recompute every issuer of these sources, not only the batch's"),
    ] = None,
    alerts: Annotated[
        bool, typer.Option(help="raise watchlist alerts (FILINGLAKE_WATCHLIST) on the rows this publish inserted or changed")
    ] = True,
) -> None:
    """Merge landed clean partitions into the published Delta tables (filings, issuers, daily_counts).

    Without options, publishes the landed partitions that are new or changed since they were last
    published (published/_ledger.json): nothing to do is a quick no-op. --all publishes every landed
    partition again; --partition the ones named. Publishing is idempotent: the same inputs again
    insert and update nothing. A publish running at the same time is waited out (its commits are
    retried); prints a JSON summary (counts, table versions).
    """
    from filinglake.config import load_settings
    from filinglake.errors import FilinglakeError
    from filinglake.publish.clean_layer import clean_partitions
    from filinglake.publish.run import publish, publish_pending, summary
    from filinglake.storage import Storage

    settings = load_settings()
    storage = Storage.from_settings(settings)
    if fetch_tickers:
        from filinglake.publish.references import fetch_sec_company_tickers

        ref = fetch_sec_company_tickers(storage, settings)
        typer.echo(f"company_tickers.json: {ref.key}{' (changed)' if ref.new else ''}", err=True)
        if ref.new:
            rebuild_issuers = sorted({*(rebuild_issuers or []), "sec_edgar"})
    if source and not partition and not clean_partitions(storage, source):
        raise FilinglakeError(f"no landed partitions for {', '.join(source)} under {storage.root}/clean/filings")
    rebuild = rebuild_issuers or ()
    if partition:
        wanted: list[tuple[str, str]] = []
        for item in partition:
            if "/" in item:
                src, _, pid = item.partition("/")
            elif source and len(source) == 1:
                src, pid = source[0], item
            else:
                raise FilinglakeError(f"--partition {item}: give exactly one --source, or write it as SOURCE/{item}")
            wanted.append((src, pid))
        result = publish(storage, settings, wanted, rebuild_issuers=rebuild)
    elif republish:
        result = publish(storage, settings, clean_partitions(storage, source), rebuild_issuers=rebuild)
    else:
        result = publish_pending(storage, settings, source, rebuild_issuers=rebuild)
    out = summary(result)
    out["partitions"] = len(result["partitions"])
    if alerts:
        out["alerts"] = _raise_alerts(storage, settings, result)
    typer.echo(json.dumps(out, sort_keys=True, default=str))


def _raise_alerts(storage, settings, result: dict) -> int:
    """Alerts for what this publish changed, printed one per line (the DAG sends them via its notifier)."""
    from filinglake.alerts.record import raise_alerts
    from filinglake.publish.filings import changed_rows

    rows = changed_rows(storage, result["version_before"], result["version"])
    new = raise_alerts(storage, settings, rows) if rows.num_rows else []
    for alert in new:
        typer.echo(
            f"alert {alert['entry_id']}: {alert['matched_on']} | {alert.get('ticker') or alert['issuer_id']} "
            f"{alert['filing_date']} {alert.get('title') or alert.get('form_type')} {alert.get('document_url') or ''}",
            err=True,
        )
    return len(new)


def query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views filings, issuers, daily_counts, alerts, quarantine")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="write every row to FILE.csv or FILE.parquet")] = None,
    limit: Annotated[int, typer.Option(help="rows printed in the terminal (0: all)")] = 50,
) -> None:
    """Run SQL over the published tables, offline, on local or S3 storage.

    Example: the filings of Royal Bank of Canada (ticker RY) in January 2026:

        filinglake query "SELECT f.filing_date, f.form_type, f.company_name, f.document_url
        FROM filings f JOIN issuers i USING (source, issuer_id)
        WHERE list_contains(i.tickers, 'RY') AND f.filing_date BETWEEN '2026-01-01' AND '2026-01-31'"

    Views: filings, issuers, daily_counts, alerts, quarantine (see `filinglake query "DESCRIBE filings"`).
    """
    from filinglake.config import load_settings
    from filinglake.query import run_query, write_result

    settings = load_settings()
    if output:
        count = write_result(sql, output, settings)
        typer.echo(f"{count} row(s) written to {output}", err=True)
        return
    if limit < 0:
        raise typer.BadParameter("--limit must be 0 or more")
    table = run_query(sql, settings, limit=limit + 1 if limit else None)
    shown = table.slice(0, limit) if limit else table
    print_table(shown, more=limit > 0 and table.num_rows > limit)


def compact(
    retention_hours: Annotated[int, typer.Option(help="keep unreferenced files this long (time travel, readers)")] = 168,
) -> None:
    """Maintenance: compact small files of every published table, checkpoint, vacuum old files."""
    from filinglake.config import load_settings
    from filinglake.publish.run import compact_and_vacuum
    from filinglake.storage import Storage

    settings = load_settings()
    report = compact_and_vacuum(Storage.from_settings(settings), retention_hours=retention_hours)
    typer.echo(json.dumps(report, sort_keys=True))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = ", ".join(_cell(v) for v in value)
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, date | Decimal):
        text = str(value)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(table, *, more: bool = False) -> None:
    """A pyarrow table as a readable terminal table (lists joined with commas, long cells cut)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if table.num_columns == 0:
        console.print("(no result)")
        return
    view = Table(show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    # column-wise: a join may repeat a column name, which row dicts would collapse
    for row in zip(*(column.to_pylist() for column in table.columns), strict=True):
        view.add_row(*(Text(_cell(v)) for v in row))  # Text: brackets in data are not markup
    console.print(view)
    suffix = " (more not shown: raise --limit or use --output)" if more else ""
    console.print(f"{table.num_rows} row(s){suffix}", style="dim")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.command("query")(query)
    app.command("compact")(compact)
