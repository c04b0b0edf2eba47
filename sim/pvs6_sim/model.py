"""The simulated PVS6 site: state that integrates energy over simulated time, plus fault effects.

Time only moves forward for the simulated device. Asking for a time at or after the last one integrates
the lifetime counters up to it in `config.step_s` pieces (vectorised, so months take well under seconds).
Asking for an EARLIER time than the last one is clamped: the answer is the state at the last time asked
(CURTIME included), so counters never run backwards and nothing is corrupted.

Counters are committed on a grid of `step_s` marks and held as integer micro-kWh, so the answer at a
given time does not depend on how often or in which order earlier times were asked. A fault injected
with a start before the last committed grid mark changes readings from its start but energy only from
that mark on (history is never rewritten).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from . import health, render
from .clock import SimClock
from .config import VARSERVER_MIN_BUILD, SimConfig, as_utc, floor_time, make_identity
from .faults import Fault, FaultBook
from .readings import InverterReading, SiteReading
from .site_meters import meter_readings, pvs_reading
from .solar import WAKE_DC_W, array_power, hash_uniform, house_load_kw, panel_factors

LOGGER = logging.getLogger(__name__)
HISTORY_S = 2 * 86400.0  # integrate this much before `start` so "last seen" times are realistic [s]
CHUNK_S = 10 * 86400.0  # integrate at most this much per vectorised batch [s]
UNITS_PER_KWH = 1_000_000  # counters are integers of micro-kWh: exact, order-independent sums


class Simulator:
    """A PVS6 and its array, answering for any (non-decreasing) simulated time.

    Parameters
    ----------
    config : SimConfig, optional
        The site; defaults to the seed's system (12 inverters on 2 circuits, 41.76 N -72.68 E).
    clock : SimClock, optional
        Gives "now" for the HTTP server and for faults injected without a start; defaults to a manual
        clock at `config.start`.
    """

    def __init__(self, config: SimConfig | None = None, clock: SimClock | None = None) -> None:
        self.config = config or SimConfig()
        self.identity = make_identity(self.config)
        self.clock = clock or SimClock(self.config.start)
        self.faults = FaultBook()
        self._lock = threading.RLock()
        self._factors = panel_factors(self.config)
        panels = self.config.array.panels
        self._circuits = np.array([self.config.array.circuit_of(i) for i in range(panels)])
        initial_kwh = 1800.0 + 900.0 * hash_uniform(self.config.seed, 3, np.arange(panels))
        self._inv_units = np.rint(initial_kwh * UNITS_PER_KWH).astype(np.int64)
        self._prod_units = int(self._inv_units.sum() * 1.004)
        self._pos_units = int((32000.0 + 1000.0 * hash_uniform(self.config.seed, 4, np.arange(1))[0]) * UNITS_PER_KWH)
        self._neg_units = int(self._pos_units * 0.58)
        history_start = self.config.start.timestamp() - HISTORY_S
        self._g = float(np.floor(history_start / self.config.step_s) * self.config.step_s)
        self._t = self.config.start
        self._last_seen_s = np.full(panels, self._g)
        self._frozen: dict[int, tuple[InverterReading, ...]] = {}  # fault id -> the inverters it repeats
        self._advance_to(self.config.start)

    # ----------------------------------------------------------------- public API
    @property
    def last_time(self) -> datetime:
        """The latest simulated time asked for; earlier requests are answered as of this time [aware UTC]."""
        with self._lock:
            return self._t

    def now(self) -> datetime:
        """The clock's current simulated time."""
        return self.clock.now()

    def inject(self, fault: Fault) -> Fault:
        """Add a fault; a device fault without start begins at the later of clock now and the last time."""
        default_start = max(self.clock.now(), self.last_time)
        stored = self.faults.add(fault, default_start=default_start)
        LOGGER.info("fault injected: %s", stored.to_json())
        return stored

    def clear_faults(self, fault_id: int | None = None, kind: str | None = None) -> int:
        """Remove faults by id, kind, or all; returns how many were removed."""
        removed = self.faults.clear(fault_id=fault_id, kind=kind)
        LOGGER.info("cleared %d fault(s) (id=%s kind=%s)", removed, fault_id, kind)
        return removed

    def config_at(self, at: datetime) -> SimConfig:
        """The config as the PVS6 runs it at ``at``: after a ``firmware`` fault, the new build (and API).

        An update to build 61840 or later brings the varserver, and dl_cgi's DeviceList then refuses the Pi
        (hass-sunpower#125), so a ``dl_cgi`` site becomes a ``varserver`` one; ``both`` stays ``both``.
        """
        updates = sorted((f for f in self.faults.device_faults() if f.kind == "firmware" and f.start is not None
                          and f.start <= as_utc(at)), key=lambda f: f.start or at)
        if not updates:
            return self.config
        build = int(updates[-1].amount)
        api = self.config.api
        if build >= VARSERVER_MIN_BUILD and api == "dl_cgi":
            api = "varserver"
        date = "2025.09.04" if build >= VARSERVER_MIN_BUILD else self.config.pvs.swver_date
        return replace(self.config, api=api, pvs=replace(self.config.pvs, build=build, swver_date=date))

    def answering(self, at: datetime) -> bool:
        """False while the PVS6 is rebooting (the HTTP server then drops connections)."""
        return health.answering(self.config, self.faults.device_faults(), as_utc(at))

    def refusing_dl_cgi(self, at: datetime, path: str) -> bool:
        """Whether old firmware's 403 fit refuses dl_cgi ``path`` at ``at`` (see `health.refusing_dl_cgi`)."""
        return health.refusing_dl_cgi(self.faults.device_faults(), as_utc(at), path)

    def reading(self, at: datetime) -> SiteReading:
        """The typed state of the site at `at` (clamped to the last time asked, see module docstring)."""
        with self._lock:
            at = as_utc(at)
            if at > self._t:
                self._advance_to(at)
            return self._reading_locked(self._t)

    def lifetime_kwh(self, at: datetime) -> tuple[np.ndarray, float, float, float]:
        """Counters at `at` (clamped): per-inverter, production meter, import, export [kWh]."""
        with self._lock:
            self.reading(at)
            inv, prod, pos, neg, _seen = self._counters_locked()
            return inv / UNITS_PER_KWH, prod / UNITS_PER_KWH, pos / UNITS_PER_KWH, neg / UNITS_PER_KWH

    def _counters_locked(self) -> tuple[np.ndarray, int, int, int, np.ndarray]:
        """Committed counters plus the uncommitted piece from the last grid mark to the last time asked."""
        end = self._t.timestamp()
        if end <= self._g:
            return self._inv_units, self._prod_units, self._pos_units, self._neg_units, self._last_seen_s
        inv, prod, pos, neg, seen = self._integrate(self._g, end)
        return (self._inv_units + inv, self._prod_units + prod, self._pos_units + pos, self._neg_units + neg,
                np.maximum(self._last_seen_s, seen))

    def device_list(self, at: datetime) -> dict:
        """The legacy `dl_cgi?Command=DeviceList` JSON object at `at`."""
        reading = self.reading(at)
        return render.device_list(reading, self.config_at(reading.at))

    def varserver_vars(self, at: datetime, match: str = "/") -> dict[str, str]:
        """The varserver `/vars?match=<match>&fmt=obj` object at `at` (keys containing `match`)."""
        reading = self.reading(at)
        return render.varserver_vars(reading, self.config_at(reading.at), match)

    def supervisor_info(self, at: datetime | None = None) -> dict:
        """The unauthenticated `/cgi-bin/dl_cgi/supervisor/info` object (at `at`, default the clock's now)."""
        return render.supervisor_info(self.config_at(at or self.now()), self.identity.pvs_serial)

    # ----------------------------------------------------------------- internals
    def _resolve(self, target: int | str | None) -> int | None:
        if isinstance(target, int):
            return target if 0 <= target < self.config.array.panels else None
        if isinstance(target, str) and target in self.identity.inverter_serials:
            return self.identity.inverter_serials.index(target)
        return None

    def _effects(self, epoch_s: np.ndarray, faults: list[Fault]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fault effects at instants: output multiplier (n, p), counter-stuck (n, p), CT reversed (n,)."""
        n, panels = len(epoch_s), self.config.array.panels
        mult = np.ones((n, panels))
        stuck = np.zeros((n, panels), dtype=bool)
        reversed_ct = np.zeros(n, dtype=bool)
        for fault in faults:
            start = fault.start.timestamp() if fault.start is not None else -np.inf
            end = fault.end.timestamp() if fault.end is not None else np.inf
            active = (epoch_s >= start) & (epoch_s < end)
            if fault.kind == "reversed_ct":
                reversed_ct |= active
                continue
            if fault.kind == "breaker":
                cols = self._circuits == int(fault.target or 0)
            else:
                index = self._resolve(fault.target)
                if index is None:
                    continue
                cols = np.arange(panels) == index
            cell = active[:, None] & cols[None, :]
            if fault.kind in ("dead", "breaker"):
                mult[cell] = 0.0
            elif fault.kind in ("weak", "covered"):
                mult[cell] *= fault.amount
            elif fault.kind == "stuck":
                stuck |= cell
        return mult, stuck, reversed_ct

    def _advance_to(self, end: datetime) -> None:
        """Commit whole integration steps up to the last grid mark at or before `end`."""
        self._t = end
        target = np.floor(end.timestamp() / self.config.step_s) * self.config.step_s
        while self._g < target:
            chunk_end = min(target, self._g + max(1, int(CHUNK_S // self.config.step_s)) * self.config.step_s)
            inv, prod, pos, neg, seen = self._integrate(self._g, chunk_end)
            self._inv_units += inv
            self._prod_units += prod
            self._pos_units += pos
            self._neg_units += neg
            self._last_seen_s = np.maximum(self._last_seen_s, seen)
            self._g = chunk_end

    def _integrate(self, a: float, b: float) -> tuple[np.ndarray, int, int, int, np.ndarray]:
        """Energy between epoch seconds a and b, in integer micro-kWh so sums never depend on chunking.

        Returns per-inverter counter increments, production-meter, import and export increments, and the
        last instant each inverter was awake (-inf if never).
        """
        step = self.config.step_s
        grid = np.arange(np.floor(a / step) * step + step, b, step)
        edges = np.concatenate(([a], grid[grid > a], [b]))
        mids, durations_h = (edges[:-1] + edges[1:]) / 2.0, np.diff(edges) / 3600.0
        times = pd.to_datetime(mids, unit="s", utc=True)
        sample = array_power(times, self.config, self._factors)
        mult, stuck, reversed_ct = self._effects(mids, self.faults.device_faults())
        ac_w = sample.ac_w * mult
        awake = sample.awake & (mult > 0) & (sample.dc_w * mult > WAKE_DC_W)
        ac_w = np.where(awake, ac_w, 0.0)
        energy = np.rint(ac_w * durations_h[:, None] * (UNITS_PER_KWH / 1000.0)).astype(np.int64)
        inv = np.where(stuck, 0, energy).sum(axis=0)
        production = energy.sum(axis=1)
        prod = int(np.where(reversed_ct, -production, production).sum())
        load = np.rint(house_load_kw(times, self.config) * durations_h * UNITS_PER_KWH).astype(np.int64)
        net = load - production
        seen = np.where(awake, edges[1:, None], -np.inf).max(axis=0)
        return inv, prod, int(net[net > 0].sum()), int(-net[net < 0].sum()), seen

    def _reading_locked(self, at: datetime) -> SiteReading:
        epoch = np.array([at.timestamp()])
        times = pd.to_datetime(epoch, unit="s", utc=True)
        sample = array_power(times, self.config, self._factors)
        faults = self.faults.device_faults()
        mult, _stuck, reversed_ct = self._effects(epoch, faults)
        ac_w, dc_w = sample.ac_w[0] * mult[0], sample.dc_w[0] * mult[0]
        awake = sample.awake[0] & (mult[0] > 0) & (dc_w > WAKE_DC_W)
        ac_w = np.where(awake, ac_w, 0.0)
        vanished = {self._resolve(f.target) for f in faults if f.kind == "vanished" and f.active(at)}
        inv, prod, pos, neg, seen = self._counters_locked()
        inverters = tuple(
            self._inverter(i, at, float(ac_w[i]), float(dc_w[i]), bool(awake[i]), float(sample.temp_air_c[0]),
                           float(sample.temp_cell_c[0]), inv[i] / UNITS_PER_KWH, float(seen[i]))
            for i in range(self.config.array.panels) if i not in vanished
        )
        inverters = self._blindness(at, faults, inverters)
        load_kw = float(house_load_kw(times, self.config)[0])
        production, consumption = meter_readings(
            self.config, self.identity, at, float(ac_w.sum()) / 1000.0, bool(reversed_ct[0]), load_kw,
            prod / UNITS_PER_KWH, pos / UNITS_PER_KWH, neg / UNITS_PER_KWH,
        )
        return SiteReading(at, pvs_reading(self.config_at(at), self.identity, faults, at), inverters, production,
                           consumption, load_kw, float(sample.elevation_deg[0]))

    def _blindness(self, at: datetime, faults: list[Fault],
                   inverters: tuple[InverterReading, ...]) -> tuple[InverterReading, ...]:
        """The PVS6 losing sight of its inverters while they (and the meters) go on producing.

        Owners see both after the nightly restart (pvs-hass#17, ha-esunpower#39): ``blind`` lists none at all,
        ``frozen`` repeats the same readings (power, counters and measurement times) again and again. A frozen
        window repeats the inverters of the first answer it served.
        """
        for fault in faults:
            if fault.kind == "blind" and fault.active(at):
                return ()
        for fault in faults:
            if fault.kind == "frozen" and fault.active(at):
                return self._frozen.setdefault(fault.fault_id, inverters)
        return inverters

    def _inverter(self, i: int, at: datetime, ac_w: float, dc_w: float, awake: bool, temp_air_c: float,
                  temp_cell_c: float, lifetime_kwh: float, last_seen_s: float) -> InverterReading:
        seed, second = self.config.seed, int(at.timestamp())
        jitter = hash_uniform(seed, 40 + i, np.array([second // 15, second // 300]))
        voltage_v = 208.4 + 1.4 * float(jitter[1])
        if awake:
            measured_at = floor_time(at, 15.0)
            mppt_v = 57.5 * (1.0 - 0.0027 * (temp_cell_c - 25.0)) - 1.5 * float(jitter[0])
            return InverterReading(
                i, self.identity.inverter_serials[i], int(self._circuits[i]), "working", measured_at,
                lifetime_kwh, ac_w / 1000.0, voltage_v, ac_w / voltage_v, dc_w / 1000.0, mppt_v,
                dc_w / mppt_v, round(temp_cell_c - 4.0 + 2.0 * float(jitter[0])), 60.0 + 0.01 * round(jitter[0]),
            )
        last_seen = datetime.fromtimestamp(last_seen_s, tz=UTC)
        trickle_w = min(dc_w, 1.5)
        return InverterReading(
            i, self.identity.inverter_serials[i], int(self._circuits[i]), "error", floor_time(last_seen, 15.0),
            lifetime_kwh, 0.0, voltage_v, 0.0, trickle_w / 1000.0, 62.0 if trickle_w > 0.2 else 0.0,
            trickle_w / 62.0 if trickle_w > 0.2 else 0.0, round(temp_air_c + 3.0), 0.0,
        )


__all__ = ["Simulator"]
