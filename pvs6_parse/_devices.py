"""Device bookkeeping shared by both wire formats: which meter is which, and what a consumption meter measures.

Role
    The PVS6 names its two built-in meters with a trailing letter: ``PVS6M0400p`` / serial ``...p`` is the
    production meter, ``...c`` the consumption meter (DeviceList also says ``TYPE = PVS5-METER-P / -C`` and, on
    newer firmware, a ``subtype`` such as ``GROSS_PRODUCTION_SITE``). We trust, in order: the subtype words, the
    ``TYPE`` suffix, then the last letter of the model name or serial.

Net or gross (only matters for the consumption meter)
    When the PVS6 states a subtype (``NET_CONSUMPTION_LOADSIDE`` / ``GROSS_CONSUMPTION_LINESIDE``) we keep it.
    Old DeviceList firmware (2019) and every varserver build send none, so we decide from the data (logged at
    debug level, not warned: on those firmwares it is every poll, and an always-present warning is noise).
    Rule, first match wins:

    1. **net** if the meter reads negative power, or a negative net lifetime, or its export lifetime is more than
       1 % of its import lifetime. A line-side (gross) CT sees the house load only, which never flows backwards:
       real gross meters show exactly 0 or a few kWh of export noise over years (2.9 of 27,900 kWh in the krbaker
       sample), while a load-side (net) meter on a solar house exports a large share (19,044 of 32,951 kWh in the
       seed).
    2. **net** / **gross** by the varserver's own live summary when given: ``/sys/livedata/net_p`` is the grid
       power and ``site_load_p`` the house load; the meter is whichever of the two its power is closer to.
    3. otherwise **gross**: with no negative reading ever, the two are indistinguishable, and gross is what
       ``Meter.is_net`` assumes for an empty subtype anyway.

    The decision is written into ``Meter.subtype`` in the PVS6's own vocabulary so later stages need no special
    case.
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import Inverter, Meter, MeterRole, OtherDevice

__all__ = [
    "GROSS_CONSUMPTION",
    "NET_CONSUMPTION",
    "assign_meters",
    "infer_consumption_subtype",
    "note_duplicate_serials",
    "role_from_names",
    "role_from_subtype",
]

NET_CONSUMPTION = "NET_CONSUMPTION_LOADSIDE"
GROSS_CONSUMPTION = "GROSS_CONSUMPTION_LINESIDE"

# Export above this share of import means the CTs see power flowing to the grid: a net (load-side) meter.
_NET_EXPORT_SHARE = 0.01


def role_from_subtype(subtype: str) -> MeterRole:
    """The role spelled out by a PVS6 subtype word (``GROSS_PRODUCTION_SITE`` -> production)."""
    upper = subtype.upper()
    if "PRODUCTION" in upper:
        return MeterRole.PRODUCTION
    if "CONSUMPTION" in upper:
        return MeterRole.CONSUMPTION
    return MeterRole.UNKNOWN


def role_from_names(*names: str) -> MeterRole:
    """The role from a DeviceList ``TYPE`` suffix (``-P`` / ``-C``) or a trailing ``p`` / ``c`` of a model/serial.

    The names are tried in the order given; the first that decides wins.
    """
    for name in names:
        text = name.strip()
        upper = text.upper()
        if upper.endswith("-P"):
            return MeterRole.PRODUCTION
        if upper.endswith("-C"):
            return MeterRole.CONSUMPTION
        if text[-1:] in ("p", "P") and len(text) > 1:
            return MeterRole.PRODUCTION
        if text[-1:] in ("c", "C") and len(text) > 1:
            return MeterRole.CONSUMPTION
    return MeterRole.UNKNOWN


def infer_consumption_subtype(
    power_kw: float | None,
    lifetime_net_kwh: float | None,
    lifetime_import_kwh: float | None,
    lifetime_export_kwh: float | None,
    livedata_net_kw: float | None = None,
    livedata_load_kw: float | None = None,
) -> tuple[str, str]:
    """Decide net vs gross for a consumption meter that did not say (see the module docstring for the rule).

    Parameters
    ----------
    power_kw : float or None
        The meter's real power [kW].
    lifetime_net_kwh : float or None
        Net lifetime energy [kWh].
    lifetime_import_kwh : float or None
        Positive (import) lifetime energy [kWh].
    lifetime_export_kwh : float or None
        Negative (export) lifetime energy, as a positive number [kWh].
    livedata_net_kw : float or None, default None
        varserver ``/sys/livedata/net_p``: grid power [kW].
    livedata_load_kw : float or None, default None
        varserver ``/sys/livedata/site_load_p``: house load [kW].

    Returns
    -------
    tuple of (str, str)
        The subtype in PVS6 words and a short reason for the warning.
    """
    if power_kw is not None and power_kw < 0:
        return NET_CONSUMPTION, "negative power"
    if lifetime_net_kwh is not None and lifetime_net_kwh < 0:
        return NET_CONSUMPTION, "negative net lifetime"
    if (
        lifetime_import_kwh is not None
        and lifetime_export_kwh is not None
        and lifetime_export_kwh > _NET_EXPORT_SHARE * max(lifetime_import_kwh, 0.0)
        and lifetime_export_kwh > 0
    ):
        return NET_CONSUMPTION, "export lifetime above 1% of import"
    if power_kw is not None and livedata_net_kw is not None and livedata_load_kw is not None:
        if abs(power_kw - livedata_net_kw) < abs(power_kw - livedata_load_kw):
            return NET_CONSUMPTION, "power matches livedata net_p"
        return GROSS_CONSUMPTION, "power matches livedata site_load_p"
    return GROSS_CONSUMPTION, "no sign of export"


def assign_meters(meters: Sequence[Meter], warnings: list[str]) -> tuple[Meter | None, Meter | None, list[OtherDevice]]:
    """The first production and first consumption meter; any extra or role-less meter becomes an OtherDevice.

    A snapshot has one meter per role; dropping an extra one silently would hide it from the Devices tab.
    """
    production: Meter | None = None
    consumption: Meter | None = None
    spare: list[OtherDevice] = []
    for meter in meters:
        if meter.role is MeterRole.PRODUCTION and production is None:
            production = meter
        elif meter.role is MeterRole.CONSUMPTION and consumption is None:
            consumption = meter
        else:
            if meter.role is not MeterRole.UNKNOWN:
                warnings.append(f"meter {meter.serial}: second {meter.role} meter kept as other device")
            spare.append(
                OtherDevice(
                    serial=meter.serial,
                    device_type="Power Meter",
                    model=meter.model,
                    state=meter.state,
                    measured_at=meter.measured_at,
                )
            )
    return production, consumption, spare


def note_duplicate_serials(inverters: Sequence[Inverter], warnings: list[str]) -> None:
    """Warn about repeated inverter serials: per-panel columns are keyed by serial, so a clash must be visible."""
    counts: dict[str, int] = {}
    for inverter in inverters:
        counts[inverter.serial] = counts.get(inverter.serial, 0) + 1
    for serial, count in counts.items():
        if count > 1:
            warnings.append(f"inverter serial {serial!r} appears {count} times")
