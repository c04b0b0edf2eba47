"""Legacy DeviceList parsing: the seed's own reading exactly, every public sample, and the failure modes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pvs6_parse import ParseError, parse_payload
from pvs6_parse.models import DeviceState, MeterRole, Snapshot
from tests.support.pvs6_fixtures import fixture_params, load_fixture, requires_shared

SEED = Path(__file__).resolve().parent / "data" / "seed_devicelist.json"
CAPTURED_AT = datetime(2025, 9, 12, 21, 21, 20, tzinfo=UTC)

def _parse(payload: Any, **overrides: Any) -> Snapshot:
    arguments: dict[str, Any] = {"source": "dl_cgi", "site": "home", "captured_at": CAPTURED_AT}
    arguments.update(overrides)
    return parse_payload(payload, **arguments)


@pytest.fixture
def seed() -> dict[str, Any]:
    return json.loads(SEED.read_text(encoding="utf-8"))


# --- the seed: the user's own reading --------------------------------------------------------------------------


def test_seed_envelope_fields_come_from_arguments(seed: dict[str, Any]) -> None:
    snapshot = _parse(seed, site="cottage", sha256="ab" * 32)
    assert snapshot.site == "cottage"
    assert snapshot.source == "dl_cgi"
    assert snapshot.captured_at == CAPTURED_AT
    assert snapshot.sha256 == "ab" * 32
    assert snapshot.warnings == ()


def test_seed_pvs_health(seed: dict[str, Any]) -> None:
    pvs = _parse(seed).pvs
    assert pvs is not None
    assert pvs.serial == "ZT1PVS6M12345678"
    assert pvs.model == "PV Supervisor PVS6"
    assert pvs.sw_version == "2025.06, Build 61839"
    assert pvs.hw_version == "6.02"
    assert pvs.state is DeviceState.WORKING
    assert pvs.uptime_s == pytest.approx(37.0)
    assert pvs.error_count == 0
    assert pvs.comm_error_count == 0
    assert pvs.cpu_load == pytest.approx(0.91)
    assert pvs.mem_used_kb == 49692
    assert pvs.flash_avail_kb == 59039
    assert pvs.measured_at == datetime(2025, 9, 12, 21, 11, 12, tzinfo=UTC)


def test_seed_meters(seed: dict[str, Any]) -> None:
    snapshot = _parse(seed)
    production, consumption = snapshot.production_meter, snapshot.consumption_meter
    assert production is not None
    assert consumption is not None
    assert production.role is MeterRole.PRODUCTION
    assert production.serial == "PVS6M12345678p"
    assert production.power_kw == pytest.approx(0.2948)
    assert production.lifetime_net_kwh == pytest.approx(27692.41)
    assert production.current_a == pytest.approx(1.7114)
    assert production.voltage_v == pytest.approx(209.5409)
    assert production.subtype == "GROSS_PRODUCTION_SITE"
    assert consumption.role is MeterRole.CONSUMPTION
    assert consumption.is_net
    assert consumption.lifetime_net_kwh == pytest.approx(13906.91)
    assert consumption.lifetime_import_kwh == pytest.approx(32951.2099)
    assert consumption.lifetime_export_kwh == pytest.approx(19044.29)
    assert consumption.current_a == pytest.approx(2.5116 + 3.315)
    assert consumption.measured_at == datetime(2025, 9, 12, 21, 21, 15, tzinfo=UTC)
    assert snapshot.production_kw == pytest.approx(0.2948)
    assert snapshot.net_grid_kw == pytest.approx(-0.1187)
    assert snapshot.consumption_kw == pytest.approx(0.2948 - 0.1187)


def test_seed_inverter_in_error_keeps_its_numbers(seed: dict[str, Any]) -> None:
    (inverter,) = _parse(seed).inverters
    assert inverter.serial == "E00123456789"
    assert inverter.model == "AC_Module_Type_E"
    assert inverter.state is DeviceState.ERROR
    assert inverter.lifetime_kwh == pytest.approx(2696.2471)
    assert inverter.power_kw == pytest.approx(0.0)
    assert inverter.mppt_power_kw == pytest.approx(0.0012)
    assert inverter.mppt_voltage_v == pytest.approx(62.14)
    assert inverter.mppt_current_a == pytest.approx(0.02)
    assert inverter.ac_voltage_v == pytest.approx(209.05)
    assert inverter.temperature_c == pytest.approx(37.0)
    assert inverter.measured_at == datetime(2025, 9, 12, 21, 12, 42, tzinfo=UTC)


def test_seed_captured_at_naive_is_taken_as_utc_and_offsets_converted(seed: dict[str, Any]) -> None:
    naive = _parse(seed, captured_at=datetime(2025, 9, 12, 21, 21, 20))
    eastern = _parse(seed, captured_at=datetime(2025, 9, 12, 17, 21, 20, tzinfo=timezone(timedelta(hours=-4))))
    assert naive.captured_at == CAPTURED_AT
    assert naive.captured_at.tzinfo is UTC
    assert eastern.captured_at == CAPTURED_AT
    assert eastern.captured_at.utcoffset() == timedelta(0)


# --- not a DeviceList at all -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ("devices", "must be a JSON object"),
        ({}, "no 'devices' list"),
        ({"devices": {"a": 1}, "result": "succeed"}, "no 'devices' list"),
        ({"devices": [], "result": "error"}, "command failed"),
        ({"result": "succeed"}, "no 'devices' list"),
    ],
)
def test_non_devicelist_payloads_raise_parse_error(payload: Any, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        _parse(payload)


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="DeviceList"):
        _parse({"hello": "world"})


def test_unknown_source_is_refused(seed: dict[str, Any]) -> None:
    with pytest.raises(ParseError, match="unknown source 'modbus'"):
        _parse(seed, source="modbus")


def test_success_spelling_is_accepted_and_missing_result_is_noted(seed: dict[str, Any]) -> None:
    seed["result"] = "success"
    assert len(_parse(seed).inverters) == 1
    del seed["result"]
    snapshot = _parse(seed)
    assert len(snapshot.inverters) == 1
    assert any("result" in note for note in snapshot.warnings)


# --- odd fields are never fatal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("junk", [None, "nan", "", "n/a", [], {"x": 1}, True])
def test_junk_metric_becomes_none_with_a_note(seed: dict[str, Any], junk: Any) -> None:
    seed["devices"][3]["p_3phsum_kw"] = junk
    seed["devices"][1]["net_ltea_3phsum_kwh"] = junk
    snapshot = _parse(seed)
    assert snapshot.inverters[0].power_kw is None
    assert snapshot.inverters[0].lifetime_kwh == pytest.approx(2696.2471)
    assert snapshot.production_meter is not None
    assert snapshot.production_meter.lifetime_net_kwh is None
    assert snapshot.production_meter.power_kw == pytest.approx(0.2948)
    assert any("E00123456789" in note and "p_3phsum_kw" in note for note in snapshot.warnings)
    assert any("PVS6M12345678p" in note and "net_ltea_3phsum_kwh" in note for note in snapshot.warnings)


def test_unknown_state_word_is_unknown_with_a_note(seed: dict[str, Any]) -> None:
    seed["devices"][3]["STATE"] = "sleeping"
    snapshot = _parse(seed)
    assert snapshot.inverters[0].state is DeviceState.UNKNOWN
    assert any("'sleeping'" in note for note in snapshot.warnings)


def test_bad_datatime_becomes_none(seed: dict[str, Any]) -> None:
    seed["devices"][3]["DATATIME"] = "2025,09,12"
    snapshot = _parse(seed)
    assert snapshot.inverters[0].measured_at is None
    assert any("DATATIME" in note for note in snapshot.warnings)


def test_non_object_devices_and_unknown_fields_are_skipped(seed: dict[str, Any]) -> None:
    seed["devices"].extend([42, "inverter", None])
    seed["devices"][3]["brand_new_field_2031"] = {"deep": [1, 2]}
    snapshot = _parse(seed)
    assert len(snapshot.inverters) == 1
    assert sum("not an object" in note for note in snapshot.warnings) == 3
    assert not any("brand_new_field_2031" in note for note in snapshot.warnings)


def test_device_without_type_is_kept_as_other_device(seed: dict[str, Any]) -> None:
    record = copy.deepcopy(seed["devices"][3])
    del record["DEVICE_TYPE"]
    record["SERIAL"] = "MYSTERY1"
    seed["devices"].append(record)
    snapshot = _parse(seed)
    assert [other.serial for other in snapshot.other_devices] == ["MYSTERY1"]
    assert any("no DEVICE_TYPE" in note for note in snapshot.warnings)


def test_meter_with_no_role_clue_goes_to_other_devices(seed: dict[str, Any]) -> None:
    meter = seed["devices"][2]
    for key in ("TYPE", "subtype", "consumption_subtype_enum"):
        meter.pop(key)
    meter["MODEL"] = "PVS6M0400"
    meter["SERIAL"] = "PVS6M12345678"
    snapshot = _parse(seed)
    assert snapshot.consumption_meter is None
    assert [(other.serial, other.device_type) for other in snapshot.other_devices] == [("PVS6M12345678", "Power Meter")]
    assert any("production from consumption" in note for note in snapshot.warnings)


def test_second_production_meter_is_not_lost(seed: dict[str, Any]) -> None:
    extra = copy.deepcopy(seed["devices"][1])
    extra["SERIAL"] = "PVS6M99999999p"
    seed["devices"].append(extra)
    snapshot = _parse(seed)
    assert snapshot.production_meter is not None
    assert snapshot.production_meter.serial == "PVS6M12345678p"
    assert [other.serial for other in snapshot.other_devices] == ["PVS6M99999999p"]
    assert any("second production meter" in note for note in snapshot.warnings)


def test_inverters_sorted_by_serial_and_duplicates_noted(seed: dict[str, Any]) -> None:
    template = seed["devices"][3]
    seed["devices"][3:] = [
        {**template, "SERIAL": serial, "p_3phsum_kw": str(power)}
        for serial, power in (("E3", 0.3), ("E1", 0.1), ("E2", 0.2), ("E1", 0.15))
    ]
    snapshot = _parse(seed)
    assert [inv.serial for inv in snapshot.inverters] == ["E1", "E1", "E2", "E3"]
    assert [inv.power_kw for inv in snapshot.inverters] == pytest.approx([0.1, 0.15, 0.2, 0.3])
    assert any("'E1' appears 2 times" in note for note in snapshot.warnings)


def test_ess_record_with_telemetry_fills_storage(seed: dict[str, Any]) -> None:
    seed["devices"].append(
        {
            "DEVICE_TYPE": "Energy Storage System",
            "SERIAL": "ESS1",
            "STATE": "working",
            "soc_val": "0.42",
            "p_3phsum_kw": "-1.25",
        }
    )
    snapshot = _parse(seed)
    assert snapshot.storage is not None
    assert snapshot.storage.state_of_charge_pct == pytest.approx(42.0)
    assert snapshot.storage.power_kw == pytest.approx(-1.25)
    assert [other.device_type for other in snapshot.other_devices] == ["Energy Storage System"]


def test_non_storage_device_power_is_not_taken_for_a_battery(seed: dict[str, Any]) -> None:
    seed["devices"].append({"DEVICE_TYPE": "Gateway", "SERIAL": "GW1", "STATE": "working", "p_3phsum_kw": "1"})
    assert _parse(seed).storage is None


# --- every public DeviceList sample ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixture_params("devicelist_*.json"))
def test_every_devicelist_sample_parses_and_accounts_for_every_device(path: Path) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    if "devices" not in payload:
        # cmalek's single-device records: one DeviceList entry each, so wrap them as the PVS6 would send them.
        with pytest.raises(ParseError):
            _parse(payload)
        payload = {"devices": [payload], "result": "succeed"}
    snapshot = _parse(payload, sha256="f" * 64)
    assert snapshot.sha256 == "f" * 64
    meters = [m for m in (snapshot.production_meter, snapshot.consumption_meter) if m is not None]
    counted = len(snapshot.inverters) + len(meters) + len(snapshot.other_devices) + (snapshot.pvs is not None)
    assert counted == len(payload["devices"])
    serials = [inv.serial for inv in snapshot.inverters]
    assert serials == sorted(serials)
    stamps = [inv.measured_at for inv in snapshot.inverters] + [m.measured_at for m in meters]
    assert all(stamp is None or stamp.utcoffset() == timedelta(0) for stamp in stamps)
    powers = [inv.power_kw for inv in snapshot.inverters if inv.power_kw is not None]
    assert all(-0.1 <= power <= 1.0 for power in powers)  # microinverters: kW, never W


@requires_shared
def test_krbaker_night_sample_has_twenty_inverters_all_in_error() -> None:
    snapshot = _parse(load_fixture("devicelist_krbaker-hass-sunpower_1.json"))
    assert len(snapshot.inverters) == 20
    assert {inv.state for inv in snapshot.inverters} == {DeviceState.ERROR}
    assert snapshot.inverters_working == 0
    assert snapshot.consumption_meter is not None
    assert not snapshot.consumption_meter.is_net
    assert snapshot.consumption_kw == pytest.approx(1.3493)


@requires_shared
def test_kpfleming_37_working_inverters_sum_close_to_production_meter() -> None:
    snapshot = _parse(load_fixture("devicelist_kpfleming-esphome-sunpower_fw61410_37inv_1.json"))
    assert len(snapshot.inverters) == 37
    assert snapshot.inverters_working == 37
    inverter_sum_kw = sum(inv.power_kw for inv in snapshot.inverters if inv.power_kw is not None)
    assert snapshot.production_meter is not None
    assert inverter_sum_kw == pytest.approx(snapshot.production_meter.power_kw, rel=0.10)
    assert snapshot.pvs is not None
    assert snapshot.pvs.uptime_s == pytest.approx(2178832.0)


@requires_shared
def test_smcneece_net_meter_exporting() -> None:
    snapshot = _parse(load_fixture("devicelist_smcneece-ha-esunpower_fw61839_30inv_1.json"))
    assert len(snapshot.inverters) == 30
    assert snapshot.consumption_meter is not None
    assert snapshot.consumption_meter.is_net
    assert snapshot.net_grid_kw is not None
    assert snapshot.net_grid_kw < 0
    assert snapshot.production_kw is not None
    assert snapshot.consumption_kw == pytest.approx(snapshot.production_kw + snapshot.net_grid_kw)
    assert snapshot.consumption_kw > 0


@requires_shared
def test_composite_sample_keeps_sunvault_parts_as_other_devices() -> None:
    snapshot = _parse(load_fixture("devicelist_cmalek-sungazer_fw61839_12inv_plus_ess_composite_1.json"))
    assert len(snapshot.inverters) == 12
    kinds = {other.device_type: other for other in snapshot.other_devices}
    assert set(kinds) == {
        "PV Disconnect",
        "Gateway",
        "Storage Inverter",
        "ESS BMS",
        "Battery",
        "Energy Storage System",
    }
    assert kinds["PV Disconnect"].state is DeviceState.WORKING
    assert kinds["PV Disconnect"].measured_at == datetime(2022, 5, 26, 14, 50, 30, tzinfo=UTC)
    assert kinds["Battery"].state is DeviceState.ERROR
    assert kinds["Battery"].model == "POWERAMP-Komodo 1.2"
    # These 2022 SunVault records carry identity only: no charge or power to report.
    assert snapshot.storage is None


@requires_shared
def test_ginoledesma_dead_inverter_has_no_numbers() -> None:
    snapshot = _parse(load_fixture("devicelist_ginoledesma-exporter_tests_error_1.json"))
    (inverter,) = snapshot.inverters
    assert inverter.state is DeviceState.ERROR
    assert inverter.power_kw is None
    assert inverter.lifetime_kwh is None
    assert inverter.measured_at is None
    assert any("identity only" in note for note in snapshot.warnings)


@requires_shared
def test_ginoledesma_error_inverter_without_datatime_is_not_stamped_with_curtime() -> None:
    (inverter,) = _parse(load_fixture("devicelist_ginoledesma-exporter_tests_1.json")).inverters
    assert inverter.power_kw == pytest.approx(0.0174)
    assert inverter.mppt_power_kw == pytest.approx(0.0179)
    assert inverter.measured_at is None


@requires_shared
def test_ginoledesma_old_firmware_meters_get_roles_and_net_from_data() -> None:
    snapshot = _parse(load_fixture("devicelist_ginoledesma-exporter_notes_1.json"))
    assert snapshot.production_meter is not None
    assert snapshot.production_meter.serial == "PVS6M01234567p"
    assert snapshot.consumption_meter is not None
    assert snapshot.consumption_meter.serial == "PVS6M01234567c"
    assert snapshot.consumption_meter.is_net
    assert snapshot.consumption_kw == pytest.approx(1.9867 - 1.55)
    assert snapshot.inverters_working == 3


@requires_shared
def test_pvs5_type_c_inverter_uses_mppt_sum() -> None:
    snapshot = _parse(load_fixture("devicelist_jrconlin-sunpower_hass_pvs5_partial_1.json"))
    (inverter,) = snapshot.inverters
    assert inverter.model == "AC_Module_Type_C"
    assert inverter.mppt_power_kw == pytest.approx(0.07)
    assert inverter.temperature_c == pytest.approx(23.75)
    assert snapshot.consumption_meter is None
    assert snapshot.consumption_kw is None
    assert snapshot.pvs is not None
    assert snapshot.pvs.model == "PV Supervisor PVS5"


def test_device_type_case_is_ignored_and_a_second_pvs_is_kept(seed: dict[str, Any]) -> None:
    seed["devices"][3]["DEVICE_TYPE"] = "INVERTER"
    second = {**seed["devices"][0], "SERIAL": "ZT2"}
    seed["devices"].append(second)
    snapshot = _parse(seed)
    assert [inv.serial for inv in snapshot.inverters] == ["E00123456789"]
    assert snapshot.pvs is not None
    assert snapshot.pvs.serial == "ZT1PVS6M12345678"
    assert [(other.serial, other.device_type) for other in snapshot.other_devices] == [("ZT2", "PVS")]
    assert any("second PVS" in note for note in snapshot.warnings)
