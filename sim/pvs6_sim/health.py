"""PVS6 health over time: boots and reboot windows, uptime, comm errors, flash.

Pure functions of the config, the fault list and the instant, so health never depends on query order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .config import SimConfig
from .faults import Fault

NATURAL_COMM_ERR_PER_H = 0.25  # the real PVS6 slowly accumulates comm errors [1/h]


def reboot_windows(config: SimConfig, faults: list[Fault], at: datetime) -> list[tuple[datetime, datetime]]:
    """Return the silent windows [start, end) relevant up to `at`: injected reboots and nightly ones."""
    windows = [(f.start, f.start + timedelta(seconds=f.amount)) for f in faults
               if f.kind == "reboot" and f.start is not None and f.start <= at]
    windows += [(f.start, f.start + timedelta(seconds=config.pvs.reboot_down_s)) for f in faults
                if f.kind == "firmware" and f.start is not None and f.start <= at]  # an update restarts it
    hour = config.pvs.nightly_reboot_hour_utc
    if hour is not None:
        down = timedelta(seconds=config.pvs.reboot_down_s)
        day = at.replace(hour=hour, minute=0, second=0, microsecond=0)
        for shift in (0, 1):
            begin = day - timedelta(days=shift)
            if config.start - timedelta(days=2) <= begin <= at:
                windows.append((begin, begin + down))
    return windows


def answering(config: SimConfig, faults: list[Fault], at: datetime) -> bool:
    """False while the PVS6 is rebooting (it accepts nothing)."""
    return not any(begin <= at < end for begin, end in reboot_windows(config, faults, at))


def last_boot(config: SimConfig, faults: list[Fault], at: datetime) -> datetime:
    """The end of the most recent boot at or before `at` [aware UTC]."""
    boot = config.start - timedelta(seconds=config.pvs.uptime_at_start_s)
    for _begin, end in reboot_windows(config, faults, at):
        if end <= at:
            boot = max(boot, end)
    return boot


def injected_comm_errors(faults: list[Fault], at: datetime, boot: datetime) -> float:
    """Comm errors added by active comm_errors faults since `boot` (each counts at its rate per hour)."""
    total = 0.0
    for fault in faults:
        if fault.kind != "comm_errors" or fault.start is None:
            continue
        begin = max(fault.start, boot)
        end = min(at, fault.end) if fault.end is not None else at
        if end > begin:
            total += fault.amount * (end - begin).total_seconds() / 3600.0
    return total


def comm_errors(config: SimConfig, faults: list[Fault], at: datetime, boot: datetime) -> int:
    """dl_comm_err: a slow natural drift since boot plus every active comm_errors fault's rate."""
    hours_up = max(0.0, (at - boot).total_seconds() / 3600.0)
    natural = NATURAL_COMM_ERR_PER_H * hours_up
    return int(config.pvs.comm_err_base + natural + injected_comm_errors(faults, at, boot))


def flash_avail_kb(config: SimConfig, faults: list[Fault], at: datetime) -> int:
    """dl_flash_avail [kB]: the configured value, or the lowest active flash_low fault's value."""
    values = [int(f.amount) for f in faults if f.kind == "flash_low" and f.active(at)]
    return min([config.pvs.flash_avail_kb, *values])


def refusing_dl_cgi(faults: list[Fault], at: datetime, path: str) -> bool:
    """Whether an ``unauthorized`` fit makes dl_cgi answer 403 to ``path`` at ``at``.

    Old firmware (build 61839 and before) now and then answers ``{"status":403,"error":"Unauthorized"}`` to
    every dl_cgi request until the PVS6 is power-cycled (ha-esunpower#27 and #35, hass-sunpower#110). A fault
    with value 1 spares ``supervisor/info``, so both habits can be tested.
    """
    for fault in faults:
        if fault.kind == "unauthorized" and fault.active(at):
            return not (fault.amount == 1 and path.endswith("/supervisor/info"))
    return False


FLASH_TOTAL_KB = 218_663  # chosen so that 59039 kB free reads as 73 % used, as in the fw61845 sample


def flash_usage_pct(avail_kb: int) -> int:
    """/sys/info/flash_usage [%] from the available flash."""
    return round(100.0 * (1.0 - avail_kb / FLASH_TOTAL_KB))


__all__ = [
    "answering",
    "comm_errors",
    "flash_avail_kb",
    "flash_usage_pct",
    "injected_comm_errors",
    "last_boot",
    "reboot_windows",
    "refusing_dl_cgi",
]
