"""A new spreadsheet's empty first tab goes whatever the owner's language calls it, and the hidden memory tab is
protected (warning only), through the real googleapiclient against the loopback Sheets fake."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import build_service
from pvs6_cloud.store.sheets import PROTECTION_NOTE, SheetsSink
from pvs6_cloud.store.state import STATE_TAB
from tests.support.sheets_fake import FakeClock, SheetsFake

TZ = ZoneInfo("Europe/Paris")
OURS = ["Readings", "Daily", "Monthly", "Devices", "Alerts", STATE_TAB]


@pytest.fixture(scope="module")
def fake():
    with SheetsFake() as server:
        yield server


def _sink(fake: SheetsFake, sid: str) -> SheetsSink:
    service, _ = build_service(fake.endpoint)
    return SheetsSink(service, sid, TZ, sleep=FakeClock().sleep)


@pytest.mark.parametrize("first_tab", ["Sheet1", "Feuille 1", "Tabellenblatt1", "Hoja 1", "シート1"])
def test_the_empty_first_tab_goes_in_any_language(fake: SheetsFake, first_tab: str) -> None:
    sid = fake.add_spreadsheet("Maison", first_tab=first_tab)
    report = _sink(fake, sid).bootstrap()
    assert report.removed == [first_tab]
    assert [s.title for s in fake.spreadsheets[sid].sheets] == OURS


def test_a_first_tab_the_owner_wrote_in_stays(fake: SheetsFake) -> None:
    sid = fake.add_spreadsheet("Maison", first_tab="Feuille 1")
    fake.sheet(sid, "Feuille 1").set(3, 2, ("s", "notes de la maison"))
    report = _sink(fake, sid).bootstrap()
    assert report.removed == []
    assert [s.title for s in fake.spreadsheets[sid].sheets] == ["Feuille 1", *OURS]


def test_an_empty_tab_beside_the_owners_own_tabs_stays(fake: SheetsFake) -> None:
    sid = fake.add_spreadsheet("Maison", first_tab="Feuille 1")
    book = fake.spreadsheets[sid]
    book.sheets.append(fake._new_sheet({"title": "Budget"}, book.sheets))
    _sink(fake, sid).bootstrap()
    assert [s.title for s in book.sheets][:2] == ["Feuille 1", "Budget"]


def _protections(fake: SheetsFake, sid: str, title: str) -> list[dict]:
    return fake.sheet(sid, title).protected_ranges


def test_the_hidden_state_tab_is_protected_with_a_warning_only(fake: SheetsFake) -> None:
    sid = fake.add_spreadsheet("Maison")
    sink = _sink(fake, sid)
    sink.bootstrap()
    [protection] = _protections(fake, sid, STATE_TAB)
    assert protection["warningOnly"] is True and "editors" not in protection
    assert protection["description"] == PROTECTION_NOTE
    assert set(protection["range"]) <= {"sheetId"}  # the whole tab
    assert all(_protections(fake, sid, t) == [] for t in OURS if t != STATE_TAB)  # visible tabs stay open
    # the service account still writes its memory through the warning
    state = sink.load_state()
    state.remember("id1", datetime(2025, 9, 12, 17, 0, tzinfo=UTC))
    sink.commit(SheetWrite(state=state))
    assert "id1" in sink.load_state().recent_ids
    batches = len(fake.batch_requests)
    assert not _sink(fake, sid).bootstrap(reformat=False).changed  # once is enough
    assert len(fake.batch_requests) == batches


def test_a_sheet_made_before_protection_existed_gets_it_on_the_next_run(fake: SheetsFake) -> None:
    sid = fake.add_spreadsheet("Maison")
    _sink(fake, sid).bootstrap()
    fake.sheet(sid, STATE_TAB).protected_ranges.clear()
    report = _sink(fake, sid).bootstrap(reformat=False)
    assert report.properties_fixed == [STATE_TAB]
    assert len(_protections(fake, sid, STATE_TAB)) == 1
