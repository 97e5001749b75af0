"""Exceptions with messages meant for people: the CLI prints them as one line, DAG tasks fail with them."""

from __future__ import annotations


class FilinglakeError(Exception):
    """Base class for expected failures (bad input, bad response, bad configuration)."""


class InputError(FilinglakeError):
    """What the user gave is wrong (an option, a setting, a stock code): running it again fails the same way."""


class BadResponse(FilinglakeError):
    """A response is not what it claims to be (HTML instead of an index, truncated gzip, wrong JSON shape).

    Nothing is written for the partition; retrying will not help until the source changes.
    """


class NotYetPublished(FilinglakeError):
    """The file for a recent period is not posted yet: retry later, do not record the period as empty."""


class Blocked(FilinglakeError):
    """The source throttled us (SEC's 403 block page, HTTP 429, a challenge page).

    ``retry_after`` is how many seconds to stay away from the host.
    """

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class HttpError(FilinglakeError):
    """An HTTP request failed after all retries, or with a status that retrying cannot fix."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class IncompleteFetch(FilinglakeError):
    """Rows collected differ from the total the source announced: never land a partial partition."""
