"""``pvs6-cloud evidence SERIAL --from DATE --to DATE``: the installer's CSV of a panel and its peers, any period.

The same file a panel alert attaches, for the days you choose: from the site's spreadsheet (local CSV folder or
Google Sheet), with the PVS6 state and lifetime kWh of the last few days the monitor keeps them for.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from pvs6_cloud.commands._jobs import add_site_argument, runtime_and_sites
from pvs6_cloud.infra.errors import ConfigError

NAME = "evidence"
HELP = "export a panel's readings and its neighbours' as CSV, for your installer or a warranty claim"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-03") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("serial", help="the panel's inverter serial (as in the Devices tab)")
    parser.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD (default: a week ago)")
    parser.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD (default: today)")
    parser.add_argument("--out", type=Path, help="write the CSV here (default: standard output)")
    add_site_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pvs6_cloud.alerting.evidence import evidence_csv, rows_from_buffer, rows_from_tabs
    from pvs6_cloud.store.rows import panels as panel_columns

    runtime, sites = runtime_and_sites(args)
    if len(sites) > 1:
        raise ConfigError(f"several sites are configured; name one with --site ({', '.join(s.site_id for s in sites)})")
    site = sites[0]
    tz = site.tz
    end_day = args.end or runtime.services.clock().astimezone(tz).date()
    start_day = args.start or end_day - timedelta(days=7)
    if start_day > end_day:
        raise ConfigError(f"--from {start_day} is after --to {end_day}")
    start = datetime.combine(start_day, time.min, tzinfo=tz)
    end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz) - timedelta(microseconds=1)

    sink = runtime.sink_for(site)
    state = sink.load_state()
    panels = panel_columns(state, site.array.places)
    rows = {(r.serial, r.at): r for r in rows_from_tabs(sink.read_records("Readings", panels),
                                                          sink.read_records("Devices"), start, end)}
    rows |= {(r.serial, r.at): r for r in rows_from_buffer(state.section("evidence"), start, end)}
    if not any(serial == args.serial for serial, _ in rows):
        print(f"no readings of panel {args.serial} between {start_day} and {end_day} for site {site.site_id}",
              file=sys.stderr)
        return 1
    data = evidence_csv(rows.values(), [args.serial], tz)
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.write(data.decode("utf-8"))
    peers = len({serial for serial, _ in rows}) - 1
    where = f" written to {args.out}" if args.out else ""
    print(f"{args.serial} and {peers} neighbouring panels, {start_day} to {end_day}: {len(rows)} rows{where}",
          file=sys.stderr)
    return 0
