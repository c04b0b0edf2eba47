"""Property tests: whatever junk a PVS6 (or a corrupted file) puts inside device records, parsing never raises.

Junk may only cost the field it sits in: it becomes ``None`` with a note naming the wire field, and the rest of
the reading survives.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a dev dependency for property tests")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pvs6_parse import parse_payload  # noqa: E402
from pvs6_parse._coerce import to_float  # noqa: E402
from pvs6_parse.models import MAX_UPTIME_S, Snapshot  # noqa: E402

SEED = json.loads((Path(__file__).resolve().parent / "data" / "seed_devicelist.json").read_text(encoding="utf-8"))
CAPTURED_AT = datetime(2025, 9, 12, 21, 21, 20, tzinfo=UTC)
SETTINGS = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Every wire name the seed uses, plus a few the parser knows that the seed lacks, plus free text.
KNOWN_KEYS = sorted({key for device in SEED["devices"] for key in device} | {"p_mpptsum_kw", "soc_val"})
INVERTER_NUMERIC = [
    "p_3phsum_kw",
    "ltea_3phsum_kwh",
    "vln_3phavg_v",
    "i_3phsum_a",
    "v_mppt1_v",
    "i_mppt1_a",
    "t_htsnk_degc",
    "freq_hz",
]
VARSERVER_INVERTER_NUMERIC = ["p3phsumKw", "ltea3phsumKwh", "vln3phavgV", "iMppt1A", "tHtsnkDegc", "freqHz"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**1024, 10**4000]),  # bare JSON integers too large for any float
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["nan", "NaN", "", " ", "inf", "-", "1,5", "0x10", "2025,09,12", "working", "error"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
junk_records = st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)), json_values, max_size=8)


def _is_unusable_number(value: Any) -> bool:
    return to_float(value) is None


unusable_numbers = json_values.filter(_is_unusable_number)


def _assert_sane(snapshot: Snapshot) -> None:
    """Every numeric field of every device is None or a finite float: junk never leaks through as junk."""
    devices: list[Any] = [snapshot.pvs, snapshot.production_meter, snapshot.consumption_meter, snapshot.storage]
    devices += list(snapshot.inverters)
    for device in devices:
        if device is None:
            continue
        for name in device.__slots__:
            value = getattr(device, name)
            if isinstance(value, float):
                assert math.isfinite(value), name
    if snapshot.pvs is not None and snapshot.pvs.uptime_s is not None:
        assert 0 <= snapshot.pvs.uptime_s < MAX_UPTIME_S  # any consumer may compute a boot time from it
    assert all(isinstance(note, str) and note for note in snapshot.warnings)


@SETTINGS
@given(patches=st.lists(junk_records, min_size=4, max_size=4))
def test_junk_inside_devicelist_records_never_raises(patches: list[dict[str, Any]]) -> None:
    payload = copy.deepcopy(SEED)
    for device, patch in zip(payload["devices"], patches, strict=True):
        device.update(patch)
    snapshot = parse_payload(payload, source="dl_cgi", site="home", captured_at=CAPTURED_AT)
    _assert_sane(snapshot)
    accounted = (
        len(snapshot.inverters)
        + len(snapshot.other_devices)
        + (snapshot.pvs is not None)
        + (snapshot.production_meter is not None)
        + (snapshot.consumption_meter is not None)
    )
    assert accounted <= len(payload["devices"])


@SETTINGS
@given(extra=st.lists(json_values, max_size=5))
def test_junk_entries_in_the_devices_list_never_raise(extra: list[Any]) -> None:
    payload = copy.deepcopy(SEED)
    payload["devices"].extend(extra)
    snapshot = parse_payload(payload, source="dl_cgi", site="home", captured_at=CAPTURED_AT)
    assert snapshot.inverters[0].lifetime_kwh == pytest.approx(2696.2471)
    skipped = sum(not isinstance(item, dict) for item in extra)
    assert sum("not an object" in note for note in snapshot.warnings) == skipped


@SETTINGS
@given(field=st.sampled_from(INVERTER_NUMERIC), junk=unusable_numbers)
def test_unusable_inverter_number_is_none_and_noted(field: str, junk: Any) -> None:
    payload = copy.deepcopy(SEED)
    payload["devices"][3][field] = junk
    snapshot = parse_payload(payload, source="dl_cgi", site="home", captured_at=CAPTURED_AT)
    (inverter,) = snapshot.inverters
    by_wire = {
        "p_3phsum_kw": inverter.power_kw,
        "ltea_3phsum_kwh": inverter.lifetime_kwh,
        "vln_3phavg_v": inverter.ac_voltage_v,
        "i_3phsum_a": inverter.ac_current_a,
        "v_mppt1_v": inverter.mppt_voltage_v,
        "i_mppt1_a": inverter.mppt_current_a,
        "t_htsnk_degc": inverter.temperature_c,
        "freq_hz": inverter.freq_hz,
    }
    assert by_wire[field] is None
    assert any("E00123456789" in note and field in note for note in snapshot.warnings)
    assert snapshot.production_meter is not None
    assert snapshot.production_meter.power_kw == pytest.approx(0.2948)


@pytest.mark.parametrize("field", ["p_3phsum_kw", "SERIAL", "MODEL", "DATATIME", "STATE", "dl_uptime"])
def test_a_400_digit_integer_in_any_devicelist_field_is_none_and_noted(field: str) -> None:
    """JSON allows an integer of any length; 1e400 written out in digits is no float and must not crash ingest."""
    payload = copy.deepcopy(SEED)
    huge = 10**400
    for device in payload["devices"]:
        device[field] = huge
    snapshot = parse_payload(payload, source="dl_cgi", site="home", captured_at=CAPTURED_AT)
    _assert_sane(snapshot)
    (inverter,) = snapshot.inverters
    if field == "SERIAL":  # text fields keep an integer's digits, as they do for numeric serials
        assert inverter.serial == str(huge)
    elif field == "MODEL":
        assert inverter.model == str(huge)
    else:
        assert any(field in note for note in snapshot.warnings)


@pytest.mark.parametrize("uptime", [-5, "-0.5", 1e15, 4e9 * 1e9], ids=["negative", "negative-text", "past-a-century",
                                                                      "overflows-a-datetime"])
@pytest.mark.parametrize("source", ["dl_cgi", "varserver"])
def test_an_uptime_no_pvs6_can_have_is_none_and_noted(source: str, uptime: object) -> None:
    """Whoever reads the snapshot (reboot rule, edge history) may take now - uptime: an absurd one never gets out."""
    if source == "dl_cgi":
        payload = copy.deepcopy(SEED)
        for device in payload["devices"]:
            if device.get("DEVICE_TYPE") == "PVS":
                device["dl_uptime"] = uptime
        wire = "dl_uptime"
    else:
        payload = {"/sys/info/serialnum": "ZT01", "/sys/info/uptime": uptime, "/sys/livedata/pv_p": "1.5"}
        wire = "/sys/info/uptime"
    snapshot = parse_payload(payload, source=source, site="home", captured_at=CAPTURED_AT)
    assert snapshot.pvs is not None
    assert snapshot.pvs.uptime_s is None
    assert any(wire in note and "unusable" in note for note in snapshot.warnings)


def test_a_400_digit_integer_in_varserver_values_is_none_and_noted() -> None:
    payload = {"/sys/info/uptime": 10**400, "/sys/livedata/pv_p": 10**400, "/sys/livedata/time": 10**400,
               "/sys/devices/inverter/0/sn": 10**400, "/sys/devices/inverter/0/p3phsumKw": 10**400,
               "/sys/devices/inverter/0/msmtEps": "0001-01-01T00:00:00+05:00"}
    snapshot = parse_payload(payload, source="varserver", site="home", captured_at=CAPTURED_AT)
    _assert_sane(snapshot)
    assert any("p3phsumKw" in note for note in snapshot.warnings)


@SETTINGS
@given(
    values=st.dictionaries(st.sampled_from([*VARSERVER_INVERTER_NUMERIC, "sn", "msmtEps", "prodMdlNm"]), json_values),
    blob=json_values,
    info=json_values,
)
def test_junk_in_varserver_dumps_never_raises(values: dict[str, Any], blob: Any, info: Any) -> None:
    payload: dict[str, Any] = {f"/sys/devices/inverter/0/{name}": value for name, value in values.items()}
    payload["/sys/devices/3/meter/data"] = blob
    payload["/sys/info/uptime"] = info
    payload["/sys/livedata/pv_p"] = info
    snapshot = parse_payload(payload, source="varserver", site="home", captured_at=CAPTURED_AT)
    _assert_sane(snapshot)
    for name in VARSERVER_INVERTER_NUMERIC:
        if name in values and to_float(values[name]) is None:
            assert any(name in note for note in snapshot.warnings), name
