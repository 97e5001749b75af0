"""Ingest: one partition from a source's index to committed Parquet.

``landing`` fetches, archives the raw bytes, parses, runs the row checks (``row_checks``) and commits the
partition with its manifest; ``validation`` writes the validation record (Great Expectations) of the committed partition.
Imports ``sources`` and the foundations (config, errors, schema, http, storage); never ``publish``,
``alerts`` or Airflow.
"""
