"""Scheduler tokens whose audience is the function's own URL (what deploy.sh sets up): no custom audience on
the Cloud Run service, only ``service_account`` in ``[scheduler]``."""

from __future__ import annotations

import pytest
from test_oidc import ACCOUNT, Keys, certs_url, keys  # noqa: F401  (fixtures)

from pvs6_cloud.infra.config import SchedulerConfig
from pvs6_cloud.infra.oidc import Forbidden, Unauthorized, verify_scheduler_request

URL = "https://pvs6-watchdog-fake7q-uc.a.run.app"


@pytest.fixture
def scheduler(certs_url: str) -> SchedulerConfig:  # noqa: F811
    return SchedulerConfig(service_account=ACCOUNT, certs_url=certs_url)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("audience", [URL, URL + "/"])
def test_a_signed_token_for_the_url_it_was_sent_to_is_accepted(keys: Keys, scheduler: SchedulerConfig,  # noqa: F811
                                                               audience: str) -> None:
    claims = verify_scheduler_request(_bearer(keys.token(aud=audience)), scheduler, own_url=URL)
    assert claims["email"] == ACCOUNT


def test_a_signed_token_for_another_url_is_refused(keys: Keys, scheduler: SchedulerConfig) -> None:  # noqa: F811
    with pytest.raises(Unauthorized, match=r"aud"):
        verify_scheduler_request(_bearer(keys.token(aud="https://pvs6-other-fake7q-uc.a.run.app")), scheduler,
                                 own_url=URL)
    with pytest.raises(Unauthorized, match="no audience"):
        verify_scheduler_request(_bearer(keys.token(aud=URL)), scheduler)


def test_the_service_account_alone_switches_the_checks_on(scheduler: SchedulerConfig) -> None:
    with pytest.raises(Unauthorized, match="missing"):
        verify_scheduler_request({}, scheduler, own_url=URL)


def test_a_token_cloud_run_checked_is_judged_by_account_and_expiry(keys: Keys,  # noqa: F811
                                                                    scheduler: SchedulerConfig) -> None:
    header = {"X-Serverless-Authorization": f"Bearer {keys.stripped(aud=URL)}"}
    assert verify_scheduler_request(header, scheduler, platform_checked=True, own_url=URL)["aud"] == URL
    with pytest.raises(Forbidden):
        verify_scheduler_request({"Authorization": f"Bearer {keys.stripped(aud=URL, email='x@gmail.com')}"},
                                 scheduler, platform_checked=True, own_url=URL)
    with pytest.raises(Unauthorized):  # outside a private Cloud Run service an unsigned token proves nothing
        verify_scheduler_request(header, scheduler, own_url=URL)
