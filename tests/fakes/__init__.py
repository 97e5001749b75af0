"""Stand-in servers for tests and the offline demo: the generic :class:`fakes.replay.ReplayServer`, and
one module per source (``fakes/<source name>.py``) whose ``routes(fixtures_dir)`` serves that source's
real captured responses.

:func:`all_routes` iterates the source registry, so a new source's stand-in is picked up by adding its
module here; :meth:`filinglake.sources.Source.environment_for_root` gives the variables that point the
source at the server. Never imported by ``include/`` (the wheel ships no fakes).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any


def routes_for(source_name: str, fixtures_dir: Path) -> dict[tuple[str, str], Any]:
    """The replay routes of one source, from ``fakes/<source_name>.py``."""
    try:
        module = import_module(f"{__name__}.{source_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{source_name}":
            raise
        raise LookupError(f"source {source_name!r} has no stand-in: add tests/fakes/{source_name}.py "
                          "with routes(fixtures_dir)") from None
    return dict(module.routes(Path(fixtures_dir)))


def all_routes(fixtures_dir: Path) -> dict[tuple[str, str], Any]:
    """The routes of every registered source on one server; two sources claiming one route is an error."""
    from filinglake.sources import source_names

    merged: dict[tuple[str, str], Any] = {}
    owner: dict[tuple[str, str], str] = {}
    for name in source_names():
        for route, answer in routes_for(name, fixtures_dir).items():
            if route in merged:
                raise ValueError(f"{route} is served by both the {owner[route]} and the {name} stand-ins")
            merged[route], owner[route] = answer, name
    return merged
