"""The wall clock, behind a tiny interface so tests can move time (a week in milliseconds, jumps back).

The edge uses wall time (unix seconds, UTC) for everything it persists: the Pi may reboot between runs, so a
monotonic clock would not survive, and every persisted time is checked for clock jumps where it is used.
Because the wall clock itself can be wrong (a bad NTP source, a wrong manual date, a Pi without a real-time
clock booting with a stale time), deletions by age only trust it as far as the cloud's ``Date`` header
vouches for it (``judge_clock``, rules below).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

__all__ = ["CLOCK_SKEW_LIMIT_S", "CLOCK_VOUCH_S", "EARLIEST_PLAUSIBLE_TS", "Clock", "ClockVerdict", "SystemClock",
           "describe_span", "iso_utc", "judge_clock", "offset_from_date", "skew_warning", "stamp_utc"]

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


# --- Is the wall clock right? (the cloud's Date header is the judge) -----------------------------------------
#
# Deleting by age (spool_max_age_days, archive_retention_days) is irreversible, so the edge only judges ages
# against a time the cloud has vouched for. Every answer of the ingest (200, 401, 4xx, 5xx) carries an HTTP
# ``Date``; after each request the edge stores ``clock_offset_s = cloud time - local time`` and when it was
# measured (local time). The rules, in order:
#
# 1. Last measured |offset| > CLOCK_SKEW_LIMIT_S (600 s, twice the cloud's 300 s signature window, well above
#    the Date header's 1 s resolution plus network delay): the clock is *off*. Nothing is deleted by age, a
#    warning goes to the status and heartbeat. Size caps still apply: they protect the SD card.
# 2. A measurement within CLOCK_VOUCH_S (6 h, local) before now: ages are judged against the local clock. A
#    jump smaller than that window could delete at most 6 h early against 90/365-day limits.
# 3. An older measurement (the Pi was off, the cloud unreachable, or the clock jumped since): ages are judged
#    against the cloud's time at that measurement plus CLOCK_VOUCH_S, never later, until a new answer vouches
#    for more (the runner asks with a heartbeat before it uploads). A clock that moved back since gives an
#    earlier time, which only deletes less.
# 4. No measurement yet (new install, cloud never reached): the local clock is believed, as before, unless it
#    is more than CLOCK_BACKWARDS_LIMIT_S (1 day) earlier than the newest stored reading: a clock that went
#    back (a Pi without a real-time clock booted with a stale time) is *off* too.


CLOCK_SKEW_LIMIT_S = 600.0
CLOCK_VOUCH_S = 6 * 3600.0
CLOCK_BACKWARDS_LIMIT_S = 86400.0


class ClockVerdict(NamedTuple):
    """What the edge may believe about its wall clock right now (a NamedTuple: cheap to define at start-up).

    Attributes
    ----------
    age_now : float or None
        The time [unix s] ages are judged against for deletion; None while the clock is off (delete nothing
        by age).
    problem : str or None
        A warning for the status and heartbeat while the clock is off, else None.
    confirmed : bool
        True when a measurement taken within CLOCK_VOUCH_S vouches for the local clock (rule 1 or 2); False
        when a new answer from the cloud could let more be judged (rules 3 and 4).
    """

    age_now: float | None
    problem: str | None
    confirmed: bool


def judge_clock(now: float, offset_s: float | None, measured_at: float | None,
                newest_item_ts: Callable[[], float | None]) -> ClockVerdict:
    """Apply the rules above.

    Parameters
    ----------
    now : float
        Local wall time [unix s].
    offset_s : float or None
        Last measured cloud time minus local time [s]; None when never measured.
    measured_at : float or None
        Local time of that measurement [unix s].
    newest_item_ts : callable
        Returns the newest stored reading's capture time [unix s] or None; called only without a measurement.

    Returns
    -------
    ClockVerdict
        Time to judge ages against, the warning, and whether the clock is confirmed.
    """
    if offset_s is None or measured_at is None:
        newest = newest_item_ts()
        if newest is not None and newest - now > CLOCK_BACKWARDS_LIMIT_S:
            problem = (f"the Pi's clock says {iso_utc(now)}, {describe_span(newest - now)} before the newest "
                       f"stored reading ({iso_utc(newest)}): check time sync (timedatectl); nothing is deleted "
                       f"by age until the cloud confirms the time")
            return ClockVerdict(None, problem, False)
        return ClockVerdict(now, None, False)
    if abs(offset_s) > CLOCK_SKEW_LIMIT_S:
        return ClockVerdict(None, skew_warning(offset_s), True)
    elapsed_s = now - measured_at
    if -CLOCK_SKEW_LIMIT_S <= elapsed_s <= CLOCK_VOUCH_S:
        return ClockVerdict(now, None, True)
    return ClockVerdict(min(now, measured_at + offset_s + CLOCK_VOUCH_S), None, False)


def skew_warning(offset_s: float) -> str:
    """The warning shown while the clock is off by ``offset_s`` [s] (cloud minus local)."""
    side = "ahead" if offset_s < 0 else "behind"
    return (f"the Pi's clock is off by about {describe_span(offset_s)} compared with the cloud (it runs {side}): "
            f"check time sync (timedatectl); nothing is deleted by age until it is fixed")


def describe_span(seconds: float) -> str:
    """A duration for people: ``about N hours`` style, e.g. ``9600 hours (400 days)`` [s in]."""
    seconds = abs(seconds)
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    hours = f"{seconds / 3600:.0f} hours"
    return hours if seconds < 2 * 86400 else f"{hours} ({seconds / 86400:.0f} days)"


def offset_from_date(date_header: str | None, local_ts: float) -> float | None:
    """Cloud time minus local time [s] from an HTTP ``Date`` header; None when absent or unreadable.

    The header has whole seconds, so the figure is good to about a second plus the network delay: plenty for
    a threshold of minutes.
    """
    if not date_header:
        return None
    from email.utils import parsedate_to_datetime  # stdlib but not needed by ``pvs6-edge status``: keep it lazy

    try:
        when = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - local_ts
