"""Benchmark: parse + validate + write the real 2016 Q3 SEC master index, side by side with baselines.

Run with ``make bench``. Each stage runs in its own process (so its peak RSS is its own), best of
``--repeat`` runs, on two inputs: the real quarterly file (201,330 rows) and a 4x concatenation of
its body with distinct CIKs per copy (805,320 rows, the size of a present-day quarter). Baselines in the same run:

- floor: gunzip + pyarrow.csv of the body, strings only (the least any parser can do)
- pandas: gunzip + pandas.read_csv(engine="c", quoting=QUOTE_NONE)

Stage ``land`` is the ``write_partition`` task itself (read the archived raw file, parse, lineage,
row checks, clean and quarantine Parquet under content names, manifest commit) into a fresh storage
root each run; its time is printed as a ratio to the floor's (target <= 4x), and below it the best
time of each of its steps (parse: read, parse and lineage; checks: dedup and row checks; write: clean
and quarantine Parquet, hashed and stored; the rest of the total is the manifest commit). Every stage
reports CPU seconds beside wall seconds: on a shared machine the CPU figure is the steadier one.

Stage ``validate_daily`` runs once, not per input: one process validates a real 50-row SEC day landed as
several daily partitions, first partition (GX import and set-up) side by side with the rest.

The ``history`` stage measures publish against a growing ``filings`` table: ``--quarters`` N synthetic
quarters are built at run time from the real 2016 Q3 file (dates shifted into each of the N quarters
ending with 2020 Q1, the last one cut at 2020-03-18, accession numbers made unique per quarter, same
CIKs; nothing is stored), landed, and published one by one. It prints, side by side: the publish time and peak RSS of the first quarter
(into an empty table) and of the N-th (into N-1 quarters), and the real daily index of 2020-03-18
published into the history table vs into an empty table (ratios), the key index's share of it, the
weekly compaction (which clusters filings by issuer), and an analyst's questions (one CIK's filings,
counts per form type per year, the last 7 days of one exchange) answered through ``filinglake query``
beside plain DuckDB over the same Delta files. Each publish runs in its own process.

Opt-in, ``make bench-history QUARTERS=N`` (``bench/full_history.py``): N synthetic quarters from 1993 Q1
backfilled end to end through ``filinglake ingest --from-quarter/--to-quarter`` and ``filinglake publish``
against a local copy of EDGAR's archive layout, then the same daily, compaction and query figures on the
result; ``QUARTERS=135`` is the whole EDGAR history (about 27M rows).

Figures are printed as rows/s and as ratios; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("FILINGLAKE_FIXTURES") or PROJECT.parent / "shared" / "fixtures")
MASTER = FIXTURES / "edgar/full-index/2016/QTR3/master.gz"
DAILY = FIXTURES / "edgar/daily/form.20200318.idx"
STAGES = ["floor", "pandas", "parse", "land", "validate", "history"]
#: the last synthetic quarter of the history stage: the quarter of the daily index it publishes
HISTORY_END = (2020, 1)
TARGETS = {"land": 500_000, "validate": 250_000}
#: landing (write_partition: parse, row checks, clean and quarantine Parquet, manifest) within this
#: many times the floor's time, same run (issue 10, point 6)
LAND_FLOOR_TARGET = 4
#: stages that run once per bench, each in its own process, on inputs of their own
ONCE_STAGES = ["validate_daily"]
DAILY_FIXTURE = FIXTURES / "edgar/daily/master.20260102.excerpt.idx"
#: the 50-row real day landed as these partitions (rows filed on 2 Jan are valid in each)
GX_DAILY_PARTITIONS = ["2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"]
GX_DAILY_TARGET_S = 0.5


def _body_offset(text: bytes) -> int:
    dash = text.index(b"\n-----")
    return text.index(b"\n", dash + 1) + 1


def make_input(copies: int, folder: Path) -> Path:
    """The real file (copies=1) or header + body repeated ``copies`` times, gzipped.

    Copy k > 0 prefixes every CIK with the digit k, so the copies are distinct filings (a real
    quarter of that size, not a file of exact duplicates that dedup would shrink back).
    """
    if copies == 1:
        return MASTER
    text = gzip.decompress(MASTER.read_bytes())
    start = _body_offset(text)
    body = text[start:]
    bodies = [body] + [re.sub(rb"(?m)^(?=\d)", b"%d" % k, body) for k in range(1, copies)]
    path = folder / f"master.x{copies}.gz"
    path.write_bytes(gzip.compress(text[:start] + b"".join(bodies), compresslevel=6))
    return path


# -- stages (run in a child process) ------------------------------------------------------------


def stage_floor(data: bytes) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = gzip.decompress(data)
    body = text[_body_offset(text) :]
    names = ["cik", "company", "form", "date", "file"]
    table = pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False, escape_char=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    return table.num_rows


def stage_pandas(data: bytes) -> int:
    import csv
    import io

    import pandas as pd

    text = gzip.decompress(data)
    skip = text[: _body_offset(text)].count(b"\n")
    frame = pd.read_csv(
        io.BytesIO(text), sep="|", engine="c", quoting=csv.QUOTE_NONE, skiprows=skip, header=None,
        names=["cik", "company", "form", "date", "file"], dtype=str, encoding="latin-1",
    )
    return len(frame)


def stage_parse(data: bytes) -> int:
    from filinglake.sources.sec_edgar import parse_index

    return parse_index(data, "master.gz").num_rows


def _land_context(data: bytes, root: Path, partition: str = "2016Q3", name: str = "master.gz"):
    """A fresh storage root with the raw file archived (outside the timing), as fetch_index leaves it."""
    from filinglake.config import load_settings
    from filinglake.ingest.landing import Context
    from filinglake.sources import get_source
    from filinglake.storage import Storage

    source = get_source("sec_edgar")
    ctx = Context(load_settings(), Storage(root.as_uri()), source, source.partition(partition))
    ref = ctx.storage.archive_raw("sec_edgar", partition, name, data, f"https://www.sec.gov/bench/{name}")
    return ctx, {"source": "sec_edgar", "partition": partition, "raw": [ref.to_dict()], "empty_reason": None}


def stage_land(ctx, fetched: dict) -> dict:
    """Exactly the write_partition task: read the raw file, parse, lineage, row checks, clean and
    quarantine Parquet under content names, the manifest commit. Returns the manifest (its
    ``step_seconds`` and ``step_cpu_seconds`` say where the time went)."""
    from filinglake.ingest.landing import write_partition

    return write_partition(ctx, fetched)


def stage_validate_daily() -> dict:
    """Validate several small daily partitions in one process, as a range backfill or a worker does.

    Each partition is landed (row checks, Parquet, manifest) outside the timing; the timing is
    ``validate_partition`` alone: read, GX run, record JSON and data-docs page. Each day has its
    own rules (the date bound), so each builds its own suite; the last call repeats the first day.
    """
    from filinglake.sources.sec_edgar import SecEdgar
    from filinglake.storage import Storage

    sys.path.insert(0, str(PROJECT / "tests"))
    from support.landed_partition import land_rows

    from filinglake.ingest.validation import validate_partition

    source = SecEdgar()
    parsed = source.parse(DAILY_FIXTURE.read_bytes(), DAILY_FIXTURE.name)
    storage = Storage(Path(tempfile.mkdtemp()).as_uri())
    rules = {day: source.rules(source.partition(day)) for day in GX_DAILY_PARTITIONS}
    for day in GX_DAILY_PARTITIONS:
        land_rows(storage, "sec_edgar", day, parsed, rules[day])
    seconds, cpu_seconds = [], []
    for day in [*GX_DAILY_PARTITIONS, GX_DAILY_PARTITIONS[0]]:
        t0, c0 = time.perf_counter(), time.process_time()
        report = validate_partition(storage, "sec_edgar", day, rules[day])
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)  # the work itself, without waiting for a busy CPU
        assert report.success and report.rows == parsed.num_rows, report.mismatches
    following, following_cpu = sorted(seconds[1:-1]), sorted(cpu_seconds[1:-1])
    return {"stage": "validate_daily", "rows": parsed.num_rows, "partitions": len(seconds),
            "first_s": round(seconds[0], 3), "first_cpu_s": round(cpu_seconds[0], 3),
            "next_median_s": round(following[len(following) // 2], 3), "next_max_s": round(following[-1], 3),
            "next_median_cpu_s": round(following_cpu[len(following_cpu) // 2], 3),
            "same_rules_again_s": round(seconds[-1], 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run_stage(stage: str, path: Path, repeat: int, land_root: str | None = None) -> dict:
    data = path.read_bytes()
    extra: dict = {}
    if stage == "validate":
        # The validation record task as Airflow runs it: read the written partition, validate, store the
        # result and data docs. The partition is prepared outside the timing; GX is imported once.
        t0 = time.perf_counter()
        import great_expectations  # noqa: F401

        from filinglake.ingest.landing import write_partition
        from filinglake.ingest.validation import validate_partition

        extra["import_seconds"] = round(time.perf_counter() - t0, 2)
        # landed by write_partition, as the task before it leaves it (a manifest-committed partition;
        # a hand-written manifest without source/partition no longer reads)
        ctx, fetched = _land_context(data, Path(tempfile.mkdtemp()))
        manifest = write_partition(ctx, fetched)
        storage, rules = ctx.storage, ctx.source.rules(ctx.partition)

        def work(_prepared=None) -> int:
            report = validate_partition(storage, "sec_edgar", "2016Q3", rules)
            assert report.success, report.mismatches
            return manifest["rows_written"] + manifest["quarantined"]
    elif stage == "land":
        # each run lands into a fresh storage root (a first landing: every file is written)
        def setup():
            return _land_context(data, Path(tempfile.mkdtemp(dir=land_root)))

        def work(prepared) -> int:
            manifest = stage_land(*prepared)
            for kind in ("step_seconds", "step_cpu_seconds"):  # best of the runs, step by step
                best_steps = extra.setdefault(kind, {})
                for step, seconds in manifest[kind].items():
                    best_steps[step] = min(seconds, best_steps.get(step, seconds))
            return manifest["rows_in"]
    else:
        work = {"floor": stage_floor, "pandas": stage_pandas, "parse": stage_parse}[stage]
        work = (lambda fn: (lambda _prepared: fn(data)))(work)
    times, cpu_times, rows = [], [], 0
    for _ in range(repeat):
        prepared = setup() if stage == "land" else None
        t0, c0 = time.perf_counter(), time.process_time()
        rows = work(prepared)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)  # the work itself, without waiting for a busy CPU
        if stage == "land":
            shutil.rmtree(prepared[0].storage.base, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = min(times)
    return {"stage": stage, "rows": rows, "best_s": round(best, 4), "best_cpu_s": round(min(cpu_times), 4),
            "rows_per_s": round(rows / best), "peak_rss_mb": round(peak_mb), **extra}


# -- history: publish against a growing table ----------------------------------------------------


def history_quarters(count: int) -> list[tuple[int, int]]:
    """The ``count`` quarters (year, quarter) ending with HISTORY_END, oldest first."""
    end = HISTORY_END[0] * 4 + HISTORY_END[1] - 1
    return [(i // 4, i % 4 + 1) for i in range(end - count + 1, end + 1)]


def synthetic_quarter(text: bytes, index: int, year: int, quarter: int, before=None) -> bytes:
    """The real 2016 Q3 master index (``text``, gunzipped) moved into ``year`` Q``quarter``.

    Dates keep their day (clamped to the month's length) in the same month of the quarter; every
    accession gets the quarter's own three leading digits (``index`` + 100) and the quarter's year, so
    each quarter's filings are distinct and bucketed like real ones; CIKs and names stay the real ones. ``before`` (a date): only the lines filed before it.
    """
    import calendar

    start = _body_offset(text)
    shift = (year * 12 + 3 * quarter - 3) - (2016 * 12 + 6)

    def move(match: re.Match) -> bytes:
        y, m, d = int(match[1]), int(match[2]), int(match[3])
        i = y * 12 + m - 1 + shift
        ny, nm = i // 12, i % 12 + 1
        return b"|%04d-%02d-%02d|" % (ny, nm, min(d, calendar.monthrange(ny, nm)[1]))

    body = re.sub(rb"\|(\d{4})-(\d{2})-(\d{2})\|", move, text[start:])
    # the filer-agent part's leading "000" (no CIK is that large) becomes the quarter's tag, and the
    # accession's year the quarter's year, as a real accession submitted then would have
    body = re.sub(rb"/\d{3}(\d{7})-\d{2}-(\d{6})\.txt",
                  lambda m: b"/%03d%s-%02d-%s.txt" % (index + 100, m[1], year % 100, m[2]), body)
    if before is not None:  # the history as it stands on the daily's day: nothing filed from that day on
        stamp = before.isoformat().encode()
        body = b"".join(ln for ln in body.splitlines(keepends=True)
                        if not re.search(rb"\|(\d{4}-\d{2}-\d{2})\|", ln)
                        or re.search(rb"\|(\d{4}-\d{2}-\d{2})\|", ln)[1] < stamp)
    return text[:start] + body


def _land_for_history(root: Path, partition: str, name: str, data: bytes) -> int:
    """Land one partition as the pipeline does (raw archive, checks, content-named files, manifest commit)."""
    from filinglake.ingest.landing import write_partition

    ctx, fetched = _land_context(data, root, partition, name)
    return write_partition(ctx, fetched)["rows_written"]


def history_land(root: Path, count: int) -> dict:
    """Land the synthetic quarters into ``root``; returns rows per partition."""
    from datetime import date

    text = gzip.decompress(MASTER.read_bytes())
    rows = {}
    quarters = history_quarters(count)
    for index, (year, quarter) in enumerate(quarters):
        partition = f"{year}Q{quarter}"
        last = (year, quarter) == quarters[-1]
        data = synthetic_quarter(text, index, year, quarter, before=date(2020, 3, 18) if last else None)
        rows[partition] = _land_for_history(root, partition, "master.idx", data)
    return rows


def history_land_daily(root: Path, first_digit: str | None = None) -> int:
    """Land the real daily index of 2020-03-18 into ``root``; returns its clean rows.

    ``first_digit``: each accession's sequence number starts with this digit instead (the same rows under
    keys not yet published: another day's daily, for a publish after the real one)."""
    import re

    data = DAILY.read_bytes()
    if first_digit is not None:
        data = re.sub(rb"-(\d\d)-\d(\d{5})\.txt", lambda m: b"-" + m[1] + b"-" + first_digit.encode() + m[2] + b".txt",
                      data)
    return _land_for_history(root, "2020-03-18", DAILY.name, data)


def history_publish(root: Path, partitions: list[str]) -> dict:
    """Publish ``partitions`` one at a time; the figures of the last one (this process's peak RSS)."""
    from filinglake.publish.run import publish
    from filinglake.storage import Storage

    storage = Storage(root.as_uri())
    result, seconds, cpu = {}, 0.0, 0.0
    for partition in partitions:
        t0, c0 = time.perf_counter(), time.process_time()
        result = publish(storage, None, [("sec_edgar", partition)])
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"partition": partitions[-1], "rows_read": result["rows_read"], "inserted": result["inserted"],
            "seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(peak_mb),
            "key_index_s": round(result.get("key_index_ms", 0) / 1000, 3)}


def history_compact(root: Path) -> dict:
    """The weekly upkeep over the history table (clusters filings by issuer), timed in this process."""
    from filinglake.publish.run import compact_tables
    from filinglake.storage import Storage

    t0 = time.perf_counter()
    report = compact_tables(Storage(root.as_uri()), retention_hours=0)
    return {"seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "clustered_partitions": report.get("filings", {}).get("clustered_partitions", 0)}


#: an analyst's typical questions (issue 10, point 5): the same SQL through `filinglake query` and plain DuckDB
HISTORY_QUERIES = {
    "one CIK, every filing": "SELECT filing_date, form_type, document_url FROM filings "
                             "WHERE source = 'sec_edgar' AND issuer_id = '320193' ORDER BY filing_date",
    "form type x year (daily_counts)": "SELECT year(filing_date) AS y, form_type, sum(published_rows) AS n "
                                       "FROM daily_counts GROUP BY ALL ORDER BY ALL",
    "form type x year (filings)": "SELECT year(filing_date) AS y, form_type, count(*) AS n FROM filings "
                                  "GROUP BY ALL ORDER BY ALL",
    "last 7 days of one exchange": "SELECT filing_date, issuer_id, form_type FROM filings WHERE exchange = 'SEC' "
                                   "AND filing_date BETWEEN DATE '{until}' - 6 AND DATE '{until}' ORDER BY ALL",
}
#: the last day of the history stage's table (the daily it publishes): "the last 7 days" end there
HISTORY_LAST_DAY = "2020-03-18"


def _best(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def history_queries(root: Path, until: str = HISTORY_LAST_DAY) -> dict:
    """Each question via `filinglake query` (run_query: views, lock, query; minus its start-up, a
    SELECT 1 through the same path) and via plain DuckDB over the Delta tables' current file lists
    (what a user without the delta extension does: ``DeltaTable.file_uris()`` read as hive Parquet)."""
    import duckdb
    from deltalake import DeltaTable

    from filinglake.query import run_query
    from filinglake.storage import Storage

    storage = Storage(root.as_uri())
    startup, _ = _best(lambda: run_query("SELECT 1", storage=storage))
    out = {"startup_s": round(startup, 3), "queries": {}}

    def plain(sql: str):
        con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
        for name, hive in (("filings", "{'source': 'VARCHAR', 'filing_month': 'VARCHAR'}"),
                           ("daily_counts", "{'source': 'VARCHAR', 'filing_month': 'VARCHAR'}")):
            files = DeltaTable(str(root / "published" / name)).file_uris()
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true, "
                        f"hive_types = {hive}, union_by_name = true)")
        rows = con.sql(sql).fetchall()
        con.close()
        return rows

    plain_startup, _ = _best(lambda: plain("SELECT 1"))
    out["plain_startup_s"] = round(plain_startup, 3)
    for label, sql in HISTORY_QUERIES.items():
        sql = sql.format(until=until)
        ours, table = _best(lambda sql=sql: run_query(sql, storage=storage))
        theirs, rows = _best(lambda sql=sql: plain(sql))
        assert table.num_rows == len(rows), (label, table.num_rows, len(rows))
        out["queries"][label] = {"rows": table.num_rows, "filinglake_s": round(ours - startup, 3),
                                 "duckdb_s": round(theirs - plain_startup, 3)}
    return out


def print_queries(queries: dict) -> None:
    print(f"  queries (best of 3, beyond start-up: filinglake {queries['startup_s']:.2f} s, "
          f"plain DuckDB {queries['plain_startup_s']:.2f} s; target < 1 s):")
    for label, q in queries["queries"].items():
        print(f"    {label:34s} {q['rows']:>7,} rows  filinglake query {q['filinglake_s']:6.3f} s | "
              f"plain DuckDB {q['duckdb_s']:6.3f} s")


def history_imports() -> dict:
    """The floor of every publish process: the imports alone."""
    import filinglake.publish.run  # noqa: F401

    return {"seconds": 0.0, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _history_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--history-child", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_history(count: int, folder: Path) -> dict:
    history, empty = folder / "history", folder / "empty"
    quarters = [f"{y}Q{q}" for y, q in history_quarters(count)]
    landed = _history_child("land", str(history), str(count))
    _history_child("land-daily", str(history))
    _history_child("land-daily", str(empty))
    floor = _history_child("imports")
    first = _history_child("publish", str(history), quarters[0])
    if count > 2:
        _history_child("publish", str(history), *quarters[1:-1])
    last = _history_child("publish", str(history), quarters[-1]) if count > 1 else first
    daily_empty = _history_child("publish", str(empty), "2020-03-18")
    daily_history = _history_child("publish", str(history), "2020-03-18")
    compacted = _history_child("compact", str(history))
    queries = _history_child("queries", str(history))
    rows = sum(landed.values())
    print(f"history: {count} synthetic quarter(s) {quarters[0]}..{quarters[-1]}, {rows:,} clean rows; "
          f"daily 2020-03-18: {daily_empty['rows_read']:,} rows", flush=True)
    print(f"  imports only              peak {floor['peak_rss_mb']:>5} MB")
    print(f"  publish quarter 1 (empty)  {first['seconds']:7.2f} s  peak {first['peak_rss_mb']:>5} MB")
    print(f"  publish quarter {count} (+{rows - landed[quarters[-1]]:,} rows)  {last['seconds']:7.2f} s  "
          f"peak {last['peak_rss_mb']:>5} MB")
    print(f"  daily into empty table     {daily_empty['seconds']:7.2f} s  peak {daily_empty['peak_rss_mb']:>5} MB")
    print(f"  daily into history table   {daily_history['seconds']:7.2f} s  peak {daily_history['peak_rss_mb']:>5} MB")
    print(f"  daily history / empty: time {daily_history['seconds'] / daily_empty['seconds']:.2f}x, "
          f"peak RSS {daily_history['peak_rss_mb'] / daily_empty['peak_rss_mb']:.2f}x (target <= 1.5x)")
    print(f"  quarter {count} / quarter 1: time {last['seconds'] / first['seconds']:.2f}x, "
          f"peak RSS {last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x")
    print(f"  key index (filing_keys) upkeep in the daily: {daily_history['key_index_s']:.3f} s into history, "
          f"{daily_empty['key_index_s']:.3f} s into empty")
    print(f"  compaction (clusters filings by issuer): {compacted['seconds']:.1f} s, "
          f"{compacted['clustered_partitions']} partition(s) clustered, peak {compacted['peak_rss_mb']} MB")
    print_queries(queries)
    sys.stdout.flush()
    return {"stage": "history", "quarters": count, "history_rows": rows, "imports": floor, "first_quarter": first,
            "last_quarter": last, "daily_empty": daily_empty, "daily_history": daily_history,
            "compaction": compacted, "queries": queries}


# -- driver -------------------------------------------------------------------------------------


def validate_daily_side_by_side() -> dict:
    """Run the ``validate_daily`` stage in its own process and print first vs. following partitions."""
    out = subprocess.run([sys.executable, __file__, "--child", "validate_daily", "-"],
                         check=True, capture_output=True, text=True)
    row = {"input": "daily", **json.loads(out.stdout.strip().splitlines()[-1])}
    print(f"validate_daily {row['rows']} rows x {row['partitions']} partitions in one process: "
          f"first {row['first_s']:.3f} s (cpu {row['first_cpu_s']:.3f}) | next median {row['next_median_s']:.3f} s "
          f"(cpu {row['next_median_cpu_s']:.3f}), max {row['next_max_s']:.3f} s (target < {GX_DAILY_TARGET_S} s) | "
          f"same rules again {row['same_rules_again_s']:.3f} s  peak {row['peak_rss_mb']} MB", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--stages", nargs="+", default=STAGES + ONCE_STAGES, choices=STAGES + ONCE_STAGES)
    parser.add_argument("--quarters", type=int, default=4, help="synthetic quarters of the history stage")
    parser.add_argument("--land-root", help="folder for the land stage's storage roots (default: the system "
                        "temp dir; a tmpfs such as /dev/shm leaves out the disk's fsync waits)")
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--history-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "validate_daily":
            print(json.dumps(stage_validate_daily()))
        else:
            print(json.dumps(run_stage(args.child[0], Path(args.child[1]), args.repeat, args.land_root)))
        return
    if args.history_child:
        what, *rest = args.history_child
        if what == "land":
            out = history_land(Path(rest[0]), int(rest[1]))
        elif what == "land-daily":
            out = {"rows": history_land_daily(Path(rest[0]), *rest[1:2])}
        elif what == "imports":
            out = history_imports()
        elif what == "compact":
            out = history_compact(Path(rest[0]))
        elif what == "queries":
            out = history_queries(Path(rest[0]), *rest[1:])
        else:
            out = history_publish(Path(rest[0]), rest[1:])
        print(json.dumps(out))
        return
    if not MASTER.exists():
        sys.exit(f"bench: {MASTER} not found; set FILINGLAKE_FIXTURES to the shared fixtures folder")
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in args.copies if set(args.stages) - {"history"} else []:
            path = make_input(copies, Path(tmp))
            for stage in [s for s in args.stages if s in STAGES and s != "history"]:
                out = subprocess.run(
                    [sys.executable, __file__, "--repeat", str(args.repeat), "--child", stage, str(path),
                     *(["--land-root", args.land_root] if args.land_root else [])],
                    check=True, capture_output=True, text=True,
                )
                row = {"input": f"{copies}x", **json.loads(out.stdout.strip().splitlines()[-1])}
                results.append(row)
                print(f"{row['input']:>3} {stage:7s} {row['rows']:>9,} rows  {row['best_s']:7.3f} s  "
                      f"(cpu {row['best_cpu_s']:7.3f} s)  {row['rows_per_s']:>11,} rows/s  "
                      f"peak {row['peak_rss_mb']:>5} MB", flush=True)
                if "step_seconds" in row:
                    print("      steps, best of each: " + " | ".join(
                        f"{step} {seconds:.3f} s (cpu {row['step_cpu_seconds'][step]:.3f})"
                        for step, seconds in row["step_seconds"].items()), flush=True)
        if "history" in args.stages:
            results.append(run_history(args.quarters, Path(tmp)))
    if "validate_daily" in args.stages:
        results.append(validate_daily_side_by_side())
    print()
    print("ratios (same run, same machine):")
    for copies in args.copies:
        by = {r["stage"]: r for r in results if r.get("input") == f"{copies}x"}
        if {"parse", "floor"} <= by.keys():
            print(f"  {copies}x parse / floor time: {by['parse']['best_s'] / by['floor']['best_s']:.2f}x (target <= 2x)")
        if {"land", "floor"} <= by.keys():
            print(f"  {copies}x land / floor time: {by['land']['best_s'] / by['floor']['best_s']:.2f}x "
                  f"(cpu {by['land']['best_cpu_s'] / by['floor']['best_cpu_s']:.2f}x) (target <= {LAND_FLOOR_TARGET}x)")
        if {"parse", "pandas"} <= by.keys():
            print(f"  {copies}x pandas.read_csv / parse time: {by['pandas']['best_s'] / by['parse']['best_s']:.2f}x")
        for stage, target in TARGETS.items():
            if stage in by:
                print(f"  {copies}x {stage} throughput / target {target:,} rows/s: "
                      f"{by[stage]['rows_per_s'] / target:.2f}")
    out_dir = PROJECT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten {out_dir / 'latest.json'}")


if __name__ == "__main__":
    main()
