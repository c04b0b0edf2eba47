"""What a fault costs, estimated against the truth: the Alerts tab's Lost (kWh) beside the simulator's own figure.

For a few of bench/detection.py's fault scenarios, the readings go through the real ingest pipeline into a CSV
sink; the estimate is the expected alert's Lost (kWh) at the end. The truth comes from the simulator itself: the
same scenario played again without the fault (same seed, same weather): what the faulty panels make there at every
15-minute reading from the alert's start (or the fault's, if later) to the fault's end (or the scenario's), times
the share the fault takes (all of
it for a dead panel or a tripped breaker, a quarter for a 75 % panel), times 15 minutes.

    .venv/bin/python bench/loss.py            # three scenarios, about a minute each on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.detection import Scenario, play, scenarios
from bench.detection_site import CADENCE, TZ, _device, _site
from pvs6_cloud.alerting.loss import covered_serials
from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig, DetectionConfig, MailConfig, WeatherConfig
from pvs6_cloud.intake.contract import UploadBatch
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_parse import parse_payload

NAMES = ("dead inverter", "tripped breaker", "weak panel (75 %)")


def _powers(upload) -> dict[str, float]:
    """Each panel's power in one upload's reading, as the PVS6 answered it [kW]."""
    out: dict[str, float] = {}
    for item in upload.items:
        snap = parse_payload(item.payload, source=item.source, site="home", captured_at=item.captured_at)
        out.update({inv.serial: max(0.0, inv.power_kw or 0.0) for inv in snap.inverters})
    return out


def measure(sc: Scenario) -> dict[str, object]:
    """Estimated and true lost kWh of one scenario's expected alert."""
    started = time.monotonic()
    played = play(sc)
    clean = play(replace(sc, fault=None, repeat=()))
    kind, template = sc.expect or ("", "")
    device = _device(template, played.sim)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        site = _site(played.sim, folder, sc.circuit_map)
        config = CloudConfig(sites={"home": site}, mail=MailConfig(outbox_dir=folder / "outbox"),
                             weather=WeatherConfig(enabled=False), detection=DetectionConfig())
        sink = CsvSink(site.local_dir, site.tz)
        mailer = OutboxTransport(folder / "outbox")
        clock = [played.uploads[0].at]
        services = Services(sink_for=lambda _site: sink, clock=lambda: clock[0], mailer=lambda: mailer)
        for upload in played.uploads:
            clock[0] = upload.at + timedelta(seconds=20)
            ingest_batch(UploadBatch("home", "bench", upload.status, upload.items), config, services)
        rows = [r for r in sink.load_state().section("alerts")["rows"] if r["kind"] == kind and r["device"] == device]
    estimate = sum(float(r.get("lost_kwh", 0.0)) for r in rows)
    serials = covered_serials(kind, device, site.array.circuits)
    fault = sc.fault or {}
    midnight = datetime(sc.start.year, sc.start.month, sc.start.day, tzinfo=TZ)
    fault_end = midnight + timedelta(hours=fault["end"]) if "end" in fault else None
    kept = float(fault.get("value", 0.0)) if fault.get("kind") == "weak" else 0.0  # share a weak panel still makes
    # While the alert was open (a weak panel is named on its third sunny day: the days before are not its cost).
    since = min((datetime.fromisoformat(r["started"] or r["opened"]) for r in rows), default=played.fault_at)
    truth = 0.0
    for faulty, healthy in zip(played.uploads, clean.uploads, strict=True):
        at = faulty.at
        if played.fault_at is None or at < max(played.fault_at, since) or (fault_end is not None and at >= fault_end):
            continue
        ok = _powers(healthy)
        truth += sum(ok.get(s, 0.0) for s in serials) * (1.0 - kept) * CADENCE.total_seconds() / 3600.0
    return {"name": sc.name, "alerts": len(rows), "estimate": estimate, "truth": truth,
            "error": (estimate - truth) / truth if truth else None, "seconds": time.monotonic() - started}


def main() -> int:
    chosen = [sc for sc in scenarios(quick=True) if sc.name in NAMES]
    print(f"{'scenario':28} {'alerts':>6} {'estimated kWh':>14} {'true kWh':>9} {'error':>7}")
    for sc in chosen:
        r = measure(sc)
        error = "-" if r["error"] is None or not r["alerts"] else f"{r['error']:+.0%}"  # "-": no alert raised
        print(f"{r['name']:28} {r['alerts']:>6} {r['estimate']:>14.2f} {r['truth']:>9.2f} {error:>7}  "
              f"({r['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
