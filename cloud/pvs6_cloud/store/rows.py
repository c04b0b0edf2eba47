"""Pure builders of spreadsheet rows: a snapshot (and what the weather allowed) in, keyed records out.

Times stay aware UTC here; each sink renders them in the site's zone. Device strings are passed through as text
and each sink keeps them inert (never formulas).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.store.layout import Cell, panel_key
from pvs6_cloud.store.state import DeviceRecord, SiteState
from pvs6_parse.models import DeviceState, Snapshot

__all__ = ["device_records", "panels", "readings_record", "remember_devices"]


def readings_record(snapshot: Snapshot, enrichment: Enrichment) -> dict[str, Cell]:
    """The Readings row of one snapshot: whole-system numbers, weather, expectation, then one kW per panel."""
    prod = snapshot.production_meter
    cons = snapshot.consumption_meter
    conditions = enrichment.conditions
    # With no weather the model falls back to a clear sky: an upper bound, not "what the weather allowed", so the
    # sheet leaves the cell empty rather than show a cloudy day as a failing system (the rollup refills it).
    expected_kw = None if enrichment.expected_source == "clearsky" else enrichment.expected_kw
    record: dict[str, Cell] = {
        "time": snapshot.captured_at,
        "production_kw": snapshot.production_kw,
        "consumption_kw": snapshot.consumption_kw,
        "net_grid_kw": snapshot.net_grid_kw,
        "lifetime_production_kwh": prod.lifetime_net_kwh if prod else None,
        "lifetime_import_kwh": cons.lifetime_import_kwh if cons else None,
        "lifetime_export_kwh": cons.lifetime_export_kwh if cons else None,
        "inverters_working": snapshot.inverters_working,
        "inverters_total": len(snapshot.inverters),
        "cloud_cover_pct": conditions.cloud_cover_pct if conditions else None,
        "irradiance_w_m2": (conditions.poa_w_m2 if conditions.poa_w_m2 is not None else conditions.ghi_w_m2)
        if conditions
        else None,
        "air_temp_c": conditions.air_temp_c if conditions else None,
        "expected_kw": expected_kw,
        "performance_ratio": enrichment.performance_ratio(snapshot.production_kw) if expected_kw is not None else None,
        "snapshot_id": snapshot.sha256[:16],
    }
    for inv in snapshot.inverters:
        record[panel_key(inv.serial)] = inv.power_kw
    return record


def remember_devices(state: SiteState, snapshot: Snapshot, *, daylight: bool = True) -> bool:
    """Update the Devices memory from a snapshot; return True when a new inverter joined the panel columns.

    An inverter that reports ``error`` with no counters keeps its last known lifetime (the PVS6 forgets it, we
    do not). Panel order is first-seen order, so a column never moves once a person has charted it. With
    ``daylight`` False (the sun too low for the detector to judge), an inverter that is not working is asleep,
    not in error: its daylight state is kept for the Devices tab.
    """
    seen_at = snapshot.captured_at.isoformat()
    grew = False
    devices: list[tuple[str, str, str, DeviceState, float | None, datetime | None]] = []
    if snapshot.pvs is not None:
        p = snapshot.pvs
        devices.append((p.serial, "PVS", p.model, p.state, None, p.measured_at))
    for meter in (snapshot.production_meter, snapshot.consumption_meter):
        if meter is not None:
            devices.append((meter.serial, f"Meter ({meter.role})", meter.model, meter.state,
                            meter.lifetime_net_kwh, meter.measured_at))
    for inv in snapshot.inverters:
        devices.append((inv.serial, "Inverter", inv.model, inv.state, inv.lifetime_kwh, inv.measured_at))
    for other in snapshot.other_devices:
        devices.append((other.serial, other.device_type, other.model, other.state, None, other.measured_at))
    for serial, kind, model, dstate, lifetime, measured in devices:
        if not serial:
            continue
        record = state.devices.get(serial)
        if record is None:
            record = state.devices[serial] = DeviceRecord(serial, kind, model, first_seen=seen_at)
        if seen_at < record.first_seen:
            record.first_seen = seen_at
        if seen_at >= record.last_seen:
            record.last_seen = seen_at
            record.last_state = str(dstate)
            record.asleep = kind == "Inverter" and not daylight and dstate != DeviceState.WORKING
            if not record.asleep:
                record.daylight_state = str(dstate)
            if lifetime is not None:
                record.lifetime_kwh = lifetime
            if measured is not None:
                record.last_measured_at = measured.isoformat()
        record.model = model or record.model
        if kind == "Inverter" and serial not in state.panel_order:
            state.panel_order.append(serial)
            grew = True
    return grew


def panels(state: SiteState, places: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(serial, label)`` of every panel column: the configured place when known, else the serial."""
    return [(serial, places.get(serial, serial)) for serial in state.panel_order]


def device_records(state: SiteState, places: Mapping[str, str],
                   circuits: Mapping[str, str] | None = None) -> list[dict[str, Cell]]:
    """The whole Devices tab: inverters in column order first, then the other devices by serial.

    ``circuits`` gives each panel's circuit in words (`circuits.circuit_labels`: configured, or learned for
    the owner to confirm).
    """
    circuits = circuits or {}
    order = {serial: i for i, serial in enumerate(state.panel_order)}
    rows = sorted(state.devices.values(), key=lambda d: (order.get(d.serial, len(order)), d.serial))
    return [
        {
            "serial": d.serial,
            "device_type": d.device_type,
            "model": d.model,
            "place": places.get(d.serial, ""),
            "first_seen": datetime.fromisoformat(d.first_seen) if d.first_seen else None,
            "last_seen": datetime.fromisoformat(d.last_seen) if d.last_seen else None,
            "last_state": _state_words(d),
            "lifetime_kwh": d.lifetime_kwh,
            "circuit": circuits.get(d.serial, ""),
        }
        for d in rows
    ]


_STATE_WORDS = {"working": "working", "error": "error", "offline": "not reporting", "unknown": "unknown"}


def _state_words(device: DeviceRecord) -> str:
    """The Devices tab's "Last state": at night an inverter is asleep, with what it said in daylight."""
    if not device.asleep:
        return _STATE_WORDS.get(device.last_state, device.last_state)
    if not device.daylight_state:
        return "asleep (night)"
    return f"asleep (night); in daylight: {_STATE_WORDS.get(device.daylight_state, device.daylight_state)}"
