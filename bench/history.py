"""History benchmark (prints figures; not a test): how big the Pi's own CSV history grows, for docs/capacity.md.

Writes the readings of the systemd timer's schedule (every 15 minutes, 06:00 to 21:45 local: 64 a day) from the
PVS6 simulator through the edge's real ``History`` (the shared parser, the real row format) for the first week of
every month of a year, for 12, 20 and 30 panels, and scales the bytes per row to a year and to 25 years.

Run: ``.venv/bin/python bench/history.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from pvs6_edge.history import History  # noqa: E402
from pvs6_sim.clock import SimClock  # noqa: E402
from pvs6_sim.config import ArrayConfig, SimConfig  # noqa: E402
from pvs6_sim.model import Simulator  # noqa: E402

ZONE = ZoneInfo("America/New_York")
READINGS_PER_DAY = 64  # pvs6-edge.timer: OnCalendar=*-*-* 06..21:00/15:00
SAMPLE_DAYS = (1, 15)  # two days of each month: every season, its short and long days


def measure(panels: int, year: int = 2026) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of a sampled year written for ``panels`` panels."""
    start = datetime(year, 1, 1, 5, 0, tzinfo=ZONE)
    sim = Simulator(SimConfig(start=start, array=ArrayConfig(panels=panels), default_weather="mixed",
                              api="dl_cgi"), SimClock(start))
    rows = 0
    took_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        history = History(Path(tmp), "home", ZONE)
        for month in range(1, 13):
            for day in SAMPLE_DAYS:
                first = datetime(year, month, day, 6, 0, tzinfo=ZONE)
                for n in range(READINGS_PER_DAY):
                    at = first + timedelta(minutes=15 * n)
                    raw = json.dumps(sim.device_list(at)).encode()
                    began = time.perf_counter()
                    assert history.record_raw(raw, "dl_cgi", at.timestamp()) == "written"
                    took_s += time.perf_counter() - began
                    rows += 1
        size = sum(p.stat().st_size for p in history.month_files())
    return rows, size, took_s


def main() -> None:
    per_year = READINGS_PER_DAY * 365
    print(f"Pi history (history/YYYY-MM.csv), {READINGS_PER_DAY} readings a day = {per_year} rows a year; sampled "
          f"{len(SAMPLE_DAYS)} days of every month from the simulator (mixed weather):")
    for panels in (12, 20, 30):
        rows, size, took_s = measure(panels)
        row_b = size / rows
        year_mb = row_b * per_year / 1e6
        print(f"  {panels:2d} panels: {row_b:5.0f} bytes a row (headers included), {year_mb:5.1f} MB a year, "
              f"{25 * year_mb:6.0f} MB in 25 years; parse + append + fsync {1000 * took_s / rows:.1f} ms a row "
              f"({rows} rows)")


if __name__ == "__main__":
    main()
