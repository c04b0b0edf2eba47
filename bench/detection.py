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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig, DetectionConfig, MailConfig, WeatherConfig
from pvs6_cloud.intake.contract import MAX_SNAPSHOTS, UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_cloud.jobs.watchdog import run_watchdog
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_sim.config import ArrayConfig as SimArrayConfig
from pvs6_sim.config import Plane, PvsConfig, SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.model import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: bench.* and tests.support

from bench.detection_roofs import _print_roofs, roofs, run_roof
from bench.detection_site import TZ, WEATHER_LETTER, _daylight_hours, _device, _poll_times, _site


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
