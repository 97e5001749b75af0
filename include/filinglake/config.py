"""Settings read from environment variables, with safe defaults.

One typed object, built once per process with :func:`load_settings`. Every variable is listed in
``ENV_VARS`` (name, default, meaning) so the README table and the docker-compose check are generated
from, and tested against, the same list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORAGE = (PROJECT_ROOT / "data").as_uri()

DEFAULT_SEC_BASE_URL = "https://www.sec.gov/Archives/edgar"
DEFAULT_CNINFO_BASE_URL = "https://www.cninfo.com.cn"
DEFAULT_CNINFO_STATIC_URL = "https://static.cninfo.com.cn"
DEFAULT_HKEX_BASE_URL = "https://www1.hkexnews.hk"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


#: (variable, default shown to users, meaning). Keep in step with Settings.from_env.
ENV_VARS: list[tuple[str, str, str]] = [
    ("FILINGLAKE_STORAGE", "file://<project>/data", "root of all data: `file:///path` or `s3://bucket/prefix`"),
    ("FILINGLAKE_S3_ENDPOINT_URL", "(AWS)", "S3-compatible endpoint, e.g. `http://minio:9000`; falls back to `AWS_ENDPOINT_URL`"),
    ("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN", "(AWS chain)",
     "S3 credentials (or an Airflow connection, see `FILINGLAKE_AWS_CONN_ID`)"),
    ("AWS_REGION / AWS_DEFAULT_REGION", "us-east-1", "S3 region"),
    ("FILINGLAKE_AWS_CONN_ID", "aws_default", "Airflow connection the DAGs read S3 credentials and endpoint from, when it exists"),
    ("FILINGLAKE_SEC_USER_AGENT", "(none)", "`Name email@example.com`; required for live SEC requests"),
    ("FILINGLAKE_SEC_BASE_URL", DEFAULT_SEC_BASE_URL, "EDGAR archive root (point at a replay server in tests)"),
    ("FILINGLAKE_SEC_RATE", "5", "requests per second to the SEC host, across threads (SEC allows at most 10)"),
    ("FILINGLAKE_SEC_BLOCK_SECONDS", "600", "how long to back off after SEC's 403 'Request Rate Threshold Exceeded' page"),
    ("FILINGLAKE_CNINFO_BASE_URL", DEFAULT_CNINFO_BASE_URL, "CNINFO API root"),
    ("FILINGLAKE_CNINFO_STATIC_URL", DEFAULT_CNINFO_STATIC_URL, "CNINFO document host"),
    ("FILINGLAKE_CNINFO_RATE", "0.5", "requests per second to CNINFO"),
    ("FILINGLAKE_HKEX_BASE_URL", DEFAULT_HKEX_BASE_URL, "HKEXnews root"),
    ("FILINGLAKE_HKEX_RATE", "0.5", "requests per second to HKEXnews"),
    ("FILINGLAKE_HTTP_TIMEOUT", "60", "deadline in seconds for each HTTP request attempt, whole (connect, headers, body)"),
    ("FILINGLAKE_HTTP_RETRIES", "5", "attempts on 429/5xx/timeouts before giving up"),
    ("FILINGLAKE_WATCHLIST", "<project>/include/watchlist.yaml", "watchlist file for alerts"),
    ("FILINGLAKE_DOCUMENT_MAX_BYTES", "52428800", "largest document captured for an alert (bytes)"),
]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


def _int(name: str, default: int) -> int:
    return int(_float(name, default))


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved from the environment."""

    storage: str = DEFAULT_STORAGE
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str = "us-east-1"
    aws_conn_id: str = "aws_default"
    sec_user_agent: str | None = None
    sec_base_url: str = DEFAULT_SEC_BASE_URL
    sec_rate: float = 5.0
    sec_block_seconds: float = 600.0
    cninfo_base_url: str = DEFAULT_CNINFO_BASE_URL
    cninfo_static_url: str = DEFAULT_CNINFO_STATIC_URL
    cninfo_rate: float = 0.5
    hkex_base_url: str = DEFAULT_HKEX_BASE_URL
    hkex_rate: float = 0.5
    http_timeout: float = 60.0
    http_retries: int = 5
    watchlist: str = str(PROJECT_ROOT / "include" / "watchlist.yaml")
    document_max_bytes: int = 50 * 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        storage = _env("FILINGLAKE_STORAGE", DEFAULT_STORAGE)
        assert storage is not None
        if not storage.startswith(("file://", "s3://")):
            # A bare path is a convenience for people; store it as a file:// URI.
            if "://" in storage:
                raise ConfigError(f"FILINGLAKE_STORAGE={storage!r}: only file:// and s3:// are supported")
            storage = Path(storage).resolve().as_uri()
        sec_rate = _float("FILINGLAKE_SEC_RATE", 5.0)
        if sec_rate > 10:
            raise ConfigError(f"FILINGLAKE_SEC_RATE={sec_rate}: SEC allows at most 10 requests per second")
        return cls(
            storage=storage.rstrip("/"),
            s3_endpoint_url=_env("FILINGLAKE_S3_ENDPOINT_URL", _env("AWS_ENDPOINT_URL")),
            aws_access_key_id=_env("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=_env("AWS_SESSION_TOKEN"),
            aws_region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1")) or "us-east-1",
            aws_conn_id=_env("FILINGLAKE_AWS_CONN_ID", "aws_default") or "aws_default",
            sec_user_agent=_env("FILINGLAKE_SEC_USER_AGENT"),
            sec_base_url=(_env("FILINGLAKE_SEC_BASE_URL", DEFAULT_SEC_BASE_URL) or "").rstrip("/"),
            sec_rate=sec_rate,
            sec_block_seconds=_float("FILINGLAKE_SEC_BLOCK_SECONDS", 600.0),
            cninfo_base_url=(_env("FILINGLAKE_CNINFO_BASE_URL", DEFAULT_CNINFO_BASE_URL) or "").rstrip("/"),
            cninfo_static_url=(_env("FILINGLAKE_CNINFO_STATIC_URL", DEFAULT_CNINFO_STATIC_URL) or "").rstrip("/"),
            cninfo_rate=_float("FILINGLAKE_CNINFO_RATE", 0.5),
            hkex_base_url=(_env("FILINGLAKE_HKEX_BASE_URL", DEFAULT_HKEX_BASE_URL) or "").rstrip("/"),
            hkex_rate=_float("FILINGLAKE_HKEX_RATE", 0.5),
            http_timeout=_float("FILINGLAKE_HTTP_TIMEOUT", 60.0),
            http_retries=_int("FILINGLAKE_HTTP_RETRIES", 5),
            watchlist=_env("FILINGLAKE_WATCHLIST", str(PROJECT_ROOT / "include" / "watchlist.yaml")) or "",
            document_max_bytes=_int("FILINGLAKE_DOCUMENT_MAX_BYTES", 50 * 1024 * 1024),
        )

    def require_sec_user_agent(self) -> str:
        """The declared SEC contact, or a clear error naming the variable."""
        ua = self.sec_user_agent
        if not ua or " " not in ua.strip():
            raise ConfigError(
                "FILINGLAKE_SEC_USER_AGENT is not set: SEC requires a declared contact, "
                "e.g. FILINGLAKE_SEC_USER_AGENT='Acme Research ops@acme.example'"
            )
        return ua


def load_settings() -> Settings:
    """Settings from the current environment (read fresh each call: tests change the environment)."""
    return Settings.from_env()
