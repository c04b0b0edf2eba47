"""``pvs6-cloud watchdog``: has a Pi gone silent, or stopped reaching its PVS6? The scheduled check, by hand."""

from __future__ import annotations

import argparse

from pvs6_cloud.commands._jobs import add_site_argument, runtime_and_sites

NAME = "watchdog"
HELP = "check every site's Pi and PVS6 for silence; open or resolve alerts and send their mail"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_site_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pvs6_cloud.jobs.watchdog import run_watchdog

    runtime, sites = runtime_and_sites(args)
    silent = 0
    for site in sites:
        result = run_watchdog(runtime.sink_for(site), site, runtime.config.detection, runtime.services.clock(),
                              lambda: runtime.mailer)
        verdict = result.verdict
        if verdict.silent_min is None:
            print(f"{site.site_id}: never heard from its Pi")
            continue
        found = ", ".join(f.summary for f in verdict.findings) or "all well"
        print(f"{site.site_id}: {found} (Pi quiet {verdict.silent_min:.0f} active min); "
              f"opened {len(result.opened)}, resolved {len(result.resolved)}, mail sent {result.mail_sent}")
        silent += bool(verdict.findings)
    return 1 if silent else 0
