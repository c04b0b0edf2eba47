"""The simulator's own control API (`/_sim/...`): lets a demo or a test in another process drive it.

- `GET  /_sim/state`  -> simulated now, last integrated time, identity, faults, requests served, totals.
- `POST /_sim/faults` -> body: one fault object ({"kind": "dead", "target": 3, "start": "...Z"}), a list of
  them, {"faults": [...]}, or {"clear": "all" | <fault_id> | "<kind>"}. Answers the stored faults.
- `DELETE /_sim/faults` -> clear every fault.
- `POST /_sim/clock`  -> {"set": "2025-06-01T12:00:00Z"}, {"advance_s": 3600}, optional "speed".

These endpoints are never touched by transport faults or reboot windows and are not counted.
"""

from __future__ import annotations

from typing import Any

from .faults import Fault, parse_time
from .model import Simulator
from .render import eps_time


def state(sim: Simulator, requests_served: int) -> dict[str, Any]:
    """Describe the simulator (JSON-ready)."""
    now = sim.now()
    return {
        "now": eps_time(now),
        "last_time": eps_time(sim.last_time),
        "speed": sim.clock.speed,
        "api": sim.config_at(now).api,
        "answering": sim.answering(now),
        "requests_served": requests_served,
        "pvs_serial": sim.identity.pvs_serial,
        "password": sim.identity.password,
        "inverters": list(sim.identity.inverter_serials),
        "meters": [sim.identity.production_meter_serial, sim.identity.consumption_meter_serial],
        "faults": [f.to_json() for f in sim.faults.all()],
    }


def faults(sim: Simulator, body: Any) -> tuple[int, dict[str, Any]]:
    """Apply a `POST /_sim/faults` body; returns (HTTP status, JSON answer)."""
    if isinstance(body, dict) and "clear" in body:
        what = body["clear"]
        if what == "all":
            removed = sim.clear_faults()
        elif isinstance(what, int):
            removed = sim.clear_faults(fault_id=what)
        elif isinstance(what, str):
            removed = sim.clear_faults(kind=what)
        else:
            return 400, {"error": "clear must be 'all', a fault id or a kind"}
        return 200, {"removed": removed, "faults": [f.to_json() for f in sim.faults.all()]}
    items = body.get("faults") if isinstance(body, dict) and "faults" in body else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return 400, {"error": "expected a fault object, a list of them, or {'faults': [...]}"}
    try:
        parsed = [Fault.from_json(item) for item in items]
    except (TypeError, ValueError) as err:
        return 400, {"error": str(err)}
    added = [sim.inject(f).to_json() for f in parsed]
    return 200, {"added": added, "faults": [f.to_json() for f in sim.faults.all()]}


def clock(sim: Simulator, body: Any) -> tuple[int, dict[str, Any]]:
    """Apply a `POST /_sim/clock` body; returns (HTTP status, JSON answer)."""
    if not isinstance(body, dict):
        return 400, {"error": "expected a JSON object"}
    try:
        speed = float(body["speed"]) if body.get("speed") is not None else None
        if body.get("set") is not None:
            sim.clock.set(parse_time(str(body["set"])), speed=speed)
        elif speed is not None:
            sim.clock.set(sim.clock.now(), speed=speed)
        if body.get("advance_s") is not None:
            sim.clock.advance(float(body["advance_s"]))
    except (TypeError, ValueError) as err:
        return 400, {"error": str(err)}
    return 200, {"now": eps_time(sim.clock.now()), "speed": sim.clock.speed}


__all__ = ["clock", "faults", "state"]
