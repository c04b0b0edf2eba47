"""The normalized snapshot: one PVS6 reading, whatever API it came from.

Both wire formats (legacy ``dl_cgi`` DeviceList and the varserver ``/vars`` API) are parsed into these frozen,
slotted dataclasses, so every later stage (enrich, sink, detect, summaries) speaks one language. Every numeric
field carries its unit in its name (kW, kWh, V, A, degC, Hz); a value the device did not report is ``None``,
never a guessed zero, because "no data" and "zero output" mean very different things to the alert rules.
Times are aware UTC ``datetime`` objects; they become site-local only at the sink.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "DeviceState",
    "Inverter",
    "Meter",
    "MeterRole",
    "OtherDevice",
    "PvsHealth",
    "Snapshot",
    "Storage",
]


class DeviceState(enum.StrEnum):
    """What the PVS6 says of a device.

    ``error`` is ambiguous on a PVS6: it is what every microinverter reads at night, in heavy shade, *and* when it
    is dead. Only the detector, with the sun and the peers at hand, may turn it into a diagnosis.
    """

    WORKING = "working"
    ERROR = "error"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class MeterRole(enum.StrEnum):
    """Which side of the house a meter's current transformers sit on."""

    PRODUCTION = "production"
    CONSUMPTION = "consumption"
    UNKNOWN = "unknown"


# The longest uptime a PVS6 can report [s]: a century. The parsers drop anything outside [0, this) as unusable (a
# corrupted or hostile answer); a consumer that does arithmetic with it (boot time = now - uptime) needs the bound.
MAX_UPTIME_S = 100 * 365.25 * 86400


@dataclass(frozen=True, slots=True)
class PvsHealth:
    """The supervisor's own record (DeviceList ``DEVICE_TYPE == "PVS"`` or varserver ``/sys/info``).

    Counters are cumulative since the PVS6's last boot, so a drop in ``uptime_s`` means a reboot. The parsers
    give ``uptime_s`` only within ``[0, MAX_UPTIME_S)``, else ``None`` with a warning.
    """

    serial: str
    model: str = ""
    sw_version: str = ""
    hw_version: str = ""
    state: DeviceState = DeviceState.UNKNOWN
    uptime_s: float | None = None
    error_count: int | None = None
    comm_error_count: int | None = None
    skipped_scans: int | None = None
    untransmitted: int | None = None
    cpu_load: float | None = None
    mem_used_kb: int | None = None
    flash_avail_kb: int | None = None
    flash_used_pct: float | None = None
    measured_at: datetime | None = None
    flash_wear_pct: float | None = None  # share of the flash chip's rated write life used (varserver only)


@dataclass(frozen=True, slots=True)
class Meter:
    """A revenue-grade-ish meter inside the PVS6 fed by current transformers.

    ``subtype`` keeps the PVS6's own wording (``GROSS_PRODUCTION_SITE``, ``NET_CONSUMPTION_LOADSIDE``,
    ``GROSS_CONSUMPTION_LINESIDE``) because it decides what ``power_kw`` means on the consumption meter: on a
    *net* (load-side) meter it is grid import (+) / export (-); on a *gross* (line-side) meter it is the house load.
    """

    serial: str
    role: MeterRole
    model: str = ""
    subtype: str = ""
    state: DeviceState = DeviceState.UNKNOWN
    power_kw: float | None = None
    lifetime_net_kwh: float | None = None
    lifetime_import_kwh: float | None = None
    lifetime_export_kwh: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    freq_hz: float | None = None
    measured_at: datetime | None = None

    @property
    def is_net(self) -> bool:
        """True when this consumption meter measures the grid connection, not the house load."""
        return "NET" in self.subtype.upper()


@dataclass(frozen=True, slots=True)
class Inverter:
    """One microinverter (one panel). AC side in ``power_kw``; the panel's DC side in the ``mppt_*`` fields."""

    serial: str
    model: str = ""
    state: DeviceState = DeviceState.UNKNOWN
    power_kw: float | None = None
    lifetime_kwh: float | None = None
    ac_voltage_v: float | None = None
    ac_current_a: float | None = None
    mppt_voltage_v: float | None = None
    mppt_current_a: float | None = None
    mppt_power_kw: float | None = None
    temperature_c: float | None = None
    freq_hz: float | None = None
    measured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Storage:
    """Battery / ESS summary, present only on sites with a SunVault or similar."""

    state_of_charge_pct: float | None = None
    power_kw: float | None = None
    lifetime_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class OtherDevice:
    """Any device we do not model in detail (gateway, PV disconnect, battery packs...): kept for the Devices tab."""

    serial: str
    device_type: str
    model: str = ""
    state: DeviceState = DeviceState.UNKNOWN
    measured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one PVS6 poll told us, normalized.

    ``captured_at`` is when the Pi asked (the edge's clock, UTC); each device's ``measured_at`` is the PVS6's own
    time for that device's last measurement, which lags for a dead or sleeping inverter and is the better
    liveness signal.
    """

    site: str
    captured_at: datetime
    source: str
    pvs: PvsHealth | None = None
    production_meter: Meter | None = None
    consumption_meter: Meter | None = None
    inverters: tuple[Inverter, ...] = ()
    storage: Storage | None = None
    other_devices: tuple[OtherDevice, ...] = ()
    sha256: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def production_kw(self) -> float | None:
        """Solar output: the production meter if there is one, else the sum of inverters that reported."""
        if self.production_meter is not None and self.production_meter.power_kw is not None:
            return self.production_meter.power_kw
        powers = [inv.power_kw for inv in self.inverters if inv.power_kw is not None]
        return sum(powers) if powers else None

    @property
    def net_grid_kw(self) -> float | None:
        """Power from the grid (+) or to it (-)."""
        meter = self.consumption_meter
        if meter is None or meter.power_kw is None:
            return None
        if meter.is_net:
            return meter.power_kw
        production = self.production_kw
        return None if production is None else meter.power_kw - production

    @property
    def consumption_kw(self) -> float | None:
        """What the house used, whichever way the consumption CTs are installed."""
        meter = self.consumption_meter
        if meter is None or meter.power_kw is None:
            return None
        if not meter.is_net:
            return meter.power_kw
        production = self.production_kw
        return None if production is None else meter.power_kw + production

    @property
    def inverters_working(self) -> int:
        """How many inverters are producing: ``working`` per the PVS6, or, where the API reports no state
        (varserver), producing power. Not a health verdict: see ``DeviceState``."""
        return sum(
            1
            for inv in self.inverters
            if inv.state is DeviceState.WORKING
            or (inv.state is DeviceState.UNKNOWN and (inv.power_kw or 0.0) > 0.0)
        )
