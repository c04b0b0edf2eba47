"""Injectable faults: what can go wrong with the array, the PVS6, or the HTTP transport.

Device faults are windows of simulated time ([start, end)); they change what the model computes.
Transport faults are consumed by the HTTP server, one per request, for the next `count` requests or until
cleared (`count=None`). Faults are plain dataclasses so they travel as JSON (`POST /_sim/faults`) and as
short CLI spec strings (`dead:3@2025-06-01T10:00Z`, see `parse_fault`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from .config import as_utc

DEVICE_KINDS = frozenset({
    "dead", "weak", "breaker", "stuck", "reversed_ct", "reboot", "comm_errors", "flash_low", "vanished",
    "blind", "frozen", "unauthorized", "firmware", "covered",
})
TRANSPORT_KINDS = frozenset({"hang", "http500", "http503", "garbage", "truncated", "slow"})
TARGETED_KINDS = frozenset({"dead", "weak", "stuck", "vanished", "breaker", "covered"})
DEFAULT_VALUES = {
    "weak": 0.7,  # fraction of its peers' output the weak panel still makes [unitless]
    "covered": 0.004,  # share of the light reaching a panel under snow or leaves; it sleeps like at night [unitless]
    "reboot": 540.0,  # silent window [s]; the real PVS6 takes 8-10 minutes
    "comm_errors": 120.0,  # added dl_comm_err per hour [1/h]
    "flash_low": 1200.0,  # dl_flash_avail [kB]
    "slow": 5.0,  # added delay before answering [s]
    "firmware": 61845.0,  # the build a firmware update installs
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault.

    Attributes
    ----------
    kind : str
        One of `DEVICE_KINDS` or `TRANSPORT_KINDS`.
    target : int or str or None
        Inverter index (0-based, as in `/sys/devices/inverter/<i>`) or serial for dead/weak/stuck/vanished/covered;
        circuit number (1-based) for breaker; unused otherwise.
    value : float or None
        weak: fraction of peers [unitless]; covered: share of the light still reaching it [unitless];
        reboot: silent window [s]; comm_errors: errors per hour; flash_low: available flash [kB]; slow: delay [s];
        firmware: the new build; unauthorized: 1 = supervisor/info still answers, else every dl_cgi path
        refuses. None = the kind's default.
    start, end : datetime or None
        Simulated-time window of a device fault [aware UTC]; start None = from injection, end None = forever.
    count : int or None
        Transport faults: how many requests it spoils; None = until cleared.
    fault_id : int
        Assigned by `FaultBook.add`.
    """

    kind: str
    target: int | str | None = None
    value: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: int | None = None
    fault_id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS | TRANSPORT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind in TARGETED_KINDS and self.target is None:
            raise ValueError(f"fault {self.kind!r} needs a target")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 (or None for until cleared)")

    @property
    def transport(self) -> bool:
        """True for faults that spoil HTTP answers rather than the device data."""
        return self.kind in TRANSPORT_KINDS

    @property
    def amount(self) -> float:
        """`value`, or the kind's default."""
        return self.value if self.value is not None else DEFAULT_VALUES.get(self.kind, 0.0)

    def active(self, at: datetime) -> bool:
        """Whether a device fault applies at simulated time `at`."""
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        out = asdict(self)
        for key in ("start", "end"):
            if out[key] is not None:
                out[key] = out[key].isoformat().replace("+00:00", "Z")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from the `POST /_sim/faults` JSON shape (unknown keys are refused)."""
        allowed = {"kind", "target", "value", "start", "end", "count"}
        extra = set(data) - allowed
        if extra:
            raise ValueError(f"unknown fault keys: {sorted(extra)}")
        fields = dict(data)
        for key in ("start", "end"):
            if fields.get(key) is not None:
                fields[key] = parse_time(str(fields[key]))
        target = fields.get("target")
        if isinstance(target, str) and target.isdigit():
            fields["target"] = int(target)
        return cls(**fields)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; "Z" is accepted; a time without offset is refused."""
    at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return as_utc(at)


def parse_fault(spec: str) -> Fault:
    """Parse a CLI fault spec.

    Grammar: ``KIND[:ARG[:ARG]][@START[/END]]``. Examples: ``dead:3@2025-06-01T10:00Z`` (inverter index 3,
    or a serial), ``weak:5:0.75``, ``covered:4`` (snow on panel 4), ``breaker:2`` (circuit 2), ``stuck:0``,
    ``vanished:7``, ``reversed_ct``,
    ``blind`` (the PVS6 lists no inverters while they and the meters go on), ``frozen`` (it repeats every
    inverter's readings, timestamps included, from the first answer inside the window), ``unauthorized``
    (old firmware's fit: dl_cgi answers 403 Unauthorized; ``unauthorized:1`` spares supervisor/info),
    ``firmware:61845`` (an update to that build: a reboot, then the new build and, from 61840, the varserver),
    ``reboot:600``, ``comm_errors:300``, ``flash_low:800``, transport ``hang``, ``http500:3`` (next 3
    requests), ``http503``, ``garbage:1``, ``truncated``, ``slow:2.5`` (delay [s]) or ``slow:2.5:4``.

    Parameters
    ----------
    spec : str
        The spec string.

    Returns
    -------
    Fault
        With fault_id 0 (assigned when added to a `FaultBook`).
    """
    body, _, window = spec.strip().partition("@")
    start = end = None
    if window:
        first, _, last = window.partition("/")
        start = parse_time(first)
        end = parse_time(last) if last else None
    kind, *args = body.split(":")
    if kind in TRANSPORT_KINDS:
        if kind == "slow":
            value = float(args[0]) if args else None
            count = int(args[1]) if len(args) > 1 else None
        else:
            value, count = None, (int(args[0]) if args else None)
        return Fault(kind, value=value, count=count, start=start, end=end)
    target: int | str | None = None
    value = None
    if kind in TARGETED_KINDS:
        if not args:
            raise ValueError(f"fault {kind!r} needs a target: {kind}:INDEX")
        target = int(args[0]) if args[0].isdigit() else args[0]
        if kind in ("weak", "covered") and len(args) > 1:
            value = float(args[1])
    elif args:
        value = float(args[0])
    return Fault(kind, target=target, value=value, start=start, end=end)


class FaultBook:
    """The thread-safe set of injected faults (the server and the model share one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, fault: Fault, default_start: datetime | None = None) -> Fault:
        """Store a fault, giving it an id and (for device faults) a start; returns the stored fault."""
        with self._lock:
            stored = replace(fault, fault_id=self._next_id)
            if not fault.transport and stored.start is None and default_start is not None:
                stored = replace(stored, start=as_utc(default_start))
            self._next_id += 1
            self._faults.append(stored)
            return stored

    def clear(self, fault_id: int | None = None, kind: str | None = None) -> int:
        """Remove faults by id, by kind, or all (both None); returns how many were removed."""
        with self._lock:
            keep = [f for f in self._faults
                    if not ((fault_id is None or f.fault_id == fault_id) and (kind is None or f.kind == kind))]
            removed = len(self._faults) - len(keep)
            self._faults = keep
            return removed

    def device_faults(self) -> list[Fault]:
        """A snapshot of the device faults."""
        with self._lock:
            return [f for f in self._faults if not f.transport]

    def all(self) -> list[Fault]:
        """A snapshot of every fault."""
        with self._lock:
            return list(self._faults)

    def take_transport(self) -> Fault | None:
        """Consume one use of the oldest transport fault, if any (called once per served request)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if not fault.transport:
                    continue
                if fault.count is not None:
                    if fault.count <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = replace(fault, count=fault.count - 1)
                return fault
            return None


__all__ = ["DEVICE_KINDS", "TRANSPORT_KINDS", "Fault", "FaultBook", "parse_fault", "parse_time"]
