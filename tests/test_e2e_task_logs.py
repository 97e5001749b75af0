"""The validate_partition task's log reads as filinglake's own lines, not Great Expectations' INFO noise.

``sec_edgar_daily`` runs with ``dag.test()`` for a real fixture day (2026-01-02, 50 rows) against the
local replay of the SEC archive; the task's log is every record logged between the harness's
"starting task_id=validate_partition" and "end task" lines. The process's GX session is reset first,
so the GX context is built inside the task as it is in a fresh worker process.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.sec_edgar import sec_archive_routes
from support.airflow_harness import run_dag

pytestmark = pytest.mark.e2e

#: the scheduler's sec_edgar_daily run for 2 January 2026 (logical date the day itself; it fires 23:30 New York time)
LOGICAL_DATE = datetime(2026, 1, 2, tzinfo=UTC)
TASK = "validate_partition"


def task_records(records: list[logging.LogRecord], task_id: str) -> list[logging.LogRecord]:
    """The records logged while ``dag.test()`` ran ``task_id`` (between its start and end lines)."""
    starts = [i for i, r in enumerate(records) if f"starting task_id={task_id} " in r.getMessage()]
    ends = [i for i, r in enumerate(records) if f"end task task_id={task_id} " in r.getMessage()]
    assert len(starts) == 1 and len(ends) == 1, "the harness's task start/end lines changed"
    return records[starts[0] + 1 : ends[0]]


def test_validate_partition_task_log_is_filinglakes_own(
    dag_env: Path, fixtures_dir: Path, replay_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    from filinglake.ingest import validation

    server = replay_server(sec_archive_routes(fixtures_dir))
    monkeypatch.setenv("FILINGLAKE_SEC_BASE_URL", server.sec_base_url)
    monkeypatch.setenv("FILINGLAKE_STORAGE", (tmp_path / "lake").as_uri())  # this test's own partition copy
    monkeypatch.delenv("FILINGLAKE_VERBOSE", raising=False)
    monkeypatch.setattr(validation, "_session", None)  # the task builds the GX context, as in a new worker
    caplog.set_level(logging.INFO)

    run = run_dag("sec_edgar_daily", LOGICAL_DATE)

    assert run.task_states[TASK] == "success", run.task_states
    task_log = task_records(caplog.records, TASK)
    lines = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in task_log]
    third_party = [
        line for r, line in zip(task_log, lines, strict=True)
        if r.name.startswith("great_expectations") or "great_expectations" in r.getMessage()
    ]
    assert third_party == []
    ours = [line for r, line in zip(task_log, lines, strict=True) if r.name.startswith("filinglake")]
    assert len(ours) == 1, lines
    assert "sec_edgar/2026-01-02: GX agrees with the row checks on 11 rules, 50 rows" in ours[0]
    assert "validation/source=sec_edgar/partition=2026-01-02/gx_result.json" in ours[0]
