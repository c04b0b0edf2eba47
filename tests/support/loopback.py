"""The loopback stack the end-to-end test and the demo share: the cloud function served for real (functions-framework's
app on a loopback port, in a thread) and one simulated clock for the simulator, the edge and the function."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from functions_framework import create_app
from werkzeug.serving import make_server

from pvs6_cloud.runtime import Runtime, set_runtime

MAIN = Path(__file__).resolve().parents[2] / "cloud" / "main.py"


class SimulatedClock:
    """One wall clock for the edge (``time``/``monotonic``, unix seconds) and the function (``now``).

    Sharing it is what lets a simulated day pass in seconds while every signature timestamp, poll interval and
    capture time stays consistent across the three programs.
    """

    def __init__(self, start: datetime) -> None:
        self.at = start

    def time(self) -> float:
        return self.at.timestamp()

    def monotonic(self) -> float:
        return self.at.timestamp()

    def now(self) -> datetime:
        return self.at


def _dated(app: Any, clock: Callable[[], datetime]) -> Any:
    """The app answering with a ``Date`` header from ``clock``, as Cloud Run's front end dates it by real time.

    The edge judges its own clock by that header: on a simulated day both must read the same clock, or the Pi
    would be told its clock is off by the months between the simulated day and today.
    """
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            dated = [(k, v) for k, v in headers if k.lower() != "date"]
            dated.append(("Date", format_datetime(clock().astimezone(UTC), usegmt=True)))
            return start_response(status, dated, exc_info)
        return app(environ, start)
    return wsgi


@contextmanager
def serve_function(runtime: Runtime, target: str = "ingest") -> Iterator[str]:
    """Serve ``target`` from ``cloud/main.py`` with ``runtime``; yields the base URL (``http://127.0.0.1:N/``)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the story
    set_runtime(runtime)
    app = create_app(target=target, source=str(MAIN), signature_type="http")
    server = make_server("127.0.0.1", 0, _dated(app, runtime.services.clock), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"function-{target}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        set_runtime(None)
