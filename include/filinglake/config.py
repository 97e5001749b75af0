"""Settings read from environment variables, with safe defaults.

One typed object, built with :func:`load_settings`. Each value is checked when the environment is
read, but a malformed one only fails the code that reads that field (see :class:`Settings`).
Settings of one source (its roots, request rate, block back-off) are declared on the source
(``Source.declared_settings``): this module keeps a snapshot of the ``FILINGLAKE_*`` variables and the
sources layer reads them through the registry (``source_settings(name, settings).rate``), so a new
source needs no edit here. ``GENERAL_ENV_VARS`` lists the other variables; ``filinglake.sources.env_vars()``
lists them all, for the README table, ``.env.example``, the Helm values and the docker-compose check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from filinglake.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORAGE = (PROJECT_ROOT / "data").as_uri()


class ConfigError(InputError, ValueError):
    """A setting is missing or malformed; the message names the variable."""


#: (variable, default shown to users, meaning) of the settings no single source owns. Keep in step
#: with Settings.from_env; each source's own come from the registry (``filinglake.sources.env_vars``).
GENERAL_ENV_VARS: list[tuple[str, str, str]] = [
    ("FILINGLAKE_STORAGE", "file://<project>/data",
     "root of all data: `file:///path`, `s3://bucket/prefix` or a plain folder path"),
    ("FILINGLAKE_S3_ENDPOINT_URL", "(AWS)", "S3-compatible endpoint, e.g. `http://minio:9000`; falls back to `AWS_ENDPOINT_URL`"),
    ("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN", "(AWS chain)",
     "S3 credentials (or an Airflow connection, see `FILINGLAKE_AWS_CONN_ID`)"),
    ("AWS_REGION / AWS_DEFAULT_REGION", "us-east-1", "S3 region"),
    ("FILINGLAKE_AWS_CONN_ID", "aws_default", "Airflow connection the DAGs read S3 credentials and endpoint from, when it exists"),
    ("FILINGLAKE_SEC_USER_AGENT", "(none)",
     "`Name email@example.com` (a name and an e-mail address); required for live SEC requests"),
    ("FILINGLAKE_HTTP_TIMEOUT", "60", "deadline in seconds for each HTTP request attempt, whole (connect, headers, body)"),
    ("FILINGLAKE_HTTP_RETRIES", "5", "attempts on 429/5xx/timeouts before giving up"),
    ("FILINGLAKE_VERBOSE", "0", "1 shows third-party INFO logs (Great Expectations) in task logs and the CLI"),
    ("FILINGLAKE_WATCHLIST", "<project>/include/watchlist.yaml", "watchlist file for alerts"),
    ("FILINGLAKE_ISSUER_LINKS", "<project>/include/issuer_links.yaml",
     "reviewed links between one company's listings (curated evidence of `issuer_links`)"),
    ("FILINGLAKE_DOCUMENT_MAX_BYTES", "52428800", "largest document captured for an alert (bytes)"),
]


#: the variables a source may declare start so; Settings keeps a snapshot of them for the sources layer
SOURCE_VARIABLE_PREFIX = "FILINGLAKE_"


def _env(name: str, default: str | None = None, environment: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environment is None else environment).get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


@dataclass(frozen=True)
class InvalidSetting:
    """Stands in a :class:`Settings` field whose variable is malformed; reading the field raises ``error``."""

    error: ConfigError

    def __repr__(self) -> str:
        return f"<invalid: {self.error}>"


def _checked(parse: Callable[[], object]) -> object:
    """The parsed value, or an :class:`InvalidSetting` that raises when (and only where) the field is read."""
    try:
        return parse()
    except ConfigError as exc:
        return InvalidSetting(exc)


def _float(name: str, default: float, *, most: float | None = None, why: str = "",
           environment: Mapping[str, str] | None = None) -> float:
    raw = _env(name, environment=environment)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    if most is not None and value > most:
        raise ConfigError(f"{name}={value}: {why}")
    return value


def _int(name: str, default: int) -> int:
    return int(_float(name, default))


def read_url(name: str, default: str, environment: Mapping[str, str]) -> str:
    """A root URL from ``environment`` (a trailing ``/`` dropped)."""
    return (_env(name, default, environment) or "").rstrip("/")


def read_number(name: str, default: float, environment: Mapping[str, str], *, most: float | None = None,
                why: str = "") -> float:
    """A positive number from ``environment`` (at most ``most``); a ConfigError names the variable."""
    return _float(name, default, most=most, why=why, environment=environment)


_STORAGE_FORMS = "write s3://bucket/prefix, file:///absolute/path or a plain folder path"
#: anything that starts like a URL scheme (``s3:``, ``file:``, ``gs:``); a plain path never does on POSIX
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
#: S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def storage_root(value: str) -> str:
    """``FILINGLAKE_STORAGE`` as a ``file:///…`` or ``s3://bucket/prefix`` URI (no trailing slash).

    A plain folder path is accepted and made absolute. Anything that looks like a URL but is not one
    of those two exact forms (``s3:/bucket``, ``file:/abs``, ``file://relative``, ``gs://…``) is refused:
    taken as a folder name it would silently write under ``./s3:/…`` in the current folder.
    """
    scheme = _SCHEME.match(value)
    if scheme is None:
        return Path(value).resolve().as_uri()
    bad = f"FILINGLAKE_STORAGE={value!r}"
    parts = urlsplit(value)
    if parts.scheme.lower() == "s3" and value[:5].lower() == "s3://":
        if not _BUCKET.match(parts.netloc):
            raise ConfigError(f"{bad}: {parts.netloc!r} is not a valid S3 bucket name; {_STORAGE_FORMS}")
        return f"s3://{parts.netloc}{parts.path}".rstrip("/")
    if parts.scheme.lower() == "file" and value[:7].lower() == "file://":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"{bad}: a file:// root needs an absolute path (three slashes); {_STORAGE_FORMS}")
        return Path(parts.path).as_uri().rstrip("/")
    if value[len(scheme["scheme"]) + 1 :].startswith("//"):
        raise ConfigError(f"{bad}: only file:// and s3:// are supported; {_STORAGE_FORMS}")
    raise ConfigError(f"{bad} is not a URL filinglake understands (a scheme needs '://'); {_STORAGE_FORMS}")


def _storage() -> str:
    return storage_root(_env("FILINGLAKE_STORAGE", DEFAULT_STORAGE) or DEFAULT_STORAGE)


_NAME_AND_EMAIL = re.compile(r"^(?P<name>.*\S)\s+(?P<email>[^\s@]+@[^\s@]+\.[^\s@]+)$")


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything configurable, resolved from the environment.

    A malformed variable does not stop the others: its field holds an :class:`InvalidSetting` and
    reading that field raises the :class:`ConfigError` naming the variable. So a bad
    ``FILINGLAKE_SEC_RATE`` fails SEC requests, not ``filinglake query``.

    Each source's own settings are read by the sources layer (``filinglake.sources.source_settings``)
    from ``environment`` (the ``FILINGLAKE_*`` variables when the settings were loaded), unless
    ``source_values`` (source → key → value, :meth:`with_source`) gives them; else the declared default.
    """

    storage: str = DEFAULT_STORAGE
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str = "us-east-1"
    aws_conn_id: str = "aws_default"
    sec_user_agent: str | None = None
    http_timeout: float = 60.0
    http_retries: int = 5
    watchlist: str = str(PROJECT_ROOT / "include" / "watchlist.yaml")
    issuer_links: str = str(PROJECT_ROOT / "include" / "issuer_links.yaml")
    document_max_bytes: int = 50 * 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    source_values: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def __getattribute__(self, name: str) -> object:
        value = object.__getattribute__(self, name)
        if type(value) is InvalidSetting:
            raise value.error
        return value

    def __repr__(self) -> str:
        # the variable snapshot is left out: the sources layer reads it, and it may hold any FILINGLAKE_* value
        shown = ", ".join(f"{f.name}={object.__getattribute__(self, f.name)!r}" for f in fields(self)
                          if f.name != "environment")
        return f"Settings({shown})"

    def with_source(self, name: str, **values: object) -> Settings:
        """A copy with some of source ``name``'s settings replaced (tests, stand-in servers)."""
        merged = {**self.source_values, name: {**self.source_values.get(name, {}), **values}}
        return replace(self, source_values=merged)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            storage=_checked(_storage),
            s3_endpoint_url=_env("FILINGLAKE_S3_ENDPOINT_URL", _env("AWS_ENDPOINT_URL")),
            aws_access_key_id=_env("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=_env("AWS_SESSION_TOKEN"),
            aws_region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1")) or "us-east-1",
            aws_conn_id=_env("FILINGLAKE_AWS_CONN_ID", "aws_default") or "aws_default",
            sec_user_agent=_env("FILINGLAKE_SEC_USER_AGENT"),
            http_timeout=_checked(lambda: _float("FILINGLAKE_HTTP_TIMEOUT", 60.0)),
            http_retries=_checked(lambda: _int("FILINGLAKE_HTTP_RETRIES", 5)),
            watchlist=_env("FILINGLAKE_WATCHLIST", str(PROJECT_ROOT / "include" / "watchlist.yaml")) or "",
            issuer_links=_env("FILINGLAKE_ISSUER_LINKS", str(PROJECT_ROOT / "include" / "issuer_links.yaml")) or "",
            document_max_bytes=_checked(lambda: _int("FILINGLAKE_DOCUMENT_MAX_BYTES", 50 * 1024 * 1024)),
            environment={k: v for k, v in os.environ.items() if k.startswith(SOURCE_VARIABLE_PREFIX)},
        )

    def require_sec_user_agent(self) -> str:
        """The declared SEC contact (a name and an e-mail address), or a clear error naming the variable."""
        ua = self.sec_user_agent
        example = "e.g. FILINGLAKE_SEC_USER_AGENT='Acme Research ops@acme.example'"
        if not ua or not ua.strip():
            raise ConfigError(f"FILINGLAKE_SEC_USER_AGENT is not set: SEC requires a declared contact, {example}")
        if not _NAME_AND_EMAIL.match(ua.strip()):
            raise ConfigError(
                f"FILINGLAKE_SEC_USER_AGENT={ua!r} must hold a name and an e-mail address, {example} "
                "(SEC refuses requests without a declared contact)"
            )
        return ua.strip()


def load_settings() -> Settings:
    """Settings from the current environment (read fresh each call: tests change the environment)."""
    return Settings.from_env()
