"""The spool item envelope: the upload contract's snapshot object with the raw PVS6 bytes spliced in unchanged.

``{"captured_at":"2025-09-12T21:11:15Z","source":"dl_cgi","sha256":"<hex of raw>","payload":<raw>}`` + newline.
Re-hashing the payload on read detects a torn or altered file without parsing the (large) payload.
"""

from __future__ import annotations

import hashlib
import json

from pvs6_edge.clock import iso_utc
from pvs6_edge.errors import SpoolCorrupt

__all__ = ["decode_item", "encode_item"]


def encode_item(raw: bytes, source: str, captured_ts: float) -> bytes:
    """Wrap raw PVS6 bytes in the snapshot envelope (the bytes are kept exactly; captured_ts in [unix s])."""
    return _prefix(iso_utc(captured_ts), source, hashlib.sha256(raw).hexdigest()) + raw + b"}\n"


def decode_item(data: bytes) -> tuple[dict[str, str], bytes]:
    """Check an envelope and return its metadata and the exact snapshot object bytes.

    Raises
    ------
    SpoolCorrupt
        The envelope is torn, altered, or its payload does not match its sha256.
    """
    cut = data.find(b',"payload":')
    if cut < 0 or not data.endswith(b"}\n"):
        raise SpoolCorrupt("envelope incomplete (torn write?)")
    try:
        meta = json.loads(data[:cut] + b"}")
        prefix = _prefix(meta["captured_at"], meta["source"], meta["sha256"])
    except (ValueError, KeyError, TypeError) as err:
        raise SpoolCorrupt(f"envelope header unreadable: {err}") from err
    if not data.startswith(prefix):
        raise SpoolCorrupt("envelope header not in canonical form")
    raw = data[len(prefix):-2]
    if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
        raise SpoolCorrupt("payload does not match its sha256 (torn or altered)")
    return meta, data[:-1]


def _prefix(captured_at: str, source: str, sha256: str) -> bytes:
    head = json.dumps({"captured_at": captured_at, "source": source, "sha256": sha256}, separators=(",", ":"))
    return head[:-1].encode("utf-8") + b',"payload":'
