"""Airflow-side code shared by the filinglake DAGs, so each DAG file stays a few lines.

The library (``include/filinglake``) never imports Airflow; this package is the only bridge:

- :mod:`filinglake_airflow.assets`     asset names and URIs (``clean.<source>.filings``), one place for every DAG
- :mod:`filinglake_airflow.partitions` which partition a DAG run ingests (pure functions, no Airflow)
- :mod:`filinglake_airflow.retry`      the retry policy: blocked/not-yet-published → retry later, bad data → fail
- :mod:`filinglake_airflow.credentials` Airflow connection → the environment variables the library reads
- :mod:`filinglake_airflow.ingest`     ``build_ingest_dag``: fetch_index → write_partition → validate_partition
- :mod:`filinglake_airflow.publish`    the publish_filings tasks: events and params → partitions, the sweep, alerts
- :mod:`filinglake_airflow.notifier`   alerts out through the HTTP and SMTP providers' notifiers
- :mod:`filinglake_airflow.task_settings` the settings a task runs with (refuses a deployment without a storage root)

Modules here import only ``airflow.sdk``, the standard library and the library's light modules (the
source registry, errors) at top level: DAG files are re-parsed every 30 seconds, so pandas, pyarrow and
Great Expectations are imported inside tasks only.
"""

from __future__ import annotations

from filinglake.sources import all_sources

#: every pool a fetch task may use: each source names its own (``Source.pool``) and the build of an
#: ingest DAG puts its fetch task there; the pools themselves (slots, per-host rate) are declared once in
#: ``deploy/airflow/pools.json``, which ``make airflow``, docker-compose and the tests import.
POOLS: frozenset[str] = frozenset(source.pool for source in all_sources())

#: ``owner`` of every filinglake task (shown in the UI; the DAG tests require it).
OWNER = "filinglake"
