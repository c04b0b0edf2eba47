"""README's Troubleshooting quotes what ``pvs6-edge status`` prints, word for word, so an owner finds their line.

Each quoted line (``**`...`**``) is matched against the status the real formatter renders (the labels and the
sentences it writes) or, for the error text after a label, against the edge's own message strings. Placeholders
in a quote: ``...`` (any text), ``N`` (a number), ``<file>``/``<reason>`` (a name or a reason).
"""

from __future__ import annotations

import re
from pathlib import Path

from pvs6_edge.status import format_status

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EDGE = ROOT / "edge" / "pvs6_edge"


def _quotes() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Troubleshooting"):text.index("## Your old JSON files")]
    return [re.sub(r"\s+", " ", q) for q in re.findall(r"\*\*`([^`]+)`\*\*", section)]


def _rendered() -> str:
    """Every line the formatter can write, filled the way a troubled Pi fills them."""
    status = {
        "pvs_ok": False, "pvs_failing_since": "2026-06-03T10:00:00Z", "api": "varserver",
        "last_pvs_contact": "2026-06-03T09:45:00Z", "last_pvs_error_at": "2026-06-03T16:00:00Z",
        "last_pvs_error": "x", "storage_error": "x", "storage_error_at": "2026-06-03T16:00:00Z",
        "disk_full": True, "disk_free_bytes": 512 * 1024, "spool_depth": 3, "spool_bytes": 30_000,
        "oldest_item_age_s": 3600.0, "quarantined": 1, "last_upload_ok": None,
        "last_upload_error_at": "2026-06-03T16:00:00Z", "last_upload_error": "x",
        "next_upload_at": "2026-06-03T16:10:00Z", "upload_failures": 2,
        "held_back": [{"name": "20260603T150000Z.json", "attempts": 2, "since": "2026-06-03T15:00:00Z"}],
        "dropped_total": 4, "warnings": ["x"], "newly_quarantined": [{"name": "a.json", "reason": "x"}],
        "clock": "2026-06-03T16:02:11Z", "clock_offset_s": None,
    }
    pvs_never = format_status({**status, "pvs_failing_since": None}, "edge.toml")
    return re.sub(r" +", " ", format_status(status, "edge.toml") + "\n" + pvs_never)


def _messages() -> str:
    """The edge's string literals, with adjacent literals joined (a message split over lines reads whole)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(EDGE.glob("*.py")))
    return re.sub(r"\s+", " ", re.sub(r"\"\s*\n\s*f?\"", "", source))


def _pattern(quote: str) -> str:
    parts = re.split(r"(\.\.\.|<[a-z]+>|\bN\b)", quote)
    wild = {"...": ".*?", "N": r"[\d.]+"}
    return "".join(wild.get(p, ".+?" if p.startswith("<") else re.escape(p)) for p in parts)


def test_every_quoted_status_line_is_what_the_edge_prints() -> None:
    quotes = _quotes()
    assert len(quotes) >= 12, quotes
    for label in ("held back:", "DISK FULL:", "quarantined:", "next upload try:", "STORAGE FAILING:"):
        assert any(q.startswith(label) for q in quotes), f"Troubleshooting has no entry for {label!r}"
    rendered, messages = _rendered(), _messages()
    for quote in quotes:
        if re.search(_pattern(quote), rendered):
            continue
        # "label: message": the label is the formatter's, the message the edge's own words (a bare message has
        # no label: it is the tail of one).
        label, sep, message = quote.partition(": ")
        if sep:
            assert re.search(rf"(?m)^{re.escape(label)}:", rendered), f"no status line {label!r}: {quote!r}"
        else:
            message = quote
        fragments = [f.strip() for f in re.split(r"\.\.\.|<[a-z]+>|\bN\b|\(", message) if len(f.strip()) >= 8]
        for fragment in fragments:
            assert fragment in messages, f"the edge never says {fragment!r} (README quotes {quote!r})"


def test_an_error_fixed_since_is_marked_over_as_the_readme_says() -> None:
    """A Pi that failed once and then worked shows the remembered errors marked over, in the README's words."""
    status = {
        "pvs_ok": True, "pvs_failing_since": None, "api": "dl_cgi", "last_pvs_contact": "2026-06-03T16:00:04Z",
        "last_pvs_error_at": "2026-06-03T03:00:00Z", "last_pvs_error": "PVS6 did not answer",
        "spool_depth": 0, "spool_bytes": 0, "oldest_item_age_s": None, "quarantined": 0,
        "last_upload_ok": "2026-06-03T16:00:09Z", "last_upload_error_at": "2026-06-03T15:45:09Z",
        "last_upload_error": "cannot reach the cloud", "next_upload_at": None, "upload_failures": 0,
        "held_back": [], "dropped_total": 0, "warnings": [], "newly_quarantined": [],
        "clock": "2026-06-03T16:02:11Z", "clock_offset_s": None,
    }
    rendered = format_status(status, "edge.toml")
    readme = re.sub(r"\s+", " ", README.read_text(encoding="utf-8"))
    for line, note in (("last PVS error:", "(over: the PVS6 answered since)"),
                       ("last upload error:", "(over: an upload worked since)")):
        assert re.search(rf"(?m)^{re.escape(line)} +\S+ {re.escape(note)}  \S", rendered), rendered
        assert f"`{note}`" in readme, f"README does not explain {note!r}"
    still_failing = format_status({**status, "pvs_ok": False, "upload_failures": 1}, "edge.toml")
    assert "(over:" not in still_failing
