"""Dress typed readings as the PVS6's own JSON: DeviceList, varserver vars and supervisor info.

Formatting habits copied from real responses (see shared/fixtures/pvs6): DeviceList numbers are strings
with at most four decimals and no trailing zeros ("0.2948", "60", "0"), `panid` is a bare integer,
DATATIME/CURTIME are "YYYY,MM,DD,HH,MM,SS" in UTC; varserver values are strings with six decimals
("0.154040"), integers stay integers ("38"), and msmtEps is "YYYY-MM-DDTHH:MM:SSZ" on 5-minute marks.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from .config import SimConfig, floor_time
from .readings import InverterReading, MeterReading, PvsReading, SiteReading

SUBTYPES = {"p": ("production_subtype_enum", "GROSS_PRODUCTION_SITE", "PVS5-METER-P"),
            "c": ("consumption_subtype_enum", "NET_CONSUMPTION_LOADSIDE", "PVS5-METER-C")}


def num(value: float, places: int = 4) -> str:
    """A DeviceList number: fixed `places` decimals, trailing zeros and "-0" removed."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def dl_time(at: datetime) -> str:
    """DeviceList DATATIME / CURTIME: "YYYY,MM,DD,HH,MM,SS" (UTC)."""
    return at.strftime("%Y,%m,%d,%H,%M,%S")


def eps_time(at: datetime) -> str:
    """varserver msmtEps: "YYYY-MM-DDTHH:MM:SSZ" (UTC)."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pvs_device(pvs: PvsReading, at: datetime) -> dict[str, Any]:
    return {
        "DETAIL": "detail", "STATE": "working", "STATEDESCR": "Working", "SERIAL": pvs.serial,
        "MODEL": "PV Supervisor PVS6", "HWVER": pvs.hwver, "SWVER": pvs.swver, "DEVICE_TYPE": "PVS",
        "DATATIME": dl_time(pvs.measured_at), "dl_err_count": str(pvs.err_count),
        "dl_comm_err": str(pvs.comm_err), "dl_skipped_scans": "0", "dl_scan_time": "0",
        "dl_untransmitted": "0", "dl_uptime": str(int(pvs.uptime_s)), "dl_cpu_load": num(pvs.cpu_load, 2),
        "dl_mem_used": str(pvs.mem_used_kb), "dl_flash_avail": str(pvs.flash_avail_kb), "panid": pvs.panid,
        "CURTIME": dl_time(at),
    }


def _meter_device(m: MeterReading, at: datetime) -> dict[str, Any]:
    enum_key, subtype, meter_type = SUBTYPES[m.kind]
    out: dict[str, Any] = {
        "ISDETAIL": True, "SERIAL": m.serial, "TYPE": meter_type, "STATE": "working", "STATEDESCR": "Working",
        "MODEL": m.model, "DESCR": f"Power Meter {m.serial}", "DEVICE_TYPE": "Power Meter",
        "interface": "mime", enum_key: subtype, "subtype": subtype, "SWVER": "3000", "PORT": "",
        "DATATIME": dl_time(m.measured_at), "ct_scl_fctr": str(m.ct_scale),
        "net_ltea_3phsum_kwh": num(m.net_lifetime_kwh), "p_3phsum_kw": num(m.power_kw),
        "q_3phsum_kvar": num(m.reactive_kvar), "s_3phsum_kva": num(m.apparent_kva),
        "tot_pf_rto": num(m.power_factor), "freq_hz": num(m.freq_hz, 2),
    }
    if m.kind == "p":
        out.update({"i_a": num(m.i1_a), "v12_v": num(m.v12_v)})
    else:
        out.update({
            "i1_a": num(m.i1_a), "i2_a": num(m.i2_a), "v1n_v": num(m.v1n_v), "v2n_v": num(m.v2n_v),
            "v12_v": num(m.v12_v), "p1_kw": num(m.p1_kw), "p2_kw": num(m.p2_kw),
            "neg_ltea_3phsum_kwh": num(m.neg_lifetime_kwh), "pos_ltea_3phsum_kwh": num(m.pos_lifetime_kwh),
        })
    out.update({"CAL0": str(m.ct_scale), "origin": "data_logger", "OPERATION": "noop", "CURTIME": dl_time(at)})
    return out


def _inverter_device(inv: InverterReading, at: datetime, config: SimConfig) -> dict[str, Any]:
    return {
        "ISDETAIL": True, "SERIAL": inv.serial, "TYPE": config.array.inverter_type,
        "STATE": inv.state, "STATEDESCR": inv.state.capitalize(), "MODEL": config.array.inverter_model,
        "DESCR": f"Inverter {inv.serial}", "DEVICE_TYPE": "Inverter", "hw_version": "4405",
        "interface": "mime", "SWVER": config.array.inverter_swver, "PORT": "", "MOD_SN": "", "NMPLT_SKU": "",
        "DATATIME": dl_time(inv.measured_at), "ltea_3phsum_kwh": num(inv.lifetime_kwh),
        "p_3phsum_kw": num(inv.power_kw), "vln_3phavg_v": num(inv.voltage_v, 2),
        "i_3phsum_a": num(inv.current_a, 2), "p_mppt1_kw": num(inv.mppt_power_kw),
        "v_mppt1_v": num(inv.mppt_voltage_v, 2), "i_mppt1_a": num(inv.mppt_current_a, 2),
        "t_htsnk_degc": str(round(inv.heatsink_temperature_c)), "freq_hz": num(inv.freq_hz, 2),
        "stat_ind": "0", "origin": "data_logger", "OPERATION": "noop", "CURTIME": dl_time(at),
    }


def device_list(reading: SiteReading, config: SimConfig | None = None) -> dict[str, Any]:
    """The `dl_cgi?Command=DeviceList` object: PVS first, then the meters, then the inverters."""
    config = config or SimConfig()
    devices = [_pvs_device(reading.pvs, reading.at), _meter_device(reading.production, reading.at),
               _meter_device(reading.consumption, reading.at)]
    devices += [_inverter_device(inv, reading.at, config) for inv in reading.inverters]
    return {"devices": devices, "result": "succeed"}


def _f6(value: float) -> str:
    return f"{value:.6f}"


def sw_rev(config: SimConfig) -> str:
    """/sys/info/sw_rev, e.g. "2025.09.04.61845"."""
    date = config.pvs.swver_date
    return f"{date}.{config.pvs.build}" if date.count(".") >= 2 else f"{date}.04.{config.pvs.build}"


def _all_vars(r: SiteReading, config: SimConfig) -> dict[str, Any]:
    pvs, prod, cons = r.pvs, r.production, r.consumption
    out: dict[str, Any] = {
        "/sys/info/serialnum": pvs.serial, "/sys/info/model": "PVS6", "/sys/info/hwrev": pvs.hwver,
        "/sys/info/uptime": f"{pvs.uptime_s:.2f}", "/sys/info/fwrev": " Major 2, Revision 0x6131c9f8, Build 1188",
        "/sys/info/boardtype": "A0K LIB 1.0 PSoC5", "/sys/info/sw_rev": sw_rev(config),
        "/sys/info/ssid": f"SunPower{pvs.serial[-5:-3]}444", "/sys/info/wpa_key": "DDDDDDDDD",
        "/sys/info/lmac": "00:00:00:00:00:00:00", "/sys/info/sys_type": "PV-only",
        "/sys/info/finance_type": "UNKNOWN", "/sys/info/active_interface": "sta0",
        "/sys/info/active_interface_mac": "00:00:00:00:00:00:00",
        "/sys/info/ram_usage": str(max(1, round(pvs.mem_used_kb / 7100))),
        "/sys/info/flash_usage": str(pvs.flash_usage_pct), "/sys/info/cpu_usage": str(round(pvs.cpu_load * 10)),
        "/network/report/send": "0", "/metrics/network/interface_report_request": "0",
        "/sys/toggle_cell/low_data_mode": "0", "/sys/toggle_cell/cell_connected": "0",
        "/sys/toggle_cell/broadband_connected": "1", "/net/wwan0/state": "N/A", "/net/wan0/state": "N/A",
        "/net/wan1/state": "N/A", "/net/sta0/state": "online",
        "/sys/pvs/usb_erase_count": "0", "/sys/telemetryws/enable": "0",
        "/sys/livedata/time": str(int(r.at.timestamp())), "/sys/livedata/pv_p": _f6(prod.power_kw),
        "/sys/livedata/pv_en": _f6(prod.net_lifetime_kwh), "/sys/livedata/net_p": _f6(cons.power_kw),
        "/sys/livedata/net_en": _f6(cons.net_lifetime_kwh),
        "/sys/livedata/site_load_p": _f6(prod.power_kw + cons.power_kw),
        "/sys/livedata/site_load_en": _f6(prod.net_lifetime_kwh + cons.net_lifetime_kwh),
        "/sys/livedata/ess_en": "nan", "/sys/livedata/ess_p": "nan", "/sys/livedata/soc": "nan",
        "/sys/livedata/backupTimeRemaining": "0", "/sys/livedata/midstate": "0",
    }
    if config.pvs.flash_wear_code:
        out["/sys/pvs/flashwear_type_b"] = f"0x{config.pvs.flash_wear_code:02x}"
    early = config.pvs.device_layout == "early"
    for i, m in enumerate((prod, cons)):
        fields = {
            "ctSclFctr": str(m.ct_scale), "freqHz": _f6(m.freq_hz), "i1A": _f6(m.i1_a), "i2A": _f6(m.i2_a),
            "msmtEps": eps_time(floor_time(m.measured_at, 300.0)), "negLtea3phsumKwh": _f6(m.neg_lifetime_kwh),
            "netLtea3phsumKwh": _f6(m.net_lifetime_kwh), "p1Kw": _f6(m.p1_kw), "p2Kw": _f6(m.p2_kw),
            "p3phsumKw": _f6(m.power_kw), "posLtea3phsumKwh": _f6(m.pos_lifetime_kwh), "prodMdlNm": m.model,
            "q3phsumKvar": _f6(m.reactive_kvar), "s3phsumKva": _f6(m.apparent_kva), "sn": m.serial,
            "totPfRto": _f6(m.power_factor), "v12V": _f6(m.v12_v), "v1nV": _f6(m.v1n_v), "v2nV": _f6(m.v2n_v),
        }
        _put_device(out, "meter", i, fields, early)
    for inv in r.inverters:
        fields = {
            "freqHz": _f6(inv.freq_hz), "i3phsumA": _f6(inv.current_a), "iMppt1A": _f6(inv.mppt_current_a),
            "ltea3phsumKwh": _f6(inv.lifetime_kwh), "msmtEps": eps_time(floor_time(inv.measured_at, 300.0)),
            "p3phsumKw": _f6(inv.power_kw), "pMppt1Kw": _f6(inv.mppt_power_kw),
            "prodMdlNm": config.array.inverter_model, "sn": inv.serial,
            "tHtsnkDegc": str(round(inv.heatsink_temperature_c)), "vMppt1V": _f6(inv.mppt_voltage_v),
            "vln3phavgV": _f6(inv.voltage_v),
        }
        _put_device(out, "inverter", inv.index, fields, early)
    return out


# Early-layout device numbers, as in LocalAPI.md's build-61840 examples (meters 11 and 12, inverters from 21).
_EARLY_FIRST = {"meter": 11, "inverter": 21}


def _put_device(out: dict[str, Any], kind: str, index: int, fields: dict[str, str], early: bool) -> None:
    """One device's variables: one per field (current layout), or one JSON object with numbers (early)."""
    if early:
        out[f"/sys/devices/{_EARLY_FIRST[kind] + index}/{kind}/data"] = {k: _number(v) for k, v in fields.items()}
    else:
        out.update({f"/sys/devices/{kind}/{index}/{k}": v for k, v in fields.items()})


def _number(text: str) -> Any:
    """A field as the early layout's JSON object holds it: numbers as numbers, names as text."""
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        return number if math.isfinite(number) else text
    return text


def varserver_vars(reading: SiteReading, config: SimConfig, match: str = "/") -> dict[str, Any]:
    """The `/vars?match=<match>&fmt=obj` object: every variable whose name contains `match`."""
    return {k: v for k, v in _all_vars(reading, config).items() if match in k}


def varserver_names(reading: SiteReading, config: SimConfig, names: list[str]) -> dict[str, Any] | None:
    """The variables asked for by exact name (`/vars?name=a,b`); None when any one is unknown.

    fcgi_vars (`ProcessNameQuery`) fails the whole request when one name is not found: the caller answers 400.
    """
    everything = _all_vars(reading, config)
    if not names or any(n not in everything for n in names):
        return None
    return {n: everything[n] for n in names}


def as_array(values: dict[str, str]) -> dict[str, Any]:
    """The default varserver array format: {"values": [{"name", "value"}...], "count": n}."""
    return {"values": [{"name": k, "value": v} for k, v in values.items()], "count": len(values)}


def supervisor_info(config: SimConfig, serial: str) -> dict[str, Any]:
    """`/cgi-bin/dl_cgi/supervisor/info`, shaped like the real `Command=Start` supervisor block."""
    return {
        "supervisor": {
            "SWVER": config.pvs.swver, "SERIAL": serial, "MODEL": "PVS6", "BUILD": config.pvs.build,
            "FWVER": "1.0.0", "SCVER": 1630652920, "EASICVER": 131329, "SCBUILD": 1188,
            "WNSERIAL": 16, "WNMODEL": 400, "WNVER": 3000,
        },
        "result": "succeed",
    }


def dumps_dl_cgi(obj: Any) -> bytes:
    """Serialise like the PVS6's dl_cgi: tab-indented, a tab after each colon."""
    return json.dumps(obj, indent="\t", separators=(",", ":\t")).encode()


def dumps_varserver(obj: Any) -> bytes:
    """Serialise like the varserver: compact single-line JSON."""
    return json.dumps(obj, separators=(", ", ": ")).encode()


__all__ = [
    "as_array", "device_list", "dl_time", "dumps_dl_cgi", "dumps_varserver", "eps_time", "num",
    "supervisor_info", "sw_rev", "varserver_names", "varserver_vars",
]
