"""Scenario harness for the alert rules: simulated months through the real ingest pipeline, per fault a verdict.

Each scenario builds a PVS6 simulator (`pvs6_sim`), injects one fault, and plays the Pi: every 15 minutes
between 06:00 and 21:00 local (the seed's cron) it asks the simulator for a DeviceList and uploads it through
`pvs6_cloud.intake.pipeline.ingest_batch` into a CSV sink in a temporary folder, with the weather service off (no
internet: the detector must work on the sun and the peers alone). The scheduled watchdog runs after each upload.
While the PVS6 hangs, uploads carry only the heartbeat, as the edge's would. Alerts are then read back from the
site state and scored:

- detected: the expected alert opened after the fault began;
- delay: daylight hours (sun above the horizon) from the fault to the alert, or sunny days for the weak panel;
- false: any other alert opened (``device_new`` on day one would count too).

Targets (issue 6): dead inverter within 1 daylight hour; tripped breaker within 1 hour; 25 % weak panel within 3
sunny days; no false alerts, including over clean months with clear, cloudy and snow-covered days. Issue 13 adds:
a tripped breaker on a site without a circuit map is exactly one alert within 1 hour; a dead panel that comes
back raises nothing more; a 25 % weak panel on a roof unlike its config (east at 10°, configured south at 30°, in
December) within 3 sunny days; and every scenario is replayed as one late backlog (the Pi back from an outage, in
contract-size batches), whose Alerts rows must equal the live ones (every column but the wall-time Emailed; the
watchdog's own kinds aside, as they judge the present): column "backlog". Issue 18 adds roofs that are not rows
of identical, unshaded panels (a tree's morning shadow on 3 of 16 panels, snow sliding off unevenly, an east/west
two-plane roof, and the same roof with its planes configured; a south roof with a small west face in December,
without and with its planes configured), each played for weeks with a weak and
a dead panel: second table (``--roofs-only`` for it alone).
The snowy roof's weather says so: a loopback Open-Meteo (tests/support) answers ``snowfall`` through each of the
simulator's snow days and the ``snow_depth`` it leaves (`SnowWeather`), every other variable null, so the
expectation stays the clear-sky one the other scenarios use (the fake's sky is not the simulator's).

Run: ``.venv/bin/python bench/detection.py [--quick] [--jobs 2]``. The simulator costs about 0.1 s per reading,
so the full run (about 4,000 readings) takes a few minutes; ``--quick`` shortens the clean months.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.enrich.solar import sun_position
from pvs6_cloud.infra.config import (
    ArrayConfig,
    CloudConfig,
    DetectionConfig,
    MailConfig,
    PlaneConfig,
    SiteConfig,
    WeatherConfig,
)
from pvs6_cloud.intake.contract import MAX_SNAPSHOTS, UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_cloud.jobs.watchdog import run_watchdog
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_sim.config import ArrayConfig as SimArrayConfig
from pvs6_sim.config import Plane, PvsConfig, Shade, SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.model import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the loopback Open-Meteo
from tests.support.openmeteo_server import UNITS, serve_openmeteo

TZ = ZoneInfo("America/New_York")
LAT, LON = 41.76, -72.68
CADENCE = timedelta(minutes=15)
ACTIVE_HOURS = (6, 21)
WEATHER_LETTER = {"clear": "S", "cloudy": "c", "snow": "*"}


@dataclass(frozen=True)
class Scenario:
    """One simulated stretch of time with (at most) one fault and the alert it should raise."""

    name: str
    start: date
    days: int
    fault: dict[str, Any] | None = None  # Fault kwargs; "start"/"end" are offsets from the first midnight (h)
    expect: tuple[str, str] | None = None  # (kind, device); device "{serial:N}", "{circuit}", "{meter}", "{pvs}"
    target: str = ""
    weather: dict[int, str] = field(default_factory=dict)  # day offset -> clear | cloudy | snow
    default_weather: str = "mixed"
    hang: tuple[float, float] | None = None  # PVS6 answers nothing between these offsets (h)
    sunny_days_metric: bool = False
    seed: int = 1
    circuit_map: bool = True  # False: the config says nothing about circuits (most new users)
    repeat: tuple[int, ...] = ()  # the fault again on these day offsets (same hours): an intermittent panel
    related: tuple[str, ...] = ()  # other kinds on the expected device that are true alerts, not false ones
    more_faults: tuple[dict[str, Any], ...] = ()  # further faults, same shape as ``fault``
    array: SimArrayConfig | None = None  # the real roof (default: 12 panels facing south at 30°, as configured)


# A roof the config gets wrong: it says south at 30° (the defaults), the panels really face east at 10°, so even a
# clear sky gives less than 60 % of the configured clear-sky output for most of the day.
EAST_TEN = SimArrayConfig(planes=(Plane(10.0, 90.0, tuple(range(12))),))


def scenarios(quick: bool) -> list[Scenario]:
    """The fault scenarios and the clean months."""
    month = 14 if quick else 30
    return [
        Scenario("dead inverter", date(2025, 6, 2), 3, {"kind": "dead", "target": 3, "start": 24 + 15.1},
                 ("inverter_down", "{serial:3}"), "<= 1 daylight h", weather={0: "clear", 1: "cloudy", 2: "clear"}),
        Scenario("dead inverter, cloudy day", date(2025, 6, 9), 3, {"kind": "dead", "target": 10, "start": 24 + 13.6},
                 ("inverter_down", "{serial:10}"), "<= 1 daylight h", default_weather="cloudy", seed=2),
        Scenario("tripped breaker", date(2025, 6, 16), 3,
                 {"kind": "breaker", "target": 2, "start": 24 + 17.3, "end": 48 + 3},
                 ("circuit_down", "2"), "<= 1 h", weather={0: "clear", 1: "clear", 2: "cloudy"}),
        Scenario("tripped breaker, no map", date(2025, 6, 16), 3,
                 {"kind": "breaker", "target": 2, "start": 24 + 11.5, "end": 48 + 3},
                 ("circuit_down", "{serials:6-11}"), "1 alert <= 1 h", weather={0: "clear", 1: "clear", 2: "cloudy"},
                 circuit_map=False, seed=4),
        Scenario("dead panel that recovers", date(2025, 6, 2), 3,
                 {"kind": "dead", "target": 5, "start": 24 + 10.0, "end": 24 + 14.0},
                 ("inverter_down", "{serial:5}"), "<= 1 daylight h", weather={0: "clear", 1: "clear", 2: "clear"},
                 seed=5),
        Scenario("dead inverter, December", date(2025, 12, 15), 3, {"kind": "dead", "target": 7, "start": 24 + 9.5},
                 ("inverter_down", "{serial:7}"), "<= 1 daylight h", default_weather="cloudy", seed=6),
        Scenario("intermittent panel", date(2025, 7, 7), 6,
                 {"kind": "dead", "target": 9, "start": 14.2, "end": 14.9},
                 ("inverter_intermittent", "{serial:9}"), "<= 4 days", repeat=(1, 3, 4, 5),
                 related=("inverter_down",), weather=dict.fromkeys(range(6), "clear"), seed=7),
        Scenario("weak panel (75 %)", date(2025, 6, 23), 6, {"kind": "weak", "target": 8, "value": 0.75, "start": 0},
                 ("inverter_weak", "{serial:8}"), "<= 3 sunny days", sunny_days_metric=True,
                 weather={0: "clear", 1: "cloudy", 2: "clear", 3: "cloudy", 4: "clear", 5: "clear"}),
        Scenario("weak panel, roof unlike config", date(2025, 12, 8), 5,
                 {"kind": "weak", "target": 8, "value": 0.75, "start": 24}, ("inverter_weak", "{serial:8}"),
                 "<= 3 sunny days", sunny_days_metric=True, array=EAST_TEN,
                 weather={0: "clear", 1: "clear", 2: "cloudy", 3: "clear", 4: "clear"}, seed=8),
        Scenario("stuck counter", date(2025, 7, 7), 2, {"kind": "stuck", "target": 5, "start": 24 + 12.0},
                 ("counter_stuck", "{serial:5}"), "same day"),
        Scenario("reversed CT", date(2025, 7, 14), 2, {"kind": "reversed_ct", "start": 24 + 14.0},
                 ("meter_reversed", "{meter}"), "<= 1 daylight h"),
        Scenario("PVS6 hang", date(2025, 7, 21), 2, None, ("pvs_unreachable", "{pvs}"), "<= 1.5 h",
                 hang=(24 + 14.0, 24 + 19.0)),
        Scenario("daytime reboots", date(2025, 7, 28), 2, {"kind": "reboot", "start": 24 + 14.0},
                 ("pvs_reboots", ""), "second reboot"),
        Scenario("blind monitor (no panels)", date(2025, 8, 4), 2, {"kind": "blind", "start": 24 + 14.2},
                 ("monitor_blind", ""), "<= 1 daylight h"),
        Scenario("blind monitor (frozen)", date(2025, 8, 11), 2, {"kind": "frozen", "start": 24 + 15.4},
                 ("monitor_blind", ""), "<= 1 daylight h", default_weather="cloudy", seed=2),
        Scenario("blind after nightly reboot", date(2025, 8, 18), 2, {"kind": "blind", "start": 24 + 3.2},
                 ("monitor_blind", ""), "<= 2 daylight h"),
        Scenario("403 fits (old firmware)", date(2025, 8, 25), 2, {"kind": "unauthorized", "start": 24 + 9.5,
                                                                   "end": 24 + 10.2}, None, "0 false",
                 more_faults=({"kind": "unauthorized", "start": 24 + 13.0, "end": 24 + 13.75},)),
        Scenario("403 fit that lasts", date(2025, 9, 1), 2, {"kind": "unauthorized", "start": 24 + 11.0},
                 ("pvs_unreachable", "{pvs}"), "<= 1.5 h"),
        Scenario("firmware update at noon", date(2025, 9, 8), 3, {"kind": "firmware", "value": 61845,
                                                                  "start": 24 + 12.0},
                 ("firmware_changed", "{pvs}"), "1 quiet notice", weather={0: "clear", 1: "clear", 2: "cloudy"}),
        Scenario("clean winter (snow)", date(2025, 1, 10), month, None, None, "0 false",
                 weather={1: "snow", 2: "snow", 3: "clear", 8: "snow", 9: "cloudy", 12: "snow", 13: "snow"}),
        Scenario("clean summer", date(2025, 5, 1), month, None, None, "0 false", seed=3),
    ]


@dataclass(frozen=True)
class Roof:
    """A real-world roof that is not a row of identical, unshaded panels, played for weeks with two real faults.

    The first ``learn_days`` are the site's first days of monitoring (the detector is still learning each panel's
    normal); the next ``clean_days`` are scored for false alerts; then a 25 % weak panel (``weak``) appears, and
    three days later another panel (``dead``) dies at 11:06 local. The fault days' weather is fixed: clear,
    cloudy, clear, clear, clear. ``covered`` lists snow left on single panels: (panel, start h, end h), hours
    from the first midnight, local.
    """

    name: str
    start: date
    array: SimArrayConfig
    weak: int
    dead: int
    weather: dict[int, str] = field(default_factory=dict)
    covered: tuple[tuple[int, float, float], ...] = ()
    learn_days: int = 7
    clean_days: int = 30
    default_weather: str = "mixed"
    seed: int = 11
    cloud_array: ArrayConfig | None = None
    planes_configured: bool = False  # the config describes the real roof's planes, each with its panels' serials
    scored: bool = True  # False: played to show what the config changes, not held to the targets


SIXTEEN = SimArrayConfig(panels=16, circuits=2)
FAULT_WEATHER = ("clear", "cloudy", "clear", "clear", "clear")


def _snow_shed(day: int, first_h: float, spread_h: float, late: tuple[int, float], panels: int = 16,
               seed: int = 5) -> tuple[tuple[int, float, float], ...]:
    """Snow sliding off panel by panel on ``day``: from midnight of the snow day before until a staggered time."""
    order = sorted(range(panels), key=lambda i: hashlib.sha256(f"{seed}:{day}:{i}".encode()).digest())
    out = []
    for rank, panel in enumerate(order):
        end = day * 24 + first_h + spread_h * rank / (panels - 1)
        if panel == late[0]:
            end = day * 24 + late[1]
        out.append((panel, (day - 1) * 24.0, end))
    return tuple(out)


def roofs(quick: bool) -> list[Roof]:
    """The shaded, snowy and two-faced roofs of issue 18."""
    learn, clean = (4, 10) if quick else (7, 30)
    snow_days = (learn + 2, learn + clean - 8) if quick else (learn + 2, learn + 13)
    weather = {snow_days[0]: "snow", snow_days[0] + 1: "clear", snow_days[1]: "snow", snow_days[1] + 1: "snow",
               snow_days[1] + 2: "clear"}
    covered = (_snow_shed(snow_days[0] + 1, 9.5, 2.0, (6, 13.0))
               + _snow_shed(snow_days[1] + 2, 10.0, 2.0, (11, 12.5)))
    tree = Shade(panels=(0, 1, 2), max_azimuth_deg=100.0, max_elevation_deg=46.0, transmission=0.03)
    two_faces = replace(SIXTEEN, planes=(Plane(25.0, 90.0, tuple(range(8))), Plane(25.0, 270.0, tuple(range(8, 16)))))
    # A south roof with a small west face: in December the west panels make about half of what the south ones do
    # all day, so against the whole array they look weak; their own face (configured, or learned) is the fair one.
    south_west = replace(SIXTEEN, planes=(Plane(30.0, 180.0, tuple(range(12))),
                                          Plane(30.0, 270.0, tuple(range(12, 16)))))
    return [
        Roof("morning shade on 3 of 16", date(2025, 6, 2), replace(SIXTEEN, shade=(tree,)), weak=1, dead=2,
             learn_days=learn, clean_days=clean),
        Roof("snow sliding off unevenly", date(2025, 1, 3), SIXTEEN, weak=5, dead=12, weather=weather,
             covered=covered, learn_days=learn, clean_days=clean, seed=12),
        Roof("east/west two-plane roof", date(2025, 6, 2), two_faces, weak=3, dead=12, learn_days=learn,
             clean_days=clean, seed=13),
        Roof("east/west, planes configured", date(2025, 6, 2), two_faces, weak=3, dead=12, learn_days=learn,
             clean_days=clean, seed=13, planes_configured=True),
        Roof("south + 4 west, December", date(2025, 12, 1), south_west, weak=13, dead=4, learn_days=learn,
             clean_days=clean, seed=14),
        Roof("south + 4 west, configured", date(2025, 12, 1), south_west, weak=13, dead=4, learn_days=learn,
             clean_days=clean, seed=14, planes_configured=True),
    ]


class SnowWeather:
    """Open-Meteo's snow for a simulated site: what the weather would have said about the simulator's snow days.

    ``snowfall`` (cm, the hour's sum) is `SNOWFALL_CM_H` every hour of each UTC day the simulator plays as
    "snow"; ``snow_depth`` (m) is what that leaves on the ground, melting `MELT_CM_H` an hour.
    """

    SNOWFALL_CM_H = 0.5  # a steady moderate snowfall [cm/h]
    MELT_CM_H = 0.2  # lying snow melts and settles about 5 cm a day [cm/h]

    def __init__(self, sim: Simulator, first: datetime, days: int) -> None:
        self.fall: dict[datetime, float] = {}
        self.depth: dict[datetime, float] = {}
        lying = 0.0
        label = first.replace(minute=0, second=0, microsecond=0)
        for _ in range(24 * (days + 2)):
            fall = self.SNOWFALL_CM_H if sim.config.weather_on((label - timedelta(hours=1)).date()) == "snow" else 0.0
            lying = max(0.0, lying + fall - self.MELT_CM_H)
            self.fall[label], self.depth[label] = fall, lying / 100.0
            label += timedelta(hours=1)

    @property
    def snowy(self) -> bool:
        """Whether it snows at all in the played stretch."""
        return any(self.fall.values())

    def snowfall_cm(self, label: datetime) -> float:
        """Snow fallen in the hour ending at ``label`` [cm]."""
        return self.fall.get(label.astimezone(UTC).replace(tzinfo=UTC), 0.0)

    def snow_depth_m(self, label: datetime) -> float:
        """Snow lying at ``label`` [m]."""
        return self.depth.get(label.astimezone(UTC).replace(tzinfo=UTC), 0.0)


def run_roof(roof: Roof) -> dict[str, Any]:
    """Play one roof through the pipeline and score false alerts, false mails and the two faults."""
    t_start = time.monotonic()
    midnight = datetime(roof.start.year, roof.start.month, roof.start.day, tzinfo=TZ).astimezone(UTC)
    fault_day = roof.learn_days + roof.clean_days
    days = fault_day + len(FAULT_WEATHER)
    weather = {roof.start + timedelta(days=k): v for k, v in roof.weather.items()}
    weather |= {roof.start + timedelta(days=fault_day + k): v for k, v in enumerate(FAULT_WEATHER)}
    sim = Simulator(SimConfig(array=roof.array, start=midnight - timedelta(hours=1),
                              default_weather=roof.default_weather, weather=weather, seed=roof.seed,
                              pvs=PvsConfig(nightly_reboot_hour_utc=7)))
    for panel, a, b in roof.covered:
        sim.inject(Fault("covered", target=panel, start=midnight + timedelta(hours=a),
                         end=midnight + timedelta(hours=b)))
    weak_at = midnight + timedelta(days=fault_day)
    dead_day = roof.start + timedelta(days=fault_day + 3)
    dead_at = datetime(dead_day.year, dead_day.month, dead_day.day, 11, 6, tzinfo=TZ).astimezone(UTC)
    sim.inject(Fault("weak", target=roof.weak, value=0.75, start=weak_at))
    sim.inject(Fault("dead", target=roof.dead, start=dead_at))
    polls = _poll_times(roof.start, days)
    rows, mails = _play_roof(sim, midnight, polls, _configured_planes(roof, sim) or roof.cloud_array,
                             SnowWeather(sim, midnight, days))
    learned_bytes = next(int(r["device"]) for r in rows if r["kind"] == "_learned_bytes")
    serials = sim.identity.inverter_serials
    expected = {("inverter_weak", serials[roof.weak]): weak_at, ("inverter_down", serials[roof.dead]): dead_at}
    learn_end = midnight + timedelta(days=roof.learn_days)
    hits: dict[str, datetime] = {}
    false = {"learning": [], "scored": []}
    for row in rows:
        if row["kind"] == "_learned_bytes":
            continue
        opened = datetime.fromisoformat(row["opened"])
        key = (row["kind"], row["device"])
        if key in expected and opened >= expected[key] and row["kind"] not in hits:
            hits[row["kind"]] = opened
            continue
        false["learning" if opened < learn_end else "scored"].append(
            f"{row['kind']}:{row['device'][-6:]}@{opened.astimezone(TZ):%m-%d %H:%M}")
    true_serials = (serials[roof.weak], serials[roof.dead])
    false_mails = {"learning": 0, "scored": 0}
    for at, text in mails:
        if at >= weak_at and any(serial in text for serial in true_serials):
            continue
        false_mails["learning" if at < learn_end else "scored"] += 1
    dead_delay = (f"{_daylight_hours(dead_at, hits['inverter_down']):.2f} daylight h"
                  if "inverter_down" in hits else "not found")
    weak_delay = "not found"
    if "inverter_weak" in hits:
        span = (hits["inverter_weak"].astimezone(TZ).date() - weak_at.astimezone(TZ).date()).days + 1
        sunny = sum(1 for k in range(span) if FAULT_WEATHER[min(k, len(FAULT_WEATHER) - 1)] == "clear")
        weak_delay = f"{sunny} sunny day(s)"
    return {"name": roof.name, "learning": false["learning"], "false": false["scored"], "false_mails": false_mails,
            "dead": dead_delay,
            "dead_ok": "inverter_down" in hits and _daylight_hours(dead_at, hits["inverter_down"]) <= 1.0,
            "weak": weak_delay, "weak_ok": "inverter_weak" in hits and int(weak_delay.split()[0]) <= 3,
            "learned_bytes": learned_bytes, "readings": len(polls), "took_s": round(time.monotonic() - t_start, 1),
            "scored": roof.scored,
            "days": f"{roof.learn_days} learning + {roof.clean_days} scored + {len(FAULT_WEATHER)} with faults"}


def _configured_planes(roof: Roof, sim: Simulator) -> ArrayConfig | None:
    """The cloud config of a roof whose owner wrote its planes down: each plane's panels by their serials' last 8
    characters, as copied from the Devices tab (the last plane by its count only: "the rest")."""
    if not roof.planes_configured:
        return None
    serials = sim.identity.inverter_serials
    planes = roof.array.planes
    return replace(roof.cloud_array or ArrayConfig(), planes=tuple(
        PlaneConfig(p.tilt_deg, p.azimuth_deg, len(p.panels),
                    () if k == len(planes) - 1 else tuple(serials[i][-8:] for i in p.panels))
        for k, p in enumerate(planes)), tilt_deg=planes[0].tilt_deg, azimuth_deg=planes[0].azimuth_deg)


def _print_roofs(results: list[dict[str, Any]]) -> bool:
    if not results:
        return True
    print(f"\n{'roof':28} {'false (learning)':17} {'false':6} {'false mails (learning)':23} {'false mails':12} "
          f"{'dead panel':18} {'weak panel':16} {'learned':8}")
    ok = True
    for r in results:
        fm = r["false_mails"]
        print(f"{r['name']:28} {len(r['learning']):<17} {len(r['false']):<6} {fm['learning']:<23} {fm['scored']:<12} "
              f"{r['dead']:18} {r['weak']:16} {r['learned_bytes'] / 1024:.1f} KB"
              + ("" if r["scored"] else "  (not a target: planes not configured)"))
        for f in r["learning"]:
            print(f"{'':28}   while learning: {f}")
        for f in r["false"]:
            print(f"{'':28}   false alert: {f}")
        ok &= not r["scored"] or (not r["false"] and not fm["scored"] and r["dead_ok"] and r["weak_ok"]
                                  and r["learned_bytes"] < 64 * 1024)
    print(f"Each roof: {results[0]['days']} days. Targets: 0 false alerts and 0 false mails after learning; dead "
          "panel <= 1 daylight h; 25 % weak panel <= 3 sunny days; learned state < 64 KB.")
    return ok


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


@dataclass(frozen=True)
class Upload:
    """What the Pi sends at one poll: the reading (none while the PVS6 hangs) and its heartbeat."""

    at: datetime
    items: tuple[UploadItem, ...]
    status: dict[str, Any]


@dataclass
class Played:
    """A scenario's simulator (fault injected), its uploads, and when the fault began."""

    sim: Simulator
    uploads: list[Upload]
    fault_at: datetime | None


def play(sc: Scenario, first_day: int = 0, days: int | None = None) -> Played:
    """Drive the simulator as the Pi would over days ``first_day`` .. ``first_day + days`` of the scenario."""
    midnight = datetime(sc.start.year, sc.start.month, sc.start.day, tzinfo=TZ).astimezone(UTC)
    weather = {sc.start + timedelta(days=k): v for k, v in sc.weather.items()}
    sim = Simulator(SimConfig(array=sc.array or SimArrayConfig(), start=midnight - timedelta(hours=1),
                              default_weather=sc.default_weather, weather=weather, seed=sc.seed,
                              pvs=PvsConfig(nightly_reboot_hour_utc=7)))
    fault_at = None
    for number, fault in enumerate((sc.fault, *sc.more_faults) if sc.fault else ()):
        spec = dict(fault)
        at = midnight + timedelta(hours=spec.pop("start"))
        fault_at = at if number == 0 else fault_at
        end = spec.pop("end", None)
        sim.inject(Fault(start=at, end=midnight + timedelta(hours=end) if end is not None else None, **spec))
        for k in sc.repeat if number == 0 else ():
            sim.inject(Fault(start=at + timedelta(days=k),
                             end=midnight + timedelta(hours=end, days=k) if end is not None else None, **spec))
        if spec["kind"] == "reboot" and number == 0:  # a second one, three hours later: "repeated daytime reboots"
            sim.inject(Fault("reboot", start=fault_at + timedelta(hours=3)))
    if sc.hang:
        fault_at = midnight + timedelta(hours=sc.hang[0])
    uploads = []
    last_contact: datetime | None = None
    unreachable_since: datetime | None = None
    span = sc.days - first_day if days is None else days
    for at in _poll_times(sc.start + timedelta(days=first_day), span):
        hung = sc.hang is not None and midnight + timedelta(hours=sc.hang[0]) <= at < midnight + timedelta(
            hours=sc.hang[1])
        items: tuple[UploadItem, ...] = ()
        refused = sim.refusing_dl_cgi(at, "/cgi-bin/dl_cgi")  # old firmware's 403 fit: the edge's PvsRefusing
        if not hung and not refused and sim.answering(at):
            source = "varserver" if sim.config_at(at).api == "varserver" else "dl_cgi"  # after an update
            payload = sim.device_list(at) if source == "dl_cgi" else {
                k: v for k, v in sim.varserver_vars(at, "/").items() if k != "/sys/info/wpa_key"}
            raw = json.dumps(payload, sort_keys=True).encode()
            items = (UploadItem(at, source, hashlib.sha256(raw).hexdigest(), payload),)
            last_contact, unreachable_since = at, None
        elif unreachable_since is None:
            unreachable_since = at
        status: dict[str, Any] = {"spool_depth": 0}
        if last_contact is not None:
            status["last_pvs_contact"] = last_contact.isoformat()
        if unreachable_since is not None:
            status["pvs_unreachable_since"] = unreachable_since.isoformat()
            status["last_pvs_error"] = ("PvsRefusing: dl_cgi refused the Pi (HTTP 403 from /cgi-bin/dl_cgi)"
                                        if refused else "timed out after 60 s")
        uploads.append(Upload(at, items, status))
    return Played(sim, uploads, fault_at)


class _RecordingOutbox(OutboxTransport):
    """The outbox, also remembering when (simulated time) each mail went out and what it said."""

    def __init__(self, folder: Path, clock: list[datetime]) -> None:
        super().__init__(folder, clock=lambda: clock[0])  # mails dated in simulated time
        self.sim_clock = clock
        self.sent: list[tuple[datetime, str]] = []

    def send(self, mail: Any) -> None:
        super().send(mail)
        self.sent.append((self.sim_clock[0], f"{mail.subject}\n{mail.text}"))


def _play_roof(sim: Simulator, midnight: datetime, polls: list[datetime], array: ArrayConfig | None = None,
               snow: SnowWeather | None = None) -> tuple[list[dict[str, Any]], list[tuple[datetime, str]]]:
    """Play the Pi against ``sim`` at ``polls`` through the real pipeline; the Alerts rows and the mails sent.

    With ``snow`` that has snow in it, a loopback Open-Meteo answers its snowfall and snow depth (the rest null);
    otherwise the weather service is off.
    """
    if snow is None or not snow.snowy:
        return _play_roof_with(sim, midnight, polls, array, WeatherConfig(enabled=False))
    with serve_openmeteo() as server:
        # Every other variable answered as nulls, as Open-Meteo does for what a model lacks: read quietly as unknown.
        server.behaviour.null_variables = set(UNITS) - {"time", "snowfall", "snow_depth"}
        server.behaviour.snowfall_cm = snow.snowfall_cm
        server.behaviour.snow_depth_m = snow.snow_depth_m
        weather = WeatherConfig(forecast_url=server.forecast_url, archive_url=server.archive_url, timeout_s=10.0)
        return _play_roof_with(sim, midnight, polls, array, weather)


def _play_roof_with(sim: Simulator, midnight: datetime, polls: list[datetime], array: ArrayConfig | None,
                    weather: WeatherConfig) -> tuple[list[dict[str, Any]], list[tuple[datetime, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        site = _site(sim, folder, base=array)
        config = CloudConfig(sites={"home": site}, mail=MailConfig(outbox_dir=folder / "outbox"),
                             weather=weather, detection=DetectionConfig())
        sink = CsvSink(site.local_dir, site.tz)
        clock: list[datetime] = [midnight]
        mailer = _RecordingOutbox(folder / "outbox", clock)
        services = Services(sink_for=lambda _site: sink, clock=lambda: clock[0], mailer=lambda: mailer)
        last_contact: datetime | None = None
        for at in polls:
            items: tuple[UploadItem, ...] = ()
            if sim.answering(at):
                payload = sim.device_list(at)
                raw = json.dumps(payload, sort_keys=True).encode()
                items = (UploadItem(at, "dl_cgi", hashlib.sha256(raw).hexdigest(), payload),)
                last_contact = at
            status: dict[str, Any] = {"spool_depth": 0}
            if last_contact is not None:
                status["last_pvs_contact"] = last_contact.isoformat()
            clock[0] = at + timedelta(seconds=20)
            ingest_batch(UploadBatch("home", "bench", status, items), config, services)
            clock[0] = at + timedelta(minutes=2)
            run_watchdog(sink, site, config.detection, clock[0], lambda: mailer)
        state = sink.load_state()
        rows = state.section("alerts").get("rows", [])
        learned = json.dumps(state.section("detect").get("normal", {}), separators=(",", ":"))
    return [*rows, {"kind": "_learned_bytes", "device": str(len(learned.encode())), "opened": ""}], mailer.sent


# Kinds only the scheduled watchdog judges (the present: is the Pi talking now?); a backlog cannot replay them.
WATCHDOG_KINDS = frozenset({"edge_silent", "pvs_unreachable", "edge_storage"})


def comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Alerts rows as a backlog must reproduce them: every column but Emailed (wall time), watchdog kinds aside."""
    return [(r.get("started"), r.get("opened"), r.get("resolved"), r["kind"], r["device"], r["message"],
             r["alert_id"]) for r in rows if r["kind"] not in WATCHDOG_KINDS]


def _one_shot(sc: Scenario, played: Played, folder: Path) -> list[dict[str, Any]]:
    """The same readings sent late, all at once (in contract-size batches): the Pi back from an outage."""
    site = _site(played.sim, folder, sc.circuit_map)
    config = CloudConfig(sites={"home": site}, mail=MailConfig(outbox_dir=folder / "outbox"),
                         weather=WeatherConfig(enabled=False), detection=DetectionConfig())
    sink = CsvSink(site.local_dir, site.tz)
    mailer = OutboxTransport(folder / "outbox")
    end = played.uploads[-1].at + timedelta(days=1)
    services = Services(sink_for=lambda _site: sink, clock=lambda: end, mailer=lambda: mailer)
    items = [i for u in played.uploads for i in u.items]
    for k in range(0, len(items), MAX_SNAPSHOTS):
        ingest_batch(UploadBatch("home", "bench", played.uploads[-1].status, tuple(items[k:k + MAX_SNAPSHOTS])),
                     config, services)
    return sink.load_state().section("alerts").get("rows", [])


def run_scenario(sc: Scenario, backlog: bool = True) -> dict[str, Any]:
    """Play one scenario through the pipeline (live, then as one late backlog) and score it."""
    t_start = time.monotonic()
    played = play(sc)
    sim = played.sim
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        site = _site(sim, folder, sc.circuit_map)
        config = CloudConfig(sites={"home": site}, mail=MailConfig(outbox_dir=folder / "outbox"),
                             weather=WeatherConfig(enabled=False), detection=DetectionConfig())
        sink = CsvSink(site.local_dir, site.tz)
        mailer = OutboxTransport(folder / "outbox")
        clock: list[datetime] = [played.uploads[0].at]
        services = Services(sink_for=lambda _site: sink, clock=lambda: clock[0], mailer=lambda: mailer)
        for upload in played.uploads:
            clock[0] = upload.at + timedelta(seconds=20)
            ingest_batch(UploadBatch("home", "bench", upload.status, upload.items), config, services)
            clock[0] = upload.at + timedelta(minutes=2)
            run_watchdog(sink, site, config.detection, clock[0], lambda: mailer)
        rows = sink.load_state().section("alerts").get("rows", [])
        mails = len(list((folder / "outbox").glob("*.eml")))
        same = None
        if backlog:
            late = folder / "backlog"
            late.mkdir()
            same = comparable(_one_shot(sc, played, late)) == comparable(rows)
    result = _score(sc, sim, rows, played.fault_at, mails, time.monotonic() - t_start, len(played.uploads))
    result["backlog_same"] = same
    return result


def _score(sc: Scenario, sim: Simulator, rows: list[dict[str, Any]], fault_at: datetime | None, mails: int,
           took_s: float, readings: int) -> dict[str, Any]:
    expected = (sc.expect[0], _device(sc.expect[1], sim)) if sc.expect else None
    hit = None
    false: list[str] = []
    related: list[str] = []
    for row in rows:
        opened = datetime.fromisoformat(row["opened"])
        if expected and (row["kind"], row["device"]) == expected and fault_at and opened >= fault_at and hit is None:
            hit = opened
        elif expected and row["kind"] in sc.related and row["device"] == expected[1]:
            related.append(f"{row['kind']}@{opened.astimezone(TZ):%m-%d %H:%M}")
        else:
            false.append(f"{row['kind']}:{row['device'][-6:]}@{opened.astimezone(TZ):%m-%d %H:%M}")
    delay = ""
    if hit is not None and fault_at is not None:
        if sc.sunny_days_metric:
            days = [fault_at.astimezone(TZ).date() + timedelta(days=k)
                    for k in range((hit.astimezone(TZ).date() - fault_at.astimezone(TZ).date()).days + 1)]
            sunny = sum(1 for d in days if sim.config.weather_on(d) == "clear")
            delay = f"{sunny} sunny day(s) ({len(days)} days)"
        else:
            delay = f"{_daylight_hours(fault_at, hit):.2f} daylight h ({(hit - fault_at).total_seconds() / 3600:.2f} h)"
    return {"name": sc.name, "expected": f"{expected[0]}" if expected else "-", "detected": hit is not None,
            "delay": delay, "target": sc.target, "false": false, "related": related, "mails": mails,
            "readings": readings,
            "took_s": round(took_s, 1),
            "weather": "".join(WEATHER_LETTER[sim.config.weather_on(sc.start + timedelta(days=d))]
                               for d in range(sc.days))}


def main(argv: list[str] | None = None) -> int:
    """Run every scenario (in parallel processes) and print the table; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two weeks per clean season instead of a month")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument("--roofs-only", action="store_true", help="only the shaded, snowy and two-plane roofs")
    parser.add_argument("--no-roofs", action="store_true", help="only the fault scenarios and clean months")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    chosen = [s for s in scenarios(args.quick) if args.only in s.name] if not args.roofs_only else []
    chosen_roofs = [r for r in roofs(args.quick) if args.only in r.name] if not args.no_roofs else []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        roof_futures = [pool.submit(run_roof, r) for r in chosen_roofs]
        results = list(pool.map(run_scenario, chosen))
        roof_results = [f.result() for f in roof_futures]
    ok = True
    if results:
        print(f"{'scenario':28} {'expected':16} {'detected':9} {'delay':34} {'target':17} {'false':5} {'mails':5} "
              f"{'backlog':8} weather")
    for r in results:
        verdict = "-" if r["expected"] == "-" else ("yes" if r["detected"] else "NO")
        backlog = {True: "same", False: "DIFFERS", None: "-"}[r["backlog_same"]]
        print(f"{r['name']:28} {r['expected']:16} {verdict:9} {r['delay']:34} "
              f"{r['target']:17} {len(r['false']):<5} {r['mails']:<5} {backlog:8} {r['weather']}")
        for f in r["false"]:
            print(f"{'':28}   false alert: {f}")
        for f in r["related"]:
            print(f"{'':28}   also (true, same panel): {f}")
        ok &= (r["detected"] or r["expected"] == "-") and not r["false"] and r["backlog_same"] is not False
    ok &= _print_roofs(roof_results)
    total = sum(r["readings"] for r in results + roof_results)
    print(f"\n{total} readings through the pipeline, {sum(r['took_s'] for r in results + roof_results):.0f} s of "
          "work. Weather per day: S = clear, c = cloudy, * = snow-covered.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
