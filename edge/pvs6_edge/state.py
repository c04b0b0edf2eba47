"""What one run must remember for the next: last poll, last contact, upload backoff, unreported problems.

Kept as one small JSON file beside the spool, written atomically. A missing or unreadable state file is never
fatal: the edge starts fresh (logging why), because losing a backoff timer is harmless while refusing to run
would lose data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pvs6_edge.fsio import atomic_write

__all__ = ["EdgeState", "load_state", "save_state"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EdgeState:
    """Persisted run state; times are unix seconds [s] (wall clock, checked for jumps where used)."""

    api: str | None = None
    last_poll_at: float | None = None
    last_pvs_contact_at: float | None = None
    last_pvs_error: str | None = None
    last_pvs_error_at: float | None = None
    pvs_failing_since: float | None = None
    storage_error: str | None = None
    storage_error_at: float | None = None
    last_upload_ok_at: float | None = None
    last_upload_error: str | None = None
    last_upload_error_at: float | None = None
    upload_failures: int = 0
    next_upload_at: float | None = None
    unreported_quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped_total: int = 0
    last_archive_prune_at: float | None = None
    clock_offset_s: float | None = None  # cloud time minus local time [s], from the ingest's Date header
    clock_offset_at: float | None = None  # local time of that measurement
    clock_problem: str | None = None  # warning while the clock is judged off (clock.judge_clock)
    clock_problem_since: float | None = None
    failing_items: dict[str, dict[str, Any]] = field(default_factory=dict)  # pvs6_edge.failing: held back


def load_state(path: Path) -> EdgeState:
    """Read the state file; a missing or damaged one gives a fresh state.

    Parameters
    ----------
    path : Path
        The state file.

    Returns
    -------
    EdgeState
        The remembered state.
    """
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return EdgeState()
    except (OSError, ValueError) as err:
        log.warning("state file %s is unreadable (%s); starting with a fresh state", path, err)
        return EdgeState()
    if not isinstance(raw, dict):
        log.warning("state file %s does not hold an object; starting with a fresh state", path)
        return EdgeState()
    known = {f.name for f in fields(EdgeState)}
    state = EdgeState()
    for key, value in raw.items():
        default = getattr(state, key, None)
        if key in known and not (isinstance(default, list | dict) and not isinstance(value, type(default))):
            setattr(state, key, value)  # a damaged list or mapping is left fresh, not handed to its user
    return state


def save_state(path: Path, state: EdgeState) -> None:
    """Write the state file atomically (raises ``StorageError`` when the disk refuses)."""
    atomic_write(path, json.dumps(asdict(state), indent=1, sort_keys=True).encode("utf-8"))
