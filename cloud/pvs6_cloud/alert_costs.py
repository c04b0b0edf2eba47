"""Charge each open production alert with the energy it loses, reading by reading, and learn a normal day.

Called by `alerting.evaluate_batch` after the lifecycle has judged a reading, so a backlog is charged exactly as
the same readings arriving one by one. The arithmetic is `pvs6_cloud.loss`; this module only reads the reading
as the rules see it (`detect.common.build_frame`) and writes the results into the state: the site's normal day in
``state.section("loss")`` (``{"_last": ISO, "day": {...}}``) and each alert's charge through `lifecycle.add_loss`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pvs6_parse.models import Snapshot

from .config import DetectionConfig, SiteConfig
from .enrich import Enrichment
from .lifecycle import add_loss, open_alerts
from .loss import PRODUCTION_KINDS, lost_now, note_day
from .state import SiteState

__all__ = ["SECTION", "charge_reading", "covered_serials"]

SECTION = "loss"


def covered_serials(kind: str, device: str, site: SiteConfig) -> list[str]:
    """The panels an alert is about: its own serial, or its circuit's (configured by name, or learned: "a,b,c")."""
    if kind == "circuit_down":
        return list(site.array.circuits.get(device) or [s for s in device.split(",") if s])
    return [device] if device else []


def charge_reading(state: SiteState, snapshot: Snapshot, enrichment: Enrichment, detect_memory: dict[str, Any],
                   site: SiteConfig, config: DetectionConfig) -> bool:
    """Add one reading to the normal day and to every open production alert; True when the Alerts tab should be
    rewritten to show a new Lost (kWh) figure.

    Parameters
    ----------
    state : SiteState
        Sections ``"loss"`` and ``"alerts"`` are updated.
    snapshot, enrichment : the reading and what the sun and weather allowed.
    detect_memory : dict
        The detector's memory (for the list of known panels), read only.
    site, config : the site and the detection thresholds.
    """
    from .detect.common import GAP_CAP_MIN, Context, build_frame
    from .detect.devices import known_serials

    ctx = Context(site, config)
    frame = build_frame(snapshot, enrichment, known_serials(dict(detect_memory.get("devices") or {}), ctx), ctx)
    mem = state.section(SECTION)
    step_h = _step_h(mem, frame.at, GAP_CAP_MIN)
    if step_h <= 0:
        return False
    if frame.daylight:
        array_kw = enrichment.expected_kw if enrichment.expected_kw is not None else enrichment.clearsky_kw
        note_day(mem.setdefault("day", {}), frame.at.astimezone(site.tz).date(), frame.reference_kw, array_kw,
                 step_h)
    rewrite = False
    for key, record in sorted(open_alerts(state).items()):
        if record["kind"] not in PRODUCTION_KINDS:
            continue
        serials = covered_serials(record["kind"], record["device"], site)
        now = lost_now(record["kind"], serials, frame)
        if now is None:
            continue
        lost_kw, normal_kw, rough = now
        rewrite |= add_loss(state, key, lost_kw, normal_kw, rough=rough, step_h=step_h, panels=len(serials))
    return rewrite


def _step_h(mem: dict[str, Any], at: datetime, cap_min: float) -> float:
    """Hours this reading stands for (since the previous one, capped like the rules' persistence) [h]."""
    last = mem.get("_last")
    if last and datetime.fromisoformat(last) >= at:
        return 0.0
    mem["_last"] = at.isoformat()
    if not last:
        return 0.0
    return min(cap_min, (at - datetime.fromisoformat(last)).total_seconds() / 60.0) / 60.0
