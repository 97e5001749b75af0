"""Deployed tasks refuse the demo's default storage root; the demo, `make airflow` and the tests keep it."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
from support.airflow_harness import load_dag

from filinglake.config import DEFAULT_STORAGE
from filinglake_airflow.task_settings import StorageNotConfigured, storage_required, task_settings

POSTGRES = "postgresql+psycopg2://airflow:airflow@postgres/airflow"


@pytest.fixture
def no_storage(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("FILINGLAKE_STORAGE", raising=False)
    monkeypatch.delenv("FILINGLAKE_REQUIRE_STORAGE", raising=False)
    return monkeypatch


def test_sqlite_airflow_keeps_the_default_root(no_storage: pytest.MonkeyPatch) -> None:
    assert storage_required() is False  # the tests run on SQLite, like `make demo` and `make airflow`
    assert task_settings().storage == DEFAULT_STORAGE


def test_a_deployed_metadata_db_requires_an_explicit_root(no_storage: pytest.MonkeyPatch) -> None:
    no_storage.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", POSTGRES)
    assert storage_required() is True
    with pytest.raises(StorageNotConfigured, match="FILINGLAKE_STORAGE is not set"):
        task_settings()
    no_storage.setenv("FILINGLAKE_STORAGE", "file:///srv/lake")
    assert task_settings().storage == "file:///srv/lake"


def test_the_flag_decides_when_given(no_storage: pytest.MonkeyPatch) -> None:
    no_storage.setenv("FILINGLAKE_REQUIRE_STORAGE", "1")
    with pytest.raises(StorageNotConfigured):
        task_settings()
    no_storage.setenv("FILINGLAKE_REQUIRE_STORAGE", "0")
    no_storage.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", POSTGRES)
    assert task_settings().storage == DEFAULT_STORAGE
    no_storage.setenv("FILINGLAKE_REQUIRE_STORAGE", "maybe")
    with pytest.raises(StorageNotConfigured, match="write 1 or 0"):
        storage_required()


def test_every_storage_task_refuses_to_start_without_a_root(no_storage: pytest.MonkeyPatch) -> None:
    """The refusal is an AirflowFailException: no retries, the task fails before touching storage."""
    assert issubclass(StorageNotConfigured, AirflowFailException)
    no_storage.setenv("FILINGLAKE_REQUIRE_STORAGE", "1")
    report = load_dag("publish_filings").get_task("write_report").python_callable
    with pytest.raises(StorageNotConfigured):
        report()
    compact = load_dag("compact_published_tables").get_task("compact").python_callable
    with pytest.raises(StorageNotConfigured):
        compact()
    write = load_dag("sec_edgar_daily").get_task("write_partition").python_callable
    with pytest.raises(StorageNotConfigured):
        write({"partition": "2026-01-02", "raw": []})
