"""What the detection bench's two tables share: the bench house (place, time zone, poll cadence, the site config
the cloud gets) and the clock arithmetic its verdicts are measured in (polls, daylight hours)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pvs6_cloud.enrich.solar import sun_position
from pvs6_cloud.infra.config import ArrayConfig, SiteConfig
from pvs6_sim.model import Simulator

TZ = ZoneInfo("America/New_York")
LAT, LON = 41.76, -72.68
CADENCE = timedelta(minutes=15)
ACTIVE_HOURS = (6, 21)
WEATHER_LETTER = {"clear": "S", "cloudy": "c", "snow": "*"}


def _site(sim: Simulator, folder: Path, circuit_map: bool = True, base: ArrayConfig | None = None) -> SiteConfig:
    serials = sim.identity.inverter_serials
    half = len(serials) // 2
    array = replace(base or ArrayConfig(), panels=len(serials))
    if circuit_map:
        places = {s: f"circuit {1 + i // half}, panel {1 + i % half}" for i, s in enumerate(serials)}
        array = replace(array, circuits={"1": serials[:half], "2": serials[half:]}, places=places)
    return SiteConfig("home", "secret", LAT, LON, str(TZ), name="Bench house", local_dir=folder / "sheet",
                      mail_to=("owner@example.com",), array=array)


def _device(template: str, sim: Simulator) -> str:
    if template.startswith("{serial:"):
        return sim.identity.inverter_serials[int(template[8:-1])]
    if template.startswith("{serials:"):  # a learned group: its serials, sorted, comma-separated
        first, last = (int(x) for x in template[9:-1].split("-"))
        return ",".join(sorted(sim.identity.inverter_serials[first:last + 1]))
    return {"{meter}": sim.identity.production_meter_serial, "{pvs}": sim.identity.pvs_serial}.get(template,
                                                                                                  template)


def _poll_times(start: date, days: int) -> list[datetime]:
    out = []
    for d in range(days):
        day = start + timedelta(days=d)
        at = datetime(day.year, day.month, day.day, ACTIVE_HOURS[0], tzinfo=TZ)
        end = datetime(day.year, day.month, day.day, ACTIVE_HOURS[1], tzinfo=TZ)
        while at <= end:
            out.append(at.astimezone(UTC))
            at += CADENCE
    return out


def _daylight_hours(a: datetime, b: datetime) -> float:
    if b <= a:
        return 0.0
    steps = int((b - a).total_seconds() // 300) + 1
    grid = [a + timedelta(minutes=5 * i) for i in range(steps)]
    elevation, _ = sun_position(grid, LAT, LON)
    return float((elevation > 0).sum()) * 5.0 / 60.0
