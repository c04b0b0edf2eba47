"""Backfill speed (prints figures; not a test): how long `pvs6-cloud replay` takes for a year of archived files.

The PVS6 simulator writes ``--days`` days of DeviceList answers (every 15 minutes, 06:00 to 21:00 local, mixed
weather) named as the Pi's archive names them; the real ``pvs6-cloud replay`` then pushes them through the whole
pipeline (parse, enrich, rows, detection) into a CSV sheet, in a fresh process. The year figure is extrapolated
from the measured rate. Target (issue 4): a year of files in minutes. Weather is off (no internet here).

Run: ``.venv/bin/python bench/replay.py [--days 30]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvs6_sim.config import SimConfig
from pvs6_sim.model import Simulator

READINGS_PER_DAY = 61  # 06:00 to 21:00 every 15 minutes


def write_archive(folder: Path, days: int) -> int:
    """Simulated raw answers, one file per reading; returns how many."""
    start = datetime(2025, 1, 1, 11, 0, tzinfo=UTC)  # 06:00 EST
    sim = Simulator(SimConfig(start=start, api="dl_cgi", default_weather="mixed"))
    count = 0
    for day in range(days):
        for slot in range(READINGS_PER_DAY):
            at = start + timedelta(days=day, minutes=15 * slot)
            (folder / at.strftime("%Y%m%dT%H%M%SZ.json")).write_text(json.dumps(sim.device_list(at)))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="days of archive to replay (default 30)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "archive"
        archive.mkdir()
        files = write_archive(archive, args.days)
        config = root / "cloud.toml"
        config.write_text(
            '[sites.home]\nsecret = "bench"\nlatitude = 41.76\nlongitude = -72.68\n'
            f'timezone = "America/New_York"\nlocal_dir = "{root / "sheet"}"\n[weather]\nenabled = false\n'
        )
        script = Path(sys.executable).with_name("pvs6-cloud")
        started = time.perf_counter()
        subprocess.run([str(script), "replay", str(archive), "--config", str(config), "--site", "home"],
                       check=True, capture_output=True)
        elapsed = time.perf_counter() - started
        rows = len((root / "sheet" / "Readings.csv").read_text().splitlines()) - 1
    per_file_ms = elapsed / files * 1000
    year_s = per_file_ms * READINGS_PER_DAY * 365 / 1000
    print(f"replay of {files} archived files ({args.days} days): {elapsed:.1f} s, {per_file_ms:.2f} ms per file, "
          f"{rows} Readings rows")
    print(f"a year ({READINGS_PER_DAY * 365} files) at that rate: {year_s / 60:.1f} min  (target: minutes)")


if __name__ == "__main__":
    main()
