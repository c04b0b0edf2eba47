"""What the deployment uses of each Google service per month, measured, beside the free allowances.

Every usage figure comes from the real code and schedule (deploy/cost_model.py reads the Pi's timer, the
Scheduler lines, memory flags and cleanup policy of deploy.sh); this bench measures the per-call figures:

- for each function, in a fresh process as Cloud Run starts one: import time (``cloud/main.py`` through
  functions-framework's ``create_app``), the first call's handler time through the real HTTP entry point
  (against the loopback Sheets fake, with a month of readings already stored, as on a real sheet), peak memory,
  the bytes of log the call writes in Cloud Run's JSON format, reads of the mounted config file (one Secret
  Manager access each) and Sheets API calls;
- the size of the function's installed dependencies (``cloud/requirements.txt`` installed offline into a fresh
  folder, or, where pip cannot do that offline, the same distributions measured in this venv), uncompressed and
  as gzip (how image layers are stored).

It prints the usage table for 1 and 10 sites, compares with deploy/cost_figures.json (what ``deploy.sh
--dry-run`` shows) and, with ``--write``, stores the new figures there.

    .venv/bin/python bench/cost.py [--write] [--find-links WHEELHOUSE]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))

import cost_model  # noqa: E402

FUNCTIONS = ("ingest", "watchdog", "daily_rollup", "monthly_summary")
SEED = ROOT / "tests" / "data" / "seed_devicelist.json"
SECRET = "bench-secret-not-real"
WARM_CALLS = 5


# --- the worker: one fresh function process ----------------------------------------------------------------------
class _Counter(io.TextIOBase):
    """Stands in for stdout, where the Cloud Run log handler writes: counts the UTF-8 bytes it is given."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines.append(text)
        return len(text)


def _peak_mib() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _upload(index: int) -> tuple[bytes, dict[str, str]]:
    from tests.support.cloud import envelope, signed, snapshot_item

    payload = json.loads(SEED.read_text())
    payload["devices"][0]["dl_uptime"] = str(1000 + index)  # a new reading each time, not a duplicate
    item = snapshot_item(payload, datetime.now(UTC) - timedelta(minutes=1))
    return signed(envelope([item]), secret=SECRET)


def worker(name: str, config: str) -> None:
    """Runs in its own interpreter: import, one cold call (+ warm calls for ingest), report as JSON on stdout."""
    reads = 0

    def audit(event: str, args: tuple[Any, ...]) -> None:
        nonlocal reads
        if event == "open" and str(args[0]) == config:
            reads += 1

    sys.addaudithook(audit)
    out = sys.stdout
    logs = _Counter()
    sys.stdout = logs  # the Cloud Run handler binds sys.stdout when the first request configures logging
    os.environ.update(PVS6_CLOUD_CONFIG=config, K_SERVICE=f"pvs6-{name}", K_REVISION="bench")
    start = time.perf_counter()
    import functions_framework

    app = functions_framework.create_app(target=name, source=str(ROOT / "cloud" / "main.py"))
    client = app.test_client()
    import_s = time.perf_counter() - start

    def call(index: int) -> tuple[float, int, int]:
        before = logs.bytes
        if name == "ingest":
            body, headers = _upload(index)
            begin = time.perf_counter()
            answer = client.post("/", data=body, headers=headers)
        else:
            begin = time.perf_counter()
            answer = client.post("/")
        elapsed = time.perf_counter() - begin
        return elapsed, logs.bytes - before, answer.status_code

    first_s, first_log, status = call(0)
    warm = [call(i) for i in range(1, WARM_CALLS + 1)] if name == "ingest" else []
    peak_mib = _peak_mib()
    out.write(json.dumps({
        "import_s": import_s, "first_s": first_s, "first_log_bytes": first_log, "status": status,
        "warm_s": statistics.median(w[0] for w in warm) if warm else None,
        "warm_log_bytes": max(w[1] for w in warm) if warm else None,
        "peak_mib": peak_mib, "config_reads": reads, "log_sample": logs.lines[-3:],
    }) + "\n")


# --- the parent: a sheet with a month of readings, then one worker per function -----------------------------------
def _config_toml(endpoint: str, sid: str, tmp: Path) -> str:
    return (f'[sites.home]\nsecret = "{SECRET}"\nlatitude = 41.76\nlongitude = -72.68\n'
            f'timezone = "America/New_York"\nspreadsheet_id = "{sid}"\nmail_to = ["owner@example.com"]\n\n'
            f'[mail]\noutbox_dir = "{tmp / "outbox"}"\n\n[weather]\nenabled = false\n\n'
            f'[sheets]\napi_endpoint = "{endpoint}"\n')


def _prefill(config_path: Path) -> None:
    """Store last month's and this month's daylight readings (as the Pi's timer takes them), roll up past days."""
    from pvs6_cloud.infra.config import load_config
    from pvs6_cloud.intake.contract import MAX_SNAPSHOTS, UploadBatch, UploadItem
    from pvs6_cloud.intake.pipeline import ingest_batch
    from pvs6_cloud.jobs.daily import run_daily_rollup
    from pvs6_cloud.runtime import Runtime

    now = datetime.now(UTC)
    config = load_config(config_path)
    site = config.sites["home"]
    payload = json.loads(SEED.read_text())
    first_day = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    stamps = []
    day = first_day
    while day < now - timedelta(days=1):
        stamps += [day + timedelta(hours=10, minutes=15 * i) for i in range(64)]  # 64 runs/day, as the timer
        day += timedelta(days=1)
    items = tuple(UploadItem(t, "dl_cgi", hashlib.sha256(f"prefill-{t.isoformat()}".encode()).hexdigest(), payload)
                  for t in stamps)
    runtime = Runtime(config, clock=lambda: now)
    for first in range(0, len(items), MAX_SNAPSHOTS):
        ingest_batch(UploadBatch("home", "bench", {}, items[first:first + MAX_SNAPSHOTS]), config,
                     runtime.services)
    # Everything before yesterday is rolled up already, as the nightly job leaves it.
    run_daily_rollup(runtime.sink_for(site), site, now - timedelta(days=1))


def measure_functions() -> dict[str, dict[str, Any]]:
    from tests.support.sheets_fake import SheetsFake

    results: dict[str, dict[str, Any]] = {}
    with SheetsFake() as fake, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sid = fake.add_spreadsheet("Bench cost")
        config = tmp / "config.toml"
        config.write_text(_config_toml(fake.endpoint, sid, tmp))
        started = time.perf_counter()
        _prefill(config)
        print(f"(prefilled {len(fake.values(sid, 'Readings')) - 1} readings in {time.perf_counter() - started:.0f} s)")
        for name in FUNCTIONS:
            before = len(fake.calls)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PVS6_", "K_"))}
            proc = subprocess.run([sys.executable, __file__, "--worker", name, "--config", str(config)],
                                  capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"worker {name} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["sheets_calls"] = len(fake.calls) - before
            results[name] = result
    return results


# --- the image -------------------------------------------------------------------------------------------------
def _requirements() -> list[str]:
    lines = (ROOT / "cloud" / "requirements.txt").read_text().splitlines()
    return [re.split(r"[<>=!~ \[;]", line.strip(), maxsplit=1)[0] for line in lines
            if line.strip() and not line.startswith("#")]


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions the requirements pull in (markers for extras left out, as pip does)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[<>=!~ \[;(]", req, maxsplit=1)[0])
    return list(seen.values())


def _gzip_size(files: list[Path], base: Path) -> int:
    """Bytes of a gzip'd tar of the files: how a container registry stores a layer."""

    class Sink(io.RawIOBase):
        size = 0

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            Sink.size += len(data)
            return len(data)

    with gzip.GzipFile(fileobj=Sink(), mode="wb", compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(base)), recursive=False)
    return Sink.size


def measure_image(find_links: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as target_name:
        target = Path(target_name) / "site-packages"
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-compile", "--target",
               str(target), "-r", str(ROOT / "cloud" / "requirements.txt")]
        for link in find_links:
            cmd += ["--find-links", link]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode == 0:
            files = [p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
            method = "pip install --no-index --target (offline) of cloud/requirements.txt"
            base = target
            by_top: dict[str, int] = {}
            for p in files:
                top = p.relative_to(target).parts[0]
                by_top[top] = by_top.get(top, 0) + p.stat().st_size
        else:
            why = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"pip cannot install cloud/requirements.txt offline ({why}); measuring the same distributions "
                  "in this venv instead")
            files, by_top = [], {}
            base = Path(metadata.distribution("pip").locate_file(""))
            for dist in _closure(_requirements()):
                size = 0
                for entry in dist.files or []:
                    path = Path(dist.locate_file(entry))
                    if path.is_file() and "__pycache__" not in path.parts and path.is_relative_to(base):
                        files.append(path)
                        size += path.stat().st_size
                by_top[dist.metadata["Name"]] = size
            method = "this venv's site-packages, the distributions cloud/requirements.txt pulls in (pip offline failed)"
        uncompressed = sum(p.stat().st_size for p in files)
        compressed = _gzip_size(files, base)
    biggest = sorted(by_top.items(), key=lambda kv: -kv[1])[:8]
    return {"method": method, "uncompressed_bytes": uncompressed, "compressed_bytes": compressed,
            "biggest": {k: v for k, v in biggest}}


# --- report ----------------------------------------------------------------------------------------------------
def figures_from(functions: dict[str, dict[str, Any]], image: dict[str, Any]) -> dict[str, Any]:
    return {
        "measured_on": datetime.now(UTC).date().isoformat(),
        "functions": {name: {
            "cold_start_s": round(r["import_s"], 3),
            "handler_s": round(r["first_s"], 3),
            "warm_handler_s": None if r["warm_s"] is None else round(r["warm_s"], 4),
            "peak_mib": round(r["peak_mib"]),
            "log_bytes": max(r["first_log_bytes"], r["warm_log_bytes"] or 0),
            "sheets_calls": r["sheets_calls"] if name != "ingest" else None,
        } for name, r in functions.items()},
        "config_reads_per_instance": max(r["config_reads"] for r in functions.values()),
        "mail_password_secret": True,
        "image": {k: image[k] for k in ("method", "uncompressed_bytes", "compressed_bytes")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the figures in deploy/cost_figures.json")
    parser.add_argument("--find-links", action="append", default=[], help="a local wheel folder for pip")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.config)
        return
    logging.basicConfig(level=logging.ERROR)  # the static sample's alerts are expected noise here

    functions = measure_functions()
    print("\nPer call, each in a fresh process (Cloud Run bills start-up too)")
    print(f"  {'function':16} {'import':>8} {'1st call':>9} {'warm':>8} {'peak':>8} {'log/call':>9} "
          f"{'config reads':>13} {'Sheets calls':>13}")
    for name, r in functions.items():
        warm = f"{r['warm_s'] * 1000:.0f} ms" if r["warm_s"] is not None else "-"
        print(f"  {name:16} {r['import_s']:7.2f}s {r['first_s']:8.2f}s {warm:>8} {r['peak_mib']:6.0f}MiB "
              f"{max(r['first_log_bytes'], r['warm_log_bytes'] or 0):8d}B {r['config_reads']:13d} "
              f"{r['sheets_calls']:13d}   (HTTP {r['status']})")
    sample = functions["ingest"]["log_sample"]
    print(f"  an upload's log lines: {''.join(sample).strip()[:300]}")

    image = measure_image(args.find_links)
    print(f"\nFunction dependencies ({image['method']})")
    print(f"  uncompressed {image['uncompressed_bytes'] / 1e6:.0f} MB, gzip {image['compressed_bytes'] / 1e6:.0f} MB")
    print("  biggest: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in image["biggest"].items()))

    figures = figures_from(functions, image)
    # ingest's Sheets calls per upload: the warm ones (the first call on a sheet also reads its layout).
    ingest_calls = functions["ingest"]["sheets_calls"] / (WARM_CALLS + 1)
    figures["functions"]["ingest"]["sheets_calls"] = round(ingest_calls, 2)
    deployment = cost_model.load_deployment()
    functions_n = len(deployment.entry_points)
    per_image = image["compressed_bytes"]
    print(f"\nArtifact Registry (0.5 GB free): each deploy builds {functions_n} images of {per_image / 1e6:.0f} MB = "
          f"{functions_n * per_image / 1e9:.2f} GB")
    for label, images in ((f"{functions_n} images", functions_n), ("2 images (public ingest, private jobs)", 2),
                          ("1 image for all", 1)):
        kept = [f"keep {k}: {images * k * per_image / 1e9:.2f} GB" for k in (1, 2)]
        print(f"  {label:40} never deleted: +{images * per_image / 1e9:.2f} GB per deploy; " + "; ".join(kept))
    print(f"  this deployment's policy: delete after {deployment.delete_after_days} day(s), keep "
          f"{deployment.keep_versions}")
    print("\nMonthly usage (measured now)")
    print(cost_model.table([1, 10], figures=figures))

    stored_path = ROOT / "deploy" / "cost_figures.json"
    if stored_path.exists():
        stored = json.loads(stored_path.read_text())
        print(f"\nStored figures (deploy/cost_figures.json, measured {stored.get('measured_on')}), as deploy.sh "
              "--dry-run prints them:")
        print(cost_model.table([1, 10], figures=stored))
    if args.write:
        stored_path.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {stored_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
