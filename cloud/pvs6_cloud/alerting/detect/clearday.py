"""Is this reading sunny *for this roof*? The model's clear sky, or the roof's own best at this sun position.

The weak-panel rule only sums sunny readings, and "sunny" meant: the producing panels make at least
``sunny_ratio`` of the clear-sky output the config's tilt and direction allow. A roof that really faces east at
10° when the config says south at 30° never gets there, however blue the sky, so its weak panel went unreported
for a week. So a reading is also sunny when the peers make nearly (`NEAR_BEST`) the best this roof itself made at
a similar sun position (`EL_BIN_DEG` of elevation, morning or afternoon) on the last `DAYS_KEPT` days, as long as
that best came from an earlier day (the first day has nothing to compare with), is not a dull one (at least
`MODEL_FLOOR` of the model's clear sky) and the weather, where known, does not say overcast. Peers far below their
own recent best (clouds) still do not count. For a roof that matches its config the best is about the clear sky,
so this adds nothing to the model's gate there.

The memory is the day's best reference power per bin and day: at most 2 x 18 bins x `DAYS_KEPT` numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, setting

__all__ = ["sunny"]

EL_BIN_DEG = 5.0  # sun elevation bin width [°]
DAYS_KEPT = 10  # days of bests kept per bin [days]
NEAR_BEST = 0.85  # peers at least this share of the roof's recent best here = sunny [unitless]
MODEL_FLOOR = 0.3  # a best under this share of the model's clear sky is a dull day's, not a clear one [unitless]
OVERCAST_PCT = 70.0  # weather cloud cover from which a reading is never sunny by the roof's own best [%]


def _bin(frame: Frame) -> str | None:
    el, az = frame.elevation_deg, frame.enrichment.sun_azimuth_deg
    if el is None or el <= 0:
        return None
    half = "p" if az is not None and az >= 180.0 else "a"  # an east face makes more at 30° in the morning
    return f"{half}{int(el // EL_BIN_DEG)}"


def sunny(frame: Frame, mem: dict[str, Any], ctx: Context) -> bool:
    """Whether the peers' output now counts as a sunny reading; also remembers today's best for this bin."""
    ref = frame.typical_kw
    clear_kw = frame.clearsky_panel_kw(ctx)
    if ref is None or clear_kw <= 0:
        return False
    by_model = ref >= setting(ctx.config, "sunny_ratio") * clear_kw
    key = _bin(frame)
    if key is None or frame.snow_hold:
        return by_model
    today = ctx.local_date(frame.at)
    days: dict[str, float] = mem.setdefault("bins", {}).setdefault(key, {})
    earlier = max((kw for day, kw in days.items() if day != today), default=0.0)
    days[today] = round(max(days.get(today, 0.0), ref), 4)
    for old in [d for d in days if (date.fromisoformat(today) - date.fromisoformat(d)).days >= DAYS_KEPT]:
        del days[old]
    if by_model:
        return True
    cover = frame.enrichment.conditions.cloud_cover_pct if frame.enrichment.conditions else None
    if cover is not None and cover >= OVERCAST_PCT:
        return False
    best = max(earlier, days[today])
    return earlier > 0 and best >= MODEL_FLOOR * clear_kw and ref >= NEAR_BEST * best
