"""Test helpers around the PVS6 simulator: a fake real-time source and a logged-in varserver session."""

from __future__ import annotations

import requests

from pvs6_sim.server import SimServer


class FakeMonotonic:
    """A hand-driven replacement for `time.monotonic` (session expiry without sleeping)."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Move real time forward by `seconds` [s]."""
        self.now_s += seconds


def varserver_login(server: SimServer, timeout_s: float = 5.0) -> requests.Session:
    """Open a requests Session logged in to the simulator's varserver (cookie `session` set)."""
    session = requests.Session()
    reply = session.get(f"{server.url}/auth?login", auth=("ssm_owner", server.sim.identity.password),
                        timeout=timeout_s, verify=False)
    reply.raise_for_status()
    return session


__all__ = ["FakeMonotonic", "varserver_login"]
