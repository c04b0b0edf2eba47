"""Check the model against reality: real PVS6 payloads must sit inside the model's plausible range.

The fixtures (``../shared/fixtures/pvs6/``, see its SOURCES.md) say when (device times are UTC) and how many
inverters, but not where the array is or how it faces. So the plausible range is taken over an assumption:

- Where: the contiguous USA (latitude 25..49 °N, longitude 124..67 °W), narrowed where the source says more:
  the steveturbek site is the seed's "northeast USA" (its local-time file name is UTC-4, i.e. Eastern time),
  the cmalek site has a California (CA Rule21) grid profile.
- How it faces: unknown, so the most generous fixed plane: one facing the sun at that instant.
- Size: inverter count x the panel its model implies (type E: SPR-X22-360, type G: SPR-A410, else 400 W).

The range is ``[0, clear-sky AC power on that plane x MARGIN + NOISE_KW per inverter]`` at the grid point most
favourable for the fixture's instant (a 7 x 10 grid over the region; the clear sky is evaluated at the three
points where the sun stands highest). The measured value is the sum of the inverters' AC power; each inverter
is also checked against one panel's range. When the inverters produce more than their noise floor, the sun must
be up somewhere in the assumed region (this also checks that the device times are read as UTC).

Run as a script to print the table written into docs/expected-output.md.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pvs6_cloud.enrich.solar import expected_power
from pvs6_cloud.infra.config import ArrayConfig
from pvs6_parse.models import Snapshot

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pvs6"
MARGIN = 1.25  # cloud-edge enhancement and a hazier-than-real clear-sky climatology [unitless]
NOISE_KW = 0.02  # what an inverter or CT reads at dusk or at night [kW per inverter]
PANEL_W = {"AC_Module_Type_E": 360.0, "AC_Module_Type_G": 410.0}
TYPICAL_PANEL_W = 400.0
US = ((25.0, 49.0), (-124.0, -67.0))
REGIONS = {
    "steveturbek": ("northeast US", ((38.0, 47.0), (-80.0, -67.0))),  # the seed: northeast USA, Eastern time
    "cmalek": ("California", ((32.5, 42.0), (-124.4, -114.1))),  # CA Rule21 grid profile
}
GRID_STEPS = (7, 10)  # latitude x longitude points per region
TOP_POINTS = 3  # grid points (highest sun) where the clear-sky envelope is evaluated


@dataclass(frozen=True)
class Check:
    """One fixture against the model."""

    name: str
    at: datetime
    inverters: int
    panel_w: float
    measured_kw: float
    max_inverter_kw: float
    upper_kw: float
    clear_kw: float
    upper_per_inverter_kw: float
    max_sun_elevation_deg: float
    region: str


def _fixture_files() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.glob("*.json") if p.name.startswith(("devicelist_", "vars_")))


def _parse(path: Path) -> Snapshot | None:
    from pvs6_parse import ParseError, parse_payload

    source = "dl_cgi" if path.name.startswith("devicelist_") else "varserver"
    try:
        return parse_payload(json.loads(path.read_text()), source=source, site="fixture",
                             captured_at=datetime(2000, 1, 1, tzinfo=UTC))
    except ParseError:
        return None


def _region(name: str) -> tuple[str, tuple[tuple[float, float], tuple[float, float]]]:
    for key, (label, region) in REGIONS.items():
        if key in name:
            return label, region
    return "contiguous US", US


@functools.cache
def check_fixture(path: Path) -> Check | None:
    """The comparison for one fixture file (None when it holds no inverter data)."""
    snapshot = _parse(path)
    if snapshot is None or not snapshot.inverters:
        return None
    times = [inv.measured_at for inv in snapshot.inverters if inv.measured_at is not None]
    meter = snapshot.production_meter
    at = max(times) if times else (meter.measured_at if meter is not None else None)
    if at is None:
        return None
    models = [inv.model for inv in snapshot.inverters]
    panel_w = max(PANEL_W.get(m, TYPICAL_PANEL_W) for m in models)
    n = len(snapshot.inverters)
    powers = [inv.power_kw or 0.0 for inv in snapshot.inverters]
    region_name, ((lat0, lat1), (lon0, lon1)) = _region(path.name)
    elevation, azimuth, lats, lons = _sun_over_region(at, lat0, lat1, lon0, lon1)
    best = np.argsort(elevation)[::-1][:TOP_POINTS]
    upper_one = 0.0
    for i in best:
        la, lo = float(lats[i]), float(lons[i])
        facing = ArrayConfig(panels=1, panel_w=panel_w, inverter_ac_w=panel_w,
                             tilt_deg=float(np.clip(90.0 - elevation[i], 0.0, 90.0)), azimuth_deg=float(azimuth[i]))
        upper_one = max(upper_one, float(expected_power([at], la, lo, facing).clearsky_kw[0]))
    per_inverter = upper_one * MARGIN + NOISE_KW
    return Check(
        name=path.name, at=at, inverters=n, panel_w=panel_w, measured_kw=sum(powers), max_inverter_kw=max(powers),
        upper_kw=per_inverter * n, clear_kw=upper_one * n, upper_per_inverter_kw=per_inverter,
        max_sun_elevation_deg=float(elevation.max()),
        region=region_name,
    )


def _sun_over_region(at: datetime, lat0: float, lat1: float, lon0: float, lon1: float) -> tuple[np.ndarray, ...]:
    """Apparent sun elevation and azimuth [°] at every grid point of a region, in one vectorised pvlib call."""
    import pandas as pd
    import pvlib

    lats = np.repeat(np.linspace(lat0, lat1, GRID_STEPS[0]), GRID_STEPS[1])
    lons = np.tile(np.linspace(lon0, lon1, GRID_STEPS[1]), GRID_STEPS[0])
    position = pvlib.solarposition.get_solarposition(pd.DatetimeIndex([at] * len(lats)), lats, lons)
    return position["apparent_elevation"].to_numpy(), position["azimuth"].to_numpy(), lats, lons


FILES = _fixture_files()
WITH_INVERTERS = [p for p in FILES if (parsed := _parse(p)) is not None and parsed.inverters]


@pytest.mark.requires_shared
@pytest.mark.skipif(not FILES, reason=f"no PVS6 fixtures at {FIXTURES}")
def test_fixtures_with_inverters_are_present() -> None:
    checks = [c for c in (check_fixture(p) for p in FILES) if c is not None]
    producing = [c for c in checks if c.measured_kw > NOISE_KW * c.inverters]
    assert len(checks) >= 8
    assert len(producing) >= 5  # kpfleming, smcneece, cmalek, steveturbek varserver, ginoledesma notes, ...


@pytest.mark.requires_shared
@pytest.mark.skipif(not FILES, reason=f"no PVS6 fixtures at {FIXTURES}")
@pytest.mark.parametrize("path", WITH_INVERTERS, ids=[p.stem for p in WITH_INVERTERS])
def test_measured_power_is_inside_the_models_plausible_range(path: Path) -> None:
    check = check_fixture(path)
    assert check is not None, "a payload with inverters but no time"
    assert 0.0 <= check.measured_kw <= check.upper_kw, check
    assert check.max_inverter_kw <= check.upper_per_inverter_kw, check
    if check.measured_kw > NOISE_KW * check.inverters:
        assert check.max_sun_elevation_deg > -1.0, check


def _table() -> str:
    lines = [
        "| Fixture | Time (UTC) | Region assumed | Inverters x W | Measured kW | Plausible kW | Max sun elev. "
        "| Measured / clear sky | Result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in FILES:
        c = check_fixture(path)
        if c is None:
            continue
        ok = c.measured_kw <= c.upper_kw and c.max_inverter_kw <= c.upper_per_inverter_kw
        ratio = f"{c.measured_kw / c.clear_kw:.0%}" if c.clear_kw > 0 else "-"
        lines.append(
            f"| {c.name.removesuffix('.json')} | {c.at:%Y-%m-%d %H:%M} | {c.region} | {c.inverters} x {c.panel_w:.0f} "
            f"| {c.measured_kw:.3f} | 0 .. {c.upper_kw:.2f} | {c.max_sun_elevation_deg:.1f}° | {ratio} "
            f"| {'inside' if ok else 'OUTSIDE'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table())
