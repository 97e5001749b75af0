"""How ingest tasks react to the library's errors: an Airflow 3.3 ``ExceptionRetryPolicy`` (evaluated in the worker).

| exception (``filinglake.errors``)        | decision                                                    |
|------------------------------------------|-------------------------------------------------------------|
| ``Blocked(retry_after)``                 | retry after ``retry_after`` seconds (SEC's block lasts ~10 min) |
| ``NotYetPublished``                      | retry after ``not_yet_published_delay`` (1 hour), doubling per try up to ``not_yet_published_max_delay`` (12 hours) |
| ``BadResponse``, ``ConfigError``, ``UndeclaredUserAgent``, ``ValueError`` | fail now: retrying cannot fix them (:data:`FAIL_FAST_RULES`) |
| anything else (``HttpError``, timeouts…) | the task's own ``retries``/``retry_delay``                  |

Only the two delays that depend on the failure itself (the block window the source announced, the
try number) are code; the fail-fast exceptions are declarative ``RetryRule`` s, serialised with the
DAG like any ``ExceptionRetryPolicy``. A RETRY decision never exceeds the task's ``retries``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryDecision, RetryRule

#: errors retrying cannot fix (ConfigError is a ValueError; ValueError also covers a malformed ``partition`` param)
FAIL_FAST_RULES = [
    RetryRule(
        exception=[
            "filinglake.errors.BadResponse",
            "filinglake.config.ConfigError",
            "filinglake.http.UndeclaredUserAgent",
            "builtins.ValueError",
        ],
        action=RetryAction.FAIL,
        reason="retrying cannot fix this (bad response, configuration or input)",
    ),
]


class IngestRetryPolicy(ExceptionRetryPolicy):
    """Retry when waiting helps (throttled, not posted yet), fail at once when it cannot."""

    def __init__(
        self,
        not_yet_published_delay: timedelta = timedelta(hours=1),
        min_block_delay: timedelta = timedelta(seconds=1),
        not_yet_published_max_delay: timedelta = timedelta(hours=12),
    ):
        super().__init__(rules=list(FAIL_FAST_RULES))
        self.not_yet_published_delay = not_yet_published_delay
        self.min_block_delay = min_block_delay
        # Doubling: a late index is usually minutes late (first retries soon), a holiday is only
        # known once SEC posts the next business day (a day or more later).
        self.not_yet_published_max_delay = max(not_yet_published_max_delay, not_yet_published_delay)

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        from filinglake.errors import Blocked, NotYetPublished

        if isinstance(exception, Blocked):
            delay = max(timedelta(seconds=exception.retry_after), self.min_block_delay)
            return RetryDecision.retry(delay, f"source throttled us; staying away for {delay.total_seconds():.0f} s")
        if isinstance(exception, NotYetPublished):
            delay = min(self.not_yet_published_delay * 2 ** max(try_number - 1, 0), self.not_yet_published_max_delay)
            return RetryDecision.retry(delay, f"index not posted yet; trying again in {delay}")
        return super().evaluate(exception, try_number, max_tries, context)

    def serialize(self) -> dict[str, Any]:
        # Only the worker evaluates policies; the scheduler stores a has_retry_policy flag.
        return {
            **super().serialize(),
            "__type": "IngestRetryPolicy",
            "not_yet_published_delay": self.not_yet_published_delay.total_seconds(),
            "min_block_delay": self.min_block_delay.total_seconds(),
            "not_yet_published_max_delay": self.not_yet_published_max_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> IngestRetryPolicy:
        return cls(
            not_yet_published_delay=timedelta(seconds=data["not_yet_published_delay"]),
            min_block_delay=timedelta(seconds=data["min_block_delay"]),
            not_yet_published_max_delay=timedelta(seconds=data.get("not_yet_published_max_delay", 12 * 3600)),
        )
