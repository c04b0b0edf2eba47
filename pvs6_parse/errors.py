"""The one error the parser raises on purpose."""

from __future__ import annotations

__all__ = ["ParseError"]


class ParseError(ValueError):
    """The payload is not a PVS6 response at all (not a DeviceList, not a varserver dump, or a failed command).

    Everything short of that (odd, missing or unparsable fields) is never an error: it becomes ``None`` and a
    note in ``Snapshot.warnings``. The ingest entry point answers this with a 4xx so the edge quarantines the
    item instead of retrying it forever.
    """
