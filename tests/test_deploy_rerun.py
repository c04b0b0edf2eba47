"""deploy.sh again on a deployed project, and its dry run: updates instead of second copies, a new secret
version only for a changed value, the Pi's secret kept, the dry run printing what the real run does, and no
secret value in any output, command line or leftover file.

The harness is tests/support/deployer.py, the shared projects are fixtures in tests/conftest.py; the stand-in
keeps what each run "created" in a temp folder, so a second run sees the first run's resources exactly as
it would in a real project.
"""

from __future__ import annotations

import json

import pytest

from tests.support.deployer import CLOUD_TOML, PROJECT, SCHEDULED, SMTP_PASSWORD, Deployer, printed_commands

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow


def test_second_run_updates_and_never_creates_twice(deployed_with_alerts: Deployer) -> None:
    deployer = deployed_with_alerts
    first_state = deployer.state()
    deployer.run("--with-monitoring-alerts")
    keys = [c.key for c in deployer.mutating()]
    assert not [k for k in keys if " create" in k], keys
    assert not [k for k in keys if k.startswith("secrets versions add")], "unchanged values add no version"
    assert keys.count("functions deploy pvs6-ingest") == 1
    assert [k for k in keys if k.startswith("scheduler")] == [
        f"scheduler jobs update http {job}" for job in SCHEDULED]
    assert [k for k in keys if "monitoring policies" in k] == ["monitoring policies update"] * 2
    state = deployer.state()
    assert len(state["channels"]) == 1
    assert len(state["policies"]) == 2
    assert set(state["jobs"]) == set(SCHEDULED)
    assert {name: len(s["versions"]) for name, s in state["secrets"].items()} == {
        "pvs6-config": 1, "pvs6-secret-home": 1, "pvs6-smtp-password": 1}
    assert state["secrets"] == first_state["secrets"]  # the Pi's secret was not rotated

    # Run again without asking for the alerts: the policies the earlier runs made are kept, named with their cost
    # and the command that removes them (deleting them is the owner's choice).
    policies = [p["name"] for p in state["policies"]]
    proc = deployer.run()
    assert not [c for c in deployer.mutating() if "monitoring" in c.words[:2]], "nothing is changed or deleted"
    assert [p["name"] for p in deployer.state()["policies"]] == policies
    assert "2 Google alert policies" in proc.stderr and "$1.50 a month for each" in proc.stderr
    removals = [line.strip() for line in proc.stderr.splitlines() if "policies delete" in line]
    assert removals == [f"gcloud monitoring policies delete {name} --project={PROJECT}" for name in policies]


def test_a_changed_value_adds_exactly_one_new_version(deployed: Deployer) -> None:
    deployer = deployed
    deployer.config.write_text(CLOUD_TOML.replace("Test house", "Our house"))
    deployer.run(PVS6_SMTP_PASSWORD="wxyz wxyz wxyz wxyz")
    added = [c.words[3] for c in deployer.mutating() if c.words[:3] == ["secrets", "versions", "add"]]
    assert added == ["pvs6-config", "pvs6-smtp-password"]
    assert deployer.secret("pvs6-smtp-password") == b"wxyzwxyzwxyzwxyz"  # Gmail shows it with spaces
    assert b"Our house" in deployer.secret("pvs6-config")


def test_an_exported_site_secret_is_kept_for_the_pi_that_already_has_it(deployer: Deployer) -> None:
    deployer.run(PVS6_SECRET_HOME="the-secret-the-pi-already-uses")
    assert deployer.secret("pvs6-secret-home") == b"the-secret-the-pi-already-uses"
    deployer.run()
    assert len(deployer.state()["secrets"]["pvs6-secret-home"]["versions"]) == 1


def _shape(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A command's words and flag names: what must match between the dry run and the real run."""
    argv = [a for a in argv if not a.startswith(("--project=", "--quiet"))]
    words = tuple(a for a in argv if not a.startswith("--") and a != "gcloud")
    if words[:3] == ("monitoring", "policies", "update"):
        words = words[:3]
    return words, tuple(sorted(a.partition("=")[0] for a in argv if a.startswith("--")))


def test_dry_run_changes_nothing_and_prints_what_the_real_run_does(deployer: Deployer) -> None:
    proc = deployer.run("--dry-run")
    assert deployer.mutating() == []
    assert not (deployer.state_dir / "state.json").exists() or deployer.state()["functions"] == {}
    printed = [_shape(c) for c in printed_commands(proc.stdout)]

    deployer.run()
    executed = [_shape(c.argv) for c in deployer.mutating()]
    assert printed == executed
    assert "<secret: a new random secret>" in proc.stdout
    assert "Dry run: nothing was changed." in proc.stdout
    _assert_no_secret_leaked(deployer, deployer.secret("pvs6-secret-home").decode(), "abcdefghijklmnop",
                             SMTP_PASSWORD)


def test_dry_run_after_a_deploy_shows_the_updates(deployed_with_alerts: Deployer) -> None:
    deployer = deployed_with_alerts
    proc = deployer.run("--dry-run", "--with-monitoring-alerts")
    assert deployer.mutating() == []
    printed = [" ".join(_shape(c)[0]) for c in printed_commands(proc.stdout)]
    assert "scheduler jobs update http pvs6-watchdog" in printed
    assert "monitoring policies update" in printed
    assert not [p for p in printed if "create" in p]


def test_dry_run_shows_the_cleanup_policy_and_what_it_costs(deployer: Deployer) -> None:
    proc = deployer.run("--dry-run")
    printed = [c for c in printed_commands(proc.stdout) if "set-cleanup-policies" in c]
    assert len(printed) == 1 and "gcf-artifacts" in printed[0] and "--no-dry-run" in printed[0]
    assert "What it costs" in proc.stdout and "for 1 site(s)" in proc.stdout
    for service in ("Cloud Run functions: requests", "Artifact Registry storage", "Cloud Scheduler",
                    "Secret Manager: accesses", "Cloud Logging"):
        assert service in proc.stdout
    (alerting,) = [line for line in proc.stdout.splitlines() if line.startswith("Cloud Monitoring alerting")]
    assert alerting.split()[-2:] == ["0", "0.0%"], "by default no alert policy, nothing billed"
    assert "cost summary could not be computed" not in proc.stderr


def _assert_no_secret_leaked(deployer: Deployer, *secrets: str) -> None:
    """No secret value in any gcloud command line, in any output of deploy.sh, nor in a leftover temp folder."""
    argv_text = "\n".join(json.dumps(c.argv) for c in deployer.calls())
    for secret in secrets:
        assert secret not in argv_text
        for output in deployer.outputs:
            assert secret not in output
    leftovers = [p for p in deployer.tmp.iterdir() if p.name.startswith("pvs6-deploy.")]
    assert leftovers == [], "the temp folder with secret files is removed"


def test_no_secret_value_appears_in_any_output_or_command_line(deployed: Deployer) -> None:
    """The first deploy (shared), a changed password, then a dry run; the dry run of a fresh project is checked
    by test_dry_run_changes_nothing_and_prints_what_the_real_run_does."""
    deployer = deployed
    first_secret = deployer.secret("pvs6-secret-home").decode()
    deployer.run(PVS6_SMTP_PASSWORD="wxyz wxyz wxyz wxyz")
    deployer.run("--dry-run")
    assert len(deployer.outputs) == 6  # three runs, stdout and stderr each
    assert len(first_secret) == 64 and deployer.secret("pvs6-secret-home").decode() == first_secret
    _assert_no_secret_leaked(deployer, first_secret, "abcdefghijklmnop", "wxyzwxyzwxyzwxyz", SMTP_PASSWORD,
                             "wxyz wxyz wxyz wxyz")
    assert deployer.mutating() == []
