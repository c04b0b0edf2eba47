"""The PVS6's own health as it reports it: error counters rising fast, repeated daytime reboots, flash filling,
its free space falling steadily (`flashspace`, ``pvs_flash_filling``) and its flash chip wearing out
(`flashwear`, ``pvs_flash_wear``), the last two judged here in their own memory sections.

The PVS6 restarts itself every night and is silent for 8-10 minutes, so one reboot in the dark is normal. A reboot
counts as *daytime* when the readings on both sides of it had the sun up and so had the restart itself (far north
in summer the first two hold across the night); ``reboots_per_day`` such reboots within 24 h open an alert.
Counters reset at every boot, so rates are measured only within one uptime.

"PVS6 unreachable from the Pi" is judged by the scheduled watchdog (`pvs6_cloud.jobs.watchdog`), which runs even
when no reading arrives; ingest leaves that kind alone so the two never resolve each other's alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect import flashspace, flashwear
from pvs6_cloud.alerting.detect.common import Context, Frame, setting
from pvs6_cloud.alerting.findings import Finding
from pvs6_parse.models import MAX_UPTIME_S

__all__ = ["KINDS", "findings", "step"]

KINDS = ("pvs_comm_errors", "pvs_reboots", "pvs_flash_low", *flashspace.KINDS, *flashwear.KINDS)
COUNTERS = {"comm_error_count": "communication errors", "error_count": "errors", "skipped_scans": "skipped scans"}
RATE_WINDOW = timedelta(hours=1)
SAMPLES_KEPT = 16
ADVICE_COUNTERS = ("Usually a loose or noisy connection between the panels and the PVS6 (power-line "
                   "communication). If it lasts more than a day, ask your installer to check the PVS6 wiring.")
ADVICE_REBOOTS = ("The PVS6 may be losing power or failing. Check that its power supply and cables are seated; if "
                  "it goes on, call your installer. Your panels keep producing meanwhile.")
ADVICE_FLASH = "The PVS6's storage is nearly full; a restart often frees it. If not, ask your installer."


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    for key in ("counters", "active"):
        mem.setdefault(key, {})
    mem.setdefault("reboots", [])
    mem.setdefault("prev", {})
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Advance the PVS health memory with one reading; return the kinds judged."""
    mem = _memory(mem)
    pvs = frame.snapshot.pvs
    if pvs is None:
        return set()
    cfg = ctx.config
    judged = flashwear.step(frame, mem.setdefault("flash_wear", {}), ctx)
    judged |= flashspace.step(frame, mem.setdefault("flash_space", {}), ctx)
    prev = mem["prev"]
    sun_up = frame.elevation_deg is not None and frame.elevation_deg > 0
    # An uptime no PVS6 can have (negative, or past a century: a corrupted or hostile answer) tells nothing about
    # reboots; judged as one it would overflow the boot-time arithmetic and fail the whole upload. The parsers
    # already drop such values (same bound); this guards a snapshot built any other way.
    uptime_s = pvs.uptime_s if pvs.uptime_s is not None and 0 <= pvs.uptime_s < MAX_UPTIME_S else None
    if uptime_s is not None:
        if prev.get("uptime_s") is not None and uptime_s + 60 < prev["uptime_s"] + _gap_s(prev, frame):
            boot = frame.at - timedelta(seconds=uptime_s)
            daytime = sun_up and bool(prev.get("sun_up")) and _sun_up_at(boot, ctx)
            mem["reboots"].append([boot.isoformat(), daytime])
            mem["counters"] = {}
        mem["reboots"] = [r for r in mem["reboots"] if frame.at - datetime.fromisoformat(r[0]) < timedelta(days=1)]
        daytime_count = sum(1 for r in mem["reboots"] if r[1])
        if daytime_count >= setting(cfg, "reboots_per_day"):
            mem["active"]["pvs_reboots"] = {"count": daytime_count, "times": [r[0] for r in mem["reboots"] if r[1]]}
        elif daytime_count == 0:
            mem["active"].pop("pvs_reboots", None)
        judged.add("pvs_reboots")
        mem["prev"] = {"at": frame.at.isoformat(), "uptime_s": uptime_s, "sun_up": sun_up}
    if _counters(frame, mem, cfg.comm_errors_per_hour):
        judged.add("pvs_comm_errors")
    if pvs.flash_avail_kb is not None or pvs.flash_used_pct is not None:
        low = (pvs.flash_avail_kb is not None and pvs.flash_avail_kb < cfg.flash_low_kb) or (
            pvs.flash_used_pct is not None and pvs.flash_used_pct > cfg.flash_high_pct)
        clear = (pvs.flash_avail_kb is None or pvs.flash_avail_kb >= 1.2 * cfg.flash_low_kb) and (
            pvs.flash_used_pct is None or pvs.flash_used_pct <= cfg.flash_high_pct - 3)
        if low:
            mem["active"]["pvs_flash_low"] = {"kb": pvs.flash_avail_kb, "pct": pvs.flash_used_pct,
                                              "at": frame.at.isoformat()}
        elif clear:
            mem["active"].pop("pvs_flash_low", None)
        judged.add("pvs_flash_low")
    return judged


def _sun_up_at(at: datetime, ctx: Context) -> bool:
    """Whether the sun was above the horizon at the site at ``at``: far north in summer the readings on both
    sides of the nightly restart can both have the sun up, while the restart itself happened at night."""
    from pvs6_cloud.enrich.solar import sun_position

    site = ctx.site
    elevation, _azimuth = sun_position([at], site.latitude, site.longitude, site.elevation_m)
    return bool(elevation[0] > 0)


def _gap_s(prev: Mapping[str, Any], frame: Frame) -> float:
    return (frame.at - datetime.fromisoformat(prev["at"])).total_seconds() if prev.get("at") else 0.0


def _counters(frame: Frame, mem: dict[str, Any], per_hour: float) -> bool:
    pvs = frame.snapshot.pvs
    samples: dict[str, list[list[Any]]] = mem["counters"]
    judged = False
    for name in COUNTERS:
        value = getattr(pvs, name)
        if value is None:
            continue
        series = samples.setdefault(name, [])
        if series and value < series[-1][1]:
            series.clear()
        if not series or frame.at - datetime.fromisoformat(series[-1][0]) >= timedelta(minutes=10):
            series.append([frame.at.isoformat(), value])
            del series[:-SAMPLES_KEPT]
        base = next((s for s in reversed(series) if frame.at - datetime.fromisoformat(s[0]) >= RATE_WINDOW), None)
        if base is None:
            continue
        hours = (frame.at - datetime.fromisoformat(base[0])).total_seconds() / 3600.0
        rate = (value - base[1]) / hours
        judged = True
        key = f"pvs_comm_errors:{name}"
        if rate >= per_hour:
            mem["active"][key] = {"name": name, "rate": round(rate, 1), "value": value, "at": frame.at.isoformat()}
        elif rate < per_hour / 2:
            mem["active"].pop(key, None)
    return judged


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """Active PVS6 health findings."""
    mem = _memory(mem)
    out = flashwear.findings(mem.setdefault("flash_wear", {}), ctx)
    out += flashspace.findings(mem.setdefault("flash_space", {}), ctx)
    for key, rec in sorted(mem["active"].items()):
        if key.startswith("pvs_comm_errors:"):
            words = COUNTERS[rec["name"]]
            out.append(Finding("pvs_comm_errors", rec["name"], f"The PVS6 monitor reports many {words}",
                               f"Its {words} counter rises by about {rec['rate']:.0f} an hour (now {rec['value']}, "
                               f"at {ctx.local(datetime.fromisoformat(rec['at']), with_day=True)}); normal is a "
                               "handful a day.", ADVICE_COUNTERS, dict(rec)))
        elif key == "pvs_reboots":
            times = ", ".join(ctx.local(datetime.fromisoformat(t), with_day=True) for t in rec["times"])
            out.append(Finding("pvs_reboots", "", "The PVS6 monitor keeps restarting during the day",
                               f"It restarted {rec['count']} times in daylight within 24 hours (at {times}). One "
                               "restart at night is its normal routine; these are not.", ADVICE_REBOOTS, dict(rec)))
        elif key == "pvs_flash_low":
            have = f"{rec['kb']} kB free" if rec["kb"] is not None else f"{rec['pct']:.0f} % used"
            out.append(Finding("pvs_flash_low", "", "The PVS6 monitor's storage is nearly full",
                               f"It reported {have} at {ctx.local(datetime.fromisoformat(rec['at']), with_day=True)}.",
                               ADVICE_FLASH, dict(rec)))
    return out
