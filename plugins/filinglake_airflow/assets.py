"""Asset names and URIs, defined once so producers (ingest DAGs) and consumers (publish) agree.

An asset is one source's clean layer, ``clean.<source>.filings``, located at
``<FILINGLAKE_STORAGE>/clean/filings/source=<source>``. Consumers refer to assets by these
objects (or :func:`clean_filings_asset`), never by re-typing names; the partition, counts and keys of
each landed partition travel in the asset event's ``extra`` (see ``filinglake.pipeline.summary``).

The URI is read from the environment when the DAG file is parsed; every Airflow component shares the
same environment, so producers and consumers always resolve the same URI.
"""

from __future__ import annotations

from airflow.sdk import Asset

#: every source with an ingest DAG; one clean asset each
SOURCES = ("sec_edgar", "cninfo", "hkex")


def clean_filings_name(source: str) -> str:
    """``clean.<source>.filings``: the stable identity consumers schedule on."""
    return f"clean.{source}.filings"


def storage_root() -> str:
    """``FILINGLAKE_STORAGE`` as the library resolves it (``file://…`` or ``s3://bucket/prefix``)."""
    from filinglake.config import load_settings  # standard library only: cheap at parse time

    return load_settings().storage


def clean_filings_uri(source: str, root: str | None = None) -> str:
    """Where the clean Parquet partitions of ``source`` live (``…/clean/filings/source=<source>``)."""
    return f"{(root or storage_root()).rstrip('/')}/clean/filings/source={source}"


def clean_filings_asset(source: str) -> Asset:
    """The asset an ingest DAG updates each time it lands and validates a partition of ``source``."""
    if source not in SOURCES:
        raise ValueError(f"no clean asset for {source!r}; known sources: {', '.join(SOURCES)}")
    return Asset(name=clean_filings_name(source), uri=clean_filings_uri(source), group="filinglake")


SEC_EDGAR_CLEAN = clean_filings_asset("sec_edgar")
CNINFO_CLEAN = clean_filings_asset("cninfo")
HKEX_CLEAN = clean_filings_asset("hkex")

#: every clean asset, e.g. ``schedule=(SEC_EDGAR_CLEAN | CNINFO_CLEAN | HKEX_CLEAN)`` for publish
CLEAN_ASSETS: dict[str, Asset] = {"sec_edgar": SEC_EDGAR_CLEAN, "cninfo": CNINFO_CLEAN, "hkex": HKEX_CLEAN}
