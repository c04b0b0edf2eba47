"""The edge's side of a fault test: its TOML config, an injectable clock, and both loopback servers at once.

`write_config` writes a small valid edge config (``[pvs]``, ``[cloud]``, ``[storage]``, with the key names of
ARCHITECTURE.md, "Configuration") pointing at the loopback servers, with `SECRET` as the upload secret, and lets a
test change or drop any key. `FakeClock` separates wall time, which a test sets to skew the Pi's clock, from
monotonic time, which keeps following real time so the edge's deadlines still end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.edge_servers.ingest import FakeIngest
from tests.support.edge_servers.pvs import FakePvs


class FakeClock:
    """An injectable clock: ``time()`` is settable wall time, ``monotonic()`` follows real time (for deadlines)."""

    def __init__(self, start: float = 1_757_711_475.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        self.now += seconds


SECRET = "0123456789abcdef-test-secret"


def write_config(folder: Any, pvs_url: str, cloud_url: str, **extra: Any) -> Any:
    """Write an edge TOML into ``folder`` (a pathlib.Path); ``extra`` maps "section.key" to a TOML literal."""
    sections: dict[str, dict[str, str]] = {
        "pvs": {"url": json.dumps(pvs_url), "timeout_s": "2", "min_interval_s": "60"},
        "cloud": {"url": json.dumps(cloud_url), "site": '"home"', "secret": json.dumps(SECRET),
                  "timeout_s": "2", "backoff_base_s": "300"},
        "storage": {"dir": '"data"'},
    }
    for dotted, literal in extra.items():
        section, key = dotted.split(".", 1)
        if literal is None:
            sections[section].pop(key, None)
        else:
            sections.setdefault(section, {})[key] = literal
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {v}" for k, v in keys.items()) + "\n"
                     for name, keys in sections.items())
    path = folder / "edge.toml"
    path.write_text(text)
    return path


@contextmanager
def pvs_and_ingest(site: str, secret: str, clock: Any = time.time) -> Iterator[tuple[FakePvs, FakeIngest]]:
    """Both servers at once."""
    with FakePvs() as pvs, FakeIngest(site, secret, clock) as ingest:
        yield pvs, ingest
