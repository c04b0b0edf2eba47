"""Old firmware's 403 fits and new firmware's login, told apart by what the PVS6 answers (real simulator)."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import requests

from pvs6_cloud.alerting.notify.compose import KIND_TITLES
from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.jobs.watchdog import run_watchdog
from pvs6_cloud.runtime import Runtime
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_edge.clock import SystemClock
from pvs6_edge.config import load_config
from pvs6_edge.errors import PvsRefusing, PvsWrongApi
from pvs6_edge.pvs import PvsClient
from pvs6_edge.runner import EdgeRunner
from pvs6_sim.config import SimConfig
from pvs6_sim.faults import Fault, parse_fault
from pvs6_sim.server import SimServer, run_simulator
from tests.support.cloud import SECRET, local_config
from tests.support.edge_servers import FakePvs
from tests.support.loopback import SimulatedClock, serve_function

START = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)  # 10:00 EDT


def _toml(tmp: Path, pvs_url: str, cloud_url: str = "http://127.0.0.1:9/ingest", api: str = "auto",
          password: str = "") -> Path:
    path = tmp / "edge.toml"
    extra = f'serial_last5 = "{password}"\n' if password else ""
    path.write_text(f'[pvs]\nurl = "{pvs_url}"\napi = "{api}"\ntimeout_s = 5\nmin_interval_s = 60\n{extra}'
                    f'[cloud]\nurl = "{cloud_url}"\nsite = "home"\nsecret = "{SECRET}"\n'
                    f'[storage]\ndir = "{tmp / "edge"}"\n')
    return path


def _fetch(tmp: Path, url: str, api: str = "auto", remembered: str | None = None, password: str = ""):
    cfg = load_config(_toml(tmp, url, api=api, password=password), {})
    with requests.Session() as session:
        client = PvsClient(session, cfg.pvs, SystemClock())
        return client.fetch(cfg.pvs.api, remembered)


def _old_firmware(server: SimServer, spare_info: bool = False) -> None:
    server.sim.inject(parse_fault("unauthorized:1" if spare_info else "unauthorized"))


@pytest.mark.parametrize("tls", [False, True], ids=["no-https-port", "https-answers-404"])
@pytest.mark.parametrize("spare_info", [False, True], ids=["info-refused-too", "info-answers"])
def test_old_firmware_refusing_dl_cgi_is_a_fit_not_a_new_firmware(tmp_path, tls, spare_info) -> None:
    with run_simulator(SimConfig(start=START, api="dl_cgi"), tls=tls) as pvs:
        _old_firmware(pvs, spare_info)
        url = pvs.url.replace("https:", "http:")
        for remembered in ("dl_cgi", None):
            with pytest.raises(PvsRefusing, match="old PVS6 firmware does this now and then") as caught:
                _fetch(tmp_path, url, remembered=remembered)
            assert ("build 61839" in str(caught.value)) is spare_info
        with pytest.raises(PvsRefusing):
            _fetch(tmp_path, url, api="dl_cgi")
        pvs.sim.clear_faults(kind="unauthorized")
        assert _fetch(tmp_path, url, remembered="dl_cgi").source == "dl_cgi"


def test_new_firmware_refusing_dl_cgi_moves_to_the_varserver(tmp_path) -> None:
    with run_simulator(SimConfig(start=START, api="varserver"), tls=True) as pvs:
        url, password = pvs.url.replace("https:", "http:"), pvs.sim.identity.password
        assert _fetch(tmp_path, url, remembered="dl_cgi", password=password).source == "varserver"
        with pytest.raises(PvsWrongApi, match=re.escape('set pvs.api = "auto"')):
            _fetch(tmp_path, url, api="dl_cgi", password=password)


@pytest.mark.parametrize("build", [61839, 61840])
def test_the_varserver_is_found_by_asking_whatever_the_build_says(tmp_path, build) -> None:
    with FakePvs(build=build) as pvs:
        pvs.dl_cgi_needs_auth = True
        assert _fetch(tmp_path, pvs.url, password="A1234").source == "varserver"


def test_a_lasting_fit_keeps_dl_cgi_and_the_alert_says_switch_the_breaker(tmp_path) -> None:
    clock = SimulatedClock(START)
    cloud = local_config(tmp_path)
    with run_simulator(SimConfig(start=START, api="dl_cgi")) as pvs, \
            serve_function(Runtime(cloud, clock=clock.now)) as url:
        edge = EdgeRunner(load_config(_toml(tmp_path, pvs.url, url), {}), clock=clock)
        assert edge.execute(collect=True, upload=True).collect == "ok"
        pvs.sim.inject(Fault("unauthorized", start=START + timedelta(minutes=10),
                             end=START + timedelta(minutes=40)))
        pvs.sim.inject(Fault("unauthorized", start=START + timedelta(minutes=55)))
        collected = []
        while clock.at < START + timedelta(hours=2, minutes=30):
            clock.at += timedelta(minutes=15)
            pvs.sim.clock.set(clock.at)
            collected.append(edge.execute(collect=True, upload=True).collect)
            assert edge.status()["api"] == "dl_cgi", "a fit never makes the Pi decide the firmware changed"
            if clock.at == START + timedelta(hours=1):
                assert "breaker" not in edge.status()["last_pvs_error"], "a short fit needs no action"
        assert collected[:3] == ["failed", "failed", "ok"] and set(collected[3:]) == {"failed"}
        error = edge.status()["last_pvs_error"]
        assert error.startswith("PvsRefusing") and "breaker off for a minute" in error
        site = cloud.sites["home"]
        outbox = OutboxTransport(tmp_path / "outbox")
        result = run_watchdog(CsvSink(site.local_dir, site.tz), site, cloud.detection, clock.at, lambda: outbox)
    assert result.opened == [f"pvs_unreachable:{pvs.sim.identity.pvs_serial}"]
    [mail] = sorted((tmp_path / "outbox").glob("*.eml"))
    text = message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "Unauthorized" in text and "breaker off for a minute" in text
    assert "network cable" not in text


def test_a_firmware_update_mid_run_is_followed_recorded_once_and_raises_nothing_else(tmp_path) -> None:
    clock = SimulatedClock(START - timedelta(hours=1))
    cloud = local_config(tmp_path)
    with run_simulator(SimConfig(start=clock.at, api="dl_cgi"), tls=True) as pvs, \
            serve_function(Runtime(cloud, clock=clock.now)) as url:
        pvs.sim.inject(Fault("firmware", value=61845, start=START + timedelta(minutes=5)))
        edge = EdgeRunner(load_config(_toml(tmp_path, pvs.url.replace("https:", "http:"), url), {}), clock=clock)
        sources, collected = [], []
        while clock.at <= START + timedelta(hours=2):
            pvs.sim.clock.set(clock.at)
            collected.append(edge.execute(collect=True, upload=True).collect)
            sources.append(edge.status()["api"])
            clock.at += timedelta(minutes=15)
    assert sources[:5] == ["dl_cgi"] * 5 and sources[-4:] == ["varserver"] * 4
    assert collected.count("failed") <= 1, "only the update's own restart costs a reading"
    sheet = tmp_path / "sheet"
    with (sheet / "Readings.csv").open(newline="") as fh:
        readings = list(csv.DictReader(fh))
    assert {r["Panels total"] for r in readings} == {"12"}
    with (sheet / "Alerts.csv").open(newline="") as fh:
        alerts = list(csv.DictReader(fh))
    assert [a["Kind"] for a in alerts] == [KIND_TITLES["firmware_changed"]]
    [mail] = sorted((tmp_path / "outbox").glob("*.eml"))
    message = message_from_bytes(mail.read_bytes(), policy=policy.default)
    assert "build 61839 to 61845" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "2025.09.04.61845" in text and "the Pi switched by itself" in text
