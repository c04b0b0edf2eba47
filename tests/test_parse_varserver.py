"""varserver parsing: both device layouts, /sys/info, /sys/livedata, the array format, and the failure modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pvs6_parse import ParseError, parse_payload
from pvs6_parse.models import DeviceState, MeterRole, Snapshot
from tests.support.pvs6_fixtures import FIXTURES, NO_FIXTURES, fixture_params, load_fixture, requires_shared

FW61845 = "vars_match_all_obj_steveturbek-supervisor_fw61845_1.json"
CAPTURED_AT = datetime(2025, 9, 30, 15, 58, 30, tzinfo=UTC)

def _parse(payload: Any, **overrides: Any) -> Snapshot:
    arguments: dict[str, Any] = {"source": "varserver", "site": "home", "captured_at": CAPTURED_AT}
    arguments.update(overrides)
    return parse_payload(payload, **arguments)


def _meter_vars(index: int, sn: str, model: str, **fields: str) -> dict[str, str]:
    record = {"sn": sn, "prodMdlNm": model, "msmtEps": "2025-09-30T15:50:00Z", **fields}
    return {f"/sys/devices/meter/{index}/{name}": value for name, value in record.items()}


# --- the fw61845 full dump ---------------------------------------------------------------------------------------


@pytest.fixture
def fw61845() -> dict[str, Any]:
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    return load_fixture(FW61845)


def test_fw61845_devices_and_roles(fw61845: dict[str, Any]) -> None:
    snapshot = _parse(fw61845, sha256="cd" * 32)
    assert snapshot.source == "varserver"
    assert snapshot.sha256 == "cd" * 32
    assert len(snapshot.inverters) == 12
    assert snapshot.production_meter is not None
    assert snapshot.consumption_meter is not None
    assert snapshot.production_meter.serial == "PVS6M123456p"
    assert snapshot.production_meter.role is MeterRole.PRODUCTION
    assert snapshot.consumption_meter.serial == "PVS6M123456c"
    assert snapshot.consumption_meter.role is MeterRole.CONSUMPTION
    assert snapshot.consumption_meter.is_net
    assert snapshot.consumption_meter.lifetime_import_kwh == pytest.approx(33277.058594)
    assert snapshot.consumption_meter.lifetime_export_kwh == pytest.approx(19160.759766)
    assert snapshot.consumption_meter.current_a == pytest.approx(8.877744 + 9.788980)
    assert snapshot.other_devices == ()
    assert snapshot.storage is None


def test_fw61845_livedata_cross_check(fw61845: dict[str, Any]) -> None:
    snapshot = _parse(fw61845)
    pv_kw = float(fw61845["/sys/livedata/pv_p"])
    net_kw = float(fw61845["/sys/livedata/net_p"])
    load_kw = float(fw61845["/sys/livedata/site_load_p"])
    # livedata is a few minutes younger than the meters' msmtEps, so agreement is close, not exact.
    assert snapshot.production_kw == pytest.approx(pv_kw, rel=0.2)
    assert snapshot.net_grid_kw == pytest.approx(net_kw, abs=0.3)
    assert snapshot.consumption_kw == pytest.approx(load_kw, abs=0.05)
    inverter_sum_kw = sum(inv.power_kw for inv in snapshot.inverters if inv.power_kw is not None)
    assert inverter_sum_kw == pytest.approx(snapshot.production_kw, rel=0.1)


def test_fw61845_inverters(fw61845: dict[str, Any]) -> None:
    snapshot = _parse(fw61845)
    serials = [inv.serial for inv in snapshot.inverters]
    assert serials == sorted(serials)
    assert {inv.state for inv in snapshot.inverters} == {DeviceState.UNKNOWN}
    assert {inv.measured_at for inv in snapshot.inverters} == {datetime(2025, 9, 30, 15, 50, tzinfo=UTC)}
    odd_one = next(inv for inv in snapshot.inverters if inv.serial == "E00121950014152")
    assert odd_one.power_kw == pytest.approx(0.15674)
    assert odd_one.lifetime_kwh == pytest.approx(2244.361816)
    assert odd_one.mppt_power_kw == pytest.approx(0.1691)
    assert odd_one.mppt_voltage_v == pytest.approx(55.099998)
    assert odd_one.mppt_current_a == pytest.approx(3.06)
    assert odd_one.ac_voltage_v == pytest.approx(209.320007)
    assert odd_one.ac_current_a == pytest.approx(0.74)
    assert odd_one.temperature_c == pytest.approx(36.0)
    assert odd_one.freq_hz == pytest.approx(60.009998)
    assert odd_one.model == "AC_Module_Type_E"


def test_fw61845_anonymised_serial_clash_is_noted(fw61845: dict[str, Any]) -> None:
    warnings = _parse(fw61845).warnings
    assert any("'E00123456789' appears 11 times" in note for note in warnings)
    assert not any("nan" in note for note in warnings)  # PV-only site: battery "nan" is normal, not news


def test_fw61845_pvs_health(fw61845: dict[str, Any]) -> None:
    pvs = _parse(fw61845).pvs
    assert pvs is not None
    assert pvs.serial == "ZT0123456789A1234"
    assert pvs.model == "PVS6"
    assert pvs.hw_version == "6.02"
    assert pvs.sw_version == "2025.09.04.61845"
    assert pvs.uptime_s == pytest.approx(31371.70)
    assert pvs.flash_used_pct == pytest.approx(73.0)
    assert pvs.measured_at == datetime(2025, 9, 30, 15, 58, 22, tzinfo=UTC)
    assert pvs.cpu_load is None  # cpu_usage is a percentage, not DeviceList's load average


def test_fw61845_with_meters_removed_falls_back_to_livedata(fw61845: dict[str, Any]) -> None:
    payload = {key: value for key, value in fw61845.items() if not key.startswith("/sys/devices/meter/")}
    snapshot = _parse(payload)
    assert snapshot.production_kw == pytest.approx(1.747903)
    assert snapshot.net_grid_kw == pytest.approx(-1.620737)
    assert snapshot.consumption_kw == pytest.approx(1.747903 - 1.620737)
    assert snapshot.production_meter is not None
    assert snapshot.production_meter.lifetime_net_kwh == pytest.approx(27867.650391)
    assert sum("/sys/livedata" in note for note in snapshot.warnings) == 2


# --- early blob layout, livedata-only and rev-only dumps ------------------------------------------------------------


@requires_shared
def test_early_meter_blob_layout() -> None:
    snapshot = _parse(load_fixture("vars_meter_data_obj_pypvs_localapi_doc_1.json"))
    production, consumption = snapshot.production_meter, snapshot.consumption_meter
    assert production is not None
    assert consumption is not None
    assert production.serial == "PVS6M23084354p"
    assert production.power_kw == pytest.approx(0.0158712063)
    assert production.lifetime_net_kwh == pytest.approx(40747.87)
    assert consumption.serial == "PVS6M23084354c"
    assert consumption.is_net  # 13,600 kWh exported of 19,722 imported
    assert consumption.current_a == pytest.approx(13.9226713 + 12.32792)
    assert consumption.measured_at == datetime(2025, 6, 28, 4, 10, tzinfo=UTC)
    assert snapshot.inverters == ()


@requires_shared
def test_early_inverter_blob_layout_at_night() -> None:
    snapshot = _parse(load_fixture("vars_inverter_data_obj_pypvs_localapi_doc_partial_1.json"))
    assert [inv.serial for inv in snapshot.inverters] == ["E00122307107854", "E00122308008125"]
    first = snapshot.inverters[0]
    assert first.model == "AC_Module_Type_H"
    assert first.lifetime_kwh == pytest.approx(686.5164)
    assert first.temperature_c == pytest.approx(24.0)
    assert first.power_kw is None  # the night record has no p3phsumKw at all
    assert any("E00122307107854" in note and "p3phsumKw" in note for note in snapshot.warnings)


@requires_shared
def test_livedata_only_dump_gives_storage_and_stand_in_meters() -> None:
    snapshot = _parse(load_fixture("vars_livedata_obj_pypvs_localapi_doc_1.json"))
    assert snapshot.storage is not None
    assert snapshot.storage.state_of_charge_pct == pytest.approx(86.0)
    assert snapshot.storage.power_kw == pytest.approx(1.186)
    assert snapshot.storage.lifetime_kwh == pytest.approx(-490.477997)
    assert snapshot.production_kw == pytest.approx(0.015622)
    assert snapshot.net_grid_kw == pytest.approx(0.674694)
    assert snapshot.consumption_meter is not None
    assert snapshot.consumption_meter.measured_at == datetime.fromtimestamp(1751083263, tz=UTC)
    assert snapshot.pvs is None


@requires_shared
def test_array_format_is_folded() -> None:
    snapshot = _parse(load_fixture("vars_match_rev_array_pypvs_localapi_doc_1.json"))
    assert snapshot.pvs is not None
    assert snapshot.pvs.hw_version == "6.03"
    assert snapshot.pvs.sw_version == "2025.06.24.61840"
    assert any("serialnum" in note for note in snapshot.warnings)


@pytest.mark.parametrize("path", fixture_params("vars_*_obj_*.json"))
def test_every_obj_sample_parses(path: Path) -> None:
    snapshot = _parse(json.loads(path.read_text(encoding="utf-8")))
    assert snapshot.source == "varserver"
    stamps = [inv.measured_at for inv in snapshot.inverters]
    stamps += [m.measured_at for m in (snapshot.production_meter, snapshot.consumption_meter) if m is not None]
    assert all(stamp is None or stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert [inv.serial for inv in snapshot.inverters] == sorted(inv.serial for inv in snapshot.inverters)


# --- synthetic dumps: rules that the samples do not exercise ---------------------------------------------------------


def test_blob_sent_as_json_text_and_bad_blob_noted() -> None:
    payload = {
        "/sys/devices/7/inverter/data": json.dumps({"sn": "E7", "p3phsumKw": 0.2, "ltea3phsumKwh": 10}),
        "/sys/devices/8/inverter/data": "{not json",
    }
    snapshot = _parse(payload)
    assert [(inv.serial, inv.power_kw) for inv in snapshot.inverters] == [("E7", pytest.approx(0.2))]
    assert any("/sys/devices/8/inverter/data" in note for note in snapshot.warnings)


def test_device_indices_sort_numerically_before_serial_sort() -> None:
    payload: dict[str, str] = {}
    for index, serial in ((10, "EB"), (2, "EA"), (1, "EC")):
        payload[f"/sys/devices/inverter/{index}/sn"] = serial
        payload[f"/sys/devices/inverter/{index}/p3phsumKw"] = "0.1"
        payload[f"/sys/devices/inverter/{index}/ltea3phsumKwh"] = "1"
    assert [inv.serial for inv in _parse(payload).inverters] == ["EA", "EB", "EC"]


def test_consumption_meter_gross_when_it_tracks_siteload_fixture() -> None:
    payload = {
        **_meter_vars(1, "PVS6M1c", "PVS6M0400c", p3phsumKw="1.0", netLtea3phsumKwh="500"),
        "/sys/livedata/net_p": "-0.5",
        "/sys/livedata/site_load_p": "1.02",
    }
    meter = _parse(payload).consumption_meter
    assert meter is not None
    assert not meter.is_net


def test_consumption_meter_net_when_it_tracks_grid_power() -> None:
    payload = {
        **_meter_vars(1, "PVS6M1c", "PVS6M0400c", p3phsumKw="0.5", netLtea3phsumKwh="500"),
        "/sys/livedata/net_p": "0.52",
        "/sys/livedata/site_load_p": "2.0",
    }
    meter = _parse(payload).consumption_meter
    assert meter is not None
    assert meter.is_net


def test_meter_without_role_clue_is_other_device() -> None:
    payload = _meter_vars(0, "PVS6M1", "PVS6M0400", p3phsumKw="0.5", netLtea3phsumKwh="1")
    snapshot = _parse(payload)
    assert snapshot.production_meter is None
    assert snapshot.consumption_meter is None
    assert [(other.serial, other.device_type) for other in snapshot.other_devices] == [("PVS6M1", "Power Meter")]


def test_ess_device_fills_storage_ahead_of_livedata() -> None:
    payload = {
        "/sys/devices/ess/0/sn": "ESS0",
        "/sys/devices/ess/0/socVal": "0.5",
        "/sys/devices/ess/0/p3phsumKw": "-2.0",
        "/sys/livedata/soc": "0.9",
        "/sys/livedata/ess_p": "1.0",
        "/sys/livedata/ess_en": "12.5",
    }
    storage = _parse(payload).storage
    assert storage is not None
    assert storage.state_of_charge_pct == pytest.approx(50.0)
    assert storage.power_kw == pytest.approx(-2.0)
    assert storage.lifetime_kwh == pytest.approx(12.5)


def test_unknown_device_kind_is_other_device() -> None:
    payload = {
        "/sys/devices/transfer_switch/0/sn": "TS0",
        "/sys/devices/transfer_switch/0/prodMdlNm": "MIDC",
        "/sys/devices/transfer_switch/0/msmtEps": "2025-09-30T15:50:00Z",
    }
    (other,) = _parse(payload).other_devices
    assert (other.serial, other.device_type, other.model) == ("TS0", "transfer_switch", "MIDC")
    assert other.measured_at == datetime(2025, 9, 30, 15, 50, tzinfo=UTC)


def test_junk_values_become_none_with_notes() -> None:
    payload = {
        "/sys/devices/inverter/0/sn": "E0",
        "/sys/devices/inverter/0/p3phsumKw": "nan",
        "/sys/devices/inverter/0/ltea3phsumKwh": None,
        "/sys/devices/inverter/0/msmtEps": "n/a",
        "/sys/devices/inverter/0/tHtsnkDegc": [1],
        "/sys/info/uptime": "TBD",
    }
    snapshot = _parse(payload)
    (inverter,) = snapshot.inverters
    assert inverter.power_kw is None
    assert inverter.lifetime_kwh is None
    assert inverter.measured_at is None
    assert inverter.temperature_c is None
    assert snapshot.pvs is not None
    assert snapshot.pvs.uptime_s is None
    for wire in ("p3phsumKw", "ltea3phsumKwh", "msmtEps", "tHtsnkDegc", "/sys/info/uptime"):
        assert any(wire in note for note in snapshot.warnings), wire


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "no /sys/"),
        ({"result": "succeed", "devices": []}, "no /sys/"),
        ({"values": [], "count": 0}, "no /sys/"),
        ({"session": "abc"}, "no /sys/"),
    ],
)
def test_non_varserver_payloads_raise_parse_error(payload: Any, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        _parse(payload)


def test_array_items_that_are_not_pairs_are_noted() -> None:
    payload = {"values": [{"name": "/sys/info/hwrev", "value": "6.02"}, "junk", {"name": 3}], "count": 3}
    snapshot = _parse(payload)
    assert snapshot.pvs is not None
    assert snapshot.pvs.hw_version == "6.02"
    assert sum("not a name/value pair" in note for note in snapshot.warnings) == 2
