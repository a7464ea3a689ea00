"""``cronofy-avail dev`` in a child process, run as a user runs it (clean ``HOME`` and working
directory, settings from what ``dev`` wrote): how it stops, what a refused run leaves, and what
the next run starts with."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import pytest

from cronofy_avail.emulator.control_client import EmulatorControl
from tests.support.dev_run import WITHIN, start_dev
from tests.support.user_cli import UserShell


@pytest.fixture
def shell(tmp_path: Path) -> UserShell:
    return UserShell(tmp_path)


def dev_setting(shell: UserShell, name: str) -> str:
    for line in (shell.cwd / ".env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no {name} in .env")


GRACE = 10.0
"""How long a first Ctrl-C lets running syncs finish (the coordinator's default grace)."""


async def test_a_second_ctrl_c_during_a_sync_stops_at_once_in_one_line(shell: UserShell) -> None:
    dev = await start_dev(shell)
    try:
        await dev.wait_for(r"^Ready\.$")
        code, text = await shell.run("setup")
        assert code == 0, text
        async with EmulatorControl(dev_setting(shell, "CRONOFY_API_BASE_URL")) as control:
            gate = await control.add_fault(endpoint="GET /v1/events", hold=True)
            code, text = await shell.run("event", "add", "--from", "09:00", "--to", "12:00")
            assert code == 0, text
            await control.wait_held(gate["fault_id"], 1, seconds=WITHIN)
        # A sync is in flight, parked at the emulator (never released by the test): Ctrl-C,
        # then Ctrl-C again.
        mark = len(dev.lines)
        dev.process.send_signal(signal.SIGINT)
        await dev.wait_for(r"^Stopping: ", start=mark)
        dev.process.send_signal(signal.SIGINT)
        # At once: well before the grace the first Ctrl-C gives the parked sync (which used
        # to run out before the process ended).
        async with asyncio.timeout(GRACE / 2):
            code = await dev.process.wait()
            assert dev.reader is not None
            await dev.reader
    finally:
        with contextlib.suppress(ProcessLookupError):
            dev.process.kill()
        await dev.process.wait()
    assert code == 130, dev.text
    assert "Traceback" not in dev.text, dev.text
    assert "RuntimeError" not in dev.text, dev.text
    assert dev.lines[mark:] == [
        "Stopping: removed .env; letting running syncs finish (Ctrl-C again stops at once)...",
        "Stopped at once (second Ctrl-C).",
    ]
    assert not (shell.cwd / ".env").exists()
