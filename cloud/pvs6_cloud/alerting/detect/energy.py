"""Energy reconciliation: the day's energy the panels report against what the production meter counted.

Each microinverter keeps a lifetime kWh counter, and so does the production meter (its current transformers
measure the same AC power where the array joins the house). Over a sunny day the sum of the panels' counters'
growth and the meter's growth agree within a few percent (wiring losses, rounding). A lasting gap means one of
them is wrong: panels missing from the PVS6's list or under-counting (their sum is low), or a production CT that
misses a circuit or has the wrong scale (the meter is low, the panels' sum high). No per-panel rule sees this:
a panel the PVS6 no longer lists, or one that reports a plausible power while its counter lags, looks normal
next to its peers.

Per site-local day the rule keeps each counter's first and last value (detector memory ``day``); when the next
day begins it closes the day. A day counts when the meter grew at least `MIN_DAY_KWH`; a counter that went
backwards (a replaced device, a reset) makes the day not count. ``energy_mismatch`` opens after `OPEN_DAYS`
counted days in a row with the panels' sum outside `OPEN_RATIO` of the meter, and clears after `CLEAR_DAYS`
counted days back within `CLEAR_RATIO`. Days that do not count (dull, no meter, or the panels adding up to under
`BLIND_SHARE` of the meter: the PVS6 lost sight of most of them, which ``monitor_blind`` reports) neither open nor
clear it.
"""

from __future__ import annotations

from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["CLEAR_DAYS", "CLEAR_RATIO", "KINDS", "MIN_DAY_KWH", "OPEN_DAYS", "OPEN_RATIO", "findings", "step"]

KINDS = ("energy_mismatch",)
MIN_DAY_KWH = 2.0  # a day counts when the production meter grew at least this much [kWh]
OPEN_RATIO = (0.85, 1.15)  # panels' sum / meter outside this range is a mismatch [unitless]
CLEAR_RATIO = (0.90, 1.10)  # ... and back inside this one is agreement again [unitless]
OPEN_DAYS = 3  # counted days in a row that open the alert
CLEAR_DAYS = 2  # counted days in a row that clear it
DAYS_KEPT = 14
BLIND_SHARE = 0.5  # panels adding up to under this share of the meter: the monitor was blind, the day not counted
BACKWARDS_KWH = 0.5  # a counter this much below its last value went backwards (reset, replaced device) [kWh]
ADVICE_LOW = ("Open the Devices tab of your sheet and look for a panel whose last report is old or whose energy "
              "stopped growing: the PVS6 may have lost it. If every panel reports, a panel may be counting wrong; "
              "ask your installer to check it. Your panels may be producing fine: this is about what is counted.")
ADVICE_HIGH = ("The panels report more than the production meter counts: the meter's clamp (CT) may miss a "
               "circuit or be set up wrong. Your bill is not affected, but the sheet's production figures are low. "
               "Ask your installer to check the production meter's clamps.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("day", {})
    mem.setdefault("days", [])
    mem.setdefault("active", {})
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Add one reading to its day's counters; close the previous day when a new one starts."""
    mem = _memory(mem)
    date = ctx.local_date(frame.at)
    day: dict[str, Any] = mem["day"]
    judged: set[str] = set()
    if day and date < day["date"]:
        return judged  # a late reading of a day already closed
    if day and date > day["date"]:
        if _close(day, mem):
            judged.add(KINDS[0])
        day = mem["day"] = {}
    if not day:
        day.update({"date": date, "meter": None, "panels": {}, "bad": False})
    meter = frame.snapshot.production_meter
    if meter is not None and meter.lifetime_net_kwh is not None:
        day["meter"] = _extend(day["meter"], meter.lifetime_net_kwh, day)
    for serial, inverter in frame.present.items():
        if inverter.lifetime_kwh is not None:
            day["panels"][serial] = _extend(day["panels"].get(serial), inverter.lifetime_kwh, day)
    return judged


def _extend(span: list[float] | None, value: float, day: dict[str, Any]) -> list[float]:
    """``[first, last]`` of a counter over the day; a counter going backwards spoils the day (a production meter's
    net counter may slip by its own standby draw at night, a few Wh: that is not backwards)."""
    if span is None:
        return [value, value]
    if value < span[1] - BACKWARDS_KWH:
        day["bad"] = True
    return [span[0], value]


def _close(day: dict[str, Any], mem: dict[str, Any]) -> bool:
    """Record a finished day and update the alert; True when the day counted."""
    meter = day["meter"]
    if day["bad"] or meter is None or meter[1] - meter[0] < MIN_DAY_KWH or not day["panels"]:
        return False
    meter_kwh = meter[1] - meter[0]
    panels_kwh = sum(last - first for first, last in day["panels"].values())
    if panels_kwh < BLIND_SHARE * meter_kwh:
        return False  # the PVS6 lost sight of most panels: monitor_blind's to say, not a panel's fault
    days: list[dict[str, Any]] = mem["days"]
    days.append({"date": day["date"], "meter_kwh": round(meter_kwh, 3), "panels_kwh": round(panels_kwh, 3),
                 "panels": len(day["panels"])})
    del days[:-DAYS_KEPT]
    ratios = [d["panels_kwh"] / d["meter_kwh"] for d in days]
    last_open = ratios[-OPEN_DAYS:]
    full = len(last_open) == OPEN_DAYS
    if full and (all(r < OPEN_RATIO[0] for r in last_open) or all(r > OPEN_RATIO[1] for r in last_open)):
        mem["active"] = {"days": days[-OPEN_DAYS:], "low": last_open[-1] < 1.0,
                         "most_panels": max(d["panels"] for d in days)}
    elif mem["active"] and len(ratios) >= CLEAR_DAYS and \
            all(CLEAR_RATIO[0] <= r <= CLEAR_RATIO[1] for r in ratios[-CLEAR_DAYS:]):
        mem["active"] = {}
    return True


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """The energy mismatch, while it lasts."""
    rec = _memory(mem)["active"]
    if not rec:
        return []
    days = rec["days"]
    panels = sum(d["panels_kwh"] for d in days) / len(days)
    meter = sum(d["meter_kwh"] for d in days) / len(days)
    share = 100.0 * panels / meter
    listed = days[-1]["panels"]
    details = (f"From {days[0]['date']} to {days[-1]['date']} your panels reported {panels:.1f} kWh a day in total, "
               f"while the production meter counted {meter:.1f} kWh ({share:.0f} %). They normally agree within a "
               "few percent.")
    if rec["low"] and listed < rec["most_panels"]:
        details += f" On {days[-1]['date']} the PVS6 listed {listed} panels; it has listed {rec['most_panels']}."
    if rec["low"]:
        summary = f"Your panels report only {share:.0f} % of the energy the meter counts"
    else:
        summary = f"Your panels report {share:.0f} % of the energy the production meter counts"
    return [Finding("energy_mismatch", "", summary, details, ADVICE_LOW if rec["low"] else ADVICE_HIGH,
                    {**rec, "share_pct": round(share, 1)})]
