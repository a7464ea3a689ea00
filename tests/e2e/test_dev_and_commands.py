"""``cronofy-avail dev`` and the commands a user runs next to it against the emulator, each run
the way a user runs them: ``dev`` in one child process, the other commands in others,
a clean ``HOME`` and working directory, settings only from what ``dev`` wrote (``./.env``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import socket
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.commands import closed_port
from tests.support.dev_run import running_dev
from tests.support.user_cli import SCRIPT, UserShell, shell

__all__ = ["shell"]  # fixture used by name


def dev_setting(shell: UserShell, name: str) -> str:
    for line in (shell.cwd / ".env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no {name} in .env")


async def setup_ok(shell: UserShell) -> str:
    code, text = await shell.run("setup")
    assert code == 0, text
    return text


# ----------------------------------------------------------------- 1: profile_disconnected


async def test_a_test_disconnect_is_refused_then_explained_and_undone(shell: UserShell) -> None:
    async with running_dev(shell) as dev:
        await setup_ok(shell)
        code, text = await shell.run("notify", "--type", "profile_disconnected")
        assert code == 1, text
        assert "not sent: a profile_disconnected notification makes the receiver stop" in text
        assert "pass --allow-disconnect to send it anyway" in text
        code, text = await shell.run(
            "notify", "--type", "profile_disconnected", "--allow-disconnect"
        )
        assert code == 0, text
        assert "Undo: `cronofy-avail notify --type profile_initial_sync_completed`" in text
        await dev.wait_for(r"note: user default is now marked disconnected: its syncs stop")
        code, text = await shell.run("status")
        assert code == 0, text
        assert "default: NOT SYNCING: user default is disconnected" in text
        assert "default: fix: relink the calendar profile at Cronofy, then run `cronofy-avail " in (
            text
        )
        # A change made meanwhile is refused at once, not after a 30 s wait.
        code, text = await shell.run("event", "add", "--wait", within=20)
        assert code == 1, text
        assert "the change is made, but the receiver will not sync it: user default is " in text
        code, text = await shell.run("notify", "--type", "profile_initial_sync_completed")
        assert code == 0, text
        code, text = await shell.run("event", "add", "--date", "+2", "--wait")
        assert code == 0, text
        assert "Synced: state idle." in text


# ----------------------------------------------------------------- 8: a revoked grant


async def test_a_revoked_grant_shows_as_it_happens_and_ends_the_wait(shell: UserShell) -> None:
    async with running_dev(shell) as dev:
        await setup_ok(shell)
        async with EmulatorControl(dev_setting(shell, "CRONOFY_API_BASE_URL")) as control:
            await control.revoke_refresh_tokens()
            await control.expire_tokens()
        code, text = await shell.run("event", "add", "--wait", within=20)
        assert code == 1, text
        assert "the receiver's sync of the change failed: user default needs authorizing" in text
        assert "within 30s" not in text
        await dev.wait_for(r"^sync default: \w+ FAILED")
        # The next change: the receiver says at once why it does not sync, and so does --wait.
        mark = len(dev.lines)
        code, text = await shell.run("event", "add", "--date", "+2", "--wait", within=20)
        assert code == 1, text
        assert "the receiver will not sync it: user default needs authorizing again" in text
        await dev.wait_for(r"note: user default needs authorizing again .* Fix: ", start=mark)
        # A manual sync: the refresh token is refused (invalid_grant), whatever the data center.
        code, text = await shell.run("sync")
        assert code == 1, text
        assert "Fix: authorize the user again through your application's OAuth flow" in text
        assert "CRONOFY_DATA_CENTER" not in text


# ----------------------------------------------------------------- 2, 3, 4: dev's files


async def test_dev_refuses_a_store_it_did_not_create(shell: UserShell) -> None:
    real = shell.home / ".cronofy_avail" / "state.db"
    store = await SQLiteStore.open(real)  # a store of real users, made by setup
    await store.close()
    before = real.read_bytes()
    code, text = await shell.run("dev", "--port", "0", "--receiver-port", "0", "--db", str(real))
    assert code == 1, text
    assert f"{real} exists and was not created by `cronofy-avail dev`" in text
    assert "Forgot" not in text
    assert real.read_bytes() == before
    assert not (shell.cwd / ".env").exists()


async def test_dev_db_is_the_one_store_option_and_a_store_it_made_is_reused(
    shell: UserShell,
) -> None:
    code, text = await shell.run("dev", "--help")
    assert code == 0
    assert "--store" not in text
    assert " ".join(text.split()).count("--db DB the SQLite store of this dev run") == 1
    mine = shell.cwd / "mine.db"
    async with running_dev(shell, "--db", str(mine)):
        await setup_ok(shell)
        assert f"CRONOFY_AVAIL_DB={mine}" in (shell.cwd / ".env").read_text()
    assert mine.exists()
    async with running_dev(shell, "--db", str(mine)) as again:
        assert "Forgot user(s) 'default' of the previous dev run" in again.text


async def test_a_second_dev_leaves_the_running_ones_settings_alone(shell: UserShell) -> None:
    async with running_dev(shell) as first:
        settings = (shell.cwd / ".env").read_text()
        code, text = await shell.run("dev", "--port", "0", "--receiver-port", "0")
        assert code == 1, text
        pid = str(first.process.pid)
        assert f".env belongs to a `cronofy-avail dev` that is still running (process {pid})" in (
            text
        )
        assert (shell.cwd / ".env").read_text() == settings
        # Its own settings file, but the same store: the fix names the option that works.
        code, text = await shell.run(
            "dev", "--port", "0", "--receiver-port", "0", "--write-env", "b.env"
        )
        assert code == 1, text
        assert "give this one another store with --db." in text
        async with running_dev(shell, "--write-env", "b.env", "--db", "b.db"):
            code, text = await shell.run("status", "--env-file", "b.env")
            assert code == 0, text
        assert (shell.cwd / ".env").read_text() == settings


# ----------------------------------------------------------------- 6: a closed pipe


async def test_a_closed_output_pipe_ends_quietly(shell: UserShell) -> None:
    """``cronofy-avail status | head -1``: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            "status",
            cwd=shell.cwd,
            env=shell.environ(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert errors.decode() == ""
    assert process.returncode == 141


# ----------------------------------------------------------------- 7, 12: the API base URL


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:99999", "'http://127.0.0.1:99999' has no valid port"),
        ("http://127.0.0.1:http", "'http://127.0.0.1:http' has no valid port"),
    ],
)
async def test_a_bad_port_in_the_api_base_url_names_the_variable(
    shell: UserShell, url: str, shown: str
) -> None:
    code, text = await shell.run("setup", CRONOFY_API_BASE_URL=url)
    assert code == 2, text
    assert f"configuration: CRONOFY_API_BASE_URL={shown}" in text
    assert "unexpected error" not in text


async def test_a_password_in_the_api_base_url_is_masked(shell: UserShell) -> None:
    code, text = await shell.run("status", CRONOFY_API_BASE_URL="https://user:pw@example.com")
    assert code == 0, text
    assert "https://***@example.com" in text
    assert "user:pw" not in text
    code, text = await shell.run("status", CRONOFY_API_BASE_URL="ftp://user:pw@example.com")
    assert code == 2, text
    assert "'ftp://***@example.com' must be an absolute http(s) URL" in text
    assert "user:pw" not in text


# ----------------------------------------------------------------- 14: Ctrl-C while loading


def test_ctrl_c_while_the_modules_load_is_interrupted_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = importlib.import_module("cronofy_avail.cli.main")  # the module, not main()

    def interrupted() -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of an import

    monkeypatch.setattr(entry, "build_parser", interrupted)
    assert entry.main(["status"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "cronofy-avail: interrupted\n"
    assert "Traceback" not in captured.out


# ----------------------------------------------------------------- 5, 11: setup beside a receiver


async def test_setup_to_a_url_no_receiver_answers_says_so(shell: UserShell) -> None:
    async with running_dev(shell) as dev:
        pid = dev.process.pid
        port = closed_port()
        code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{port}")
        assert code == 0, text
        assert (
            f"warning: a receiver (process {pid}) serves this store, but nothing answers at "
            f"http://127.0.0.1:{port}/cronofy" in text
        )
        assert "now becomes an Available Period" not in text
        code, text = await shell.run("setup")  # back to the running receiver's URL
        assert code == 0, text
        assert f"A receiver (process {pid}) serves this store at http://127.0.0.1:" in text
        assert "warning" not in text


async def test_setup_after_teardown_reconciles_the_existing_events_at_once(
    shell: UserShell,
) -> None:
    async with running_dev(shell):
        text = await setup_ok(shell)
        assert "reconcile" not in text.split("Stored in", 1)[1]  # a new, empty calendar
        code, text = await shell.run("event", "add", "--wait")
        assert code == 0, text
        code, text = await shell.run("teardown")
        assert code == 0, text
        assert "Deleted 1 Available Period(s)" in text
        text = await setup_ok(shell)
        assert "sync default: full ok: upserted as period" in text
        code, text = await shell.run("periods")
        assert code == 0, text
        assert "1 Available Period(s), 1 owned by this toolkit" in text
        code, text = await shell.run("status")
        assert code == 0, text
        assert "full" not in text.split("Users", 1)[1].splitlines()[2]  # nothing pending


# ----------------------------------------------------------------- 9, 10: events as the user


async def test_deleting_an_event_twice_says_already_deleted_without_waiting(
    shell: UserShell,
) -> None:
    async with running_dev(shell):
        await setup_ok(shell)
        code, text = await shell.run("event", "add", "--wait")
        assert code == 0, text
        uid = text.split("Added ", 1)[1].split()[0]
        code, text = await shell.run("event", "delete", uid, "--wait")
        assert code == 0, text
        assert "Synced" in text
        code, text = await shell.run("event", "delete", uid, "--wait", within=20)
        assert code == 0, text
        assert f"Event {uid} was already deleted: nothing changed, so no notification" in text
        assert "Deleted" not in text


async def test_an_event_that_ended_is_warned_about_and_its_skip_explained(
    shell: UserShell,
) -> None:
    # A minute that ended a few minutes ago in the user's zone (yesterday's last minutes just
    # after midnight: still inside the sync's read window, which reaches a day back).
    london = ZoneInfo("Europe/London")
    ago = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=4)
    start, end = ago.astimezone(london), (ago + timedelta(minutes=1)).astimezone(london)
    async with running_dev(shell) as dev:
        await setup_ok(shell)
        # Out of every window: said when it is added (no sync will even read it).
        code, text = await shell.run("event", "add", "--date", "2025-01-01")
        assert code == 0, text
        assert "warning: this event ended already (2025-01-01 12:00 Europe/London): no " in text
        # Minutes ago: read by the sync, which says why it made no period.
        code, text = await shell.run(
            "event", "add", "--date", f"{start:%Y-%m-%d}", "--from", f"{start:%H:%M}",
            "--to", f"{end:%H:%M}", "--summary", "Early", "--wait",
        )  # fmt: skip
        assert code == 0, text
        assert "warning: this event ended already" in text
        line = await dev.wait_for(r"^sync default: \w+ ok: skipped 'Early' ")
        assert "(it has ended: no period in the past)" in line
        code, text = await shell.run("event", "add", "--date", "+300")
        assert code == 0, text
        assert "warning: this event starts more than 201 days ahead" in text
        code, text = await shell.run("event", "add", "--date", "+2")
        assert code == 0, text
        assert "warning" not in text


# ----------------------------------------------------------------- 12, 16: the emulator's CLI


async def _emulator(shell: UserShell, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "emulator",
        *argv,
        cwd=shell.cwd,
        env=shell.environ(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _line_with(process: asyncio.subprocess.Process, marker: str) -> str:
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(60):
        while marker not in seen:
            line = (await process.stdout.readline()).decode()
            assert line, f"the emulator ended early:\n{seen}"
            seen += line
    return seen


async def test_emulator_out_writes_an_owner_only_file_and_removes_it(shell: UserShell) -> None:
    process = await _emulator(shell, "--port", "0", "--out", "emulator.json")
    try:
        await _line_with(process, "Cronofy emulator running at")  # printed after the file
        written = shell.cwd / "emulator.json"
        assert written.stat().st_mode & 0o777 == 0o600
        info = json.loads(written.read_text())
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["access_token"]
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert not (shell.cwd / "emulator.json").exists()


async def test_emulator_on_a_taken_port_says_the_fix(shell: UserShell) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = await shell.run("emulator", "--port", str(port))
    assert code == 1, text
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)." in text
    assert "Fix: stop what uses the port, or pick another with --port (0: any free one)." in text
    assert "Errno" not in text


async def test_emulator_on_every_interface_warns_about_the_control_api(shell: UserShell) -> None:
    process = await _emulator(shell, "--host", "0.0.0.0", "--port", "0")  # noqa: S104
    try:
        seen = await _line_with(process, "Ctrl-C stops")
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 60)
    assert "warning: listening on every interface (0.0.0.0 port " in seen
    assert "its control API (/_emulator) needs no credentials and returns the client " in seen
    assert "Use --no-control-api, or --host 127.0.0.1." in seen


# ----------------------------------------------------------------- 15: event input wording


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--date", "+1000"),
            "argument --date: '+1000' is too far ahead: +N takes at most +999 days",
        ),
        (("--summary", ""), "argument --summary: the summary is empty; give the event a title"),
        (("--summary", "   "), "argument --summary: the summary is empty"),
    ],
)
async def test_event_arguments_name_their_limits(
    shell: UserShell, argv: tuple[str, ...], message: str
) -> None:
    code, text = await shell.run("event", "add", *argv)
    assert code == 2, text
    assert message in text


async def test_event_times_and_moves_say_what_is_wrong(shell: UserShell) -> None:
    async with running_dev(shell):
        await setup_ok(shell)
        code, text = await shell.run("event", "add", "--from", "09:00", "--to", "09:00")
        assert code == 1, text
        assert "the event would last no time (from 09:00 to 09:00)" in text
        code, text = await shell.run("event", "add", "--from", "22:00", "--to", "00:00")
        assert code == 0, text  # 00:00 is the midnight that ends the day
        uid = text.split("Added ", 1)[1].split()[0]
        code, text = await shell.run("event", "list")
        assert code == 0, text
        row = next(line for line in text.splitlines() if line.startswith(uid))
        start, end = row.split()[-4:-2], row.split()[-2:]
        assert start[1] == "22:00"
        assert end[1] == "00:00"
        assert end[0] > start[0]  # the next day
        code, text = await shell.run("event", "move", uid)
        assert code == 1, text
        assert f"nothing to move: say where {uid} goes." in text
        assert "Moved" not in text


# ----------------------------------------------------------------- 16, 17: receiver output


async def test_dev_shows_refused_deliveries_and_says_it_waits_on_stop(shell: UserShell) -> None:
    async with running_dev(shell) as dev:
        await setup_ok(shell)
        code, text = await shell.run("notify", "--secret", "not-the-client-secret")
        assert code == 1, text
        assert "receiver answered 401" in text
        await dev.wait_for(r"^log: warning: rejected delivery for default: ")
    assert "Stopping: removed .env; letting running syncs finish (Ctrl-C again stops at " in (
        dev.text
    )


def test_replay_fix_mentions_the_default_only_when_another_server_was_given() -> None:
    from cronofy_avail.cli.notify import DEFAULT_SERVER, replay_fix

    assert "the default is" not in replay_fix(DEFAULT_SERVER)
    assert "(now" not in replay_fix(DEFAULT_SERVER)
    assert f"; the default is {DEFAULT_SERVER}" in replay_fix("http://127.0.0.1:9/cronofy")


async def test_replay_to_nothing_running_says_how_to_start_one(shell: UserShell) -> None:
    server = f"http://127.0.0.1:{closed_port()}/cronofy"
    code, text = await shell.run("replay", "12", "--server", server)
    assert code == 1, text
    assert "Fix: start `cronofy-avail serve` on this host, or pass --server with the URL of " in (
        text
    )
    assert "(now " not in text


# ----------------------------------------------------------------- 18: setup's calls, zones, status


async def test_setup_reads_each_thing_once_and_status_creates_nothing(shell: UserShell) -> None:
    store = shell.home / ".cronofy_avail" / "state.db"
    code, text = await shell.run("status")
    assert code == 0, text
    assert f"No users: nothing is set up yet: there is no store at {store}" in text
    assert not store.exists()
    async with running_dev(shell):
        base = dev_setting(shell, "CRONOFY_API_BASE_URL")
        for run in ("first", "again"):
            async with EmulatorControl(base) as control:
                await control.clear_request_log()
                await setup_ok(shell)
                counts = await control.request_counts()
            for call in ("GET /v1/account", "GET /v1/profiles", "GET /v1/calendars"):
                assert counts.get(call, 0) == 1, (run, counts)
            assert counts.get("POST /oauth/token", 0) == 1, (run, counts)  # proves the secret
        code, text = await shell.run("event", "add", "--wait")
        assert code == 0, text
        code, text = await shell.run("periods", CRONOFY_TZID="Asia/Tokyo")
        assert code == 0, text
        assert "times in Asia/Tokyo (CRONOFY_TZID; the user's zone is Europe/London)." in text
        assert " 18:00 " in text or " 17:00 " in text  # 09:00 London is 18:00 (17:00 BST) Tokyo
