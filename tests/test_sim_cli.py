"""`pvs6-sim` as a process: prints its URL first, serves with injected faults, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from pvs6_sim.cli import build_parser, config_from_args, main

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def test_cli_prints_url_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvs6_sim.cli", "--port", "0", "--api", "both", "--speed", "0",
         "--start", "2025-06-10T17:00:00Z", "--fault", "dead:3", "--fault", "http503:1", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")  # a firmware with a varserver serves HTTPS
        url = url.replace("https:", "http:")  # and plain HTTP for dl_cgi on the same port
        assert requests.get(url + "/cgi-bin/dl_cgi?Command=DeviceList", timeout=10).status_code == 503
        doc = requests.get(url + "/cgi-bin/dl_cgi?Command=DeviceList", timeout=10).json()
        inverters = [d for d in doc["devices"] if d["DEVICE_TYPE"] == "Inverter"]
        assert inverters[3]["STATE"] == "error" and inverters[2]["STATE"] == "working"
        assert doc["devices"][0]["CURTIME"] == "2025,06,10,17,00,00"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_cli_varserver_defaults_to_new_firmware_and_bad_fault_exits_2() -> None:
    args = build_parser().parse_args(["--api", "varserver", "--weather", "mixed"])
    config = config_from_args(args)
    assert config.pvs.build >= 61840 and config.default_weather == "mixed"
    assert args.tls is None and args.plain_varserver is False  # HTTPS as the firmware does, unless asked
    assert main(["--api", "varserver", "--no-tls", "--speed", "0"]) == 2  # a varserver nobody could reach
    result = subprocess.run([sys.executable, "-m", "pvs6_sim.cli", "--fault", "meteor"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "meteor" in result.stderr
