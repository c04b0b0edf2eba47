"""A panel's lifetime energy counter that stops while its peers' counters grow.

The monthly and daily numbers come from these counters, so a stuck one silently loses a panel's energy from the
books even while the panel reports power. The rule keeps an hourly sample of every counter (the last eight hours) and
flags a panel whose counter has not moved for ``stuck_counter_hours`` while the median peer counter grew by at
least `MIN_PEER_GROWTH_KWH` and the panel itself produced all along (a dead panel is the liveness rule's
business). A panel seen not producing while its peers produced, at any reading of the window, is not judged: a
dead panel that comes back to life has a counter that stood still while it was dead, which says nothing about
the counter (it would otherwise raise a false "counter stopped" on its first reading back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("counter_stuck",)
SAMPLE_EVERY = timedelta(minutes=55)
SAMPLES_KEPT = 8  # hourly samples: enough for a window of up to ~7 h, small in the sheet
MIN_PEER_GROWTH_KWH = 0.2
EPSILON_KWH = 0.0005
ADVICE = ("Nothing is lost on the roof, but this panel's energy is missing from your records. Tell your installer "
          "if it lasts more than a day; restarting the PVS6 (it restarts itself every night) often clears it.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("hist", [])
    mem.setdefault("active", {})
    mem.setdefault("idle", {})  # serial -> last reading it did not produce while its peers did (ISO UTC)
    return mem


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Sample the counters hourly and decide which ones are stuck."""
    mem = _memory(mem)
    counters = {s: inv.lifetime_kwh for s, inv in frame.present.items() if inv.lifetime_kwh is not None}
    if frame.reference_kw is not None:
        for serial in frame.known - frame.producing:
            mem["idle"][serial] = frame.at.isoformat()
    hist: list[list[Any]] = mem["hist"]
    if counters and (not hist or frame.at - datetime.fromisoformat(hist[-1][0]) >= SAMPLE_EVERY):
        hist.append([frame.at.isoformat(), {s: round(v, 4) for s, v in counters.items()}])
        del hist[:-SAMPLES_KEPT]
    if not counters or len(hist) < 2:
        return set()
    window = timedelta(hours=ctx.config.stuck_counter_hours)
    base = next((h for h in reversed(hist) if frame.at - datetime.fromisoformat(h[0]) >= window), None)
    if base is None:
        return set()
    base_at, base_values = datetime.fromisoformat(base[0]), base[1]
    growth = {s: counters[s] - base_values[s] for s in counters if s in base_values}
    judged = False
    for serial, grew in growth.items():
        peers = [g for s, g in growth.items() if s != serial]
        idle = mem["idle"].get(serial)
        if len(peers) < 2 or (idle and datetime.fromisoformat(idle) >= base_at and grew <= EPSILON_KWH):
            continue  # not producing at some point of the window: a still counter proves nothing
        peer_growth = median(peers)
        producing = serial in frame.producing and not frame.snow_hold  # just freed of snow: not stuck
        if grew <= EPSILON_KWH and peer_growth >= MIN_PEER_GROWTH_KWH and producing:
            judged = True
            rec = mem["active"].setdefault(serial, {"since": base_at.isoformat()})
            rec.update(value=counters[serial], peer_growth=round(peer_growth, 3), at=frame.at.isoformat())
        elif grew > EPSILON_KWH:
            judged = True
            mem["active"].pop(serial, None)
    return set(KINDS) if judged else set()


def findings(mem: dict[str, Any], ctx: Context) -> list[Finding]:
    """Active stuck counters."""
    out = []
    for serial, rec in sorted(_memory(mem)["active"].items()):
        since = datetime.fromisoformat(rec["since"])
        at = datetime.fromisoformat(rec["at"])
        details = (f"Its running total of energy made has stayed at {rec['value']:.2f} kWh since "
                   f"{ctx.local(since, with_day=True)} or earlier, while the other panels' totals grew by about "
                   f"{rec['peer_growth']:.2f} kWh each "
                   f"(checked {ctx.local(at, with_day=True)}), and the panel itself reports power.")
        out.append(Finding("counter_stuck", serial, f"{ctx.panel_words(serial)}: energy counter stopped counting",
                           details, ADVICE, dict(rec)))
    return out
