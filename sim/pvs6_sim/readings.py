"""Typed readings of the simulated site at one instant, before they are dressed as PVS6 JSON.

The model fills these; `render` turns them into DeviceList or varserver documents. Keeping the numbers in
typed, unit-named fields lets tests check physics without parsing strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class InverterReading:
    """One microinverter as the PVS6 last heard it; measured_at freezes while it is asleep or dead."""

    index: int
    serial: str
    circuit: int
    state: str  # "working" or "error"
    measured_at: datetime
    lifetime_kwh: float
    power_kw: float
    voltage_v: float
    current_a: float
    mppt_power_kw: float
    mppt_voltage_v: float
    mppt_current_a: float
    heatsink_temperature_c: float
    freq_hz: float


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A PVS6 meter: "p" = production (GROSS_PRODUCTION_SITE), "c" = consumption (NET_CONSUMPTION_LOADSIDE)."""

    kind: str
    serial: str
    model: str
    measured_at: datetime
    power_kw: float
    reactive_kvar: float
    apparent_kva: float
    power_factor: float
    freq_hz: float
    v12_v: float
    v1n_v: float
    v2n_v: float
    i1_a: float
    i2_a: float
    p1_kw: float
    p2_kw: float
    net_lifetime_kwh: float
    pos_lifetime_kwh: float
    neg_lifetime_kwh: float
    ct_scale: int


@dataclass(frozen=True, slots=True)
class PvsReading:
    """The supervisor's own health counters."""

    serial: str
    hwver: str
    swver: str
    build: int
    measured_at: datetime
    uptime_s: float
    err_count: int
    comm_err: int
    flash_avail_kb: int
    flash_usage_pct: int
    cpu_load: float
    mem_used_kb: int
    panid: int


@dataclass(frozen=True, slots=True)
class SiteReading:
    """Everything the PVS6 would report at `at`; `inverters` excludes vanished devices."""

    at: datetime
    pvs: PvsReading
    inverters: tuple[InverterReading, ...]
    production: MeterReading
    consumption: MeterReading
    house_load_kw: float
    sun_elevation_deg: float


__all__ = ["InverterReading", "MeterReading", "PvsReading", "SiteReading"]
