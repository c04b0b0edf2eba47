"""The firmware history rule on hand-built snapshots: first build silent, one quiet notice per change."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from test_detect_inverters import T0, healthy, run, snapshot, sun

from pvs6_cloud.alerting.detect.firmware import build_number
from pvs6_parse.models import PvsHealth


def _with(at, version: str, source: str = "dl_cgi"):
    snap = snapshot(at, healthy())
    return replace(snap, source=source, pvs=PvsHealth("ZT01234567800A1234", sw_version=version)), sun()


def test_build_numbers_from_both_apis() -> None:
    assert build_number("2025.06, Build 61839") == 61839
    assert build_number("2025.09.04.61845") == 61845
    assert build_number("") is None and build_number("2025.06") is None


def test_the_first_build_is_history_and_a_change_is_one_quiet_notice() -> None:
    result, memory = run([_with(T0, "2025.06, Build 61839"), _with(T0 + timedelta(minutes=15),
                                                                  "2025.06, Build 61839")])
    assert result.findings == () and memory["firmware"]["history"][0]["build"] == 61839
    result, memory = run([_with(T0 + timedelta(minutes=30), "2025.09.04.61845", "varserver")], memory)
    [finding] = result.findings
    assert finding.kind == "firmware_changed" and finding.evidence["quiet_resolve"] is True
    assert "build 61839 to 61845" in finding.summary and "varserver instead of dl_cgi" in finding.details
    # A late reading from before the update, or the same build written the other way, changes nothing.
    result, memory = run([_with(T0 + timedelta(minutes=10), "2025.06, Build 61839"),
                          _with(T0 + timedelta(minutes=45), "2025.09, Build 61845")], memory)
    assert [f.key for f in result.findings] == [finding.key]
    assert [h["build"] for h in memory["firmware"]["history"]] == [61839, 61845]
    result, memory = run([_with(T0 + timedelta(days=1, minutes=31), "2025.09.04.61845", "varserver")], memory)
    assert result.findings == () and "firmware_changed" in result.evaluated_kinds
