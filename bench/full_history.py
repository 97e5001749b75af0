"""``make bench-history QUARTERS=N``: the whole-history backfill end to end, through the commands a user runs.

1. N synthetic quarters from 1993 Q1 on are built from the real 2016 Q3 master index
   (``bench.synthetic_quarter``: dates moved into the quarter, accessions unique per quarter and dated
   in its year, the real CIKs; 2020 Q1 cut at 2020-03-18, the day of the real daily index published
   afterwards) and gzipped into a folder laid out as EDGAR's archive
   (``full-index/YYYY/QTRn/master.gz``). Built at run time, never stored; not part of the timed run.
2. The folder is served by ``python -m http.server`` on 127.0.0.1 (a subprocess, stopped by its PID),
   standing in for www.sec.gov through ``FILINGLAKE_SEC_BASE_URL``.
3. Timed, each one process, as a person backfilling would run them:
   ``filinglake ingest --source sec_edgar --from-quarter 1993Q1 --to-quarter …`` (fetch, land and the
   validation record of every quarter; its progress bar and ETA pass through to stderr), then
   ``filinglake publish --source sec_edgar --no-alerts`` (the ledger's pending partitions, in batches).
   Wall time, CPU time and peak RSS of each command (``os.wait4``: the command's own figures).
4. On the result, as ``make bench``'s history stage does: the real daily index of 2020-03-18 published
   into the history right after the backfill vs into an empty table (time and peak RSS ratios; best of
   five, each publish on a fresh copy of the tables), the weekly compaction, and an analyst's questions
   through ``filinglake query`` beside plain DuckDB.
5. The same ratio in the steady state the years after the backfill see (:func:`steady_state_daily`):
   on the compacted history, once a daily has followed the compaction.

Targets (issue 10): 135 quarters (~27M rows) ingested and published within 30 minutes, every process
under 1 GB peak RSS; the daily into history within 1.5x the daily into empty; each query under 1 s.
Nothing here asserts a time: the figures are printed and written to ``bench-results/history-full.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import bench

#: the whole EDGAR history as synthetic quarters (1993Q1..2026Q3: about 27M rows)
WHOLE_HISTORY_QUARTERS = 135
FIRST_YEAR = 1993  # EDGAR's indexes begin with 1993 Q1
DAILY_DAY = date(2020, 3, 18)
TARGET_MINUTES = 30
TARGET_PEAK_MB = 1024


def quarters(count: int) -> list[tuple[int, int]]:
    return [(FIRST_YEAR + i // 4, i % 4 + 1) for i in range(count)]


def build_archive(folder: Path, count: int) -> int:
    """Write the synthetic quarters as EDGAR's ``full-index/YYYY/QTRn/master.gz``; returns their bytes."""
    text = gzip.decompress(bench.MASTER.read_bytes())
    size = 0
    for index, (year, quarter) in enumerate(quarters(count)):
        cut = DAILY_DAY if (year, quarter) == (DAILY_DAY.year, 1) else None
        data = gzip.compress(bench.synthetic_quarter(text, index, year, quarter, before=cut), compresslevel=6)
        path = folder / "full-index" / str(year) / f"QTR{quarter}" / "master.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        size += len(data)
    return size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_command(args: list[str], env: dict[str, str]) -> dict:
    """Run one filinglake command; its wall, CPU and peak RSS (its own rusage) and its JSON summary line."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("filinglake")), *args], env=env,
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
    return {"command": " ".join(args[:3]), "exit": proc.returncode, "seconds": round(time.perf_counter() - started, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "summary": json.loads(lines[-1]) if lines else None}


#: the daily is published this many times into each root (on copies but the last), the best figures kept
DAILY_REPEAT = 5


def best_daily(root: Path, scratch: Path) -> dict:
    """The daily (landed in ``root``) published :data:`DAILY_REPEAT` times, each into the tables as they stand
    before it: into copies of ``root`` at ``scratch``, the last time into ``root`` itself (so compaction and
    the queries see it). Best wall time, CPU time and peak RSS, each over the runs, as ``make bench`` keeps."""
    runs = []
    for attempt in range(DAILY_REPEAT):
        target = root if attempt == DAILY_REPEAT - 1 else scratch
        if target == scratch:
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(root, scratch, symlinks=True)
            os.sync()  # the copy's gigabytes written back now, not during the timed publish
        runs.append(bench._history_child("publish", str(target), DAILY_DAY.isoformat()))
    shutil.rmtree(scratch, ignore_errors=True)
    best = dict(runs[-1])
    for figure in ("seconds", "cpu_s", "peak_rss_mb"):
        best[figure] = min(r[figure] for r in runs)
    return best


def daily_ratio(label: str, empty: Path, history: Path, folder: Path) -> tuple[dict, dict]:
    """The landed daily published into ``empty`` and into ``history`` (:func:`best_daily`); prints their ratio."""
    into_empty = best_daily(empty, folder / "daily-copy")
    into_history = best_daily(history, folder / "daily-copy")
    print(f"  {label} (best of {DAILY_REPEAT}): into empty {into_empty['seconds']:.2f} s "
          f"(cpu {into_empty['cpu_s']:.2f} s) peak {into_empty['peak_rss_mb']} MB | into history "
          f"{into_history['seconds']:.2f} s (cpu {into_history['cpu_s']:.2f} s) peak {into_history['peak_rss_mb']} MB | "
          f"ratio time {into_history['seconds'] / into_empty['seconds']:.2f}x "
          f"(cpu {into_history['cpu_s'] / into_empty['cpu_s']:.2f}x), peak RSS "
          f"{into_history['peak_rss_mb'] / into_empty['peak_rss_mb']:.2f}x (target <= 1.5x)", flush=True)
    return into_empty, into_history


def run(count: int, folder: Path) -> dict:
    archive, history, empty = folder / "archive", folder / "history", folder / "empty"
    span = quarters(count)
    first, last = f"{span[0][0]}Q{span[0][1]}", f"{span[-1][0]}Q{span[-1][1]}"
    t0 = time.perf_counter()
    size = build_archive(archive, count)
    print(f"history-full: {count} synthetic quarter(s) {first}..{last} built as EDGAR's archive "
          f"({size / 1e6:,.0f} MB gzipped, {time.perf_counter() - t0:.0f} s, not timed)", flush=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(archive)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # the server is up once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the archive server did not start") from None
                time.sleep(0.1)
        env = {**os.environ, "FILINGLAKE_STORAGE": history.as_uri(),
               "FILINGLAKE_SEC_BASE_URL": f"http://127.0.0.1:{port}",
               "FILINGLAKE_SEC_USER_AGENT": "filinglake-bench bench@example.com"}
        ingest = run_command(["ingest", "--source", "sec_edgar", "--from-quarter", first, "--to-quarter", last], env)
    finally:
        server.kill()
        server.wait()
    print(f"  ingest  {ingest['seconds']:7.1f} s  (cpu {ingest['cpu_s']:7.1f} s)  peak {ingest['peak_rss_mb']:>5} MB  "
          f"exit {ingest['exit']}", flush=True)
    publish = run_command(["publish", "--source", "sec_edgar", "--no-alerts"], env)
    summary = publish["summary"] or {}
    print(f"  publish {publish['seconds']:7.1f} s  (cpu {publish['cpu_s']:7.1f} s)  peak {publish['peak_rss_mb']:>5} MB  "
          f"exit {publish['exit']}: {summary.get('partitions', 0)} partition(s) in {summary.get('batches', 0)} "
          f"batch(es), {summary.get('inserted', 0):,} rows inserted", flush=True)
    total = ingest["seconds"] + publish["seconds"]
    peak = max(ingest["peak_rss_mb"], publish["peak_rss_mb"])
    print(f"  end to end: {total / 60:.1f} min wall, {(ingest['cpu_s'] + publish['cpu_s']) / 60:.1f} min cpu for "
          f"{summary.get('inserted', 0):,} rows (target <= {TARGET_MINUTES} min); max peak RSS per process "
          f"{peak} MB (target < {TARGET_PEAK_MB} MB)", flush=True)

    bench._history_child("land-daily", str(history))
    bench._history_child("land-daily", str(empty))
    daily_empty, daily_history = daily_ratio(f"daily {DAILY_DAY}", empty, history, folder)
    compacted = bench._history_child("compact", str(history))
    print(f"  compaction: {compacted['seconds']:.1f} s, {compacted['clustered_partitions']} partition(s) clustered, "
          f"peak {compacted['peak_rss_mb']} MB", flush=True)
    queries = bench._history_child("queries", str(history), DAILY_DAY.isoformat())
    bench.print_queries(queries)
    steady = steady_state_daily(history, folder)
    return {"stage": "history_full", "quarters": count, "span": [first, last], "archive_bytes": size,
            "ingest": ingest, "publish": publish, "end_to_end_s": round(total, 1), "max_peak_rss_mb": peak,
            "daily_empty": daily_empty, "daily_history": daily_history, "compaction": compacted, "queries": queries,
            "steady_state": steady}


def steady_state_daily(history: Path, folder: Path) -> dict:
    """The daily ratio as the years after the backfill see it: on the compacted history, after one daily.

    A daily of new keys (the real 2020-03-18 rows under other accession numbers) is published first, as
    the day after the weekly compaction would (it carries the derived tables past the compaction's
    commits); then another one, best of :data:`DAILY_REPEAT`, into the history and into an empty root.
    """
    bench._history_child("land-daily", str(history), "8")
    bench._history_child("publish", str(history), DAILY_DAY.isoformat())
    empty = folder / "steady-empty"
    bench._history_child("land-daily", str(history), "9")
    bench._history_child("land-daily", str(empty), "9")
    into_empty, into_history = daily_ratio("steady state (after compaction and one daily), another daily",
                                           empty, history, folder)
    return {"daily_empty": into_empty, "daily_history": into_history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quarters", type=int, help=f"synthetic quarters from {FIRST_YEAR}Q1 "
                        f"({WHOLE_HISTORY_QUARTERS}: the whole EDGAR history, about 27M rows)")
    parser.add_argument("--root", help="keep the storage and the archive here (default: a temp dir, removed)")
    args = parser.parse_args()
    if not bench.MASTER.exists():
        sys.exit(f"bench: {bench.MASTER} not found; set FILINGLAKE_FIXTURES to the shared fixtures folder")
    if args.root:
        Path(args.root).mkdir(parents=True, exist_ok=True)
        result = run(args.quarters, Path(args.root))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args.quarters, Path(tmp))
    out_dir = bench.PROJECT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "history-full.json").write_text(json.dumps(result, indent=2))
    print(f"\nwritten {out_dir / 'history-full.json'}")


if __name__ == "__main__":
    main()
