"""``pvs6-cloud evidence SERIAL --from --to``: the installer's CSV from the local sheet, through the real CLI."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

from test_jobs_cli import write_config
from test_jobs_daily import SERIALS, TZ, SyntheticSite, store

from pvs6_cloud.alerting.evidence import HEADER, remember
from pvs6_cloud.cli import main
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_parse.models import DeviceState, Inverter, Snapshot

PANEL = SERIALS[3]


def test_evidence_exports_a_panel_and_its_peers_as_dated_rows(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path)
    sink = CsvSink(tmp_path / "sheet", TZ)
    store(sink, SyntheticSite({}, date(2025, 6, 1)).generate(2))
    state = sink.load_state()
    noon = datetime(2025, 6, 2, 12, tzinfo=TZ)
    for k in range(3):  # the monitor's own record of the last readings: state and counters too
        at = noon + timedelta(minutes=30 * k)
        remember(state.section("evidence"), Snapshot("home", at, "dl_cgi", inverters=tuple(
            Inverter(s, "AC_Module_Type_E", DeviceState.ERROR if s == PANEL else DeviceState.WORKING,
                     0.0 if s == PANEL else 0.25, 500.0 + k, measured_at=at) for s in SERIALS)), 50.0)
    devices = [{"serial": s, "device_type": "Inverter", "model": "AC_Module_Type_E"} for s in SERIALS]
    sink.commit(SheetWrite(state=state, replace={"Devices": devices}))

    out = tmp_path / "evidence.csv"
    assert main(["evidence", PANEL, "--config", str(config), "--from", "2025-06-02", "--to", "2025-06-02",
                 "--out", str(out)]) == 0
    assert f"{PANEL} and 11 neighbouring panels, 2025-06-02 to 2025-06-02" in capsys.readouterr().err
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == HEADER
    mine = [r for r in rows[1:] if r[1] == PANEL]
    assert {r[3] for r in rows[1:] if r[1] != PANEL} == {"peer"} and {r[3] for r in mine} == {"this panel"}
    days = {datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S").date() for r in rows[1:]}
    assert days == {date(2025, 6, 2)}  # only the days asked for, as dates a spreadsheet reads
    assert all(r[2] == "AC_Module_Type_E" and float(r[4]) >= 0 for r in mine)
    at_noon = next(r for r in mine if r[0] == "2025-06-02 12:00:00")
    assert at_noon[4:] == ["0.0000", "error", "500.00"]  # the monitor's own record wins where it has one
    assert len(mine) > 40  # every reading of the day from the Readings tab

    assert main(["evidence", "E999", "--config", str(config), "--from", "2025-06-02", "--to", "2025-06-02"]) == 1
    assert "no readings of panel E999" in capsys.readouterr().err
    assert main(["evidence", PANEL, "--config", str(config), "--from", "2025-06-03", "--to", "2025-06-02"]) == 2
