"""A backlog gives the Alerts rows live uploads give: every scenario of bench/detection.py, one-shot vs stepwise.

Each scenario is played from the day its fault begins (the bench's full-length run, `bench/detection.py`, does
the same over every day and through the whole pipeline: column "backlog"). The readings are judged twice by
the real alerting (rules + lifecycle): one upload per poll, as live, and all at once days later, in
contract-size batches, as a Pi back from an outage sends them. The rows must be identical in every column but
the wall-time Emailed, in the same order.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.detection import WATCHDOG_KINDS, Scenario, comparable, play, scenarios
from bench.detection_site import _site
from pvs6_cloud.alerting.flow import evaluate_batch
from pvs6_cloud.enrich.conditions import enrich_batch
from pvs6_cloud.infra.config import CloudConfig, DetectionConfig, WeatherConfig
from pvs6_cloud.intake.contract import MAX_SNAPSHOTS
from pvs6_cloud.store.state import SiteState
from pvs6_parse import parse_payload

pytestmark = pytest.mark.slow

SCENARIOS = scenarios(quick=True)


def _window(sc: Scenario) -> tuple[int, int]:
    """(first day, days) around the fault: its day, and the next when it ends (a breaker reset overnight)."""
    start_h = sc.fault["start"] if sc.fault else (sc.hang[0] if sc.hang else 24.0)
    first = min(int(start_h // 24), sc.days - 1)
    end_h = (sc.fault or {}).get("end")
    days = 2 if end_h is not None and end_h >= 24 * (first + 1) else 1
    return first, min(days, sc.days - first)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_one_shot_backlog_gives_the_same_alerts_rows_as_stepwise(sc: Scenario, tmp_path: Path) -> None:
    first, days = _window(sc)
    played = play(sc, first, days)
    site = _site(played.sim, tmp_path, sc.circuit_map)
    config = CloudConfig(sites={"home": site}, weather=WeatherConfig(enabled=False), detection=DetectionConfig())
    items = [i for u in played.uploads for i in u.items]
    snapshots = [parse_payload(i.payload, source=i.source, site="home", captured_at=i.captured_at, sha256=i.sha256)
                 for i in items]
    pairs = list(zip(snapshots, enrich_batch(snapshots, site, config.weather, {}, http=None,
                                             now=played.uploads[-1].at), strict=True))
    by_time = {s.captured_at: p for s, p in zip(snapshots, pairs, strict=True)}

    live = SiteState()
    for upload in played.uploads:
        now = upload.at + timedelta(seconds=20)
        evaluate_batch([by_time[i.captured_at] for i in upload.items], upload.status, live, site, config, now)
    late = SiteState()
    later = played.uploads[-1].at + timedelta(days=3)
    for k in range(0, len(pairs), MAX_SNAPSHOTS):
        evaluate_batch(pairs[k:k + MAX_SNAPSHOTS], played.uploads[-1].status, late, site, config, later)

    live_rows = comparable(live.section("alerts").get("rows", []))
    assert comparable(late.section("alerts").get("rows", [])) == live_rows
    opens_here = sc.expect and sc.expect[0] not in WATCHDOG_KINDS and not sc.sunny_days_metric
    if opens_here:
        assert live_rows, f"{sc.name}: the window should hold the alert, or the comparison proves little"
