"""Registers filinglake's custom timetable with Airflow, so the scheduler can deserialise the DAGs using it.

The only ``AirflowPlugin`` in ``plugins/`` (``filinglake_airflow/`` is a library, see ``.airflowignore``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from filinglake_airflow.timetables import (
    LocalCronDataIntervalTimetable,
    LocalCronTriggerTimetable,
    MarketDayTimetable,
)


class FilinglakeTimetablesPlugin(AirflowPlugin):
    name = "filinglake_timetables"
    timetables = [MarketDayTimetable, LocalCronTriggerTimetable, LocalCronDataIntervalTimetable]
