"""A wrong or revoked Gmail app password (SMTP 535) is not an outage: told apart, said plainly, mail kept.

The real loopback SMTP server (aiosmtpd) answers the login the way Gmail does: ``535 5.7.8 Username and Password
not accepted`` for a wrong or revoked app password, ``454 4.7.0`` when it only asks to wait.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pvs6_cloud.alerting.notify.queue import deliver_pending, mail_problem, mail_status, pending_count, queue_mail
from pvs6_cloud.alerting.notify.transport import MailLoginRefused, OutgoingMail, SmtpTransport
from pvs6_cloud.infra.errors import TransientError
from pvs6_cloud.infra.logsetup import CloudRunFormatter
from pvs6_cloud.store.state import SiteState
from tests.support.cloud import cloud_toml
from tests.support.smtp import SmtpServer, loopback_mail_config, loopback_mail_toml

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

GMAIL_535 = ("535 5.7.8 Username and Password not accepted. For more information, go to "
             "https://support.google.com/mail/?p=BadCredentials - gsmtp")
GMAIL_454 = "454 4.7.0 Too many login attempts, please try again later. - gsmtp"
USER = "family@gmail.com"
NOW = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def _mail(mail_id: str) -> OutgoingMail:
    return OutgoingMail(to=("owner@example.com",), subject=f"subject {mail_id}", text="body", id=mail_id)


def _transport(port: int, password: str) -> SmtpTransport:
    return SmtpTransport(loopback_mail_config(port, username=USER, password=password))


def test_a_refused_app_password_is_told_apart_from_a_busy_server() -> None:
    gmail, throttled = SmtpServer(login=(USER, "right"), refusal=GMAIL_535), SmtpServer(
        login=(USER, "right"), refusal=GMAIL_454)
    with gmail, pytest.raises(MailLoginRefused) as refused:
        _transport(gmail.port, "revoked").send(_mail("m1"))
    message = str(refused.value)
    assert message.startswith(f"Gmail refused the login of '{USER}' (535 5.7.8 Username and Password")
    assert "app password is wrong or was revoked" in message
    assert "https://myaccount.google.com/apppasswords" in message
    assert "stays queued" in message
    with throttled, pytest.raises(TransientError) as busy:
        _transport(throttled.port, "revoked").send(_mail("m1"))
    assert not isinstance(busy.value, MailLoginRefused)


def test_the_mail_stays_queued_and_the_cause_is_logged_once_a_day(caplog: pytest.LogCaptureFixture) -> None:
    state = SiteState()
    queue_mail(state, _mail("m1"))
    caplog.set_level(logging.DEBUG, logger="pvs6_cloud.alerting.notify.queue")
    with SmtpServer(login=(USER, "right"), refusal=GMAIL_535) as gmail:
        wrong = _transport(gmail.port, "revoked")
        for minutes in (0, 15, 30, 24 * 60 + 5):
            assert deliver_pending(state, wrong, NOW + timedelta(minutes=minutes)) == 0
        assert pending_count(state) == 1
        assert mail_status(state)["cause"] == "login_refused"
        assert mail_problem(state).startswith("Gmail refused the login")
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        # once when it starts, once more a day later: not at every upload, and never silent for days
        assert len(errors) == 2 and all(e.startswith("mail cannot go out: Gmail refused the login") for e in errors)
        assert deliver_pending(state, _transport(gmail.port, "right"), NOW + timedelta(days=2)) == 1
        assert [m["Subject"] for m in gmail.messages] == ["subject m1"]
    assert mail_problem(state) == "" and mail_status(state)["cause"] == ""


def test_the_cloud_log_line_is_an_error_cloud_monitoring_alerts_on(caplog: pytest.LogCaptureFixture) -> None:
    """On Cloud Run the line is JSON with severity ERROR: the error policy deploy.sh makes emails the owner."""
    state = SiteState()
    queue_mail(state, _mail("m1"))
    caplog.set_level(logging.INFO, logger="pvs6_cloud.alerting.notify.queue")
    with SmtpServer(login=(USER, "right"), refusal=GMAIL_535) as gmail:
        deliver_pending(state, _transport(gmail.port, "revoked"), NOW)
    [record] = [r for r in caplog.records if r.name == "pvs6_cloud.alerting.notify.queue"]
    entry = json.loads(CloudRunFormatter().format(record))
    assert entry["severity"] == "ERROR"
    assert entry["message"].startswith("mail cannot go out: Gmail refused the login")


def _config(tmp: Path, port: int) -> Path:
    path = tmp / "cloud.toml"
    path.write_text(cloud_toml(mail=loopback_mail_toml(port, username=USER, password_env="PVS6_TEST_SMTP_PASSWORD")))
    return path


def _pvs6_cloud(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PVS6_TEST_SMTP_PASSWORD": "revoked"}
    env.pop("K_SERVICE", None)
    return subprocess.run([sys.executable, "-m", "pvs6_cloud.cli", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=120)


def test_selftest_and_the_summary_command_say_it_plainly(tmp_path: Path) -> None:
    with SmtpServer(login=(USER, "right"), refusal=GMAIL_535) as gmail:
        config = _config(tmp_path, gmail.port)
        selftest = _pvs6_cloud(tmp_path, "selftest", "--config", str(config))
        summary = _pvs6_cloud(tmp_path, "summary", "--config", str(config), "--month", "2025-08")
        assert gmail.messages == []
    assert selftest.returncode == 1
    email_row = next(line for line in selftest.stdout.splitlines() if line.startswith("home: email"))
    assert "FAILED" in email_row and "Gmail refused the login" in email_row
    assert "app password is wrong or was revoked" in email_row
    assert summary.returncode == 0, summary.stderr
    assert "email queued" in summary.stdout
    assert "Gmail refused the login" in summary.stdout + summary.stderr
