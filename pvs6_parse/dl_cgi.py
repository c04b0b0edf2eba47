"""Legacy ``dl_cgi?Command=DeviceList`` responses -> :class:`~pvs6_parse.models.Snapshot`.

The response is ``{"devices": [...], "result": "succeed"}``; each device is a flat record of strings keyed by
``DEVICE_TYPE``: ``PVS`` (the supervisor), ``Power Meter``, ``Inverter``, and on battery sites a handful of
SunVault parts (``Energy Storage System``, ``ESS BMS``, ``Battery``, ``Storage Inverter``, ``Gateway``,
``PV Disconnect``), which become :class:`OtherDevice` entries. ``DATATIME`` (the device's last measurement) and
``CURTIME`` (the PVS6's clock) are UTC. ``CURTIME`` is deliberately never used as a measurement time: a dead
inverter has no ``DATATIME``, and stamping it with the current time would make it look alive.

``WIRE_NAMES`` below is the only place that knows DeviceList field names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ._coerce import FieldReader, Kind, soc_to_pct, to_text
from ._devices import (
    assign_meters,
    infer_consumption_subtype,
    note_duplicate_serials,
    role_from_names,
    role_from_subtype,
)
from .errors import ParseError
from .models import (
    Inverter,
    Meter,
    MeterRole,
    OtherDevice,
    PvsHealth,
    Snapshot,
    Storage,
)

__all__ = ["WIRE_NAMES", "parse_device_list"]

logger = logging.getLogger(__name__)

_OK_RESULTS = frozenset({"succeed", "success"})

# our field -> (DeviceList wire name, kind), per model. Fields needing more than a rename are handled below.
WIRE_NAMES: dict[str, dict[str, tuple[str, Kind]]] = {
    "pvs": {
        "model": ("MODEL", "text"),
        "sw_version": ("SWVER", "text"),
        "hw_version": ("HWVER", "text"),
        "uptime_s": ("dl_uptime", "uptime"),
        "error_count": ("dl_err_count", "int"),
        "comm_error_count": ("dl_comm_err", "int"),
        "skipped_scans": ("dl_skipped_scans", "int"),
        "untransmitted": ("dl_untransmitted", "int"),
        "cpu_load": ("dl_cpu_load", "float"),
        "mem_used_kb": ("dl_mem_used", "int"),
        "flash_avail_kb": ("dl_flash_avail", "int"),
        "measured_at": ("DATATIME", "dl_time"),
    },
    "meter": {
        "model": ("MODEL", "text"),
        "power_kw": ("p_3phsum_kw", "float"),
        "lifetime_net_kwh": ("net_ltea_3phsum_kwh", "float"),
        "lifetime_import_kwh": ("pos_ltea_3phsum_kwh", "float"),
        "lifetime_export_kwh": ("neg_ltea_3phsum_kwh", "float"),
        "voltage_v": ("v12_v", "float"),
        "freq_hz": ("freq_hz", "float"),
        "measured_at": ("DATATIME", "dl_time"),
    },
    "inverter": {
        "model": ("MODEL", "text"),
        "power_kw": ("p_3phsum_kw", "float"),
        "lifetime_kwh": ("ltea_3phsum_kwh", "float"),
        "ac_voltage_v": ("vln_3phavg_v", "float"),
        "ac_current_a": ("i_3phsum_a", "float"),
        "mppt_voltage_v": ("v_mppt1_v", "float"),
        "mppt_current_a": ("i_mppt1_a", "float"),
        "temperature_c": ("t_htsnk_degc", "float"),
        "freq_hz": ("freq_hz", "float"),
        "measured_at": ("DATATIME", "dl_time"),
    },
    # No captured DeviceList carries battery telemetry; these names follow the PVS's systematic mapping between
    # varserver (socVal, p3phsumKw, ...) and DeviceList (soc_val, p_3phsum_kw, ...) spellings.
    "storage": {
        "state_of_charge": ("soc_val", "float"),
        "power_kw": ("p_3phsum_kw", "float"),
        "lifetime_kwh": ("net_ltea_3phsum_kwh", "float"),
    },
}

# Identity and multi-field names, also DeviceList's own.
_DEVICE_TYPE = "DEVICE_TYPE"
_PVS, _METER, _INVERTER = "pvs", "power meter", "inverter"  # DEVICE_TYPE values, compared case-folded
_SERIAL = "SERIAL"
_STATE = "STATE"
_TYPE = "TYPE"
_MODEL = "MODEL"
_SUBTYPE_NAMES = ("subtype", "production_subtype_enum", "consumption_subtype_enum")
_MPPT_POWER_NAMES = ("p_mppt1_kw", "p_mpptsum_kw")  # Type C (PVS5 era) inverters only send the sum
_METER_CURRENT = "i_a"
_METER_LEG_CURRENTS = ("i1_a", "i2_a")
_CUSTOMER_SOC = "customer_soc_val"
_STORAGE_WORDS = ("STORAGE", "ESS", "BATTERY", "SUNVAULT")

# Inverter / meter / PVS fields whose absence deserves a note (the rest are optional by firmware).
_EXPECTED = {
    "pvs": ("uptime_s",),
    "meter": ("power_kw", "lifetime_net_kwh"),
    "inverter": ("power_kw", "lifetime_kwh"),
}
# A dead inverter reports identity only (ginoledesma error sample): say so once, not once per field.
_INVERTER_METRICS = ("p_3phsum_kw", "ltea_3phsum_kwh")


def parse_device_list(payload: Mapping[str, Any], *, site: str, captured_at: datetime, sha256: str = "") -> Snapshot:
    """Turn one DeviceList response into a :class:`Snapshot`.

    Parameters
    ----------
    payload : Mapping
        The decoded JSON body of ``dl_cgi?Command=DeviceList``.
    site : str
        Site id from the upload envelope.
    captured_at : datetime
        When the edge asked (aware, UTC).
    sha256 : str, default ""
        Hex digest of the raw bytes, carried through for idempotency.

    Returns
    -------
    Snapshot
        With ``source="dl_cgi"``; inverters sorted by serial.

    Raises
    ------
    ParseError
        When the payload has no ``devices`` list or ``result`` says the command failed.
    """
    devices = _check_envelope(payload)
    warnings: list[str] = []
    if "result" not in payload:
        warnings.append("response has no 'result' field")

    pvs: PvsHealth | None = None
    meters: list[Meter] = []
    inverters: list[Inverter] = []
    others: list[OtherDevice] = []
    storages: list[Storage] = []
    for position, device in enumerate(devices):
        if not isinstance(device, Mapping):
            warnings.append(f"device #{position} is {type(device).__name__}, not an object: skipped")
            continue
        device_type = to_text(device.get(_DEVICE_TYPE)) or ""
        serial = to_text(device.get(_SERIAL)) or ""
        reader = FieldReader(device, f"{device_type or 'device'} {serial or '#' + str(position)}", warnings)
        if not serial:
            reader.warn("no serial")
        if not device_type:
            reader.warn("no DEVICE_TYPE")
        kind = device_type.casefold()
        if kind == _PVS and pvs is None:
            pvs = _pvs(reader, serial)
        elif kind == _METER:
            meters.append(_meter(reader, serial))
        elif kind == _INVERTER:
            inverters.append(_inverter(reader, serial))
        else:
            if kind == _PVS:
                reader.warn("second PVS record kept as other device")
            others.append(_other(reader, serial, device_type))
            storage = _storage(reader) if _is_storage(device_type) else None
            if storage is not None:
                storages.append(storage)

    production, consumption, spare = assign_meters(meters, warnings)
    others.extend(spare)
    if len(storages) > 1:
        warnings.append(f"{len(storages)} storage devices report telemetry; kept the first")
    inverters.sort(key=lambda inv: inv.serial)
    note_duplicate_serials(inverters, warnings)
    if warnings:
        logger.debug("DeviceList for site %s parsed with %d warnings", site, len(warnings))
    return Snapshot(
        site=site,
        captured_at=captured_at,
        source="dl_cgi",
        pvs=pvs,
        production_meter=production,
        consumption_meter=consumption,
        inverters=tuple(inverters),
        storage=storages[0] if storages else None,
        other_devices=tuple(others),
        sha256=sha256,
        warnings=tuple(warnings),
    )


def _check_envelope(payload: object) -> Sequence[Any]:
    """The ``devices`` list, or a ParseError saying why this is not a DeviceList."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"DeviceList payload must be a JSON object, got {type(payload).__name__}")
    if "result" in payload:
        result = to_text(payload["result"])
        if result is None or result.lower() not in _OK_RESULTS:
            raise ParseError(f"DeviceList command failed: result={payload['result']!r}")
    devices = payload.get("devices")
    if not isinstance(devices, list):
        raise ParseError("not a DeviceList response: no 'devices' list")
    return devices


def _pvs(reader: FieldReader, serial: str) -> PvsHealth:
    values = reader.read_map(WIRE_NAMES["pvs"], _EXPECTED["pvs"])
    for text_field in ("model", "sw_version", "hw_version"):
        values[text_field] = values[text_field] or ""
    return PvsHealth(serial=serial, state=reader.state(_STATE), **values)


def _meter(reader: FieldReader, serial: str) -> Meter:
    values = reader.read_map(WIRE_NAMES["meter"], _EXPECTED["meter"])
    values["model"] = values["model"] or ""
    subtype = _first_text(reader, _SUBTYPE_NAMES)
    role = role_from_subtype(subtype)
    if role is MeterRole.UNKNOWN:
        type_name = reader.get(_TYPE, "text") if reader.has(_TYPE) else ""
        role = role_from_names(type_name or "", values["model"], serial)
    if role is MeterRole.UNKNOWN:
        reader.warn("cannot tell production from consumption")
    elif role is MeterRole.CONSUMPTION and not subtype:
        subtype, reason = infer_consumption_subtype(
            values["power_kw"],
            values["lifetime_net_kwh"],
            values["lifetime_import_kwh"],
            values["lifetime_export_kwh"],
        )
        logger.debug("meter %s has no subtype; taken as %s (%s)", serial, subtype, reason)
    return Meter(
        serial=serial,
        role=role,
        subtype=subtype,
        state=reader.state(_STATE),
        current_a=_meter_current(reader),
        **values,
    )


def _meter_current(reader: FieldReader) -> float | None:
    """``i_a`` on single-CT meters, else the sum of the two legs ``i1_a + i2_a`` [A]."""
    if reader.has(_METER_CURRENT):
        return reader.get(_METER_CURRENT, "float")
    if not any(reader.has(name) for name in _METER_LEG_CURRENTS):
        return None
    legs = [reader.get(name, "float", expected=True) for name in _METER_LEG_CURRENTS]
    if any(leg is None for leg in legs):
        return None
    return sum(leg for leg in legs if leg is not None)


def _inverter(reader: FieldReader, serial: str) -> Inverter:
    if not any(reader.has(name) for name in _INVERTER_METRICS):
        reader.warn("no measurements (identity only)")
        values = reader.read_map(WIRE_NAMES["inverter"])
    else:
        values = reader.read_map(WIRE_NAMES["inverter"], _EXPECTED["inverter"])
    values["model"] = values["model"] or ""
    mppt_power_kw = None
    for name in _MPPT_POWER_NAMES:
        if reader.has(name):
            mppt_power_kw = reader.get(name, "float")
            if mppt_power_kw is not None:
                break
    return Inverter(serial=serial, state=reader.state(_STATE), mppt_power_kw=mppt_power_kw, **values)


def _other(reader: FieldReader, serial: str, device_type: str) -> OtherDevice:
    model = reader.get(_MODEL, "text") if reader.has(_MODEL) else ""
    measured_at = reader.get("DATATIME", "dl_time") if reader.has("DATATIME") else None
    return OtherDevice(
        serial=serial,
        device_type=device_type,
        model=model or "",
        state=reader.state(_STATE),
        measured_at=measured_at,
    )


def _is_storage(device_type: str) -> bool:
    """SunVault parts: "Energy Storage System", "ESS BMS", "Battery", "Storage Inverter"."""
    upper = device_type.upper()
    return any(word in upper for word in _STORAGE_WORDS)


def _storage(reader: FieldReader) -> Storage | None:
    """Battery telemetry from an ESS-like record, or ``None`` when it carries none (the common case)."""
    wire_map = WIRE_NAMES["storage"]
    if not any(reader.has(wire) for wire, _ in wire_map.values()) and not reader.has(_CUSTOMER_SOC):
        return None
    values = reader.read_map(wire_map)
    soc = values.pop("state_of_charge")
    if soc is None and reader.has(_CUSTOMER_SOC):
        soc = reader.get(_CUSTOMER_SOC, "float")
    if soc is None and values["power_kw"] is None and values["lifetime_kwh"] is None:
        return None
    return Storage(state_of_charge_pct=soc_to_pct(soc), **values)


def _first_text(reader: FieldReader, names: Sequence[str]) -> str:
    for name in names:
        if reader.has(name):
            text = reader.get(name, "text")
            if text:
                return str(text)
    return ""
