"""The Pi's history as a whole: real edge processes killed at random against the simulator, and the same
snapshots read alike by the Pi's CSV and the cloud's Readings tab."""

from __future__ import annotations

import csv
import gzip
import json
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvs6_cloud.runtime import Runtime
from pvs6_edge.config import load_config
from pvs6_edge.fsio import TEMP_PREFIX
from pvs6_edge.history import FIXED_COLUMNS
from pvs6_edge.history_csv import parse_line, read_month
from pvs6_edge.runner import EdgeRunner
from pvs6_sim.config import SimConfig
from pvs6_sim.server import run_simulator
from tests.support.cloud import SECRET, local_config
from tests.support.edge_servers import write_config
from tests.support.loopback import SimulatedClock, serve_function

N_FIXED = len(FIXED_COLUMNS)
EDGE = [str(Path(sys.executable).with_name("pvs6-edge"))]


def _spooled_keys(spool: Path) -> list[tuple[str, str, str]]:
    """(local time, UTC offset, reading id) of every whole spooled reading, in the Pi's own zone."""
    keys = []
    for path in sorted(spool.iterdir()):
        if path.name.startswith(TEMP_PREFIX):  # a write a kill cut short: no reading (the spool skips it too)
            continue
        data = path.read_bytes()
        meta = json.loads(gzip.decompress(data) if path.name.endswith(".gz") else data)
        local = datetime.fromisoformat(meta["captured_at"].replace("Z", "+00:00")).astimezone()
        offset = local.strftime("%z")
        keys.append((local.strftime("%Y-%m-%d %H:%M:%S"), f"UTC{offset[0]}{offset[1:3]}:{offset[3:]}",
                     meta["sha256"][:16]))
    return keys


def test_sigkill_at_random_moments_of_20_collects_leaves_no_torn_or_duplicated_row(tmp_path):
    rng = random.Random(16)
    runs = 20
    with run_simulator(SimConfig(start=datetime(2025, 6, 2, 16, tzinfo=UTC), api="dl_cgi")) as pvs:
        config = str(write_config(tmp_path, pvs.url, "http://127.0.0.1:9", **{"pvs.min_interval_s": "0"}))
        started = time.monotonic()
        whole = subprocess.run([*EDGE, "collect", "--config", config], capture_output=True, text=True, timeout=60)
        run_s = time.monotonic() - started
        assert whole.returncode == 0, whole.stderr
        history = tmp_path / "data" / "history"
        killed = 0
        for n in range(runs):
            pvs.sim.clock.set(datetime(2025, 6, 2, 16, tzinfo=UTC) + timedelta(minutes=n + 1))
            proc = subprocess.Popen([*EDGE, "collect", "--config", config], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                proc.wait(timeout=rng.uniform(0.0, 1.2 * run_s))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                killed += 1
            if n % 10 == 5:  # what a power cut in the middle of an append leaves (a SIGKILL cannot tear a write)
                newest = sorted(history.glob("*.csv"))[-1]
                with newest.open("ab") as fh:
                    fh.write(newest.read_bytes().splitlines()[-1][:40])
        final = subprocess.run([*EDGE, "collect", "--config", config], capture_output=True, text=True, timeout=60)
        assert final.returncode == 0, final.stderr
    assert killed >= runs // 3, f"only {killed} of {runs} runs were killed: the kill moments missed the runs"
    rows: list[list[str]] = []
    for path in sorted(history.glob("*.csv")):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n")
        header, month_rows = read_month(path)
        lines = text.splitlines()[1:]
        assert [parse_line(line, len(header)) for line in lines] == month_rows  # every line is a whole row
        rows += month_rows
    keys = [(r[0], r[1], r[N_FIXED - 1]) for r in rows]
    assert len(keys) == len(set(keys)), "a reading was written twice"
    assert set(keys) == set(_spooled_keys(tmp_path / "data" / "spool"))  # and none is missing


def _edge_config(tmp: Path, pvs_url: str, cloud_url: str, api: str, serial_last5: str) -> Path:
    extra = {"pvs.api": f'"{api}"', "pvs.timeout_s": "5", "cloud.secret": json.dumps(SECRET),
             "history.timezone": '"America/New_York"'}
    if serial_last5:
        extra["pvs.serial_last5"] = f'"{serial_last5}"'
    return write_config(tmp, pvs_url, cloud_url, **extra)


def test_the_cloud_readings_and_the_pis_csv_agree_on_the_same_snapshots(tmp_path):
    """Both APIs, a day every 3 hours: same times and the same value in every column the two share."""
    for api in ("dl_cgi", "varserver"):
        folder = tmp_path / api
        folder.mkdir()
        clock = SimulatedClock(datetime(2025, 6, 2, 10, 0, tzinfo=UTC))
        with run_simulator(SimConfig(start=clock.at, api=api), tls=api == "varserver") as pvs, \
                serve_function(Runtime(local_config(folder), clock=clock.now)) as url:
            serial = pvs.sim.identity.pvs_serial[-5:] if api == "varserver" else ""
            edge = EdgeRunner(load_config(_edge_config(folder, pvs.url, url, api, serial), {}), clock=clock)
            while clock.at <= datetime(2025, 6, 3, 1, 0, tzinfo=UTC):
                pvs.sim.clock.set(clock.at)
                result = edge.execute(collect=True, upload=True)
                assert (result.collect, result.upload) == ("ok", "ok")
                clock.at += timedelta(minutes=180)
        with (folder / "sheet" / "Readings.csv").open(newline="") as fh:
            cloud = {r["Reading id"]: r for r in csv.DictReader(fh)}
        header, rows = read_month(folder / "data" / "history" / "2025-06.csv")
        pi = {r[N_FIXED - 1]: dict(zip(header, r, strict=True)) for r in rows}
        assert len(pi) == 6 and pi.keys() == cloud.keys()
        shared = [h for h in header if h in next(iter(cloud.values())) and h not in ("Time (local)", "Reading id")]
        assert len(shared) == len(header) - 3  # all but time, offset and id: totals, counters and every panel
        for rid, mine in pi.items():
            theirs = cloud[rid]
            cloud_time = datetime.fromisoformat(theirs["Time (local)"]).replace(tzinfo=None)
            assert cloud_time == datetime.strptime(mine["Time (local)"], "%Y-%m-%d %H:%M:%S"), rid
            for title in shared:
                if mine[title] == "" or theirs[title] == "":
                    assert mine[title] == theirs[title], (api, rid, title)
                else:  # the Pi keeps 4 decimals (0.1 W, 0.1 Wh); the sheet rounds for reading (kW 3, kWh 1)
                    shown = len(theirs[title].partition(".")[2])
                    allowed = 0.5 * 10 ** -shown + 1e-4
                    assert abs(float(mine[title]) - float(theirs[title])) <= allowed, (api, rid, title)
