"""Which inverters the site has, the day's per-panel series for charts, and devices that newly appear.

``known`` (serial -> last seen, ISO UTC) is the denominator of every "most peers" test and the list the liveness
rule checks for absent panels; configured serials (``array.circuits`` / ``places``) are known from the start, so
a panel that is dead on day one is still missed. A serial first seen after the learning period (the first
``learning_hours`` of monitoring) is reported once as ``device_new`` (a replaced inverter, or someone else's
device): informative, it clears quietly after a week.

A newcomer while a panel has been missing for hours is its replacement: a PVS6 lists only the devices an
installer commissioned on it, so a serial that appears out of nowhere is, in practice, a swapped microinverter.
The missing serial leaves ``known`` at once (``replaced``: old -> new, kept a month), so its "no longer reported"
alert resolves instead of reminding the owner every day about a panel that was fixed; the newcomer's notice says
which panel it replaced. A configured serial is never taken as replaced: the config still names it.

The day series keeps one point per quarter hour per panel for the current site-local day only: enough for the
email's chart without reading the sheet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, setting
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "chart_for", "findings", "known_serials", "replaced", "step"]

KINDS = ("device_new",)
FORGET_AFTER = timedelta(days=30)
NEW_SHOWN_FOR = timedelta(days=7)
POINT_EVERY = timedelta(minutes=14)
GONE_FOR = timedelta(hours=2)  # a panel missing this long when a newcomer appears is the one it replaced


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("known", {})
    mem.setdefault("new", {})
    mem.setdefault("replaced", {})
    mem.setdefault("day", {"date": "", "times": [], "panels": {}})
    return mem


def known_serials(mem: dict[str, Any], ctx: Context) -> frozenset[str]:
    """Every inverter the site is known to have: seen recently, or named in the config."""
    configured = {s for serials in ctx.site.array.circuits.values() for s in serials} | set(ctx.site.array.places)
    return frozenset(_memory(mem)["known"]) | configured


def replaced(mem: dict[str, Any]) -> frozenset[str]:
    """Serials taken as replaced by a newcomer this past month: their panel alerts are over."""
    return frozenset(_memory(mem)["replaced"])


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Remember who reported, note newcomers, and add a chart point."""
    mem = _memory(mem)
    stamp = frame.at.isoformat()
    mem.setdefault("first_at", stamp)
    learning = frame.at - datetime.fromisoformat(mem["first_at"]) < timedelta(hours=setting(ctx.config,
                                                                                             "learning_hours"))
    configured = known_serials({}, ctx)
    newcomers = []
    for serial in sorted(frame.present):
        if serial not in mem["known"] and not learning and serial not in configured:
            mem["new"][serial] = stamp
            newcomers.append(serial)
        mem["known"][serial] = max(mem["known"].get(serial, ""), stamp)
    _pair_replacements(newcomers, frame, mem, configured)
    for serial, last in list(mem["known"].items()):
        if frame.at - datetime.fromisoformat(last) > FORGET_AFTER:
            del mem["known"][serial]
    for serial, first in list(mem["new"].items()):
        if frame.at - datetime.fromisoformat(first) > NEW_SHOWN_FOR:
            del mem["new"][serial]
    for serial, swap in list(mem["replaced"].items()):
        if frame.at - datetime.fromisoformat(swap["at"]) > FORGET_AFTER:
            del mem["replaced"][serial]
    _add_point(frame, mem["day"], ctx)
    return set(KINDS)


def _pair_replacements(newcomers: list[str], frame: Frame, mem: dict[str, Any], configured: frozenset[str]) -> None:
    """Each newcomer replaces the panel missing longest (if any has been missing `GONE_FOR`)."""
    if not newcomers:
        return
    missing = sorted((last, serial) for serial, last in mem["known"].items()
                     if serial not in frame.present and serial not in configured
                     and frame.at - datetime.fromisoformat(last) >= GONE_FOR)
    for new, (_, old) in zip(newcomers, missing, strict=False):
        mem["replaced"][old] = {"by": new, "at": frame.at.isoformat()}
        del mem["known"][old]


def _add_point(frame: Frame, day: dict[str, Any], ctx: Context) -> None:
    today = ctx.local_date(frame.at)
    if day["date"] != today:
        day.update(date=today, times=[], panels={})
    if frame.elevation_deg is not None and frame.elevation_deg < -3:
        return
    if day["times"] and frame.at - datetime.fromisoformat(day["times"][-1]) < POINT_EVERY:
        return
    n = len(day["times"])
    for serial in frame.known:
        day["panels"].setdefault(serial, [None] * n)
    for serial, values in day["panels"].items():
        values.append(round(frame.power_kw[serial], 4) if serial in frame.present else None)
    day["times"].append(frame.at.isoformat())


def chart_for(mem: dict[str, Any], ctx: Context, focus: list[str]) -> dict[str, Any] | None:
    """Chart data for the email: today's series with ``focus`` highlighted (None when there is nothing yet)."""
    day = _memory(mem)["day"]
    if len(day["times"]) < 2:
        return None
    labels = {s: ctx.site.array.places.get(s) or f"panel …{s[-6:]}" for s in focus}
    return {"times": list(day["times"]), "panels": {s: list(v) for s, v in day["panels"].items()},
            "focus": list(focus), "labels": labels}


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """One ``device_new`` finding per newcomer of the past week."""
    out = []
    mem = _memory(mem)
    took = {swap["by"]: old for old, swap in mem["replaced"].items()}
    for serial, first in sorted(mem["new"].items()):
        at = datetime.fromisoformat(first)
        instead = (f" It takes the place of inverter {took[serial]}, missing since before then: that panel's "
                   "alert is closed.") if serial in took else ""
        out.append(Finding(
            "device_new", serial, f"A new panel inverter appeared: {serial}",
            f"The monitor reported inverter {serial} for the first time on {ctx.local(at, with_day=True)}.{instead}",
            "If an inverter was just replaced, nothing to do (and a good moment to note its place in the "
            "config). Otherwise tell your installer: the monitor may be picking up a neighbour's system.",
            {"first_seen": first, "quiet_resolve": True},
        ))
    return out
