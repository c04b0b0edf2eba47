"""Plot the expected output against the PVS6 simulator over a clear and a cloudy day (docs/img/...png).

"Simulated" is what the seed's system reports through the simulator: ``pvs6_sim`` renders a DeviceList every
5 minutes, parsed by ``pvs6_parse`` into the production meter's kW, exactly as ingest would see it.
"Expected" is ``pvs6_cloud.enrich.conditions.enrich_batch`` for those snapshots, fed by a recorded-style
Open-Meteo answer for the day: the hourly mean plane-of-array irradiance and air temperature the simulated site
actually had (what a perfect weather service would report; radiation as "preceding hour" means, GHI/DNI/DHI
null), served through a stand-in HTTP session so the real parsing, caching and sampling code runs. "Clear sky" is the
model's upper bound (``clearsky_kw``).

Usage: ``.venv/bin/python scripts/plot_expected.py [OUTPUT.png]``; prints the daily energies it plots.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "img" / "expected-vs-simulated.png"
CLEAR_DAY = date(2025, 6, 18)
CLOUDY_DAY = date(2025, 6, 21)
STEP = timedelta(minutes=5)

log = logging.getLogger("plot_expected")


class _RecordedAnswer:
    """A stand-in for a ``requests.Response`` carrying a recorded Open-Meteo body."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.status_code = 200
        self._body = body
        self.text = json.dumps(body)

    def json(self) -> dict[str, Any]:
        return self._body


class _RecordedOpenMeteo:
    """Answers ``get(url, params=..., timeout=...)`` from a payload builder, like a session would."""

    def __init__(self, build: Any) -> None:
        self.build = build
        self.calls = 0

    def get(self, url: str, params: dict[str, str], timeout: float) -> _RecordedAnswer:
        self.calls += 1
        return _RecordedAnswer(self.build(params))


def _recorded_payload(sim_config: Any, params: dict[str, str]) -> dict[str, Any]:
    """Open-Meteo hourly JSON (GMT) whose radiation is the hour mean of the simulated plane-of-array irradiance."""
    import numpy as np
    import pandas as pd

    from pvs6_sim.solar import air_temperature_c, array_power, weather_factor

    first, last = date.fromisoformat(params["start_date"]), date.fromisoformat(params["end_date"])
    labels = pd.date_range(pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC") + pd.Timedelta(hours=23),
                           freq="h")
    fine = pd.date_range(labels[0] - pd.Timedelta(hours=1), labels[-1], freq="5min", inclusive="right")
    poa = array_power(fine, sim_config).poa_w_m2
    factor = weather_factor(fine, sim_config)
    hour_of = np.ceil((fine - labels[0]).total_seconds() / 3600.0).astype(int)  # preceding-hour buckets
    gti = [float(np.mean(poa[hour_of == i])) for i in range(len(labels))]
    cover = [float(np.clip(100.0 * (1.0 - np.mean(factor[hour_of == i])) / 0.9, 0, 100)) for i in range(len(labels))]
    temp = air_temperature_c(labels, sim_config)
    return {
        "latitude": 41.75, "longitude": -72.6875, "generationtime_ms": 0.2, "utc_offset_seconds": 0,
        "timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 50.0,
        "hourly_units": {"time": "iso8601", "cloud_cover": "%", "shortwave_radiation": "W/m²",
                         "direct_normal_irradiance": "W/m²", "diffuse_radiation": "W/m²",
                         "global_tilted_irradiance": "W/m²", "temperature_2m": "°C"},
        "hourly": {
            "time": [t.strftime("%Y-%m-%dT%H:%M") for t in labels],
            "cloud_cover": [round(c) for c in cover],
            "shortwave_radiation": [None] * len(labels),
            "direct_normal_irradiance": [None] * len(labels),
            "diffuse_radiation": [None] * len(labels),
            "global_tilted_irradiance": [round(g, 1) for g in gti],
            "temperature_2m": [round(float(t), 1) for t in temp],
        },
    }


def _series(day: date, site: Any, sim: Any, session: Any) -> dict[str, Any]:
    from pvs6_cloud.enrich.conditions import daily_expectation, enrich_batch
    from pvs6_cloud.enrich.weather import local_day_bounds
    from pvs6_parse import parse_payload

    start, end = local_day_bounds(day, site.timezone)
    times = [start + i * STEP for i in range(int((end - start) / STEP))]
    snapshots = [parse_payload(sim.device_list(t), source="dl_cgi", site=site.site_id, captured_at=t) for t in times]
    from pvs6_cloud.infra.config import WeatherConfig

    config = WeatherConfig(forecast_url="recorded://forecast", archive_url="recorded://archive")
    now = end + timedelta(days=30)
    memory: dict[str, Any] = {}
    enrichments = enrich_batch(snapshots, site, config, memory, http=session, now=now)
    daily = daily_expectation(site, config, memory, day, http=session, now=now)
    simulated = [s.production_kw or 0.0 for s in snapshots]
    return {
        "local": [t.astimezone(site.tz) for t in times],
        "simulated": simulated,
        "expected": [e.expected_kw for e in enrichments],
        "clearsky": [e.clearsky_kw for e in enrichments],
        "simulated_kwh": sum(simulated) * STEP.total_seconds() / 3600.0,
        "expected_kwh": daily.expected_kwh,
        "clearsky_kwh": daily.clearsky_kwh,
        "insolation": daily.poa_insolation_kwh_m2,
        "cloud": daily.cloud_cover_mean_pct,
    }


def main(argv: list[str]) -> int:
    """Render the figure; return the process exit code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from pvs6_cloud.infra.config import SiteConfig
    from pvs6_sim.config import SimConfig
    from pvs6_sim.model import Simulator

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    weather = {CLEAR_DAY: "clear", CLEAR_DAY + timedelta(days=1): "clear",
               CLOUDY_DAY: "cloudy", CLOUDY_DAY + timedelta(days=1): "cloudy"}
    sim_config = SimConfig(weather=weather, start=datetime(2025, 6, 17, 4, tzinfo=UTC))
    site = SiteConfig(site_id="seed", secret="", latitude=sim_config.site.latitude,
                      longitude=sim_config.site.longitude, timezone=sim_config.site.timezone,
                      elevation_m=sim_config.site.altitude_m)
    sim = Simulator(sim_config)
    session = _RecordedOpenMeteo(lambda params: _recorded_payload(sim_config, params))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, constrained_layout=True)
    for ax, day, label in zip(axes, (CLEAR_DAY, CLOUDY_DAY), ("clear day", "cloudy day"), strict=True):
        s = _series(day, site, sim, session)
        ax.fill_between(s["local"], s["simulated"], step="mid", color="#f4a261", alpha=0.35, linewidth=0)
        ax.plot(s["local"], s["simulated"], color="#e76f51", linewidth=1.2,
                label=f"simulated PVS6 production ({s['simulated_kwh']:.1f} kWh)")
        ax.plot(s["local"], s["expected"], color="#264653", linewidth=2.0,
                label=f"expected for the weather ({s['expected_kwh']:.1f} kWh)")
        ax.plot(s["local"], s["clearsky"], color="#2a9d8f", linewidth=1.4, linestyle="--",
                label=f"clear-sky bound ({s['clearsky_kwh']:.1f} kWh)")
        ax.set_title(f"{day:%a %d %b %Y}, {label}: insolation {s['insolation']:.1f} kWh/m², "
                     f"cloud {s['cloud']:.0f} %", fontsize=10)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=site.tz))
        ax.set_xlim(s["local"][0] + timedelta(hours=4), s["local"][0] + timedelta(hours=22))
        ax.set_xlabel(f"local time ({site.timezone})")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        log.info("%s %s: simulated %.2f kWh, expected %.2f kWh, clear sky %.2f kWh, POA insolation %.2f kWh/m2",
                 day, label, s["simulated_kwh"], s["expected_kwh"], s["clearsky_kwh"], s["insolation"])
    axes[0].set_ylabel("AC power [kW]")
    axes[0].set_ylim(0, None)
    fig.suptitle("Seed system (12 x 360 W, 30° tilt, due south, Hartford CT): expected output vs the PVS6 simulator",
                 fontsize=11)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    log.info("wrote %s (%d Open-Meteo-style answers served)", output, session.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
