"""The ``pvs6-edge`` command in a real subprocess: exit codes, status text, and a light import footprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pvs6_edge.cli import main
from tests.support.edge_servers import SECRET, FakeIngest, FakePvs, write_config

HEAVY = ("pandas", "numpy", "googleapiclient", "google", "pvlib", "matplotlib", "rich", "functions_framework",
         "flask", "pvs6_cloud", "pvs6_sim")


def _edge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("pvs6-edge")
    cmd = [str(script), *args] if script.exists() else [sys.executable, "-m", "pvs6_edge.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {}), "PVS6_EDGE_CONFIG": ""})


def _imported(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pvs6_edge.cli", *args],
                          capture_output=True, text=True, timeout=60)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "pvs6_edge" in names
    return names


@pytest.fixture
def servers():
    with FakePvs() as pvs, FakeIngest("home", SECRET) as ingest:
        yield pvs, ingest


def test_run_then_status_over_real_processes(tmp_path, servers):
    pvs, ingest = servers
    config = write_config(tmp_path, pvs.url, ingest.url)
    proc = _edge("run", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "collected a dl_cgi snapshot" in proc.stderr and "1 snapshot(s) acknowledged" in proc.stderr
    assert len(ingest.snapshots) == 1
    status = _edge("status", "--config", str(config))
    assert status.returncode == 0
    assert "PVS6:               OK (api: dl_cgi)" in status.stdout
    assert "spool:              0 item(s)" in status.stdout and "last upload OK:" in status.stdout
    as_json = json.loads(_edge("status", "--json", "--config", str(config)).stdout)
    assert as_json["spool_depth"] == 0 and as_json["last_pvs_contact"] is not None


def test_config_from_environment_variable(tmp_path, servers):
    pvs, ingest = servers
    config = write_config(tmp_path, pvs.url, ingest.url)
    script = Path(sys.executable).with_name("pvs6-edge")
    proc = subprocess.run([str(script), "status"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PVS6_EDGE_CONFIG": str(config)})
    assert proc.returncode == 0 and str(config) in proc.stdout


def test_exit_codes(tmp_path, servers, caplog):
    pvs, ingest = servers
    config = str(write_config(tmp_path, pvs.url, ingest.url, **{"pvs.min_interval_s": "0"}))
    bad = tmp_path / "bad.toml"
    bad.write_text('[pvs]\nurl = "http://x"\napi = "soap"\n')
    assert main(["status", "--config", str(bad)], {}) == 2
    assert "configuration error: pvs.api" in caplog.text
    pvs.mode = "500"
    assert main(["collect", "--config", config], {}) == 4
    assert main(["run", "--config", config], {}) == 0  # an outage is logged, not a crash
    ingest.stop()
    assert main(["upload", "--config", config], {}) == 5
    assert main(["run", "--config", config], {}) == 0


def test_status_needs_neither_requests_nor_anything_heavy(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/ingest")
    names = _imported("status", "--config", str(config))
    assert not names & set(HEAVY), names & set(HEAVY)
    assert "requests" not in names


def test_run_imports_nothing_heavy(tmp_path, servers):
    pvs, ingest = servers
    config = write_config(tmp_path, pvs.url, ingest.url)
    names = _imported("run", "--config", str(config))
    assert "requests" in names
    assert not names & set(HEAVY), names & set(HEAVY)
