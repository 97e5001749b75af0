"""Alerts: the watchlist, matching published rows against it, the alert records and document capture.

``watchlist`` reads and checks the YAML file; ``matching`` evaluates it on rows (pyarrow, vectorised);
``record`` writes ``published/alerts`` (each alert once) and knows which ``filings`` versions were
evaluated; ``presentation`` hands alerts on as JSON and readable titles; ``documents`` captures the
document of a new alert. Reads published rows; never imports ``ingest`` or Airflow.
"""
