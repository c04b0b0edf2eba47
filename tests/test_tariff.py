"""What a lost kWh is worth: time-of-use windows and an export rate, read from the config and charged reading by
reading at each reading's own local time (a fault in the evening peak costs more than the same kWh at noon)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.alerting.costs import charge_reading, fault_cost
from pvs6_cloud.alerting.detect import detect
from pvs6_cloud.alerting.lifecycle import open_alerts
from pvs6_cloud.alerting.loss import estimate
from pvs6_cloud.alerting.notify.costs import cost_words, month_cost_sentences, resolved_cost_words
from pvs6_cloud.alerting.tariff import price_at
from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import DetectionConfig, Tariff, TariffWindow, parse_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.store.state import SiteState
from pvs6_parse.models import DeviceState, Inverter, Snapshot

NY = ZoneInfo("America/New_York")
SITE = {"secret": "s", "latitude": 41.76, "longitude": -72.68, "timezone": "America/New_York", "local_dir": "data",
        "price_per_kwh": 0.25}
PEAK = [{"from": "16:00", "to": "21:00", "price": 0.45, "days": "weekday"},
        {"from": "22:00", "to": "06:00", "price": 0.10}]
SERIALS = tuple(f"E00{i:02d}" for i in range(1, 13))


def _site(tariff: dict | None = None):
    table = {**SITE, **({"tariff": tariff} if tariff is not None else {})}
    return parse_config({"sites": {"home": table}}).site("home")


def test_the_price_follows_the_local_clock_the_weekday_and_midnight() -> None:
    tariff = _site({"windows": PEAK}).tariff
    assert tariff.windows[0] == TariffWindow(16 * 60, 21 * 60, 0.45, "weekday")
    wed, sat = datetime(2025, 6, 4, tzinfo=NY), datetime(2025, 6, 7, tzinfo=NY)
    assert price_at(tariff, 0.25, wed.replace(hour=12)) == 0.25  # outside every window: price_per_kwh
    assert price_at(tariff, 0.25, wed.replace(hour=16)) == 0.45
    assert price_at(tariff, 0.25, wed.replace(hour=20, minute=59)) == 0.45
    assert price_at(tariff, 0.25, wed.replace(hour=21)) == 0.25  # the end is not in the window
    assert price_at(tariff, 0.25, sat.replace(hour=17)) == 0.25  # a weekday window on a Saturday
    assert price_at(tariff, 0.25, sat.replace(hour=23)) == 0.10  # past midnight: evening part
    assert price_at(tariff, 0.25, sat.replace(hour=5, minute=45)) == 0.10  # and morning part
    assert price_at(Tariff(tariff.windows, 0.05), 0.25, wed.replace(hour=17)) == 0.05  # export rate: all hours
    assert _site().tariff.flat and not tariff.flat


@pytest.mark.parametrize(("tariff", "message"), [
    ({"windows": [{"from": "4pm", "to": "21:00", "price": 0.4}]}, 'windows[0].from = \'4pm\' is not a time of day'),
    ({"windows": [{"from": "16:00", "to": "25:00", "price": 0.4}]}, "windows[0].to = '25:00' is not a time"),
    ({"windows": [{"from": "16:00", "to": "21:00"}]}, "missing required key sites.home.tariff.windows[0].price"),
    ({"windows": [{"from": "16:00", "to": "16:00", "price": 0.4}]}, "starts and ends at the same time"),
    ({"windows": [{"from": "16:10", "to": "21:00", "price": 0.4}]}, "on the quarter hour"),
    ({"windows": [{"from": "16:00", "to": "21:00", "price": 0.4, "days": "sundays"}]}, '"weekday" or "weekend"'),
    ({"windows": [{"from": "16:00", "to": "21:00", "price": -1}]}, "price = -1.0 is outside"),
    ({"windows": [{"from": "16:00", "to": "21:00", "price": 0.4, "rate": 1}]}, "unknown key(s)"),
    ({"windows": [PEAK[0], {"from": "20:00", "to": "23:00", "price": 0.3}]},
     "windows[1] (20:00-23:00, all) overlaps sites.home.tariff.windows[0]"),
    ({"windows": [{"from": "22:00", "to": "02:00", "price": 0.1, "days": "weekend"},
                  {"from": "01:00", "to": "03:00", "price": 0.2, "days": "weekday"}]}, "overlaps"),  # Sun night
    ({"export_price_per_kwh": 200}, "export_price_per_kwh = 200.0 is outside"),
    ({"export_rate": 0.05}, "unknown key(s) in [sites.home.tariff]: export_rate"),
])
def test_bad_tariffs_are_refused_naming_the_key(tariff: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        _site(tariff)
    assert message in str(err.value)


def test_windows_that_only_touch_or_fall_on_other_days_are_accepted() -> None:
    windows = [PEAK[0], {"from": "21:00", "to": "22:00", "price": 0.3},
               {"from": "16:00", "to": "21:00", "price": 0.35, "days": "weekend"}]
    assert len(_site({"windows": windows}).tariff.windows) == 3


def _reading(at: datetime) -> tuple[Snapshot, Enrichment]:
    """A bright reading with E0004 dead and its 11 peers at 0.3 kW, whatever the hour (the same kWh each time)."""
    invs = tuple(Inverter(s, "AC_Module_Type_E", DeviceState.ERROR if s == "E0004" else DeviceState.WORKING,
                          0.0 if s == "E0004" else 0.3, 1000.0, measured_at=at) for s in SERIALS)
    return Snapshot("home", at, "dl_cgi", inverters=invs), Enrichment(sun_elevation_deg=40, expected_kw=3.6,
                                                                      clearsky_kw=4.0, expected_source="gti")


def _charged_hour(site, local_start: datetime) -> tuple[SiteState, dict]:
    """An open dead-panel alert charged over one hour of readings from ``local_start``; its record."""
    state = SiteState()
    opened = local_start.astimezone(UTC).isoformat()
    state.section("alerts").update(open={"inverter_down:E0004": {
        "id": "a1", "kind": "inverter_down", "device": "E0004", "started": opened, "opened": opened}},
        rows=[{"alert_id": "a1", "kind": "inverter_down", "device": "E0004"}])
    for i in range(5):
        snap, enrichment = _reading(local_start.astimezone(UTC) + timedelta(minutes=15 * i))
        reading = detect([(snap, enrichment)], {}, {}, site, DetectionConfig(), snap.captured_at).reading
        assert reading is not None
        charge_reading(state, reading, site)
    return state, open_alerts(state)["inverter_down:E0004"]["loss"]


def test_a_fault_in_the_evening_peak_costs_more_than_the_same_kwh_at_noon() -> None:
    site = _site({"windows": PEAK})
    noon_state, noon = _charged_hour(site, datetime(2025, 6, 4, 12, tzinfo=NY))
    _, evening = _charged_hour(site, datetime(2025, 6, 4, 17, tzinfo=NY))
    assert noon["kwh"] == pytest.approx(evening["kwh"]) == pytest.approx(0.3)  # the same energy...
    assert noon["value"] == pytest.approx(0.3 * 0.25) and evening["value"] == pytest.approx(0.3 * 0.45)  # ...worth
    loss = estimate(evening, {}, "inverter_down", 1)
    assert resolved_cost_words(loss, site) == "While it was open it cost about 0.3 kWh ($0.14). "
    assert "at an average of $0.45 per kWh (your time-of-use prices)" in cost_words(
        estimate(evening, {"days": [["2025-06-03", 2.0, 24.0]]}, "inverter_down", 1), site, reminder=False)
    cost = fault_cost(noon_state, site, "2025-06", None)
    assert cost.month_kwh == pytest.approx(0.3) and cost.month_value == pytest.approx(0.075)


def test_without_net_metering_lost_kwh_are_worth_the_export_price_and_old_records_the_flat_one() -> None:
    site = _site({"windows": PEAK, "export_price_per_kwh": 0.05})
    state, record = _charged_hour(site, datetime(2025, 6, 4, 17, tzinfo=NY))
    assert record["value"] == pytest.approx(0.3 * 0.05)
    state.section("loss")["months"]["2025-05"] = 40.0  # charged before prices were kept: no "values"
    cost = fault_cost(state, site, "2025-05", None)
    assert cost.month_value == pytest.approx(40.0 * 0.25)
    assert month_cost_sentences(cost, "May 2025", site)[0].startswith("Faults cost you about 40 kWh ($10.00)")
    old = estimate({"kwh": 4.0, "normal_kwh": 8.0}, {}, "inverter_down", 1)
    assert old.lost_value is None and resolved_cost_words(old, site).endswith("4.0 kWh ($1.00). ")


def test_the_example_configs_commented_tariff_loads_once_uncommented() -> None:
    text = (Path(__file__).parent.parent / "deploy" / "cloud.example.toml").read_text(encoding="utf-8")
    block = text.split("# [sites.home.tariff]\n", 1)[1].split("\n\n", 1)[0]
    table = tomllib.loads("\n".join(line.removeprefix("# ") for line in block.splitlines()))
    tariff = _site(table).tariff
    assert [w.price for w in tariff.windows] == [0.45, 0.12] and tariff.export_price_per_kwh == 0.05
