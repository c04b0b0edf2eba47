"""A panel that drops out for a short while, day after day: one ``inverter_intermittent`` alert, not flaps.

A loose connector or an overheating microinverter makes a panel stop for 30-45 minutes most afternoons and come
back by itself. Judged reading by reading, that is an ``inverter_down`` that opens and clears on some days (each
all-clear saying "nothing more to do") and nothing on others. This rule remembers the short drops instead: a
*drop* is a stretch of daylight readings in which the panel made under ``dead_ratio`` of its peers, ending with
the panel back the same day after `SHORT_MIN`-`SHORT_MAX` minutes. Drops on `OPEN_DAYS` of the last
`WINDOW_DAYS` days judged (the drop under way counting) open one alert, kept open while the pattern lasts,
until `CLEAR_DAYS` judged days pass without one. While it is open, the panel's own ``inverter_down`` is folded
into it until a drop outlasts `SHORT_MAX` (then the panel is really down, and says so).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "absorb", "findings", "step"]

KINDS = ("inverter_intermittent",)
SHORT_MIN = 10.0  # a drop shorter than this is one odd reading, not a drop [min]
SHORT_MAX = 150.0  # a drop longer than this is the panel being down, the liveness rule's business [min]
WINDOW_DAYS = 7  # days (with judged readings) the pattern looks back over [days]
OPEN_DAYS = 3  # days with a drop, within the window, that make a pattern [days]
CLEAR_DAYS = 4  # judged days in a row without a drop that end it [days]
ADVICE = ("A panel that drops out again and again and comes back by itself usually has a loose connector or an "
          "overheating microinverter, and it tends to get worse. Tell your installer and show them this email: "
          "microinverters are usually under a 25-year warranty.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    for key in ("ep", "drops", "active"):
        mem.setdefault(key, {})
    mem.setdefault("judged", [])  # site-local dates with judged readings, newest last
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Follow each panel's short drops and decide which panels drop out repeatedly."""
    mem = _memory(mem)
    ref = frame.reference_kw
    if not frame.daylight or ref is None:
        return set()
    today = ctx.local_date(frame.at)
    if not mem["judged"] or mem["judged"][-1] != today:
        mem["judged"] = [*mem["judged"], today][-WINDOW_DAYS:]
    dead_ratio = ctx.config.dead_ratio
    for serial in sorted(frame.known):
        if serial not in frame.present:
            continue
        power = frame.power_kw[serial]
        ref = frame.ref_for(serial)
        if ref is None:
            continue
        if power < dead_ratio * ref:
            mem["ep"].setdefault(serial, frame.at.isoformat())
        elif power >= 2.0 * dead_ratio * ref and serial in mem["ep"]:
            start = datetime.fromisoformat(mem["ep"].pop(serial))
            minutes = (frame.at - start).total_seconds() / 60.0
            if SHORT_MIN <= minutes <= SHORT_MAX and ctx.local_date(start) == today:
                mem["drops"].setdefault(serial, []).append({"start": start.isoformat(), "min": round(minutes)})
    window = set(mem["judged"])
    for serial in list(mem["drops"]):
        drops = [d for d in mem["drops"][serial] if ctx.local_date(datetime.fromisoformat(d["start"])) in window]
        if drops:
            mem["drops"][serial] = drops
        else:
            del mem["drops"][serial]
    recent = set(mem["judged"][-CLEAR_DAYS:])
    for serial, drops in mem["drops"].items():
        days = {ctx.local_date(datetime.fromisoformat(d["start"])) for d in drops}
        ongoing = mem["ep"].get(serial)
        if ongoing and ctx.local_date(datetime.fromisoformat(ongoing)) == today and (
                frame.at - datetime.fromisoformat(ongoing) <= timedelta(minutes=SHORT_MAX)):
            days.add(today)  # another drop under way: the pattern is plain before this one ends
        if len(days) >= OPEN_DAYS and serial not in mem["active"]:
            mem["active"][serial] = {"since": drops[0]["start"]}
    for serial in list(mem["active"]):
        days = {ctx.local_date(datetime.fromisoformat(d["start"])) for d in mem["drops"].get(serial, [])}
        if len(mem["judged"]) >= CLEAR_DAYS and not days & recent:
            del mem["active"][serial]
    return set(KINDS)


def _part_of_day(drops: list[dict[str, Any]], ctx: Context) -> str:
    hour = median(datetime.fromisoformat(d["start"]).astimezone(ctx.site.tz).hour for d in drops)
    return "mornings" if hour < 12 else ("afternoons" if hour < 17 else "evenings")


def findings(mem: dict[str, Any], ctx: Context, chart: Any) -> list[Finding]:
    """Panels that drop out repeatedly."""
    mem = _memory(mem)
    out = []
    for serial, rec in sorted(mem["active"].items()):
        drops = mem["drops"].get(serial, [])
        if not drops:
            continue
        days = sorted({ctx.local_date(datetime.fromisoformat(d["start"])) for d in drops})
        listed = ", ".join(f"{ctx.local(datetime.fromisoformat(d['start']), with_day=True)} for {d['min']} minutes"
                           for d in drops[-5:])
        details = (f"It stopped producing for a short while on {len(days)} of the last {len(mem['judged'])} days "
                   f"({listed}), each time coming back by itself while the other panels kept producing.")
        out.append(Finding("inverter_intermittent", serial,
                           f"{ctx.panel_words(serial)} drops out most {_part_of_day(drops, ctx)}", details, ADVICE,
                           {"since": rec["since"], "drops": drops[-10:], "chart": chart([serial])}))
    return out


def absorb(found: list[Finding], last_at: datetime | None) -> list[Finding]:
    """Fold a panel's short ``inverter_down`` into its open intermittent alert (a long one still stands alone)."""
    flaky = {f.device for f in found if f.kind == "inverter_intermittent"}
    if not flaky or last_at is None:
        return found
    out = []
    for f in found:
        if f.kind == "inverter_down" and f.device in flaky:
            try:
                since = datetime.fromisoformat(str(f.evidence.get("since")))
            except ValueError:
                since = None
            if since is not None and last_at - since <= timedelta(minutes=SHORT_MAX):
                continue
        out.append(f)
    return out
