"""Asset names and URIs, defined once so producers (ingest DAGs) and consumers (publish) agree.

An asset is one source's clean layer: name ``clean.<source>.filings``, URI
``x-filinglake://clean/filings/source=<source>``. The URI is deliberately *logical* (the ``x-`` prefix
is Airflow's convention for custom schemes) rather than ``<FILINGLAKE_STORAGE>/clean/…``: Airflow keys
an asset on its name and URI together, and when the storage root changes (a move to S3, a demo in
another folder) an asset whose URI followed it would clash with the stored one, become inactive and
silently stop receiving events. Where the data physically is travels in each event's ``extra``
(``storage`` + ``clean_key``; see :func:`clean_filings_location`), together with the partition and
counts (``filinglake.ingest.landing.summary``).
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAny

from filinglake.sources import source_names

URI_SCHEME = "x-filinglake"


def clean_filings_name(source: str) -> str:
    """``clean.<source>.filings``: the stable identity consumers schedule on."""
    return f"clean.{source}.filings"


def clean_filings_uri(source: str) -> str:
    """``x-filinglake://clean/filings/source=<source>``: stable whatever the storage root."""
    return f"{URI_SCHEME}://clean/filings/source={source}"


def clean_filings_location(source: str, storage_root: str) -> str:
    """The physical prefix of the clean partitions of ``source`` under a storage root."""
    return f"{storage_root.rstrip('/')}/clean/filings/source={source}"


def clean_filings_asset(source: str) -> Asset:
    """The asset an ingest DAG updates each time it lands and validates a partition of ``source``."""
    if source not in source_names():
        raise ValueError(f"no clean asset for {source!r}; known sources: {', '.join(source_names())}")
    return Asset(name=clean_filings_name(source), uri=clean_filings_uri(source), group="filinglake")


#: every registered source's clean asset, by source name
CLEAN_ASSETS: dict[str, Asset] = {source: clean_filings_asset(source) for source in source_names()}
#: "any source landed something": the publish DAG's schedule
ANY_CLEAN_FILINGS = AssetAny(*CLEAN_ASSETS.values())
