"""``pvs6-cloud replay DIR``: backfill archived raw PVS6 responses through the ingest pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from pvs6_cloud.infra.config import load_config
from pvs6_cloud.intake.replay import find_archive_files, replay_folder
from pvs6_cloud.runtime import Runtime

NAME = "replay"
HELP = "push a folder of archived PVS6 JSON files (edge archive or YYYYMMDD_HHMMSS.json) through the pipeline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="folder of raw JSON files (searched recursively)")
    parser.add_argument("--site", required=True, help="site id the files belong to")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    config = load_config(args.config, checks_uploads=False)
    if args.site not in config.sites:
        raise SystemExit(f"unknown site {args.site!r}; configured: {', '.join(config.sites)}")
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder} is not a folder")
    runtime = Runtime(config)
    total = len(find_archive_files(args.folder, config.site(args.site).tz))
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("replaying", total=total)
        report = replay_folder(args.folder, args.site, config, runtime.services,
                               progress=lambda done: bar.update(task, completed=done))
    print(f"{report.files} file(s): {report.accepted} new reading(s), {report.duplicates} already stored, "
          f"{len(report.skipped)} skipped")
    for name, reason in report.skipped[:20]:
        print(f"  skipped {name}: {reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more skipped file(s); the log names each one and why")
    return 0 if not report.skipped else 1
