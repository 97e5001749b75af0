"""Settings read from environment variables, with safe defaults.

One typed object, built with :func:`load_settings`. Each value is checked when the environment is
read, but a malformed one only fails the code that reads that field (see :class:`Settings`).
Settings of one source (its roots, request rate, block back-off) are declared on the source
(``Source.declared_settings``) and read here through the registry: ``settings.for_source(name).rate``.
Every variable is listed by :func:`env_vars` (name, default, meaning): the general ones of
``GENERAL_ENV_VARS`` and each source's own, so the README table, ``.env.example``, the Helm values
and the docker-compose check are tested against the same list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from filinglake.errors import InputError

if TYPE_CHECKING:
    from filinglake.sources.base import SourceSetting

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORAGE = (PROJECT_ROOT / "data").as_uri()


class ConfigError(InputError, ValueError):
    """A setting is missing or malformed; the message names the variable."""


#: (variable, default shown to users, meaning) of the settings no single source owns. Keep in step
#: with Settings.from_env; each source's own come from the registry (:func:`env_vars`).
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
    ("FILINGLAKE_DOCUMENT_MAX_BYTES", "52428800", "largest document captured for an alert (bytes)"),
]


def source_settings_declared() -> dict[str, tuple[SourceSetting, ...]]:
    """Every registered source's declared settings, by source name."""
    from filinglake.sources import source_class, source_names

    return {name: source_class(name).declared_settings for name in source_names()}


def env_vars() -> list[tuple[str, str, str]]:
    """Every variable filinglake reads (name, default shown to users, meaning): the general ones, then
    each registered source's own, in the order the source declares them."""
    own = [(s.env, s.default_text(), s.help) for declared in source_settings_declared().values() for s in declared]
    return [*GENERAL_ENV_VARS, *own]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
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


def _float(name: str, default: float, *, most: float | None = None, why: str = "") -> float:
    raw = _env(name)
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


def _source_value(setting: SourceSetting) -> object:
    """One declared source setting from the environment (a ConfigError names its variable)."""
    if setting.kind == "url":
        return (_env(setting.env, str(setting.default)) or "").rstrip("/")
    return _float(setting.env, float(setting.default), most=setting.most, why=setting.why)


@dataclass(frozen=True)
class SourceSettings:
    """One source's settings: ``settings.for_source(name).rate``, ``.base_url`` … as the source declares them.

    Like :class:`Settings`, a malformed value raises its :class:`ConfigError` only where it is read.
    """

    source: str
    values: Mapping[str, object]

    def __getattr__(self, key: str) -> object:
        if key.startswith("_") or key in ("source", "values"):  # not a setting (copy, pickle, half-built)
            raise AttributeError(key)
        if key not in self.values:
            raise AttributeError(f"{self.source} declares no setting {key!r}; it declares {', '.join(self.values)}")
        return self.get(key)

    def get(self, key: str, default: object = None) -> object:
        value = self.values.get(key, default)
        if type(value) is InvalidSetting:
            raise value.error
        return value


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

    Each source's own settings are in ``source_values`` (source → key → value), read with
    :meth:`for_source`; a key not given there is the source's declared default.
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
    document_max_bytes: int = 50 * 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)
    source_values: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def __getattribute__(self, name: str) -> object:
        value = object.__getattribute__(self, name)
        if type(value) is InvalidSetting:
            raise value.error
        return value

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={object.__getattribute__(self, f.name)!r}" for f in fields(self))
        return f"Settings({shown})"

    def for_source(self, name: str) -> SourceSettings:
        """The settings ``name`` declares, from the environment read (or :meth:`with_source`), else defaults."""
        from filinglake.sources import source_class

        given = self.source_values.get(name, {})
        return SourceSettings(name, {s.key: given.get(s.key, s.default)
                                     for s in source_class(name).declared_settings})

    def with_source(self, name: str, **values: object) -> Settings:
        """A copy with some of ``name``'s settings replaced (tests, stand-in servers); keys must be declared."""
        from filinglake.sources import source_class

        declared = {s.key for s in source_class(name).declared_settings}
        if unknown := set(values) - declared:
            raise ValueError(f"{name} declares no setting {', '.join(sorted(unknown))}; it declares "
                             f"{', '.join(sorted(declared))}")
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
            document_max_bytes=_checked(lambda: _int("FILINGLAKE_DOCUMENT_MAX_BYTES", 50 * 1024 * 1024)),
            source_values={name: {s.key: _checked(lambda s=s: _source_value(s)) for s in declared}
                           for name, declared in source_settings_declared().items()},
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
