"""What a production fault costs: energy lost per reading, its running total, a per-day rate and its money value.

Pure arithmetic, no state of its own: the caller (`costs`) passes each reading's view of the array and the
records to update. How the loss is measured, per kind:

- a panel (``inverter_down``, ``inverter_weak``, ``inverter_intermittent``) or a circuit (``circuit_down``):
  what it normally makes at this sun position when it has a learned normal (`detect.normal`: a panel in a
  tree's shadow every morning is not charged for the shadow), else what its peers make (the median producing
  panel, `Frame.reference_kw`), minus what it makes, summed over its panels, whenever the peers produce (also
  in the low sun of early morning and evening, which the rules leave alone). Readings without a peer
  reference (night, heavy overcast) add nothing: those panels would not have made much either;
- the whole array (``array_down``, ``below_expected``): the expectation for the weather minus what the panels
  make; when no weather is known the clear-sky figure stands in and the result is marked rough.

The rate per day is the share lost over the fault (lost / what it should have made) times a typical day of what
it should make: the median panel's (or the weather expectation's) mean over the last complete days. Until one
complete day has been seen there is no rate ("not measurable yet"); a cloudy week makes it rough, and so does a
panel whose peers differ from it (shade, another roof face).

Also here, below every stage that uses them: a month's `FaultCost` (worked out by `costs`, told by the
summary) and the words for an amount (`kwh_words`, `money`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

__all__ = ["PANEL_KINDS", "PRODUCTION_KINDS", "FaultCost", "Loss", "add_reading", "covered_serials", "estimate",
           "kwh_words", "lost_now", "money", "note_day", "typical_day_kwh"]

PANEL_KINDS = frozenset({"inverter_down", "inverter_weak", "inverter_intermittent", "circuit_down"})
ARRAY_KINDS = frozenset({"array_down", "below_expected"})
PRODUCTION_KINDS = PANEL_KINDS | ARRAY_KINDS
DAYS_KEPT = 7  # typical day = mean of this many complete days [days]


@dataclass(frozen=True, slots=True)
class Loss:
    """An open (or resolved) alert's cost so far.

    Attributes
    ----------
    lost_kwh : float
        Energy lost since the alert opened [kWh] (never negative).
    per_day_kwh : float or None
        Energy it loses on a typical day [kWh/day]; None until a complete day has been seen.
    rough : bool
        The figure rests on a clear-sky stand-in for the weather, or on fewer than three complete days.
    lost_value : float or None
        What the lost energy was worth, each reading's kWh at the price of its own local time (`tariff`)
        [currency]; None for a record charged before prices were kept (then ``price_per_kwh`` applies).
    """

    lost_kwh: float
    per_day_kwh: float | None
    rough: bool = False
    lost_value: float | None = None

    def worth(self, flat_price: float) -> float:
        """The lost energy's worth [currency]: as charged, else at the flat price."""
        return self.lost_value if self.lost_value is not None else self.lost_kwh * flat_price

    def mean_price(self, flat_price: float) -> float:
        """The price its lost kWh were charged at on average [currency/kWh]; the flat one before any kWh."""
        if self.lost_value is None or self.lost_kwh <= 0:
            return flat_price
        return self.lost_value / self.lost_kwh


@dataclass(frozen=True, slots=True)
class FaultCost:
    """What faults cost in a month, for the summary.

    Attributes
    ----------
    month_kwh : float
        Energy lost to production faults in the month [kWh].
    year_kwh : float or None
        Over the 12 months ending with it [kWh]; None until a year of history exists.
    panels_down : int
        Panels with an open production alert now (a circuit counts its panels).
    array_down : bool
        An alert about the whole array is open now.
    unmeasured : bool
        A production alert is open whose cost could not be measured yet.
    """

    month_kwh: float
    year_kwh: float | None
    panels_down: int
    array_down: bool
    unmeasured: bool
    month_value: float | None = None  # what month_kwh was worth, each reading at its own price [currency]
    year_value: float | None = None  # and year_kwh (None: at the flat price_per_kwh)


class _Reading(Protocol):
    """What `lost_now` reads of one reading. The rules' `detect.common.Frame` is one; named by its shape, so this
    arithmetic stays below the rules that use it."""

    @property
    def reference_kw(self) -> float | None: ...

    @property
    def power_kw(self) -> Mapping[str, float]: ...

    @property
    def elevation_deg(self) -> float | None: ...

    @property
    def enrichment(self) -> Any: ...  # an `enrich.Enrichment`: expected_kw, expected_source, clearsky_kw


def covered_serials(kind: str, device: str, circuits: Mapping[str, Sequence[str]]) -> list[str]:
    """The panels an alert is about: its own serial, or its circuit's (configured by name, or learned: "a,b,c")."""
    if kind == "circuit_down":
        return list(circuits.get(device) or [s for s in device.split(",") if s])
    return [device] if device else []


def lost_now(kind: str, serials: Sequence[str], frame: _Reading,
             own_kw: Mapping[str, float] | None = None) -> tuple[float, float, bool] | None:
    """Lost and normal power at one reading [kW], and whether it rests on clear sky; None when unmeasurable.

    Parameters
    ----------
    kind : str
        The alert's kind (one of `PRODUCTION_KINDS`).
    serials : sequence of str
        The panels the alert covers (one for a panel, the circuit's for a circuit; ignored for the array).
    frame : Frame
        The reading as the rules saw it (`detect.common.Frame`).
    own_kw : mapping of str to float, optional
        What each panel normally makes now by its own learned normal [kW] (`detect.normal`); a panel without
        one is measured against its peers.
    """
    if kind in PANEL_KINDS:
        ref = frame.reference_kw  # also below the rules' 15° of sun: a tripped breaker at 7 pm still costs
        if ref is None or not serials:
            return None
        # Not clamped per reading: a flaky panel's normal readings a little above the median cancel its noise.
        should = {s: (own_kw or {}).get(s, ref) for s in serials}
        lost = sum(kw - frame.power_kw.get(s, 0.0) for s, kw in should.items())
        return lost, sum(should.values()), False
    if kind in ARRAY_KINDS:
        expected = frame.enrichment.expected_kw
        rough = getattr(frame.enrichment, "expected_source", "") == "clearsky" or expected is None
        if expected is None:
            expected = frame.enrichment.clearsky_kw
        if expected is None or expected <= 0 or frame.elevation_deg is None or frame.elevation_deg <= 0:
            return None
        return expected - sum(frame.power_kw.values()), expected, rough
    return None


def add_reading(record: dict[str, Any], lost_kw: float, normal_kw: float, rough: bool, step_h: float,
                price: float | None = None) -> None:
    """Add one reading's loss to an alert's record (``kwh``, ``normal_kwh``, ``rough``, and ``value`` at this
    reading's ``price``) [kW, h, currency/kWh]. A record charged before prices were kept gains no ``value``."""
    if price is not None and ("value" in record or not record.get("kwh")):
        record["value"] = float(record.get("value", 0.0)) + lost_kw * step_h * price
    record["kwh"] = float(record.get("kwh", 0.0)) + lost_kw * step_h
    record["normal_kwh"] = float(record.get("normal_kwh", 0.0)) + normal_kw * step_h
    record["rough"] = bool(record.get("rough")) or rough


def note_day(memory: dict[str, Any], day: date, panel_kw: float | None, array_kw: float | None,
             step_h: float) -> None:
    """Add one reading to the site's day of normal output: the median panel and the weather expectation [kW, h].

    ``memory`` holds ``{"date", "panel_kwh", "array_kwh", "days": [[date, panel_kwh, array_kwh], ...]}``; a new
    day moves the finished one into ``days`` (the last `DAYS_KEPT`).
    """
    iso = day.isoformat()
    if memory.get("date") != iso:
        if memory.get("date"):
            days = memory.setdefault("days", [])
            days.append([memory["date"], round(memory.get("panel_kwh", 0.0), 4),
                         round(memory.get("array_kwh", 0.0), 4)])
            del days[:-DAYS_KEPT]
        memory.update(date=iso, panel_kwh=0.0, array_kwh=0.0)
    memory["panel_kwh"] += (panel_kw or 0.0) * step_h
    memory["array_kwh"] += (array_kw or 0.0) * step_h


def typical_day_kwh(memory: Mapping[str, Any], kind: str, panels: int) -> tuple[float | None, int]:
    """What the alert's panels (or the array) make on a typical recent day [kWh], and how many days that rests on."""
    days = memory.get("days") or []
    if not days:
        return None, 0
    column = 1 if kind in PANEL_KINDS else 2
    mean = sum(float(d[column]) for d in days) / len(days)
    return (mean * max(1, panels) if kind in PANEL_KINDS else mean), len(days)


def estimate(record: Mapping[str, Any] | None, memory: Mapping[str, Any], kind: str, panels: int) -> Loss | None:
    """An alert's `Loss` from its record and the site's day memory; None for kinds that cost nothing."""
    if kind not in PRODUCTION_KINDS:
        return None
    record = record or {}
    lost = max(0.0, float(record.get("kwh", 0.0)))
    normal = float(record.get("normal_kwh", 0.0))
    typical, days = typical_day_kwh(memory, kind, panels)
    per_day = None
    if typical is not None and normal > 0:
        per_day = max(0.0, min(1.0, lost / normal)) * typical
    value = record.get("value")
    return Loss(lost, per_day, bool(record.get("rough")) or days < 3,
                None if value is None else max(0.0, float(value)))


def money(kwh: float, price_per_kwh: float, currency: str) -> str:
    """"$0.63": an energy's worth at a price (the site's flat one, or the mean its kWh were charged at)."""
    return f"{currency}{kwh * price_per_kwh:,.2f}"


def kwh_words(kwh: float) -> str:
    """"1.6 kWh", "86 kWh": one decimal only where it matters."""
    return f"{kwh:.1f} kWh" if kwh < 10 else f"{kwh:,.0f} kWh"
