"""The monitor is blind: the meter shows production, the PVS6 lists no live inverters; rule, simulator, whole chain."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from test_detect_inverters import T0, every, healthy, keys, run, snapshot, sun

from pvs6_cloud.alerting.notify.compose import KIND_TITLES
from pvs6_cloud.runtime import Runtime
from pvs6_edge.config import load_config as load_edge_config
from pvs6_edge.runner import EdgeRunner
from pvs6_parse.models import Inverter
from pvs6_sim.config import SimConfig
from pvs6_sim.faults import Fault, parse_fault
from pvs6_sim.model import Simulator
from pvs6_sim.server import run_simulator
from tests.support.cloud import SECRET, local_config
from tests.support.loopback import SimulatedClock, serve_function

BLIND = "monitor_blind:"


def _nobody() -> dict[str, float | None]:
    return dict.fromkeys(healthy(), None)


def test_no_panel_listed_while_the_meter_produces_opens_one_alert_that_says_what_helps() -> None:
    readings = [(snapshot(T0, healthy()), sun())]
    readings += [(snapshot(T0 + timedelta(minutes=15), _nobody(), meter_kw=2.5), sun())]
    result, memory = run(readings)
    assert BLIND not in keys(result), "30 minutes of evidence are needed"
    result, memory = run([(snapshot(T0 + timedelta(minutes=30), _nobody(), meter_kw=2.4), sun())], memory)
    assert keys(result) == {BLIND}, "the per-panel rules stay silent: they have no panels to compare"
    [finding] = result.findings
    assert "producing but the PVS6 has lost sight of them" in finding.summary
    assert "2.40 kW" in finding.details and "did not list any of your 12 panels" in finding.details
    assert "Panel faults cannot be detected until the PVS6 sees its panels again" in finding.details
    assert "breaker" in finding.advice and "off for a minute" in finding.advice
    # Night and dim light say nothing either way: the alert stays open, it does not flap.
    result, memory = run([(snapshot(T0 + timedelta(hours=10), _nobody(), meter_kw=0.0), sun(-10.0))], memory)
    assert keys(result) == {BLIND} and "monitor_blind" in result.evaluated_kinds
    later = T0 + timedelta(days=1)
    result, memory = run([(snapshot(t, healthy()), sun()) for t in every(15, 2, later)], memory)
    assert BLIND in keys(result), "the first seeing readings of a day are not yet 30 minutes of evidence"
    result, _ = run([(snapshot(later + timedelta(minutes=30), healthy()), sun())], memory)
    assert keys(result) == set()


def _frozen(at: datetime, measured_at: datetime) -> list[Inverter]:
    return [replace(inv, measured_at=measured_at, lifetime_kwh=2000.0)
            for inv in snapshot(at, healthy(0.2)).inverters]


def test_readings_repeated_unchanged_while_the_meter_moves_are_blindness() -> None:
    first = snapshot(T0, healthy(0.2))
    stuck_at = T0 - timedelta(seconds=20)
    readings = [(first, sun())]
    for i, t in enumerate(every(15, 4, T0 + timedelta(minutes=15))):
        meter = replace(first.production_meter, power_kw=2.4 + 0.1 * i)
        readings.append((replace(first, captured_at=t, production_meter=meter,
                                 inverters=tuple(_frozen(T0, stuck_at))), sun()))
    result, _ = run(readings)
    [finding] = result.findings
    assert finding.kind == "monitor_blind"
    assert "repeated the very same panel readings" in finding.details


def test_a_pi_clock_two_hours_ahead_does_not_make_the_panels_look_stale() -> None:
    readings = []
    for t in every(15, 6):
        snap = snapshot(t, healthy())
        meter = replace(snap.production_meter, measured_at=t)
        readings.append((replace(snap, captured_at=t + timedelta(hours=2), production_meter=meter), sun()))
    result, _ = run(readings)
    assert BLIND not in keys(result)


def test_panels_listed_but_hours_old_are_blindness_and_a_dim_meter_is_not() -> None:
    stale = list(healthy())
    result, _ = run([(snapshot(t, healthy(0.0), stale=stale, meter_kw=1.8), sun()) for t in every(15, 5)])
    [finding] = result.findings
    assert "add up to only 0 W" in finding.details and "minutes old" in finding.details
    dim = [(snapshot(t, _nobody(), meter_kw=0.08), sun(20.0)) for t in every(15, 8)]
    result, _ = run(dim)
    assert keys(result) == set(), "under 0.1 kW the meter does not prove the panels produce"


def test_the_simulator_serves_a_blind_and_a_frozen_pvs6() -> None:
    assert parse_fault("blind@2025-06-02T14:00Z").kind == "blind"
    start = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
    sim = Simulator(SimConfig(start=start - timedelta(hours=1)))
    sim.inject(Fault("blind", start=start, end=start + timedelta(hours=1)))
    sim.inject(Fault("frozen", start=start + timedelta(hours=1)))
    types = [d["DEVICE_TYPE"] for d in sim.device_list(start)["devices"]]
    assert "Inverter" not in types and types.count("Power Meter") == 2
    assert sim.varserver_vars(start, "/sys/devices/inverter/") == {}
    first = sim.varserver_vars(start + timedelta(hours=1, minutes=5), "/sys/devices/")
    later = sim.varserver_vars(start + timedelta(hours=1, minutes=35), "/sys/devices/")
    inverters = {k: v for k, v in first.items() if "/inverter/" in k}
    assert len(inverters) == 12 * 12 and inverters == {k: v for k, v in later.items() if "/inverter/" in k}
    assert first["/sys/devices/meter/0/netLtea3phsumKwh"] != later["/sys/devices/meter/0/netLtea3phsumKwh"]
    assert sim.device_list(start + timedelta(hours=3))["devices"][3]["DEVICE_TYPE"] == "Inverter"


def _edge_toml(tmp: Path, pvs_url: str, cloud_url: str, password: str) -> Path:
    path = tmp / "edge.toml"
    path.write_text(f'[pvs]\nurl = "{pvs_url}"\napi = "auto"\nserial_last5 = "{password}"\ntimeout_s = 5\n'
                    f'min_interval_s = 60\n[cloud]\nurl = "{cloud_url}"\nsite = "home"\nsecret = "{SECRET}"\n'
                    f'[storage]\ndir = "{tmp / "edge"}"\n')
    return path


def test_a_blind_pvs6_over_the_varserver_reaches_the_owner_as_one_alert(tmp_path: Path) -> None:
    start = datetime(2025, 6, 2, 13, 0, tzinfo=UTC)  # 09:00 EDT, a clear June morning
    clock = SimulatedClock(start)
    with run_simulator(SimConfig(start=start, api="varserver"), tls=True) as pvs, \
            serve_function(Runtime(local_config(tmp_path), clock=clock.now)) as url:
        pvs.sim.inject(Fault("blind", start=start + timedelta(minutes=50)))
        edge = EdgeRunner(load_edge_config(_edge_toml(tmp_path, pvs.url.replace("https:", "http:"), url,
                                                      pvs.sim.identity.password), {}), clock=clock)
        while clock.at <= start + timedelta(hours=2):
            pvs.sim.clock.set(clock.at)
            result = edge.execute(collect=True, upload=True)
            assert (result.collect, result.upload) == ("ok", "ok"), result
            clock.at += timedelta(minutes=15)
    with (tmp_path / "sheet" / "Alerts.csv").open(newline="") as fh:
        alerts = list(csv.DictReader(fh))
    assert [a["Kind"] for a in alerts] == [KIND_TITLES["monitor_blind"]]
    [mail] = sorted((tmp_path / "outbox").glob("*.eml"))
    text = message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "lost sight of them" in text and "Panel faults cannot be detected" in text
