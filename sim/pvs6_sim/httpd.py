"""The threaded loopback HTTP server under the simulator and the tests' fake PVS6 and ingest.

Plain HTTP and, when given a ``tls_context``, HTTPS on the same port (see :func:`~pvs6_sim.tls.tls_or_plain`):
a real PVS6 answers ``http://`` on port 80 and ``https://`` on 443. Clients that drop mid-request or refuse a
self-signed certificate are normal here, so their errors are logged at DEBUG, not printed as tracebacks.
"""

from __future__ import annotations

import logging
import ssl
import sys
from http.server import ThreadingHTTPServer
from typing import Any

from .tls import tls_or_plain

__all__ = ["PlainOrTlsServer"]

LOGGER = logging.getLogger(__name__)


class PlainOrTlsServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` whose request threads never hold up shutdown, speaking HTTP or HTTPS per client.

    Attributes
    ----------
    tls_context : ssl.SSLContext or None
        Set it to also answer HTTPS on the same port; None serves plain HTTP only.
    """

    daemon_threads = True
    block_on_close = False
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve plain HTTP and HTTPS on the same port."""
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            conn = tls_or_plain(request, self.tls_context)
        except (ssl.SSLError, OSError) as err:
            LOGGER.debug("TLS handshake from %s failed: %r", client_address, err)
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        err = sys.exc_info()[1]
        LOGGER.debug("request from %s failed: %r", client_address, err)
