"""The HTTP entry points, as functions-framework sees them. Each only checks the door and delegates.

``cloud/main.py`` re-exports these, so the folder deploys as a Cloud Function as it is, and ``pvs6-cloud serve``
runs the very same functions locally.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import functions_framework

from pvs6_cloud.infra.errors import (
    BadRequest,
    ConfigError,
    PayloadTooLarge,
    SentinelError,
    TransientError,
    Unauthorized,
)
from pvs6_cloud.intake.contract import MAX_COMPRESSED_BYTES, decode_body, verify_signature
from pvs6_cloud.intake.pipeline import ingest_batch
from pvs6_cloud.runtime import get_runtime

__all__ = ["ingest"]

log = logging.getLogger(__name__)

Response = tuple[dict[str, Any], int, dict[str, str]]
_JSON = {"Content-Type": "application/json"}


def _error(status: int, message: str, extra: dict[str, str] | None = None) -> Response:
    return {"error": message}, status, {**_JSON, **(extra or {})}


def _read_body(request: flask.Request) -> bytes:
    """The raw body, refusing more than the contract allows without reading it all."""
    length = request.content_length
    if length is not None and length > MAX_COMPRESSED_BYTES:
        raise PayloadTooLarge("body is over 1 MiB compressed")
    body = request.stream.read(MAX_COMPRESSED_BYTES + 1)
    if len(body) > MAX_COMPRESSED_BYTES:
        raise PayloadTooLarge("body is over 1 MiB compressed")
    return body


def handle_errors(action: str, func: Any) -> Response:
    """Map our exception family onto HTTP: the edge retries 5xx and quarantines 4xx."""
    try:
        return func()
    except Unauthorized as err:
        log.warning("%s refused: %s", action, err)
        return _error(401, str(err))
    except PayloadTooLarge as err:
        log.warning("%s refused: %s", action, err)
        return _error(413, str(err))
    except BadRequest as err:
        log.warning("%s refused: %s", action, err)
        return _error(400, str(err))
    except TransientError as err:
        # Logged at ERROR once per outage where it is noticed (sheet, mail, weather), not on every retry.
        log.warning("%s failed for now, the caller will retry: %s", action, err)
        return _error(503, str(err), {"Retry-After": "120"})
    except ConfigError as err:
        log.error("%s cannot run, configuration error: %s", action, err)
        return _error(500, "server configuration error")
    except SentinelError as err:
        log.error("%s failed: %s", action, err)
        return _error(500, str(err))


@functions_framework.http
def ingest(request: flask.Request) -> Response:
    """Receive a batch from a Pi: verify, store exactly once, alert; answer which snapshots are safe."""
    if request.method != "POST":
        return _error(405, "use POST", {"Allow": "POST"})

    def run() -> Response:
        runtime = get_runtime()
        body = _read_body(request)
        now = runtime.services.clock()
        site = verify_signature(request.headers, body, runtime.secret_for, now)
        batch = decode_body(body, request.headers.get("Content-Encoding", ""), site, now)
        result = ingest_batch(batch, runtime.config, runtime.services)
        return result.to_json(), 200, _JSON

    return handle_errors("ingest", run)
