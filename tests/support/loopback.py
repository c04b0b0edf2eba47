"""The loopback stack the end-to-end test and the demo share: the cloud function served for real (functions-framework's
app on a loopback port, in a thread) and one simulated clock for the simulator, the edge and the function."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

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


@contextmanager
def serve_function(runtime: Runtime, target: str = "ingest") -> Iterator[str]:
    """Serve ``target`` from ``cloud/main.py`` with ``runtime``; yields the base URL (``http://127.0.0.1:N/``)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the story
    set_runtime(runtime)
    app = create_app(target=target, source=str(MAIN), signature_type="http")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"function-{target}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        set_runtime(None)
