"""HTTPS to the PVS6 without certificate checks, and without loading the system's CA bundle on every request.

The varserver presents a self-signed certificate, so verification is off for the PVS6 (and only for it). With
``verify=False`` alone, urllib3 still builds a fresh TLS context per connection and loads every system CA
certificate into it: about 0.1 s of CPU per request on a desktop, several times that on a Pi Zero, for
certificates it then never checks. One prepared context, mounted on the PVS6's own address, does the same job
once.
"""

from __future__ import annotations

import ssl
from typing import Any

from requests.adapters import HTTPAdapter

__all__ = ["mount_unverified"]


class _UnverifiedTlsAdapter(HTTPAdapter):
    """An adapter whose pools share one TLS client context that checks no certificate and loads none."""

    def __init__(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def mount_unverified(session: Any, base_url: str) -> None:
    """Make ``session`` reach ``base_url`` (an ``https://host[:port]`` address) with the unverified context.

    Parameters
    ----------
    session : requests.Session
        The run's session; other hosts (the cloud) keep full verification.
    base_url : str
        The PVS6's HTTPS address, without a trailing slash.
    """
    mount = getattr(session, "mount", None)
    if callable(mount):
        mount(base_url.rstrip("/") + "/", _UnverifiedTlsAdapter())
