"""Turn the edge status into a few lines a person reads over SSH (``pvs6-edge status``)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_status"]


def format_status(status: dict[str, Any], config_path: str) -> str:
    """Render the status dictionary (see ``runner.build_status``) as plain text.

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
