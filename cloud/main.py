"""Cloud Functions entry points for PVS6 Sentinel.

Deploy this folder as it is: each name below is a function target (``--entry-point``). All logic lives in the
``pvs6_cloud`` package beside this file; configuration comes from ``$PVS6_CLOUD_CONFIG`` (see the README).
``pvs6_cloud.functions`` holds the same names, for ``pvs6-cloud serve`` from an install without this file.
"""

from pvs6_cloud.functions import daily_rollup, ingest, monthly_summary, watchdog

__all__ = ["daily_rollup", "ingest", "monthly_summary", "watchdog"]
