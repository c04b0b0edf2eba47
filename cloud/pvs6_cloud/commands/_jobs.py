"""What the job subcommands (summary, watchdog, rollup) share: config, runtime and which sites to run."""

from __future__ import annotations

import argparse

from pvs6_cloud.infra.config import SiteConfig, load_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.runtime import Runtime


def add_site_argument(parser: argparse.ArgumentParser) -> None:
    """``--site ID`` (default: every configured site)."""
    parser.add_argument("--site", help="only this site (default: every configured site)")


def runtime_and_sites(args: argparse.Namespace) -> tuple[Runtime, list[SiteConfig]]:
    """The runtime for ``--config`` and the sites ``--site`` selects.

    Raises
    ------
    ConfigError
        Unknown site.
    """
    config = load_config(args.config, checks_uploads=False)
    if args.site and args.site not in config.sites:
        raise ConfigError(f"unknown site {args.site!r}; configured: {', '.join(config.sites)}")
    sites = [config.site(args.site)] if args.site else list(config.sites.values())
    return Runtime(config), sites
