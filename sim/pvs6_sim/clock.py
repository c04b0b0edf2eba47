"""Simulated time: either running (start + real elapsed x speed) or manual (set/advanced by a test).

The HTTP server asks the clock for "now" on every request; tests and the demo harness drive a manual
clock explicitly so that nothing depends on wall-clock timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .config import as_utc


class SimClock:
    """A thread-safe simulated clock.

    Parameters
    ----------
    start : datetime
        Simulated time at creation [aware UTC].
    speed : float, default 1.0
        Simulated seconds per real second [unitless]; 0 means manual mode (time only moves when
        `set` or `advance` is called).
    monotonic : callable, optional
        Source of real seconds, injectable for tests; defaults to `time.monotonic`.
    """

    def __init__(self, start: datetime, speed: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._anchor_sim = as_utc(start)
        self._anchor_real = monotonic()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        """Simulated seconds per real second; 0 = manual."""
        return self._speed

    @property
    def manual(self) -> bool:
        """True when time only moves on `set` / `advance`."""
        return self._speed == 0.0

    def now(self) -> datetime:
        """Return the current simulated time [aware UTC]."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        elapsed_s = (self._monotonic() - self._anchor_real) * self._speed
        return self._anchor_sim + timedelta(seconds=elapsed_s)

    def set(self, at: datetime, speed: float | None = None) -> datetime:
        """Jump to `at` (and optionally change the speed); returns the new now."""
        with self._lock:
            self._anchor_sim = as_utc(at)
            self._anchor_real = self._monotonic()
            if speed is not None:
                if speed < 0:
                    raise ValueError("speed must be >= 0")
                self._speed = float(speed)
            return self._anchor_sim

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by `seconds` [s]; returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._anchor_sim = self._now_locked() + timedelta(seconds=seconds)
            self._anchor_real = self._monotonic()
            return self._anchor_sim


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """Shorthand for an aware UTC datetime (handy in tests and the harness)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


__all__ = ["SimClock", "utc"]
