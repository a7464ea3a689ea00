"""The command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cronofy_avail import __version__
from cronofy_avail.cli.main import main


def test_demo_command_runs_and_reports_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.strip().splitlines()[-1])
    for key in (
        "ok",
        "periods_expected",
        "periods_in_sync",
        "notifications",
        "api_calls",
        "managed_slots",
        "unmanaged_slots",
    ):
        assert key in report
    assert report["ok"] is True
    assert report["periods_in_sync"] == report["periods_expected"] == 4


def test_installed_console_script_runs_the_demo() -> None:
    script = Path(sys.executable).parent / "cronofy-avail"
    assert script.exists(), "the project's console script is not installed"
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(script), "demo", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is True


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) != 0
    assert "usage" in capsys.readouterr().out.lower()


def test_unknown_command_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code != 0
    assert "invalid choice" in capsys.readouterr().err
