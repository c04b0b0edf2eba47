"""Detection: pure rules over readings, the sun and stored memory -> findings and new memory.

`detect` runs every rule family over a batch of (snapshot, enrichment) pairs in time order, then reports what is
wrong *now* and which kinds could be judged (only those may resolve an open alert). No clock, network or disk:
``now`` and the memory dict (``state.section("detect")``, plain JSON) are passed in, and the memory is updated in
place. One module per rule family:

- `inverters`: ``inverter_down`` (error, 0 W, stale or missing while peers produce), ``circuit_down``;
- `weak`: ``inverter_weak`` (under 80 % of peers over sunny days);
- `patterns`: ``inverter_intermittent`` (short drops of one panel, day after day);
- `array`: ``array_down`` (whole array dark in sunshine), ``below_expected`` (far below the weather);
- `counters`: ``counter_stuck``;
- `devices`: ``device_new``, plus the known-panel list and the day series for charts;
- `pvs`: ``pvs_comm_errors``, ``pvs_reboots``, ``pvs_flash_low``, ``pvs_flash_filling`` (`flashspace`),
  ``pvs_flash_wear`` (`flashwear`) (``pvs_unreachable`` and ``edge_silent``
  belong to the scheduled watchdog, `pvs6_cloud.jobs.watchdog`);
- `meters`: ``meter_reversed``, ``meter_impossible``;
- `blind`: ``monitor_blind`` (the meter shows production but the PVS6 lists no live inverters);
- `firmware`: ``firmware_changed`` (one quiet notice per firmware update) and the build history.

Two modules raise nothing themselves but shape what the panel rules see: `normal` (each panel's learned share by
sun position: recurring shade and roof faces become expected) and `snow` (panel alerts wait while snow slides off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.detect import (
    array,
    blind,
    counters,
    devices,
    firmware,
    inverters,
    meters,
    normal,
    patterns,
    pvs,
    snow,
    weak,
)
from pvs6_cloud.alerting.detect.common import Context, Frame, build_frame
from pvs6_cloud.alerting.findings import Finding
from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import DetectionConfig, SiteConfig
from pvs6_parse.models import Snapshot

__all__ = ["ALL_KINDS", "Detection", "detect"]

ALL_KINDS = (*inverters.KINDS, *patterns.KINDS, *weak.KINDS, *array.KINDS, *counters.KINDS, *devices.KINDS, *pvs.KINDS,
             *meters.KINDS, *blind.KINDS, *firmware.KINDS)


@dataclass(frozen=True, slots=True)
class Detection:
    """What the rules see now, which kinds they could judge this time, and the last reading as they left it.

    ``reading`` is the last reading's frame as the memory stands after the rules took it in, each panel's learned
    normal in ``reading.normal``: what `costs.charge_reading` measures losses by, so the normals are worked
    out once per reading (None when the batch had no reading).
    """

    findings: tuple[Finding, ...]
    evaluated_kinds: frozenset[str]
    reading: Frame | None = None


def _section(memory: dict[str, Any], name: str) -> dict[str, Any]:
    return memory.setdefault(name, {})


def _settled(frame: Frame, memory: dict[str, Any], ctx: Context, relearned: bool) -> Frame:
    """The reading as the memory stands after the rules took it in.

    Nearly always the frame the rules judged. Only a reading that forgot a panel long unseen (`devices`) or
    learned yesterday (`normal`, the first reading of a day) is seen again, with the panels and the learned
    table as they are now: what the loss of that reading has always been measured against.
    """
    known = devices.known_serials(_section(memory, "devices"), ctx)
    if not relearned and known | set(frame.present) == frame.known:
        return frame
    again = build_frame(frame.snapshot, frame.enrichment, known, ctx)
    return replace(again, normal=normal.expectations(again, _section(memory, "normal"), ctx.config.dead_ratio),
                   snow_hold=frame.snow_hold, snow_day=frame.snow_day)


def _alerted_panels(memory: dict[str, Any]) -> set[str]:
    """Panels with an open down or weak alert: their day must not teach the normal."""
    down = {s for s, rec in memory.get("inverters", {}).get("inv", {}).items() if rec.get("active")}
    return down | set(memory.get("weak", {}).get("active", {}))


def detect(
    pairs: Sequence[tuple[Snapshot, Enrichment]],
    edge_status: Mapping[str, Any],
    memory: dict[str, Any],
    site: SiteConfig,
    config: DetectionConfig,
    now: datetime,
) -> Detection:
    """Run every rule over a batch.

    Parameters
    ----------
    pairs : sequence of (Snapshot, Enrichment)
        The batch's readings with the sun and weather at each (any order; sorted by capture time here).
    edge_status : mapping
        The edge's heartbeat; not used by the current rules (the watchdog judges it), kept for rules to come.
    memory : dict
        The detector's memory (JSON data), updated in place.
    site : SiteConfig
        Place, array (circuits, places) and time zone.
    config : DetectionConfig
        Thresholds.
    now : datetime
        Current time [aware UTC] (rules judge readings by their own capture times).

    Returns
    -------
    Detection
        Findings active after the last reading, and the kinds judged during the batch.
    """
    ctx = Context(site, config)
    judged: set[str] = set()
    reading: Frame | None = None
    relearned = False
    for snapshot, enrichment in sorted(pairs, key=lambda p: p[0].captured_at):
        dev_mem = _section(memory, "devices")
        known = devices.known_serials(dev_mem, ctx)
        frame = build_frame(snapshot, enrichment, known, ctx)
        learned = _section(memory, "normal")
        holding, snow_day = snow.step(frame, _section(memory, "snow"), ctx)
        normals = normal.expectations(frame, learned, ctx.config.dead_ratio)
        frame = replace(frame, normal=normals, snow_hold=holding, snow_day=snow_day)
        judged |= devices.step(frame, dev_mem, ctx)
        frame = replace(frame, replaced=devices.replaced(dev_mem))
        judged |= inverters.step(frame, _section(memory, "inverters"), ctx)
        judged |= patterns.step(frame, _section(memory, "patterns"), ctx)
        judged |= weak.step(frame, _section(memory, "weak"), ctx)
        relearned = normal.step(frame, learned, ctx, _alerted_panels(memory), holding, normals)
        judged |= array.step(frame, _section(memory, "array"), ctx)
        judged |= counters.step(frame, _section(memory, "counters"), ctx)
        judged |= pvs.step(frame, _section(memory, "pvs"), ctx)
        judged |= meters.step(frame, _section(memory, "meters"), ctx)
        judged |= blind.step(frame, _section(memory, "blind"), ctx)
        judged |= firmware.step(frame, _section(memory, "firmware"), ctx)
        reading = frame

    dev_mem = _section(memory, "devices")

    def chart(focus: list[str]) -> dict[str, Any] | None:
        return devices.chart_for(dev_mem, ctx, focus)

    found: list[Finding] = []
    found += inverters.findings(_section(memory, "inverters"), ctx, chart)
    found += patterns.findings(_section(memory, "patterns"), ctx, chart)
    found += weak.findings(_section(memory, "weak"), ctx, chart)
    found += array.findings(_section(memory, "array"), ctx, chart)
    found += counters.findings(_section(memory, "counters"), ctx)
    found += devices.findings(dev_mem, ctx)
    found += pvs.findings(_section(memory, "pvs"), ctx)
    found += meters.findings(_section(memory, "meters"), ctx)
    found += blind.findings(_section(memory, "blind"), ctx)
    found += firmware.findings(_section(memory, "firmware"), ctx)
    last = _section(memory, "inverters").get("_last")
    found = patterns.absorb(found, datetime.fromisoformat(last) if last else None)
    settled = _settled(reading, memory, ctx, relearned) if reading is not None else None
    return Detection(tuple(found), frozenset(judged), settled)
