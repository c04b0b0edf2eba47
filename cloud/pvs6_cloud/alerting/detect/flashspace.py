"""The PVS6's free storage falling steadily: one warning, with the days left at the pace seen, before it is full.

``pvs_flash_low`` (in `pvs`) speaks only once the free space is under ``flash_low_kb`` (or the use over
``flash_high_pct``): by then the PVS6 may already be short of room. This rule watches the trend instead:

- One number a day: the day's lowest free space (kB from ``dl_flash_avail``, else the free share from the
  varserver's ``/sys/info/flash_usage``), so the ups and downs within a day do not count. The last `DAYS_KEPT`
  days are kept (detector memory ``days``, two numbers each).
- The pace is the least-squares slope over those days. It counts only when at least `MIN_DAYS` days span at least
  `MIN_DAYS` - 1 days and the fall is steady: the slope is at least `STEADY_T` standard errors below zero, so
  a flat record that wobbles does not read as a trend.
- A rise of more than `RISE_SHARE` of the previous day's lowest (the PVS6 cleaned up, often after a restart)
  starts the record again: the pace before it no longer says when the storage fills.
- ``pvs_flash_filling`` opens when, at that pace, the free space reaches the ``pvs_flash_low`` threshold within
  `HORIZON_DAYS`. It is informative (``quiet_resolve``: one email, no daily reminder), its estimate follows the
  newest day, and it stays while the space still falls; it resolves quietly after a clean-up, when the pace
  slows to more than twice the horizon, or once the space is under the threshold (``pvs_flash_low`` then speaks).

The pace of `flashwear` is a different sum (two step changes of a 10 % code, no noise to fit), so the two
share no arithmetic.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["HORIZON_DAYS", "KINDS", "findings", "slope_per_day", "step"]

KINDS = ("pvs_flash_filling",)
HORIZON_DAYS = 60.0  # warn when the storage would be nearly full within this many days at the pace seen [d]
DAYS_KEPT = 30  # daily lowest readings the pace is fitted over [days]
MIN_DAYS = 7  # days of record before a pace is trusted [days]
STEADY_T = 3.0  # the fall must be this many standard errors below zero [-]
RISE_SHARE = 0.05  # a rise above the previous day's lowest by more than this share is a clean-up [-]
ADVICE = ("Nothing is lost yet. Restarting the PVS6 often frees space: switch the PVS6's breaker off for a minute, "
          "then on again. If the space keeps falling after that, ask your installer or a solar service company "
          "to look at it, and mention this email.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("days", [])
    mem.setdefault("active", {})
    return mem


def slope_per_day(days: list[list[Any]]) -> tuple[float, float, float] | None:
    """The least-squares line through ``[[iso_date, value], ...]``: (slope per day, its standard error, the line's
    value on the last day); None with fewer than three days or all on one date."""
    if len(days) < 3:
        return None
    first = date.fromisoformat(days[0][0])
    xs = [float((date.fromisoformat(d) - first).days) for d, _ in days]
    ys = [float(v) for _, v in days]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    level = my + slope * (xs[-1] - mx)
    ssr = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, math.sqrt(ssr / (n - 2) / sxx), level


def _free(frame: Frame, ctx: Context) -> tuple[str, float, float] | None:
    """(unit, free space, the threshold where ``pvs_flash_low`` speaks) from one reading."""
    pvs = frame.snapshot.pvs
    if pvs is None:
        return None
    if pvs.flash_avail_kb is not None:
        return "kB", float(pvs.flash_avail_kb), float(ctx.config.flash_low_kb)
    if pvs.flash_used_pct is not None:
        return "%", 100.0 - pvs.flash_used_pct, 100.0 - ctx.config.flash_high_pct
    return None


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Record the day's lowest free space; open, update or clear the warning from the pace over the kept days."""
    mem = _memory(mem)
    free = _free(frame, ctx)
    if free is None:
        return set()
    unit, value, threshold = free
    day = ctx.local_date(frame.at)
    days: list[list[Any]] = mem["days"]
    if days and day < days[-1][0]:
        return set(KINDS)  # a late, older reading says nothing about the storage today
    before = [d for d in days[-2:] if d[0] != day]  # the last earlier day: the ups and downs of today do not count
    if mem.get("unit") != unit or (before and value > before[-1][1] * (1.0 + RISE_SHARE) + 1e-9):
        days.clear()  # another kind of reading, or a clean-up: the old pace no longer holds
        mem["active"] = {}
    mem["unit"] = unit
    if days and days[-1][0] == day:
        days[-1][1] = min(days[-1][1], value)
    else:
        days.append([day, value])
        del days[:-DAYS_KEPT]
    fit = slope_per_day(days)
    span = (date.fromisoformat(days[-1][0]) - date.fromisoformat(days[0][0])).days
    left = None
    if fit is not None and len(days) >= MIN_DAYS and span >= MIN_DAYS - 1:
        slope, error, level = fit
        # Opening needs a steady fall; an open warning stays while the space still falls, so a wobble does not
        # close and reopen it (one email, not several).
        if slope < 0 and (mem["active"] or -slope >= STEADY_T * error):
            left = (min(level, days[-1][1]) - threshold) / -slope
    if left is None or left <= 0 or left > (2 if mem["active"] else 1) * HORIZON_DAYS:
        mem["active"] = {}
    else:
        mem["active"] = {"unit": unit, "free": days[-1][1], "threshold": threshold, "at": frame.at.isoformat(),
                         "since": days[0][0], "pace_per_day": round(-fit[0], 3), "days_left": round(left, 1)}
    return set(KINDS)


def _amount(value: float, unit: str) -> str:
    return f"{value / 1000:,.1f} MB" if unit == "kB" else f"{value:.1f} % of its storage"


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """The storage-filling warning, if the pace seen fills it within the horizon."""
    rec = _memory(mem)["active"]
    if not rec:
        return []
    at = datetime.fromisoformat(rec["at"])
    days = max(1, round(rec["days_left"]))
    full_on = ctx.local_date(at + timedelta(days=rec["days_left"]))
    since = date.fromisoformat(rec["since"])
    details = (f"The PVS6's free storage has been falling steadily since {since.isoformat()}, by about "
               f"{_amount(rec['pace_per_day'], rec['unit'])} a day; on {ctx.local(at, with_day=True)} it had "
               f"{_amount(rec['free'], rec['unit'])} free. At this pace it would be nearly full (under "
               f"{_amount(rec['threshold'], rec['unit'])} free) in about {days} days, around {full_on}.")
    summary = f"The PVS6's storage is filling up: nearly full in about {days} days"
    return [Finding("pvs_flash_filling", "", summary, details, ADVICE, {**rec, "quiet_resolve": True})]
