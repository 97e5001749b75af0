"""S3 credentials for a task, from the Amazon provider's ``AwsBaseHook`` (the library never imports Airflow).

Inside a task, when storage is on S3 and a connection named ``FILINGLAKE_AWS_CONN_ID`` (default
``aws_default``) exists, the hook resolves it exactly as every Amazon operator does — static keys,
``role_arn`` (STS assume-role), a profile, web identity — and the frozen credentials become
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``; the connection's S3
endpoint (``extra.endpoint_url`` or ``extra.service_config.s3.endpoint_url``) becomes
``FILINGLAKE_S3_ENDPOINT_URL`` and its region ``AWS_REGION``. Without the connection the library's own
variables (or the AWS credential chain) apply unchanged.

Temporary credentials (assumed roles) last an hour by default: each task exports them afresh.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from typing import Any

log = logging.getLogger(__name__)


#: what the credentials log line calls each variable it set
_SHORT_NAMES = {"AWS_ACCESS_KEY_ID": "key id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "session token",
                "AWS_REGION": "region", "FILINGLAKE_S3_ENDPOINT_URL": "endpoint"}


def hook_environment(hook: Any) -> dict[str, str]:
    """The variables an ``AwsBaseHook`` provides (frozen credentials, S3 endpoint, region)."""
    credentials = hook.get_credentials()
    config = hook.conn_config
    pairs = {
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_SESSION_TOKEN": credentials.token,
        "FILINGLAKE_S3_ENDPOINT_URL": config.get_service_endpoint_url("s3"),
        "AWS_REGION": config.region_name,
    }
    return {name: str(value) for name, value in pairs.items() if value}


def export_storage_credentials(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Copy the S3 connection's credentials into ``environ`` (default ``os.environ``); returns the names set.

    Call it at the start of a task, before ``filinglake.config.load_settings()`` (see
    :func:`filinglake_airflow.task_settings.task_settings`, which does both).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from filinglake.config import load_settings

    environ = os.environ if environ is None else environ
    settings = load_settings()
    if not settings.storage.startswith("s3://"):
        return []  # file:// storage needs no credentials
    try:
        BaseHook.get_connection(settings.aws_conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection %r: S3 credentials come from the environment", settings.aws_conn_id)
        return []
    values = hook_environment(AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="s3"))
    if "AWS_SESSION_TOKEN" not in values:
        environ.pop("AWS_SESSION_TOKEN", None)  # a stale token would not match the connection's keys
    environ.update(values)
    # short enough for the task log view's width (it does not wrap lines by default)
    log.info("S3 credentials: connection %r (%s)", settings.aws_conn_id,
             ", ".join(_SHORT_NAMES.get(name, name) for name in sorted(values)))
    return sorted(values)
