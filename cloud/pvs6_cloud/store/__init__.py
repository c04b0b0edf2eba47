"""Storage: the rows, the sinks they go to (a CSV folder or a Google Sheet), the state and sink health.

Where rows go: the local CSV folder (embedded default) or a Google Sheet, behind one `Sink` interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pvs6_cloud.store.base import Panels, Record, SheetWrite, Sink

if TYPE_CHECKING:
    from pvs6_cloud.infra.config import CloudConfig, SiteConfig

__all__ = ["Panels", "Record", "SheetWrite", "Sink", "open_sink"]


def open_sink(site: SiteConfig, config: CloudConfig) -> Sink:
    """The sink this site is configured for: its Google Sheet if it has one, else its CSV folder.

    The Google client is imported only here, and only for sites that use it, to keep cold starts short.
    """
    if site.spreadsheet_id:
        from pvs6_cloud.store.sheets import SheetsSink

        return SheetsSink.from_config(site, config.sheets)
    from pvs6_cloud.store.csv_sink import CsvSink

    assert site.local_dir is not None  # guaranteed by config validation
    return CsvSink(site.local_dir, site.tz)
