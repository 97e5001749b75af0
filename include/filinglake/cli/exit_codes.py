"""The one exit-code policy of ``filinglake``: every command ends through :func:`run`.

====  ==========================================================================================
 0    ok
 1    some partitions failed (the others were landed; stderr lists each failure and its reason)
 2    usage or input error (unknown command or option, a bad value, a malformed setting, a bad
      input file, unreachable storage): nothing was done, or nothing more will be
130   interrupted (Ctrl-C)
====  ==========================================================================================

Every error is one line on stderr, ``filinglake: error: …`` (a usage error adds a ``Try … --help``
line; a DuckDB error keeps its hint lines). A traceback means a bug.
"""

from __future__ import annotations

import typer

# Typer bundles its own copy of click: its usage errors are not ``click.exceptions.*``.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from filinglake.errors import FilinglakeError

OK = 0
PARTITIONS_FAILED = 1
USAGE_ERROR = 2
INTERRUPTED = 130

#: the policy as ``--help`` shows it
HELP = (
    "Exit codes: 0 ok; 1 some partitions failed (the others were landed); "
    "2 usage or input error; 130 interrupted."
)


class PartitionsFailed(FilinglakeError):
    """A run finished with some partitions failed; ``failures`` are ``"<partition>: <reason>"`` lines."""

    def __init__(self, failures: list[str], total: int):
        self.failures = failures
        self.total = total
        if total == 1:
            super().__init__(failures[0])
        else:
            names = ", ".join(f.split(":", 1)[0] for f in failures)
            super().__init__(f"{len(failures)} of {total} partitions failed: {names} (reasons above)")


def _error(message: str) -> None:
    typer.echo(f"filinglake: error: {message}", err=True)


def _interrupted() -> None:
    typer.echo("filinglake: interrupted", err=True)


def _usage_hint(exc: UsageError) -> None:
    if exc.ctx is not None:
        typer.echo(f"Try '{exc.ctx.command_path} --help' for help.", err=True)


def run(app: typer.Typer, argv: list[str] | None) -> int:
    """Run the Typer ``app`` on ``argv`` and turn its outcome into an exit code (printing the error)."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="filinglake")
    except NoArgsIsHelpError as exc:
        _error("missing command")
        _usage_hint(exc)
        return USAGE_ERROR
    except UsageError as exc:
        _error(exc.format_message())
        _usage_hint(exc)
        return USAGE_ERROR
    except ClickException as exc:
        _error(exc.format_message())
        return USAGE_ERROR
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
        return INTERRUPTED
    except PartitionsFailed as exc:
        _error(str(exc))
        return PARTITIONS_FAILED
    except (FilinglakeError, ValueError, OSError) as exc:
        # OSError: files, and object storage that is unreachable or refuses us (pyarrow raises OSError)
        _error(str(exc))
        return USAGE_ERROR
    # standalone_mode=False: Typer returns the code of a typer.Exit (also the Exit(130) it makes of Ctrl-C)
    code = result if isinstance(result, int) else OK
    if code == INTERRUPTED:
        _interrupted()
    return code
