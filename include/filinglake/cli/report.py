"""``filinglake report``: the static status page."""

from __future__ import annotations

from typing import Annotated

import typer


def report(
    days: Annotated[int, typer.Option(min=1, help="calendar days charted per source")] = 60,
    runs: Annotated[int, typer.Option(min=0, help="latest run manifests listed")] = 20,
) -> None:
    """Write the static status page (reports/index.html) and print where it is.

    Filings per day per source, quarantine rate per source, freshness, the latest runs with links
    to their validation records (Great Expectations), published tables and the latest alerts (titles decoded).
    Works before the first publish (it reads the clean layer and the manifests). The page runs and
    loads nothing (no scripts; a Content-Security-Policy forbids them); values from the data are text.
    """
    from filinglake.config import load_settings
    from filinglake.report import write_report
    from filinglake.storage import Storage

    settings = load_settings()
    typer.echo(write_report(Storage.from_settings(settings), settings, days=days, last_runs=runs))


def register(app: typer.Typer) -> None:
    app.command()(report)
