"""The wall clock, behind a tiny interface so tests can move time (a week in milliseconds, jumps back).

The edge uses wall time (unix seconds, UTC) for everything it persists: the Pi may reboot between runs, so a
monotonic clock would not survive, and every persisted time is checked for clock jumps where it is used.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["EARLIEST_PLAUSIBLE_TS", "Clock", "SystemClock", "iso_utc", "stamp_utc"]

# 2025-01-01T00:00:00Z: no Pi runs this program earlier. A Pi has no battery clock; before network time it may
# say 1970 and a reading stamped then would be misdated, sorted first and dropped as 55 years old.
EARLIEST_PLAUSIBLE_TS = 1_735_689_600.0


class Clock(Protocol):
    """Anything with ``time() -> float`` (unix seconds) and ``monotonic() -> float`` (seconds)."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def iso_utc(ts: float) -> str:
    """ISO-8601 UTC with a ``Z`` and whole seconds, e.g. ``2025-09-12T21:11:15Z`` (ts in [s])."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_utc(ts: float) -> str:
    """File-name stamp, e.g. ``20250912T211115Z`` (ts in [s]); sorts like time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")
