"""The monitor is blind: the production meter shows the panels producing, but the PVS6 has lost sight of them.

Owners see it after the PVS6's nightly restart (pvs-hass#17, ha-esunpower#39, pypvs#42): the PVS6 lists no
inverters at all, or repeats the same inverter readings, or readings hours old, while its own production meter
(or the varserver's ``livedata``, which the parser turns into a meter when the meter variables are missing)
shows the system producing. Every per-panel rule is then silent, because a rule that compares panels needs
panels to compare: a panel that dies now would go unnoticed. So this is an alert of its own, ``monitor_blind``.

A reading is *blind* when the meter shows at least `min_meter_kw` with the sun up and the inverters the PVS6
lists add up to under `BLIND_SHARE` of it (none listed, all stale, or all unchanged since the previous reading).
It is *seeing* when they add up to at least `SEEING_SHARE` of the meter and changed since the last reading. The
same persistence as every rule: `BLIND_PERSIST_MIN` of blind readings to open, 30 minutes of seeing ones to
clear. Staleness is measured against the meter's own measurement time, so a Pi whose clock is off does not make
every panel look stale. Without a production meter or livedata nothing is judged (nothing says the panels
produce).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, judged_step, persist, setting
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("monitor_blind",)
BLIND_SHARE = 0.2  # panels listed add up to under this share of the meter = blind [unitless]
SEEING_SHARE = 0.5  # ... at least this share, and changing = seeing again [unitless]
BLIND_PERSIST_MIN = 30.0  # judged minutes of blindness before the alert opens [min]
MIN_METER_SHARE = 0.025  # the meter must show this share of the array's DC rating (and 0.1 kW) [unitless]
ADVICE = ("Your electricity is not affected: the panels are producing. The PVS6 often finds its panels again by "
          "itself, at the latest after its nightly restart, so this may clear by tomorrow. If it lasts into a "
          "second day, switch the PVS6's breaker in your electrical panel (it may be labelled PVS, SunPower or "
          "monitoring) off for a minute and on again; the PVS6 takes about 10 minutes to come back. If that does "
          "not help, ask your installer to look at the PVS6.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("rec", {})
    mem.setdefault("ev", {})
    mem.setdefault("sig", {})
    return mem


def _signature(frame: Frame) -> list[Any]:
    """What the PVS6 said of its inverters, to notice a reading repeated unchanged."""
    return sorted([inv.serial, inv.power_kw, inv.lifetime_kwh, inv.measured_at.isoformat() if inv.measured_at
                   else None] for inv in frame.present.values())


def _seen_kw(frame: Frame, stale_min: float) -> tuple[float, float | None]:
    """Power of the listed inverters whose measurement is fresh against the meter's clock [kW], and the
    youngest measurement's age [min] (None when no inverter says when it measured)."""
    meter = frame.snapshot.production_meter
    now = meter.measured_at if meter is not None and meter.measured_at is not None else frame.at
    total, youngest = 0.0, None
    for inv in frame.present.values():
        age = None if inv.measured_at is None else (now - inv.measured_at).total_seconds() / 60.0
        if age is not None:
            youngest = age if youngest is None else min(youngest, age)
        if age is None or age <= stale_min:
            total += max(0.0, inv.power_kw or 0.0)
    return total, youngest


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Advance the blind-monitor memory with one reading; return the kinds judged."""
    mem = _memory(mem)
    meter = frame.snapshot.production_meter
    signature = _signature(frame)
    previous = mem["sig"]
    unchanged = bool(signature) and previous.get("values") == signature
    if not unchanged:
        mem["sig"] = {"values": signature, "since": frame.at.isoformat()}
    if meter is None or meter.power_kw is None:
        return set()
    meter_kw = meter.power_kw
    min_meter_kw = max(0.1, MIN_METER_SHARE * ctx.site.array.dc_kw)
    sun_up = frame.elevation_deg is not None and frame.elevation_deg > 0
    if not sun_up or meter_kw < min_meter_kw:
        return set(KINDS)  # nothing to judge by, and nothing changes: an open alert stays open overnight
    seen_kw, youngest_min = _seen_kw(frame, ctx.config.stale_measurement_min)
    if not frame.present or unchanged or seen_kw < BLIND_SHARE * meter_kw:
        bad: bool | None = True
        mem["ev"] = {"at": frame.at.isoformat(), "meter_kw": round(meter_kw, 3), "seen_kw": round(seen_kw, 3),
                     "listed": len(frame.present), "known": len(frame.known), "unchanged": unchanged,
                     "unchanged_since": mem["sig"].get("since") if unchanged else None,
                     "youngest_min": None if youngest_min is None else round(youngest_min)}
    elif seen_kw >= SEEING_SHARE * meter_kw:
        bad = False
        mem["seeing_at"] = frame.at.isoformat()
    else:
        bad = None
    step_min = judged_step(mem, frame.at)
    today = ctx.local_date(frame.at)
    if mem.get("day") != today:
        # The day's first judged reading stands for nothing: at sunrise the inverters report in one by one.
        mem["day"], step_min = today, 0.0
    open_min = float(getattr(ctx.config, "blind_persist_min", BLIND_PERSIST_MIN))
    persist(mem["rec"], "pvs", bad, frame.at, step_min, open_min, setting(ctx.config, "clear_persist_min"))
    return set(KINDS)


def _what_it_saw(ev: dict[str, Any], ctx: Context) -> str:
    if not ev.get("listed"):
        panels = f"any of your {ev['known']} panels" if ev.get("known") else "any panel"
        return f"the PVS6 did not list {panels}"
    if ev.get("unchanged") and ev.get("unchanged_since"):
        since = ctx.local(datetime.fromisoformat(ev["unchanged_since"]), with_day=True)
        return f"the PVS6 has repeated the very same panel readings since {since}"
    words = f"the {ev['listed']} panels the PVS6 lists add up to only {ev['seen_kw'] * 1000:.0f} W"
    if ev.get("youngest_min") is not None and ev["youngest_min"] > ctx.config.stale_measurement_min:
        words += f" (their newest measurement is {ev['youngest_min']:.0f} minutes old)"
    return words


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """The active blind-monitor finding, if any."""
    mem = _memory(mem)
    rec = mem["rec"].get("pvs")
    if not rec or not rec["active"]:
        return []
    ev = mem["ev"]
    at = datetime.fromisoformat(ev["at"])
    since = datetime.fromisoformat(rec["since"])
    parts = [f"At {ctx.local(at, with_day=True)} your production meter showed {ev['meter_kw']:.2f} kW, but "
             f"{_what_it_saw(ev, ctx)}.",
             "Panel faults cannot be detected until the PVS6 sees its panels again: a panel that stopped now "
             "would go unnoticed.",
             f"It has been like this since about {ctx.local(since, with_day=True)} "
             f"({rec['bad']:.0f} minutes of daylight so far)."]
    if mem.get("seeing_at"):
        parts.append(f"It last saw its panels at {ctx.local(datetime.fromisoformat(mem['seeing_at']), with_day=True)}.")
    evidence = {"since": rec["since"], **ev, "seeing_at": mem.get("seeing_at")}
    return [Finding("monitor_blind", "", "Your panels are producing but the PVS6 has lost sight of them",
                    " ".join(parts), ADVICE, evidence)]
