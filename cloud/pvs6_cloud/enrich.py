"""Enrichment: what the sun and the weather allowed at the moment of each reading.

Placeholder interface (filled in by the weather issue): the dataclasses are the contract the pipeline, the row
builders and the detector rely on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import SiteConfig, WeatherConfig
from .models import Snapshot

__all__ = ["Conditions", "Enrichment", "enrich_batch"]


@dataclass(frozen=True, slots=True)
class Conditions:
    """Weather at the site for the hour of a reading (None = the service did not say)."""

    cloud_cover_pct: float | None = None
    ghi_w_m2: float | None = None
    dni_w_m2: float | None = None
    dhi_w_m2: float | None = None
    poa_w_m2: float | None = None
    air_temp_c: float | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The sun, the weather and the model's expectation for one snapshot."""

    sun_elevation_deg: float | None = None
    sun_azimuth_deg: float | None = None
    conditions: Conditions | None = None
    expected_kw: float | None = None
    clearsky_kw: float | None = None

    def performance_ratio(self, production_kw: float | None) -> float | None:
        """Actual over expected, when both are meaningful (not at night)."""
        if production_kw is None or not self.expected_kw or self.expected_kw < 0.05:
            return None
        return production_kw / self.expected_kw


def enrich_batch(
    snapshots: Sequence[Snapshot],
    site: SiteConfig,
    weather: WeatherConfig,
    memory: dict[str, Any],
    *,
    http: Any = None,
) -> list[Enrichment]:
    """One `Enrichment` per snapshot, in order. Never raises for a weather outage."""
    return [Enrichment() for _ in snapshots]
