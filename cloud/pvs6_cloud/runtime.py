"""The function's long-lived pieces, built on first use and reused across invocations (cold-start friendly).

Nothing is built at import: the config is read, and the Google and mail clients are made, only when the first
request needs them, so importing the function needs no credentials and no network.

A Pi's upload secret that came from a file (deploy.sh mounts it from Secret Manager, where every read fetches
the latest version) is read again when the copy in memory is older than `SECRET_TTL_S`: a rotated secret is in
force within a minute, with no redeploy and no restart. Environment variables are fixed when an instance starts,
which is why deploy.sh does not hand the Pi's secret over as one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pvs6_cloud.infra.config import NO_UPLOAD_SECRETS_ENV, CloudConfig, SiteConfig, load_config, read_secret_file
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.infra.logsetup import configure_logging
from pvs6_cloud.intake.contract import now_utc
from pvs6_cloud.intake.pipeline import Services
from pvs6_cloud.store import Sink, open_sink

__all__ = ["SECRET_TTL_S", "Runtime", "get_runtime", "set_runtime"]

log = logging.getLogger(__name__)

SECRET_TTL_S = 60.0  # a file-backed secret is read again after this long [s]


class Runtime:
    """Config plus services, shared by every entry point of one process."""

    def __init__(self, config: CloudConfig, *, clock: Callable[[], datetime] = now_utc,
                 sink_for: Callable[[SiteConfig], Sink] | None = None, mailer: Any = None,
                 weather_http: Any = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._monotonic = monotonic
        self._secrets: dict[str, tuple[float, str]] = {}  # site id -> (read at, value), file-backed secrets only
        self._secret_lock = threading.Lock()
        self._sinks: dict[str, Sink] = {}
        self._sink_factory = sink_for or (lambda site: open_sink(site, config))
        self._mailer = mailer
        self.services = Services(sink_for=self.sink_for, clock=clock, weather_http=weather_http,
                                 mailer=lambda: self.mailer)

    def sink_for(self, site: SiteConfig) -> Sink:
        """One sink per site, reused."""
        if site.site_id not in self._sinks:
            self._sinks[site.site_id] = self._sink_factory(site)
        return self._sinks[site.site_id]

    @property
    def mailer(self) -> Any:
        """The mail transport for this config (SMTP or outbox folder), made on first use."""
        if self._mailer is None:
            from pvs6_cloud.alerting.notify.transport import transport_from_config

            self._mailer = transport_from_config(self.config.mail)
        return self._mailer

    def secret_for(self, site_id: str) -> str | None:
        """The upload secret of a configured site (None for strangers), read again from its file when stale.

        A site without one (a scheduled function started with ``PVS6_NO_UPLOAD_SECRETS=1``) is a configuration
        error, never an empty key: anyone can sign with an empty key. The Pi retries a 500, so nothing is lost.
        A file that cannot be read (Secret Manager briefly unreachable) keeps the last value in force.
        """
        site = self.config.sites.get(site_id)
        if site is None:
            return None
        if site.secret_file is None:
            if not site.secret:
                raise ConfigError(f"this function was started without the upload secret of site {site_id!r} "
                                  f"({NO_UPLOAD_SECRETS_ENV}=1 is meant for the scheduled functions only)")
            return site.secret
        now = self._monotonic()
        with self._secret_lock:
            read_at, value = self._secrets.get(site_id, (float("-inf"), site.secret))
            if now - read_at < SECRET_TTL_S:
                return value
            try:
                fresh = read_secret_file(site.secret_file)
            except OSError as err:
                log.warning("cannot read the upload secret of site %s from %s (%s); using the one read before",
                            site_id, site.secret_file, err.strerror)
                fresh = ""
            if fresh and fresh != value:
                log.info("site %s: a new upload secret is in force", site_id)
            self._secrets[site_id] = (now, fresh or value)
            return fresh or value


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process-wide runtime, loading the config named by ``$PVS6_CLOUD_CONFIG`` on first call.

    This is the deployed function's start-up, so it is also where logging gets its handler and where the
    environment is read (the config file's name, and whether this is Cloud Run).
    """
    global _runtime
    with _lock:
        if _runtime is None:
            configure_logging(os.environ)
            _runtime = Runtime(load_config())
        return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests, the CLI) or drop it so the next call reloads the config."""
    global _runtime
    with _lock:
        _runtime = runtime
