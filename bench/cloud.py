"""Cloud-side figures: Sheets API calls per snapshot, handler time per snapshot, cold import time.

Runs the real ingest pipeline with the real googleapiclient against the loopback Sheets fake (tests/support), fed
with the seed's DeviceList sample. Prints figures; it is not a test. Targets (issue 4): <= 3 API calls for a live
batch, <= 0.05 calls per snapshot for a 7-day backlog sent in 500-snapshot batches.

    .venv/bin/python bench/cloud.py
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pvs6_cloud.infra.config import parse_config  # noqa: E402
from pvs6_cloud.intake.contract import MAX_SNAPSHOTS, UploadBatch, UploadItem  # noqa: E402
from pvs6_cloud.intake.pipeline import ingest_batch  # noqa: E402
from pvs6_cloud.runtime import Runtime  # noqa: E402
from tests.support.sheets_fake import SheetsFake  # noqa: E402

PAYLOAD = json.loads((ROOT / "tests" / "data" / "seed_devicelist.json").read_text())
T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
BACKLOG = 7 * 24 * 4  # 7 days at 15-minute readings = 672 snapshots


def _items(first: int, count: int) -> tuple[UploadItem, ...]:
    return tuple(UploadItem(T0 + timedelta(minutes=15 * i), "dl_cgi",
                            hashlib.sha256(f"bench-{i}".encode()).hexdigest(), PAYLOAD)
                 for i in range(first, first + count))


def _runtime(fake: SheetsFake, sid: str, tmp: Path) -> Runtime:
    config = parse_config({
        "sites": {"home": {"secret": "bench", "latitude": 41.76, "longitude": -72.68,
                           "timezone": "America/New_York", "spreadsheet_id": sid}},
        "mail": {"outbox_dir": str(tmp / "outbox")},
        "weather": {"enabled": False},
        "sheets": {"api_endpoint": fake.endpoint},
    }, env={}, base_dir=tmp)
    return Runtime(config, clock=lambda: T0 + timedelta(days=8))


def _ingest(runtime: Runtime, fake: SheetsFake, items: tuple[UploadItem, ...]) -> tuple[int, float]:
    before = len(fake.calls)
    start = time.perf_counter()
    result = ingest_batch(UploadBatch("home", "bench", {}, items), runtime.config, runtime.services)
    elapsed = time.perf_counter() - start
    assert len(result.accepted) == len(items), "every snapshot must be accepted"
    return len(fake.calls) - before, elapsed


def api_figures() -> None:
    with SheetsFake() as fake, tempfile.TemporaryDirectory() as tmp:
        # Live: a cold instance's first batch on a new sheet, then warm live batches of one snapshot.
        sid = fake.add_spreadsheet("Bench live")
        runtime = _runtime(fake, sid, Path(tmp))
        cold_calls, cold_s = _ingest(runtime, fake, _items(0, 1))
        warm = [_ingest(runtime, fake, _items(i, 1)) for i in range(1, 21)]
        warm_calls = max(c for c, _ in warm)
        warm_s = statistics.median(s for _, s in warm)
        fresh = _runtime(fake, sid, Path(tmp))  # a new instance, sheet already set up
        restart_calls, _ = _ingest(fresh, fake, _items(21, 1))
        print("Live batch (1 snapshot)")
        print(f"  first batch on a new sheet (creates the tabs): {cold_calls} calls, {cold_s * 1000:.0f} ms")
        print(f"  cold instance, existing sheet:                 {restart_calls} calls  (target <= 3)")
        print(f"  warm instance:                                 {warm_calls} calls  (target <= 3), "
              f"handler {warm_s * 1000:.1f} ms per snapshot (median of 20)")

        # Backlog: 7 days sent in 500-snapshot batches to a sheet that already has its tabs.
        sid = fake.add_spreadsheet("Bench backlog")
        runtime = _runtime(fake, sid, Path(tmp))
        _ingest(runtime, fake, _items(100_000, 1))
        calls = 0
        elapsed = 0.0
        for first in range(0, BACKLOG, MAX_SNAPSHOTS):
            n, s = _ingest(runtime, fake, _items(first, min(MAX_SNAPSHOTS, BACKLOG - first)))
            calls += n
            elapsed += s
        print(f"Backlog ({BACKLOG} snapshots in batches of {MAX_SNAPSHOTS})")
        print(f"  {calls} calls = {calls / BACKLOG:.4f} calls per snapshot (target <= 0.05), "
              f"handler {elapsed / BACKLOG * 1000:.2f} ms per snapshot")
        rows = len(fake.values(sid, "Readings")) - 1
        print(f"  Readings rows: {rows} (expected {BACKLOG + 1})")


def detect_figures() -> None:
    """The detector's own time per reading on a 16-panel site: nothing learned vs a learned table at its bound."""
    from pvs6_cloud.alerting.detect import detect, normal
    from pvs6_cloud.enrich.conditions import Enrichment
    from pvs6_cloud.infra.config import ArrayConfig, DetectionConfig, SiteConfig
    from pvs6_parse.models import DeviceState, Inverter, Meter, MeterRole, Snapshot

    serials = [f"E00{i:012d}" for i in range(16)]
    site = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig())
    start = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)

    def reading(k: int) -> tuple[Snapshot, Enrichment]:
        at = start + timedelta(minutes=15 * k)
        kw = 0.25 + 0.01 * (k % 5)
        inverters = tuple(Inverter(s, state=DeviceState.WORKING, power_kw=kw, lifetime_kwh=2000.0 + k * 0.06,
                                   measured_at=at - timedelta(seconds=20)) for s in serials)
        meter = Meter("PVS6M1p", MeterRole.PRODUCTION, subtype="GROSS_PRODUCTION_SITE", power_kw=16 * kw)
        return (Snapshot("home", at, "dl_cgi", production_meter=meter, inverters=inverters),
                Enrichment(sun_elevation_deg=40.0 + k % 20, sun_azimuth_deg=100.0 + 3 * (k % 40),
                           clearsky_kw=16 * 0.3))

    def per_reading(memory: dict[str, Any]) -> float:
        times = []
        for k in range(40):
            pair = reading(k)
            t = time.perf_counter()
            detect([pair], {}, memory, site, DetectionConfig(), pair[0].captured_at)
            times.append(time.perf_counter() - t)
        return statistics.median(times[5:])

    bare = per_reading({})
    learned: dict[str, Any] = {"panels": [], "bins": {}, "today": {}}
    obs = {f"{season}{az}:{el}": {s: [30.0, 0.0, 30.0] for s in serials}
           for season in "ud" for az in range(24) for el in range(9)}
    normal._commit(learned, {"obs": obs, "good": dict.fromkeys(serials, 600.0), "own": {}, "excl": []},
                   DetectionConfig().weak_ratio)
    size = len(json.dumps(learned, separators=(",", ":")))
    full = per_reading({"normal": learned})
    print("Detector, 16 panels (median per reading)")
    print(f"  nothing learned:                 {bare * 1000:.2f} ms")
    print(f"  learned table at its bound ({size / 1024:.0f} KB): {full * 1000:.2f} ms")


def _import_time(code: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "cloud", capture_output=True, text=True,
                             check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def import_figures() -> None:
    timer = "import time\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
    main_s = _import_time(timer.format(stmt="import main"))
    base_s = _import_time(timer.format(stmt="import functions_framework, googleapiclient"))
    sheets_s = _import_time(timer.format(stmt="import main\nimport googleapiclient.discovery"))
    print("Cold import (fresh interpreter, median of 3)")
    print(f"  cloud/main.py:                              {main_s * 1000:.0f} ms")
    print(f"  functions_framework + googleapiclient only: {base_s * 1000:.0f} ms")
    print(f"  cloud/main.py + googleapiclient.discovery:  {sheets_s * 1000:.0f} ms  (what a Sheets site's "
          "first request adds)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # alert mail for the static sample is expected noise here
    api_figures()
    detect_figures()
    import_figures()
