"""The simulator over real loopback HTTP: endpoints, auth, API modes, transport faults, control, shutdown."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
import urllib3

from pvs6_sim.clock import utc
from pvs6_sim.config import SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.server import run_simulator
from tests.support.sim import FakeMonotonic, varserver_login

NOON = utc(2025, 6, 10, 17)
DEVICE_LIST = "/cgi-bin/dl_cgi?Command=DeviceList"
pytestmark = pytest.mark.timeout(30)


def _get(url: str, timeout_s: float = 5.0, **kwargs) -> requests.Response:
    return requests.get(url, timeout=timeout_s, verify=False, **kwargs)


@pytest.fixture
def server():
    with run_simulator(SimConfig(start=NOON)) as srv:
        yield srv


def test_device_list_and_supervisor_info(server) -> None:
    reply = _get(server.url + DEVICE_LIST)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert b'":\t' in reply.content  # the PVS6's own tab formatting
    doc = reply.json()
    assert len([d for d in doc["devices"] if d["DEVICE_TYPE"] == "Inverter"]) == 12
    assert doc["devices"][0]["CURTIME"] == "2025,06,10,17,00,00"
    info = _get(server.url + "/cgi-bin/dl_cgi/supervisor/info").json()
    assert info["supervisor"]["SERIAL"] == server.sim.identity.pvs_serial and info["result"] == "succeed"
    assert _get(server.url + "/nope").status_code == 404
    assert server.requests_served == 3


def test_varserver_login_vars_and_expiry() -> None:
    fake = FakeMonotonic()
    with run_simulator(SimConfig(start=NOON, session_ttl_s=360), tls=False, plain_varserver=True,
                       monotonic=fake) as srv:
        assert _get(srv.url + "/vars?match=livedata&fmt=obj").status_code == 401  # no cookie
        bad = _get(srv.url + "/auth?login", auth=("ssm_owner", "WRONG"))
        assert bad.status_code == 401
        login = _get(srv.url + "/auth?login", auth=("ssm_owner", srv.sim.identity.password))
        token = login.json()["session"]
        assert login.cookies["session"] == token
        session = varserver_login(srv)
        obj = session.get(srv.url + "/vars", params={"match": "livedata", "fmt": "obj"}, timeout=5).json()
        assert set(obj) >= {"/sys/livedata/pv_p", "/sys/livedata/time"} and all("livedata" in k for k in obj)
        array = session.get(srv.url + "/vars?name=/sys/info/sw_rev,/sys/info/serialnum", timeout=5).json()
        assert array["count"] == 2 and array["values"][1]["value"] == srv.sim.identity.pvs_serial
        # Like fcgi_vars: one unknown name fails the whole list, and the query is read undecoded.
        assert session.get(srv.url + "/vars?name=/sys/info/sw_rev,/sys/nope", timeout=5).status_code == 400
        assert session.get(srv.url + "/vars", params={"match": "/sys/info/"}, timeout=5).status_code == 400
        posted = session.post(srv.url + "/vars", data="match=info/model", timeout=5).json()  # pypvs style
        assert posted == {"values": [{"name": "/sys/info/model", "value": "PVS6"}], "count": 1}
        cached = session.get(srv.url + "/vars?match=meter/0/sn&fmt=obj&cache=m0", timeout=5).json()
        assert session.get(srv.url + "/vars?fmt=obj&cache=m0", timeout=5).json() == cached
        fake.advance(359)
        assert session.get(srv.url + "/vars?match=uptime", timeout=5).status_code == 200
        fake.advance(2)
        assert session.get(srv.url + "/vars?match=uptime", timeout=5).status_code == 500  # expired, like the field


def test_api_modes() -> None:
    with run_simulator(SimConfig(start=NOON, api="dl_cgi")) as old:
        assert _get(old.url + "/auth?login", auth=("ssm_owner", old.sim.identity.password)).status_code == 404
        assert _get(old.url + "/vars?match=/").status_code == 404
        assert _get(old.url + DEVICE_LIST).status_code == 200
    with run_simulator(SimConfig(start=NOON, api="varserver")) as new:
        assert _get(new.url + DEVICE_LIST).status_code == 403
        info = _get(new.url + "/cgi-bin/dl_cgi/supervisor/info").json()["supervisor"]
        assert info["BUILD"] >= 61840  # the LocalAPI firmware
        session = varserver_login(new)
        assert session.get(new.url + DEVICE_LIST, timeout=5, verify=False).status_code == 200  # authenticated dl_cgi


def test_a_varserver_is_https_only_by_default_and_plain_http_takes_an_explicit_option() -> None:
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with run_simulator(SimConfig(start=NOON, api="varserver")) as srv:
        assert srv.url.startswith("https://")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(srv.url + DEVICE_LIST, timeout=5, verify=True)
        plain = srv.url.replace("https:", "http:")
        assert _get(plain + "/cgi-bin/dl_cgi/supervisor/info").status_code == 200  # port 80 still answers
        assert _get(plain + "/auth?login", auth=("ssm_owner", srv.sim.identity.password)).status_code == 403
        assert "Secure" in _get(srv.url + "/auth?login", auth=("ssm_owner", srv.sim.identity.password)) \
            .headers["Set-Cookie"]
    with run_simulator(SimConfig(start=NOON, api="dl_cgi")) as old:
        assert old.url.startswith("http://")  # old firmware has no HTTPS at all
    with pytest.raises(ValueError, match="plain_varserver"):
        run_simulator(SimConfig(start=NOON, api="varserver"), tls=False).__enter__()
    with run_simulator(SimConfig(start=NOON, api="varserver"), tls=False, plain_varserver=True) as srv:
        login = _get(srv.url + "/auth?login", auth=("ssm_owner", srv.sim.identity.password))
        assert srv.url.startswith("http://") and login.status_code == 200
        assert "Secure" not in login.headers["Set-Cookie"]


@pytest.mark.parametrize(("kind", "status"), [("http500", 500), ("http503", 503)])
def test_http_error_faults_for_the_next_n_requests(server, kind: str, status: int) -> None:
    server.sim.inject(Fault(kind, count=2))
    assert [_get(server.url + DEVICE_LIST).status_code for _ in range(3)] == [status, status, 200]


def test_garbage_and_truncated_bodies(server) -> None:
    server.sim.inject(Fault("garbage", count=1))
    server.sim.inject(Fault("truncated", count=1))
    for _ in range(2):
        reply = _get(server.url + DEVICE_LIST)
        assert reply.status_code == 200
        with pytest.raises(ValueError, match=r"Expecting|Unterminated|decode|delimiter"):
            json.loads(reply.content)  # JSONDecodeError or UnicodeDecodeError, both ValueErrors
    assert _get(server.url + DEVICE_LIST).json()["result"] == "succeed"


def test_slow_answer_until_cleared(server) -> None:
    server.sim.inject(Fault("slow", value=0.3))
    began = time.monotonic()
    assert _get(server.url + DEVICE_LIST).status_code == 200
    assert time.monotonic() - began >= 0.3
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(server.url + DEVICE_LIST, timeout_s=0.1)
    server.sim.clear_faults(kind="slow")
    assert _get(server.url + DEVICE_LIST).status_code == 200


def test_hang_times_out_the_client_and_does_not_block_shutdown() -> None:
    with run_simulator(SimConfig(start=NOON)) as srv:
        srv.sim.inject(Fault("hang"))
        with pytest.raises(requests.exceptions.ReadTimeout):
            _get(srv.url + DEVICE_LIST, timeout_s=0.2)
        outcome: list[object] = []

        def call_and_record() -> None:
            try:
                outcome.append(_get(srv.url + DEVICE_LIST, timeout_s=10.0))
            except requests.RequestException as err:
                outcome.append(err)

        hung = threading.Thread(target=call_and_record, daemon=True)
        hung.start()
        time.sleep(0.1)
        began = time.monotonic()
    assert time.monotonic() - began < 2.0  # leaving the with block did not wait for the hung request
    hung.join(timeout=2.0)
    assert not hung.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], requests.RequestException)  # released, never answered


def test_reboot_window_drops_connections(server) -> None:
    server.sim.inject(Fault("reboot", value=600, start=NOON + timedelta(minutes=1)))
    server.sim.clock.advance(120)
    with pytest.raises(requests.exceptions.ConnectionError):
        _get(server.url + DEVICE_LIST)
    server.sim.clock.advance(600)
    pvs = _get(server.url + DEVICE_LIST).json()["devices"][0]
    assert int(pvs["dl_uptime"]) == 60


def test_control_endpoints_drive_faults_and_clock(server) -> None:
    url = server.url.replace("https:", "http:")  # the control endpoints answer on the plain-HTTP side too
    reply = requests.post(url + "/_sim/faults", json={"kind": "dead", "target": 3,
                                                      "start": "2025-06-10T17:00:00Z"}, timeout=5)
    assert reply.status_code == 200 and reply.json()["added"][0]["fault_id"] == 1
    assert requests.post(url + "/_sim/faults", json={"kind": "meteor"}, timeout=5).status_code == 400
    assert requests.post(url + "/_sim/clock", json={"advance_s": 1800}, timeout=5).json()["now"] == \
        "2025-06-10T17:30:00Z"
    inverters = [d for d in _get(url + DEVICE_LIST).json()["devices"] if d["DEVICE_TYPE"] == "Inverter"]
    assert inverters[3]["STATE"] == "error" and inverters[4]["STATE"] == "working"
    requests.post(url + "/_sim/faults", json=[{"kind": "http500", "count": 1}], timeout=5)
    assert _get(url + DEVICE_LIST).status_code == 500
    state = _get(url + "/_sim/state").json()
    assert state["now"] == "2025-06-10T17:30:00Z" and state["requests_served"] == 2
    assert [f["kind"] for f in state["faults"]] == ["dead"]
    assert requests.post(url + "/_sim/faults", json={"clear": "all"}, timeout=5).json()["removed"] == 1
    requests.post(url + "/_sim/clock", json={"set": "2025-06-11T17:00:00Z"}, timeout=5)
    inverters = [d for d in _get(url + DEVICE_LIST).json()["devices"] if d["DEVICE_TYPE"] == "Inverter"]
    assert inverters[3]["STATE"] == "working"


def test_running_clock_moves_with_speed() -> None:
    with run_simulator(SimConfig(start=NOON), speed=3600.0) as srv:
        first = srv.sim.now()
        time.sleep(0.05)
        assert srv.sim.now() - first >= timedelta(seconds=150)
