"""``pvs6-cloud bootstrap-sheet``: a real config file, the real CLI, the Sheets fake (or a CSV folder)."""

from __future__ import annotations

from pvs6_cloud.cli import main
from tests.support.sheets_fake import SheetsFake


def write_config(tmp_path, site_table: str, extra: str = "") -> str:
    path = tmp_path / "cloud.toml"
    path.write_text(f"""
[sites.home]
secret = "not-a-real-secret"
latitude = 41.76
longitude = -72.68
timezone = "America/New_York"
{site_table}
[weather]
enabled = false
{extra}
""")
    return str(path)


def test_bootstrap_sheet_creates_then_reports_nothing_to_do(tmp_path, capsys):
    with SheetsFake() as fake:
        sid = fake.add_spreadsheet("Our solar")
        config = write_config(tmp_path, f'spreadsheet_id = "{sid}"',
                              f'[sheets]\napi_endpoint = "{fake.endpoint}"\nmax_retries = 0')
        assert main(["bootstrap-sheet", "--config", config, "--site", "home"]) == 0
        first = capsys.readouterr().out
        assert "spreadsheet 'Our solar'" in first
        assert "tabs added: Readings, Daily, Monthly, Devices, Alerts, _state" in first
        assert "charts added: Daily solar production vs expected, Lifetime energy per panel" in first
        assert fake.spreadsheets[sid].sheets[0].title == "Readings"  # the empty Sheet1 is gone

        assert main(["bootstrap-sheet", "--config", config, "--site", "home"]) == 0
        second = capsys.readouterr().out
        assert "already in shape: nothing added" in second
        assert "tabs added" not in second
        assert sum(len(s.charts) for s in fake.spreadsheets[sid].sheets) == 2


def test_bootstrap_sheet_denied_says_whom_to_share_with(tmp_path, capsys):
    with SheetsFake() as fake:
        config = write_config(tmp_path, 'spreadsheet_id = "missing-sheet"',
                              f'[sheets]\napi_endpoint = "{fake.endpoint}"\nmax_retries = 0')
        assert main(["bootstrap-sheet", "--config", config, "--site", "home"]) == 1
        assert "share the sheet (Editor)" in capsys.readouterr().err


def test_bootstrap_sheet_for_a_csv_site_writes_every_tab_file(tmp_path, capsys):
    config = write_config(tmp_path, 'local_dir = "sheet"')
    assert main(["bootstrap-sheet", "--config", config, "--site", "home"]) == 0
    assert "CSV folder" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "sheet").iterdir())
    assert names == ["Alerts.csv", "Daily.csv", "Devices.csv", "Monthly.csv", "Readings.csv", "_state.csv"]
    assert main(["bootstrap-sheet", "--config", config, "--site", "nowhere"]) == 2
