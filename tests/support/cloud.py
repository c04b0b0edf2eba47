"""Helpers to build cloud configs and signed uploads in tests, exactly as the upload contract describes."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pvs6_cloud.infra.config import CloudConfig, parse_config
from pvs6_cloud.intake.contract import sign

SECRET = "test-secret-not-real"


def local_config(tmp: Path, *, site: str = "home", extra: Mapping[str, Any] | None = None) -> CloudConfig:
    """A one-site config writing CSVs and .eml files under ``tmp``; weather off unless ``extra`` says otherwise."""
    data: dict[str, Any] = {
        "sites": {
            site: {
                "secret": SECRET,
                "latitude": 41.76,
                "longitude": -72.68,
                "timezone": "America/New_York",
                "local_dir": str(tmp / "sheet"),
                "mail_to": ["owner@example.com"],
            }
        },
        "mail": {"outbox_dir": str(tmp / "outbox")},
        "weather": {"enabled": False},
    }
    for key, value in (extra or {}).items():
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data, env={}, base_dir=tmp)


def cloud_toml(*, mail: str = 'outbox_dir = "outbox"', weather: str = "enabled = false", site_lines: str = "",
               more: str = "") -> str:
    """The text of a one-site cloud.toml like :func:`local_config` (paths relative to the file), for the CLI or a
    served function; ``mail`` and ``weather`` are those sections' lines, ``site_lines`` extra ``[sites.home]``
    lines, ``more`` whole further sections."""
    site = "\n".join(line for line in (
        f'secret = "{SECRET}"', "latitude = 41.76", "longitude = -72.68", 'timezone = "America/New_York"',
        'local_dir = "sheet"', 'mail_to = ["owner@example.com"]', site_lines) if line)
    return f"[sites.home]\n{site}\n\n[mail]\n{mail}\n\n[weather]\n{weather}\n" + (f"\n{more}\n" if more else "")


def snapshot_item(payload: Mapping[str, Any], captured_at: datetime, source: str = "dl_cgi") -> dict[str, Any]:
    """One envelope item; the sha256 is over the payload's bytes as :func:`signed` writes them into the body.

    The edge splices the PVS6's raw bytes in unchanged; here the payload is a dict, so its bytes are what
    ``json.dumps`` (default separators, as ``signed`` uses) makes of it inside the body.
    """
    raw = json.dumps(payload).encode()
    return {
        "captured_at": captured_at.isoformat(),
        "source": source,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "payload": payload,
    }


def envelope(items: Sequence[Mapping[str, Any]], *, site: str = "home", status: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """The upload body before compression."""
    return {"schema": 1, "site": site, "edge": {"version": "test", "status": dict(status or {})},
            "snapshots": list(items)}


def signed(body_obj: Any, *, site: str = "home", secret: str = SECRET, timestamp: int | None = None,
           raw: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    """Gzip and sign a body; returns (bytes, headers) ready to POST."""
    body = raw if raw is not None else gzip.compress(json.dumps(body_obj).encode())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-Sentinel-Site": site,
        "X-Sentinel-Timestamp": stamp,
        "X-Sentinel-Signature": sign(secret, stamp, body),
    }
    return body, headers
