"""The scheduled jobs: daily rollup, monthly summary email, and the "Pi went silent" watchdog.

Each job is a pure core (records, state, config, now -> rows, findings, mail) with its I/O at one edge function
(``run_*``) that the HTTP entry points (`pvs6_cloud.entry_jobs`) and the CLI commands share. pandas-free; matplotlib
is imported only when a chart is drawn, so nothing here slows the ingest path.
"""

from pvs6_cloud.jobs.daily import RollupResult, run_daily_rollup
from pvs6_cloud.jobs.daily_row import DayWeather, rollup_day
from pvs6_cloud.jobs.watchdog import WatchdogResult, WatchdogVerdict, evaluate_watchdog, run_watchdog

__all__ = [
    "DayWeather",
    "RollupResult",
    "WatchdogResult",
    "WatchdogVerdict",
    "evaluate_watchdog",
    "rollup_day",
    "run_daily_rollup",
    "run_watchdog",
]
