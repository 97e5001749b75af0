"""``filinglake parse`` and ``filinglake ingest``: one local file, or partitions fetched from a source.

A range (``--from/--to`` days, ``--from-quarter/--to-quarter`` quarters) runs every partition with a
progress bar and an ETA on stderr, and ends with one JSON line of totals on stdout. A partition that
fails is reported (which and why) and the others still run; then the command exits 1. The options
are checked before the first request: a wrong one exits 2 having fetched nothing.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from filinglake.cli.exit_codes import PartitionsFailed
from filinglake.errors import Blocked, FilinglakeError, InputError
from filinglake.sources import get_source, source_names

#: how many times one partition waits out a block (a challenge page, SEC's 403 page) before giving up
BLOCK_WAITS = 3
#: seam for tests: how the CLI waits out a block
_sleep = time.sleep

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$", re.IGNORECASE)


def _known_source(value: str) -> str:
    if value not in source_names():
        raise typer.BadParameter(f"unknown source {value!r}; known sources: {', '.join(source_names())}")
    return value


SourceOption = Annotated[
    str, typer.Option("--source", "-s", help=f"one of: {', '.join(source_names())}", callback=_known_source)
]


def _echo_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, sort_keys=True, default=str))


def parse(
    input_file: Annotated[Path, typer.Argument(help="a saved index file or response (plain or .gz)")],
    source: SourceOption,
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
        raise InputError(f"{input_file}: no such file")
    result = parse_file(source, input_file, output)
    for rule, count in sorted(result["failures"].items()):
        if count:
            typer.echo(f"  {rule}: {count} row(s) failed", err=True)
    _echo_json(result)


# ------------------------------------------------------------------------------------------------
# which partitions the options name
# ------------------------------------------------------------------------------------------------


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text}: use YYYY-MM-DD") from None


def _quarter(option: str, text: str) -> tuple[int, int]:
    match = _QUARTER.match(text.strip())
    if not match:
        raise InputError(f"{option} {text}: use YYYYQn, e.g. 1993Q1")
    return int(match.group(1)), int(match.group(2))


def quarters_between(first: str, last: str) -> list[str]:
    """``YYYYQn`` ids from ``first`` to ``last`` inclusive."""
    start, end = _quarter("--from-quarter", first), _quarter("--to-quarter", last)
    if end < start:
        raise InputError(f"--to-quarter {last} is before --from-quarter {first}")
    (year, q), ids = start, []
    while (year, q) <= end:
        ids.append(f"{year}Q{q}")
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return ids


def _days_of(source: str, first: date, last: date) -> list[str]:
    """The partitions of each day (both HKEX language streams, one partition elsewhere)."""
    if last < first:
        raise InputError(f"--to {last} is before --from {first}")
    expand = getattr(get_source(source), "partitions_for_day", None)
    ids: list[str] = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        ids.extend(expand(day) if expand else [day.isoformat()])
    return ids


def _plain_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def stock_code(text: str) -> str:
    """The exchange's stock code from what a user types: ``002236``, ``002236.SZ``, ``SZ002236``.

    Plain digits are kept as typed: the source's own stock list decides whether the code exists.
    """
    from filinglake.tickers import readings

    if text.strip().isdigit():
        return text.strip()
    code = next((ref.value for ref in readings(text) if ref.kind == "stock_code"), None)
    if code is None:
        raise InputError(f"--stock {text}: not a stock code (six digits such as 002236, or a ticker such as 002236.SZ)")
    return code


def stock_partition(source: str, stock: str, start: str | None, end: str | None) -> str:
    """The per-issuer partition id for ``--stock CODE --from D1 --to D2`` (sources that support it)."""
    make_id = getattr(get_source(source), "stock_partition_id", None)
    if make_id is None:
        raise InputError(f"--stock is not supported by source {source!r} (try --source cninfo)")
    if not (start and end):
        raise InputError("--stock needs --from and --to (the date range of the issuer's announcements)")
    return make_id(stock_code(stock), _date("--from", start), _date("--to", end))


def partition_ids(source: str, *, day: str | None = None, quarter: str | None = None, start: str | None = None,
                  end: str | None = None, from_quarter: str | None = None, to_quarter: str | None = None,
                  stock: str | None = None, partition: list[str] | None = None,
                  today: date | None = None) -> list[str]:
    """The partitions the ingest options name, each checked by its source; nothing in the future.

    Exactly one of --partition, --date, --quarter, --from/--to, --from-quarter/--to-quarter; --stock goes
    with --from/--to.
    """
    if partition:
        if day or quarter or start or end or from_quarter or to_quarter or stock:
            raise InputError("--partition names its partitions itself: give it without the other options")
        ids = []
        for pid in partition:  # a plain day means every partition of that day, as in the DAGs' param
            day = _plain_day(pid)
            ids.extend(_days_of(source, day, day) if day else [pid])
    elif stock:
        if day or quarter or from_quarter or to_quarter:
            raise InputError("--stock goes with --from/--to, not with --date or quarters")
        ids = [stock_partition(source, stock, start, end)]
    else:
        chosen = [x for x in (day, quarter, start or end, from_quarter or to_quarter) if x]
        if len(chosen) != 1:
            raise InputError("give exactly one of --date, --quarter, --from/--to or --from-quarter/--to-quarter")
        if day:
            ids = _days_of(source, _date("--date", day), _date("--date", day))
        elif quarter:
            ids = [quarter]
        elif from_quarter or to_quarter:
            if not (from_quarter and to_quarter):
                raise InputError("--from-quarter and --to-quarter go together")
            ids = quarters_between(from_quarter, to_quarter)
        else:
            if not (start and end):
                raise InputError("--from and --to go together")
            ids = _days_of(source, _date("--from", start), _date("--to", end))
    return _checked_by_source(source, ids, today or datetime.now(UTC).date())


def _checked_by_source(source: str, ids: list[str], today: date) -> list[str]:
    """Each id as its source spells it; a bad or future one fails the whole command before any request."""
    src = get_source(source)
    checked = []
    for pid in ids:
        partition = src.partition(pid)  # ValueError names the id and what the source expects
        # a day east of UTC may have begun already; anything starting later has not
        if partition.start > today + timedelta(days=1):
            raise InputError(f"{partition.id} is in the future (today is {today} UTC)")
        checked.append(partition.id)
    return checked


# ------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------


def ingest(
    source: SourceOption,
    day: Annotated[str | None, typer.Option("--date", help="one day, YYYY-MM-DD (HKEX: both language streams)")] = None,
    quarter: Annotated[str | None, typer.Option("--quarter", help="one quarter, YYYYQn (SEC full-index)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day of a range (backfill)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day of a range (inclusive)")] = None,
    from_quarter: Annotated[
        str | None, typer.Option("--from-quarter", help="first quarter of a range, e.g. 1993Q1 (SEC full-index)")
    ] = None,
    to_quarter: Annotated[
        str | None, typer.Option("--to-quarter", help="last quarter of a range (inclusive; not in the future)")
    ] = None,
    stock: Annotated[
        str | None,
        typer.Option("--stock", help="one issuer's announcements over --from/--to as one partition "
                                     "(CNINFO: 002236 or 002236.SZ; lands stock-002236_<from>_<to>)"),
    ] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option("--partition", "-p", help="partition ids as the manifests, logs and status page spell them, "
                                               "e.g. 2026-01-02, 2016Q3, stock-002236_2020-01-01_2024-12-31, "
                                               "2025-11-11-en; a plain day lands all its streams (repeatable; as the DAGs' partition param)"),
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="validate the written partition (the Great Expectations validation record)")
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="land even when the new index has fewer rows than the landed one")
    ] = False,
) -> None:
    """Fetch, check and land partitions: the same work as the DAG tasks, for a person or a script.

    One partition prints its summary as JSON; a range prints a progress bar with an ETA on stderr and
    one JSON line of totals, and exits 1 after the others when some partitions failed (listed with
    the reason on stderr).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from filinglake.ingest import landing

    ids = partition_ids(source, day=day, quarter=quarter, start=start, end=end, from_quarter=from_quarter,
                        to_quarter=to_quarter, stock=stock, partition=partition)
    options = {"validate": validate, "force": force}
    console = Console(stderr=True)
    totals = {"partitions": 0, "rows_in": 0, "rows_written": 0, "duplicates": 0, "quarantined": 0, "empty": 0}
    failures: list[str] = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeRemainingColumn(),
        console=console,
        disable=len(ids) == 1,
    ) as progress:
        task = progress.add_task(source, total=len(ids), last="")
        for pid in ids:
            try:
                manifest = _ingest_waiting_out_blocks(landing.ingest, source, pid, options, console)
            except InputError:
                raise  # the same for every partition: stop here
            except (FilinglakeError, ValueError) as exc:
                failures.append(_failure(pid, exc))
                if len(ids) > 1:
                    console.print(f"[red]failed:[/red] {failures[-1]}", highlight=False, soft_wrap=True)
                progress.update(task, advance=1, last=f"{pid}: failed")
                continue
            summary = landing.summary(manifest)
            totals["partitions"] += 1
            totals["empty"] += summary["status"] == "empty"
            for key in ("rows_in", "rows_written", "duplicates", "quarantined"):
                totals[key] += summary[key] or 0
            progress.update(task, advance=1, last=f"{pid}: {summary['rows_written']} rows")
            if len(ids) == 1:
                _echo_json(summary)
    if len(ids) > 1:
        _echo_json({"source": source, **totals, "failed": failures})
        if failures:
            console.print(f"{len(failures)} of {len(ids)} partitions failed:", style="red", highlight=False)
            for line in failures:
                console.print(f"  {line}", highlight=False, soft_wrap=True)
    if failures:
        raise PartitionsFailed(failures, total=len(ids))


def _failure(pid: str, exc: Exception) -> str:
    """``"<partition>: <reason>"`` (without naming the partition twice when the reason already does)."""
    reason = str(exc)
    return reason if reason.startswith(f"{pid}:") else f"{pid}: {reason}"


def _ingest_waiting_out_blocks(ingest_partition, source: str, pid: str, options: dict, console) -> dict:
    """Ingest one partition; when the source blocks us, stay away as long as it asks, then try again.

    A person running a backfill expects it to finish rather than skip the days a block fell on.
    """
    for attempt in range(BLOCK_WAITS + 1):
        try:
            return ingest_partition(source, pid, **options)
        except Blocked as exc:
            if attempt == BLOCK_WAITS:
                raise
            console.print(f"[yellow]{pid}: {exc}; waiting {exc.retry_after:.0f} s before trying again[/yellow]")
            _sleep(exc.retry_after)
    raise AssertionError("unreachable")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(parse)
