"""A loopback port nothing listens on: for a server a test starts later, or for "the service is down"."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A port on 127.0.0.1 the OS just handed out and took back: free now, and refusing connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
