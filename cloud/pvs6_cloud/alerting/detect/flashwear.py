"""The PVS6's flash chip wearing out: one warning, with the days left at the pace seen, before the PVS6 dies.

The varserver reports ``/sys/pvs/flashwear_type_b``, the eMMC chip's own estimate of how much of its rated write
life is used, in steps of 10 % (LocalAPI's variable list; pypvs shows it as a percentage). A worn-out chip takes
the PVS6 down with it, and nothing else warns before that. A fixed threshold alone would speak either too late
(a chip wearing fast) or years too early (one ageing slowly), so the rule keeps the moment each new step was
first seen (detector memory ``levels``) and judges the pace:

- The pace needs two climbs: the time between two step changes is exactly one step of wear. One climb says
  nothing (the chip may have sat just below the step when the Pi started watching).
- ``pvs_flash_wear`` opens when the wear-out date at that pace is within `HORIZON_DAYS`, or when the chip has
  used `HIGH_PCT` or more of its life whatever the pace. The estimate is ``(100 - wear) / pace`` from the last
  climb: LocalAPI reads code 0x05 as "50 % passed", the earlier of the two readings of the eMMC standard.
- The owner hears once: the finding is informative (``quiet_resolve``: no daily reminder) and stays while the
  wear stands, since wear never goes back (a lower reading from the same PVS6 is a glitch and is ignored). A
  PVS6 with another serial is another chip: the record starts again and the alert resolves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["HIGH_PCT", "HORIZON_DAYS", "KINDS", "findings", "step", "wear_out"]

KINDS = ("pvs_flash_wear",)
HORIZON_DAYS = 365.0  # warn when the flash would be worn out within this many days at the pace seen [d]
HIGH_PCT = 90.0  # warn at this wear whatever the pace [% of rated life]
LEVELS_KEPT = 12
ADVICE = ("Nothing breaks yet, and your panels keep producing. The PVS6 is the small grey box that reports your "
          "panels; when its memory chip wears out it stops working and must be replaced. Ask your installer or a solar "
          "service company about a replacement PVS6 before then, and mention this email.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("levels", [])
    mem.setdefault("active", {})
    return mem


def wear_out(levels: list[list[Any]]) -> tuple[datetime, float] | None:
    """When the flash reaches 100 % at the pace of the recorded climbs, and that pace [% per day]; None without
    two climbs (``levels`` is ``[[first_seen_iso, pct], ...]``, rising)."""
    if len(levels) < 3:
        return None
    (first_at, first_pct), (last_at, last_pct) = levels[1], levels[-1]
    days = (datetime.fromisoformat(last_at) - datetime.fromisoformat(first_at)).total_seconds() / 86400.0
    if days <= 0 or last_pct <= first_pct:
        return None
    pace = (last_pct - first_pct) / days
    return datetime.fromisoformat(last_at) + timedelta(days=(100.0 - last_pct) / pace), pace


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Record a new wear step; open or keep the warning when the wear-out date is near."""
    mem = _memory(mem)
    pvs = frame.snapshot.pvs
    pct = pvs.flash_wear_pct if pvs is not None else None
    if pct is None:
        return set()
    levels: list[list[Any]] = mem["levels"]
    if levels and frame.at < datetime.fromisoformat(levels[-1][0]):
        return set(KINDS)  # a late, older reading says nothing about the chip today
    serial = pvs.serial if pvs is not None else ""
    if levels and serial and mem.get("serial") and serial != mem["serial"]:
        levels.clear()  # another chip: a replaced PVS6
        mem["active"] = {}
    mem["serial"] = serial or mem.get("serial", "")
    if levels and pct < levels[-1][1]:
        return set(KINDS)  # wear never goes back on one chip: a glitch, not news
    if not levels or pct > levels[-1][1]:
        levels.append([frame.at.isoformat(), pct])
        del levels[:-LEVELS_KEPT]
    estimate = wear_out(levels)
    near = estimate is not None and (estimate[0] - frame.at).total_seconds() / 86400.0 <= HORIZON_DAYS
    if near or pct >= HIGH_PCT or mem["active"]:
        mem["active"] = {"pct": pct, "at": frame.at.isoformat(), "serial": serial,
                         "worn_at": estimate[0].isoformat() if estimate else None,
                         "pace_pct_per_day": round(estimate[1], 4) if estimate else None,
                         "since": levels[0][0]}
    return set(KINDS)


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """The flash-wear warning, if the wear is high or its pace is fast."""
    rec = _memory(mem)["active"]
    if not rec:
        return []
    at = datetime.fromisoformat(rec["at"])
    details = (f"On {ctx.local(at, with_day=True)} the PVS6 reported that its memory chip has used {rec['pct']:.0f} % "
               "of its expected life (memory chips wear out with every write).")
    if rec["worn_at"]:
        worn = datetime.fromisoformat(rec["worn_at"])
        days = max(0, round((worn - at).total_seconds() / 86400.0))
        pace_days = 10.0 / rec["pace_pct_per_day"]
        details += (f" At the pace seen since {ctx.local_date(datetime.fromisoformat(rec['since']))} (about "
                    f"{pace_days:.0f} days for each 10 %), it would be worn out in about {days} days, around "
                    f"{ctx.local_date(worn)}.")
        summary = f"The PVS6's memory chip is wearing out: about {days} days left"
    else:
        details += " The Pi has not yet watched it long enough to tell how fast it wears."
        summary = f"The PVS6's memory chip has used {rec['pct']:.0f} % of its life"
    return [Finding("pvs_flash_wear", rec.get("serial", ""), summary, details, ADVICE,
                    {**rec, "quiet_resolve": True})]
