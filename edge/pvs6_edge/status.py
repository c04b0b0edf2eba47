"""The edge status: the dictionary every heartbeat carries, and the few lines a person reads over SSH.

`build_status` gathers it from the run state and the spool (both read, nothing written); `format_status` renders
it for ``pvs6-edge status``. Kept apart from the runner so the status needs neither a run nor ``requests``.
"""

from __future__ import annotations

from typing import Any

from pvs6_edge.clock import iso_utc
from pvs6_edge.failing import FailingItems
from pvs6_edge.housekeeping import DISK_FULL_BYTES, free_bytes
from pvs6_edge.spool import Spool
from pvs6_edge.state import EdgeState

__all__ = ["build_status", "format_status"]

_MAX_REPORTED_QUARANTINE = 50


def build_status(state: EdgeState, spool: Spool, now: float) -> dict[str, Any]:
    """The edge status carried by every heartbeat and shown by ``pvs6-edge status``.

    Parameters
    ----------
    state : EdgeState
        Remembered run state.
    spool : Spool
        The spool (listed, not read).
    now : float
        Current time [unix s].

    Returns
    -------
    dict
        JSON-ready status; times are ISO-8601 UTC, ages in seconds.
    """
    items = spool.items()
    disk_free = free_bytes(spool.limits.dir)

    def iso(ts: float | None) -> str | None:
        return iso_utc(ts) if ts is not None else None

    return {
        "pvs_ok": state.pvs_failing_since is None and state.last_pvs_contact_at is not None,
        "api": state.api,
        "last_pvs_contact": iso(state.last_pvs_contact_at),
        "pvs_failing_since": iso(state.pvs_failing_since),
        "last_pvs_error": state.last_pvs_error,
        "last_pvs_error_at": iso(state.last_pvs_error_at),
        "storage_error": state.storage_error,
        "storage_error_at": iso(state.storage_error_at),
        "disk_free_bytes": disk_free,
        "disk_full": disk_free is not None and disk_free < DISK_FULL_BYTES,
        "spool_depth": len(items),
        "spool_bytes": sum(i.size_bytes for i in items),
        "oldest_item_age_s": round(max(0.0, now - items[0].captured_ts)) if items else None,
        "quarantined": spool.quarantine_count(),
        "newly_quarantined": state.unreported_quarantine[:_MAX_REPORTED_QUARANTINE],
        "warnings": ([state.clock_problem] if state.clock_problem else []) + list(state.warnings),
        "clock_offset_s": state.clock_offset_s,
        "clock_offset_measured": iso(state.clock_offset_at),
        "dropped_total": state.dropped_total,
        "last_upload_ok": iso(state.last_upload_ok_at),
        "last_upload_error": state.last_upload_error,
        "last_upload_error_at": iso(state.last_upload_error_at),
        "upload_failures": state.upload_failures,
        "held_back": FailingItems(state.failing_items).report(),
        "next_upload_at": iso(state.next_upload_at),
        "clock": iso_utc(now),
    }


def format_status(status: dict[str, Any], config_path: str) -> str:
    """Render the status dictionary (see `build_status`) as plain text.

    Parameters
    ----------
    status : dict
        The status as sent in heartbeats.
    config_path : str
        Which configuration was used, shown first.

    Returns
    -------
    str
        Multi-line text, most important first.
    """
    pvs = "OK" if status["pvs_ok"] else ("NOT ANSWERING" if status["pvs_failing_since"] else "never reached")
    lines = [
        f"config:             {config_path}",
        f"PVS6:               {pvs} (api: {status['api'] or 'not detected yet'})",
        f"last PVS contact:   {status['last_pvs_contact'] or 'never'}",
    ]
    if status["pvs_failing_since"]:
        lines.append(f"  failing since:    {status['pvs_failing_since']}")
    if status["last_pvs_error"]:
        since = _over(bool(status["pvs_ok"]), "the PVS6 answered since")
        lines.append(f"last PVS error:     {status['last_pvs_error_at']}{since}  {status['last_pvs_error']}")
    if status.get("storage_error"):
        lines.append(f"STORAGE FAILING:    {status['storage_error_at']}  {status['storage_error']}")
    if status.get("disk_full"):
        # Measured now, not remembered: with the disk full the last run may not have been able to save its state.
        lines.append(f"DISK FULL:          {status['disk_free_bytes'] // 1024} KiB free where the Pi keeps its "
                     f"files: new readings cannot be kept; free space on the SD card")
    lines += [
        f"spool:              {status['spool_depth']} item(s), {status['spool_bytes'] / 1024:.0f} KiB, "
        f"oldest {_age(status['oldest_item_age_s'])}",
        f"quarantined:        {status['quarantined']} file(s)",
        f"last upload OK:     {status['last_upload_ok'] or 'never'}",
    ]
    if status["last_upload_error"]:
        since = _over(not status.get("upload_failures") and bool(status["last_upload_ok"]), "an upload worked since")
        lines.append(f"last upload error:  {status['last_upload_error_at']}{since}  {status['last_upload_error']}")
    if status["next_upload_at"]:
        lines.append(f"next upload try:    {status['next_upload_at']} "
                     f"(after {status['upload_failures']} failure(s))")
    for rec in status.get("held_back", []):
        lines.append(f"held back:          {rec['name']}: the cloud failed on it alone {rec['attempts']} time(s) "
                     f"since {rec['since']} while it took others; retried alone, set aside if it goes on")
    if status["dropped_total"]:
        lines.append(f"DATA DROPPED:       {status['dropped_total']} spool item(s) over the limits so far")
    lines.extend(f"WARNING:            {w}" for w in status["warnings"])
    for rec in status["newly_quarantined"]:
        lines.append(f"newly quarantined:  {rec.get('name')}: {rec.get('reason')}")
    offset_s = status.get("clock_offset_s")
    if offset_s is None:
        lines.append(f"now:                {status['clock']} (not yet checked against the cloud's clock)")
    else:
        lines.append(f"now:                {status['clock']} (cloud's clock: {offset_s:+.0f} s, checked "
                     f"{status.get('clock_offset_measured')})")
    return "\n".join(lines)


def _over(fixed: bool, what: str) -> str:
    """A note after a remembered error's time once the last try worked (the PVS6 answered, the last upload
    round had no failure), so an owner who fixed the cause does not read it as a current one. Decided by the
    state, not by comparing the times: those are whole seconds, and a fix can follow within the same one."""
    return f" (over: {what})" if fixed else ""


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
