"""Alerts: the watchlist, matching published rows against it, the alert records and document capture.

Reads published rows; never imports ``ingest`` or Airflow.
"""
