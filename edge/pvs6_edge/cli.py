"""``pvs6-edge collect | upload | run | status | export``, each with ``--config FILE``; ``upload`` and ``run`` take
``--now`` (upload at once, whatever the backoff after failed uploads says).

The only place that configures logging (stderr, one line per event; journald adds its own timestamps) and
prints. Exit codes: 0 done (also: an overlapping run exited quietly, or during ``run`` the PVS6 or the cloud was
down, which is logged and reported in the heartbeat); 1 storage failure; 2 usage or configuration error;
4 ``collect`` could not reach the PVS6; 5 ``upload`` could not deliver.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pvs6_edge import __version__
from pvs6_edge.config import CONFIG_ENV, EdgeConfig, load_config, resolve_config_path
from pvs6_edge.errors import ConfigError, StorageError

__all__ = ["main"]

log = logging.getLogger("pvs6_edge")

EXIT_OK, EXIT_STORAGE, EXIT_CONFIG, EXIT_PVS, EXIT_CLOUD = 0, 1, 2, 4, 5


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    environ : mapping, optional
        Environment (default: ``os.environ``); only ``PVS6_EDGE_CONFIG`` and ``cloud.secret_env`` are read.

    Returns
    -------
    int
        The exit code.
    """
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose, journald="JOURNAL_STREAM" in environ)
    path = resolve_config_path(args.config, environ)
    try:
        cfg = load_config(path, environ)
    except ConfigError as err:
        log.error("configuration error: %s", err)
        return EXIT_CONFIG
    if args.command == "export":
        return _export(cfg, args)
    from pvs6_edge.runner import EdgeRunner

    runner = EdgeRunner(cfg)
    if args.command == "status":
        status = runner.status()
        history = _history_summary(cfg)
        if args.json:
            print(json.dumps({**status, "history": history}, indent=1))
        else:
            from pvs6_edge.history_report import format_history
            from pvs6_edge.status import format_status

            print(format_status(status, str(path)))
            print(format_history(history))
        return EXIT_OK
    try:
        result = runner.execute(collect=args.command in ("collect", "run"), upload=args.command in ("upload", "run"),
                                skip_backoff=getattr(args, "now", False))
    except StorageError as err:
        log.error("storage error: %s", err)
        return EXIT_STORAGE
    if args.command == "collect" and result.collect == "failed":
        return EXIT_PVS
    if args.command == "upload" and result.upload == "failed":
        return EXIT_CLOUD
    return EXIT_OK


def _history_summary(cfg: EdgeConfig) -> dict[str, Any]:
    from pvs6_edge.history import History
    from pvs6_edge.history_report import history_summary

    return history_summary(History(cfg.storage.dir, cfg.cloud.site))


def _export(cfg: EdgeConfig, args: argparse.Namespace) -> int:
    """``pvs6-edge export``: one CSV of the history from ``--from`` to ``--to`` (local dates, both included)."""
    from pvs6_edge.history import History
    from pvs6_edge.history_report import export_range, write_export

    if args.date_from > args.date_to:
        log.error("--from %s is after --to %s", args.date_from, args.date_to)
        return EXIT_CONFIG
    history = History(cfg.storage.dir, cfg.cloud.site)
    try:
        count = write_export(export_range(history, args.date_from, args.date_to), args.out, sys.stdout)
    except StorageError as err:
        log.error("export failed: %s", err)
        return EXIT_STORAGE
    where = str(args.out) if args.out else "standard output"
    if count:
        log.info("exported %d reading(s) from %s to %s into %s", count, args.date_from, args.date_to, where)
    else:
        log.warning("no readings from %s to %s in %s (only a header was written to %s)", args.date_from,
                    args.date_to, history.dir, where)
    return EXIT_OK


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-06-01") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvs6-edge", description="Poll the PVS6 gently, keep its raw JSON, upload it to PVS6 Sentinel.")
    parser.add_argument("--version", action="version", version=f"pvs6-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "collect": "poll the PVS6 once (if min_interval_s has passed) and spool the answer",
        "upload": "send the spool (or a heartbeat) to the cloud",
        "run": "collect, then upload: what the systemd timer or cron calls",
        "status": "show spool depth, oldest item, last PVS contact, last upload, errors and the history",
        "export": "write the Pi's own history from one date to another as one CSV file",
    }
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--config", metavar="FILE", help=f"TOML configuration (default: ${CONFIG_ENV} or "
                         "/etc/pvs6-sentinel/edge.toml)")
        cmd.add_argument("-v", "--verbose", action="store_true", help="log debug details")
        if name in ("upload", "run"):
            cmd.add_argument("--now", action="store_true",
                             help="upload at once, even while the Pi waits after failed uploads (its backoff)")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print the heartbeat status as JSON")
        if name == "export":
            cmd.add_argument("--from", dest="date_from", type=_date, required=True, metavar="DATE",
                             help="first day, local time (YYYY-MM-DD)")
            cmd.add_argument("--to", dest="date_to", type=_date, required=True, metavar="DATE",
                             help="last day, included (YYYY-MM-DD)")
            cmd.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    return parser


def _setup_logging(verbose: bool, journald: bool) -> None:
    fmt = "%(levelname)s %(name)s: %(message)s" if journald else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO, format=fmt)
    if not verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
