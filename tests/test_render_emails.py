"""scripts/render_emails.py: an email's HTML with its inline chart becomes a phone-width PNG in headless
Chromium; where no Chromium is installed the script says so and renders nothing."""

from __future__ import annotations

import importlib.util
import io
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from pvs6_cloud.alerting.notify.transport import OutboxTransport, OutgoingMail

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "render_emails.py"


@pytest.fixture(scope="module")
def renderer():
    spec = importlib.util.spec_from_file_location("render_emails", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outbox(folder: Path) -> Path:
    from PIL import Image

    chart = io.BytesIO()
    Image.new("RGB", (60, 30), (30, 90, 200)).save(chart, format="PNG")
    mail = OutgoingMail(to=("o@example.com",), subject="[Home] Panel E1 stopped producing", kind="alert", id="a1",
                        text="Panel E1 stopped producing.",
                        html='<!doctype html><html><head><meta charset="utf-8"></head><body>'
                             '<p>Panel E1 stopped producing.</p><img src="cid:chart-1" alt="chart"></body></html>',
                        images={"chart-1": chart.getvalue()}, timezone="America/New_York")
    OutboxTransport(folder, "PVS6 Sentinel <p@example.com>").send(mail)
    return folder


def test_the_page_carries_its_chart_and_a_mail_header(renderer, tmp_path: Path) -> None:
    [eml] = _outbox(tmp_path / "outbox").glob("*.eml")
    page = renderer.page_of(message_from_bytes(eml.read_bytes(), policy=policy.default))
    assert "cid:" not in page and 'src="data:image/png;base64,' in page
    assert "[Home] Panel E1 stopped producing" in page and "PVS6 Sentinel" in page


def test_renders_a_phone_width_png_or_says_why_not(renderer, tmp_path: Path, capsys) -> None:
    outbox, out = _outbox(tmp_path / "outbox"), tmp_path / "img"
    assert renderer.main(["--outbox", str(outbox), "--out", str(out), "--height", "600"]) == 0
    printed = capsys.readouterr().out
    if renderer.find_browser() is None:
        assert "skipped: no Chromium found" in printed and not out.exists()
        return
    from PIL import Image

    with Image.open(out / "alert-email.png") as png:
        assert png.width == renderer.PHONE_WIDTH * renderer.SCALE
        assert 100 < png.height < 600 * renderer.SCALE  # cut below the last line
        colours = {rgb for _count, rgb in png.convert("RGB").getcolors(maxcolors=4096) or []}
    assert (30, 90, 200) in colours  # the inline chart was drawn


def test_an_empty_outbox_is_an_error(renderer, tmp_path: Path) -> None:
    if renderer.find_browser() is None:
        pytest.skip("no Chromium: the script skips before looking at the outbox")
    assert renderer.main(["--outbox", str(tmp_path), "--out", str(tmp_path / "img")]) == 1


def test_without_chromium_it_says_why_and_renders_nothing(renderer, tmp_path: Path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "no-such-browser-here")
    outbox, out = _outbox(tmp_path / "outbox"), tmp_path / "img"
    assert renderer.main(["--outbox", str(outbox), "--out", str(out)]) == 0
    assert "skipped: no Chromium found" in capsys.readouterr().out and not out.exists()
