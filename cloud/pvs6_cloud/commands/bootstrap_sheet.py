"""``pvs6-cloud bootstrap-sheet --site ID``: create or repair a site's spreadsheet from ``sheets_template/``.

Idempotent: run it on a new, empty spreadsheet shared with the service account, or again any time to repair
tabs, headers, formats and charts; nothing is added twice and no data row is touched. A CSV site gets its folder
and one file per tab.
"""

from __future__ import annotations

import argparse
import logging

from pvs6_cloud.infra.config import load_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.store.rows import panels as panel_columns

NAME = "bootstrap-sheet"
HELP = "create or repair a site's spreadsheet (tabs, headers, formats, charts) from sheets_template/"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, help="site id whose sheet to prepare")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, checks_uploads=False)
    if args.site not in config.sites:
        raise ConfigError(f"unknown site {args.site!r}; configured: {', '.join(config.sites)}")
    site = config.site(args.site)
    if not site.spreadsheet_id:
        from pvs6_cloud.store.csv_sink import CsvSink

        csv_sink = CsvSink(site.local_dir, site.tz)  # type: ignore[arg-type]  # config guarantees local_dir
        panels = panel_columns(csv_sink.load_state(), site.array.places)
        csv_sink.ensure_layout(panels)
        print(f"site {site.site_id}: CSV folder {site.local_dir} is ready "
              f"({len(csv_sink.layout.tabs)} tab files, {len(panels)} panel column(s))")
        return 0

    from pvs6_cloud.store.sheets import SheetsSink

    sink = SheetsSink.from_config(site, config.sheets)
    panels = panel_columns(sink.load_state(), site.array.places)
    report = sink.bootstrap(panels)
    print(f"site {site.site_id}: spreadsheet {sink.title!r} ({site.sheet_url})")
    lines = [
        ("tabs added", ", ".join(report.tabs_added)),
        ("headers fixed", ", ".join(report.headers_fixed)),
        ("tab settings fixed", ", ".join(report.properties_fixed)),
        ("columns added", ", ".join(f"{tab} +{n}" for tab, n in report.columns_added.items())),
        ("charts added", ", ".join(report.charts_added)),
        ("removed", ", ".join(f"empty {name}" for name in report.removed)),
    ]
    for label, text in lines:
        if text:
            print(f"  {label}: {text}")
    if not report.changed:
        print("  already in shape: nothing added (formats and widths re-applied)")
    print(f"  {len(sink.layout.tabs)} tabs, {len(panels)} panel column(s), {len(sink.layout.charts)} chart(s)")
    return 0
