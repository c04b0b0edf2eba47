"""What the monthly summary holds: `MonthSummary` (everything the email says) and its parts.

Shared by the job that works the numbers out (`jobs.monthly`) and the email that tells them (`jobs.compose`), so
both import it from here and neither imports the other's way back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pvs6_cloud.alerting.loss import FaultCost
from pvs6_cloud.store.layout import Cell

__all__ = ["MonitorHealth", "MonthSummary", "PanelEnergy", "rounded"]


@dataclass(frozen=True, slots=True)
class MonitorHealth:
    """How the monitor itself did in the month.

    Attributes
    ----------
    uptime : float or None
        Share of active hours the Pi and the PVS6 delivered [fraction]; None when the watchdog kept no tally.
    write_failures, mail_failures : int or None
        Failed sheet writes and mail deliveries recorded for the month; None when nothing recorded them.
    mail_pending : int
        Mails waiting in the queue now.
    mail_failing_since : str
        ISO time the mail path started failing, or "".
    """

    uptime: float | None = None
    write_failures: int | None = None
    mail_failures: int | None = None
    mail_pending: int = 0
    mail_failing_since: str = ""


@dataclass(frozen=True, slots=True)
class PanelEnergy:
    """One panel's month: label, energy [kWh], and whether it is weak against the median."""

    serial: str
    label: str
    kwh: float | None
    weak: bool = False


@dataclass(frozen=True, slots=True)
class MonthSummary:
    """Everything the monthly email says. Energies [kWh]; ratios and changes as fractions (0.08 = 8 %)."""

    month: str
    site_name: str
    production_kwh: float | None
    consumption_kwh: float | None
    import_kwh: float | None
    export_kwh: float | None
    expected_kwh: float | None
    self_consumption: float | None
    performance_ratio: float | None
    last_month_kwh: float | None
    last_year_kwh: float | None
    savings: float | None
    currency: str
    price_per_kwh: float
    days: tuple[tuple[date, float | None, float | None], ...]
    panels: tuple[PanelEnergy, ...]
    alerts: tuple[Mapping[str, Any], ...]
    completeness: float
    days_with_data: int
    health: MonitorHealth = field(default_factory=MonitorHealth)
    sheet_url: str = ""
    faults: FaultCost | None = None  # what production faults cost (None: not known to this summary)
    monitoring_began: date | None = None  # the first reading's day, when it fell inside this month after its 1st
    days_counted: int | None = None  # days of the month from the first reading on (None: all of them)

    @property
    def vs_last_month(self) -> float | None:
        """Change in production against the month before [fraction]."""
        return _change(self.production_kwh, self.last_month_kwh)

    @property
    def vs_last_year(self) -> float | None:
        """Change in production against the same month a year before [fraction]."""
        return _change(self.production_kwh, self.last_year_kwh)

    @property
    def weak_panels(self) -> tuple[PanelEnergy, ...]:
        """Panels well below their peers this month."""
        return tuple(p for p in self.panels if p.weak)

    def monthly_record(self) -> dict[str, Cell]:
        """The ``Monthly`` tab row."""
        return {
            "month": self.month,
            "production_kwh": rounded(self.production_kwh),
            "consumption_kwh": rounded(self.consumption_kwh),
            "import_kwh": rounded(self.import_kwh),
            "export_kwh": rounded(self.export_kwh),
            "self_consumption_pct": rounded(self.self_consumption, 4),
            "expected_kwh": rounded(self.expected_kwh),
            "performance_ratio": rounded(self.performance_ratio, 4),
            "vs_last_month_pct": rounded(self.vs_last_month, 4),
            "vs_last_year_pct": rounded(self.vs_last_year, 4),
            "savings": rounded(self.savings, 2),
            "alerts": len(self.alerts),
            "completeness_pct": round(self.completeness, 4),
            "monitor_uptime_pct": rounded(self.health.uptime, 4),
        }


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded to ``digits`` for a sheet cell or JSON; None stays None."""
    return None if value is None else round(value, digits)


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or not before or before <= 0:
        return None
    return now / before - 1.0
