"""The lake ``make demo`` publishes, built through the library (no Airflow): for tests of what analysts read.

    storage = build_demo_lake(root, fixtures_dir)

Every partition the demo's DAG runs land (``scripts/demo.py``: SEC daily and quarterly, CNINFO and HKEX
days) is ingested from the stand-in servers serving the captured fixtures, SEC's company_tickers.json is
archived, everything is published and the default watchlist's alerts are recorded (documents captured
from the stand-in), as the publish DAG does.

The demo's captures quarantine nothing, so the lake also lands :data:`QUARANTINE_PARTITION`: two real
HKEXnews fixture rows served again for a day the capture does not cover, one with its link moved off
HKEXnews and one with a 1-digit stock code, which the HKEX row checks quarantine (``quarantine`` view).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakes import all_routes
from fakes.hkex import fixture_rows, hkex_routes, row_day
from fakes.replay import ReplayServer

from filinglake.alerts.record import record_alerts
from filinglake.alerts.watchlist import load_watchlist
from filinglake.config import PROJECT_ROOT, load_settings
from filinglake.ingest.landing import ingest
from filinglake.publish.references import fetch_reference_lists
from filinglake.publish.run import publish
from filinglake.sources import all_sources
from filinglake.storage import Storage

#: (source, partition) of every partition the demo lands (scripts/demo.py RUNS)
DEMO_PARTITIONS: tuple[tuple[str, str], ...] = (
    ("sec_edgar", "2018-12-31"), ("sec_edgar", "2026-01-02"), ("sec_edgar", "2018-12-29"),
    ("sec_edgar", "2016Q3"), ("sec_edgar", "1993Q4"),
    *(("cninfo", day) for day in ("2001-06-30", "2001-08-21", "2002-04-18", "2002-04-22", "2002-08-14",
                                  "2002-10-25", "2003-01-01")),
    *(("hkex", f"{day}-{lang}") for day in ("2012-11-14", "2025-11-03", "2025-11-11", "2012-11-18")
      for lang in ("en", "zh")),
)

#: the HKEX day (absent from the capture) whose two fixture-derived rows the row checks quarantine
QUARANTINE_PARTITION = ("hkex", "2025-11-04-en")
OFF_HOST_LINK = "https://evil.example/listedco/listconews/sehk/2025/1104/notice.pdf"


def quarantine_rows(fixtures_dir: Path) -> list[dict]:
    """Copies of the first two rows of the HKEX capture, dated the quarantine day, each broken one way."""
    day = QUARANTINE_PARTITION[1][:10]
    rows = fixture_rows(fixtures_dir)
    assert all(str(row_day(r)) != day for r in rows), f"the capture covers {day}: pick another quarantine day"
    stamp = f"{day[8:10]}/{day[5:7]}/{day[:4]} 17:00"
    off_host = {**rows[0], "DATE_TIME": stamp, "FILE_LINK": OFF_HOST_LINK}
    short_code = {**rows[1], "DATE_TIME": stamp, "STOCK_CODE": "7"}
    return [off_host, short_code]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def build_demo_lake(root: Path, fixtures_dir: Path,
                    partitions: tuple[tuple[str, str], ...] = DEMO_PARTITIONS) -> Storage:
    """Land ``partitions`` into ``root`` from the stand-ins, publish them, record the watchlist's alerts."""
    routes = all_routes(fixtures_dir)
    routes.update(hkex_routes(fixtures_dir, extra_rows=quarantine_rows(fixtures_dir)))
    with ReplayServer(routes) as server:
        env = {"FILINGLAKE_STORAGE": root.as_uri(), "FILINGLAKE_SEC_USER_AGENT": "filinglake-tests tests@example.com",
               "FILINGLAKE_WATCHLIST": str(PROJECT_ROOT / "include" / "watchlist.yaml"), "FILINGLAKE_HTTP_RETRIES": "1"}
        for source in all_sources():
            env.update(source.environment_for_root(server.url))
            env[source.setting("rate").env] = "10"  # the most every rate setting accepts
        with _environment(env):
            settings = load_settings()
            storage = Storage.from_settings(settings)
            for source, partition in (*partitions, QUARANTINE_PARTITION):
                ingest(source, partition, settings, validate=False)
            fetch_reference_lists(storage, settings)
            publish(storage, settings)
            record_alerts(storage, settings, load_watchlist(settings.watchlist))
    return storage
