"""The cloud function served for real: functions-framework's app on a loopback port, in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from functions_framework import create_app
from werkzeug.serving import make_server

from pvs6_cloud.runtime import Runtime, set_runtime

MAIN = Path(__file__).resolve().parents[2] / "cloud" / "main.py"


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
