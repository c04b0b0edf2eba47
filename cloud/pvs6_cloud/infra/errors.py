"""One exception family for the cloud side, each subclass naming what the caller should do about it.

The HTTP entry points map these to status codes: the edge retries on 5xx and quarantines on 4xx, so choosing
the right class here decides whether a reading is retried or set aside.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ConfigError",
    "PayloadTooLarge",
    "SentinelError",
    "SinkUnavailable",
    "TransientError",
    "Unauthorized",
]


class SentinelError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(SentinelError, ValueError):
    """The configuration is wrong: fix the named key, retrying will not help."""


class Unauthorized(SentinelError):
    """Signature, timestamp or site unknown: refuse with 401 and write nothing."""


class BadRequest(SentinelError, ValueError):
    """The request breaks the upload contract: 400; the edge quarantines the item."""


class PayloadTooLarge(BadRequest):
    """Over the compressed or decompressed size limit (gzip bombs land here): 413."""


class TransientError(SentinelError):
    """Something outside us failed for now (Sheets 429/5xx, SMTP down): answer 5xx so the edge retries."""


class SinkUnavailable(TransientError):
    """The sheet (or local folder) could not be written; nothing was acknowledged."""
