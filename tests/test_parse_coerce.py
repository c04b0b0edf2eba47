"""The small rules under both parsers: value coercion, PVS6 times and states, meter roles, net vs gross."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pvs6_parse._coerce import (
    FieldReader,
    decode_blob,
    parse_dl_time,
    parse_epoch,
    parse_iso_time,
    parse_state,
    soc_to_pct,
    to_float,
    to_int,
    to_text,
    to_uptime,
    wear_hex_to_pct,
)
from pvs6_parse._devices import (
    GROSS_CONSUMPTION,
    NET_CONSUMPTION,
    infer_consumption_subtype,
    role_from_names,
    role_from_subtype,
)
from pvs6_parse.models import MAX_UPTIME_S, DeviceState, MeterRole


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.2948", 0.2948), (" -0.1187 ", -0.1187), (2, 2.0), (1.5, 1.5), ("60", 60.0), ("1e3", 1000.0)],
)
def test_to_float_reads_pvs_numbers(raw: object, expected: float) -> None:
    assert to_float(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw", ["nan", "NaN", "inf", "-inf", "", "  ", "n/a", None, True, False, [], {}, float("nan"), float("inf")]
)
def test_to_float_refuses_non_finite_and_junk(raw: object) -> None:
    assert to_float(raw) is None


@pytest.mark.parametrize("huge", [10**400, -(10**400), 2**1024], ids=["1e400", "-1e400", "2**1024"])
def test_integers_too_large_for_a_float_are_unusable_not_a_crash(huge: int) -> None:
    assert to_float(huge) is None
    assert to_int(huge) is None
    assert parse_epoch(huge) is None
    assert to_text(huge) == str(huge)  # an integer is a valid (if silly) serial: kept as its digits
    assert to_text(10**5000) is None  # past Python's int-to-text digit limit


@pytest.mark.parametrize(("raw", "expected"), [("37", 37.0), (0, 0.0), ("31371.70", 31371.7), (3.1e9, 3.1e9)])
def test_to_uptime_keeps_any_uptime_a_pvs6_can_have(raw: object, expected: float) -> None:
    assert to_uptime(raw) == pytest.approx(expected)


@pytest.mark.parametrize("raw", [-1, "-0.5", MAX_UPTIME_S, 1e300, 10**400, "nan", "", None, True])
def test_to_uptime_drops_negative_past_a_century_and_junk(raw: object) -> None:
    assert to_uptime(raw) is None


@pytest.mark.parametrize(
    "raw", ["2025,09,12,21,12,99999999999999999999", "99999999999999999999,1,1,0,0,0"]
)
def test_parse_dl_time_refuses_parts_too_large_for_c(raw: str) -> None:
    assert parse_dl_time(raw) is None


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_parse_iso_time_refuses_times_that_leave_the_calendar_in_utc(raw: str) -> None:
    assert parse_iso_time(raw) is None


def test_field_reader_shows_an_untextable_integer_without_crashing() -> None:
    warnings: list[str] = []
    assert FieldReader({"p": 10**5000}, "inverter X", warnings).get("p", "float") is None
    assert warnings == ["inverter X: p=<int too long to show> unusable"]


def test_to_int_accepts_integral_text_and_refuses_fractions() -> None:
    assert to_int("270") == 270
    assert to_int("270.0") == 270
    assert to_int(9797444) == 9797444
    assert to_int("0.91") is None
    assert to_int("nan") is None


def test_to_text_strips_and_renders_numbers_but_not_structures() -> None:
    assert to_text("  PVS6M0400p ") == "PVS6M0400p"
    assert to_text(414051709015422) == "414051709015422"
    assert to_text(None) is None
    assert to_text(["a"]) is None
    assert to_text(True) is None


def test_parse_dl_time_is_utc() -> None:
    assert parse_dl_time("2025,09,12,21,12,42") == datetime(2025, 9, 12, 21, 12, 42, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["2025,13,12,21,12,42", "2025,09,12,21,12", "yesterday", "", None, 20250912])
def test_parse_dl_time_refuses_malformed(raw: object) -> None:
    assert parse_dl_time(raw) is None


def test_parse_iso_time_handles_z_offsets_and_naive() -> None:
    expected = datetime(2025, 9, 30, 15, 50, tzinfo=UTC)
    assert parse_iso_time("2025-09-30T15:50:00Z") == expected
    assert parse_iso_time("2025-09-30T11:50:00-04:00") == expected
    assert parse_iso_time("2025-09-30T15:50:00") == expected
    assert parse_iso_time("n/a") is None
    assert parse_iso_time(1759247902) is None


def test_parse_epoch_reads_unix_seconds() -> None:
    assert parse_epoch("1759247902") == datetime(2025, 9, 30, 15, 58, 22, tzinfo=UTC)
    assert parse_epoch("nan") is None
    assert parse_epoch("1e300") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("working", DeviceState.WORKING), ("Error", DeviceState.ERROR), ("offline", DeviceState.OFFLINE)],
)
def test_parse_state_known_words(raw: str, expected: DeviceState) -> None:
    assert parse_state(raw) is expected


def test_parse_state_unknown_word_is_none() -> None:
    assert parse_state("sleeping") is None
    assert parse_state(None) is None


def test_soc_fraction_becomes_percent_and_percent_stays() -> None:
    assert soc_to_pct(0.86) == pytest.approx(86.0)
    assert soc_to_pct(55.0) == pytest.approx(55.0)
    assert soc_to_pct(None) is None


def test_decode_blob_accepts_objects_and_json_text_only() -> None:
    assert decode_blob({"sn": "x"}) == {"sn": "x"}
    assert decode_blob('{"sn": "x"}') == {"sn": "x"}
    assert decode_blob("[1, 2]") is None
    assert decode_blob("{broken") is None
    assert decode_blob(3) is None


def test_field_reader_notes_bad_values_and_only_expected_absences() -> None:
    warnings: list[str] = []
    reader = FieldReader({"a": "nan", "b": "1.5", "c": None, "s": "bogus"}, "inverter X", warnings)
    assert reader.get("a", "float") is None
    assert reader.get("b", "float") == pytest.approx(1.5)
    assert reader.get("c", "float") is None
    assert reader.get("missing", "float") is None
    assert reader.get("needed", "float", expected=True) is None
    assert reader.get("a", "float", nan_ok=True) is None
    assert reader.state("s") is DeviceState.UNKNOWN
    assert reader.state("no_state") is DeviceState.UNKNOWN
    assert all(note.startswith("inverter X: ") for note in warnings)
    joined = "\n".join(warnings)
    assert "a='nan'" in joined
    assert "c=None" in joined
    assert "no needed" in joined
    assert "missing" not in joined
    assert "'bogus' is not a known state" in joined
    assert len(warnings) == 5  # a, c, needed, s, no_state: the nan_ok read and "b" add nothing


def test_field_reader_shortens_huge_junk_in_warnings() -> None:
    warnings: list[str] = []
    FieldReader({"a": "x" * 5000}, "dev", warnings).get("a", "float")
    assert len(warnings) == 1
    assert len(warnings[0]) < 100


@pytest.mark.parametrize(
    ("subtype", "role"),
    [
        ("GROSS_PRODUCTION_SITE", MeterRole.PRODUCTION),
        ("NET_CONSUMPTION_LOADSIDE", MeterRole.CONSUMPTION),
        ("GROSS_CONSUMPTION_LINESIDE", MeterRole.CONSUMPTION),
        ("", MeterRole.UNKNOWN),
    ],
)
def test_role_from_subtype(subtype: str, role: MeterRole) -> None:
    assert role_from_subtype(subtype) is role


@pytest.mark.parametrize(
    ("names", "role"),
    [
        (("PVS5-METER-P", "PVS6M0400p"), MeterRole.PRODUCTION),
        (("PVS5-METER-C",), MeterRole.CONSUMPTION),
        (("", "PVS6M0400c"), MeterRole.CONSUMPTION),
        (("", "", "PVS6M123456p"), MeterRole.PRODUCTION),
        (("PVS6M0400", "PVS6M123456"), MeterRole.UNKNOWN),
        (("",), MeterRole.UNKNOWN),
    ],
)
def test_role_from_names(names: tuple[str, ...], role: MeterRole) -> None:
    assert role_from_names(*names) is role


def test_consumption_with_negative_power_or_lifetime_is_net() -> None:
    assert infer_consumption_subtype(-1.55, -65.65, None, None)[0] == NET_CONSUMPTION
    assert infer_consumption_subtype(0.4654, -103.5, None, None)[0] == NET_CONSUMPTION


def test_consumption_export_share_separates_net_from_gross_noise() -> None:
    # seed (net): 19,044 kWh exported of 32,951 imported; krbaker (gross): 2.91 of 27,900.
    assert infer_consumption_subtype(0.2, 13906.91, 32951.2099, 19044.29)[0] == NET_CONSUMPTION
    assert infer_consumption_subtype(1.3493, 27897.2, 27900.14, 2.91)[0] == GROSS_CONSUMPTION
    assert infer_consumption_subtype(1.0214, 20612.61, 20612.46, 0.0)[0] == GROSS_CONSUMPTION


def test_consumption_livedata_tiebreak() -> None:
    net = infer_consumption_subtype(0.5, 100.0, None, None, livedata_net_kw=0.52, livedata_load_kw=2.0)
    gross = infer_consumption_subtype(1.0, 100.0, None, None, livedata_net_kw=-0.5, livedata_load_kw=1.02)
    assert net[0] == NET_CONSUMPTION
    assert gross[0] == GROSS_CONSUMPTION


def test_consumption_without_evidence_is_gross() -> None:
    subtype, reason = infer_consumption_subtype(None, None, None, None)
    assert subtype == GROSS_CONSUMPTION
    assert reason


def test_offsets_other_than_utc_are_normalised() -> None:
    moment = parse_iso_time("2025-09-30T17:50:00+02:00")
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)
    assert moment == datetime(2025, 9, 30, 17, 50, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(("raw", "pct"), [("0x02", 20.0), ("0x9", 90.0), ("0x0a", 100.0), ("0x0B", 100.0),
                                          ("0x00", None), ("0x0c", None), ("worn", None), (None, None)])
def test_flash_wear_code_reads_as_the_share_of_rated_life(raw, pct) -> None:
    assert wear_hex_to_pct(raw) == pct
