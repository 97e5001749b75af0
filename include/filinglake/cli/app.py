"""The ``filinglake`` Typer app: its command groups, ``--version``, and :func:`main`, the console script.

Each command group lives in its own module with a ``register(app)`` function; :func:`main` runs the
app through the one exit-code policy (:mod:`filinglake.cli.exit_codes`).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from filinglake import __version__
from filinglake.cli import alerts, exit_codes, ingest, publish, query, report

app = typer.Typer(
    name="filinglake",
    help="Collect disclosure indexes (SEC EDGAR, CNINFO, HKEXnews), validate every row, land Parquet and "
         "publish tables.",
    epilog=exit_codes.HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: the command groups, in the order ``--help`` lists them
COMMAND_MODULES = (ingest, publish, query, alerts, report)
for _module in COMMAND_MODULES:
    _module.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"filinglake {__version__}")
        raise typer.Exit(exit_codes.OK)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show third-party INFO logs (Great Expectations, HTTP requests)")
    ] = False,
) -> None:
    """Collect disclosure indexes (SEC EDGAR, CNINFO, HKEXnews), validate every row, land Parquet and publish tables."""
    if verbose:
        from filinglake.ingest.validation import set_verbose  # imports no GX

        set_verbose(True)
        logging.getLogger("httpx").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: run ``argv`` (default: the command line) and return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # filinglake's own loggers say what happens per partition; one line per HTTP request is noise here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return exit_codes.run(app, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
