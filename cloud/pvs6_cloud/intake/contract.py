"""The upload contract, checked at the door before anything is parsed or written.

Order matters: the signature is verified over the compressed bytes *before* they are inflated, so a stranger
cannot make us spend memory on a gzip bomb; inflation then stops at the 16 MiB limit instead of trusting the
header. Nothing here logs a secret or a signature.

Each snapshot's ``sha256`` is checked against its payload's bytes exactly as they sit in the body (the edge
splices the PVS6's raw answer in unchanged, see ``pvs6_edge.envelope``): the hash is the reading's identity for
deduplication, so a wrong one could make a new reading pass for one already stored, which the Pi would then
delete. The envelope is therefore read by a small walker over its two outer levels that keeps each payload's
span; everything inside a value is decoded by the standard JSON decoder.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pvs6_cloud.infra.errors import BadRequest, PayloadTooLarge, Unauthorized

__all__ = [
    "MAX_COMPRESSED_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_SNAPSHOTS",
    "UploadBatch",
    "UploadItem",
    "decode_body",
    "sign",
    "verify_signature",
]

MAX_COMPRESSED_BYTES = 1 << 20
MAX_DECOMPRESSED_BYTES = 16 << 20
MAX_SNAPSHOTS = 500
MAX_SKEW_S = 300
MAX_FUTURE = timedelta(minutes=10)
# No PVS6 took a reading before it existed (sold from about 2015; 2010 leaves room): an earlier captured_at is a
# Pi whose clock never synced, and near year 1 it would overflow every local-time calculation downstream.
EARLIEST_CAPTURE = datetime(2010, 1, 1, tzinfo=UTC)
SCHEMA = 1
SOURCES = ("dl_cgi", "varserver")


@dataclass(frozen=True, slots=True)
class UploadItem:
    """One raw PVS6 response as the edge captured it."""

    captured_at: datetime
    source: str
    sha256: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UploadBatch:
    """A verified, decoded upload: the edge's heartbeat plus zero or more snapshots."""

    site: str
    edge_version: str
    edge_status: Mapping[str, Any]
    items: tuple[UploadItem, ...]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of ``timestamp + "." + body``, as the edge sends it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    headers: Mapping[str, str], body: bytes, secret_for: Callable[[str], str | None], now: datetime
) -> str:
    """Check site, timestamp window and HMAC; return the site id.

    Parameters
    ----------
    headers : mapping
        Request headers (case-insensitive mapping, as Flask gives).
    body : bytes
        The exact HTTP body, still compressed.
    secret_for : callable
        Site id -> its secret, or None for an unknown site.
    now : datetime
        The current time (aware), injected so tests control the clock.

    Raises
    ------
    Unauthorized
        Unknown site, missing or stale timestamp (> 300 s skew), or wrong signature.
    """
    site = headers.get("X-Sentinel-Site", "")
    timestamp = headers.get("X-Sentinel-Timestamp", "")
    signature = headers.get("X-Sentinel-Signature", "")
    secret = secret_for(site) if site else None
    if not secret:
        raise Unauthorized("unknown or missing site")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Unauthorized("missing or malformed X-Sentinel-Timestamp") from None
    # Compared as integers: a stranger's 400-digit timestamp must be refused, not overflow a float (a 500).
    if abs(int(now.timestamp()) - sent_at) > MAX_SKEW_S:
        raise Unauthorized("timestamp outside the 300 s window (check the Pi's clock)")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise Unauthorized("bad signature")
    return site


class GzipRefused(ValueError):
    """Why a gzip stream was not inflated; ``too_large`` tells a size refusal (413) from a broken stream (400)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


def gunzip_bounded(data: bytes, *, allow_trailing: bool = False) -> bytes:
    """Gunzip at most MAX_DECOMPRESSED_BYTES, refusing more without inflating it (a bomb costs us nothing).

    Shared by the door and by replay, so an upload and an archive file are held to the same limits. Bytes after
    the stream (a second member, junk) are refused unless ``allow_trailing``: at the door they would be data the
    signature covered but nobody reads.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as err:
        raise GzipRefused(f"not valid gzip ({err})") from err
    if len(out) > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
        raise GzipRefused("inflates to more than 16 MiB", too_large=True)
    if not inflater.eof:
        raise GzipRefused("gzip stream is truncated")
    if inflater.unused_data and not allow_trailing:
        what = "a second gzip member" if inflater.unused_data[:2] == b"\x1f\x8b" else "trailing bytes"
        raise GzipRefused(f"{what} after the gzip stream")
    return out


def _inflate(body: bytes) -> bytes:
    try:
        return gunzip_bounded(body)
    except GzipRefused as err:
        if err.too_large:
            raise PayloadTooLarge("decompressed body is over 16 MiB") from err
        raise BadRequest(f"body refused: {err}") from err


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{where}: captured_at must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise BadRequest(f"{where}: captured_at {value!r} is not ISO-8601") from err
    if parsed.tzinfo is None:
        raise BadRequest(f"{where}: captured_at must carry a time zone (UTC)")
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError as err:
        raise BadRequest(f"{where}: captured_at {value!r} is out of range") from err
    if moment < EARLIEST_CAPTURE:
        raise BadRequest(f"{where}: captured_at {value!r} is before {EARLIEST_CAPTURE:%Y}, before any PVS6 "
                         "existed: the Pi's clock was not set when it took this reading")
    return moment


def _item(raw: Any, index: int, now: datetime | None, payload_bytes: tuple[bytes, ...]) -> UploadItem:
    where = f"snapshots[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    source = raw.get("source")
    if source not in SOURCES:
        raise BadRequest(f"{where}: source must be one of {', '.join(SOURCES)}")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadRequest(f"{where}: sha256 must be 64 lowercase hex digits")
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise BadRequest(f"{where}: payload must be the PVS6's JSON object")
    captured_at = _parse_time(raw.get("captured_at"), where)
    if now is not None and captured_at > now + MAX_FUTURE:
        # A reading from the future was taken while the Pi's clock ran ahead: storing it would put a row years
        # away in the history. Refused, the Pi sets it aside (its raw archive keeps the bytes).
        raise BadRequest(f"{where}: captured_at {captured_at:%Y-%m-%d %H:%M}Z is in the future: the Pi's clock "
                         "was wrong when it took this reading")
    if not any(hmac.compare_digest(hashlib.sha256(candidate).hexdigest(), digest) for candidate in payload_bytes):
        raise BadRequest(f"{where}: sha256 {digest[:12]}... does not match the payload's bytes (altered, or "
                         "hashed over something else than what was sent)")
    return UploadItem(captured_at, source, digest, payload)


def decode_body(body: bytes, content_encoding: str, site: str, now: datetime | None = None) -> UploadBatch:
    """Inflate and validate an upload body against the contract.

    With ``now`` (aware), a snapshot captured more than 10 minutes after it is refused as misdated.

    Raises
    ------
    PayloadTooLarge
        Over 1 MiB compressed or 16 MiB decompressed, or more than 500 snapshots.
    BadRequest
        Not gzip, not JSON, wrong schema, or a field that breaks the contract (the message names it).
    """
    if len(body) > MAX_COMPRESSED_BYTES:
        raise PayloadTooLarge("body is over 1 MiB compressed")
    if content_encoding.strip().lower() != "gzip":
        raise BadRequest("body must be sent with Content-Encoding: gzip")
    try:
        text = _inflate(body).decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(f"body is not UTF-8 JSON: {err}") from err
    try:
        data, spans = _read_envelope(text)
    except (ValueError, RecursionError) as err:  # RecursionError: nested too deep
        raise BadRequest(f"body is not valid JSON: {err}") from err
    schema = data.get("schema")
    if type(schema) is not int or schema != SCHEMA:  # not True, not 1.0: the exact integer
        raise BadRequest(f"unsupported schema {data.get('schema')!r} (this function speaks {SCHEMA})")
    if data.get("site") != site:
        raise BadRequest("body site does not match X-Sentinel-Site")
    edge = data.get("edge", {})
    if not isinstance(edge, dict) or not isinstance(edge.get("status", {}), dict):
        raise BadRequest("edge must be an object with a status object")
    snapshots = data.get("snapshots", [])
    if not isinstance(snapshots, list):
        raise BadRequest("snapshots must be a list")
    if len(snapshots) > MAX_SNAPSHOTS:
        raise PayloadTooLarge(f"{len(snapshots)} snapshots in one batch; at most {MAX_SNAPSHOTS}")
    items = tuple(_item(raw, i, now, spans.get(i, ())) for i, raw in enumerate(snapshots))
    return UploadBatch(site, str(edge.get("version", "")), edge.get("status", {}), items)


_WHITESPACE = re.compile(r"[ \t\n\r]*")


class DuplicateKey(ValueError):
    """The envelope names one key twice (two ``sha256``, two ``payload``: which one would we trust?)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for the envelope's own objects: a repeated key is refused, not silently last-wins."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(f"duplicate key {key!r} in the envelope")
        obj[key] = value
    return obj


_ENVELOPE = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_PAYLOAD = json.JSONDecoder()  # the PVS6's own answer: read as any JSON reader would (its bytes stay archived)


class _Walker:
    """Reads ``{..., "snapshots": [{..., "payload": <raw>}, ...]}`` keeping each payload's text span.

    Only the outer two levels are walked here; every value is decoded by the standard decoder (C speed), the
    envelope's with :func:`_no_duplicates`, payloads without it.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.payload_bytes: dict[int, tuple[bytes, ...]] = {}

    def skip(self) -> None:
        match = _WHITESPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos: self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise ValueError(f"expected {char!r} at char {self.pos}")
        self.pos += 1

    def value(self, decoder: json.JSONDecoder) -> Any:
        self.skip()
        value, self.pos = decoder.raw_decode(self.text, self.pos)
        return value

    def members(self, on_value: Any) -> dict[str, Any]:
        """An object whose values ``on_value(key)`` reads; a repeated key is refused."""
        obj: dict[str, Any] = {}
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return obj
        while True:
            key = self.value(_ENVELOPE)
            if not isinstance(key, str):
                raise ValueError(f"object key must be a string at char {self.pos}")
            if key in obj:
                raise DuplicateKey(f"duplicate key {key!r} in the envelope")
            self.expect(":")
            obj[key] = on_value(key)
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            return obj

    def snapshot(self, index: int) -> Any:
        if self.peek() != "{":
            return self.value(_ENVELOPE)  # not an object: the contract check says so

        def on_value(key: str) -> Any:
            if key != "payload":
                return self.value(_ENVELOPE)
            start = self.pos
            self.skip()
            first = self.pos
            value = self.value(_PAYLOAD)
            last = self.pos
            self.skip()
            # The bytes as spliced in, with or without the whitespace around them (the PVS6's trailing newline
            # is part of its raw answer; a JSON writer's ": " is not).
            self.payload_bytes[index] = (self.text[start: self.pos].encode(), self.text[first: last].encode())
            return value

        return self.members(on_value)

    def snapshots(self) -> Any:
        if self.peek() != "[":
            return self.value(_ENVELOPE)  # not a list: the contract check says so
        self.pos += 1
        items: list[Any] = []
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            items.append(self.snapshot(len(items)))
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]")
            return items


def _read_envelope(text: str) -> tuple[dict[str, Any], dict[int, tuple[bytes, ...]]]:
    """The decoded body and, per snapshot index, the candidate byte strings its sha256 must match.

    Raises
    ------
    ValueError
        Not JSON, not an object, trailing text, or a key repeated in the envelope (:class:`DuplicateKey`).
    """
    walker = _Walker(text)
    if walker.peek() != "{":
        raise ValueError("body must be a JSON object")
    data = walker.members(lambda key: walker.snapshots() if key == "snapshots" else walker.value(_ENVELOPE))
    walker.skip()
    if walker.pos != len(text):
        raise ValueError(f"extra data after the JSON object at char {walker.pos}")
    return data, walker.payload_bytes


def now_utc() -> datetime:
    """The real clock, for callers that have no injected one."""
    return datetime.now(UTC)


def gzip_json(data: Any) -> bytes:
    """Compact JSON, gzipped: how tests and the replay command build bodies."""
    return gzip.compress(json.dumps(data, separators=(",", ":")).encode())
