"""``pvs6-edge collect | upload | run | status``, each with ``--config FILE``.

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

from pvs6_edge import __version__
from pvs6_edge.config import CONFIG_ENV, load_config, resolve_config_path
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
    from pvs6_edge.runner import EdgeRunner

    runner = EdgeRunner(cfg)
    if args.command == "status":
        status = runner.status()
        if args.json:
            print(json.dumps(status, indent=1))
        else:
            from pvs6_edge.status import format_status

            print(format_status(status, str(path)))
        return EXIT_OK
    try:
        result = runner.execute(collect=args.command in ("collect", "run"), upload=args.command in ("upload", "run"))
    except StorageError as err:
        log.error("storage error: %s", err)
        return EXIT_STORAGE
    if args.command == "collect" and result.collect == "failed":
        return EXIT_PVS
    if args.command == "upload" and result.upload == "failed":
        return EXIT_CLOUD
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvs6-edge", description="Poll the PVS6 gently, keep its raw JSON, upload it to PVS6 Sentinel.")
    parser.add_argument("--version", action="version", version=f"pvs6-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "collect": "poll the PVS6 once (if min_interval_s has passed) and spool the answer",
        "upload": "send the spool (or a heartbeat) to the cloud",
        "run": "collect, then upload: what the systemd timer or cron calls",
        "status": "show spool depth, oldest item, last PVS contact, last upload and errors",
    }
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--config", metavar="FILE", help=f"TOML configuration (default: ${CONFIG_ENV} or "
                         "/etc/pvs6-sentinel/edge.toml)")
        cmd.add_argument("-v", "--verbose", action="store_true", help="log debug details")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print the heartbeat status as JSON")
    return parser


def _setup_logging(verbose: bool, journald: bool) -> None:
    fmt = "%(levelname)s %(name)s: %(message)s" if journald else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO, format=fmt)
    if not verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
