"""Which panels share a circuit: the configured map, else what the monitor learned, for the Devices tab.

Most owners never write a circuit map. The detector still tells a tripped breaker from dead microinverters: panels
that stop in the same reading while the others keep producing become one learned ``circuit_down`` alert
(`detect.inverters`). Each such alert is remembered here after it clears, as a learned circuit the owner can check
against the breaker labels and then write into the config, where the map wins. Learned circuits are lettered in
the order they were first seen ("circuit A (learned)"), so a letter never moves; a new group that shares a panel
with a known one is the same circuit seen more completely (a panel that was already down the first time), and
they merge under the older letter.

The memory is the state's ``"circuits"`` section: ``{"learned": [{"name", "serials", "first", "last", "since",
"times"}]}`` (``since``: when the last outage seen began, so one outage counts once), at most one entry per
two panels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pvs6_cloud.infra.config import ArrayConfig
from pvs6_cloud.store._sheets_cells import col_letters
from pvs6_cloud.store.state import SiteState

if TYPE_CHECKING:
    from pvs6_cloud.alerting.findings import Finding

__all__ = ["SECTION", "circuit_labels", "learn"]

SECTION = "circuits"


def learn(state: SiteState, findings: Iterable[Finding], at: datetime) -> bool:
    """Remember the panels of every learned circuit alert in ``findings``; True when the memory changed.

    Parameters
    ----------
    state : SiteState
        Holds the ``"circuits"`` section.
    findings : iterable of Finding
        The detector's active findings after one reading; only ``circuit_down`` ones with ``learned`` evidence
        count (a configured circuit is already known).
    at : datetime
        The reading's time [aware], recorded as when the circuit was last seen going down together.
    """
    learned: list[dict[str, Any]] = state.section(SECTION).setdefault("learned", [])
    changed = False
    for finding in findings:
        evidence = finding.evidence or {}
        if finding.kind != "circuit_down" or not evidence.get("learned"):
            continue
        serials = sorted(str(s) for s in evidence.get("serials", ()))
        since = str(evidence.get("since") or at.isoformat())
        overlapping = [c for c in learned if set(c["serials"]) & set(serials)]
        if len(serials) < 2 or any(c.get("since") == since for c in overlapping):
            continue  # not a group, or the same outage reported again by a later reading
        if overlapping:
            keep = overlapping[0]
            for other in overlapping[1:]:
                keep["serials"] = sorted({*keep["serials"], *other["serials"]})
                keep["times"] += other["times"]
                learned.remove(other)
            keep["serials"] = sorted({*keep["serials"], *serials})
            keep["times"] += 1
        else:
            used = {c["name"] for c in learned}
            # Lettered like spreadsheet columns: A to Z, then AA.
            keep = {"name": next(col_letters(i) for i in range(len(learned) + 1) if col_letters(i) not in used),
                    "serials": serials, "first": at.isoformat(), "times": 1}
            learned.append(keep)
        keep.update(since=since, last=at.isoformat())
        changed = True
    return changed


def _circuit_words(name: str) -> str:
    """"circuit 2" for a bare number or letter, else the configured name as it is."""
    return f"circuit {name}" if name.isdigit() or (name.isalpha() and name.isupper() and len(name) <= 2) else name


def circuit_labels(state: SiteState, array: ArrayConfig) -> Mapping[str, str]:
    """Serial -> the Devices tab's "Circuit" words: ``circuit 1 (configured)`` from the map, else ``circuit A
    (learned, seen 2 times)``; panels on neither are absent."""
    labels: dict[str, str] = {}
    for c in state.section(SECTION).get("learned", []):
        times = int(c.get("times", 1))
        seen = "" if times <= 1 else f", seen {times} times"
        for serial in c["serials"]:
            labels[serial] = f"{_circuit_words(c['name'])} (learned{seen})"
    for name, serials in array.circuits.items():
        for serial in serials:
            labels[serial] = f"{_circuit_words(name)} (configured)"
    return labels
