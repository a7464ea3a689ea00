"""The command line: unbuilt commands say so and fail."""

from __future__ import annotations

import pytest

from cronofy_avail import __version__
from cronofy_avail.cli import main


def test_demo_is_not_built_yet(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo"])
    captured = capsys.readouterr()
    assert code != 0
    assert "not built yet" in captured.err
    assert captured.out == ""


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
