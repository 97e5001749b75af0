"""What every filinglake task does first: S3 credentials from Airflow, settings, and a storage-root check.

The library's default storage root (``file://<project>/data``) is for the demo and the tests. A
deployed Airflow that silently fell back to it would land partitions on one worker's local disk,
where ``publish_filings`` (perhaps on another worker) never sees them. So a task refuses to start
without an explicit ``FILINGLAKE_STORAGE`` when the storage is *required*:

- ``FILINGLAKE_REQUIRE_STORAGE=1`` (``true``/``yes``) requires it, ``0`` (``false``/``no``) does not;
- unset, it is required whenever Airflow's metadata database is not SQLite (``[database]
  sql_alchemy_conn``): every deployment (docker-compose, PostgreSQL) is covered without a flag,
  while ``make demo``, ``make airflow`` and the tests (SQLite) keep the default.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from filinglake.config import Settings

REQUIRE_STORAGE_VAR = "FILINGLAKE_REQUIRE_STORAGE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class StorageNotConfigured(AirflowFailException):
    """A deployed task found no explicit FILINGLAKE_STORAGE (the file:// default is for demos and tests).

    An ``AirflowFailException``: the task fails at once, retrying cannot set a variable.
    """


def metadata_db_is_sqlite() -> bool:
    """True when Airflow's configured metadata database is SQLite (the embedded, single-machine setup)."""
    from airflow.sdk import conf

    return conf.get("database", "sql_alchemy_conn", fallback="sqlite://").strip().lower().startswith("sqlite")


def storage_required() -> bool:
    """Whether this process must be given ``FILINGLAKE_STORAGE`` explicitly (see the module docstring)."""
    flag = os.environ.get(REQUIRE_STORAGE_VAR, "").strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    if flag:
        raise StorageNotConfigured(f"{REQUIRE_STORAGE_VAR}={flag!r}: write 1 or 0")
    return not metadata_db_is_sqlite()


def require_explicit_storage() -> None:
    """Raise :class:`StorageNotConfigured` when storage is required and ``FILINGLAKE_STORAGE`` is unset."""
    if os.environ.get("FILINGLAKE_STORAGE", "").strip():
        return
    if storage_required():
        raise StorageNotConfigured(
            "FILINGLAKE_STORAGE is not set: a deployed Airflow must name its storage root (s3://bucket/prefix "
            "or file:///shared/path); the file:// default under the project is for the demo and tests only "
            f"(set {REQUIRE_STORAGE_VAR}=0 to allow it)"
        )


def task_settings() -> Settings:
    """Check the storage root, export the S3 connection's credentials, and return the library's settings."""
    from filinglake.config import load_settings
    from filinglake_airflow.credentials import export_storage_credentials

    require_explicit_storage()
    export_storage_credentials()
    return load_settings()
