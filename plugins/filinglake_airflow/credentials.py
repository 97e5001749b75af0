"""Airflow connection → the environment variables the library reads (it never imports Airflow).

Inside a task, when storage is on S3 and a connection named ``FILINGLAKE_AWS_CONN_ID`` (default
``aws_default``) exists, its login, password and ``extra.endpoint_url`` / ``extra.region_name`` become
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``FILINGLAKE_S3_ENDPOINT_URL`` and ``AWS_REGION``.
Without the connection the library's own variables (or the AWS credential chain) apply unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


def connection_env(login: str | None, password: str | None, extra: dict) -> dict[str, str]:
    """The variables one AWS connection provides (only the values it actually has)."""
    endpoint = extra.get("endpoint_url") or (extra.get("service_config", {}).get("s3", {}) or {}).get("endpoint_url")
    pairs = {
        "AWS_ACCESS_KEY_ID": login or extra.get("aws_access_key_id"),
        "AWS_SECRET_ACCESS_KEY": password or extra.get("aws_secret_access_key"),
        "AWS_SESSION_TOKEN": extra.get("aws_session_token"),
        "FILINGLAKE_S3_ENDPOINT_URL": endpoint,
        "AWS_REGION": extra.get("region_name"),
    }
    return {name: str(value) for name, value in pairs.items() if value}


def export_storage_credentials(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Copy the S3 connection into ``environ`` (default ``os.environ``); returns the names set.

    Call it at the start of a task, before ``filinglake.config.load_settings()``.
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from filinglake.config import load_settings

    environ = os.environ if environ is None else environ
    settings = load_settings()
    if not settings.storage.startswith("s3://"):
        return []  # file:// storage needs no credentials
    try:
        conn = Connection.get(settings.aws_conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection %r: S3 credentials come from the environment", settings.aws_conn_id)
        return []
    values = connection_env(conn.login, conn.password, conn.extra_dejson or {})
    environ.update(values)
    log.info("S3 credentials from Airflow connection %r: %s", settings.aws_conn_id, ", ".join(sorted(values)))
    return sorted(values)
