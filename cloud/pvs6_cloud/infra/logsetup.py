"""Logging for the function process: readable lines locally, structured JSON lines in Cloud Run.

Cloud Run reads one JSON object per line on stdout/stderr and takes its ``severity`` field as the entry's level;
plain text gets no severity at all, and then the log-based alert policy ``deploy.sh`` creates (severity >=
ERROR) would never fire. So in Cloud Run (``K_SERVICE`` is set) each record becomes ``{"severity", "message",
"logger"}``; elsewhere the usual one-line format is used. Only entry points call this: the package itself never
configures logging.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping

__all__ = ["CloudRunFormatter", "configure_logging"]


class CloudRunFormatter(logging.Formatter):
    """One JSON object per record, with the severity names Cloud Logging understands."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": "WARNING" if record.levelname == "WARN" else record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(environ: Mapping[str, str]) -> None:
    """Attach one handler to the root logger unless the host already did (e.g. the CLI or pytest)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout if "K_SERVICE" in environ else sys.stderr)
    if "K_SERVICE" in environ:
        handler.setFormatter(CloudRunFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
