"""Source registry: one module per source, looked up by name; every other module iterates it.

Everything source-specific is declared on the source's :class:`Source` subclass (see
:mod:`filinglake.sources.base`); code elsewhere asks the registry (:func:`all_sources`,
:func:`get_source`) instead of naming sources. Source modules import pyarrow inside functions only, so
reading the registry stays light (DAG parsing, CLI start-up). Sources import HTTP, formats and the
foundations; never ingest (except row checks, inside ``rules``), publish, alerts or Airflow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from filinglake.sources.base import (
    FetchResult,
    IssuerReference,
    NameKind,
    Partition,
    RawFile,
    SecurityReference,
    Source,
    SourceSetting,
    SourceSettings,
)

if TYPE_CHECKING:
    from filinglake.config import Settings
    from filinglake.http import PoliteClient

#: source name → "module:Class" (imported on first use) or the class itself (a test's throwaway source)
REGISTRY: dict[str, str | type[Source]] = {
    "sec_edgar": "filinglake.sources.sec_edgar:SecEdgar",
    "cninfo": "filinglake.sources.cninfo:Cninfo",
    "hkex": "filinglake.sources.hkex:Hkex",
}


def source_names() -> list[str]:
    return sorted(REGISTRY)


def source_class(name: str) -> type[Source]:
    """The :class:`Source` subclass registered as ``name``; a clear error lists the known ones."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known sources: {', '.join(source_names())}") from None
    if isinstance(target, str):
        module_name, class_name = target.split(":")
        target = getattr(import_module(module_name), class_name)
    return target


def source_settings(name: str, settings: Settings) -> SourceSettings:
    """Source ``name``'s own settings (roots, rate, block back-off) from ``settings``: ``.rate``, ``.base_url`` …"""
    return source_class(name).own_settings(settings)


def env_vars() -> list[tuple[str, str, str]]:
    """Every variable filinglake reads (name, default shown to users, meaning): the general ones of
    :data:`filinglake.config.GENERAL_ENV_VARS`, then each registered source's own, as it declares them."""
    from filinglake.config import GENERAL_ENV_VARS

    own = [(s.env, s.default_text(), s.help) for name in source_names() for s in source_class(name).declared_settings]
    return [*GENERAL_ENV_VARS, *own]


def get_source(name: str) -> Source:
    """The source called ``name``; a clear error lists the known ones."""
    return source_class(name)()


def all_sources() -> list[Source]:
    """Every registered source, by name."""
    return [get_source(name) for name in source_names()]


__all__ = [
    "NameKind",
    "make_client",
    "REGISTRY",
    "FetchResult",
    "IssuerReference",
    "SecurityReference",
    "Partition",
    "RawFile",
    "Source",
    "SourceSetting",
    "SourceSettings",
    "env_vars",
    "source_settings",
    "all_sources",
    "get_source",
    "source_class",
    "source_names",
]


def make_client(source: Source | str, settings: Settings, *, wait_on_block: bool = False) -> PoliteClient:
    """The HTTP client for ``source`` (a :class:`Source` or its name): its rate, headers and block
    handling as the source declares them, resolved from ``settings``."""
    from filinglake.http import PoliteClient

    if isinstance(source, str):
        source = get_source(source)
    own = source.own_settings(settings)
    block_seconds = own.get("block_seconds")
    return PoliteClient(
        name=source.name,
        rate=own.rate,
        headers=source.request_headers(settings),
        timeout=settings.http_timeout,
        retries=settings.http_retries,
        wait_on_block=wait_on_block,
        block_detector=source.detect_block,
        **({"block_seconds": block_seconds} if block_seconds is not None else {}),
    )
