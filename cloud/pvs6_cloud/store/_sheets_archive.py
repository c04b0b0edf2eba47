"""Moving finished years of Readings out of the Readings tab, without losing or doubling a row.

Each year's destination is chosen once and recorded in ``_state`` (section ``sheets.archives``, one entry per
year: the tab, and the spreadsheet id when it is not the site's own):

1. A tab ``Readings <year>`` of the site's own spreadsheet, while that spreadsheet stays under the sink's cell
   budget with room left for another year of Readings. The owner sees it like every other tab, and the whole
   move (add the tab, copy the rows, delete them from Readings, store the state) is ONE atomic batchUpdate.
2. Else a tab ``Readings <year>`` of an archive spreadsheet (once a year went there, later years follow): the
   one holding the latest archived year while it has room, else the next one the owner created and listed
   (``archive_spreadsheet_ids``), else a new one the function creates and shares with the site's owners (Drive
   ``permissions.create``) before anything is copied into it. When Google refuses to create it (a service
   account without Drive storage), the error says what the owner must do; Readings is left as it was.

Copying between two spreadsheets cannot be one transaction, so case 2 is made of steps that are each safe to
repeat: (a) a created archive's id is stored in ``_state`` at once, so a retry never makes a second one; (b) the
rows the archive lacks (matched by reading id, else by the whole row) are appended to it; (c) the main
spreadsheet's batchUpdate deletes them from Readings and stores the state. A failure after (b) leaves the rows in
both places; the next run finds them in the archive and only deletes them. See docs/capacity.md for the numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store._sheets_book import READINGS, SECTION, SheetsBook
from pvs6_cloud.store._sheets_cells import a1, quote_title, raw_cell_data, serial_to_datetime, to_serial
from pvs6_cloud.store._sheets_layout import SheetInfo, format_requests, header_request, new_tab_requests
from pvs6_cloud.store.layout import Column
from pvs6_cloud.store.state import SiteState

__all__ = ["ArchiveMover", "book_cells", "year_tab"]

log = logging.getLogger(__name__)


def year_tab(year: int) -> str:
    """The title of a year's archive tab (the same in the main and in an archive spreadsheet)."""
    return f"{READINGS} {year}"


def book_cells(meta: Mapping[str, SheetInfo]) -> int:
    """Grid cells of a spreadsheet (every tab's rows x columns, empty or not: what Google's limit counts)."""
    return sum(info.rows * info.columns for info in meta.values())


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``[start, end)`` of sorted indexes, last run first (so deleting keeps indexes valid)."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs[::-1]


class ArchiveMover:
    """One rotation of a spreadsheet's Readings tab.

    It works on the `SheetsBook` floor of the sink (calls, tabs, the stored state, the archive settings), never
    on the sink itself, so the sink can use the mover without the two modules importing each other.
    """

    def __init__(self, sink: SheetsBook) -> None:
        self.sink = sink
        self.tab = sink.layout.tab(READINGS)

    # -- the move ------------------------------------------------------------------------------------------------
    def rotate(self, state: SiteState, before: datetime, *, out: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Archive rows older than ``before``; return (main-sheet requests doing the move, rows moved).

        ``out`` (the safety valve) sends years without a recorded destination to an archive spreadsheet, since a
        new tab of the main spreadsheet would free no cells.

        Rows bound for other spreadsheets are copied there first. ``state`` is updated (archives, Readings row
        count, oldest reading); the caller stores it together with the returned requests in one batchUpdate.

        Raises
        ------
        SinkUnavailable
            A spreadsheet could not be read, written, created or shared; Readings is unchanged (rows already
            copied to an archive are found there, not copied again, next time).
        """
        sink = self.sink
        section = state.section(SECTION)
        cut = to_serial(before, sink.tz)
        oldest = section.get("readings_oldest")
        if (oldest is not None and oldest >= cut) or READINGS not in sink.metadata():
            return [], 0
        rows = sink.values([a1(READINGS, 1)], "read Readings for the archive")[0]
        header, data = (rows[0], rows[1:]) if rows else ([], [])
        titles = [str(t) for t in header]
        time_i = titles.index(self.tab.columns[0].title) if self.tab.columns[0].title in titles else 0
        id_title = next((c.title for c in self.tab.columns if c.key == "snapshot_id"), None)
        id_i = titles.index(id_title) if id_title in titles else None
        by_year: dict[int, list[list[Any]]] = {}
        moving: list[int] = []
        remaining_oldest: float | None = None
        for i, row in enumerate(data):
            stamp = row[time_i] if len(row) > time_i else ""
            if not isinstance(stamp, int | float) or isinstance(stamp, bool):
                continue
            if stamp < cut:
                by_year.setdefault(serial_to_datetime(stamp, sink.tz).year, []).append(row)
                moving.append(i)
            else:
                remaining_oldest = stamp if remaining_oldest is None else min(remaining_oldest, stamp)
        section["readings_oldest"] = remaining_oldest
        state.row_counts[READINGS] = len(data) - len(moving)
        if not moving:
            return [], 0
        # Grid sizes for the budget and the year tabs already there; a copy, as this rotation adds tabs to it.
        meta = {title: replace(info) for title, info in sink.metadata(refresh=True).items()}
        main = _MainBook(meta, book_cells(meta), max(i.sheet_id for i in meta.values()) + 1)
        requests: list[dict[str, Any]] = []
        for year, year_rows in sorted(by_year.items()):
            entry = self._destination(state, year, titles, len(year_rows), main, out=out)
            if entry.get("id"):
                self._copy_out(state, year, entry, titles, year_rows, id_i)
            else:
                requests.extend(self._copy_in(entry, titles, year_rows, main))
        sheet_id = meta[READINGS].sheet_id
        requests.extend({"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS",
                                                       "startIndex": start + 1, "endIndex": end + 1}}}
                        for start, end in _runs(moving))
        return requests, len(moving)

    @staticmethod
    def _key(row: Sequence[Any], id_i: int | None) -> Any:
        if id_i is not None and len(row) > id_i and row[id_i] not in ("", None):
            return ("id", str(row[id_i]))
        trimmed = list(row)
        while trimmed and trimmed[-1] in ("", None):
            trimmed.pop()
        return ("row", tuple(trimmed))

    def _columns(self, header: Sequence[str]) -> list[Column]:
        fixed = list(self.tab.columns)
        extra = [Column(f"extra:{i}", title, "number", self.tab.dynamic_format)
                 for i, title in enumerate(header[len(fixed):])]
        return fixed + extra

    def _new_tab(self, title: str, sheet_id: int, header: Sequence[str], rows: int) -> list[dict[str, Any]]:
        """The requests adding a year tab shaped like Readings, through the layout code bootstrap uses."""
        tab = replace(self.tab, name=title, hidden=False)
        return new_tab_requests(tab, sheet_id, self._columns(header), rows=rows + 1)

    # -- where a year goes ---------------------------------------------------------------------------------------
    def _destination(self, state: SiteState, year: int, header: Sequence[str], rows: int, main: _MainBook, *,
                     out: bool = False) -> dict[str, Any]:
        """The year's archive entry: the recorded one, else a tab of the main sheet if it fits, else elsewhere."""
        sink = self.sink
        archives = state.section(SECTION).setdefault("archives", {})
        entry = archives.get(str(year))
        if entry:
            entry.setdefault("tab", READINGS)  # archives made before yearly tabs existed hold one "Readings" tab
            return entry
        title = year_tab(year)
        cols = len(header)
        if title in main.meta:  # the state was reset, the tab was not
            entry = archives[str(year)] = {"tab": title, "rows": 0}
            return entry
        # Room for another year of Readings must remain, or next year's rows would push the sheet past its budget
        # mid-year. The largest year archived so far (or this one) is the estimate.
        reserve = max([rows, *(int(e.get("rows", 0)) for e in archives.values())]) * cols
        readings_cols = main.meta[READINGS].columns
        after = main.cells + (rows + 1) * cols - rows * readings_cols
        # Once a year went to an archive spreadsheet, later years follow it: the history stays in order (the
        # room Readings frees after a move out is next year's Readings, not space for a tab).
        spilled = any(e.get("id") and int(y) < year for y, e in archives.items())
        if not out and not spilled and after + reserve <= sink.archive_after_cells:
            main.cells = after
            log.info("readings of %d go to the tab %r of the main spreadsheet (%d + %d reserved of %d cells)",
                     year, title, after, reserve, sink.archive_after_cells)
            entry = archives[str(year)] = {"tab": title, "rows": 0}
            return entry
        log.info("the main spreadsheet has no room for the %d readings (%d + %d reserved > %d cells): they go to "
                 "an archive spreadsheet", year, after, reserve, sink.archive_after_cells)
        archive_id = self._archive_book(state, year, header, rows)
        entry = archives[str(year)] = {"id": archive_id, "tab": title, "rows": 0}
        return entry

    def _archive_book(self, state: SiteState, year: int, header: Sequence[str], rows: int) -> str:
        """An archive spreadsheet with room for the year: the latest used, an owner-provided one, or a new one."""
        sink = self.sink
        archives = state.section(SECTION).get("archives", {})
        used = [str(archives[y]["id"]) for y in sorted(archives) if archives[y].get("id")]
        candidates = [*used[-1:], *(i for i in sink.archive_spreadsheet_ids if i not in used)]
        need = (rows + 1) * len(header)
        for archive_id in dict.fromkeys(candidates):
            meta = sink.metadata(spreadsheet_id=archive_id)
            fresh = not any(t == READINGS or t.startswith(READINGS + " ") for t in meta)
            if year_tab(year) in meta or fresh or book_cells(meta) + need <= sink.archive_after_cells:
                return archive_id
            log.info("archive spreadsheet %s is full (%d cells)", archive_id, book_cells(meta))
        return self._create(state, year, header, rows)

    def _create(self, state: SiteState, year: int, header: Sequence[str], rows: int) -> str:
        """Create an archive spreadsheet holding the year's tab; remember it in the stored state at once."""
        sink = self.sink
        title = f"{sink.title} — Readings archive from {year}"
        body = {"properties": {"title": title}, "sheets": [{"properties": {
            "title": year_tab(year), "gridProperties": {"rowCount": rows + 1, "columnCount": len(header),
                                                        "frozenRowCount": 1}}}]}

        def refused(status: int, reason: str) -> SinkUnavailable:
            return SinkUnavailable(self._create_refused(year, f"{status}: {reason}"))

        reply = sink.api.run(lambda s: s.sheets.create(body=body, fields="spreadsheetId"),
                             f"create the archive for {year}", sink.spreadsheet_id, denied=refused)
        archive_id = str(reply["spreadsheetId"])
        book = {"title": title, "created": True, "shared_with": []}
        entry = {"id": archive_id, "tab": year_tab(year), "rows": 0}
        # Remember it before copying anything, so a failure later never makes a second archive.
        stored = sink.load_state()
        stored_section = stored.section(SECTION)
        stored_section.setdefault("archive_books", {})[archive_id] = dict(book)
        stored_section.setdefault("archives", {})[str(year)] = dict(entry)
        sink.commit_state(stored, (), f"remember the archive made for {year}")
        state.section(SECTION).setdefault("archive_books", {})[archive_id] = book
        log.warning("created archive spreadsheet %r (id %s) for the %d readings: the main spreadsheet is full",
                    title, archive_id, year)
        return archive_id

    def _create_refused(self, year: int, why: str) -> str:
        sink = self.sink
        who = sink.api.account or "the function's service account"
        key = f"[sites.{sink.site_id or '<site>'}] archive_spreadsheet_ids"
        return (f"the main spreadsheet {sink.spreadsheet_id} has no room for another year of readings and Google "
                f"refused to create an archive spreadsheet for {year} ({why}); service accounts often have no "
                f"Drive storage of their own. Nothing is lost: the rows stay in Readings and the move is retried "
                f"every night. To fix it, create an empty Google spreadsheet yourself, share it with {who} as "
                f"Editor, and add its id to {key} in the configuration")

    def _share(self, state: SiteState, archive_id: str) -> None:
        """Share a spreadsheet the function created with the site's owners (writers), before rows go into it.

        Rows never move into a file only the service account can see: a sharing failure stops the move.
        """
        sink = self.sink
        book = state.section(SECTION).get("archive_books", {}).get(archive_id)
        if not book or not book.get("created"):
            return  # an owner-provided spreadsheet is the owner's already
        shared = book.setdefault("shared_with", [])
        missing = [m for m in sink.share_with if m not in shared]
        if not missing:
            if not sink.share_with:
                log.warning("archive spreadsheet %s is visible only to the function's account: the site has no "
                            "mail_to addresses to share it with", archive_id)
            return
        drive = sink.drive_api
        if drive is None:
            raise SinkUnavailable(f"archive spreadsheet {archive_id} must be shared with {', '.join(missing)} but "
                                  "the sink has no Drive client")
        for email in missing:
            def denied(status: int, reason: str, email: str = email) -> SinkUnavailable:
                return SinkUnavailable(
                    f"could not share archive spreadsheet {archive_id} with {email} ({status}: {reason}); enable "
                    "the Google Drive API in the function's project (gcloud services enable drive.googleapis.com)"
                    ". Nothing is lost: the rows stay in Readings and the move is retried every night")

            permission = {"type": "user", "role": "writer", "emailAddress": email}
            drive.run(lambda d, p=permission: d.permissions().create(
                fileId=archive_id, body=p, sendNotificationEmail=False, fields="id"),
                f"share archive {archive_id}", archive_id, denied=denied)
            shared.append(email)
            log.info("shared archive spreadsheet %s with %s (writer)", archive_id, email)
        # Stored at once, like the archive's id: a failure later in the move must not share it all over again.
        stored = sink.load_state()
        stored.section(SECTION).setdefault("archive_books", {})[archive_id] = dict(book, shared_with=list(shared))
        sink.commit_state(stored, (), f"remember who archive {archive_id} is shared with")

    # -- copying -------------------------------------------------------------------------------------------------
    def _copy_in(self, entry: dict[str, Any], header: Sequence[str], rows: Sequence[Sequence[Any]],
                 main: _MainBook) -> list[dict[str, Any]]:
        """Requests copying rows into a tab of the main spreadsheet (sent with the delete: nothing to dedupe)."""
        title = str(entry["tab"])
        info = main.meta.get(title)
        if info is None:
            sheet_id = main.next_id
            main.next_id += 1
            requests = self._new_tab(title, sheet_id, header, len(rows))
            main.meta[title] = SheetInfo(sheet_id, title, rows=len(rows) + 1, columns=len(header))
        else:
            sheet_id = info.sheet_id
            requests = []
            if info.columns < len(header):
                requests.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                     "length": len(header) - info.columns}})
                info.columns = len(header)
            requests.append(header_request(sheet_id, header))
        requests.append({"appendCells": {"sheetId": sheet_id, "fields": "userEnteredValue",
                                         "rows": [{"values": [raw_cell_data(v) for v in r]} for r in rows]}})
        entry["rows"] = int(entry.get("rows", 0)) + len(rows)
        return requests

    def _copy_out(self, state: SiteState, year: int, entry: dict[str, Any], header: Sequence[str],
                  rows: Sequence[Sequence[Any]], id_i: int | None) -> None:
        """Append to the year's tab of another spreadsheet the rows it does not hold yet (step b)."""
        sink = self.sink
        archive_id = str(entry["id"])
        title = str(entry["tab"])
        self._share(state, archive_id)
        meta = sink.metadata(spreadsheet_id=archive_id)
        info = meta.get(title)

        def held(retries: int | None = None) -> set[Any]:
            existing = sink.values([f"{quote_title(title)}!A2:ZZZ"], f"read the {year} archive",
                                   spreadsheet_id=archive_id, retries=retries)[0]
            return {self._key(r, id_i) for r in existing}

        requests: list[dict[str, Any]] = []
        if info is None:
            sheet_id = max((i.sheet_id for i in meta.values()), default=0) + 1
            requests.extend(self._new_tab(title, sheet_id, header, len(rows)))
            present: set[Any] = set()
        else:
            sheet_id = info.sheet_id
            present = held()
            if info.columns < len(header):
                requests.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                     "length": len(header) - info.columns}})
            requests.append(header_request(sheet_id, header))
            requests.extend(format_requests(sheet_id, self._columns(header)))
        missing = [r for r in rows if self._key(r, id_i) not in present]
        if missing:
            requests.append({"appendCells": {"sheetId": sheet_id, "fields": "userEnteredValue",
                                             "rows": [{"values": [raw_cell_data(v) for v in r]} for r in missing]}})
        wanted = {self._key(r, id_i) for r in missing}
        sink.batch_update(requests, f"archive {len(missing)} reading(s) of {year}", spreadsheet_id=archive_id,
                          landed=lambda: wanted <= held(0))
        entry["rows"] = len(present) + len(missing)
        log.info("archive %s of %d: %d reading(s) added, %d already there", archive_id, year, len(missing),
                 len(rows) - len(missing))


class _MainBook:
    """The main spreadsheet as one rotation sees it: its tabs, its running cell count, the next free sheet id."""

    def __init__(self, meta: dict[str, SheetInfo], cells: int, next_id: int) -> None:
        self.meta = meta
        self.cells = cells
        self.next_id = next_id
