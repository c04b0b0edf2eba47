"""A panel that keeps producing less than its peers, day after sunny day (the user's own test: under 80 %).

Only *sunny* readings count (the producing panels make at least ``sunny_ratio`` of what a clear sky allows, or
nearly the best this roof made at the same sun position lately: `clearday`, for a roof unlike its config), and only
panels that are up (a dead panel is the liveness rule's business). Per site-local day and panel the rule
sums the panel's power and the reference (median of producing panels; of its own plane's, where the config
describes the roof's planes and their panels) over those readings; a day counts once it
has ``sunny_minutes_per_day`` of sunny readings. A panel is weak when its ratio was below ``weak_ratio`` on each
of the last ``weak_days`` counted days (today included as soon as it counts), and recovers when the latest
counted day is back above ``weak_ratio`` + 5 points. One cloudy week therefore delays the verdict, never fakes it.

Where the panel has a learned normal (`normal`: an east face in the afternoon, a panel the tree shades), the day
must also be under ``weak_ratio`` of what that normal says, so a panel that is merely placed differently never
turns "weak" (and one that did while its normal was still being learned recovers as soon as its latest counted
day is back at its normal); nothing is summed while a snow hold is on. Only readings where the normal is steady
count for that second test: at a shadow's edge (a bin where the panel is sometimes dark) the learned share is a
blend of shade and sun, and a weak panel in full sun there would look as good as its normal. Those readings must
carry a quarter of what the panel itself made that day for the second test to speak.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pvs6_cloud.alerting.detect import clearday
from pvs6_cloud.alerting.detect.common import Context, Frame, judged_step, setting
from pvs6_cloud.alerting.detect.normal import MAX_DARK_FRACTION
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("inverter_weak",)
DAYS_KEPT = 14
RECOVER_MARGIN = 0.05
ADVICE = ("Look at the panel from the ground: dirt, bird droppings, a leaf or new shade (a growing tree) are the "
          "usual causes. If it is clean and unshaded, tell your installer: a failing microinverter or panel is "
          "a warranty claim, and this email (the figures above and the chart) is your evidence.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("days", {})
    mem.setdefault("active", {})
    mem.setdefault("clear", {})
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Add a sunny reading to today's sums and re-decide which panels are weak."""
    mem = _memory(mem)
    cfg = ctx.config
    today = ctx.local_date(frame.at)
    days: dict[str, Any] = mem["days"]
    if frame.daylight:
        step_min = judged_step(mem, frame.at)
        ref = frame.reference_kw
        sunny = clearday.sunny(frame, mem["clear"], ctx)
        if ref is not None and sunny and step_min > 0 and not frame.snow_hold:
            day = days.setdefault(today, {"sunny_min": 0.0, "ref": {}, "kw": {}})
            day["sunny_min"] += step_min
            own_kw, own_exp = day.setdefault("okw", {}), day.setdefault("oexp", {})
            for serial in frame.known:
                power, peer_kw = frame.power_kw.get(serial), frame.ref_for(serial)  # its plane's, when configured
                if power is None or peer_kw is None or power < cfg.dead_ratio * peer_kw:
                    continue
                day["ref"][serial] = day["ref"].get(serial, 0.0) + peer_kw * step_min
                day["kw"][serial] = day["kw"].get(serial, 0.0) + power * step_min
                own = frame.normal.get(serial)
                if own is not None and own.share >= 0.3 and own.dark <= MAX_DARK_FRACTION:  # not a shadow's edge
                    own_kw[serial] = round(own_kw.get(serial, 0.0) + power * step_min, 4)
                    own_exp[serial] = round(own_exp.get(serial, 0.0) + own.expected_kw * step_min, 4)
    for old in sorted(days)[:-DAYS_KEPT]:
        del days[old]
    counted = [d for d in sorted(days) if days[d]["sunny_min"] >= setting(cfg, "sunny_minutes_per_day")
               and (date.fromisoformat(today) - date.fromisoformat(d)).days < DAYS_KEPT]
    if not counted:
        return set()
    serials = {s for d in counted for s in days[d]["ref"]}
    for serial in serials:
        ratios = [_ratio(days[d], serial) for d in counted]
        ratios = [r for r in ratios if r is not None]
        if not ratios:
            continue
        recent = ratios[-cfg.weak_days:]
        own = [_own_ratio(days[d], serial) for d in counted][-len(recent):]
        below_own = all(r is None or r < cfg.weak_ratio for r in own)
        if len(recent) >= cfg.weak_days and all(r < cfg.weak_ratio for r in recent) and below_own:
            mem["active"].setdefault(serial, {"since_day": counted[-len(recent)]})
            mem["active"][serial]["ratios"] = [round(r, 3) for r in recent]
            mem["active"][serial]["days"] = counted[-len(recent):]
        elif serial in mem["active"] and (ratios[-1] >= cfg.weak_ratio + RECOVER_MARGIN
                                          or (own[-1] or 0.0) >= cfg.weak_ratio + RECOVER_MARGIN):
            del mem["active"][serial]
    return set(KINDS)


def _own_ratio(day: dict[str, Any], serial: str) -> float | None:
    """What the panel made over what its learned normal says it makes (None when not learned that day).

    The normal must have judged readings that carry at least a quarter of what the panel made that day (compared
    with its own output, not its peers': a small west face makes a third of the peers' all day, and is as well
    covered as any)."""
    expected = day.get("oexp", {}).get(serial, 0.0)
    if expected <= 0 or day["okw"].get(serial, 0.0) < 0.25 * day["kw"].get(serial, 0.0):
        return None
    return day["okw"][serial] / expected


def _ratio(day: dict[str, Any], serial: str) -> float | None:
    ref = day["ref"].get(serial, 0.0)
    if ref <= 0 or day["ref"][serial] < 0.25 * max(day["ref"].values()):
        return None
    return day["kw"].get(serial, 0.0) / ref


def findings(mem: dict[str, Any], ctx: Context, chart: Any) -> list[Finding]:
    """Weak panels (a dead panel's readings are left out of the sums, so it never turns weak by dying)."""
    out = []
    for serial, rec in sorted(_memory(mem)["active"].items()):
        pct = ", ".join(f"{_day_words(d)}: {r:.0%}" for d, r in zip(rec["days"], rec["ratios"], strict=True))
        mean = sum(rec["ratios"]) / len(rec["ratios"])
        details = (f"On each of the last {len(rec['ratios'])} sunny days it made less than "
                   f"{ctx.config.weak_ratio:.0%} of what the other panels made (per day: {pct}; the other "
                   f"panels = 100%). Average: {mean:.0%}.")
        out.append(Finding("inverter_weak", serial,
                           f"{ctx.panel_words(serial)} makes only about {mean:.0%} of its neighbours' output",
                           details, ADVICE, {"ratios": rec["ratios"], "days": rec["days"], "chart": chart([serial])}))
    return out


def _day_words(iso_day: str) -> str:
    """A day as the rest of the email writes it ("Tue 10 Jun")."""
    day = date.fromisoformat(iso_day)
    return f"{day:%a} {day.day} {day:%b}"
