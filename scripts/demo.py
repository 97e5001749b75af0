"""filinglake demo: the real DAGs, run once each with ``dag.test()``, against a local replay of captured data.

``make demo`` runs this. It needs no network and no Docker:

1. Airflow on a local home (``.airflow/``, SQLite, examples off; ``airflow db migrate`` + pools when needed);
2. storage in the project's ``data/`` folder (the library's default ``file://`` root);
3. a replay server on 127.0.0.1 serving the real captures in ``../shared/fixtures`` (``FILINGLAKE_FIXTURES``)
   as if it were each registered source's website (``tests/fakes/<source>.py``; SEC's archive:
   ``/Archives/edgar/...``), each source pointed at it by its own base-URL variables;
4. each DAG run of ``RUNS``, in this process, tasks and all (fetch → write → validate → asset event);
5. the steps of ``POST_STEPS``: a summary of what landed and DuckDB queries over the landed Parquet.

A new source is served and pointed at the server without touching this file (the source registry and
``tests/fakes`` are iterated); append its :class:`DemoRun` entries to ``RUNS``; later stages (publish)
append a function to ``POST_STEPS``. Options: ``--verbose`` shows Airflow's logs, ``--only DAG_ID`` limits
the runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[1]
for _folder in ("include", "plugins", "dags", "tests"):  # tests: the stand-in servers (fakes) and harness
    if str(PROJECT_ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / _folder))

ET = ZoneInfo("America/New_York")
DEMO_USER_AGENT = "filinglake demo demo@example.com"
#: requests/second to the local replay server, per source (SEC's setting accepts at most 10)
STAND_IN_RATE = "10"


# --------------------------------------------------------------------------------------------------
# What the demo runs: extend these lists
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoRun:
    """One DAG, run once per logical date (optionally with a dag_run conf)."""

    dag_id: str
    logical_dates: tuple[datetime, ...]
    why: str = ""
    conf: dict[str, Any] | None = None


@dataclass
class RunResult:
    dag_id: str
    logical_date: datetime
    state: str
    seconds: float
    extras: list[dict[str, Any]] = field(default_factory=list)  # one per clean asset event: partition, counts, GX
    task_states: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def extra(self) -> dict[str, Any] | None:
        return self.extras[0] if self.extras else None


@dataclass
class DemoContext:
    """Shared with every post step."""

    project_root: Path
    fixtures_dir: Path
    storage_path: Path
    storage_uri: str
    server_url: str
    verbose: bool
    results: list[RunResult] = field(default_factory=list)


def sec_daily_run(year: int, month: int, day: int) -> datetime:
    """The logical date the scheduler gives the sec_edgar_daily run landing that day: the day itself
    (``MarketDayTimetable``: 00:00 UTC of the date; the run fires at 23:30 ET)."""
    return datetime(year, month, day, tzinfo=UTC)


def sec_quarterly_run(year: int, quarter: int) -> datetime:
    """The logical date of the sec_edgar_quarterly run for a quarter (its interval start, the 2nd, 06:00 ET)."""
    return datetime(year, 3 * quarter - 2, 2, 6, tzinfo=ET)


BEIJING = ZoneInfo("Asia/Shanghai")
#: the Beijing days of the real CNINFO capture (stock 000001, 2001–2002), and a day with nothing listed
CNINFO_DAYS = ("2001-06-30", "2001-08-21", "2002-04-18", "2002-04-22", "2002-08-14", "2002-10-25", "2003-01-01")
#: issuers the CNINFO query looks for first (Dahua, Hikvision); any landed issuer otherwise
CNINFO_WATCHED_TICKERS = ("002236.SZ", "002415.SZ")


def cninfo_day_runs() -> list[DemoRun]:
    """One cninfo_daily run per fixture day. The days (2001–2003) precede the DAG's start_date, so each run
    names its day with the ``partition`` param, as a manual rerun would; the logical dates are real run times."""
    return [
        DemoRun("cninfo_daily", (datetime(2025, 1, 2 + i, tzinfo=UTC),),
                f"Beijing day {day}" + (" (nothing listed: an empty, successful partition)" if day == "2003-01-01"
                                        else " of the real CNINFO capture"),
                conf={"partition": day})
        for i, day in enumerate(CNINFO_DAYS)
    ]


RUNS: list[DemoRun] = [
    DemoRun(
        "sec_edgar_daily",
        (sec_daily_run(2018, 12, 31), sec_daily_run(2026, 1, 2), sec_daily_run(2018, 12, 29)),
        "two real daily master excerpts, and a Saturday (no index: an empty, successful partition)",
    ),
    DemoRun(
        "sec_edgar_quarterly",
        (sec_quarterly_run(2016, 3), sec_quarterly_run(1993, 4)),
        "a whole quarter (201,330 rows) and EDGAR's first year",
    ),
]
RUNS += cninfo_day_runs()

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
#: Hong Kong days of the real HKEXnews capture (stock 00007, English rows; the two 2025 days carry
#: Listing Committee / suspension announcements the watchlist looks for), and a Sunday with nothing listed
HKEX_DAYS = ("2012-11-14", "2025-11-03", "2025-11-11", "2012-11-18")


def hkex_final_run(day: str) -> datetime:
    """The logical date of hkex_daily's run for a Hong Kong day: the day itself (00:00 UTC of the date;
    the run fires at 02:00 Hong Kong the next morning)."""
    year, month, dom = (int(part) for part in day.split("-"))
    return datetime(year, month, dom, tzinfo=UTC)


RUNS.append(DemoRun(
    "hkex_daily", tuple(hkex_final_run(day) for day in HKEX_DAYS),
    "final runs of real HKEXnews capture days and a Sunday; each lands the en and zh streams "
    "(the capture has English rows only, so zh lands empty)",
))


# Last run: publish. Under the scheduler the clean asset events trigger it; dag.test() gives it no events,
# so it publishes every landed partition (what a manual run does). It runs while the replay server is up:
# it fetches company_tickers.json and the alerts capture their documents from it.
RUNS.append(DemoRun(
    "publish_filings", (datetime(2026, 1, 5, 6, tzinfo=ET),),
    "merge every landed partition into the Delta tables, raise the watchlist's alerts, write the status page",
))


# --------------------------------------------------------------------------------------------------
# Post steps
# --------------------------------------------------------------------------------------------------


def print_table(title: str, headers: list[str], rows: list[list[Any]], max_width: int = 44) -> None:
    """Plain aligned text (readable in a terminal of any width and in CI logs); numbers right-aligned."""

    def cell(value: Any) -> str:
        text = "" if value is None else f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], int) or row[i] is None for row in rows) and bool(rows) for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    print(f"\n{title}")
    print("  " + line(headers).rstrip())
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print("  " + line(row).rstrip())


def print_run_summary(ctx: DemoContext) -> None:
    """One line per run: partition, status and counts, as carried by the clean asset event's extra."""
    rows: list[list[Any]] = []
    totals = {"rows_in": 0, "rows_written": 0, "duplicates": 0, "quarantined": 0}
    for r in ctx.results:
        for i, e in enumerate(r.extras or [{}]):
            for key in totals:
                totals[key] += int(e.get(key) or 0)
            rows.append([
                r.dag_id if i == 0 else "", r.logical_date.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if i == 0 else "",
                e.get("partition", "-"), e.get("status") or r.state.upper(), e.get("rows_in"), e.get("rows_written"),
                e.get("duplicates"), e.get("quarantined"),
                "agrees" if (e.get("validation") or {}).get("success") else "-", f"{r.seconds:.1f}" if i == 0 else "",
            ])
    landed = sum(len(r.extras) for r in ctx.results)
    rows.append(["total", "", f"{landed} partitions", "", *totals.values(), "", f"{sum(r.seconds for r in ctx.results):.1f}"])
    print_table("DAG runs (dag.test; counts from each clean asset event's extra)",
                ["DAG", "logical date UTC", "partition", "status", "rows in", "written", "duplicates",
                 "quarantined", "validation record", "seconds"], rows)
    for r in ctx.results:
        if r.error or r.state != "success":
            print(f"  FAILED {r.dag_id} @ {r.logical_date.isoformat()}: {r.state} {r.task_states} {r.error or ''}")
    print(f"\nLanded under {ctx.storage_uri}: clean/, quarantine/, manifests/, validation/, raw/")


def query_landed_parquet(ctx: DemoContext) -> None:
    """DuckDB straight over the clean Parquet: top form types, and the filings of one CIK."""
    import duckdb

    pattern = ctx.storage_path / "clean" / "filings" / "source=*" / "partition=*" / "*.parquet"
    con = duckdb.connect()
    # hive_partitioning adds the path's `partition` as a column (`source` is a column of the files already)
    con.sql(f"create view filings as select * from read_parquet('{pattern}', hive_partitioning = true)")

    def show(title: str, sql: str, max_width: int = 44) -> None:
        rel = con.sql(sql)
        print(f"\n-- {' '.join(sql.split())}")
        print_table(title, list(rel.columns), [list(row) for row in rel.fetchall()], max_width)

    show("Top form types in the landed Parquet (DuckDB)",
         "select form_type, count(*) as filings, count(distinct issuer_id) as issuers "
         "from filings group by form_type order by filings desc, form_type limit 10")
    busiest = con.sql(
        "select issuer_id from filings group by issuer_id "
        "order by count(distinct partition) desc, count(*) desc, issuer_id limit 1"
    ).fetchall()
    if busiest:
        cik, name = con.sql(
            f"select issuer_id, any_value(company_name) from filings where issuer_id = '{busiest[0][0]}' group by 1"
        ).fetchall()[0]
        show(f"Filings of CIK {cik} ({name}), the issuer seen in the most partitions (first 3 per partition)",
             f"select partition, filing_date, form_type, native_id as accession, document_url "
             f"from filings where issuer_id = '{cik}' "
             f"qualify row_number() over (partition by partition order by filing_date desc, native_id) <= 3 "
             f"order by partition, filing_date desc, accession", max_width=100)


def clean_source_view(ctx: DemoContext, source: str):
    """A DuckDB connection with a view named ``source`` over its landed clean Parquet, or None if none landed."""
    import duckdb

    folder = ctx.storage_path / "clean" / "filings" / f"source={source}"
    if not list(folder.glob("partition=*/*.parquet")):
        return None
    con = duckdb.connect()
    con.sql(f"create view {source} as select * from read_parquet('{folder}/partition=*/*.parquet', "
            "hive_partitioning = true)")
    return con


def query_cninfo_announcements(ctx: DemoContext) -> None:
    """DuckDB over the landed CNINFO Parquet: announcements of Dahua / Hikvision if landed, else of any issuer."""
    con = clean_source_view(ctx, "cninfo")
    if con is None:
        return
    watched = ", ".join(f"'{t}'" for t in CNINFO_WATCHED_TICKERS)
    tickers = [t for (t,) in con.sql(f"select distinct ticker from cninfo where ticker in ({watched})").fetchall()]
    if not tickers:  # the captured page is stock 000001's: show whichever issuer landed most
        tickers = [t for (t,) in con.sql("select ticker from cninfo where ticker is not null group by ticker "
                                         "order by count(*) desc, ticker limit 1").fetchall()]
    if not tickers:
        return
    chosen = ", ".join(f"'{t}'" for t in sorted(tickers))
    sql = (f"select filing_date, ticker, exchange, company_name, title_clean as title, document_url "
           f"from cninfo where ticker in ({chosen}) order by filing_date desc, native_id limit 12")
    rel = con.sql(sql)
    print(f"\n-- {sql}")
    print_table(f"CNINFO announcements of {', '.join(sorted(tickers))}"
                + ("" if set(tickers) & set(CNINFO_WATCHED_TICKERS) else " (002236.SZ / 002415.SZ not in the capture)"),
                list(rel.columns), [list(row) for row in rel.fetchall()], max_width=70)


POST_STEPS: list[Callable[[DemoContext], None]] = [print_run_summary, query_landed_parquet]
POST_STEPS.append(query_cninfo_announcements)


def query_hkex_announcements(ctx: DemoContext) -> None:
    """DuckDB over the landed HKEX Parquet: both language streams per day, then the latest announcements."""
    con = clean_source_view(ctx, "hkex")
    if con is None:
        return
    sql = ("select filing_date, strftime(filed_at at time zone 'Asia/Hong_Kong', '%H:%M') as hk_time, ticker, "
           "company_name, title_clean as title, document_url from hkex order by filed_at desc, native_id limit 12")
    rel = con.sql(sql)
    print(f"\n-- {sql}")
    print_table("HKEXnews announcements landed (filed_at is UTC; shown in Hong Kong time)", list(rel.columns),
                [list(row) for row in rel.fetchall()], max_width=70)


POST_STEPS.append(query_hkex_announcements)


def query_published_tables(ctx: DemoContext) -> None:
    """`filinglake query` over the published Delta tables: sizes, a ticker over a date range, title words."""
    from filinglake.query import run_query

    def show(title: str, sql: str, max_width: int = 60) -> None:
        table = run_query(sql)
        print(f'\n$ filinglake query "{" ".join(sql.split())}"')
        rows = [[", ".join(v) if isinstance(v, list) else v for v in row.values()] for row in table.to_pylist()]
        print_table(title, table.column_names, rows, max_width)

    show("Published tables (Delta Lake under data/published/)",
         "select 'filings' as table_name, count(*) as rows from filings union all "
         "select 'issuers', count(*) from issuers union all select 'daily_counts', count(*) from daily_counts "
         "union all select 'alerts', count(*) from alerts union all select 'quarantine', count(*) from quarantine")
    show("One row per (filing, issuer) across ingests: sources and form types",
         "select source, exchange, count(*) as rows, count(distinct filing_id) as filings, "
         "count(*) filter (where len(form_types) > 1) as combined, "
         "count(*) filter (where len(company_names) > 1) as renamed from filings group by all order by all")
    show("Filings of ticker RY (Royal Bank of Canada) in January 2026, through the issuers table",
         "select f.filing_date, f.form_type, f.native_id as accession, i.tickers, f.document_url "
         "from filings f join issuers i using (source, issuer_id) "
         "where list_contains(i.tickers, 'RY') and f.filing_date between '2026-01-01' and '2026-01-31' "
         "order by f.filing_date, f.form_type, accession limit 8", max_width=90)
    show("Filings of 000001.SZ in 2002 (CNINFO)",
         "select filing_date, ticker, title, document_url from filings "
         "where ticker = '000001.SZ' and filing_date between '2002-01-01' and '2002-12-31' "
         "order by filing_date, title", max_width=70)
    show("HKEX securities in HKEXnews' English and Chinese stock lists (joined on the stock code)",
         "select stock_code, ticker, name_en, name_zh, board, stock_id from securities "
         "where source = 'hkex' and is_current and name_zh is not null order by stock_code")
    show("Titles with a word in Chinese (年度报告, annual report) or English (results)",
         "select source, filing_date, ticker, title_clean from filings "
         "where title_clean like '%年度报告%' or regexp_matches(title_clean, '(?i)\\bresults\\b') "
         "order by source, filing_date limit 10", max_width=80)


POST_STEPS.append(query_published_tables)


def print_alerts_and_report(ctx: DemoContext) -> None:
    """The alerts the watchlist raised (published/alerts), then the static status page."""
    import html

    from filinglake.alerts.record import read_alerts
    from filinglake.config import load_settings
    from filinglake.report import write_report
    from filinglake.storage import Storage

    settings = load_settings()
    storage = Storage.from_settings(settings)
    alerts = read_alerts(storage, settings).sort_by([("entry_id", "ascending"), ("filing_date", "ascending"),
                                                     ("filing_id", "ascending")])
    if alerts.num_rows:
        rows = [
            [a["entry_id"], a["matched_on"], a["company_name"] or a["ticker"] or a["issuer_id"],
             html.unescape(a["title"] or "") or f"{a['form_type']} {a['filing_id']}",
             str(a["filing_date"]),
             f"{a['document_content_type']}, {a['document_bytes']:,} bytes" if a["document_key"]
             else f"not captured ({a['document_error']})"]
            for a in alerts.slice(0, 15).to_pylist()
        ]
        print_table(f"Alerts raised: {alerts.num_rows} (watchlist {settings.watchlist}; `filinglake alerts` lists them)",
                    ["entry", "matched on", "issuer", "filing", "filed", "document"], rows, max_width=48)
    else:
        print(f"\nNo alerts in published/alerts (publish did not run, or nothing matched {settings.watchlist})")
    print(f"\nStatus report: {write_report(storage, settings)}")


# Last: after publish (which raises the alerts), show them and where the status page is.
POST_STEPS.append(print_alerts_and_report)


# --------------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------------


def print_live_instructions(fixtures_dir: Path) -> None:
    print(
        f"""No captured fixtures at {fixtures_dir} (set FILINGLAKE_FIXTURES to their folder).

The demo replays captured data and never touches the internet. To run the same DAGs against the
live SEC archive instead (about one request per DAG run, well within SEC's limits):

  export FILINGLAKE_SEC_USER_AGENT="Your Name you@example.com"   # SEC requires a declared contact
  make airflow                                                     # UI on http://localhost:8080
  # or, one run without the UI:
  export AIRFLOW_HOME=$PWD/.airflow AIRFLOW__CORE__LOAD_EXAMPLES=False \\
    AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags AIRFLOW__CORE__PLUGINS_FOLDER=$PWD/plugins
  .venv/bin/airflow db migrate
  .venv/bin/airflow dags test sec_edgar_daily 2024-12-23                    # lands 2024-12-23
  # or the library alone:
  .venv/bin/filinglake ingest --source sec_edgar --date 2024-12-23"""
    )


def run_all(ctx: DemoContext, runs: list[DemoRun]) -> None:
    from support.airflow_harness import run_dag

    for demo_run in runs:
        print(f"- {demo_run.dag_id}: {demo_run.why}", flush=True)
        for logical_date in demo_run.logical_dates:
            started = time.perf_counter()
            try:
                outcome = run_dag(demo_run.dag_id, logical_date, conf=demo_run.conf)
            except Exception as exc:  # keep going: the summary shows what failed
                result = RunResult(demo_run.dag_id, logical_date, "error", time.perf_counter() - started,
                                   error="".join(traceback.format_exception_only(exc)).strip())
                if ctx.verbose:
                    traceback.print_exc()
            else:
                extras = [e["extra"] for e in outcome.asset_events if e["asset"].startswith("clean.")]
                result = RunResult(demo_run.dag_id, logical_date, outcome.state, time.perf_counter() - started,
                                   extras=extras, task_states=outcome.task_states)
            ctx.results.append(result)
            partition = ", ".join(e.get("partition", "?") for e in result.extras) or "-"
            print(f"    {logical_date.isoformat()} → {partition}: {result.state} ({result.seconds:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show Airflow's and the tasks' logs")
    parser.add_argument("--only", action="append", metavar="DAG_ID", help="run only these DAGs (repeatable)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    fixtures_dir = Path(os.environ.get("FILINGLAKE_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures").resolve()
    if not fixtures_dir.is_dir():
        print_live_instructions(fixtures_dir)
        return 0

    # Airflow reads its configuration on first import: configure before anything imports it.
    from support.airflow_harness import configure_airflow, prepare_metadata_db

    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")
    configure_airflow(airflow_home, PROJECT_ROOT, quiet=not args.verbose)
    storage_path = PROJECT_ROOT / "data"
    os.environ["FILINGLAKE_STORAGE"] = storage_path.as_uri()
    os.environ.setdefault("FILINGLAKE_SEC_USER_AGENT", DEMO_USER_AGENT)
    print(f"filinglake demo: Airflow home {airflow_home}, storage {storage_path.as_uri()}, fixtures {fixtures_dir}",
          flush=True)

    if not args.verbose:
        import airflow  # noqa: F401 - its import installs "default" warning filters for its own modules

        # Airflow and its dependencies announce deprecations of their own internals: not the demo's news.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    prepare_metadata_db()

    from fakes import all_routes
    from fakes.replay import ReplayServer

    from filinglake.sources import all_sources

    routes = all_routes(fixtures_dir)
    runs = [r for r in RUNS if not args.only or r.dag_id in args.only]
    with ReplayServer(routes) as server:
        for source in all_sources():
            os.environ.update(source.environment_for_root(server.url))
            # The server is local: lift the real hosts' pacing to the most every rate setting accepts.
            os.environ[source.setting("rate").env] = STAND_IN_RATE
        names = ", ".join(s.name for s in all_sources())
        print(f"replay server {server.url}: {len(routes)} routes for {names}", flush=True)
        ctx = DemoContext(PROJECT_ROOT, fixtures_dir, storage_path, storage_path.as_uri(), server.url, args.verbose)
        run_all(ctx, runs)

    for step in POST_STEPS:
        step(ctx)
    failed = [r for r in ctx.results if r.state != "success"]
    print(f"demo finished in {time.perf_counter() - started:.0f} s: {len(ctx.results) - len(failed)} run(s) succeeded, "
          f"{len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
