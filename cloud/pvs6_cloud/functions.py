"""The four function targets in one importable module of the installed package.

functions-framework loads its ``--source`` from a file path. ``cloud/main.py`` is that file for a deployment, but
it lives outside the package and is not installed by ``pip install '.[cloud]'``; this module is, so ``pvs6-cloud
serve`` points functions-framework here and works from any install, editable or not.
"""

from pvs6_cloud.entry import ingest
from pvs6_cloud.entry_jobs import daily_rollup, monthly_summary, watchdog

__all__ = ["daily_rollup", "ingest", "monthly_summary", "watchdog"]
