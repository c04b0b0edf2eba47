"""Roof planes in the cloud config: optional, counted or listed by serial, and every slip named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pvs6_cloud.infra.config import ArrayConfig, PlaneConfig, parse_config
from pvs6_cloud.infra.errors import ConfigError

SITE = {"secret": "s", "latitude": 41.76, "longitude": -72.68, "timezone": "America/New_York", "local_dir": "sheet"}
EAST = [f"E00121938047{i:03d}" for i in range(8)]
WEST = [f"E00121938048{i:03d}" for i in range(8)]
E8, W8 = {"tilt": 25, "azimuth": 90, "panels": 8}, {"tilt": 25, "azimuth": 270, "panels": 8}


def _array(array: dict) -> ArrayConfig:
    config = parse_config({"sites": {"home": {**SITE, "array": array}}}, env={}, base_dir=Path("/base"))
    return config.site("home").array


def test_without_planes_the_array_is_one_plane_as_before():
    array = _array({"panels": 12, "tilt": 20, "azimuth": 200})
    assert array.planes == ()
    assert array.model_planes == (PlaneConfig(20.0, 200.0, 12),)
    assert array.plane_of("E00121938047000") is None


def test_planes_by_count_make_up_the_panel_count():
    array = _array({"planes": [{"tilt": 25, "azimuth": 90, "panels": 8}, {"tilt": 25, "azimuth": 270, "panels": 8}]})
    assert array.panels == 16
    assert [(p.tilt_deg, p.azimuth_deg, p.panels) for p in array.model_planes] == [(25, 90, 8), (25, 270, 8)]
    assert (array.tilt_deg, array.azimuth_deg) == (25, 90)  # the plane Open-Meteo's tilted irradiance is asked for
    assert array.plane_of(EAST[0]) is None  # counts alone do not say which panel is where


def test_planes_by_serial_or_serial_ending_place_each_panel():
    array = _array({"panels": 16, "planes": [
        {"tilt": 25, "azimuth": 90, "panels": EAST},
        {"tilt": 25, "azimuth": 270, "panels": [s[-5:] for s in WEST]},
    ]})
    assert array.planes[0].panels == 8 and array.planes[1].serials[0] == WEST[0][-5:]
    assert array.plane_of(EAST[3]) == 0
    assert array.plane_of(WEST[5]) == 1
    assert array.plane_of("E00999999999999") is None


def test_a_plane_given_by_count_holds_the_panels_no_other_plane_lists():
    array = _array({"panels": 16, "planes": [{"tilt": 25, "azimuth": 90, "panels": 12},
                                             {"tilt": 25, "azimuth": 270, "panels": WEST[:4]}]})
    assert array.plane_of(WEST[0]) == 1
    assert array.plane_of(EAST[0]) == 0


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ({"panels": 12, "planes": [E8, W8]},
         r"planes hold 8 \+ 8 = 16 panels, but sites.home.array.panels = 12"),
        ({"planes": [{"tilt": 25, "azimuth": -90, "panels": 8}]},
         r"sites.home.array.planes\[0\].azimuth = -90 is outside \[0, 360\]: .*90 = east"),
        ({"azimuth": 400}, r"sites.home.array.azimuth = 400 is outside \[0, 360\]"),
        ({"planes": [{"tilt": 95, "azimuth": 90, "panels": 8}]}, r"sites.home.array.planes\[0\].tilt"),
        ({"planes": [{"azimuth": 90, "panels": 8}]}, r"missing required key sites.home.array.planes\[0\].tilt"),
        ({"planes": [{"tilt": 25, "azimuth": 90, "panels": 0}]}, r"planes\[0\].panels = 0 must be a count"),
        ({"planes": [{"tilt": 25, "azimuth": 90, "panels": [1, 2]}]}, r"planes\[0\].panels must be a count"),
        ({"planes": [{"tilt": 25, "azimuth": 90, "panels": ["047"]}]}, r"'047' is too short"),
        ({"planes": [{**E8, "panels": EAST}, {**W8, "panels": [EAST[2][-6:]]}]},
         r"planes\[1\].panels: '047002' is already on sites.home.array.planes\[0\]"),
        ({"circuits": {"1": EAST}, "planes": [{"tilt": 25, "azimuth": 90, "panels": [*EAST[:7], "E00121938099999"]}]},
         r"planes\[0\].panels: unknown serial 'E00121938099999': it is on none of sites.home.array.circuits"),
        ({"tilt": 30, "planes": [{"tilt": 25, "azimuth": 90, "panels": 8}]},
         r"give tilt and azimuth in each \[\[sites.home.array.planes\]\]"),
        ({"planes": {"tilt": 25, "azimuth": 90, "panels": 8}}, r"must be written \[\[sites.home.array.planes\]\]"),
        ({"planes": [{"tilt": 25, "azimuth": 90, "panels": 8, "facing": "east"}]},
         r"unknown key\(s\) in \[sites.home.array.planes\[0\]\]: facing"),
    ],
)
def test_plane_mistakes_are_named(array, message):
    with pytest.raises(ConfigError, match=message):
        _array(array)


def test_the_documented_two_face_roof_loads():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "expected-output.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", doc, flags=re.S) if "planes" in b)
    data = tomllib.loads(block)
    data["sites"]["home"].update(SITE)
    array = parse_config(data, env={}, base_dir=Path("/base")).site("home").array
    assert [(p.azimuth_deg, p.panels) for p in array.planes] == [(90.0, 8), (270.0, 8)]
    assert array.plane_of("E00121938047655") == 0 and array.plane_of("E00121938047999") == 1
