"""``make demo``: the last two days of a June of the whole system, on this machine, in well under a minute.

What runs is the real code over real loopback HTTP: the PVS6 simulator and the ingest function (under
functions-framework) listen on free local ports, and the edge polls and uploads exactly as the Pi's timer would,
every 15 minutes from 06:00 to 21:00. Only the clock is simulated, one clock shared by all three, so a day passes
in seconds. On the second day a breaker trips at 11:00 and half the panels stop; the owner switches it back on at
13:00. Each night the daily job writes the day's totals, and on the 1st of July the monthly job sends June's
summary. So the outbox holds one of each email the owner gets: the alert, its all-clear and the summary.
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
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support helpers (the function server) live in the repository

from pvs6_cloud.alerting.notify.transport import DEFAULT_SENDER, OutboxTransport  # noqa: E402
from pvs6_cloud.infra.config import CloudConfig, load_config  # noqa: E402
from pvs6_cloud.runtime import Runtime  # noqa: E402
from pvs6_edge.config import load_config as load_edge_config  # noqa: E402
from pvs6_edge.runner import EdgeRunner  # noqa: E402
from pvs6_sim.config import SimConfig  # noqa: E402
from pvs6_sim.faults import Fault  # noqa: E402
from pvs6_sim.server import run_simulator  # noqa: E402
from tests.support.loopback import SimulatedClock, serve_function  # noqa: E402
from tests.support.openmeteo_server import serve_openmeteo  # noqa: E402

DEMO_SECRET = secrets.token_hex(16)  # made fresh each run: the demo ships no secret
TZ = ZoneInfo("America/New_York")  # the seed's home town
DAYS = (date(2025, 6, 29), date(2025, 6, 30))  # polled 06:00-21:00 local
TRIP_AT = datetime(2025, 6, 30, 11, 0, tzinfo=TZ)  # circuit 2's breaker trips...
RESET_AT = datetime(2025, 6, 30, 13, 0, tzinfo=TZ)  # ...and the owner switches it back on
SUMMARY_AT = datetime(2025, 7, 1, 8, 0, tzinfo=TZ)  # the monthly job, as Cloud Scheduler starts it
MAIL_KINDS = {"alert": "alert", "reminder": "reminder", "resolved": "all clear", "summary": "monthly summary"}


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


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, day_time(hour), TZ).astimezone(UTC)


def run_days(out: Path, *, step_min: int = 15) -> dict[str, int]:
    """Run the simulated days and the jobs after them; return counts for the summary."""
    clock = SimulatedClock(_local(DAYS[0], 6))
    with serve_openmeteo() as weather:
        cloud_file, _ = write_configs(out, weather_url=weather.base_url)
        config = load_config(cloud_file, env={})
        polls = _run_servers(out, config, clock, weather.base_url, step_min)
    return {"polls": polls}


def _new_mail(out: Path, seen: set[Path]) -> None:
    for mail in sorted(set((out / "outbox").glob("*.eml")) - seen):
        subject = email.message_from_bytes(mail.read_bytes())["Subject"]
        print(f"         email to the owner: {subject}", flush=True)
        seen.add(mail)


def _run_servers(out: Path, config: CloudConfig, clock: SimulatedClock, weather_url: str, step_min: int) -> int:
    from pvs6_cloud.jobs.daily import run_daily_rollup
    from pvs6_cloud.jobs.monthly import run_monthly_summary

    polls = 0
    seen_mail: set[Path] = set()
    site = config.site("home")
    # The mail is dated by the simulated clock too, so a mail program shows it on the day it tells of.
    outbox = OutboxTransport(config.mail.outbox_dir, config.mail.sender or DEFAULT_SENDER, clock=clock.now)
    jobs = Runtime(config, mailer=outbox)  # what Cloud Scheduler's jobs run with: the same sheet folder and outbox
    sim_config = SimConfig(start=clock.at, api="dl_cgi")
    with run_simulator(sim_config) as pvs, serve_function(Runtime(config, clock=clock.now, mailer=outbox)) as url:
        _, edge_file = write_configs(out, pvs.url, url, weather_url)
        edge = EdgeRunner(load_edge_config(edge_file, {}), clock=clock)
        pvs.sim.inject(Fault(kind="breaker", target=2, start=TRIP_AT.astimezone(UTC), end=RESET_AT.astimezone(UTC)))
        print(f"PVS6 simulator on {pvs.url}, ingest function on {url}, weather on {weather_url}")
        for day in DAYS:
            print(f"{day:%a %d %b %Y}" + ("  (circuit 2's breaker trips at 11:00, back on at 13:00)"
                                          if day == TRIP_AT.date() else ""))
            clock.at = _local(day, 6)
            while clock.at <= _local(day, 21):
                pvs.sim.clock.set(clock.at)
                result = edge.execute(collect=True, upload=True)
                polls += 1
                local = clock.at.astimezone(TZ)
                print(f"  {local:%H:%M}  collect {result.collect:<8} upload {result.upload}", flush=True)
                _new_mail(out, seen_mail)
                clock.at += timedelta(minutes=step_min)
            # 00:30: the nightly job Cloud Scheduler starts writes the day's totals to the Daily tab.
            clock.at = _local(day, 23) + timedelta(minutes=90)
            run_daily_rollup(jobs.sink_for(site), site, clock.at, weather=config.weather)
        print(f"{SUMMARY_AT:%a %d %b %Y %H:%M}  the monthly job sends June's summary")
        clock.at = SUMMARY_AT.astimezone(UTC)
        run_monthly_summary(jobs.sink_for(site), site, config, clock.at, mailer=lambda: jobs.mailer)
        _new_mail(out, seen_mail)
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
    table = Table(title="What the demo days left behind")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("Readings (rows)", str(len(readings)))
    table.add_row("Produced over the days (kWh)", f"{lifetime[-1] - lifetime[0]:.2f}" if len(lifetime) > 1 else "-")
    table.add_row("Peak (kW)", f"{peak:.2f}")
    table.add_row("Inverters seen", str(sum(1 for d in devices if d["Type"] == "Inverter")))
    table.add_row("Emails in the outbox", str(len(mails)))
    with (sheet / "Daily.csv").open(newline="") as fh:
        daily = list(csv.DictReader(fh))
    for day in (d for d in daily if d["Solar production (kWh)"]):
        table.add_row(f"Daily row {day['Date']}: produced / used (kWh)",
                      f"{float(day['Solar production (kWh)']):.2f} / {float(day['Home use (kWh)']):.2f}")
    console = Console()
    console.print(table)
    console.print(f"History (open in any spreadsheet program): {sheet}/ (Readings, Daily, Monthly, Devices, Alerts "
                  ".csv)")
    console.print(f"The emails the owner would get ({out / 'outbox'}/, double-click one to open it):")
    for mail in mails:
        kind = MAIL_KINDS.get(mail.name.split("-", 1)[0], "email")
        subject = email.message_from_bytes(mail.read_bytes())["Subject"]
        console.print(f"  {kind:<16} {mail}  {subject}", soft_wrap=True, highlight=False)
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
    counts = run_days(out)
    print(f"{counts['polls']} polls in {time.monotonic() - started:.1f} s of real time")
    summarise(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
