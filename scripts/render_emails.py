"""Render the emails in an outbox (by default the one ``make demo`` fills) to PNG pictures at phone width.

The pictures in docs/img are made this way from what the product really sends: run ``make demo``, then
``.venv/bin/python scripts/render_emails.py``. Each ``.eml`` file's HTML part, with its inline charts, is opened
in headless Chromium (``chromium --headless --screenshot``) at a phone's width, under a small header like a mail
app's (subject, sender, date); the page is cut below its last line and stored with a reduced palette so the
pictures stay small. One picture per kind of email: ``alert-email.png``, ``resolved-email.png``,
``monthly-summary.png`` (and ``reminder-email.png`` when the outbox holds a reminder).

Without Chromium (``CHROMIUM`` names another binary) the script renders nothing, says why and exits 0, so it can
run anywhere; an empty outbox is an error (exit 1).
Usage: ``scripts/render_emails.py [--outbox DIR] [--out DIR] [--width PX] [--height PX]``.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import shutil
import subprocess
import sys
import tempfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMES = {"alert": "alert-email.png", "resolved": "resolved-email.png", "summary": "monthly-summary.png",
         "reminder": "reminder-email.png"}
BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome", "google-chrome-stable")
PHONE_WIDTH = 390  # CSS px: a common phone's screen width
SCALE = 2  # device pixels per CSS px, as on a phone's screen
TALL = 6000  # CSS px: the window is this tall, and the picture is cut below the last line
PALETTE = 96  # colours kept: text, a few greys, the charts' lines and bars


class NoBrowser(RuntimeError):
    """No Chromium on this machine: nothing can be rendered (not an error of the emails)."""


def find_browser() -> str | None:
    """The Chromium binary to use: ``$CHROMIUM`` when set, else the first of `BROWSERS` on the PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def page_of(msg: EmailMessage) -> str:
    """The mail's HTML with its inline images as data URIs, under a header like a mail app's."""
    body = msg.get_body(("html",))
    if body is None:
        text = msg.get_body(("plain",))
        content = f"<pre style='white-space:pre-wrap;font:15px sans-serif'>{html.escape(text.get_content())}</pre>" \
            if text is not None else ""
    else:
        content = body.get_content()
    for part in msg.walk():
        cid = (part.get("Content-ID") or "").strip("<>")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True) or b"").decode("ascii")
            content = content.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    name, address = parseaddr(str(msg.get("From", "")))
    date = parsedate_to_datetime(str(msg["Date"])).strftime("%a %d %b %Y %H:%M") if msg.get("Date") else ""
    header = ("<div style='font-family:sans-serif;background:#f2f2f2;border-bottom:1px solid #ddd;"
              "padding:10px 14px;font-size:13px;color:#555'>"
              f"<div style='font-size:16px;font-weight:bold;color:#111;margin-bottom:4px'>"
              f"{html.escape(str(msg.get('Subject', '')))}</div>"
              f"{html.escape(name or address)} &middot; {html.escape(date)}</div>")
    style = "<style>html,body{margin:0;background:#fff}</style>"
    if "<body" in content:
        head, _, rest = content.partition("<body")
        opening, _, inner = rest.partition(">")
        return f"{head}<body{opening}>{style}{header}{inner}"
    return f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>{header}{content}</body></html>"


def screenshot(browser: str, page: Path, png: Path, width: int, height: int = TALL) -> None:
    """Chromium's screenshot of ``page`` in a ``width`` x ``height`` window at `SCALE`."""
    with tempfile.TemporaryDirectory(prefix="render-emails-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", f"--user-data-dir={profile}", f"--force-device-scale-factor={SCALE}",
                   f"--window-size={width},{height}", f"--screenshot={png}",
                   page.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"{Path(browser).name} could not render {page.name}: {done.stderr.strip()[-500:]}")


def trim(png: Path) -> tuple[int, int]:
    """Cut the picture below its last non-white line, reduce its palette, store it small; return its size."""
    from PIL import Image, ImageChops

    with Image.open(png) as shot:
        rgb = shot.convert("RGB")
    box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, (255, 255, 255))).getbbox()
    bottom = min(rgb.height, (box[3] if box else rgb.height) + 12 * SCALE)
    cut = rgb.crop((0, 0, rgb.width, bottom))
    cut.quantize(colors=PALETTE, dither=Image.Dither.NONE).save(png, optimize=True)
    return cut.size


def render(outbox: Path, out: Path, width: int = PHONE_WIDTH, height: int = TALL,
           browser: str | None = None) -> list[Path]:
    """Render the first email of each kind in ``outbox`` to ``out``; return the pictures written.

    Raises
    ------
    NoBrowser
        No Chromium found.
    FileNotFoundError
        No ``.eml`` file in ``outbox``.
    """
    browser = browser or find_browser()
    if browser is None:
        raise NoBrowser("no Chromium found (looked for $CHROMIUM and " + ", ".join(BROWSERS) + "); "
                                "install it (Debian: apt-get install chromium) to render the emails")
    mails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    if not mails:
        raise FileNotFoundError(f"no .eml files in {outbox}: run `make demo` first")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="render-emails-") as work:
        for mail in mails:
            kind = mail.name.split("-", 1)[0]
            target = out / NAMES.get(kind, f"{kind}-email.png")
            if target in written:
                continue
            msg = message_from_bytes(mail.read_bytes(), policy=policy.default)
            assert isinstance(msg, EmailMessage)
            page = Path(work) / f"{mail.stem}.html"
            page.write_text(page_of(msg), encoding="utf-8")
            screenshot(browser, page, target, width, height)
            size = trim(target)
            print(f"{target}: {size[0]}x{size[1]} px, {target.stat().st_size // 1024} kB  (from {mail.name})")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outbox", type=Path, default=REPO / "demo-output" / "outbox",
                        help="folder of .eml files (default: the demo's outbox)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="where the pictures go")
    parser.add_argument("--width", type=int, default=PHONE_WIDTH, help="page width in CSS pixels")
    parser.add_argument("--height", type=int, default=TALL, help="window height in CSS pixels (the picture is cut "
                        "below the last line; a longer email is cut at this height)")
    args = parser.parse_args(argv)
    try:
        render(args.outbox, args.out, args.width, args.height)
    except NoBrowser as err:
        print(f"render_emails: skipped: {err}")
        return 0
    except (FileNotFoundError, RuntimeError) as err:
        print(f"render_emails: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
