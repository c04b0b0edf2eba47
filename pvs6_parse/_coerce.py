"""Tolerant value coercion shared by both PVS6 wire formats.

The PVS6 sends numbers as strings (``"0.2948"``), sometimes as JSON numbers, and sometimes as ``"nan"``, ``""``
or ``null``; firmware of other years omits fields altogether. One odd value must never cost us the rest of the
reading, so every helper here returns ``None`` instead of raising, and :class:`FieldReader` turns "present but
unusable" into a short note for ``Snapshot.warnings``. An *absent* field is silent unless the caller marks it as
one whose absence is worth saying (for example an inverter's power), because old firmware lacks many fields in
every single poll and a warning that is always there is a warning nobody reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from .models import MAX_UPTIME_S, DeviceState

__all__ = [
    "FieldReader",
    "Kind",
    "decode_blob",
    "parse_dl_time",
    "parse_epoch",
    "parse_iso_time",
    "parse_state",
    "soc_to_pct",
    "to_float",
    "to_int",
    "to_text",
    "to_uptime",
    "wear_hex_to_pct",
]

Kind = Literal["float", "int", "text", "uptime", "dl_time", "iso_time", "epoch", "wear_hex"]

_MAX_SHOWN_CHARS = 40

# What the PVS6 writes in STATE (lower-cased) -> our state. Anything else is UNKNOWN with a warning.
_STATE_WORDS: dict[str, DeviceState] = {
    "working": DeviceState.WORKING,
    "error": DeviceState.ERROR,
    "offline": DeviceState.OFFLINE,
    "not_found": DeviceState.OFFLINE,
    "disconnected": DeviceState.OFFLINE,
    "unknown": DeviceState.UNKNOWN,
}


def to_float(value: object) -> float | None:
    """A finite float from a PVS6 value (``"1.5"``, ``1.5``, ``2``), else ``None`` (``"nan"``, ``""``, junk)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a bare JSON integer of 400 digits: no float holds it
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def wear_hex_to_pct(value: object) -> float | None:
    """Flash wear [% of rated life] from the PVS6's eMMC life-time code (``"0x03"`` -> 30.0), else ``None``.

    ``/sys/pvs/flashwear_type_b`` is the eMMC "life time estimation" in steps of 10 % (LocalAPI's variable list:
    "0x01 = 10%, 0x9 = 90%"); pypvs reads it the same way, capped at 100. Code 0x0B ("rated life exceeded")
    is 100 too, and 0 (no estimate) or anything past 0x0B is no reading.
    """
    text = to_text(value)
    if text is None:
        return None
    try:
        code = int(text, 16)
    except ValueError:
        return None
    return float(min(code * 10, 100)) if 1 <= code <= 0x0B else None


def to_int(value: object) -> int | None:
    """An integer counter (``"270"``, ``270``, ``"270.0"``), else ``None``; fractional values are refused."""
    number = to_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def to_uptime(value: object) -> float | None:
    """Seconds since the PVS6 booted, from 0 up to a century; else ``None`` (negative, absurd or junk).

    A value no PVS6 can have says nothing about reboots, and ``now - uptime`` with it would overflow a datetime.
    """
    seconds = to_float(value)
    return seconds if seconds is not None and 0.0 <= seconds < MAX_UPTIME_S else None


def to_text(value: object) -> str | None:
    """A stripped string; numbers become their decimal text (some serials arrive as JSON numbers)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Any integer JSON can carry is finite (math.isfinite would overflow on 400 digits); past Python's
        # int-to-text digit limit it is junk, not a serial.
        try:
            return str(value)
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return None


def parse_dl_time(value: object) -> datetime | None:
    """DeviceList ``DATATIME`` / ``CURTIME`` (``"2025,09,12,21,12,42"``, UTC) as an aware datetime."""
    if not isinstance(value, str):
        return None
    parts = value.split(",")
    if len(parts) != 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(part.strip()) for part in parts)
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: a part too large for C, e.g. a 20-digit second
        return None


def parse_iso_time(value: object) -> datetime | None:
    """varserver ``msmtEps`` (``"2025-09-30T15:50:00Z"``) as an aware UTC datetime; naive text is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset (or 9999 with a negative one) leaves datetime's range
        return None


def parse_epoch(value: object) -> datetime | None:
    """Unix seconds (``/sys/livedata/time``, ``"1759247902"``) as an aware UTC datetime."""
    seconds = to_float(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_state(value: object) -> DeviceState | None:
    """The PVS6's ``STATE`` word as a :class:`DeviceState`, or ``None`` when the word is not one we know."""
    word = to_text(value)
    if word is None:
        return None
    return _STATE_WORDS.get(word.lower())


def soc_to_pct(soc: float | None) -> float | None:
    """State of charge as a percentage [%].

    The PVS reports a fraction (``/sys/livedata/soc = 0.86`` on a site at 86 %), although its variable list says
    "%". Values from 0 to 1 are taken as fractions and scaled; larger ones as percentages already.
    """
    if soc is None:
        return None
    return soc * 100.0 if 0.0 <= soc <= 1.0 else soc


_COERCERS: dict[Kind, Callable[[object], Any]] = {
    "float": to_float,
    "int": to_int,
    "text": to_text,
    "uptime": to_uptime,
    "dl_time": parse_dl_time,
    "iso_time": parse_iso_time,
    "epoch": parse_epoch,
    "wear_hex": wear_hex_to_pct,
}


def _shown(value: object) -> str:
    """A short, printable rendering of a bad value for a warning (never the whole junk)."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's int-to-text digit limit
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


class FieldReader:
    """Reads one device's wire fields through the coercers, noting every value it had to drop.

    Parameters
    ----------
    fields : Mapping[str, Any]
        The device's raw record (one DeviceList entry, or one varserver device's fields).
    label : str
        How warnings name the device, e.g. ``"inverter E00123456789"``.
    warnings : list of str
        Where notes are appended; shared by every reader of one snapshot.
    """

    def __init__(self, fields: Mapping[str, Any], label: str, warnings: list[str]) -> None:
        self._fields = fields
        self.label = label
        self._warnings = warnings

    def warn(self, message: str) -> None:
        """Add a note about this device."""
        self._warnings.append(f"{self.label}: {message}")

    def has(self, wire: str) -> bool:
        """Whether the device sent this field at all (whatever its value)."""
        return wire in self._fields

    def get(self, wire: str, kind: Kind, *, expected: bool = False, nan_ok: bool = False) -> Any:
        """The coerced value of ``wire``, or ``None``.

        A present value that cannot be coerced is noted; a missing one only when ``expected``; a ``"nan"`` only
        unless ``nan_ok`` (varserver writes ``"nan"`` for battery values on every PV-only site).
        """
        if wire not in self._fields:
            if expected:
                self.warn(f"no {wire}")
            return None
        raw = self._fields[wire]
        if nan_ok and isinstance(raw, str) and raw.strip().lower() == "nan":
            return None
        value = _COERCERS[kind](raw)
        if value is None:
            self.warn(f"{wire}={_shown(raw)} unusable")
        return value

    def read_map(self, wire_map: Mapping[str, tuple[str, Kind]], expected: Iterable[str] = ()) -> dict[str, Any]:
        """Read every ``field: (wire, kind)`` of a wire-name map into ``{field: value}``."""
        must = set(expected)
        return {field: self.get(wire, kind, expected=field in must) for field, (wire, kind) in wire_map.items()}

    def state(self, wire: str) -> DeviceState:
        """The device's state word; missing or unknown words become UNKNOWN with a note."""
        if wire not in self._fields:
            self.warn(f"no {wire}")
            return DeviceState.UNKNOWN
        state = parse_state(self._fields[wire])
        if state is None:
            self.warn(f"{wire}={_shown(self._fields[wire])} is not a known state")
            return DeviceState.UNKNOWN
        return state


def decode_blob(value: object) -> Mapping[str, Any] | None:
    """An early-layout varserver ``.../data`` value: a JSON object, possibly sent as a JSON string."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, Mapping) else None
    return None
