"""The flash-wear rule on hand-built snapshots: a fast pace warns once with the days left; slow ageing does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from test_detect_inverters import SITE, T0, healthy, run, snapshot, sun

from pvs6_cloud.alerting.detect.flashwear import wear_out
from pvs6_cloud.alerting.notify.compose import compose_alert_mail
from pvs6_parse.models import PvsHealth

WEAR = "pvs_flash_wear"


def _wear(day: float, pct: float | None, serial: str = "ZT01234567800A1234"):
    at = T0 + timedelta(days=day)
    return replace(snapshot(at, healthy()), source="varserver", pvs=PvsHealth(serial, flash_wear_pct=pct)), sun()


def _wear_findings(result):
    return [f for f in result.findings if f.kind == WEAR]


def test_a_fast_pace_warns_once_with_the_days_left_and_the_mail_says_it_plainly() -> None:
    # One climb a day after the Pi started says nothing yet: the chip may have been just below the step.
    result, memory = run([_wear(0, 30.0), _wear(1, 40.0), _wear(20, 40.0)])
    assert _wear_findings(result) == [] and WEAR in result.evaluated_kinds
    # The second climb, 30 days after the first: 10 % a month, 50 % left -> about 150 days.
    result, memory = run([_wear(31, 50.0)], memory)
    [finding] = _wear_findings(result)
    assert finding.evidence["quiet_resolve"] is True  # one email, no daily reminders
    assert "about 150 days left" in finding.summary and "about 30 days for each 10 %" in finding.details
    # It stays open (the same alert) while the wear stands; the estimate follows the next climb.
    result, memory = run([_wear(40, 50.0), _wear(61, 60.0)], memory)
    [later] = _wear_findings(result)
    assert later.key == finding.key and "about 120 days left" in later.summary
    mail = compose_alert_mail(SITE, [finding], [], [], T0 + timedelta(days=31))
    assert "memory chip" in mail.subject.lower() or "memory chip" in mail.text
    assert "150 days" in mail.text and "replacement PVS6" in mail.text


def test_slow_ageing_is_quiet_until_the_chip_is_nearly_spent() -> None:
    readings = [_wear(0, 30.0), _wear(400, 40.0), _wear(800, 50.0), _wear(1200, 60.0)]
    result, memory = run(readings)
    assert _wear_findings(result) == []
    result, memory = run([_wear(1600, 70.0), _wear(2000, 80.0), _wear(2400, 90.0)], memory)
    [finding] = _wear_findings(result)
    assert "about 400 days left" in finding.summary  # 10 % in 400 days, 10 % to go


def test_a_replaced_pvs6_starts_the_record_again_and_clears_the_warning_but_a_glitch_does_not() -> None:
    result, memory = run([_wear(0, 70.0), _wear(10, 80.0), _wear(20, 90.0)])
    assert len(_wear_findings(result)) == 1
    result, memory = run([_wear(21, 10.0)], memory)  # the same PVS6 reading low once is a glitch
    assert len(_wear_findings(result)) == 1 and memory["pvs"]["flash_wear"]["levels"][-1][1] == 90.0
    result, memory = run([_wear(30, 10.0, serial="ZT99999999999A9999")], memory)
    assert _wear_findings(result) == [] and WEAR in result.evaluated_kinds
    assert memory["pvs"]["flash_wear"]["levels"] == [[(T0 + timedelta(days=30)).isoformat(), 10.0]]


def test_no_wear_reading_judges_nothing_and_the_pace_needs_two_climbs() -> None:
    result, _ = run([_wear(0, None)])
    assert WEAR not in result.evaluated_kinds
    start = datetime(2025, 1, 1).isoformat()
    assert wear_out([[start, 30.0], [start, 40.0]]) is None
