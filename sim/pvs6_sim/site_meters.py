"""Readings of the two PVS6 meters and of the supervisor itself at one instant.

The production meter sees the true AC sum of the microinverters (plus a fraction of a percent of
measurement noise); a reversed CT flips its sign. The consumption meter is NET_CONSUMPTION_LOADSIDE:
house load minus production, negative while exporting, with separate import (pos) and export (neg)
lifetime counters.
"""

from __future__ import annotations

import math
from datetime import datetime

from . import health
from .config import Identity, SimConfig, floor_time
from .faults import Fault
from .readings import MeterReading, PvsReading
from .solar import small_noise


def meter_readings(config: SimConfig, identity: Identity, at: datetime, production_kw: float,
                   reversed_ct: bool, load_kw: float, prod_kwh: float, pos_kwh: float,
                   neg_kwh: float) -> tuple[MeterReading, MeterReading]:
    """Build the production and consumption meter readings.

    Parameters
    ----------
    config, identity : the site and its serials.
    at : datetime
        Instant of the reading [aware UTC].
    production_kw : float
        True AC production of the array [kW].
    reversed_ct : bool
        The production CT is installed backwards (reads negative).
    load_kw : float
        House consumption [kW].
    prod_kwh, pos_kwh, neg_kwh : float
        Lifetime counters: production meter, consumption import, consumption export [kWh].

    Returns
    -------
    (MeterReading, MeterReading)
        Production ("p") and consumption ("c").
    """
    second = int(at.timestamp())
    v12_v = 208.6 + small_noise(config, 51, second // 60, 1.2)
    freq_hz = 60.0 + small_noise(config, 52, second // 60, 0.025)
    p_kw = production_kw * (1.0 + small_noise(config, 53, second, 0.003))
    if reversed_ct:
        p_kw = -p_kw
    q_kvar = 0.16 + small_noise(config, 54, second, 0.03) if production_kw > 0 else 0.0
    s_kva = math.hypot(p_kw, q_kvar)
    production = MeterReading(
        "p", identity.production_meter_serial, "PVS6M0400p", at, p_kw, q_kvar, s_kva,
        p_kw / s_kva if s_kva else 0.0, freq_hz, v12_v, 0.0, 0.0, s_kva * 1000.0 / v12_v, 0.0, 0.0, 0.0,
        prod_kwh, 0.0, 0.0, 50,
    )
    net_kw = load_kw - production_kw
    # A 208 V service: two legs of a three-phase wye, about 120 V each to neutral.
    v1n_v = 121.6 + small_noise(config, 55, second // 60, 0.8)
    v2n_v = 119.4 + small_noise(config, 57, second // 60, 0.8)
    p1_kw, p2_kw = net_kw * 0.56, net_kw * 0.44
    qc_kvar = -0.5 + small_noise(config, 56, second, 0.08)
    sc_kva = math.hypot(net_kw, qc_kvar)
    consumption = MeterReading(
        "c", identity.consumption_meter_serial, "PVS6M0400c", at, net_kw, qc_kvar, sc_kva,
        net_kw / sc_kva if sc_kva else 0.0, freq_hz, v12_v, v1n_v, v2n_v,
        math.hypot(p1_kw, qc_kvar / 2) * 1000.0 / v1n_v, math.hypot(p2_kw, qc_kvar / 2) * 1000.0 / v2n_v,
        p1_kw, p2_kw, pos_kwh - neg_kwh, pos_kwh, neg_kwh, 100,
    )
    return production, consumption


def pvs_reading(config: SimConfig, identity: Identity, faults: list[Fault], at: datetime) -> PvsReading:
    """The supervisor's health at `at` (uptime since the last boot, comm errors, flash, load)."""
    boot = health.last_boot(config, faults, at)
    comm_err = health.comm_errors(config, faults, at, boot)
    flash_kb = health.flash_avail_kb(config, faults, at)
    second = int(at.timestamp())
    err_count = int(health.injected_comm_errors(faults, at, boot) // 10)
    return PvsReading(
        identity.pvs_serial, config.pvs.hwver, config.pvs.swver, config.pvs.build, floor_time(at, 300.0),
        max(0.0, (at - boot).total_seconds()), err_count, comm_err, flash_kb, health.flash_usage_pct(flash_kb),
        0.55 + small_noise(config, 61, second // 60, 0.4), 49700 + int(small_noise(config, 62, second // 300, 2500)),
        identity.panid,
    )


__all__ = ["meter_readings", "pvs_reading"]
