"""The Devices tab's Circuit column: a circuit learned from panels that went down together, for the owner to
confirm, and configured circuits as configured (the map wins)."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from test_detect_inverters import SERIALS, SITE, T0, every, healthy, snapshot, sun

from pvs6_cloud.alerting.circuits import circuit_labels, learn
from pvs6_cloud.alerting.flow import evaluate_batch
from pvs6_cloud.alerting.lifecycle import Finding
from pvs6_cloud.infra.config import ArrayConfig, CloudConfig
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.rows import device_records, remember_devices
from pvs6_cloud.store.state import SiteState

UNMAPPED = replace(SITE, array=ArrayConfig(), mail_to=())  # no mail: no charts to draw


def _trip(day: int) -> list:
    """A day: healthy 10:00-11:15 local, panels 7-12 at 0 W 11:30-13:30, then healthy again."""
    start = T0 + timedelta(days=day)
    tripped = {**healthy(), **dict.fromkeys(SERIALS[6:], 0.0)}
    out = [(snapshot(t, healthy()), sun()) for t in every(15, 6, start)]
    out += [(snapshot(t, tripped, stale=SERIALS[6:]), sun()) for t in every(15, 8, start + timedelta(hours=1.5))]
    out += [(snapshot(t, healthy()), sun()) for t in every(15, 6, start + timedelta(hours=3.5))]
    return out


def _play(state: SiteState, site, readings: list) -> None:
    for snap, _ in readings:
        remember_devices(state, snap)
    evaluate_batch(readings, {}, state, site, CloudConfig(sites={"home": site}), readings[-1][0].captured_at)


def _devices_tab(tmp_path: Path, state: SiteState, site) -> dict[str, str]:
    """The Circuit column of Devices.csv as the CSV sink writes it, by serial."""
    sink = CsvSink(tmp_path, site.tz)
    sink.commit(SheetWrite(state=state, replace={"Devices": device_records(state, site.array.places,
                                                                           circuit_labels(state, site.array))}))
    with (tmp_path / "Devices.csv").open(encoding="utf-8", newline="") as fh:
        return {row["Serial"]: row["Circuit"] for row in csv.DictReader(fh)}


def test_panels_that_went_down_together_show_as_a_learned_circuit(tmp_path: Path) -> None:
    state = SiteState()
    _play(state, UNMAPPED, _trip(0))
    circuits = _devices_tab(tmp_path, state, UNMAPPED)
    assert {circuits[s] for s in SERIALS[6:]} == {"circuit A (learned)"}  # one outage, many readings: seen once
    assert {circuits[s] for s in SERIALS[:6]} == {""}  # never seen going down with others: not guessed
    assert circuits["PVS6M1p"] == ""  # the meter is on no circuit



def test_a_configured_map_is_shown_as_configured_and_wins(tmp_path: Path) -> None:
    state = SiteState()
    for snap, _ in _trip(0):
        remember_devices(state, snap)
    # Learned before the owner wrote the map (the finding the detector gives for panels 7-12 going down):
    group = Finding("circuit_down", ",".join(SERIALS[6:]), "6 of your 12 panels stopped together", "", "",
                    {"learned": True, "serials": SERIALS[6:], "since": T0.isoformat()})
    assert learn(state, [group], T0) and not learn(state, [group], T0 + timedelta(minutes=15))  # one outage
    assert {_devices_tab(tmp_path, state, UNMAPPED)[s] for s in SERIALS[6:]} == {"circuit A (learned)"}
    # The next day it trips again, with one of its panels already down before: the same circuit, seen twice.
    again = replace(group, device=",".join(SERIALS[7:]), evidence={**group.evidence, "serials": SERIALS[7:],
                                                                    "since": (T0 + timedelta(days=1)).isoformat()})
    assert learn(state, [again], T0 + timedelta(days=1))
    assert {_devices_tab(tmp_path, state, UNMAPPED)[s] for s in SERIALS[6:]} == {"circuit A (learned, seen 2 times)"}
    assert len(state.section("circuits")["learned"]) == 1
    mapped = replace(SITE, mail_to=())
    circuits = _devices_tab(tmp_path, state, mapped)
    assert {circuits[s] for s in SERIALS[:6]} == {"circuit 1 (configured)"}
    assert {circuits[s] for s in SERIALS[6:]} == {"circuit 2 (configured)"}  # the map wins
