"""One local stand-in for SEC EDGAR, CNINFO and HKEXnews, replaying the captured responses in ../shared/fixtures.

Try the ingest DAGs (or the CLI) offline against it:

    .venv/bin/python scripts/replay_server.py --port 8765 --env-file /tmp/replay.env
    set -a; . /tmp/replay.env; set +a        # FILINGLAKE_SEC_BASE_URL, FILINGLAKE_CNINFO_BASE_URL, ...
    .venv/bin/filinglake ingest --source sec_edgar --date 2018-12-31

It serves exactly what ``make demo`` serves (every registered source's stand-in from ``tests/fakes``:
SEC's archive under ``/Archives/edgar``, SEC's ``company_tickers.json``, CNINFO's query API, HKEXnews'
title search and its stock list at ``/ncms/script/eds/activestock_sehk_e.json``) on 127.0.0.1 only, and prints the variables that point each source at it. The fixture
partitions it knows are the demo's (``RUNS`` there): SEC days 2018-12-31 and 2026-01-02, quarters 1993Q4
and 2016Q3; CNINFO days in 2001–2002; HKEX days 2012-11-14, 2025-11-03 and 2025-11-11.

``--stall PATH=SECONDS`` holds the first request for PATH that long before answering (later requests are
answered at once): the stack test uses it to keep a task busy while it kills the worker running it.
Stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
PROJECT_ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

import demo  # noqa: E402, F401 - importing the demo puts include/ and tests/ (the stand-ins) on sys.path
from fakes import all_routes  # noqa: E402
from fakes.replay import RecordedRequest, ReplayServer, Reply  # noqa: E402

from filinglake.sources import all_sources  # noqa: E402


def stall_first(answer: Any, seconds: float) -> Any:
    """Wrap a route answer so that its first request waits ``seconds`` before being answered."""
    lock = threading.Lock()
    calls = {"n": 0}

    def stalled(request: RecordedRequest) -> Reply:
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            time.sleep(seconds)
        return answer(request) if callable(answer) else answer

    return stalled


def build(fixtures_dir: Path, stalls: dict[str, float]) -> dict[tuple[str, str], Any]:
    """Every registered source's stand-in routes, with the requested stalls applied."""
    routes = all_routes(fixtures_dir)
    for path, seconds in stalls.items():
        matching = [key for key in routes if key[1] == path]
        if not matching:
            raise SystemExit(f"--stall {path}: no such route (e.g. /Archives/edgar/full-index/2016/QTR3/master.gz)")
        for key in matching:
            routes[key] = stall_first(routes[key], seconds)
    return routes


def source_environment(url: str) -> dict[str, str]:
    """The variables that point every source at a replay server running at ``url``."""
    env: dict[str, str] = {}
    for source in all_sources():
        env.update(source.environment_for_root(url))
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_fixtures = os.environ.get("FILINGLAKE_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures"
    parser.add_argument("--fixtures", type=Path, default=Path(default_fixtures), help="captured responses folder")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--env-file", type=Path, help="also write the source variables to this file (KEY=VALUE)")
    parser.add_argument("--stall", action="append", default=[], metavar="PATH=SECONDS",
                        help="hold the first request for PATH this long (repeatable)")
    args = parser.parse_args(argv)

    fixtures_dir = args.fixtures.resolve()
    if not fixtures_dir.is_dir():
        print(f"no fixtures at {fixtures_dir} (set FILINGLAKE_FIXTURES or pass --fixtures)", file=sys.stderr)
        return 2
    stalls = {}
    for item in args.stall:
        path, _, seconds = item.rpartition("=")
        stalls[path] = float(seconds)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    routes = build(fixtures_dir, stalls)
    with ReplayServer(routes, port=args.port) as server:
        env = source_environment(server.url)
        lines = [f"{key}={value}" for key, value in sorted(env.items())]
        if args.env_file:
            args.env_file.write_text("\n".join(lines) + "\n")
        print(f"replay server on {server.url}: {len(routes)} routes for "
              f"{', '.join(s.name for s in all_sources())} (fixtures {fixtures_dir})", flush=True)
        print("\n".join(lines), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
