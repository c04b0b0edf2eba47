"""One exception family for the edge, named by the action a caller should take.

Callers catch :class:`EdgeError` (or one subclass) and keep the cause: library errors are always re-raised
``from err`` so a log line shows what really happened (a timeout, a refused connection, a bad gzip CRC).
"""

from __future__ import annotations

import errno

__all__ = [
    "CloudError",
    "CloudRejected",
    "CloudRetryLater",
    "ConfigError",
    "EdgeError",
    "PvsAuthError",
    "PvsBadResponse",
    "PvsError",
    "PvsLoginDemanded",
    "PvsRefusing",
    "PvsUnavailable",
    "PvsWrongApi",
    "SpoolCorrupt",
    "StorageError",
]


class EdgeError(Exception):
    """Root of every error the edge raises on purpose."""


class ConfigError(EdgeError, ValueError):
    """The configuration is missing or wrong: fix the file, retrying will not help."""


class StorageError(EdgeError, OSError):
    """The storage folder cannot be written (disk full, read-only SD card, permissions)."""

    @property
    def disk_full(self) -> bool:
        """The file system had no room left (the OSError this was raised from says ENOSPC or EDQUOT)."""
        cause = self.__cause__
        return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)


class SpoolCorrupt(EdgeError):
    """A spool file is torn or altered: quarantine it, never upload it."""


class PvsError(EdgeError):
    """The PVS6 did not give us a usable answer this time: record it and try at the next poll."""


class PvsUnavailable(PvsError, ConnectionError):
    """Timeout, refused connection, 5xx or busy: the PVS6 is rebooting, busy or unplugged."""


class PvsBadResponse(PvsError):
    """The PVS6 answered, but not with a whole JSON document (truncated body, garbage, too large)."""


class PvsAuthError(PvsError):
    """The varserver login failed: check ``pvs.serial_last5`` (the last 5 characters of the serial)."""


class PvsWrongApi(PvsError):
    """This API style is not served by this firmware (404, or login demanded on dl_cgi): detect again."""


class PvsLoginDemanded(PvsWrongApi):
    """dl_cgi answered 401/403: new firmware that wants the varserver, or old firmware's passing fit."""


class PvsRefusing(PvsUnavailable):
    """Old firmware refuses dl_cgi (403 Unauthorized) although it has no varserver: a fit, not a new firmware.

    Keep asking dl_cgi at the next poll; one that lasts is cured by power-cycling the PVS6.
    """


class CloudError(EdgeError):
    """The upload did not complete."""


class CloudRetryLater(CloudError):
    """5xx, 429, timeout or connection error: keep everything and back off.

    Parameters
    ----------
    message : str
        What happened, for the log and the status.
    retry_after_s : float or None
        The server's Retry-After, when it sent one [s].
    status : int or None
        The HTTP status when the cloud answered one (None: timeout, connection error).
    """

    def __init__(self, message: str, retry_after_s: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status

    @property
    def server_fault(self) -> bool:
        """The cloud answered 5xx: it may be one reading it cannot handle, not an outage."""
        return self.status is not None and self.status >= 500


class CloudRejected(CloudError):
    """The cloud refused the batch with a 4xx: one of its items is bad and must be quarantined.

    Parameters
    ----------
    message : str
        What happened, including the server's own message.
    status : int
        The HTTP status code.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
