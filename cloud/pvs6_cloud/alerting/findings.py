"""What the rules report and the lifecycle tells: a `Finding`, a `ResolvedAlert`, and each kind's title in words.

These are the words shared by every stage of alerting, so they sit below all of them: the rules (`detect`, the
watchdog) produce Findings, the lifecycle (`lifecycle`) opens and resolves alerts from them, and the mail
(`notify.compose`) and the Alerts tab render them, titled by `KIND_TITLES`. Nothing here imports a stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.loss import Loss

__all__ = ["KIND_TITLES", "Finding", "ResolvedAlert"]

# Each kind's title as the email heads it and the Alerts tab's Kind column shows it.
KIND_TITLES = {
    "inverter_down": "Panel stopped producing",
    "inverter_weak": "Panel producing less than its neighbours",
    "inverter_intermittent": "Panel keeps dropping out",
    "inverter_missing": "Panel no longer reported",
    "counter_stuck": "Panel's energy counter stopped",
    "device_new": "New device appeared",
    "circuit_down": "A whole circuit produces nothing",
    "array_down": "The whole array produces nothing",
    "below_expected": "Production far below what the weather allowed",
    "pvs_comm_errors": "Monitor reports many communication errors",
    "pvs_reboots": "Monitor keeps restarting",
    "pvs_flash_low": "Monitor storage nearly full",
    "pvs_flash_filling": "Monitor storage filling up",
    "pvs_flash_wear": "Monitor's memory chip wearing out",
    "pvs_unreachable": "Monitor not answering the Raspberry Pi",
    "meter_reversed": "Production meter reads backwards",
    "meter_impossible": "Impossible meter reading",
    "energy_mismatch": "Panels and production meter disagree",
    "edge_silent": "Raspberry Pi has gone silent",
    "monitor_blind": "Monitor has lost sight of the panels",
    "firmware_changed": "Monitor's firmware was updated",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a rule sees now.

    Attributes
    ----------
    kind : str
        Stable id of the rule, e.g. ``"inverter_down"``, ``"edge_silent"``, ``"pvs_unreachable"``.
    device : str
        Serial, or ``""`` for site-wide.
    summary : str
        One line in plain words ("Panel E00123456789 (circuit 1, panel 3) stopped producing").
    details : str
        The evidence: numbers and local times.
    advice : str
        What to do ("call your installer; microinverters are under warranty").
    evidence : mapping
        Machine-readable evidence (JSON-ready); ``evidence["chart"]`` holds the day's per-panel series for the
        email's chart when the rule has it; ``evidence["quiet_resolve"]`` = True: its resolution is recorded in
        the tab but mailed to nobody, and it never reminds (informative events such as a new device).
    at, started_at : datetime or None
        Set by the lifecycle when the alert opens: the reading that raised it and when the problem began
        [aware]; rules leave them None.
    loss : Loss or None
        Set by the lifecycle for the mail: what a production alert has cost so far; rules leave it None.
    """

    kind: str
    device: str
    summary: str
    details: str
    advice: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    started_at: datetime | None = None
    loss: Loss | None = None

    @property
    def key(self) -> str:
        """Identity of the alert this finding belongs to."""
        return f"{self.kind}:{self.device}"


@dataclass(frozen=True, slots=True)
class ResolvedAlert:
    """An alert that cleared: what it was, and the data times it opened and cleared (and began, when known)."""

    key: str
    kind: str
    device: str
    summary: str
    opened_at: datetime
    alert_id: str
    resolved_at: datetime | None = None  # None: now
    started_at: datetime | None = None
    loss: Loss | None = None  # what it cost while open (production alerts)
