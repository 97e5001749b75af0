"""``filinglake query``: SQL over the published tables, read-only unless ``--allow-writes``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import typer

#: longest cell printed in the terminal table (the full value goes to --output)
MAX_CELL = 120


def query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views filings, issuers, securities, issuer_links, "
                                             "filings_across_markets, daily_counts, category_counts, alerts, quarantine "
                                             "and the macro company_filings(key)")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="write every row to FILE.csv or FILE.parquet")] = None,
    limit: Annotated[int, typer.Option(min=0, help="rows printed in the terminal (0: all)")] = 50,
    allow_writes: Annotated[
        bool, typer.Option("--allow-writes", help="let the SQL write files (COPY … TO, ATTACH, CREATE …); off by default")
    ] = False,
) -> None:
    """Run SQL over the published tables, offline, on local or S3 storage.

    Example: the filings of Royal Bank of Canada (ticker RY) in January 2026:

        filinglake query "SELECT f.filing_date, f.form_type, f.company_name, f.document_url
        FROM filings f JOIN issuers i USING (source, issuer_id)
        WHERE list_contains(i.tickers, 'RY') AND f.filing_date BETWEEN '2026-01-01' AND '2026-01-31'"

    Views: filings, issuers, securities, issuer_links, filings_across_markets, daily_counts, category_counts,
    alerts, quarantine (rows a row check kept out, and one row per refused reference list); see
    `filinglake query "DESCRIBE filings"`. One company in every market it is
    linked in (issuer_links: A and H shares, a secondary listing and its SEC registrant), by a ticker,
    `<source>:<issuer_id>` or link_id:

        filinglake query "SELECT source, filing_date, form_type, title_clean FROM company_filings('000002.SZ')"

    Function normalise_ticker(text): any spelling → the stored form, e.g. WHERE ticker = normalise_ticker('700.HK')
    (0700.HK; 600519.SH and SH600519 → 600519.SS; a CIK 0000320193 → 320193, compare it with issuer_id).

    Read-only: only SELECT-like statements run and DuckDB may read nothing but the tables' files
    (no COPY … TO, ATTACH, INSTALL/LOAD, CREATE/INSERT, SET) unless --allow-writes; --output writes
    only the file it names. A root where nothing is published is an error, not an empty result.
    """
    from filinglake.config import load_settings
    from filinglake.query import require_published, run_query, write_result
    from filinglake.storage import Storage

    storage = Storage.from_settings(load_settings())
    require_published(storage)
    if output:
        count = write_result(sql, output, storage=storage, allow_writes=allow_writes)
        typer.echo(f"{count} row(s) written to {output}", err=True)
        return
    table = run_query(sql, storage=storage, limit=limit + 1 if limit else None, allow_writes=allow_writes)
    shown = table.slice(0, limit) if limit else table
    print_table(shown, more=limit > 0 and table.num_rows > limit)


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
    app.command()(query)
