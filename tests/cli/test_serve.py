"""``serve`` end to end: the emulator notifies the served receiver, syncs land in Cronofy,
``notify`` and ``replay`` reach the running server, stale channels are found and recreated."""

from __future__ import annotations

import asyncio
import builtins
import io
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest
from aiohttp import web

from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.commands import serve
from cronofy_avail.cli.serve import _ask
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.commands import WAIT, Cli, Served, at, cli, closed_port, emulator
from tests.support.wait import until

__all__ = ["cli", "emulator"]  # fixtures used by name

ROOT = Path(__file__).resolve().parents[2]


async def test_serve_receives_syncs_and_answers_notify_and_replay(cli: Cli) -> None:
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    await cli.setup(public)
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    async with Served(cli, port, public_url=public) as served:
        assert f"Receiver listening on http://127.0.0.1:{port}/cronofy" in served.text
        assert "(this server; Cronofy is asked" in served.text  # the stored URL matches
        # The first full reconcile (requested by setup) runs on start; just before it,
        # Cronofy is asked whether it still lists the channel.
        await until(lambda: "(ok)" in served.text)
        await until(lambda: len(cli.remote_periods()) == 1)
        # A change in the calendar: the emulator notifies the served receiver.
        cli.add_event(calendar, at(2, 9), at(2, 10))
        await until(lambda: len(cli.remote_periods()) == 2)
        await until(lambda: "incremental ok" in served.text)

        user = await cli.user()
        assert user is not None
        assert user.callback_url is not None
        code, text = await cli.run("notify", user.callback_url)
        assert code == 0, text
        assert "receiver answered 202" in text
        assert user.callback_key not in text

        code, text = await cli.run("status")
        assert code == 0
        assert "Recent deliveries" in text
        delivery_ids = [
            line.split()[0]
            for line in text.split("Recent deliveries", 1)[1].splitlines()[2:]
            if line.strip()
        ]
        assert delivery_ids
        code, text = await cli.run(
            "replay", delivery_ids[0], "--server", f"http://127.0.0.1:{port}/cronofy"
        )
        assert code == 0, text
        assert "server answered 202" in text

        code, text = await cli.run(
            "replay", "99999", "--server", f"http://127.0.0.1:{port}/cronofy"
        )
        assert code == 1
        assert "no delivery 99999" in text

        code, text = await cli.run("notify", user.callback_url, "--secret", "CRN_wrong0000000000")
        assert code == 1
        assert "receiver answered 401" in text
    assert "Stopped." in served.text


async def test_serve_warns_about_a_stale_channel_and_recreates_it(cli: Cli) -> None:
    old_public = f"http://127.0.0.1:{closed_port()}"
    await cli.setup(old_public)
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    code, _ = await cli.run("sync")
    assert code == 0
    before = await cli.user()
    assert before is not None
    port = closed_port()
    public = f"http://127.0.0.1:{port}"

    async with Served(cli, port, public_url=public, recreate_channel=False) as served:
        assert "warning: default: channel" in served.text
        assert "--recreate-channel" in served.text
    unchanged = await cli.user()
    assert unchanged is not None
    assert unchanged.channel_id == before.channel_id

    async with Served(cli, port, public_url=public, recreate_channel=True) as served:
        assert f"closed channel {before.channel_id}" in served.text
        after = await cli.user()
        assert after is not None
        assert after.channel_id != before.channel_id
        assert after.callback_url == f"{public}/cronofy/notifications/{after.callback_key}"
        assert len(await cli.owned()) == 1  # the ownership record survives the update
        channels = cli.active_channels()
        assert [c.channel_id for c in channels] == [after.channel_id]
        # Cronofy verifies the new channel against the served receiver.
        await until(
            lambda: any(
                d.ok and d.notification_type == "verification" for d in channels[0].deliveries
            )
        )


async def test_serve_asks_before_recreating(cli: Cli) -> None:
    await cli.setup(f"http://127.0.0.1:{closed_port()}")
    port = closed_port()
    questions: list[str] = []

    async def yes(question: str) -> bool:
        questions.append(question)
        return True

    async with Served(
        cli, port, public_url=f"http://127.0.0.1:{port}", recreate_channel=None, confirm=yes
    ) as served:
        assert "closed channel" in served.text
    assert questions == ["Recreate default's channel now? [y/N] "]


async def test_serve_without_public_url_or_users(cli: Cli, tmp_path: Path) -> None:
    port = closed_port()
    code, text = await cli.run("serve", "--port", str(port))
    assert code == 1
    assert "nothing is set up yet: there is no store at" in text
    await (await SQLiteStore.open(cli.db)).close()  # a store, without users
    code, text = await cli.run("serve", "--port", str(port))
    assert code == 1
    assert "no users" in text
    await cli.setup()
    async with Served(cli, port, ngrok_api=f"http://127.0.0.1:{closed_port()}") as served:
        assert "warning: no public URL" in served.text
        assert "--public-url" in served.text


async def test_serve_port_in_use(cli: Cli) -> None:
    await cli.setup()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = await cli.run("serve", "--port", str(port), "--public-url", "http://x.y")
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in text


async def test_a_second_serve_on_one_store_is_refused(cli: Cli) -> None:
    await cli.setup()
    port = closed_port()
    async with Served(cli, port, public_url=f"http://127.0.0.1:{port}"):
        other = closed_port()
        code, text = await cli.run("serve", "--port", str(other), "--public-url", "http://x.y")
    assert code == 1
    assert "another receiver (process " in text
    assert f"already serves the store {cli.db}" in text
    assert "--db" in text
    # Once the first one stopped, the store is free again.
    async with Served(cli, port, public_url=f"http://127.0.0.1:{port}") as served:
        assert "Serving" in served.text


async def test_serve_command_stops_gracefully_on_sigterm(cli: Cli) -> None:
    """The real entry point in a child process: serves until SIGTERM, then stops cleanly."""
    await cli.setup()
    port = closed_port()
    env = {
        **cli.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ.get("PATH", ""),
    }
    script = (
        "import sys; from cronofy_avail.cli.main import main_commands; "
        "sys.exit(main_commands(sys.argv[1:]))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "serve",
        "--env-file",
        str(cli.env_file),
        "--port",
        str(port),
        "--public-url",
        f"http://127.0.0.1:{port}",
        "--recreate-channel",
        cwd=str(cli.db.parent),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
                if line.startswith("Serving;"):
                    break
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            rest = (await proc.stdout.read()).decode()
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(seen) + rest
    cli.outputs.append(text)
    assert code == 0, text
    assert "Stopped." in text
    assert "Traceback" not in text


async def test_serve_command_line_without_users(cli: Cli) -> None:
    code, text = await cli.run("serve", "--recreate-channel", "--port", str(closed_port()))
    assert code == 1
    assert "nothing is set up yet" in text


async def test_serve_finds_its_public_url_from_the_ngrok_agent(cli: Cli) -> None:
    port = closed_port()
    public = f"http://127.0.0.1:{port}"  # what the fake agent reports (loopback only)
    await cli.setup(public)

    async def tunnels(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "tunnels": [
                    {
                        "public_url": public,
                        "proto": "http",
                        "config": {"addr": f"http://localhost:{port}"},
                    }
                ]
            }
        )

    app = web.Application()
    app.router.add_get("/api/tunnels", tunnels)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    agent = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with Served(cli, port, ngrok_api=agent) as served:
            assert f"(from ngrok agent at {agent})" in served.text
            assert "(this server; Cronofy is asked" in served.text
    finally:
        await runner.cleanup()


async def test_serve_finds_a_channel_cronofy_closed(cli: Cli) -> None:
    """Same callback URL, but Cronofy closed the channel (deliveries failed too long)."""
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    await cli.setup(public)
    before = await cli.user()
    assert before is not None
    for channel in cli.active_channels():
        cli.emu.state.close_channel_for_failures(channel)

    # Found before the user's first sync here (the reconcile setup asked for).
    async with Served(cli, port, public_url=public, recreate_channel=False) as served:
        await until(lambda: f"Cronofy no longer lists channel {before.channel_id}" in served.text)
        assert "no notification will arrive" in served.text
        assert "--recreate-channel" in served.text
        await until(lambda: "full ok" in served.text)
        assert "(ok)" not in served.text
    assert cli.active_channels() == []

    # Nothing to sync this time: found by the checks of users not synced yet.
    async with Served(
        cli, port, public_url=public, recreate_channel=True, channel_check_pace=0.0
    ) as served:
        await until(lambda: "created channel" in served.text)
        after = await cli.user()
        assert after is not None
        assert after.channel_id != before.channel_id
        assert f"created channel {after.channel_id}" in served.text
        assert f"the old channel {before.channel_id} was already closed" in served.text
        assert [c.channel_id for c in cli.active_channels()] == [after.channel_id]


async def test_recreate_keeps_the_old_channel_when_creation_fails(cli: Cli) -> None:
    await cli.setup(f"http://127.0.0.1:{closed_port()}")
    before = await cli.user()
    assert before is not None
    cli.emu.add_fault(endpoint="POST /v1/channels", error_rate=1.0, error_status=422)
    port = closed_port()
    async with Served(
        cli, port, public_url=f"http://127.0.0.1:{port}", recreate_channel=True
    ) as served:
        assert "could not create a new channel" in served.text
    assert [c.channel_id for c in cli.active_channels()] == [before.channel_id]
    after = await cli.user()
    assert after is not None
    assert (after.channel_id, after.callback_url) == (before.channel_id, before.callback_url)


async def test_stop_at_the_recreate_prompt_does_not_serve(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the real prompt waits for a line: serve ends without serving."""
    await cli.setup(f"http://127.0.0.1:{closed_port()}")
    before = await cli.user()
    assert before is not None
    asked = threading.Event()
    release = threading.Event()

    def blocking_input(prompt: str = "") -> str:  # a terminal nobody answers
        asked.set()
        release.wait()
        return "y"

    monkeypatch.setattr(builtins, "input", blocking_input)
    port = closed_port()
    stop = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(
        serve(
            Settings.load(cli.environ, None),
            out,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            recreate_channel=None,
            confirm=_ask,
            stop=stop,
            schedule_every=None,
        )
    )
    try:
        await until(asked.is_set)
        stop.set()  # what SIGINT does in run_serve
        code = await asyncio.wait_for(task, WAIT)
    finally:
        release.set()
    cli.outputs.append(out.getvalue())
    assert code == 0
    assert "Serving" not in out.getvalue()
    assert "Stop requested before serving started." in out.getvalue()
    after = await cli.user()
    assert after is not None
    assert after.channel_id == before.channel_id  # the answer never came: nothing recreated


async def test_teardown_twice_is_fine_and_forgets_the_delivery_log(cli: Cli) -> None:
    port = closed_port()
    await cli.setup(f"http://127.0.0.1:{port}")
    user = await cli.user()
    assert user is not None
    assert user.callback_url is not None
    async with Served(cli, port, public_url=f"http://127.0.0.1:{port}") as served:
        code, text = await cli.run("notify", user.callback_url, "--type", "verification")
        assert code == 0, text
    assert "delivery 1: verification for default, signature ok" in served.text
    store = await SQLiteStore.open(cli.db)
    try:
        assert len(await store.list_deliveries()) == 1
    finally:
        await store.close()
    code, first = await cli.run("teardown")
    assert code == 0, first
    assert "its delivery log included" in first
    store = await SQLiteStore.open(cli.db)
    try:
        # The logged bodies held the callback key: nothing of the user is left.
        assert await store.list_deliveries() == []
    finally:
        await store.close()
    for argv in (("teardown",), ("teardown", "--local")):
        code, again = await cli.run(*argv)
        assert code == 0, again
        assert "Nothing to tear down: no user 'default'" in again


async def test_serve_asks_cronofy_about_channels_lazily_not_before_serving(cli: Cli) -> None:
    """`serve` makes no call to Cronofy before serving (asking about every user's channel first
    would spend minutes of the whole rate limit at 10,000 users before any sync could start);
    a user's channel is checked once, just before its first sync here, and the users not
    synced yet are checked one at a time afterwards."""
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    accounts = {"default": cli.account}
    for i in range(1, 5):
        accounts[f"user{i}"] = await cli.emu.create_account(tzid="Europe/Paris")
    for user_id, account in accounts.items():
        cli.extra_secrets += [account.access_token, account.refresh_token]
        env = {
            "CRONOFY_ACCESS_TOKEN": account.access_token,
            "CRONOFY_REFRESH_TOKEN": account.refresh_token,
            "CRONOFY_AVAIL_USER": user_id,
        }
        code, text = await cli.run("setup", "--public-url", public, **env)
        assert code == 0, text
        code, text = await cli.run("sync", **env)  # setup's first reconcile: nothing pending
        assert code == 0, text

    def checks() -> int:
        return cli.emu.request_counts().get("GET /v1/channels", 0)

    cli.emu.clear_request_log()
    # The later checks wait an hour: only a sync asks about a channel in this run.
    async with Served(cli, port, public_url=public, channel_check_pace=3600.0) as served:
        assert "Serving; Ctrl-C stops." in served.text
        assert checks() == 0  # 5 users, not one call before serving
        assert served.text.count("(this server; Cronofy is asked") == 5
        user2 = await cli.user("user2")
        assert user2 is not None
        assert user2.calendar_id is not None
        periods = cli.emu.state.accounts[accounts["user2"].account_id].periods
        cli.add_event(user2.calendar_id, at(1, 9), at(1, 10))
        await until(lambda: len(periods) == 1)  # notified, checked, synced
        assert checks() == 1
        ok = [line for line in served.text.splitlines() if line.endswith("(ok)")]
        assert len(ok) == 1
        assert ok[0].startswith("user2: channel")
        cli.add_event(user2.calendar_id, at(2, 9), at(2, 10))
        await until(lambda: len(periods) == 2)
        assert checks() == 1  # once per user in this process
        assert served.text.count("(ok)") == 1

    cli.emu.clear_request_log()
    async with Served(cli, port, public_url=public, channel_check_pace=0.0) as served:
        await until(lambda: served.text.count("(ok)") == 5)
        assert checks() == 5
