"""OIDC verification of Cloud Scheduler's ID token, against certificates served from a loopback server.

Tokens are signed with a locally generated RSA key; the server answers like Google's v1 certs endpoint
(JSON mapping key id -> PEM X.509 certificate).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from pvs6_cloud.infra.config import SchedulerConfig
from pvs6_cloud.infra.errors import ConfigError, TransientError, Unauthorized
from pvs6_cloud.infra.oidc import (
    PRIVATE_ENV,
    Forbidden,
    platform_checks_callers,
    verify_scheduler_request,
    verify_scheduler_token,
)
from tests.support.json_server import serve_json

AUDIENCE = "https://example-ingest.a.run.app/watchdog"
ACCOUNT = "scheduler@sentinel-project.iam.gserviceaccount.com"


def _key_and_cert() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-google-signer")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)


class Keys:
    """Google's side: a signing key with a published certificate, and an impostor's key that is not published."""

    def __init__(self) -> None:
        self.key, cert = _key_and_cert()
        self.impostor_key, _ = _key_and_cert()
        self.certs = {"kid-1": cert.decode()}

    def token(self, *, key: bytes | None = None, **overrides: object) -> str:
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": ACCOUNT, "email_verified": True,
                  "sub": "1234567890", "iat": now, "exp": now + 3600, **overrides}
        signer = crypt.RSASigner.from_string(key or self.key, key_id="kid-1")
        return jwt.encode(signer, claims).decode()

    def stripped(self, **overrides: object) -> str:
        """The token as a private Cloud Run service receives it: checked, then its signature replaced."""
        header, payload, _signature = self.token(**overrides).split(".")
        return f"{header}.{payload}.SIGNATURE_REMOVED_BY_GOOGLE"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def certs_url(keys: Keys) -> Iterator[str]:
    """A loopback server answering like https://www.googleapis.com/oauth2/v1/certs."""
    with serve_json(json.dumps(keys.certs).encode()) as base:
        yield f"{base}/oauth2/v1/certs"


# Each claim a caller could get wrong, and the refusal it earns: 401 for a token that is not for us, 403 for a
# genuine token from the wrong caller. Checked with and without a signature.
BAD_CLAIMS = pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"aud": "https://example-ingest.a.run.app/other"}, Unauthorized),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}, Unauthorized),
        ({"iss": "https://evil.example.com"}, Unauthorized),
        ({"email": "someone@gmail.com"}, Forbidden),
        ({"email_verified": False}, Forbidden),
        ({"email_verified": "true"}, Forbidden),
    ],
    ids=["wrong-audience", "expired", "wrong-issuer", "wrong-account", "unverified-email", "verified-as-text"],
)


@pytest.fixture
def scheduler(certs_url: str) -> SchedulerConfig:
    return SchedulerConfig(audience=AUDIENCE, service_account=ACCOUNT, certs_url=certs_url)


def test_accepts_cloud_schedulers_token(keys: Keys, scheduler: SchedulerConfig) -> None:
    claims = verify_scheduler_token(keys.token(), scheduler)
    assert claims["email"] == ACCOUNT
    assert verify_scheduler_request({"Authorization": f"Bearer {keys.token()}"}, scheduler)["aud"] == AUDIENCE


@BAD_CLAIMS
def test_refuses_bad_claims(keys: Keys, scheduler: SchedulerConfig, overrides: dict, error: type) -> None:
    with pytest.raises(error) as caught:
        verify_scheduler_token(keys.token(**overrides), scheduler)
    if error is Unauthorized:
        assert not isinstance(caught.value, Forbidden)


def test_refuses_tokens_not_signed_by_google(keys: Keys, scheduler: SchedulerConfig) -> None:
    with pytest.raises(Unauthorized):
        verify_scheduler_token(keys.token(key=keys.impostor_key), scheduler)
    good = keys.token()
    header, payload, _sig = good.split(".")
    for bad in (f"{header}.{payload}.", f"{header}.{payload}", "garbage", f"{header}.{payload}.AAAA"):
        with pytest.raises(Unauthorized):
            verify_scheduler_token(bad, scheduler)


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_refuses_missing_or_other_authorization(scheduler: SchedulerConfig, header: str) -> None:
    with pytest.raises(Unauthorized):
        verify_scheduler_request({"Authorization": header} if header else {}, scheduler)


def test_no_audience_means_local_and_no_check() -> None:
    assert verify_scheduler_request({}, SchedulerConfig()) is None


def test_audience_without_account_is_a_config_error(keys: Keys, certs_url: str) -> None:
    with pytest.raises(ConfigError):
        verify_scheduler_token(keys.token(), SchedulerConfig(audience=AUDIENCE, certs_url=certs_url))


def test_certs_unreachable_is_transient(keys: Keys) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_port}/certs"
    closed.server_close()
    with pytest.raises(TransientError):
        verify_scheduler_token(keys.token(), SchedulerConfig(audience=AUDIENCE, service_account=ACCOUNT,
                                                             certs_url=url))


# Cloud Run, deployed private, checks the caller's token and strips its signature before the code sees it
# (https://cloud.google.com/run/docs/authenticating/service-to-service). Both header shapes arrive.
PLATFORM_HEADERS = ["Authorization", "X-Serverless-Authorization"]


@pytest.mark.parametrize("name", PLATFORM_HEADERS)
def test_private_deployment_accepts_the_token_cloud_run_checked(keys: Keys, scheduler: SchedulerConfig,
                                                                name: str) -> None:
    claims = verify_scheduler_request({name: f"Bearer {keys.stripped()}"}, scheduler, platform_checked=True)
    assert claims["email"] == ACCOUNT and claims["aud"] == AUDIENCE


@pytest.mark.parametrize("name", PLATFORM_HEADERS)
def test_unsigned_token_is_refused_where_the_platform_did_not_check(keys: Keys, scheduler: SchedulerConfig,
                                                                    name: str) -> None:
    with pytest.raises(Unauthorized, match="not marked private") as caught:
        verify_scheduler_request({name: f"Bearer {keys.stripped()}"}, scheduler)
    assert not isinstance(caught.value, Forbidden)


@BAD_CLAIMS
def test_private_deployment_still_checks_every_claim(keys: Keys, scheduler: SchedulerConfig, overrides: dict,
                                                     error: type) -> None:
    with pytest.raises(error) as caught:
        verify_scheduler_request({"X-Serverless-Authorization": f"Bearer {keys.stripped(**overrides)}"}, scheduler,
                                 platform_checked=True)
    if error is Unauthorized:
        assert not isinstance(caught.value, Forbidden)


def test_private_deployment_still_verifies_a_signed_token(keys: Keys, scheduler: SchedulerConfig) -> None:
    assert verify_scheduler_token(keys.token(), scheduler, platform_checked=True)["email"] == ACCOUNT
    with pytest.raises(Unauthorized):
        verify_scheduler_token(keys.token(key=keys.impostor_key), scheduler, platform_checked=True)
    with pytest.raises(Unauthorized):
        verify_scheduler_token("garbage.SIGNATURE_REMOVED_BY_GOOGLE", scheduler, platform_checked=True)


def test_serverless_header_is_the_one_cloud_run_checked(keys: Keys, scheduler: SchedulerConfig) -> None:
    """Cloud Run checks X-Serverless-Authorization and passes Authorization on untouched: the former decides."""
    headers = {"X-Serverless-Authorization": f"Bearer {keys.stripped(email='someone@gmail.com')}",
               "Authorization": f"Bearer {keys.token()}"}
    with pytest.raises(Forbidden):
        verify_scheduler_request(headers, scheduler, platform_checked=True)
    headers = {"X-Serverless-Authorization": f"Bearer {keys.stripped()}", "Authorization": "Basic dXNlcjpwYXNz"}
    assert verify_scheduler_request(headers, scheduler, platform_checked=True)["email"] == ACCOUNT


@pytest.mark.parametrize(
    ("env", "private"),
    [
        ({"K_SERVICE": "pvs6-watchdog", PRIVATE_ENV: "1"}, True),
        ({"K_SERVICE": "pvs6-ingest"}, False),
        ({PRIVATE_ENV: "1"}, False),
        ({"K_SERVICE": "pvs6-watchdog", PRIVATE_ENV: "0"}, False),
        ({}, False),
    ],
    ids=["private-cloud-run", "public-cloud-run", "flag-off-cloud-run", "flag-zero", "local"],
)
def test_only_a_private_cloud_run_service_trusts_the_platform(env: dict, private: bool) -> None:
    assert platform_checks_callers(env) is private
