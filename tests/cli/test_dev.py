"""``cronofy-avail dev`` in a child process, run as a user runs it (clean ``HOME`` and working
directory, settings from what ``dev`` wrote): how it stops, what a refused run leaves, and what
the next run starts with."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from pathlib import Path

import pytest

from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.dev_run import WITHIN, running_dev, start_dev
from tests.support.user_cli import UserShell, shell

__all__ = ["shell"]  # fixture used by name


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


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("taken", ["--port", "--receiver-port"])
async def test_a_refused_dev_leaves_nothing_behind(tmp_path: Path, taken: str) -> None:
    first_shell = UserShell(tmp_path / "first")
    async with running_dev(first_shell) as first:
        emulator_line = await first.wait_for(r"^Cronofy emulator ")
        receiver_line = await first.wait_for(r"^Webhook receiver ")
        ports = {
            "--port": re.search(r"127\.0\.0\.1:(\d+)", emulator_line),
            "--receiver-port": re.search(r"127\.0\.0\.1:(\d+)", receiver_line),
        }
        found = ports[taken]
        assert found, first.text
        second = UserShell(tmp_path / "second")
        before = files_under(second.root)
        argv = ["dev", "--port", "0", "--receiver-port", "0", taken, found.group(1)]
        code, text = await second.run(*argv)
        assert code == 1, text
        what = "emulator" if taken == "--port" else "receiver"
        assert f"cannot start the {what} on 127.0.0.1:{found.group(1)}" in text
        assert "Traceback" not in text
        assert files_under(second.root) == before  # no store, mark, lock or directory


async def test_a_refused_dev_keeps_what_was_there_before_it(tmp_path: Path) -> None:
    """A previous run's store, its mark and its lock stay as they were, users included."""
    first_shell = UserShell(tmp_path / "first")
    second = UserShell(tmp_path / "second")
    async with running_dev(second):
        code, text = await second.run("setup")
        assert code == 0, text
    before = files_under(second.root)
    assert ".cronofy_avail" in {Path(p).parts[1] for p in before if len(Path(p).parts) > 1}
    async with running_dev(first_shell) as first:
        receiver_line = await first.wait_for(r"^Webhook receiver ")
        found = re.search(r"127\.0\.0\.1:(\d+)", receiver_line)
        assert found, first.text
        code, text = await second.run("dev", "--port", "0", "--receiver-port", found.group(1))
        assert code == 1, text
        assert "Forgot" not in text  # refused before it forgot the previous run's users
    assert files_under(second.root) == before
    store = await SQLiteStore.open(second.cwd / ".cronofy_avail" / "dev.db")
    try:
        assert [u.user_id for u in await store.list_users()] == ["default"]
    finally:
        await store.close()


async def one_run(shell: UserShell) -> tuple[list[str], str]:
    """A dev run: setup, one event (waited for), and a replay of the change's delivery; the
    delivery lines dev printed, and what the replay said."""
    async with running_dev(shell) as dev:
        receiver = re.search(r"(http://127\.0\.0\.1:\d+/cronofy)", dev.text)
        assert receiver, dev.text
        code, text = await shell.run("setup")
        assert code == 0, text
        # The channel's verification first (the emulator sends it on its own time), then the
        # change: their numbers are then in that order.
        await dev.wait_for(r"^delivery \d+: verification for default")
        code, text = await shell.run("event", "add", "--from", "09:00", "--to", "12:00", "--wait")
        assert code == 0, text
        change = await dev.wait_for(r"^delivery \d+: change for default")
        number = change.split(":")[0].split()[1]
        code, replayed = await shell.run("replay", number, "--server", receiver.group(1))
        assert code == 0, replayed
        deliveries = [line for line in dev.lines if line.startswith("delivery ")]
    return deliveries, replayed


async def test_each_dev_run_starts_empty_so_its_delivery_numbers_start_at_1(
    shell: UserShell,
) -> None:
    first, _ = await one_run(shell)
    assert [line.split(":")[0] for line in first[:2]] == ["delivery 1", "delivery 2"]
    second, replayed = await one_run(shell)
    # The same numbers as the first run's (the README's `delivery 2: change for default`),
    # and the replay of the number dev printed finds it.
    assert [line.split(":")[0] for line in second[:2]] == ["delivery 1", "delivery 2"], second
    assert second[1].startswith("delivery 2: change for default, signature ok, accepted"), second
    assert "server answered 202" in replayed or "server answered 200" in replayed, replayed
