"""``pvs6-cloud rollup [--date YYYY-MM-DD]``: write the Daily rows, as the nightly scheduled job does."""

from __future__ import annotations

import argparse

from pvs6_cloud.commands._jobs import add_site_argument, runtime_and_sites

NAME = "rollup"
HELP = "write the Daily rows of finished days (or re-roll one --date) from the Readings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", help="re-roll this day (YYYY-MM-DD) instead of the days since the last run")
    add_site_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pvs6_cloud.jobs.daily import run_daily_rollup
    from pvs6_cloud.jobs.window import parse_day

    days = [parse_day(args.date)] if args.date else None
    runtime, sites = runtime_and_sites(args)
    for site in sites:
        result = run_daily_rollup(runtime.sink_for(site), site, runtime.services.clock(), days=days,
                                  weather=runtime.config.weather, http=runtime.services.weather_http)
        span = f"{result.days[0]} .. {result.days[-1]}" if result.days else "nothing new"
        print(f"{site.site_id}: {len(result.rows)} day(s) rolled up ({span}) from {result.rows_read} reading(s)")
    return 0
