"""deploy.sh --with-monitoring-alerts: Google's alert emails, asked for because Google may bill them
(docs/cost.md): the channel and the log-based policies, the gcloud tracks they need, and a gcloud without
the beta commands.

The harness is tests/support/deployer.py, the shared projects are fixtures in tests/conftest.py; the stand-in
keeps what each run "created" in a temp folder, so a second run sees the first run's resources exactly as
it would in a real project.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.deployer import FRESH_KEYS, FUNCTIONS, OWNER, SCHEDULED, Deployer

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow

# Only with --with-monitoring-alerts: Google may bill each alert condition $1.50 a month (docs/cost.md).
ALERT_KEYS = [
    "beta monitoring channels create",
    "monitoring policies create",
    "monitoring policies create",
]


def test_asked_for_alerts_the_channel_and_log_based_policies_reach_the_owner(
        fresh_with_alerts: tuple[Deployer, Any]) -> None:
    deployer, proc = fresh_with_alerts
    assert [c.key for c in deployer.mutating()] == FRESH_KEYS + ALERT_KEYS
    assert "$1.50 a month" in proc.stdout
    state = deployer.state()
    assert [(c["email"], c["type"]) for c in state["channels"]] == [(OWNER, "email")]
    channel = state["channels"][0]["name"]
    policies = {p["displayName"]: p["policy"] for p in state["policies"]}
    assert len(policies) == 2
    errors = policies["PVS6 Sentinel: the cloud functions logged an error"]
    scheduler = policies["PVS6 Sentinel: a scheduled job failed"]
    for policy in (errors, scheduler):
        assert policy["notificationChannels"] == [channel]
        assert policy["alertStrategy"]["notificationRateLimit"]["period"]
    errors_filter = errors["conditions"][0]["conditionMatchedLog"]["filter"]
    assert "severity>=ERROR" in errors_filter
    assert 'resource.type="cloud_run_revision"' in errors_filter
    for name in FUNCTIONS:
        assert f'"{name}"' in errors_filter
    scheduler_filter = scheduler["conditions"][0]["conditionMatchedLog"]["filter"]
    assert 'resource.type="cloud_scheduler_job"' in scheduler_filter
    assert all(f'"{job}"' in scheduler_filter for job in SCHEDULED)


def test_the_alert_setup_uses_ga_commands_but_for_the_notification_channel(
        fresh_with_alerts: tuple[Deployer, Any]) -> None:
    deployer = fresh_with_alerts[0]
    tracks = {c.words[0] for c in deployer.mutating() if "monitoring" in c.words[:2]}
    assert tracks == {"monitoring", "beta"}
    assert not [c for c in deployer.calls() if c.words[:1] == ["alpha"]]


def test_a_gcloud_without_beta_commands_stops_an_alert_setup_before_any_change_and_says_how_to_add_them(
        deployer: Deployer) -> None:
    proc = deployer.run("--with-monitoring-alerts", check=False, FAKE_GCLOUD_NO_BETA="1")
    assert proc.returncode == 1
    assert "gcloud components install beta" in proc.stderr and "apt-get" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert deployer.mutating() == []
    # a dry run still shows the whole plan, with the same advice as a warning
    proc = deployer.run("--dry-run", "--with-monitoring-alerts", FAKE_GCLOUD_NO_BETA="1")
    assert "gcloud components install beta" in proc.stderr
    assert "Dry run: nothing was changed." in proc.stdout
