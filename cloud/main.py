"""Cloud Functions entry points for PVS6 Sentinel.

Each name below is a function target (``--entry-point``). This file is deployed inside the folder deploy.sh
builds (``python3 deploy/stage_function.py DEST``): this file and ``requirements.txt``, the ``pvs6_cloud``
package beside it, and the project's ``pvs6_parse/`` (the parser the Pi shares) and ``sheets_template/`` (the
sheet layout). ``cloud/`` on its own lacks those two; started from it, this file stops at once and says so
rather than failing on the first request. Configuration comes from ``$PVS6_CLOUD_CONFIG`` (see the README).
``pvs6_cloud.functions`` holds the same names, for ``pvs6-cloud serve`` from an install without this file.
"""

from importlib.util import find_spec

_MISSING = [name for name in ("pvs6_parse", "sheets_template") if find_spec(name) is None]
if _MISSING:
    raise ModuleNotFoundError(
        f"{' and '.join(_MISSING)} not found beside main.py: deploy the folder deploy.sh builds "
        "(python3 deploy/stage_function.py DEST), not cloud/ alone", name=_MISSING[0])

from pvs6_cloud.functions import daily_rollup, ingest, monthly_summary, watchdog  # noqa: E402

__all__ = ["daily_rollup", "ingest", "monthly_summary", "watchdog"]
