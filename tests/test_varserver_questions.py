"""What the edge asks a 2025-firmware PVS6, against the simulator answering as the real varserver does.

The simulator follows fcgi_vars (the varserver's FastCGI front): the query is read undecoded, a name list with one
unknown name is a 400, a match that finds nothing is a 400. Each test runs the real edge client over HTTPS.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import requests

from pvs6_edge.clock import SystemClock
from pvs6_edge.config import PvsConfig
from pvs6_edge.pvs import Fetched, PvsClient
from pvs6_parse import parse_payload
from pvs6_parse.models import Snapshot
from pvs6_sim.config import PvsConfig as SimPvs
from pvs6_sim.config import SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.server import SimServer, run_simulator

NOON = datetime(2025, 6, 15, 16, 0, tzinfo=UTC)
PRIVATE = re.compile(r"ssid|wpa|mac", re.IGNORECASE)


def _fetch(pvs: SimServer, **cfg: object) -> tuple[Fetched, Snapshot]:
    settings = {"url": pvs.url, "timeout_s": 5.0, "serial_last5": pvs.sim.identity.password, **cfg}
    with requests.Session() as session:
        fetched = PvsClient(session, PvsConfig(**settings), SystemClock()).fetch("varserver")
    snapshot = parse_payload(json.loads(fetched.raw), source=fetched.source, site="home", captured_at=NOON)
    return fetched, snapshot


def test_two_questions_give_a_complete_reading_without_any_wifi_detail() -> None:
    with run_simulator(SimConfig(start=NOON, api="varserver"), tls=True) as pvs:
        fetched, snapshot = _fetch(pvs)
        queries = pvs.vars_queries
    assert [sorted(q) for q in queries] == [["fmt", "name"], ["fmt", "match"]]
    assert queries[1]["match"] == "/sys/devices/" and "/sys/pvs/flashwear_type_b" in queries[0]["name"]
    doc = json.loads(fetched.raw)
    assert not [name for name in doc if PRIVATE.search(name)]
    assert len(snapshot.inverters) == 12 and snapshot.production_meter and snapshot.consumption_meter
    assert snapshot.pvs is not None and snapshot.pvs.serial and snapshot.pvs.flash_wear_pct == 20.0
    assert snapshot.production_meter.power_kw and snapshot.production_meter.power_kw > 1.0


def test_wifi_asked_for_by_an_old_config_is_still_stripped() -> None:
    with run_simulator(SimConfig(start=NOON, api="varserver"), tls=True) as pvs:
        fetched, _ = _fetch(pvs, varserver_matches=("/sys/info/", "/sys/devices/"))
    doc = json.loads(fetched.raw)
    assert "/sys/info/sys_type" in doc and not [name for name in doc if PRIVATE.search(name)]


def test_the_early_per_device_layout_is_kept_whole() -> None:
    config = SimConfig(start=NOON, api="varserver", pvs=SimPvs(device_layout="early"))
    with run_simulator(config, tls=True) as pvs:
        fetched, snapshot = _fetch(pvs)
    assert "/sys/devices/21/inverter/data" in json.loads(fetched.raw)
    assert len(snapshot.inverters) == 12 and all(inv.power_kw and inv.lifetime_kwh for inv in snapshot.inverters)
    assert snapshot.production_meter is not None and snapshot.production_meter.serial.endswith("p")


def test_firmware_without_the_wear_variable_costs_the_wear_only() -> None:
    config = SimConfig(start=NOON, api="varserver", pvs=SimPvs(flash_wear_code=0))
    with run_simulator(config, tls=True) as pvs:
        _, snapshot = _fetch(pvs)
        asked = [q.get("name", q.get("match")) for q in pvs.vars_queries]
    assert len(asked) == 5  # the whole list (400), then info, livedata, wear (400), then the devices
    assert snapshot.pvs is not None and snapshot.pvs.uptime_s and snapshot.pvs.flash_wear_pct is None
    assert snapshot.production_meter is not None and len(snapshot.inverters) == 12


def test_no_inverters_listed_keeps_the_meters_and_the_pvs() -> None:
    with run_simulator(SimConfig(start=NOON, api="varserver"), tls=True) as pvs:
        pvs.sim.inject(Fault("blind", start=NOON))
        _, snapshot = _fetch(pvs)
    assert snapshot.inverters == () and snapshot.production_meter is not None and snapshot.pvs is not None
