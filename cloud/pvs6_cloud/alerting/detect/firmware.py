"""The PVS6's firmware history: every build it ran, and one quiet notice when the build changes.

SunStrong updates PVS6s over the air, without asking the owner (pypvs#11: "wait for an automatic update of your
device to 61845"), and an update can change how the PVS6 must be asked (the varserver arrives at build 61840,
LocalAPI.md). The Pi re-detects the API by itself; this rule keeps the record a person needs afterwards: which
builds ran when (detector memory ``history``, the last `HISTORY_KEPT`), and a ``firmware_changed`` finding for
`SHOWN_FOR` after each change. It is informative (``quiet_resolve``): one email when it opens, none when it
clears, and its row in the Alerts tab stays as the history anyone can read in the sheet.

The build is the last run of five or more digits of the version text: ``"2025.06, Build 61839"`` (dl_cgi) and
``"2025.09.04.61845"`` (varserver ``/sys/info/sw_rev``) both give it, so the change of API that often comes with
an update is not itself mistaken for a new build. The first build ever seen is recorded without a notice.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "build_number", "findings", "step"]

KINDS = ("firmware_changed",)
HISTORY_KEPT = 20
SHOWN_FOR = timedelta(days=1)
_BUILD = re.compile(r"(\d{5,})(?!.*\d{5,})")
ADVICE = ("Nothing to do: SunStrong updates the PVS6 by itself, and the Pi adapts to the new firmware on its own. "
          "If readings stop or look odd in the next days, tell whoever helps you with the system that the PVS6 "
          "was updated on this date.")


def build_number(version: str) -> int | None:
    """The firmware build in a PVS6 version text, or None when it names none."""
    match = _BUILD.search(version or "")
    return int(match.group(1)) if match else None


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("history", [])
    mem.setdefault("change", {})
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Record the build of this reading; note a change from the previous one."""
    mem = _memory(mem)
    pvs = frame.snapshot.pvs
    build = build_number(pvs.sw_version) if pvs is not None else None
    change = mem["change"]
    if change and frame.at - datetime.fromisoformat(change["at"]) >= SHOWN_FOR:
        mem["change"] = {}
    if build is None:
        return set(KINDS)
    stamp = frame.at.isoformat()
    history: list[dict[str, Any]] = mem["history"]
    if history and history[-1]["build"] == build:
        history[-1]["last"] = max(history[-1]["last"], stamp)
        return set(KINDS)
    if history and frame.at < datetime.fromisoformat(history[-1]["last"]):
        return set(KINDS)  # an old reading arriving late says nothing about today's firmware
    previous = history[-1] if history else None
    history.append({"build": build, "version": pvs.sw_version if pvs else "", "first": stamp, "last": stamp,
                    "source": frame.snapshot.source})
    del history[:-HISTORY_KEPT]
    if previous is not None:
        mem["change"] = {"at": stamp, "from": previous["build"], "from_version": previous["version"],
                         "from_first": previous["first"], "from_source": previous.get("source", ""),
                         "to": build, "to_version": pvs.sw_version if pvs else "",
                         "source": frame.snapshot.source, "serial": pvs.serial if pvs else ""}
    return set(KINDS)


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """The recent firmware change, if any."""
    change = _memory(mem)["change"]
    if not change:
        return []
    at = datetime.fromisoformat(change["at"])
    since = ctx.local(datetime.fromisoformat(change["from_first"]), with_day=True)
    details = (f"Since {ctx.local(at, with_day=True)} the PVS6 reports firmware {change['to_version']} (build "
               f"{change['to']}); before, it ran {change['from_version']} (build {change['from']}, seen since "
               f"{since}).")
    if change.get("from_source") and change["source"] != change["from_source"]:
        details += (f" It now answers the Pi in the new way ({change['source']} instead of "
                    f"{change['from_source']}), and the Pi switched by itself.")
    word = "updated" if change["to"] > change["from"] else "changed"
    return [Finding("firmware_changed", change.get("serial", ""),
                    f"The PVS6's firmware was {word} (build {change['from']} to {change['to']})", details, ADVICE,
                    {**change, "quiet_resolve": True})]
