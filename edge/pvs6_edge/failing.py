"""Readings the cloud keeps failing on while it takes others: retried a bounded time, then set aside.

A 5xx normally means "the cloud is down, retry later", and the edge waits, losing nothing. But a reading that
trips a fault in the cloud gets a 5xx every time it is sent, and everything spooled after it would wait behind it
until the age limit drops them. So when a batch gets a 5xx while the cloud takes a heartbeat alone, the uploader
splits the batch (as for a 4xx) and the reading that fails alone is remembered here. It is then sent alone in
later runs; only when it has failed alone in at least ``MAX_ATTEMPTS`` runs spread over at least ``MIN_SPAN_S``,
each time in a run where other readings went through, is it moved to ``quarantine/`` with its raw bytes kept
(and reported in the heartbeat). A run where no reading went through counts nothing: that is an outage, and an
outage still waits and retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pvs6_edge.clock import iso_utc

__all__ = ["MAX_ATTEMPTS", "MIN_SPAN_S", "FailingItems", "item_key"]

MAX_ATTEMPTS = 4  # runs in which the reading failed alone while others went through
MIN_SPAN_S = 3600.0  # from its first such failure to its last [s]: a brief cloud hiccup never quarantines


def item_key(path: str | Path) -> str:
    """The spool file's name without ``.gz``: stable when the spool compresses an older item."""
    return Path(path).name.removesuffix(".gz")


class FailingItems:
    """The remembered failures, keyed by :func:`item_key`, as plain JSON in the edge state.

    Parameters
    ----------
    records : dict
        The state's ``failing_items`` (mutated in place): key -> ``{"first_at", "last_at"`` [unix s],
        ``"attempts"``, ``"error"}``.
    """

    def __init__(self, records: dict[str, dict[str, Any]] | None = None) -> None:
        self.records = {} if records is None else records

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str | Path) and item_key(path) in self.records

    def failed(self, path: str | Path, error: str, now: float) -> bool:
        """Count one run in which the reading failed alone while others went through; True when it must go aside.

        Parameters
        ----------
        path : str or Path
            The spool file.
        error : str
            What the cloud answered.
        now : float
            Current time [unix s].
        """
        record = self.records.setdefault(item_key(path), {"first_at": now, "attempts": 0})
        record["attempts"] = int(record.get("attempts", 0)) + 1
        record["last_at"] = now
        record["error"] = error[:300]
        first_at = float(record.get("first_at", now))
        return record["attempts"] >= MAX_ATTEMPTS and now - first_at >= MIN_SPAN_S

    def describe(self, path: str | Path) -> str:
        """Why the reading was set aside, for its ``.reason`` file and the heartbeat."""
        record = self.records.get(item_key(path), {})
        return (f"the cloud failed on this reading alone in {record.get('attempts', 0)} runs since "
                f"{iso_utc(float(record.get('first_at', 0.0)))} while it took the others "
                f"(last: {record.get('error', '')}); set aside so it does not hold up later readings")

    def forget(self, path: str | Path) -> None:
        """The reading went through or left the spool."""
        self.records.pop(item_key(path), None)

    def keep_only(self, paths: Iterable[str | Path]) -> None:
        """Forget readings no longer in the spool (acknowledged, quarantined or dropped by the limits)."""
        present = {item_key(p) for p in paths}
        for key in [k for k in self.records if k not in present]:
            del self.records[key]

    def report(self) -> list[dict[str, Any]]:
        """For the status: each held-back reading, how often it failed, since when, the last answer."""
        return [{"name": key, "attempts": rec.get("attempts", 0),
                 "since": iso_utc(float(rec["first_at"])) if rec.get("first_at") is not None else None,
                 "error": rec.get("error")}
                for key, rec in sorted(self.records.items())]
