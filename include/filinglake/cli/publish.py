"""CLI commands for the published layer: ``publish``, ``compact``.

Registered by :mod:`filinglake.cli.app` through ``COMMAND_MODULES``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer


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
        bool, typer.Option(help="archive the reference lists first: SEC's company_tickers.json (needs "
                                "FILINGLAKE_SEC_USER_AGENT) and HKEXnews' stock lists (English and Chinese)")
    ] = False,
    rebuild_issuers: Annotated[
        list[str] | None,
        typer.Option("--rebuild-issuers", help="recompute the issuers of these sources whose reference list entry (name, tickers) changed, not only the batch's; every issuer where the list supplies the codes (CNINFO)"),
    ] = None,
    alerts: Annotated[
        bool, typer.Option(help="check the watchlist (FILINGLAKE_WATCHLIST) before merging, then raise its alerts on "
                                "every row inserted or changed since they were last evaluated (--no-alerts: later)")
    ] = True,
) -> None:
    """Merge landed clean partitions into the published Delta tables (securities, filings, issuers, daily_counts,
    category_counts, issuer_links).

    Without options, publishes the landed partitions that are new or changed since they were last
    published (published/_ledger.json): nothing to do is a quick no-op. --all publishes every landed
    partition again; --partition the ones named. Many partitions (a backfill's) go in batches of at most
    100,000 clean rows (a larger partition in parts), each logged with an ETA and recorded in the ledger
    when done, so memory follows the batch and an interrupted publish resumes where it stopped.
    Publishing is idempotent: the same inputs again
    insert and update nothing. A publish running at the same time is waited out (its commits are
    retried); prints a JSON summary (counts, table versions). issuer_links is rebuilt from securities,
    issuers and the reviewed link list (FILINGLAKE_ISSUER_LINKS) when one of them changed; a bad entry
    of that list is skipped and named in the summary (issuer_links.refused).
    """
    from filinglake.alerts.watchlist import validate_watchlist
    from filinglake.config import load_settings
    from filinglake.errors import FilinglakeError
    from filinglake.publish.clean_layer import clean_partitions
    from filinglake.publish.run import publish, publish_pending, summary
    from filinglake.sources import get_source
    from filinglake.storage import Storage

    settings = load_settings()
    # before anything commits: rows merged under a broken watchlist would never be evaluated
    watchlist = validate_watchlist(settings) if alerts else None
    storage = Storage.from_settings(settings)
    if fetch_tickers:
        from filinglake.publish.references import fetch_reference_lists

        for list_source, ref in fetch_reference_lists(storage, settings).items():
            typer.echo(f"{list_source} reference list: {ref.key}{' (changed)' if ref.new else ''}", err=True)
            if ref.new:  # a changed list touches issuers this batch may not: recompute that source's issuers
                rebuild_issuers = sorted({*(rebuild_issuers or []), list_source})
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
            wanted.append((src, get_source(src).partition(pid).id))  # as landed: the source's own spelling
        result = publish(storage, settings, wanted, rebuild_issuers=rebuild)
    elif republish:
        result = publish(storage, settings, clean_partitions(storage, source), rebuild_issuers=rebuild)
    else:
        result = publish_pending(storage, settings, source, rebuild_issuers=rebuild)
    out = summary(result)
    out["partitions"] = len(result["partitions"])
    if alerts:
        out["alerts"] = _record_alerts(storage, settings, watchlist)
    typer.echo(json.dumps(out, sort_keys=True, default=str))


def _record_alerts(storage, settings, watchlist) -> int:
    """Alerts for every filings change not evaluated yet, printed one per line (the DAG notifies instead)."""
    from filinglake.alerts.presentation import display_title
    from filinglake.alerts.record import record_alerts

    new = record_alerts(storage, settings, watchlist)
    for alert in new:
        typer.echo(
            f"alert {alert['entry_id']}: {alert['matched_on']} | {alert.get('ticker') or alert['issuer_id']} "
            f"{alert['filing_date']} {display_title(alert)} {alert.get('document_url') or ''}",
            err=True,
        )
    return len(new)


def compact(
    retention_hours: Annotated[int, typer.Option(help="keep unreferenced files this long (time travel, readers)")] = 168,
) -> None:
    """Cluster the filings months that gained files by issuer, compact small files of every published table, checkpoint, vacuum old files (the compact_published_tables DAG weekly)."""
    from filinglake.config import load_settings
    from filinglake.publish.run import compact_tables
    from filinglake.storage import Storage

    settings = load_settings()
    report = compact_tables(Storage.from_settings(settings), retention_hours=retention_hours)
    typer.echo(json.dumps(report, sort_keys=True))


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.command("compact")(compact)
