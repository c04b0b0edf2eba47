"""What the stateless Cloud Function must remember between calls, and how it fits in a spreadsheet tab.

The function keeps no disk of its own, so this lives in the hidden ``_state`` tab (or ``_state.csv`` locally)
and is written in the same atomic commit as the rows it describes: the rows and the memory of having written
them can never disagree, which is what makes a retried upload harmless.

Modules that need memory of their own (detection, weather cache, watchdog, mail queue, health) keep it in
``SiteState.sections[<their name>]`` as plain JSON data and own its shape; this module only stores it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["STATE_TAB", "DeviceRecord", "SiteState", "state_from_rows", "state_to_rows"]

STATE_TAB = "_state"
STATE_HEADER = ("key", "part", "value")
# Google Sheets refuses cells over 50,000 characters; stay well below.
_CHUNK_CHARS = 40_000
_RISKY_STARTS = frozenset("=+-@'\t\r")
# How many snapshot ids to remember for duplicate detection. The edge sends oldest first, so anything older than
# the high-water mark and not remembered here is a genuine backfill, not a retry.
RECENT_IDS_KEPT = 3000


@dataclass(slots=True)
class DeviceRecord:
    """One row of the Devices tab: what we know of a device across all snapshots."""

    serial: str
    device_type: str
    model: str = ""
    first_seen: str = ""
    last_seen: str = ""
    last_state: str = ""
    lifetime_kwh: float | None = None
    last_measured_at: str = ""
    # Microinverters read "error" every night: what the last daylight reading said, and whether the newest one
    # was such a dark one (the Devices tab then says "asleep (night)" instead of "error").
    daylight_state: str = ""
    asleep: bool = False


@dataclass(slots=True)
class SiteState:
    """The function's memory for one site. Times are ISO-8601 UTC strings so the JSON stays plain."""

    high_water_at: str = ""
    recent_ids: dict[str, str] = field(default_factory=dict)
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    panel_order: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    last_heartbeat_at: str = ""
    last_edge_status: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)

    def seen(self, snapshot_id: str) -> bool:
        """True when this snapshot id was already written."""
        return snapshot_id in self.recent_ids

    def remember(self, snapshot_id: str, captured_at: datetime) -> None:
        """Record a written snapshot and move the high-water mark; forget the oldest ids beyond the bound."""
        stamp = captured_at.isoformat()
        self.recent_ids[snapshot_id] = stamp
        if not self.high_water_at or stamp > self.high_water_at:
            self.high_water_at = stamp
        if len(self.recent_ids) > RECENT_IDS_KEPT:
            for old in sorted(self.recent_ids, key=self.recent_ids.__getitem__)[: -RECENT_IDS_KEPT]:
                del self.recent_ids[old]

    def section(self, name: str) -> dict[str, Any]:
        """The mutable memory of one module (created empty on first use)."""
        return self.sections.setdefault(name, {})

    def to_json(self) -> str:
        """Compact JSON of the whole state."""
        data = asdict(self)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SiteState:
        """Inverse of `to_json`; unknown keys from newer versions are ignored, missing ones get defaults."""
        data = json.loads(text) if text else {}
        devices = {k: DeviceRecord(**v) for k, v in data.get("devices", {}).items()}
        known = {f for f in cls.__dataclass_fields__ if f != "devices"}
        return cls(devices=devices, **{k: v for k, v in data.items() if k in known})


def state_to_rows(state: SiteState) -> list[list[str]]:
    """The state as ``_state`` tab rows (header first), the JSON split into cells a spreadsheet accepts."""
    text = state.to_json()
    chunks, start = [], 0
    while start < len(text):
        end = min(start + _CHUNK_CHARS, len(text))
        # A cell that starts like a formula (or a quote) would be neutralised by a sink: cut a little earlier.
        while end < len(text) and text[end] in _RISKY_STARTS and end > start + 1:
            end -= 1
        chunks.append(text[start:end])
        start = end
    return [list(STATE_HEADER)] + [["state", str(i), chunk] for i, chunk in enumerate(chunks or [""])]


def state_from_rows(rows: Iterable[Sequence[Any]]) -> SiteState:
    """Rebuild the state from ``_state`` tab rows; an empty tab is a fresh site."""
    parts: list[tuple[int, str]] = []
    for row in rows:
        if len(row) < 3 or row[0] != "state":
            continue
        parts.append((int(row[1]), str(row[2])))
    return SiteState.from_json("".join(chunk for _, chunk in sorted(parts)))
