"""Device faults change the model exactly as the seed describes; fault specs parse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pvs6_sim.clock import utc
from pvs6_sim.config import SimConfig
from pvs6_sim.faults import Fault, FaultBook, parse_fault
from pvs6_sim.model import Simulator

START = utc(2025, 6, 10, 12)
FAULT_AT = utc(2025, 6, 10, 14)
NOON = utc(2025, 6, 10, 17)


def _sim(*faults: Fault) -> Simulator:
    sim = Simulator(SimConfig(start=START))
    for fault in faults:
        sim.inject(fault)
    return sim


def test_dead_inverter_reads_error_zero_frozen_datatime_and_lifetime() -> None:
    sim = _sim(Fault("dead", target=3, start=FAULT_AT))
    early = sim.reading(FAULT_AT - timedelta(minutes=1))
    before, peer_before = early.inverters[3], early.inverters[4]
    noon = sim.reading(NOON)
    dead, peer = noon.inverters[3], noon.inverters[4]
    assert (dead.state, dead.power_kw) == ("error", 0.0)
    assert peer.state == "working" and peer.power_kw > 0.25
    assert dead.measured_at <= FAULT_AT and dead.measured_at >= before.measured_at
    assert dead.lifetime_kwh == pytest.approx(before.lifetime_kwh, abs=0.01)
    assert peer.lifetime_kwh > peer_before.lifetime_kwh + 0.5


def test_dead_by_serial_and_weak_panel() -> None:
    plain = _sim().reading(NOON)
    serial = plain.inverters[7].serial
    sim = _sim(Fault("dead", target=serial, start=FAULT_AT), Fault("weak", target=5, value=0.5, start=FAULT_AT))
    noon = sim.reading(NOON)
    assert noon.inverters[7].state == "error"
    assert noon.inverters[5].power_kw == pytest.approx(plain.inverters[5].power_kw * 0.5, rel=0.02)
    assert noon.production.power_kw < plain.production.power_kw


def test_breaker_trips_a_whole_circuit() -> None:
    noon = _sim(Fault("breaker", target=2, start=FAULT_AT)).reading(NOON)
    on_2 = [i for i in noon.inverters if i.circuit == 2]
    assert len(on_2) == 6 and all(i.state == "error" and i.power_kw == 0 for i in on_2)
    assert all(i.state == "working" for i in noon.inverters if i.circuit == 1)


def test_stuck_counter_keeps_producing_but_lifetime_freezes() -> None:
    sim = _sim(Fault("stuck", target=0, start=FAULT_AT))
    at_fault = sim.reading(FAULT_AT).inverters[0].lifetime_kwh
    noon = sim.reading(NOON).inverters[0]
    assert noon.state == "working" and noon.power_kw > 0.2
    assert noon.lifetime_kwh == pytest.approx(at_fault, abs=1e-6)


def test_reversed_ct_makes_production_negative() -> None:
    sim = _sim(Fault("reversed_ct", start=FAULT_AT))
    before = sim.reading(FAULT_AT).production.net_lifetime_kwh
    noon = sim.reading(NOON)
    assert noon.production.power_kw < -1.0
    assert noon.production.net_lifetime_kwh < before


def test_vanished_inverter_is_missing_from_both_apis() -> None:
    sim = _sim(Fault("vanished", target=2, start=FAULT_AT))
    doc = sim.device_list(NOON)
    serials = {d["SERIAL"] for d in doc["devices"]}
    assert sim.identity.inverter_serials[2] not in serials and len(doc["devices"]) == 3 + 11
    assert not any(k.startswith("/sys/devices/inverter/2/") for k in sim.varserver_vars(NOON, "inverter"))


def test_reboot_resets_uptime_and_opens_a_silent_window() -> None:
    sim = _sim(Fault("reboot", value=600, start=FAULT_AT))
    assert sim.reading(FAULT_AT - timedelta(seconds=1)).pvs.uptime_s > 3600
    assert not sim.answering(FAULT_AT + timedelta(minutes=5))
    assert sim.answering(FAULT_AT + timedelta(minutes=11))
    assert sim.reading(FAULT_AT + timedelta(minutes=15)).pvs.uptime_s == pytest.approx(300, abs=1)


def test_nightly_reboot_from_config() -> None:
    config = SimConfig(start=START)
    config = SimConfig(start=START, pvs=type(config.pvs)(nightly_reboot_hour_utc=7))
    sim = Simulator(config)
    assert not sim.answering(utc(2025, 6, 11, 7, 4))
    assert sim.reading(utc(2025, 6, 11, 8)).pvs.uptime_s == pytest.approx(3600 - 540, abs=1)


def test_comm_errors_rise_and_flash_low() -> None:
    sim = _sim(Fault("comm_errors", value=100, start=FAULT_AT), Fault("flash_low", value=900, start=FAULT_AT))
    before = sim.reading(FAULT_AT - timedelta(minutes=1)).pvs
    after = sim.reading(FAULT_AT + timedelta(hours=3)).pvs
    assert after.comm_err - before.comm_err >= 300
    assert after.err_count > before.err_count
    assert (before.flash_avail_kb, after.flash_avail_kb) == (59039, 900)
    assert after.flash_usage_pct > 95


def test_fault_without_start_begins_at_the_current_time() -> None:
    sim = _sim()
    sim.reading(FAULT_AT)
    stored = sim.inject(Fault("dead", target=1))
    assert stored.start == FAULT_AT and stored.fault_id == 1
    assert sim.reading(NOON).inverters[1].state == "error"
    assert sim.clear_faults(fault_id=stored.fault_id) == 1


@pytest.mark.parametrize(("spec", "expected"), [
    ("dead:3@2025-06-01T10:00Z", Fault("dead", target=3, start=utc(2025, 6, 1, 10))),
    ("dead:E00123456789012", Fault("dead", target="E00123456789012")),
    ("weak:5:0.75", Fault("weak", target=5, value=0.75)),
    ("breaker:2@2025-06-01T10:00Z/2025-06-01T12:00Z",
     Fault("breaker", target=2, start=utc(2025, 6, 1, 10), end=utc(2025, 6, 1, 12))),
    ("hang", Fault("hang")),
    ("http500:3", Fault("http500", count=3)),
    ("slow:2.5:4", Fault("slow", value=2.5, count=4)),
    ("reboot:600", Fault("reboot", value=600.0)),
])
def test_parse_fault(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


@pytest.mark.parametrize("spec", ["dead", "meteor", "http500:0", "dead:1@yesterday", "dead:1@2025-06-01T10:00"])
def test_parse_fault_rejects_nonsense(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case fails for its own reason)
        parse_fault(spec)


def test_transport_faults_are_consumed_in_order() -> None:
    book = FaultBook()
    book.add(Fault("http500", count=2))
    book.add(Fault("garbage"))
    assert [book.take_transport().kind for _ in range(4)] == ["http500", "http500", "garbage", "garbage"]
    assert book.clear(kind="garbage") == 1
    assert book.take_transport() is None
