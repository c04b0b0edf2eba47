"""Whole-array rules that peer comparison cannot see: the array dark in daylight, and output far below the weather.

``array_down``: every panel at zero (and the production meter near zero) while the sun is up. Snow can do the
same on a clear day, so the rule needs evidence that the sun really reaches the panels: either the weather says
so (``expected_kw`` at least a quarter of clear-sky), or the array went dark *suddenly*: its last producing
reading today was bright (at least ``sunny_ratio`` of clear-sky). Snow arrives under a grey sky, a tripped main
breaker or a power cut at any time.

``below_expected``: over a site-local day, production under ``below_expected_ratio`` of what the weather allowed,
for ``below_expected_days`` days in a row. Runs only when the weather service gave ``expected_kw``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, judged_step, persist, setting, weather_expected_kw
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("array_down", "below_expected")
DAYS_KEPT = 10
WEATHER_SUNNY = 0.25  # expected / clear-sky above this = the weather lets the sun through [unitless]
ADVICE_ARRAY = ("Check the solar breaker(s) in your electrical panel and the outdoor solar disconnect switch, if "
                "you have one. If everything is on and the panels are clear of snow, call your installer.")
ADVICE_BELOW = ("If there is snow, dirt or new shade on the panels, that is the likely reason. Otherwise compare "
                "with your neighbours' systems if you can, and tell your installer: the numbers are your evidence.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("dark", {})
    mem.setdefault("bright", {})
    mem.setdefault("days", {})
    mem.setdefault("below", {})
    return mem


def _dark(frame: Frame, ctx: Context) -> bool:
    meter = frame.snapshot.production_meter
    meter_kw = meter.power_kw if meter is not None and meter.power_kw is not None else 0.0
    return not frame.producing and abs(meter_kw) < max(0.05, 0.02 * ctx.site.array.dc_kw)


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Advance the dark-array and below-expected memories with one reading."""
    mem = _memory(mem)
    cfg = ctx.config
    judged: set[str] = set()
    today = ctx.local_date(frame.at)
    clear_kw = frame.clearsky_panel_kw(ctx)
    typical = frame.typical_kw
    if frame.producing and typical is not None:
        bright = clear_kw > 0 and typical >= setting(cfg, "sunny_ratio") * clear_kw
        mem["bright"] = {"date": today, "bright": bright, "at": frame.at.isoformat()}
    if frame.daylight and frame.known and clear_kw * len(frame.known) >= 0.1 * ctx.site.array.dc_kw:
        step_min = judged_step(mem, frame.at)
        expected_kw, clearsky_kw = weather_expected_kw(frame.enrichment), frame.enrichment.clearsky_kw
        weather_sunny = bool(expected_kw is not None and clearsky_kw and expected_kw >= WEATHER_SUNNY * clearsky_kw)
        sudden = mem["bright"].get("date") == today and mem["bright"].get("bright")
        if not _dark(frame, ctx):
            bad: bool | None = False
        elif weather_sunny or sudden:
            bad = True
        else:
            bad = None
        persist(mem["dark"], "array", bad, frame.at, step_min, cfg.array_zero_persist_min,
                setting(cfg, "clear_persist_min"))
        judged.add("array_down")
    judged |= _below_expected(frame, mem, ctx, today)
    return judged


def _below_expected(frame: Frame, mem: dict[str, Any], ctx: Context, today: str) -> set[str]:
    cfg = ctx.config
    expected_kw = weather_expected_kw(frame.enrichment)
    production = frame.snapshot.production_kw
    days = mem["days"]
    if frame.daylight and expected_kw is not None and production is not None:
        last = mem.get("_below_last")
        mem["_below_last"] = frame.at.isoformat()
        step_h = 0.0 if not last else min(20.0, (frame.at - datetime.fromisoformat(last)).total_seconds() / 60) / 60
        day = days.setdefault(today, {"actual_kwh": 0.0, "expected_kwh": 0.0})
        day["actual_kwh"] += max(0.0, production) * step_h
        day["expected_kwh"] += max(0.0, expected_kw) * step_h
    for old in sorted(days)[:-DAYS_KEPT]:
        del days[old]
    need_kwh = 0.5 * ctx.site.array.dc_kw
    counted = [d for d in sorted(days) if days[d]["expected_kwh"] >= need_kwh]
    if not counted:
        return set()
    recent = counted[-cfg.below_expected_days:]
    consecutive = len(recent) == cfg.below_expected_days and (
        date.fromisoformat(recent[-1]) - date.fromisoformat(recent[0])).days == len(recent) - 1
    ratios = [days[d]["actual_kwh"] / days[d]["expected_kwh"] for d in recent]
    if consecutive and all(r < cfg.below_expected_ratio for r in ratios):
        mem["below"] = {"days": recent, "ratios": [round(r, 3) for r in ratios],
                        "actual": [round(days[d]["actual_kwh"], 2) for d in recent],
                        "expected": [round(days[d]["expected_kwh"], 2) for d in recent]}
    elif mem["below"] and ratios[-1] >= 1.5 * cfg.below_expected_ratio:
        mem["below"] = {}
    return {"below_expected"}


def findings(mem: dict[str, Any], ctx: Context, chart: Any) -> list[Finding]:
    """Active whole-array findings."""
    mem = _memory(mem)
    out = []
    rec = mem["dark"].get("array")
    if rec and rec["active"]:
        since = datetime.fromisoformat(rec["since"])
        details = (f"None of the panels has produced since about {ctx.local(since, with_day=True)} "
                   f"({rec['bad']:.0f} minutes of daylight so far), although the sun is up and the sky let "
                   "it through.")
        out.append(Finding("array_down", "", "Your solar panels produce nothing at all", details, ADVICE_ARRAY,
                           {"since": rec["since"], "chart": chart([])}))
    below = mem["below"]
    if below:
        per_day = "; ".join(f"{d[5:]}: {a:.1f} kWh of {e:.1f} kWh expected ({r:.0%})"
                            for d, a, e, r in zip(below["days"], below["actual"], below["expected"], below["ratios"],
                                                  strict=True))
        out.append(Finding("below_expected", "", "Solar production far below what the weather allowed",
                           f"For {len(below['days'])} days in a row the system made less than "
                           f"{ctx.config.below_expected_ratio:.0%} of what the weather allowed ({per_day}).",
                           ADVICE_BELOW, dict(below)))
    return out
