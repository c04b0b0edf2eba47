"""Cloud Run needs JSON lines with a severity, or the ERROR alert policy never fires."""

from __future__ import annotations

import json
import logging

from pvs6_cloud.infra.logsetup import CloudRunFormatter, configure_logging


def test_records_become_json_with_severity():
    record = logging.LogRecord("pvs6_cloud.store.health", logging.ERROR, __file__, 1, "site %s: cannot write",
                               ("home",), None)
    entry = json.loads(CloudRunFormatter().format(record))
    assert entry == {"severity": "ERROR", "message": "site home: cannot write", "logger": "pvs6_cloud.store.health"}


def test_configure_uses_json_only_in_cloud_run(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        root.handlers.clear()
        configure_logging({"K_SERVICE": "pvs6-ingest"})
        assert isinstance(root.handlers[0].formatter, CloudRunFormatter)
        root.handlers.clear()
        configure_logging({})
        assert not isinstance(root.handlers[0].formatter, CloudRunFormatter)
        configure_logging({"K_SERVICE": "x"})  # a host that configured logging keeps its handlers
        assert len(root.handlers) == 1
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
