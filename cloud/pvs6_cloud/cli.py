"""``pvs6-cloud``: run the cloud side's jobs by hand or locally (serve, replay, bootstrap-sheet, summary...).

Each subcommand lives in its own module under ``pvs6_cloud.commands`` and is found automatically: a module
there defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Every subcommand takes
``--config FILE`` (else ``$PVS6_CLOUD_CONFIG``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from pvs6_cloud import commands
from pvs6_cloud.infra.errors import ConfigError, SentinelError

__all__ = ["main"]


def _commands() -> list:
    found = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(prog="pvs6-cloud", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _commands():
        child = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        child.add_argument("--config", metavar="FILE", help="config TOML (default: $PVS6_CLOUD_CONFIG)")
        module.add_arguments(child)
        child.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except SentinelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
