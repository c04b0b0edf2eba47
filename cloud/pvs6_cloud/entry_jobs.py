"""The scheduled HTTP entry points: ``monthly_summary``, ``watchdog`` and ``daily_rollup``.

Each only checks the door (method, Cloud Scheduler's OIDC token when ``[scheduler] audience`` is set) and runs
its job for every site, or for ``?site=ID``. One site's failure does not stop the others; the answer is 503 when
any site failed for a passing reason (Scheduler retries, and every job is idempotent), else 200 with one JSON
result per site. ``cloud/main.py`` re-exports these three names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import flask
import functions_framework

from pvs6_cloud.entry import Response, _error, handle_errors
from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.infra.errors import BadRequest, SentinelError, TransientError
from pvs6_cloud.infra.oidc import Forbidden, platform_checks_callers, verify_scheduler_request
from pvs6_cloud.runtime import Runtime, get_runtime

__all__ = ["daily_rollup", "monthly_summary", "watchdog"]

log = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}
_METHODS = ("POST", "GET")


def _sites(runtime: Runtime, request: flask.Request) -> list[SiteConfig]:
    wanted = request.args.get("site", "")
    if not wanted:
        return list(runtime.config.sites.values())
    if wanted not in runtime.config.sites:
        raise BadRequest(f"unknown site {wanted!r}")
    return [runtime.config.sites[wanted]]


Job = Callable[[Runtime, SiteConfig], Any]


def _run(name: str, request: flask.Request, prepare: Callable[[], Job]) -> Response:
    """Door checks, then ``prepare()`` (reads the query; `BadRequest` -> 400) and its job for each site."""
    if request.method not in _METHODS:
        return _error(405, "use POST", {"Allow": ", ".join(_METHODS)})

    def run() -> Response:
        runtime = get_runtime()
        try:
            verify_scheduler_request(request.headers, runtime.config.scheduler,
                                     platform_checked=platform_checks_callers(os.environ),
                                     own_url=f"https://{request.host}")
        except Forbidden as err:
            log.warning("%s refused: %s", name, err)
            return _error(403, str(err))
        job = prepare()
        results: list[dict[str, Any]] = []
        status = 200
        for site in _sites(runtime, request):
            try:
                results.append(job(runtime, site).to_json())
            except TransientError as err:
                log.error("%s failed for site %s for now (Scheduler will retry): %s", name, site.site_id, err)
                results.append({"site": site.site_id, "error": str(err)})
                status = max(status, 503)
            except SentinelError as err:
                log.error("%s failed for site %s: %s", name, site.site_id, err)
                results.append({"site": site.site_id, "error": str(err)})
                status = 500 if status == 200 else status
        return {"job": name, "sites": results}, status, _JSON

    return handle_errors(name, run)


@functions_framework.http
def monthly_summary(request: flask.Request) -> Response:
    """Email each site's summary of a month (``?month=YYYY-MM``; default the previous month), once."""
    from pvs6_cloud.jobs.monthly import run_monthly_summary
    from pvs6_cloud.jobs.window import parse_month

    def prepare() -> Job:
        month = request.args.get("month") or None
        if month:
            parse_month(month)
        force = request.args.get("force", "") in ("1", "true", "yes")

        def job(runtime: Runtime, site: SiteConfig) -> Any:
            return run_monthly_summary(runtime.sink_for(site), site, runtime.config, runtime.services.clock(), month,
                                       mailer=lambda: runtime.mailer, force=force,
                                       http=runtime.services.weather_http)

        return job

    return _run("monthly_summary", request, prepare)


@functions_framework.http
def watchdog(request: flask.Request) -> Response:
    """Alert when a site's Pi went silent, or its PVS6 stopped answering; resolve when data returns."""
    from pvs6_cloud.jobs.watchdog import run_watchdog

    def job(runtime: Runtime, site: SiteConfig) -> Any:
        return run_watchdog(runtime.sink_for(site), site, runtime.config.detection, runtime.services.clock(),
                            lambda: runtime.mailer)

    return _run("watchdog", request, lambda: job)


@functions_framework.http
def daily_rollup(request: flask.Request) -> Response:
    """Write the Daily rows of finished days (``?date=YYYY-MM-DD`` re-rolls one day)."""
    from pvs6_cloud.jobs.daily import run_daily_rollup
    from pvs6_cloud.jobs.window import parse_day

    def prepare() -> Job:
        day = request.args.get("date", "")
        days = [parse_day(day)] if day else None

        def job(runtime: Runtime, site: SiteConfig) -> Any:
            return run_daily_rollup(runtime.sink_for(site), site, runtime.services.clock(), days=days,
                                    weather=runtime.config.weather, http=runtime.services.weather_http)

        return job

    return _run("daily_rollup", request, prepare)
