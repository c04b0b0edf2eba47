"""Raw PVS6 JSON -> the normalized :class:`~pvs6_parse.models.Snapshot`, whichever API it came from.

One entry point, :func:`parse_payload`, dispatches on the upload envelope's ``source``: ``dl_cgi``
(:mod:`.dl_cgi`, the legacy DeviceList) or ``varserver`` (:mod:`.varserver`, ``/vars`` on new firmware). Each
module holds its source's one wire-name map. Parsing is pure (no clock, network or disk) and forgiving: only a
payload that is not a PVS6 response at all raises :class:`ParseError`; every odd field becomes ``None`` plus a
note in ``Snapshot.warnings``, and unknown fields are ignored (they stay in the raw archive).

This package is shared by the Pi (``pvs6_edge``, for the owner's own CSV history) and the cloud (``pvs6_cloud``),
so the same answer can never be read two ways; it therefore imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .dl_cgi import parse_device_list
from .errors import ParseError
from .models import Snapshot
from .varserver import parse_vars

__all__ = ["SOURCES", "ParseError", "parse_payload"]

SOURCES = ("dl_cgi", "varserver")


def parse_payload(
    payload: Mapping[str, Any], *, source: str, site: str, captured_at: datetime, sha256: str = ""
) -> Snapshot:
    """Normalize one raw PVS6 response.

    Parameters
    ----------
    payload : Mapping
        The decoded JSON the edge captured (``payload`` in the upload envelope).
    source : str
        ``"dl_cgi"`` or ``"varserver"``, as the envelope says.
    site : str
        Site id; copied to ``Snapshot.site``.
    captured_at : datetime
        When the edge asked the PVS6 [UTC]. A naive value is taken as UTC; an aware one is converted to UTC.
    sha256 : str, default ""
        Hex digest of the raw bytes; copied to ``Snapshot.sha256``.

    Returns
    -------
    Snapshot
        Devices as the PVS6 reported them; inverters sorted by serial; notes in ``warnings``.

    Raises
    ------
    ParseError
        When ``source`` is unknown or the payload is not a PVS6 response of that kind (not an object, no
        ``devices`` list, no ``/sys/...`` variables, or ``result`` other than succeed/success).
    """
    aware = captured_at.replace(tzinfo=UTC) if captured_at.tzinfo is None else captured_at
    captured_at = aware.astimezone(UTC)
    if source == "dl_cgi":
        return parse_device_list(payload, site=site, captured_at=captured_at, sha256=sha256)
    if source == "varserver":
        return parse_vars(payload, site=site, captured_at=captured_at, sha256=sha256)
    raise ParseError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")
