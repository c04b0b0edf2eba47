"""The simulator's JSON looks like the real PVS6's: same keys per device type, same string formats."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from pvs6_sim.clock import utc
from pvs6_sim.config import SimConfig
from pvs6_sim.model import Simulator

SHARED = Path(__file__).parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "pvs6"
DL_TIME = re.compile(r"^\d{4},\d{2},\d{2},\d{2},\d{2},\d{2}$")
EPS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DL_NUMBER = re.compile(r"^-?\d+(\.\d{1,4})?$")
AT = utc(2025, 6, 10, 16, 2, 31)


def _fixture(name: str) -> dict:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside this checkout (shared fixtures absent)")
    return json.loads(path.read_text())


def _by_type(doc: dict) -> dict[str, dict]:
    """One device per kind: PVS, production meter, consumption meter, inverter."""
    out = {}
    for device in doc["devices"]:
        kind = device["DEVICE_TYPE"]
        if kind == "Power Meter":
            kind += " " + device["SERIAL"][-1]
        out.setdefault(kind, device)
    return out


@pytest.fixture(scope="module")
def doc() -> dict:
    return Simulator(SimConfig(start=AT - timedelta(hours=1))).device_list(AT)


@pytest.mark.requires_shared
def test_device_list_keys_match_the_real_fw61839_sample(doc: dict) -> None:
    real = _by_type(_fixture("devicelist_steveturbek-supervisor_fw61839_1.json"))
    ours = _by_type(doc)
    assert set(ours) == set(real) == {"PVS", "Power Meter p", "Power Meter c", "Inverter"}
    for kind, device in real.items():
        assert list(ours[kind]) == list(device), kind  # same keys, same order
        assert {k: type(v) for k, v in ours[kind].items()} == {k: type(v) for k, v in device.items()}, kind
    assert set(doc) == {"devices", "result"} and doc["result"] == "succeed"


@pytest.mark.requires_shared
def test_supervisor_info_matches_the_real_start_block() -> None:
    real = _fixture("start_cmalek-sungazer_fw61839_1.json")
    ours = Simulator(SimConfig(start=AT)).supervisor_info()
    assert set(ours) == set(real)
    assert {k: type(v) for k, v in ours["supervisor"].items()} == {
        k: type(v) for k, v in real["supervisor"].items()}
    assert ours["supervisor"]["SWVER"] == "2025.06, Build 61839" and ours["supervisor"]["BUILD"] == 61839


def _pattern(key: str) -> str:
    return re.sub(r"/(inverter|meter)/\d+/", r"/\1/N/", key)


@pytest.mark.requires_shared
def test_varserver_keys_match_the_real_fw61845_sample() -> None:
    real = _fixture("vars_match_all_obj_steveturbek-supervisor_fw61845_1.json")
    ours = Simulator(SimConfig(start=AT, api="varserver")).varserver_vars(AT, "/")
    assert {_pattern(k) for k in ours} == {_pattern(k) for k in real}
    assert len(ours) == len(real)  # 12 inverters and 2 meters, like the real site
    assert all(isinstance(v, str) for v in ours.values())
    assert ours["/sys/info/sw_rev"].endswith(".61845")
    assert ours["/sys/devices/meter/0/prodMdlNm"] == "PVS6M0400p"
    assert ours["/sys/devices/meter/1/prodMdlNm"] == "PVS6M0400c"


def test_device_list_formats(doc: dict) -> None:
    for device in doc["devices"]:
        assert DL_TIME.match(device["DATATIME"]) and DL_TIME.match(device["CURTIME"])
        for key, value in device.items():
            if key.endswith(("_kw", "_kwh", "_v", "_a", "_hz", "_kvar", "_kva", "_rto")):
                assert isinstance(value, str) and DL_NUMBER.match(value), (key, value)
    pvs = _by_type(doc)["PVS"]
    assert isinstance(pvs["panid"], int)
    assert pvs["CURTIME"] == "2025,06,10,16,02,31"
    assert all(pvs[k].isdigit() for k in ("dl_uptime", "dl_comm_err", "dl_flash_avail", "dl_mem_used"))


def test_varserver_formats_and_match_filter() -> None:
    sim = Simulator(SimConfig(start=AT))
    values = sim.varserver_vars(AT, "inverter")
    assert values and all("inverter" in k for k in values)
    assert EPS_TIME.match(values["/sys/devices/inverter/0/msmtEps"])
    assert re.match(r"^\d+\.\d{6}$", values["/sys/devices/inverter/0/ltea3phsumKwh"])
    assert values["/sys/devices/inverter/0/tHtsnkDegc"].lstrip("-").isdigit()
    live = sim.varserver_vars(AT, "livedata")
    assert int(live["/sys/livedata/time"]) == int(AT.timestamp())
    load = float(live["/sys/livedata/pv_p"]) + float(live["/sys/livedata/net_p"])
    assert float(live["/sys/livedata/site_load_p"]) == pytest.approx(load, abs=1e-5)
    assert sim.varserver_vars(AT, "no-such-variable") == {}
