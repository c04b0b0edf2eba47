"""The PVS6 client against a misbehaving PVS6 on loopback: hang, 5xx, truncated, garbage, slow, auth."""

from __future__ import annotations

import json
import time

import pytest
import requests

from pvs6_edge.config import PvsConfig
from pvs6_edge.errors import PvsAuthError, PvsBadResponse, PvsUnavailable
from pvs6_edge.pvs import PvsClient
from tests.support.edge_servers import FakeClock, FakePvs


def _fetch(pvs: FakePvs, api: str = "dl_cgi", remembered: str | None = None, **cfg):
    settings = {"url": pvs.url, "timeout_s": 0.5, **cfg}
    with requests.Session() as session:
        client = PvsClient(session, PvsConfig(**settings), FakeClock())
        return client.fetch(api, remembered), client


@pytest.fixture
def pvs():
    with FakePvs() as server:
        yield server


def test_dl_cgi_returns_the_exact_bytes(pvs):
    fetched, client = _fetch(pvs)
    assert fetched.source == "dl_cgi"
    assert json.loads(fetched.raw)["seq"] == 1
    assert fetched.raw.startswith(b'{\n "devices"')  # untouched, indentation and all
    assert client.requests_made == 1


def test_hang_times_out_within_the_deadline(pvs):
    pvs.mode = "hang"
    started = time.monotonic()
    with pytest.raises(PvsUnavailable, match="did not answer"):
        _fetch(pvs)
    assert time.monotonic() - started < 1.5


def test_slow_trickle_is_cut_at_the_total_deadline(pvs):
    pvs.mode, pvs.delay_s = "slow", 3.0  # every piece arrives well within the read timeout, the whole does not
    started = time.monotonic()
    with pytest.raises(PvsUnavailable, match="longer than"):
        _fetch(pvs, timeout_s=0.6)
    assert time.monotonic() - started < 1.5


def test_slow_but_within_timeout_succeeds(pvs):
    pvs.mode, pvs.delay_s = "slow", 0.2
    fetched, _ = _fetch(pvs, timeout_s=2.0)
    assert json.loads(fetched.raw)["result"] == "succeed"


@pytest.mark.parametrize("mode", ["500", "503"])
def test_server_errors_mean_unavailable(pvs, mode):
    pvs.mode = mode
    with pytest.raises(PvsUnavailable, match=mode):
        _fetch(pvs)


@pytest.mark.parametrize(("mode", "match"), [("truncated", "broken answer|not JSON"), ("garbage", "not JSON"),
                                              ("array", "not an object")])
def test_broken_bodies_are_refused(pvs, mode, match):
    pvs.mode = mode
    with pytest.raises(PvsBadResponse, match=match):
        _fetch(pvs)


def test_body_size_is_capped(pvs):
    with pytest.raises(PvsBadResponse, match="max_body_bytes"):
        _fetch(pvs, max_body_bytes=1024)


def test_connection_refused_is_unavailable():
    with FakePvs() as server:
        url = server.url
    with pytest.raises(PvsUnavailable, match="cannot reach"):
        _fetch(FakePvsStub(url))


class FakePvsStub:
    def __init__(self, url: str) -> None:
        self.url = url


def test_varserver_asks_by_name_and_one_device_match_and_merges(pvs):
    fetched, client = _fetch(pvs, api="varserver", serial_last5="A1234")
    doc = json.loads(fetched.raw)
    assert fetched.source == "varserver"
    assert doc["/sys/devices/inverter/1/sn"] == "E00123456790" and doc["/sys/livedata/pv_p"] == "0.41"
    assert doc["/sys/pvs/flashwear_type_b"] == "0x02"
    assert "/sys/info/wpa_key" not in doc and "/sys/info/ssid" not in doc  # no Wi-Fi detail leaves the Pi
    assert "/sys/pvs/usb_erase_count" not in doc  # not asked for
    vars_paths = [p for p in pvs.requests if p.startswith("/vars")]
    assert [p.split("=", 1)[0] for p in vars_paths] == ["/vars?name", "/vars?match"]
    assert all(p.endswith("&fmt=obj") and "%2F" not in p and "cache=" not in p for p in vars_paths)
    assert pvs.logins == 1 and pvs.max_concurrent == 1 and client.requests_made == 4  # login, 2 vars, logout
    assert pvs.logouts == 1


def test_expired_session_is_renewed_once(pvs):
    pvs.expire_after_vars = 1  # the session dies between the name query and the device match
    fetched, client = _fetch(pvs, api="varserver", serial_last5="A1234")
    assert pvs.logins == 2 and client.requests_made == 6  # login, name, 401, login, match, logout
    doc = json.loads(fetched.raw)
    assert "/sys/livedata/pv_p" in doc and "/sys/devices/inverter/0/sn" in doc


@pytest.mark.parametrize("expired_status", [500, 200])
def test_a_session_dead_as_500_or_empty_200_is_renewed_once(pvs, expired_status):
    pvs.expire_after_vars, pvs.expired_status = 1, expired_status
    fetched, _ = _fetch(pvs, api="varserver", serial_last5="A1234")
    assert pvs.logins == 2 and "/sys/devices/inverter/1/sn" in json.loads(fetched.raw)


def test_a_500_after_the_fresh_login_means_busy(pvs):
    pvs.expired_status = 500
    pvs.on_request = lambda path: pvs.expire_sessions() if path.startswith("/vars") else None  # always dead
    with pytest.raises(PvsUnavailable, match="HTTP 500"):
        _fetch(pvs, api="varserver", serial_last5="A1234")
    assert pvs.logins == 2 and pvs.logouts == 1  # one renewal, never a loop


def test_an_empty_class_answers_400_and_the_rest_of_the_reading_is_kept(pvs):
    fetched, _ = _fetch(pvs, api="varserver", serial_last5="A1234",
                        varserver_matches=("/sys/devices/ess/", "/sys/devices/inverter/"))
    doc = json.loads(fetched.raw)
    assert doc["/sys/devices/inverter/0/sn"] == "E00123456789" and doc["/sys/livedata/pv_p"] == "0.41"


def test_the_varserver_is_asked_over_https_whatever_the_configured_scheme(pvs):
    assert pvs.url.startswith("http://")
    _fetch(pvs, api="varserver", serial_last5="A1234")
    assert set(pvs.schemes["/auth"]) == {"https"} and set(pvs.schemes["/vars"]) == {"https"}


def test_session_refused_after_renewal_does_not_loop(pvs, monkeypatch):
    with requests.Session() as session:
        client = PvsClient(session, PvsConfig(url=pvs.url, timeout_s=1, serial_last5="A1234"), FakeClock())
        client.fetch("varserver")
        pvs.expire_sessions()
        # every new session is forgotten at once: the renewal cannot help
        original = pvs._login

        def login_then_expire(h):
            original(h)
            pvs.expire_sessions()

        monkeypatch.setattr(pvs, "_login", login_then_expire)
        with pytest.raises(PvsAuthError):
            client.fetch("varserver")
    assert pvs.logins <= 4


def test_wrong_password_is_an_auth_error(pvs):
    with pytest.raises(PvsAuthError, match="serial_last5"):
        _fetch(pvs, api="varserver", serial_last5="ZZZZZ")
    assert not any(p.startswith("/vars") for p in pvs.requests)


def test_password_from_supervisor_info_when_not_configured(pvs):
    fetched, _ = _fetch(pvs, api="varserver")
    assert fetched.source == "varserver" and pvs.logins == 1


@pytest.mark.parametrize(("build", "expected"), [(61839, "dl_cgi"), (61840, "varserver"), (61845, "varserver")])
def test_auto_detects_by_build(build, expected):
    with FakePvs(build=build) as server:
        fetched, _ = _fetch(server, api="auto", serial_last5="A1234")
    assert fetched.source == expected


def test_auto_without_build_tries_dl_cgi_then_varserver():
    with FakePvs(build=None) as server:
        server.dl_cgi_needs_auth = True
        fetched, _ = _fetch(server, api="auto", serial_last5="A1234")
    assert fetched.source == "varserver"


def test_auto_remembered_choice_skips_detection_and_redetects_when_wrong(pvs):
    fetched, _ = _fetch(pvs, api="auto", remembered="dl_cgi")
    assert fetched.source == "dl_cgi" and not any("supervisor" in p for p in pvs.requests)
    pvs.dl_cgi_needs_auth, pvs.build = True, 61846  # firmware upgraded overnight
    fetched, _ = _fetch(pvs, api="auto", remembered="dl_cgi", serial_last5="A1234")
    assert fetched.source == "varserver"


def test_pvs_down_during_auto_detection_is_unavailable(pvs):
    pvs.mode = "503"
    with pytest.raises(PvsUnavailable):
        _fetch(pvs, api="auto")


def test_auto_redetects_when_the_remembered_dl_cgi_answers_200_with_a_login_page(pvs):
    fetched, _ = _fetch(pvs, api="auto", remembered="dl_cgi")
    assert fetched.source == "dl_cgi"
    pvs.dl_cgi_login_page, pvs.build = True, 61846  # firmware upgraded; dl_cgi now serves an HTML login page
    fetched, _ = _fetch(pvs, api="auto", remembered="dl_cgi", serial_last5="A1234")
    assert fetched.source == "varserver"


def test_a_garbled_answer_costs_one_info_request_not_a_second_device_list(pvs):
    pvs.mode = "garbage"
    with pytest.raises(PvsBadResponse):
        _fetch(pvs, api="auto", remembered="dl_cgi")
    assert sum(1 for p in pvs.requests if "DeviceList" in p) == 1
