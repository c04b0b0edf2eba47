"""``make demo``: one simulated day of the whole system, on this machine, in well under a minute.

What runs is the real code over real loopback HTTP: the PVS6 simulator and the ingest function (under
functions-framework) listen on free local ports, and the edge polls and uploads exactly as the Pi's timer would,
every 15 minutes from 06:00 to 21:00. Only the clock is simulated, one clock shared by all three, so a day passes
in seconds. At 11:00 one microinverter dies, as the seed's did, so the outbox shows what the alert looks like.
Everything lands under ``demo-output/``.
"""

from __future__ import annotations

import argparse
import csv
import email
import logging
import secrets
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support helpers (the function server) live in the repository

from pvs6_cloud.config import CloudConfig, load_config  # noqa: E402
from pvs6_cloud.runtime import Runtime  # noqa: E402
from pvs6_edge.config import load_config as load_edge_config  # noqa: E402
from pvs6_edge.runner import EdgeRunner  # noqa: E402
from pvs6_sim.config import SimConfig  # noqa: E402
from pvs6_sim.faults import Fault  # noqa: E402
from pvs6_sim.server import run_simulator  # noqa: E402
from tests.support.loopback import SimulatedClock, serve_function  # noqa: E402
from tests.support.openmeteo_server import serve_openmeteo  # noqa: E402

DEMO_SECRET = secrets.token_hex(16)  # made fresh each run: the demo ships no secret
DAY_START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # 06:00 in the seed's home town (EDT)
DAY_END = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)  # 21:00 local
DEAD_AT = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)  # 11:00 local


def write_configs(out: Path, pvs_url: str = "", cloud_url: str = "", weather_url: str = "") -> tuple[Path, Path]:
    """The two config files a real install would have, pointing at the local servers."""
    cloud = out / "cloud.toml"
    cloud.write_text(
        "# Local demo: the function writes CSV files and .eml mail instead of Google Sheets and Gmail,\n"
        "# and asks a local stand-in for Open-Meteo about the weather (a clear day, like the simulator's).\n"
        f'[sites.home]\nname = "Demo house"\nsecret = "{DEMO_SECRET}"\nlatitude = 41.76\nlongitude = -72.68\n'
        'timezone = "America/New_York"\nlocal_dir = "sheet"\nmail_to = ["owner@example.com"]\n'
        '[mail]\noutbox_dir = "outbox"\nfrom = "pvs6-sentinel@example.com"\n'
        f'[weather]\nforecast_url = "{weather_url}/v1/forecast"\narchive_url = "{weather_url}/v1/archive"\n'
    )
    edge = out / "edge.toml"
    edge.write_text(
        f'[pvs]\nurl = "{pvs_url}"\napi = "auto"\ntimeout_s = 10\nmin_interval_s = 60\n'
        f'[cloud]\nurl = "{cloud_url}"\nsite = "home"\nsecret = "{DEMO_SECRET}"\n'
        '[storage]\ndir = "edge"\n[history]\ntimezone = "America/New_York"\n'
    )
    return cloud, edge


def run_day(out: Path, *, step_min: int = 15) -> dict[str, int]:
    """Run the simulated day; return counts for the summary."""
    clock = SimulatedClock(DAY_START)
    polls = 0
    with serve_openmeteo() as weather:
        cloud_file, _ = write_configs(out, weather_url=weather.base_url)
        config = load_config(cloud_file, env={})
        polls = _run_servers(out, config, clock, weather.base_url, step_min)
    return {"polls": polls}


def _run_servers(out: Path, config: CloudConfig, clock: SimulatedClock, weather_url: str, step_min: int) -> int:
    polls = 0
    seen_mail: set[Path] = set()
    sim_config = SimConfig(start=DAY_START, api="dl_cgi")
    with run_simulator(sim_config) as pvs, serve_function(Runtime(config, clock=clock.now)) as url:
        _, edge_file = write_configs(out, pvs.url, url, weather_url)
        edge = EdgeRunner(load_edge_config(edge_file, {}), clock=clock)
        pvs.sim.inject(Fault(kind="dead", target=3, start=DEAD_AT))
        print(f"PVS6 simulator on {pvs.url}, ingest function on {url}, weather on {weather_url}")
        while clock.at <= DAY_END:
            pvs.sim.clock.set(clock.at)
            result = edge.execute(collect=True, upload=True)
            polls += 1
            local = clock.at.astimezone(config.site("home").tz)
            print(f"  {local:%H:%M}  collect {result.collect:<8} upload {result.upload}", flush=True)
            for mail in sorted(set((out / "outbox").glob("*.eml")) - seen_mail):
                subject = email.message_from_bytes(mail.read_bytes())["Subject"]
                print(f"         email to the owner: {subject}", flush=True)
                seen_mail.add(mail)
            clock.at += timedelta(minutes=step_min)
        # 23:30: the nightly job Cloud Scheduler would start writes the day's totals to the Daily tab.
        from pvs6_cloud.jobs.daily import run_daily_rollup

        site = config.site("home")
        day = DAY_START.astimezone(site.tz).date()
        run_daily_rollup(Runtime(config).sink_for(site), site, DAY_END + timedelta(hours=2, minutes=30), days=[day],
                         weather=config.weather)
    return polls


def summarise(out: Path) -> None:
    """Print where the history is and what it holds."""
    from rich.console import Console
    from rich.table import Table

    sheet = out / "sheet"
    with (sheet / "Readings.csv").open(newline="") as fh:
        readings = list(csv.DictReader(fh))
    with (sheet / "Devices.csv").open(newline="") as fh:
        devices = list(csv.DictReader(fh))
    lifetime = [float(r["Lifetime production (kWh)"]) for r in readings if r["Lifetime production (kWh)"]]
    peak = max((float(r["Solar production (kW)"]) for r in readings if r["Solar production (kW)"]), default=0.0)
    mails = sorted((out / "outbox").glob("*.eml")) if (out / "outbox").exists() else []
    table = Table(title="What the demo day left behind")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("Readings (rows)", str(len(readings)))
    table.add_row("Produced (kWh)", f"{lifetime[-1] - lifetime[0]:.2f}" if len(lifetime) > 1 else "-")
    table.add_row("Peak (kW)", f"{peak:.2f}")
    table.add_row("Inverters seen", str(sum(1 for d in devices if d["Type"] == "Inverter")))
    table.add_row("Emails in the outbox", str(len(mails)))
    with (sheet / "Daily.csv").open(newline="") as fh:
        daily = list(csv.DictReader(fh))
    if daily:
        table.add_row("Daily row: produced / used (kWh)",
                      f"{float(daily[-1]['Solar production (kWh)']):.2f} / {float(daily[-1]['Home use (kWh)']):.2f}")
    console = Console()
    console.print(table)
    console.print(f"History (open in any spreadsheet program): {sheet}/ (Readings, Daily, Devices, Alerts .csv)")
    console.print(f"Mail the owner would get: {out / 'outbox'}/  ({', '.join(m.name for m in mails[:3])})")
    console.print(f"The Pi's own files (spool, raw archive, status): {out / 'edge'}/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-output")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.monotonic()
    counts = run_day(out)
    print(f"{counts['polls']} polls in {time.monotonic() - started:.1f} s of real time")
    summarise(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
