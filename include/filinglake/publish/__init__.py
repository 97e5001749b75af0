"""Publish: committed partitions → the Delta tables analysts query (filings, issuers, daily_counts, category_counts,
securities, issuer_links).

One module per published table — ``filings`` (fold + merge, one row per key), ``issuers``,
``daily_counts``, ``category_counts``, ``securities``, ``links`` (``issuer_links``) — and ``categories`` (form_type → readable categories, through
each source's lists), ``run`` (one publish, in order), ``ledger`` (what was published),
``clean_layer`` (what publish reads), ``delta`` (Delta plumbing, the DuckDB session, commit retries),
``references`` (issuer reference lists). Reads what ``ingest`` committed, through
:mod:`filinglake.manifests`; never imports ``ingest``, ``alerts``, the CLI or Airflow.
"""
