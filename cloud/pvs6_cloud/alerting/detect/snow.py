"""Snow: after a snow day, panels that come back one by one are recovering, not failing.

Snow slides off a roof unevenly: one panel is clear at 9:40, its neighbour at 11:30, the one under the dormer
at 13:00. Against its peers each still-covered panel looks dead. So when snow is likely, panel alerts are *held*
until the array had a clear chance to recover.

Two kinds of evidence start a hold:

- the weather (Open-Meteo's ``snowfall`` and ``snow_depth``, carried to each reading by `enrich`): at least
  `SNOWFALL_MIN_CM` falling in the hour of a reading, or snow lying on the ground that is new (at least
  `SNOW_DEPTH_MIN_M`, and `DEPTH_RISE_M` above the lowest depth seen since the last hold began, so snow that
  lies for weeks holds once, not every day). Any month, day or night, without waiting for a dark morning: an
  October storm counts, and the hold is on before the first light.
- the readings, where the weather says nothing (weather off or down, a model without snow fields) and as a
  second opinion where it does (a model's grid cell can miss the snow on one roof): the array makes almost
  nothing (under `NEAR_ZERO` of what a clear sky allows) for `DARK_MORNING_MIN` minutes of the first judged
  daylight of a winter day (November to April in the northern hemisphere, May to October in the southern): a
  snow-covered morning, or the snow day itself.

The hold ends when every panel is producing again (`ALL_BACK_MIN` minutes in a row) or after `HOLD_SUNNY_MIN`
minutes of sunshine on the panels that are clear (the others had their chance), at the latest after
`HOLD_MAX_DAYS`; fresh snow from the weather during a hold starts that chance again. A panel still down after
that is alerted as usual, and its alert says that snow came first (``snow`` in the memory is the snow's last
day, kept for `RECENT_DAYS` days).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, setting

__all__ = ["step"]

NEAR_ZERO = 0.02  # array output under this share of clear-sky = snow-covered or dark [unitless]
DARK_MORNING_MIN = 45.0  # near-zero judged minutes of a winter morning that start a hold [min]
MORNING_MIN = 120.0  # "the morning": the first judged minutes of the day [min]
ALL_BACK_MIN = 30.0  # every panel producing this long ends the hold [min]
HOLD_SUNNY_MIN = 180.0  # sunny minutes on the clear panels after which a still-covered panel is judged [min]
HOLD_MAX_DAYS = 5  # a hold never lasts longer [d]
RECENT_DAYS = 3  # alerts mention the snow this long after it [d]
BACK_SHARE = 0.5  # a panel at half the producing median is "back" [unitless]
SNOWFALL_MIN_CM = 0.1  # snow falling in the hour of a reading that starts a hold (Open-Meteo's step is 0.07) [cm]
SNOW_DEPTH_MIN_M = 0.01  # snow on the ground that counts as lying snow [m]
DEPTH_RISE_M = 0.01  # a rise of the lying snow this big is fresh snow [m]


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("day", {})
    mem.setdefault("hold", {})
    return mem


def _winter(frame: Frame, ctx: Context) -> bool:
    month = frame.at.astimezone(ctx.site.tz).month
    north = ctx.site.latitude >= 0
    return (month in (11, 12, 1, 2, 3, 4)) if north else (month in (5, 6, 7, 8, 9, 10))


def _weather_snow(frame: Frame, mem: dict[str, Any]) -> bool:
    """Whether the weather reports fresh snow at this reading; keeps the lowest depth seen in ``mem["depth"]``."""
    conditions = frame.enrichment.conditions
    if conditions is None:
        return False
    fresh = conditions.snowfall_cm is not None and conditions.snowfall_cm >= SNOWFALL_MIN_CM
    depth = conditions.snow_depth_m
    if depth is not None:
        lowest = min(float(mem.get("depth", 0.0)), depth)
        fresh |= depth >= SNOW_DEPTH_MIN_M and depth - lowest >= DEPTH_RISE_M
        mem["depth"] = round(depth if fresh else lowest, 3)
    return fresh


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> tuple[bool, str]:
    """Advance the snow memory with one reading.

    Returns
    -------
    (bool, str)
        Whether panel alerts are held now, and the site-local day snow was last seen if within `RECENT_DAYS`
        ("" otherwise).
    """
    mem = _memory(mem)
    today = ctx.local_date(frame.at)
    day = mem["day"]
    if day.get("date") != today:
        day.clear()
        day.update(date=today, last="", judged=0.0, dark=0.0)
    hold = mem["hold"]
    if _weather_snow(frame, mem):
        if hold.get("since"):  # more snow: the array's chance to recover starts again
            hold.update(snow=today, sunny=0.0, back=0.0)
        else:
            hold.update(since=frame.at.isoformat(), snow=today, sunny=0.0, back=0.0)
    if frame.daylight:
        step_min = 0.0
        if day["last"]:
            step_min = min(20.0, (frame.at - datetime.fromisoformat(day["last"])).total_seconds() / 60.0)
        day["last"] = frame.at.isoformat()
        clear_panel_kw = frame.clearsky_panel_kw(ctx)
        n = max(1, len(frame.known))
        total = sum(frame.power_kw.values())
        if clear_panel_kw * n >= 0.1 * ctx.site.array.dc_kw:
            day["judged"] += step_min
            if total < NEAR_ZERO * clear_panel_kw * n:
                day["dark"] += step_min
                if (not hold.get("since") and _winter(frame, ctx) and day["judged"] <= MORNING_MIN
                        and day["dark"] >= DARK_MORNING_MIN):
                    hold.update(since=frame.at.isoformat(), snow=today, sunny=0.0, back=0.0)
        if hold.get("since"):
            ref = frame.typical_kw
            if ref is not None and clear_panel_kw > 0 and ref >= setting(ctx.config, "sunny_ratio") * clear_panel_kw:
                hold["sunny"] += step_min
            all_back = ref is not None and all(frame.power_kw.get(s, 0.0) >= BACK_SHARE * (frame.ref_for(s) or ref)
                                               for s in frame.known)
            hold["back"] = hold["back"] + step_min if all_back else 0.0
            started = datetime.fromisoformat(hold["since"])
            if (hold["back"] >= ALL_BACK_MIN or hold["sunny"] >= HOLD_SUNNY_MIN
                    or frame.at - started >= timedelta(days=HOLD_MAX_DAYS)):
                mem["last_snow"] = hold["snow"]
                hold.clear()
    holding = bool(hold.get("since"))
    snow_day = hold.get("snow") or mem.get("last_snow", "")
    if snow_day and (date.fromisoformat(today) - date.fromisoformat(snow_day)).days > RECENT_DAYS:
        snow_day = ""
    return holding, snow_day
