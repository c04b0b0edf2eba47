"""Panels on a roof whose planes the config describes are compared with their own plane, from the first reading.

The roof: 12 panels facing east and 4 facing west (steep), on a winter morning when the west face sees only a
little skylight. Compared with the whole array, the west panels look dead; compared with their own face, and
with what the model's clear sky allows that face, they are fine, while a west panel that really dies is found.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pvs6_cloud.alerting.detect import detect
from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import ArrayConfig, DetectionConfig, PlaneConfig, SiteConfig
from pvs6_parse.models import DeviceState, Inverter, Meter, MeterRole, Snapshot

EAST = [f"E0012193804{i:04d}" for i in range(12)]
WEST = [f"E0012193805{i:04d}" for i in range(4)]
PLAIN = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig(panels=16))
PLANES = replace(PLAIN, array=ArrayConfig(panels=16, planes=(
    PlaneConfig(40.0, 90.0, 12), PlaneConfig(40.0, 270.0, 4, tuple(s[-5:] for s in WEST)))))
T0 = datetime(2025, 12, 9, 18, 30, tzinfo=UTC)  # 13:30 EST, the site's first reading ever (after solar noon)
# What one panel of each face could make under this clear sky [kW] (`Enrichment.plane_clearsky_kw`).
CLEAR = (0.26, 0.02)


def _snapshot(at: datetime, powers: dict[str, float]) -> Snapshot:
    inverters = tuple(Inverter(s, state=DeviceState.WORKING if kw > 0 else DeviceState.ERROR, power_kw=kw,
                               lifetime_kwh=100.0, measured_at=at - timedelta(seconds=20)) for s, kw in powers.items())
    meter = Meter("PVS6M1p", MeterRole.PRODUCTION, subtype="GROSS_PRODUCTION_SITE", power_kw=sum(powers.values()))
    return Snapshot("home", at, "dl_cgi", production_meter=meter, inverters=inverters)


def _morning(site: SiteConfig, west_kw: list[float], hours: float = 2.5,
             clear: tuple[float, float] = CLEAR) -> set[tuple[str, str]]:
    """Readings every 15 minutes with the east face at 250 W; the kinds and devices found at the end."""
    memory: dict = {}
    found: set[tuple[str, str]] = set()
    enrichment = Enrichment(sun_elevation_deg=22.0, sun_azimuth_deg=205.0, clearsky_kw=12 * clear[0] + 4 * clear[1],
                            expected_source="clearsky", plane_clearsky_kw=clear if site.array.planes else ())
    for k in range(int(hours * 4)):
        at = T0 + timedelta(minutes=15 * k)
        powers = {**dict.fromkeys(EAST, 0.25), **dict(zip(WEST, west_kw, strict=True))}
        result = detect([(_snapshot(at, powers), enrichment)], {}, memory, site, DetectionConfig(), at)
        found |= {(f.kind, f.device) for f in result.findings}
    return found


def test_a_face_in_skylight_is_no_fault_when_the_planes_are_configured():
    assert _morning(PLANES, [0.011, 0.012, 0.010, 0.011]) == set()
    # The same morning judged against the whole array: every west panel "stopped producing".
    assert {device for kind, device in _morning(PLAIN, [0.011, 0.012, 0.010, 0.011])
            if kind == "inverter_down"} == set(WEST)


def test_a_dead_panel_on_the_small_face_is_still_found_against_its_own_face():
    found = _morning(PLANES, [0.06, 0.0, 0.05, 0.06], hours=1.25)
    assert found == {("inverter_down", WEST[1])}


def test_a_whole_face_dark_when_its_clear_sky_allows_power_is_found():
    # The west face should make 120 W now (the sun is round to the south-west); all four make nothing.
    found = _morning(PLANES, [0.0, 0.0, 0.0, 0.0], hours=1.25, clear=(0.26, 0.12))
    assert {device for kind, device in found if kind == "inverter_down"} == set(WEST)


def test_a_weak_panel_on_a_small_face_is_a_quarter_below_its_own_learned_normal():
    """Its share is learned against its face's *other* panels: on a face of four, against all four, a panel 25 %
    weak would pull its own yardstick down and look only 20 % below normal (under the weak rule's 80 % bar)."""
    from math import pi, sin

    from pvs6_cloud.alerting.detect import normal
    from pvs6_cloud.alerting.detect.common import Context, build_frame

    memory: dict = {}
    clear = (0.25, 0.12)

    def reading(day: int, i: int, west_kw: list[float]) -> tuple[Snapshot, Enrichment]:
        at = T0 + timedelta(days=day, minutes=15 * i)
        powers = {**dict.fromkeys(EAST, clear[0]), **dict(zip(WEST, west_kw, strict=True))}
        enrichment = Enrichment(sun_elevation_deg=20.0 + 25.0 * sin(pi * i / 20), sun_azimuth_deg=120.0 + 6.0 * i,
                                clearsky_kw=16 * clear[0], plane_clearsky_kw=clear)
        return _snapshot(at, powers), enrichment

    for day in range(4):
        for i in range(21):
            pair = reading(day, i, [clear[1]] * 4)
            detect([pair], {}, memory, PLANES, DetectionConfig(), pair[0].captured_at)
    pair = reading(4, 0, [clear[1]] * 4)
    detect([pair], {}, memory, PLANES, DetectionConfig(), pair[0].captured_at)  # the new day commits the last one
    snapshot, enrichment = reading(4, 10, [clear[1], 0.75 * clear[1], clear[1], clear[1]])
    frame = build_frame(snapshot, enrichment, frozenset(EAST + WEST), Context(PLANES, DetectionConfig()))
    own = normal.expectations(frame, memory["normal"], DetectionConfig().dead_ratio)[WEST[1]]
    assert own.expected_kw == pytest.approx(clear[1], rel=0.02)
