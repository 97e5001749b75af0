"""``filinglake alerts`` and ``filinglake watchlist``: the alerts raised so far, and the watchlist that raises them."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def alerts(
    limit: Annotated[int, typer.Option(min=0, help="newest alerts shown (0: all)")] = 20,
    entry: Annotated[str | None, typer.Option(help="only this watchlist entry id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line instead of a table")] = False,
) -> None:
    """List the alerts raised so far (published/alerts), newest first; titles are shown decoded (title_clean)."""
    import pyarrow.compute as pc

    from filinglake.alerts.presentation import display_title
    from filinglake.alerts.record import read_alerts
    from filinglake.config import load_settings
    from filinglake.storage import Storage

    settings = load_settings()
    table = read_alerts(Storage.from_settings(settings), settings)
    if entry:
        table = table.filter(pc.equal(table["entry_id"], entry))
    table = table.take(pc.sort_indices(table, sort_keys=[("alerted_at", "descending"), ("alert_id", "ascending")]))
    if limit:
        table = table.slice(0, limit)
    rows = table.to_pylist()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False, default=str, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    view = Table(title=f"alerts ({len(rows)} shown)")
    for column in ("alerted_at", "entry_id", "matched_on", "source", "company_name", "filing", "filing_date",
                   "document"):
        view.add_column(column)
    for row in rows:
        # Text, not markup: brackets in titles and errors ("[Other]", "[/]") are data
        document = Text(row["document_key"]) if row["document_key"] else Text(row["document_error"] or "", style="dim")
        view.add_row(
            f"{row['alerted_at']:%Y-%m-%d %H:%M}" if row["alerted_at"] else "",
            Text(row["entry_id"]),
            Text(row["matched_on"] or ""),
            Text(row["source"] or ""),
            Text(row["company_name"] or row["issuer_id"] or ""),
            Text(display_title(row)),
            str(row["filing_date"] or ""),
            document,
        )
    Console().print(view)


def watchlist(
    path: Annotated[str | None, typer.Argument(help="watchlist file (default: FILINGLAKE_WATCHLIST)")] = None,
) -> None:
    """Check a watchlist file and list its entries (errors name the line and the field).

    Tickers, CIKs and stock codes no published security knows (published/securities, from the sources'
    reference lists) are warnings naming their line: the entry stays, and the exit code is 0.
    """
    from filinglake.alerts.watchlist import load_watchlist, unknown_issuers
    from filinglake.config import load_settings
    from filinglake.errors import FilinglakeError
    from filinglake.publish.securities import read_securities
    from filinglake.storage import Storage

    settings = load_settings()
    loaded = load_watchlist(path or settings.watchlist)
    for item in loaded.entries:
        criteria = {name: list(getattr(item, name)) for name in
                    ("tickers", "ciks", "stock_codes", "words", "form_types", "sources") if getattr(item, name)}
        typer.echo(json.dumps({"id": item.id, "name": item.name, **criteria}, ensure_ascii=False))
    checks_issuers = any(e.has_issuers for e in loaded.entries)
    warnings: list[str] = []
    if checks_issuers:
        try:
            securities = read_securities(Storage.from_settings(settings))
        except (FilinglakeError, OSError, ValueError) as exc:  # the file is fine; the lake is not reachable
            typer.echo(f"note: published securities not readable ({exc}): tickers and codes not checked", err=True)
        else:
            if securities.num_rows:
                warnings = unknown_issuers(loaded, securities)
            else:
                typer.echo("note: no published securities yet (filinglake publish): tickers and codes not checked",
                           err=True)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    tail = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    typer.echo(f"{loaded.path}: {len(loaded)} entries, OK{tail}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(alerts)
    app.command()(watchlist)
