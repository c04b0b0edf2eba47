#!/usr/bin/env python3
"""Helper of ``deploy.sh --selftest``: knock on the deployed ``pvs6-ingest`` door the way the Pi does.

The request is signed with the site's upload secret exactly as the Pi signs (ARCHITECTURE.md, upload contract:
``X-Sentinel-Signature: sha256=<hex HMAC of "timestamp.body">``), but its body is deliberately not gzip. The door
checks the signature before it reads the body, so the answer tells, without storing anything:

- 400 "body must be sent with Content-Encoding: gzip": the function runs, its config loaded, and it holds the
  same secret as Secret Manager (the one the Pi was given). Nothing is written for a refused request.
- 401: the function refused the secret (or this computer's clock is off by more than 5 minutes).
- 5xx: the function runs but cannot start its work (usually its config); its log says why.

Standard library only (Cloud Shell's own Python). Usage: ``probe_ingest.py URL SITE``, with the secret in the
environment variable ``PVS6_PROBE_SECRET`` (never on a command line). Prints one plain line; exit code 0 when
the door is healthy, 1 when not, 2 on wrong usage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

PROBE_BODY = b"deploy.sh --selftest: a signed knock, deliberately not gzip, so nothing is stored"
SECRET_ENV = "PVS6_PROBE_SECRET"  # noqa: S105  (the name of the variable, not a secret)
TIMEOUT_S = 60.0  # a cold start of the function takes a few seconds, a first one after a deploy longer


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The upload signature, as the Pi computes it (pvs6_cloud.intake.contract.sign)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def knock(url: str, site: str, secret: str, *, now: float | None = None) -> tuple[int, str]:
    """POST the signed probe; (HTTP status, the door's error text), or (0, why) when there was no answer."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return 0, f"{url!r} is not a web address"
    stamp = str(int(time.time() if now is None else now))
    # Only http(s), checked above.
    request = urllib.request.Request(url, data=PROBE_BODY, method="POST", headers={  # noqa: S310
        "Content-Type": "application/octet-stream",
        "X-Sentinel-Site": site,
        "X-Sentinel-Timestamp": stamp,
        "X-Sentinel-Signature": sign(secret, stamp, PROBE_BODY),
        "User-Agent": "pvs6-sentinel-deploy-selftest",
    })
    host = parts.hostname
    # A loopback door (a local test) is never reached through a proxy; Google's address honours the environment.
    handlers = [urllib.request.ProxyHandler({})] if host in {"127.0.0.1", "localhost", "::1"} else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as reply:
            return reply.status, _error_text(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, _error_text(err.read())
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return 0, str(reason)


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)[:200]


def verdict(status: int, text: str, site: str) -> tuple[bool, str]:
    """What the answer means for the owner, in one line."""
    if status == 400 and "gzip" in text:
        return True, f"pvs6-ingest answers and accepts site {site}'s upload secret: the Pi's uploads get in"
    if status == 401 and "timestamp" in text:
        return False, ("pvs6-ingest refused the test because this computer's clock is off by more than 5 minutes "
                       f"({text})")
    if status == 401:
        return False, (f"pvs6-ingest refused site {site}'s upload secret from Secret Manager (HTTP 401: {text}); "
                       "a new secret takes up to a minute to reach it: wait a minute and try again, else run "
                       "./deploy.sh")
    if status == 0:
        return False, f"pvs6-ingest did not answer ({text}): run ./deploy.sh, then try again"
    if status >= 500:
        return False, (f"pvs6-ingest answered HTTP {status} ({text}): its log says why "
                       "(console: Cloud Run functions, pvs6-ingest, Logs)")
    return False, f"pvs6-ingest answered HTTP {status} ({text}), not what PVS6 Sentinel's function answers"


def main(argv: Sequence[str]) -> int:
    secret = os.environ.get(SECRET_ENV, "")
    if len(argv) != 2 or not secret:
        sys.stderr.write(f"usage: {SECRET_ENV}=... probe_ingest.py URL SITE\n")
        return 2
    url, site = argv
    ok, line = verdict(*knock(url, site, secret), site)
    sys.stdout.write(line + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
