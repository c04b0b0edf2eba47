"""varserver ``/vars?...&fmt=obj`` responses (new PVS6 firmware) -> :class:`~pvs6_parse.models.Snapshot`.

The body is one flat object of variable paths to values (mostly strings, ``"nan"`` for absent batteries). Two
device layouts exist and both are read:

- current (build 61845 on): one variable per field, ``/sys/devices/inverter/<i>/p3phsumKw``;
- early (build 61840): one JSON object per device, ``/sys/devices/<id>/inverter/data``.

The array format (``{"values": [{"name": ..., "value": ...}], "count": n}``) is accepted too.
``/sys/info/*`` and ``/sys/pvs/flashwear_type_b`` become :class:`PvsHealth`; ``/sys/livedata/*`` feeds
:class:`Storage` when the battery values are real numbers, and stands in for a meter whose device variables are
missing.

Decisions this module makes (varserver has no ``STATE`` and no meter ``subtype``):

- Every inverter and meter has state ``UNKNOWN``. Inventing ``working``/``error`` from power would hide the very
  judgement the detector makes with the sun and the peers at hand; it has power, ``measured_at`` (``msmtEps``)
  and absence to go on, which is what the PVS6 itself used to derive ``STATE``.
- Meter role from the trailing ``p``/``c`` of ``prodMdlNm`` or ``sn``; net vs gross for the consumption meter by
  the rule in :mod:`._devices` (sign and lifetime counters first, then closeness to livedata ``net_p`` vs
  ``site_load_p``). At night a net and a gross meter give the same consumption, so a guess made before the first
  export of a site's life cannot mislead the consumption figure.
- ``/sys/info/cpu_usage`` and ``ram_usage`` are percentages, not DeviceList's load average and kB, so they are
  not forced into ``cpu_load`` / ``mem_used_kb`` (they stay in the raw archive).

``WIRE_NAMES`` below is the only place that knows varserver variable and field names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._coerce import FieldReader, Kind, decode_blob, soc_to_pct, to_text
from ._devices import (
    NET_CONSUMPTION,
    assign_meters,
    infer_consumption_subtype,
    note_duplicate_serials,
    role_from_names,
)
from .errors import ParseError
from .models import (
    DeviceState,
    Inverter,
    Meter,
    MeterRole,
    OtherDevice,
    PvsHealth,
    Snapshot,
    Storage,
)

__all__ = ["DEVICES_MATCH", "QUERY_NAMES", "WIRE_NAMES", "parse_vars"]

logger = logging.getLogger(__name__)

_DEVICES_PREFIX = "/sys/devices/"
_SYS_PREFIX = "/sys/"
_BLOB_LEAF = "data"
_DEVICE_KINDS = ("inverter", "meter", "ess")

# our field -> (varserver name, kind), per model. "info" and "livedata" name whole variables; the device maps
# name the per-device fields (the last path segment, or the key inside an early-layout blob).
WIRE_NAMES: dict[str, dict[str, tuple[str, Kind]]] = {
    "info": {
        "serial": ("/sys/info/serialnum", "text"),
        "model": ("/sys/info/model", "text"),
        "hw_version": ("/sys/info/hwrev", "text"),
        "sw_version": ("/sys/info/sw_rev", "text"),
        "uptime_s": ("/sys/info/uptime", "uptime"),
        "flash_used_pct": ("/sys/info/flash_usage", "float"),
        "flash_wear_pct": ("/sys/pvs/flashwear_type_b", "wear_hex"),
    },
    "livedata": {
        "time": ("/sys/livedata/time", "epoch"),
        "pv_kw": ("/sys/livedata/pv_p", "float"),
        "pv_kwh": ("/sys/livedata/pv_en", "float"),
        "net_kw": ("/sys/livedata/net_p", "float"),
        "net_kwh": ("/sys/livedata/net_en", "float"),
        "load_kw": ("/sys/livedata/site_load_p", "float"),
        "load_kwh": ("/sys/livedata/site_load_en", "float"),
        "ess_kw": ("/sys/livedata/ess_p", "float"),
        "ess_kwh": ("/sys/livedata/ess_en", "float"),
        "soc": ("/sys/livedata/soc", "float"),
    },
    "inverter": {
        "model": ("prodMdlNm", "text"),
        "power_kw": ("p3phsumKw", "float"),
        "lifetime_kwh": ("ltea3phsumKwh", "float"),
        "ac_voltage_v": ("vln3phavgV", "float"),
        "ac_current_a": ("i3phsumA", "float"),
        "mppt_voltage_v": ("vMppt1V", "float"),
        "mppt_current_a": ("iMppt1A", "float"),
        "mppt_power_kw": ("pMppt1Kw", "float"),
        "temperature_c": ("tHtsnkDegc", "float"),
        "freq_hz": ("freqHz", "float"),
        "measured_at": ("msmtEps", "iso_time"),
    },
    "meter": {
        "model": ("prodMdlNm", "text"),
        "power_kw": ("p3phsumKw", "float"),
        "lifetime_net_kwh": ("netLtea3phsumKwh", "float"),
        "lifetime_import_kwh": ("posLtea3phsumKwh", "float"),
        "lifetime_export_kwh": ("negLtea3phsumKwh", "float"),
        "voltage_v": ("v12V", "float"),
        "freq_hz": ("freqHz", "float"),
        "measured_at": ("msmtEps", "iso_time"),
    },
    "ess": {
        "state_of_charge": ("socVal", "float"),
        "power_kw": ("p3phsumKw", "float"),
    },
}
# What the edge asks by name (``/vars?name=a,b,...``), in groups the PVS6 may lack one of: a name it does not
# have makes the whole request a 400 (fcgi_vars ``ProcessNameQuery``), so the edge falls back group by group.
# Devices come by one ``match=/sys/devices/`` instead: their number and layout vary.
QUERY_NAMES: dict[str, tuple[str, ...]] = {
    "info": tuple(wire for wire, _ in WIRE_NAMES["info"].values() if wire.startswith("/sys/info/")),
    "livedata": tuple(wire for wire, _ in WIRE_NAMES["livedata"].values()),
    "flash_wear": (WIRE_NAMES["info"]["flash_wear_pct"][0],),
}
DEVICES_MATCH = _DEVICES_PREFIX
_SERIAL = "sn"
_MODEL = "prodMdlNm"
_METER_LEG_CURRENTS = ("i1A", "i2A")
_EXPECTED = {
    "inverter": ("power_kw", "lifetime_kwh"),
    "meter": ("power_kw", "lifetime_net_kwh"),
}
_LIVEDATA_PRODUCTION_SERIAL = "livedata:pv"
_LIVEDATA_NET_SERIAL = "livedata:net"

Devices = dict[str, dict[str, dict[str, Any]]]  # kind -> device index/id -> field -> raw value


def parse_vars(payload: Mapping[str, Any], *, site: str, captured_at: datetime, sha256: str = "") -> Snapshot:
    """Turn one varserver ``fmt=obj`` (or array-format) response into a :class:`Snapshot`.

    Parameters
    ----------
    payload : Mapping
        The decoded JSON body of ``GET /vars?match=...``.
    site : str
        Site id from the upload envelope.
    captured_at : datetime
        When the edge asked (aware, UTC).
    sha256 : str, default ""
        Hex digest of the raw bytes, carried through for idempotency.

    Returns
    -------
    Snapshot
        With ``source="varserver"``; inverters sorted by serial.

    Raises
    ------
    ParseError
        When the payload holds no ``/sys/...`` variables at all.
    """
    warnings: list[str] = []
    variables = _flatten(payload, warnings)
    if not any(isinstance(key, str) and key.startswith(_SYS_PREFIX) for key in variables):
        raise ParseError("not a varserver response: no /sys/... variables")

    root = FieldReader(variables, "varserver", warnings)
    live = _livedata(root)
    devices = _group_devices(variables, warnings)

    inverters = [_inverter(fields, index, warnings) for index, fields in _ordered(devices.pop("inverter", {}))]
    meters = [_meter(fields, index, live, warnings) for index, fields in _ordered(devices.pop("meter", {}))]
    production, consumption, others = assign_meters(meters, warnings)
    production, consumption = _livedata_meters(production, consumption, live, warnings)
    storage = _storage(devices.pop("ess", {}), live, warnings)
    for kind, members in sorted(devices.items()):
        others.extend(_other(kind, fields, index, warnings) for index, fields in _ordered(members))

    inverters.sort(key=lambda inv: inv.serial)
    note_duplicate_serials(inverters, warnings)
    if warnings:
        logger.debug("varserver dump for site %s parsed with %d warnings", site, len(warnings))
    return Snapshot(
        site=site,
        captured_at=captured_at,
        source="varserver",
        pvs=_pvs(root, live),
        production_meter=production,
        consumption_meter=consumption,
        inverters=tuple(inverters),
        storage=storage,
        other_devices=tuple(others),
        sha256=sha256,
        warnings=tuple(warnings),
    )


def _flatten(payload: object, warnings: list[str]) -> Mapping[str, Any]:
    """The ``fmt=obj`` mapping itself, or the array format folded into one."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"varserver payload must be a JSON object, got {type(payload).__name__}")
    values = payload.get("values")
    if not isinstance(values, list):
        return payload
    flat: dict[str, Any] = {}
    for position, item in enumerate(values):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str) and "value" in item:
            flat[item["name"]] = item["value"]
        else:
            warnings.append(f"varserver values[{position}] is not a name/value pair: skipped")
    return flat


def _group_devices(variables: Mapping[str, Any], warnings: list[str]) -> Devices:
    """Collect ``/sys/devices/...`` variables per kind and device, from either layout."""
    devices: Devices = {}
    for key, value in variables.items():
        if not isinstance(key, str) or not key.startswith(_DEVICES_PREFIX):
            continue
        parts = key[len(_DEVICES_PREFIX) :].split("/")
        if len(parts) != 3 or not all(parts):
            continue
        first, second, leaf = parts
        if first in _DEVICE_KINDS or leaf != _BLOB_LEAF:
            devices.setdefault(first, {}).setdefault(second, {})[leaf] = value
            continue
        blob = decode_blob(value)
        if blob is None:
            warnings.append(f"{key}: device data is not an object: skipped")
            continue
        devices.setdefault(second, {}).setdefault(first, {}).update(blob)
    return devices


def _ordered(members: Mapping[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Devices in numeric index order (``2`` before ``10``), non-numeric ids after, by text."""
    return sorted(members.items(), key=lambda item: _index_key(item[0]))


def _index_key(index: str) -> tuple[bool, int, str]:
    return (not index.isdigit(), int(index) if index.isdigit() else 0, index)


def _reader(kind: str, fields: Mapping[str, Any], index: str, warnings: list[str]) -> tuple[FieldReader, str]:
    serial = to_text(fields.get(_SERIAL)) or ""
    reader = FieldReader(fields, f"{kind} {serial or '#' + index}", warnings)
    if not serial:
        reader.warn("no sn")
    return reader, serial


def _inverter(fields: Mapping[str, Any], index: str, warnings: list[str]) -> Inverter:
    reader, serial = _reader("inverter", fields, index, warnings)
    values = reader.read_map(WIRE_NAMES["inverter"], _EXPECTED["inverter"])
    values["model"] = values["model"] or ""
    return Inverter(serial=serial, state=DeviceState.UNKNOWN, **values)


def _meter(fields: Mapping[str, Any], index: str, live: Mapping[str, Any], warnings: list[str]) -> Meter:
    reader, serial = _reader("meter", fields, index, warnings)
    values = reader.read_map(WIRE_NAMES["meter"], _EXPECTED["meter"])
    values["model"] = values["model"] or ""
    role = role_from_names(values["model"], serial)
    subtype = ""
    if role is MeterRole.UNKNOWN:
        reader.warn("cannot tell production from consumption")
    elif role is MeterRole.CONSUMPTION:
        subtype, reason = infer_consumption_subtype(
            values["power_kw"],
            values["lifetime_net_kwh"],
            values["lifetime_import_kwh"],
            values["lifetime_export_kwh"],
            livedata_net_kw=live.get("net_kw"),
            livedata_load_kw=live.get("load_kw"),
        )
        logger.debug("meter %s taken as %s (%s)", serial, subtype, reason)
    return Meter(
        serial=serial,
        role=role,
        subtype=subtype,
        state=DeviceState.UNKNOWN,
        current_a=_leg_sum(reader),
        **values,
    )


def _leg_sum(reader: FieldReader) -> float | None:
    """``i1A + i2A`` [A]; ``None`` unless both legs are usable (a half sum would read as a real drop)."""
    if not any(reader.has(name) for name in _METER_LEG_CURRENTS):
        return None
    legs = [reader.get(name, "float", expected=True) for name in _METER_LEG_CURRENTS]
    if any(leg is None for leg in legs):
        return None
    return sum(leg for leg in legs if leg is not None)


def _livedata(root: FieldReader) -> dict[str, Any]:
    """The livedata values that are present and real; battery ``"nan"`` on PV-only sites is silent."""
    values: dict[str, Any] = {}
    for field, (wire, kind) in WIRE_NAMES["livedata"].items():
        if root.has(wire):
            value = root.get(wire, kind, nan_ok=field in ("ess_kw", "ess_kwh", "soc"))
            if value is not None:
                values[field] = value
    return values


def _livedata_meters(
    production: Meter | None, consumption: Meter | None, live: Mapping[str, Any], warnings: list[str]
) -> tuple[Meter | None, Meter | None]:
    """Stand-in meters from ``/sys/livedata`` for any role whose meter device is missing."""
    measured_at = live.get("time")
    if production is None and ("pv_kw" in live or "pv_kwh" in live):
        production = Meter(
            serial=_LIVEDATA_PRODUCTION_SERIAL,
            role=MeterRole.PRODUCTION,
            power_kw=live.get("pv_kw"),
            lifetime_net_kwh=live.get("pv_kwh"),
            measured_at=measured_at,
        )
        warnings.append("no production meter device: production from /sys/livedata/pv_p")
    if consumption is None and ("net_kw" in live or "net_kwh" in live):
        consumption = Meter(
            serial=_LIVEDATA_NET_SERIAL,
            role=MeterRole.CONSUMPTION,
            subtype=NET_CONSUMPTION,
            power_kw=live.get("net_kw"),
            lifetime_net_kwh=live.get("net_kwh"),
            measured_at=measured_at,
        )
        warnings.append("no consumption meter device: grid power from /sys/livedata/net_p")
    return production, consumption


def _storage(ess_devices: Mapping[str, dict[str, Any]], live: Mapping[str, Any], warnings: list[str]) -> Storage | None:
    """The first ESS device's charge and power, gaps filled from livedata; ``None`` on PV-only sites."""
    soc = live.get("soc")
    power_kw = live.get("ess_kw")
    ordered = _ordered(ess_devices)
    if len(ordered) > 1:
        warnings.append(f"{len(ordered)} ESS devices; storage from the first")
    if ordered:
        index, fields = ordered[0]
        reader, _ = _reader("ess", fields, index, warnings)
        values = reader.read_map(WIRE_NAMES["ess"])
        soc = values["state_of_charge"] if values["state_of_charge"] is not None else soc
        power_kw = values["power_kw"] if values["power_kw"] is not None else power_kw
    lifetime_kwh = live.get("ess_kwh")
    if soc is None and power_kw is None and lifetime_kwh is None:
        return None
    return Storage(state_of_charge_pct=soc_to_pct(soc), power_kw=power_kw, lifetime_kwh=lifetime_kwh)


def _other(kind: str, fields: Mapping[str, Any], index: str, warnings: list[str]) -> OtherDevice:
    reader, serial = _reader(kind, fields, index, warnings)
    model = reader.get(_MODEL, "text") if reader.has(_MODEL) else ""
    measured_at = reader.get("msmtEps", "iso_time") if reader.has("msmtEps") else None
    return OtherDevice(serial=serial, device_type=kind, model=model or "", measured_at=measured_at)


def _pvs(root: FieldReader, live: Mapping[str, Any]) -> PvsHealth | None:
    """The supervisor's record, when the dump includes ``/sys/info``."""
    info_map = WIRE_NAMES["info"]
    if not any(root.has(wire) for wire, _ in info_map.values()):
        return None
    values = root.read_map(info_map)
    for text_field in ("serial", "model", "hw_version", "sw_version"):
        values[text_field] = values[text_field] or ""
    if not values["serial"]:
        root.warn("no /sys/info/serialnum")
    return PvsHealth(measured_at=live.get("time"), **values)
