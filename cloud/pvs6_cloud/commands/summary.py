"""``pvs6-cloud summary --month YYYY-MM``: the monthly summary email, exactly as the scheduled job sends it."""

from __future__ import annotations

import argparse

from pvs6_cloud.commands._jobs import add_site_argument, runtime_and_sites

NAME = "summary"
HELP = "write the Monthly row and send the monthly summary email (default: last month), once per month"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="YYYY-MM (default: the previous month in the site's time zone)")
    parser.add_argument("--force", action="store_true", help="send the email again even if it already went out")
    add_site_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pvs6_cloud.jobs.monthly import run_monthly_summary
    from pvs6_cloud.jobs.window import parse_month

    if args.month:
        parse_month(args.month)
    runtime, sites = runtime_and_sites(args)
    for site in sites:
        result = run_monthly_summary(runtime.sink_for(site), site, runtime.config, runtime.services.clock(),
                                     args.month, mailer=lambda: runtime.mailer, force=args.force)
        summary = result.summary
        made = "no data" if summary is None or summary.production_kwh is None else f"{summary.production_kwh:.1f} kWh"
        if result.already_sent:
            status = "already sent (use --force to send again)"
        else:
            status = "email sent" if result.mail_sent else "email queued (mail is not going out yet)"
        print(f"{site.site_id} {result.month}: {made}; {status}")
    return 0
