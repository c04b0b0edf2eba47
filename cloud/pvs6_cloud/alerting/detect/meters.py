"""Meter readings that cannot be true: a reversed production CT, or production where there can be none.

A production CT clamped on backwards reads the array's output as negative: the bill is fine, but every number in
the sheet (and the monthly email) is wrong. Judged only while the panels themselves report production, so a
meter's small negative standby draw at dusk never counts. Production above twice the array's AC capacity, or at
night, is equally impossible (a CT on the wrong wire or a scale factor error). The day's energy of the panels
against the meter's (`energy`, ``energy_mismatch``) is judged here too, in its own memory section.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.detect import energy
from pvs6_cloud.alerting.detect.common import Context, Frame, judged_step, persist, setting
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("meter_reversed", "meter_impossible", *energy.KINDS)
PERSIST_MIN = 30.0
ADVICE_REVERSED = ("Ask your installer to turn the production current transformer (the clamp around the solar "
                   "wire in the PVS6 or panel) around. Until then the monitor's production numbers are wrong; "
                   "the panels themselves are fine.")
ADVICE_IMPOSSIBLE = ("The production meter's numbers cannot be right. Ask your installer to check the production "
                     "current transformers and the PVS6 meter settings.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("cond", {})
    mem.setdefault("ev", {})
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Judge the production meter against the panels and the sun."""
    mem = _memory(mem)
    reconciled = energy.step(frame, mem.setdefault("energy", {}), ctx)
    meter = frame.snapshot.production_meter
    if meter is None or meter.power_kw is None:
        return reconciled
    cfg = ctx.config
    array = ctx.site.array
    panels_kw = sum(frame.power_kw.values())
    step_min = judged_step(mem, frame.at)
    clear_min = setting(cfg, "clear_persist_min")
    judged = reconciled
    reversed_bad: bool | None = None
    if frame.daylight and panels_kw >= max(0.2, 0.05 * array.dc_kw):
        reversed_bad = meter.power_kw <= -max(setting(cfg, "reversed_min_kw"), 0.3 * panels_kw)
    elif meter.power_kw >= 0 and panels_kw > 0.1:
        reversed_bad = False
    if reversed_bad is not None:
        judged.add("meter_reversed")
    persist(mem["cond"], "meter_reversed", reversed_bad, frame.at, step_min, PERSIST_MIN, clear_min)
    capacity_kw = max(array.panels, len(frame.known)) * array.inverter_ac_w / 1000.0
    night = frame.elevation_deg is not None and frame.elevation_deg < -6
    too_high = meter.power_kw > 2.0 * capacity_kw + 0.5
    at_night = night and meter.power_kw > max(0.2, 0.05 * array.dc_kw)
    impossible = too_high or at_night
    persist(mem["cond"], "meter_impossible", impossible, frame.at, step_min, PERSIST_MIN, clear_min)
    judged.add("meter_impossible")
    if reversed_bad or impossible:
        mem["ev"] = {"at": frame.at.isoformat(), "meter_kw": meter.power_kw, "panels_kw": round(panels_kw, 3),
                     "serial": meter.serial, "night": at_night, "capacity_kw": capacity_kw}
    return judged


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """Active meter findings."""
    mem = _memory(mem)
    ev = mem["ev"]
    out = energy.findings(mem.setdefault("energy", {}), ctx)
    rec = mem["cond"].get("meter_reversed")
    if rec and rec["active"] and ev:
        at = datetime.fromisoformat(ev["at"])
        out.append(Finding(
            "meter_reversed", ev["serial"], "The production meter reads backwards",
            f"At {ctx.local(at, with_day=True)} the panels reported {ev['panels_kw']:.2f} kW of production but the "
            f"production meter read {ev['meter_kw']:.2f} kW (negative). This has lasted about {rec['bad']:.0f} "
            "minutes of daylight.", ADVICE_REVERSED, dict(ev)))
    rec = mem["cond"].get("meter_impossible")
    if rec and rec["active"] and ev:
        at = datetime.fromisoformat(ev["at"])
        why = ("at night (sun well below the horizon)" if ev["night"]
               else f"more than twice what the panels can make ({ev['capacity_kw']:.1f} kW)")
        out.append(Finding(
            "meter_impossible", ev["serial"], "The production meter shows impossible numbers",
            f"At {ctx.local(at, with_day=True)} it read {ev['meter_kw']:.2f} kW of production {why}.",
            ADVICE_IMPOSSIBLE, dict(ev)))
    return out
