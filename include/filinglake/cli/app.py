"""The ``filinglake`` command line: parse, ingest, backfill, and the commands other modules register.

Expected failures (bad input, bad responses, configuration) print one line on stderr and exit
non-zero; a traceback means a bug.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, timedelta
from importlib import import_module
from pathlib import Path
from typing import Annotated

import typer

from filinglake.errors import Blocked, FilinglakeError

app = typer.Typer(
    name="filinglake",
    help="Collect disclosure indexes (SEC EDGAR, CNINFO, HKEXnews), validate every row, land Parquet and publish tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: modules that add commands with a ``register(app)`` function; missing modules are skipped
COMMAND_MODULES = [
    "filinglake.cli.publish",
    "filinglake.cli.report",
]

#: how many times one partition waits out a block (a challenge page, SEC's 403 page) before giving up
BLOCK_WAITS = 3
#: seam for tests: how the CLI waits out a block
_sleep = __import__("time").sleep

SourceOption = Annotated[str, typer.Option("--source", "-s", help="sec_edgar, cninfo or hkex")]


def _echo_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, sort_keys=True, default=str))


@app.command()
def parse(
    input_file: Annotated[Path, typer.Argument(help="a saved index file or response (plain or .gz)")],
    source: SourceOption = "sec_edgar",
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for filings.parquet and quarantine.parquet")] = Path(
        "parsed"
    ),
) -> None:
    """Parse and check one local file with no network.

    Writes OUTPUT/filings.parquet and OUTPUT/quarantine.parquet (unified schema; quarantine adds
    failed_checks). The last line of stdout is a JSON summary with rows_in, rows_written,
    duplicates and quarantined.
    """
    from filinglake.ingest.landing import parse_file

    if not input_file.is_file():
        raise FilinglakeError(f"{input_file}: no such file")
    result = parse_file(source, input_file, output)
    for rule, count in sorted(result["failures"].items()):
        if count:
            typer.echo(f"  {rule}: {count} row(s) failed", err=True)
    _echo_json(result)


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise FilinglakeError(f"--to {end} is before --from {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def partition_ids(source: str, day: str | None, quarter: str | None, start: str | None, end: str | None,
                  stock: str | None = None) -> list[str]:
    """Partition ids from the CLI options (exactly one of --date, --quarter, --from/--to; --stock needs --from/--to)."""
    from filinglake.sources import get_source

    if stock:
        if day or quarter:
            raise FilinglakeError("--stock goes with --from/--to, not with --date or --quarter")
        return [stock_partition(source, stock, start, end)]
    chosen = [x for x in (day, quarter, start or end) if x]
    if len(chosen) != 1:
        raise FilinglakeError("give exactly one of --date, --quarter or --from/--to")
    if quarter:
        return [quarter]
    if day:
        return [day]
    if not (start and end):
        raise FilinglakeError("--from and --to go together")
    try:
        days = _days(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        raise FilinglakeError(f"bad date: {exc}") from None
    src = get_source(source)
    expand = getattr(src, "partitions_for_day", None)
    ids: list[str] = []
    for d in days:
        ids.extend(expand(d) if expand else [d.isoformat()])
    return ids


def stock_partition(source: str, stock: str, start: str | None, end: str | None) -> str:
    """The per-issuer partition id for ``--stock CODE --from D1 --to D2`` (sources that support it)."""
    from filinglake.sources import get_source

    make_id = getattr(get_source(source), "stock_partition_id", None)
    if make_id is None:
        raise FilinglakeError(f"--stock is not supported by source {source!r} (try --source cninfo)")
    if not (start and end):
        raise FilinglakeError("--stock needs --from and --to (the date range of the issuer's announcements)")
    try:
        return make_id(stock, date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        raise FilinglakeError(f"--stock {stock}: {exc}") from None


@app.command()
def ingest(
    source: SourceOption = "sec_edgar",
    day: Annotated[str | None, typer.Option("--date", help="one day, YYYY-MM-DD")] = None,
    quarter: Annotated[str | None, typer.Option("--quarter", help="one quarter, YYYYQn (SEC full-index)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day of a range (backfill)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day of a range (inclusive)")] = None,
    validate: Annotated[bool, typer.Option(help="run the Great Expectations record after writing")] = True,
    stock: Annotated[
        str | None, typer.Option("--stock", help="one issuer's announcements over --from/--to as one partition (CNINFO code, e.g. 002236)")
    ] = None,
) -> None:
    """Fetch, check and land partitions: the same work as the DAG tasks, for a person or a script."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from filinglake.ingest.landing import ingest as ingest_partition
    from filinglake.ingest.landing import summary

    ids = partition_ids(source, day, quarter, start, end, stock)
    console = Console(stderr=True)
    totals = {"partitions": 0, "rows_in": 0, "rows_written": 0, "duplicates": 0, "quarantined": 0, "empty": 0}
    failed: list[str] = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeRemainingColumn(),
        console=console,
        disable=len(ids) == 1,
    ) as progress:
        task = progress.add_task(f"{source}", total=len(ids), last="")
        for pid in ids:
            try:
                manifest = _ingest_waiting_out_blocks(ingest_partition, source, pid, validate, console)
            except FilinglakeError as exc:
                if len(ids) == 1:
                    raise
                failed.append(f"{pid}: {exc}")
                console.print(f"[red]{pid} failed:[/red] {exc}")
                progress.advance(task)
                continue
            s = summary(manifest)
            totals["partitions"] += 1
            totals["empty"] += s["status"] == "empty"
            for k in ("rows_in", "rows_written", "duplicates", "quarantined"):
                totals[k] += s[k] or 0
            progress.update(task, advance=1, last=f"{pid}: {s['rows_written']} rows")
            if len(ids) == 1:
                _echo_json(s)
    if len(ids) > 1:
        _echo_json({"source": source, **totals, "failed": failed})
    if failed:
        raise typer.Exit(1)


def _ingest_waiting_out_blocks(ingest_partition, source: str, pid: str, validate: bool, console) -> dict:
    """Ingest one partition; when the source blocks us, stay away as long as it asks, then try again.

    A person running a backfill expects it to finish rather than skip the days a block fell on.
    """
    for attempt in range(BLOCK_WAITS + 1):
        try:
            return ingest_partition(source, pid, validate=validate)
        except Blocked as exc:
            if attempt == BLOCK_WAITS:
                raise
            console.print(f"[yellow]{pid}: {exc}; waiting {exc.retry_after:.0f} s before trying again[/yellow]")
            _sleep(exc.retry_after)
    raise AssertionError("unreachable")


_registered: list[str] = []  # modules whose commands are on ``app`` (main() may run many times in one process)


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        if module_name in _registered:
            continue
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(app)
        _registered.append(module_name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    import click

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # filinglake's own loggers say what happens per partition; one line per HTTP request is noise here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _register_commands()
    try:
        app(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except (FilinglakeError, ValueError, OSError) as exc:
        # OSError: files, and object storage that is unreachable or refuses us (pyarrow raises OSError)
        typer.echo(f"filinglake: error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
