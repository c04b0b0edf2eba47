"""Energy reconciliation on hand-built days: the panels' kWh against the production meter's, day by day."""

from __future__ import annotations

from datetime import timedelta

from test_detect_inverters import SERIALS, T0, run, sun

from pvs6_parse.models import DeviceState, Inverter, Meter, MeterRole, Snapshot

KIND = "energy_mismatch"
PER_PANEL_KWH = 1.5  # each of the 12 panels makes this much a day: 18 kWh for the array


def _days(plan: list[tuple[int, float]]) -> list:
    """Readings at 10:00, 13:00 and 18:00 local for each (panels listed, meter's share of the panels' energy)."""
    readings = []
    meter_kwh = 5000.0
    for day, (listed, meter_share) in enumerate(plan):
        for hour, part in ((0, 0.1), (3, 0.5), (8, 1.0)):
            at = T0 + timedelta(days=day, hours=hour)
            inverters = tuple(Inverter(serial, state=DeviceState.WORKING, power_kw=0.2,
                                       lifetime_kwh=1000.0 + PER_PANEL_KWH * (day + part), measured_at=at)
                              for serial in SERIALS[:listed])
            meter = Meter("PVS6M1p", MeterRole.PRODUCTION, power_kw=0.2 * listed,
                          lifetime_net_kwh=meter_kwh + 12 * PER_PANEL_KWH * meter_share * part)
            readings.append((Snapshot("home", at, "varserver", production_meter=meter, inverters=inverters), sun()))
        meter_kwh += 12 * PER_PANEL_KWH * meter_share
    return readings


def _mismatch(result):
    return [f for f in result.findings if f.kind == KIND]


def test_panels_missing_for_three_days_open_one_alert_that_clears_when_they_are_back() -> None:
    result, memory = run(_days([(12, 1.0)] * 3 + [(10, 1.0)] * 2))
    assert _mismatch(result) == []  # two short days are not yet lasting
    assert [d["panels"] for d in memory["meters"]["energy"]["days"]] == [12, 12, 12, 10]  # the last day still open
    result, memory = run(_days([(12, 1.0)] * 5 + [(10, 1.0)] * 3 + [(12, 1.0)]), {})
    [finding] = _mismatch(result)
    assert "only 83 %" in finding.summary and "listed 10 panels; it has listed 12" in finding.details
    assert "13.5 kWh a day" in finding.details and "16.2 kWh" in finding.details
    assert "Devices tab" in finding.advice
    readings = _days([(12, 1.0)] * 5 + [(10, 1.0)] * 3 + [(12, 1.0)] * 3)
    result, memory = run(readings[:-3])
    assert [f.summary for f in _mismatch(result)] == [finding.summary]  # one good day is not yet enough
    result, memory = run(readings[-3:-2], memory)  # the next morning closes the second good day
    assert _mismatch(result) == [] and KIND in result.evaluated_kinds


def test_a_meter_counting_low_points_at_its_clamps() -> None:
    result, _ = run(_days([(12, 0.6)] * 4))
    [finding] = _mismatch(result)
    assert "167 %" in finding.summary and "clamp" in finding.advice


def test_dull_days_and_a_reset_counter_neither_open_nor_clear() -> None:
    # Three dull days (the meter grows under 2 kWh) between two mismatched ones: no three counted days in a row.
    result, memory = run(_days([(10, 1.0), (10, 0.1), (10, 0.1), (10, 0.1), (10, 1.0), (12, 1.0)]))
    assert _mismatch(result) == []
    assert [d["date"] for d in memory["meters"]["energy"]["days"]] == ["2025-06-03", "2025-06-07"]
    # Days when the PVS6 lists only a few panels are the blind monitor's alert, not this one.
    result, memory = run(_days([(4, 1.0)] * 4))
    assert _mismatch(result) == [] and memory["meters"]["energy"]["days"] == []
    readings = _days([(12, 1.0)] * 2)
    snap, enr = readings[4]  # the second day's noon: the meter's counter jumps back (a replaced meter)
    meter = Meter("PVS6M1p", MeterRole.PRODUCTION, power_kw=2.4, lifetime_net_kwh=10.0)
    readings[4] = (Snapshot("home", snap.captured_at, "varserver", production_meter=meter,
                            inverters=snap.inverters), enr)
    _, memory = run(readings + _days([(12, 1.0)] * 3)[6:7])
    assert len(memory["meters"]["energy"]["days"]) == 1
