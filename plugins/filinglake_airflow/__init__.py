"""Airflow-side code shared by the filinglake DAGs, so each DAG file stays a few lines.

The library (``include/filinglake``) never imports Airflow; this package is the only bridge:

- :mod:`filinglake_airflow.assets`     asset names and URIs (``clean.<source>.filings``), one place for every DAG
- :mod:`filinglake_airflow.partitions` which partition a DAG run ingests (pure functions, no Airflow)
- :mod:`filinglake_airflow.retry`      the retry policy: blocked/not-yet-published → retry later, bad data → fail
- :mod:`filinglake_airflow.credentials` Airflow connection → the environment variables the library reads
- :mod:`filinglake_airflow.ingest`     ``build_ingest_dag``: fetch_index → write_partition → validate_partition

Modules here import only ``airflow.sdk`` and the standard library at top level: DAG files are re-parsed
every 30 seconds, so pandas, pyarrow and Great Expectations are imported inside tasks only.
"""

from __future__ import annotations

#: Airflow pools, one per upstream host (slots = concurrent fetch tasks). The Makefile and
#: docker-compose create the same pools; the DAG tests check that every fetch task uses one of them.
POOLS: dict[str, int] = {"sec_edgar": 2, "cninfo": 1, "hkex": 1}

#: ``owner`` of every filinglake task (shown in the UI; the DAG tests require it).
OWNER = "filinglake"
