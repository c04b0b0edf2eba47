"""The pure simulator model: physics over a day, counters, meters, determinism, time clamping."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from pvs6_sim.clock import SimClock, utc
from pvs6_sim.config import SimConfig
from pvs6_sim.model import Simulator

DAY = utc(2025, 6, 10)


def _f(device: dict, key: str) -> float:
    return float(device[key])


def _inverters(doc: dict) -> list[dict]:
    return [d for d in doc["devices"] if d["DEVICE_TYPE"] == "Inverter"]


def _meter(doc: dict, suffix: str) -> dict:
    return next(d for d in doc["devices"] if d["DEVICE_TYPE"] == "Power Meter" and d["SERIAL"].endswith(suffix))


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(start=DAY))


def test_power_follows_the_sun_over_a_day(sim: Simulator) -> None:
    hourly = []
    for hour in range(24):
        doc = sim.device_list(DAY + timedelta(hours=hour))
        hourly.append(sum(_f(d, "p_3phsum_kw") for d in _inverters(doc)))
    noon_utc = 17  # solar noon at -72.68 E is about 16:50 UTC
    assert max(hourly) == pytest.approx(max(hourly[15:19]))
    assert 3.0 < max(hourly) <= 12 * 0.32 + 1e-6  # clipped at 0.32 kW per microinverter
    assert hourly[3] == 0.0 and hourly[6] == 0.0  # night (23:00 and 02:00 local)
    assert hourly[11] < hourly[14] < hourly[noon_utc - 1]  # rising morning
    assert hourly[noon_utc + 1] > hourly[21] > hourly[23]  # falling afternoon


def test_inverters_read_error_with_zero_power_at_night_and_freeze_datatime(sim: Simulator) -> None:
    night = DAY + timedelta(hours=6)  # 02:00 local
    doc = sim.device_list(night)
    inverters = _inverters(doc)
    assert len(inverters) == 12
    assert {d["STATE"] for d in inverters} == {"error"}
    assert {d["p_3phsum_kw"] for d in inverters} == {"0"}
    # DATATIME is the last measurement: around the previous sunset (~00:25 UTC in June), not now.
    stamps = {d["DATATIME"] for d in inverters}
    assert all(s.startswith("2025,06,10,00,") or s.startswith("2025,06,09,23,") for s in stamps), stamps
    later = sim.device_list(night + timedelta(hours=2))
    assert {d["DATATIME"] for d in _inverters(later)} == stamps
    day = sim.device_list(DAY + timedelta(hours=16, minutes=7))
    assert {d["STATE"] for d in _inverters(day)} == {"working"}
    assert {d["DATATIME"] for d in _inverters(day)} == {"2025,06,10,16,07,00"}


def test_lifetime_counters_grow_and_match_the_integral_of_power(sim: Simulator) -> None:
    step = timedelta(minutes=15)
    at = DAY
    first = sim.device_list(at)
    previous = [_f(d, "ltea_3phsum_kwh") for d in _inverters(first)]
    integral_kwh = 0.0
    power_kw = sum(_f(d, "p_3phsum_kw") for d in _inverters(first))
    for _ in range(96):
        at += step
        doc = sim.device_list(at)
        now = [_f(d, "ltea_3phsum_kwh") for d in _inverters(doc)]
        assert all(b >= a for a, b in zip(previous, now, strict=True))
        new_power_kw = sum(_f(d, "p_3phsum_kw") for d in _inverters(doc))
        integral_kwh += (power_kw + new_power_kw) / 2 * step.total_seconds() / 3600
        power_kw, previous = new_power_kw, now
    gained_kwh = sum(previous) - sum(_f(d, "ltea_3phsum_kwh") for d in _inverters(first))
    assert gained_kwh > 15.0
    assert gained_kwh == pytest.approx(integral_kwh, rel=0.03)
    meter_gain = _f(_meter(doc, "p"), "net_ltea_3phsum_kwh") - _f(_meter(first, "p"), "net_ltea_3phsum_kwh")
    assert meter_gain == pytest.approx(gained_kwh, rel=0.01)


def test_meters_agree_with_the_inverters_and_the_house(sim: Simulator) -> None:
    doc = sim.device_list(DAY + timedelta(hours=16))
    inverter_kw = sum(_f(d, "p_3phsum_kw") for d in _inverters(doc))
    production, consumption = _meter(doc, "p"), _meter(doc, "c")
    assert _f(production, "p_3phsum_kw") == pytest.approx(inverter_kw, rel=0.01)
    reading = sim.reading(DAY + timedelta(hours=16))
    assert _f(consumption, "p_3phsum_kw") == pytest.approx(reading.house_load_kw - reading.production.power_kw
                                                           / (1 + 0.003), abs=0.05)
    assert _f(consumption, "p_3phsum_kw") < 0  # exporting at noon
    net = _f(consumption, "net_ltea_3phsum_kwh")
    pos, neg = _f(consumption, "pos_ltea_3phsum_kwh"), _f(consumption, "neg_ltea_3phsum_kwh")
    assert net == pytest.approx(pos - neg, abs=0.001)


def test_consumption_counters_move_the_right_way(sim: Simulator) -> None:
    a = _meter(sim.device_list(DAY + timedelta(hours=4)), "c")
    b = _meter(sim.device_list(DAY + timedelta(hours=8)), "c")  # night: importing only
    assert _f(b, "pos_ltea_3phsum_kwh") > _f(a, "pos_ltea_3phsum_kwh")
    assert _f(b, "neg_ltea_3phsum_kwh") == _f(a, "neg_ltea_3phsum_kwh")
    c = _meter(sim.device_list(DAY + timedelta(hours=18)), "c")  # sunny midday: exporting
    assert _f(c, "neg_ltea_3phsum_kwh") > _f(b, "neg_ltea_3phsum_kwh")


def test_weather_scales_production() -> None:
    noon = DAY + timedelta(hours=17)
    totals = {}
    for kind in ("clear", "cloudy", "snow"):
        sim = Simulator(SimConfig(start=DAY, weather={noon.date(): kind}))
        totals[kind] = sim.reading(noon).production.power_kw
    assert totals["clear"] > totals["cloudy"] > totals["snow"]
    assert totals["snow"] < 0.1


def test_same_config_same_answers_and_seed_changes_serials() -> None:
    times = [DAY + timedelta(hours=h, minutes=13) for h in (2, 9, 15, 17, 23)]
    a, b = Simulator(SimConfig(start=DAY)), Simulator(SimConfig(start=DAY))
    assert [a.device_list(t) for t in times] == [b.device_list(t) for t in times]
    # Query pattern does not matter: jumping straight to the end gives the same document.
    c = Simulator(SimConfig(start=DAY))
    assert c.device_list(times[-1]) == a.device_list(times[-1])
    other = Simulator(SimConfig(start=DAY, seed=2))
    assert other.identity.inverter_serials != a.identity.inverter_serials
    assert other.identity.pvs_serial != a.identity.pvs_serial


def test_earlier_time_is_clamped_to_the_last_state(sim: Simulator) -> None:
    late = sim.device_list(DAY + timedelta(hours=18))
    early = sim.device_list(DAY + timedelta(hours=10))
    assert early == late
    assert sim.last_time == DAY + timedelta(hours=18)


def test_serials_look_real(sim: Simulator) -> None:
    ident = sim.identity
    assert ident.pvs_serial.startswith("ZT") and len(ident.pvs_serial) == 19
    assert ident.production_meter_serial.startswith("PVS6M") and ident.production_meter_serial.endswith("p")
    assert ident.consumption_meter_serial.endswith("c")
    assert all(s.startswith("E00") and len(s) == 15 for s in ident.inverter_serials)
    assert len(set(ident.inverter_serials)) == 12
    assert ident.password == ident.pvs_serial[-5:]


def test_months_advance_in_well_under_seconds() -> None:
    sim = Simulator(SimConfig(start=DAY, default_weather="mixed"))
    began = time.perf_counter()
    doc = sim.device_list(DAY + timedelta(days=90))
    assert time.perf_counter() - began < 3.0
    gained = _f(_meter(doc, "p"), "net_ltea_3phsum_kwh") - sim.reading(DAY).production.net_lifetime_kwh
    assert gained == pytest.approx(0.0, abs=1e-3)  # an earlier time is answered with the latest state
    assert Simulator(SimConfig(start=DAY)).reading(DAY).production.net_lifetime_kwh < _f(
        _meter(doc, "p"), "net_ltea_3phsum_kwh") - 1000


def test_clock_manual_and_running() -> None:
    real = [100.0]
    clock = SimClock(DAY, speed=60.0, monotonic=lambda: real[0])
    real[0] += 10
    assert clock.now() == DAY + timedelta(minutes=10)
    clock.set(DAY, speed=0)
    real[0] += 1000
    assert clock.now() == DAY
    assert clock.advance(90) == DAY + timedelta(seconds=90)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
