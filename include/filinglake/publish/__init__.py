"""Publish: committed partitions → the Delta tables analysts query (filings, issuers, daily_counts).

``run`` folds a batch and merges it; ``delta`` is the Delta Lake plumbing; ``references`` loads the
issuer reference lists. Reads what ``ingest`` committed; never imports ``ingest`` internals' writers,
``alerts`` or Airflow.
"""
