"""The one small interface every destination of rows implements (local CSV folder, Google Sheet).

The pipeline never knows which sink it talks to. A commit is all-or-nothing: rows, replaced tabs and the state
that remembers them land together, or the sink raises `SinkUnavailable` and nothing counts as written, so the
edge simply sends the batch again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pvs6_cloud.store.layout import Cell
from pvs6_cloud.store.state import SiteState

__all__ = ["Panels", "Record", "SheetWrite", "Sink"]

Record = Mapping[str, Cell]
# (serial, label) of each inverter, in column order; the label is what a person reads in the header.
Panels = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SheetWrite:
    """Everything one ingest (or job) writes, committed at once.

    Attributes
    ----------
    append : tab name -> rows to add at the end (Readings).
    replace : tab name -> the complete new content of a small tab (Devices, Alerts), header excluded.
    upsert : tab name -> (key column, rows): replace the row whose key matches, else append (Daily, Monthly).
    panels : the panel columns of dynamic tabs after this write; a sink rewrites their header when it grew.
    state : the site's memory after this write; stored last, in the same commit.
    """

    state: SiteState
    panels: Panels = ()
    append: Mapping[str, Sequence[Record]] = field(default_factory=dict)
    replace: Mapping[str, Sequence[Record]] = field(default_factory=dict)
    upsert: Mapping[str, tuple[str, Sequence[Record]]] = field(default_factory=dict)


class Sink(Protocol):
    """A site's spreadsheet: the user's history and the function's memory."""

    def ensure_layout(self, panels: Panels = ()) -> None:
        """Create missing tabs, headers and formats; repair what drifted. Safe to call any time."""

    def load_state(self) -> SiteState:
        """The site's memory, after undoing any commit that was cut off half-way."""

    def commit(self, write: SheetWrite) -> None:
        """Write everything in ``write`` atomically, or raise `SinkUnavailable` having written nothing."""

    def read_records(self, tab: str, panels: Panels = (), start_row: int = 0) -> list[dict[str, Cell]]:
        """Rows of a tab as dicts keyed by column key, from data row ``start_row`` (0 = first under the header)."""

    def stored_ids(self, state: SiteState, since: datetime, until: datetime) -> set[str]:
        """Reading ids (the Readings ``snapshot_id`` cells) stored for times around ``since``..``until``.

        Asked only for snapshots older than the ids the state remembers (a replayed archive, a restored spool),
        so it may read a lot; it must cover every place a reading of those times can be (archives included).
        """
