"""Edge benchmark (prints figures; not a test).

1. Peak RSS and wall time of ``pvs6-edge run`` (one collect + upload against loopback PVS6 and ingest servers),
   next to a bare ``python -c "import requests"`` measured in the same run, as ratios. Target <= 1.3x.
2. HTTP requests and bytes to drain a 7-day backlog (672 snapshots of a 12-inverter DeviceList) with
   ``pvs6-edge upload``, as a ratio to one request per snapshot. Target <= 2 % of the requests.

Run: ``.venv/bin/python bench/edge.py [--repeat N]``. The servers are the edge tests' own loopback servers
(tests/support/edge_servers/), so the figures do not depend on the simulator.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pvs6_edge.config import load_config  # noqa: E402
from pvs6_edge.spool import Spool  # noqa: E402
from tests.support.edge_servers import SECRET, FakeIngest, device_list, write_config  # noqa: E402

BACKLOG = 672


# pip compiles bytecode when it installs the edge on a Pi; a machine that sets PYTHONDONTWRITEBYTECODE would make
# every measured run recompile the edge's sources (but not requests', compiled at install), so children may
# write and reuse bytecode, and a warm-up run fills the cache before anything is measured.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` once; returns (peak RSS [MiB], wall time [s], CPU time [s]) of that child alone."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed with {status}")
    return usage.ru_maxrss / 1024, wall_s, usage.ru_utime + usage.ru_stime


def edge_cmd() -> list[str]:
    script = Path(sys.executable).with_name("pvs6-edge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pvs6_edge.cli"]


@contextmanager
def simulator_process() -> Iterator[str]:
    """``pvs6-sim`` in a child process at a sunny midday; yields its URL."""
    script = Path(sys.executable).with_name("pvs6-sim")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "pvs6_sim.cli"]
    proc = subprocess.Popen([*cmd, "--port", "0", "--api", "dl_cgi", "--start", "2025-06-02T16:00Z"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split()[-1]
        yield url.rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_run(repeat: int) -> None:
    baseline, startup, edge = [], [], []
    imports = "import pvs6_edge.cli, pvs6_edge.runner, pvs6_edge.pvs, pvs6_edge.upload"
    # The PVS6 is the project's simulator at a midday instant (a full 12-inverter DeviceList), run in its own
    # process so this one stays small: a forked child starts with its parent's resident pages, which would
    # otherwise count in the children's peak RSS. The cloud is a contract-checking loopback ingest, so only the
    # edge's own cost is measured.
    with simulator_process() as pvs_url, FakeIngest("home", SECRET) as ingest, \
            tempfile.TemporaryDirectory() as tmp:
        measure([sys.executable, "-c", imports])  # warm-up: compile the bytecode once, as pip does on the Pi
        for n in range(repeat):
            folder = Path(tmp) / f"r{n}"
            folder.mkdir()
            config = write_config(folder, pvs_url, ingest.url)
            baseline.append(measure([sys.executable, "-c", "import requests"]))
            startup.append(measure([sys.executable, "-c", imports]))
            edge.append(measure([*edge_cmd(), "run", "--config", str(config)]))
        assert len(ingest.snapshots) == repeat, "every run should deliver its snapshot"
    # Peak RSS: median. Times: minimum, the least disturbed by other load on the machine; CPU time (user + sys)
    # is the steadier start-up figure on a shared machine.
    b_rss, e_rss = statistics.median(r[0] for r in baseline), statistics.median(r[0] for r in edge)
    b_wall, s_wall, e_wall = (min(r[1] for r in runs) for runs in (baseline, startup, edge))
    b_cpu, s_cpu, e_cpu = (min(r[2] for r in runs) for runs in (baseline, startup, edge))
    print(f"pvs6-edge run (one collect + upload over loopback), {repeat} runs each:")
    print(f"  baseline python -c 'import requests': peak RSS {b_rss:5.1f} MiB, wall {b_wall * 1000:5.0f} ms, "
          f"CPU {b_cpu * 1000:5.0f} ms")
    print(f"  pvs6-edge start-up (all run imports):                  wall {s_wall * 1000:5.0f} ms, "
          f"CPU {s_cpu * 1000:5.0f} ms")
    print(f"  pvs6-edge run, whole                : peak RSS {e_rss:5.1f} MiB, wall {e_wall * 1000:5.0f} ms, "
          f"CPU {e_cpu * 1000:5.0f} ms")
    print(f"  ratios (targets <= 1.30x): peak RSS {e_rss / b_rss:.2f}x, start-up wall {s_wall / b_wall:.2f}x, "
          f"start-up CPU {s_cpu / b_cpu:.2f}x; whole run incl. HTTP and fsyncs: wall {e_wall / b_wall:.2f}x, "
          f"CPU {e_cpu / b_cpu:.2f}x")


def bench_drain() -> None:
    with FakeIngest("home", SECRET) as ingest, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), "http://127.0.0.1:9", ingest.url)
        cfg = load_config(config, {})
        spool = Spool(cfg.storage)
        spool.ensure_dirs()
        raw_bytes = 0
        start = time.time() - BACKLOG * 900  # a week ago, so the spool's age limit keeps it all
        for n in range(BACKLOG):
            raw = device_list(12, seq=n)
            raw_bytes += len(raw)
            spool.put(raw, "dl_cgi", start + 900 * n)
        spool.compress_older()
        rss, wall, _cpu = measure([*edge_cmd(), "upload", "--config", str(config)])
        assert len(ingest.snapshots) == BACKLOG and len(ingest.arrivals) == BACKLOG, "drain incomplete"
        print(f"drain a 7-day backlog ({BACKLOG} snapshots, {raw_bytes / 1e6:.1f} MB raw JSON):")
        print(f"  requests: {ingest.requests} vs {BACKLOG} one-per-snapshot = "
              f"{100 * ingest.requests / BACKLOG:.2f} %   (target <= 2 %)")
        print(f"  bytes on the wire: {ingest.bytes / 1e6:.2f} MB vs {raw_bytes / 1e6:.1f} MB raw = "
              f"{100 * ingest.bytes / raw_bytes:.1f} %")
        print(f"  pvs6-edge upload: peak RSS {rss:.1f} MiB, wall {wall:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement")
    args = parser.parse_args()
    bench_run(args.repeat)
    bench_drain()


if __name__ == "__main__":
    main()
