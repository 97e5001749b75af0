"""Source registry: one module per source, looked up by name."""

from __future__ import annotations

from importlib import import_module

from filinglake.sources.base import FetchResult, Partition, RawFile, Source

#: source name → "module:Class"; modules are imported on first use (keeps the CLI start-up light)
REGISTRY: dict[str, str] = {
    "sec_edgar": "filinglake.sources.sec_edgar:SecEdgar",
    "cninfo": "filinglake.sources.cninfo:Cninfo",
    "hkex": "filinglake.sources.hkex:Hkex",
}


def source_names() -> list[str]:
    return sorted(REGISTRY)


def get_source(name: str) -> Source:
    """The source called ``name``; a clear error lists the known ones."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known sources: {', '.join(source_names())}") from None
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)()


__all__ = ["FetchResult", "Partition", "RawFile", "Source", "get_source", "source_names", "REGISTRY"]
