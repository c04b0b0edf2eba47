"""The failures the fake can answer with instead of a result: the write quota and injected errors.

The Sheets API limits writes per minute per user (its "Usage limits" page: 60 write requests per minute per user
per project by default) and answers a request past it with 429 ``RESOURCE_EXHAUSTED``; the window is kept on an
injectable clock (`FakeClock`) so a test reaches and leaves it without waiting a minute. Injected failures answer
403/404/500... for N matching requests or until cleared, optionally with ``Retry-After``, and optionally only
*after* the write was applied, which is how a lost acknowledgement looks to a client: the change is in the sheet,
the client saw an error and will retry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.sheets_fake.limits import ApiError


class FakeClock:
    """A clock tests advance by "sleeping": pass ``clock`` to the fake and ``clock.sleep`` to the client."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Failure:
    """One injected failure: what it answers, how many more times, and which requests it matches."""

    status: int
    remaining: int | None
    methods: tuple[str, ...] | None
    spreadsheet_id: str | None
    after_apply: bool
    retry_after: str | None
    message: str

    def reply(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON error body, headers) of the answer, ``Retry-After`` included when set."""
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return self.status, ApiError(self.status, self.message).body(), headers


def take_failure(failures: list[Failure], method: str, spreadsheet_id: str | None,
                 applied: bool) -> Failure | None:
    """The first failure matching this request, used up by one (removed when spent); the caller holds the lock."""
    for failure in failures:
        if failure.after_apply != applied:
            continue
        if failure.methods and method not in failure.methods:
            continue
        if failure.spreadsheet_id and failure.spreadsheet_id != spreadsheet_id:
            continue
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                failures.remove(failure)
        return failure
    return None


def count_write(writes: deque[float], clock: Callable[[], float], per_minute: int | None) -> None:
    """Record one write request in the sliding 60 s window, or refuse it with 429 when the window is full."""
    if per_minute is None:
        return
    now = clock()
    while writes and writes[0] <= now - 60.0:
        writes.popleft()
    if len(writes) >= per_minute:
        raise ApiError(429, "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
                            "minute per user' of service 'sheets.googleapis.com'.")
    writes.append(now)
