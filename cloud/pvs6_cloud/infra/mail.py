"""One email, as every stage hands it on: alerts, summaries, the watchdog and the sheet-health notices.

It sits below all of them so that anything may queue a mail without importing the code that sends it
(`pvs6_cloud.alerting.notify.transport`): the sink's health bookkeeping, for one, stands below alerting.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OutgoingMail"]


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One email, ready to send.

    Attributes
    ----------
    to : tuple of str
        Recipients.
    subject : str
        Subject line (plain words; the site name first so a family with two sites can tell them apart).
    text : str
        The plain-text part (what a watch or a text-only client shows).
    html : str
        The HTML part; empty = text only. Inline images are referenced as ``cid:<name>``.
    images : mapping of str to bytes
        ``cid`` name -> PNG bytes, attached inline to the HTML part.
    kind : str
        ``"alert"``, ``"summary"``, ``"watchdog"``...: for logs and the outbox file name.
    id : str
        Stable identity: the same mail queued twice is one mail, and it becomes the Message-ID.
    timezone : str
        The recipients' site zone (IANA name): the ``Date`` header is the sending time there, with its offset.
    attachments : mapping of str to bytes
        File name -> CSV bytes, attached as files (the installer's evidence of a panel alert).
    """

    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    images: Mapping[str, bytes] = field(default_factory=dict)
    kind: str = "alert"
    id: str = ""
    timezone: str = ""
    attachments: Mapping[str, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (images base64) for the mail queue in the site state."""
        return {
            "to": list(self.to),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "images": {cid: base64.b64encode(png).decode("ascii") for cid, png in self.images.items()},
            "kind": self.kind,
            "id": self.id,
            "timezone": self.timezone,
            "attachments": {name: base64.b64encode(data).decode("ascii") for name, data in self.attachments.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutgoingMail:
        """Inverse of `to_json`."""
        return cls(
            to=tuple(data.get("to", ())),
            subject=str(data.get("subject", "")),
            text=str(data.get("text", "")),
            html=str(data.get("html", "")),
            images={cid: base64.b64decode(b64) for cid, b64 in dict(data.get("images", {})).items()},
            kind=str(data.get("kind", "alert")),
            id=str(data.get("id", "")),
            timezone=str(data.get("timezone", "")),
            attachments={n: base64.b64decode(b64) for n, b64 in dict(data.get("attachments", {})).items()},
        )
