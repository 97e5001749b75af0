"""Test support: the Airflow ``dag.test()`` harness and helpers that land fixture partitions. Never imported by ``include/``."""
