"""Issue 18's roofs for the detection bench: rooftops that are not rows of identical, unshaded panels.

A tree's morning shadow on 3 of 16 panels, snow sliding off unevenly (its weather reported by a loopback
Open-Meteo), an east/west roof and a south roof with a small west face, each with and without its planes
configured; each played from the site's first day for weeks, then with a 25 % weak and a dead panel, and scored
for false alerts and mails (`run_roof`). `bench/detection.py` runs them as its second table.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import ArrayConfig, CloudConfig, DetectionConfig, MailConfig, PlaneConfig, WeatherConfig
from pvs6_cloud.intake.contract import UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_cloud.jobs.watchdog import run_watchdog
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_sim.config import ArrayConfig as SimArrayConfig
from pvs6_sim.config import Plane, PvsConfig, Shade, SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.model import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.* and tests.support
from bench.detection_site import TZ, _daylight_hours, _poll_times, _site
from tests.support.openmeteo_server import UNITS, serve_openmeteo


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
