"""The real-Cronofy commands, each against the emulator through ``CRONOFY_API_BASE_URL``.

Output text and effects (store, emulator state, request counts) are asserted; the ``cli``
fixture also checks that no secret reached any output.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from cronofy_avail.app.explain import explain, hint_for_text
from cronofy_avail.cli.main import main_commands
from cronofy_avail.core.errors import OAuthError
from cronofy_avail.core.signatures import SIGNATURE_HEADER, SignatureVerificationError, verify
from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.commands import (
    CLIENT_SECRET,
    Cli,
    assert_no_secret,
    at,
    cli,
    closed_port,
    emulator,
    make_cli,
)

__all__ = ["cli", "emulator"]  # fixtures used by name


# --------------------------------------------------------------------------- setup


async def test_setup_twice_reuses_calendar_key_and_channel(cli: Cli) -> None:
    public = f"http://127.0.0.1:{closed_port()}"
    code, first = await cli.run("setup", "--public-url", public)
    assert code == 0, first
    assert "(created)" in first
    user = await cli.user()
    assert user is not None
    assert user.calendar_id
    assert user.channel_id
    assert user.credentials is not None
    assert user.callback_url == f"{public}/cronofy/notifications/{user.callback_key}"
    assert user.sub == cli.account.account_id
    assert user.tzid == "Europe/Paris"
    assert user.pending_full  # the first reconcile is requested

    code, second = await cli.run("setup", "--public-url", public)
    assert code == 0, second
    assert "'Availability' (reused)" in second
    assert "(reused)" in second.split("Channel", 1)[1].splitlines()[0]
    again = await cli.user()
    assert again is not None
    assert (again.calendar_id, again.callback_key, again.channel_id) == (
        user.calendar_id,
        user.callback_key,
        user.channel_id,
    )
    counts = cli.emu.request_counts()
    assert counts.get("POST /v1/calendars", 0) == 1
    assert len(cli.active_channels()) == 1
    names = [c.name for c in cli.record.calendars.values()]
    assert names.count("Availability") == 1
    assert "Callback URL" in second
    assert user.callback_key[:4] + "…" in second


async def test_setup_with_a_new_public_url_replaces_the_channel(cli: Cli) -> None:
    await cli.setup(f"http://127.0.0.1:{closed_port()}")
    first = await cli.user()
    assert first is not None
    new_public = f"http://127.0.0.1:{closed_port()}"
    _, text = await cli.setup(new_public)
    user = await cli.user()
    assert user is not None
    assert user.channel_id != first.channel_id
    assert f"Closed the previous channel {first.channel_id}" in text
    channels = cli.active_channels()
    assert [c.channel_id for c in channels] == [user.channel_id]
    assert channels[0].callback_url.startswith(new_public + "/cronofy/notifications/")


async def test_setup_options_profile_calendar_name_and_tzid(cli: Cli) -> None:
    code, text = await cli.run(
        "setup",
        "--public-url",
        f"http://127.0.0.1:{closed_port()}/",
        "--profile-id",
        cli.account.profile_id,
        "--calendar-name",
        "Office hours",
        "--tzid",
        "America/New_York",
    )
    assert code == 0, text
    user = await cli.user()
    assert user is not None
    assert user.tzid == "America/New_York"
    assert user.profile_id == cli.account.profile_id
    assert cli.record.calendars[user.calendar_id or ""].name == "Office hours"
    code, text = await cli.run(
        "setup", "--public-url", "http://127.0.0.1:9", "--profile-id", "pro_x"
    )
    assert code == 1
    assert "no profile pro_x" in text


async def test_setup_finds_the_public_url_from_the_ngrok_agent(cli: Cli) -> None:
    tunnel = f"https://127.0.0.1:{closed_port()}"  # loopback only, never a real ngrok host

    async def tunnels(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "tunnels": [
                    {"public_url": "http://127.0.0.1:9", "proto": "http", "config": {}},
                    {
                        "public_url": tunnel,
                        "proto": "https",
                        "config": {"addr": "http://localhost:8080"},
                    },
                ]
            }
        )

    app = web.Application()
    app.router.add_get("/api/tunnels", tunnels)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        agent = f"http://127.0.0.1:{runner.addresses[0][1]}"
        code, text = await cli.run("setup", "--ngrok-api", agent)
    finally:
        await runner.cleanup()
    assert code == 0, text
    assert f"ngrok agent at {agent}" in text
    user = await cli.user()
    assert user is not None
    assert user.callback_url is not None
    assert user.callback_url.startswith(tunnel + "/cronofy/notifications/")


async def test_setup_without_agent_asks_for_public_url(cli: Cli) -> None:
    agent = f"http://127.0.0.1:{closed_port()}"
    code, text = await cli.run("setup", "--ngrok-api", agent)
    assert code == 1
    assert f"no ngrok agent answered at {agent}" in text
    assert "--public-url" in text
    assert "Traceback" not in text
    assert await cli.user() is None
    assert cli.emu.request_counts() == {}


# --------------------------------------------------------------------------- configuration errors


async def test_missing_variable_names_it_and_where_to_get_it(cli: Cli) -> None:
    code, text = await cli.run("setup", "--public-url", "http://127.0.0.1:9", CRONOFY_CLIENT_ID="")
    assert code == 2
    assert "CRONOFY_CLIENT_ID is not set" in text
    assert "developer dashboard" in text
    code, text = await cli.run(
        "setup",
        "--public-url",
        "http://127.0.0.1:9",
        CRONOFY_ACCESS_TOKEN="",
        CRONOFY_REFRESH_TOKEN="",
    )
    assert code == 2
    assert "CRONOFY_ACCESS_TOKEN is not set" in text
    code, text = await cli.run("sync", CRONOFY_CLIENT_SECRET="")
    assert code == 2
    assert "CRONOFY_CLIENT_SECRET is not set" in text
    assert cli.emu.request_counts() == {}


async def test_bad_data_center(cli: Cli) -> None:
    code, text = await cli.run("status", CRONOFY_DATA_CENTER="mars")
    assert code == 2
    assert "CRONOFY_DATA_CENTER='mars' is not a Cronofy data center" in text
    assert "us, uk, de, au, ca, sg" in text


async def test_env_file_is_read_and_environment_wins(cli: Cli, tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("export CRONOFY_AVAIL_USER='from-file'\nCRONOFY_TZID=Asia/Tokyo\n")
    environ = {k: v for k, v in cli.environ.items() if k != "CRONOFY_AVAIL_USER"}
    out = io.StringIO()
    code = await asyncio.to_thread(
        main_commands, ["status", "--env-file", str(env_file)], environ=environ, out=out
    )
    cli.outputs.append(out.getvalue())
    assert code == 0
    assert "from-file" in out.getvalue()
    assert "Asia/Tokyo" in out.getvalue()
    code, text = await cli.run("status", "--user", "flag-user")
    assert "flag-user" in text


async def test_first_call_401_mentions_data_center_and_reauthorization(cli: Cli) -> None:
    code, text = await cli.run(
        "setup",
        "--public-url",
        "http://127.0.0.1:9",
        CRONOFY_ACCESS_TOKEN="not-a-token-abcdefgh",
        CRONOFY_REFRESH_TOKEN="",
    )
    assert code == 1
    assert "did not accept the credentials on the first call" in text
    assert "CRONOFY_DATA_CENTER" in text
    assert "authorize the user again" in text
    assert "Traceback" not in text


async def test_revoked_refresh_token_says_reauthorize(cli: Cli) -> None:
    cli.emu.expire_tokens(cli.account.account_id)
    code, text = await cli.run(
        "setup",
        "--public-url",
        "http://127.0.0.1:9",
        CRONOFY_REFRESH_TOKEN="revoked-refresh-token-xyz",
    )
    assert code == 1
    assert "authorize the user again" in text
    assert "the refresh token was revoked or is unknown (invalid_grant)" in text
    # A refused refresh token is revoked or used up, not in another data center.
    assert "CRONOFY_DATA_CENTER" not in text
    assert "ReauthorizationRequiredError" not in text


async def test_missing_create_calendar_scope(emulator: Emulator, tmp_path: Path) -> None:
    runner = await make_cli(emulator, tmp_path, scope="read_account list_calendars read_events")
    code, text = await runner.run("setup", "--public-url", "http://127.0.0.1:9")
    assert code == 1
    assert "lacks the create_calendar scope" in text
    assert "authorize the user again" in text
    assert emulator.request_counts().get("POST /v1/calendars", 0) == 0
    assert await runner.user() is None
    await assert_no_secret(runner)


async def test_personal_token_cannot_create_the_channel(emulator: Emulator, tmp_path: Path) -> None:
    runner = await make_cli(emulator, tmp_path, token_kind="personal")
    code, text = await runner.run("setup", "--public-url", "http://127.0.0.1:9")
    assert code == 1
    assert "application (OAuth) token, not a personal token" in text
    assert emulator.request_counts().get("POST /v1/channels", 0) == 1
    assert runner.active_channels() == []
    await assert_no_secret(runner)


async def test_unreachable_host_names_it(cli: Cli) -> None:
    port = closed_port()
    code, text = await cli.run(
        "setup",
        "--public-url",
        "http://127.0.0.1:9",
        CRONOFY_API_BASE_URL=f"http://127.0.0.1:{port}",
        CRONOFY_AVAIL_MAX_ATTEMPTS="1",
    )
    assert code == 1
    assert f"cannot reach 127.0.0.1:{port}" in text
    assert "CRONOFY_API_BASE_URL" in text
    assert "Traceback" not in text


async def test_the_sync_overlap_is_configurable_and_checked(cli: Cli) -> None:
    """``CRONOFY_AVAIL_SYNC_OVERLAP``: how far before Cronofy's clock at the last read the next
    incremental read starts; a bad value is a clear error before anything runs."""
    await cli.setup()
    code, text = await cli.run("sync", CRONOFY_AVAIL_SYNC_OVERLAP="60")
    assert code == 0, text
    user = await cli.user()
    assert user is not None
    assert user.last_result is not None
    served = datetime.fromisoformat(user.last_result["served_at"])
    assert user.watermark == served - timedelta(seconds=60)
    code, text = await cli.run("sync", CRONOFY_AVAIL_SYNC_OVERLAP="a minute")
    assert code == 2
    assert "CRONOFY_AVAIL_SYNC_OVERLAP must be a number of seconds" in text
    assert "Traceback" not in text


async def test_402_names_the_plan(cli: Cli) -> None:
    await cli.setup()
    cli.emu.add_fault(endpoint="GET /v1/available_periods", error_rate=1.0, error_status=402)
    code, text = await cli.run("periods")
    assert code == 1
    assert "402" in text
    assert "plan" in text
    assert "Emerging" in text
    code, text = await cli.run("reconcile")
    assert code == 1
    assert "HTTP 402" in text
    assert "Emerging" in text
    user = await cli.user()
    assert user is not None
    assert user.state == "failed"


async def test_429_says_it_slowed_down(cli: Cli) -> None:
    await cli.setup()
    cli.emu.clear_request_log()
    cli.emu.add_fault(endpoint="GET /v1/available_periods", rate_limit_rate=1.0, retry_after=0)
    code, text = await cli.run("periods")
    assert code == 1
    assert "429" in text
    assert "slowed down" in text
    assert cli.emu.request_counts()["GET /v1/available_periods"] == 5  # retried, then gave up


async def test_403_on_a_later_call_names_the_scope(cli: Cli) -> None:
    await cli.setup()
    cli.record.scopes = tuple(s for s in cli.record.scopes if s != "read_events")
    code, text = await cli.run("sync", "--full")
    assert code == 1
    assert "HTTP 403" in text
    assert "scope" in text


async def test_a_db_that_is_not_a_store_names_it(cli: Cli, tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("these are not the tables you are looking for\n" * 100)
    for path in (directory, not_sqlite):
        code, text = await cli.run("status", CRONOFY_AVAIL_DB=str(path))
        assert code == 1, text
        assert f"store: {path} is not a cronofy-avail database" in text
        assert "move it aside" in text
        assert "--db" in text
        assert "unexpected error" not in text
        assert "Traceback" not in text
    assert not_sqlite.read_text().startswith("these are not")  # left alone
    code, text = await cli.run("sync", "--db", str(not_sqlite))
    assert code == 1
    assert f"store: {not_sqlite} is not a cronofy-avail database" in text
    code, text = await cli.run("status", "--debug", CRONOFY_AVAIL_DB=str(directory))
    assert code == 1
    assert "Traceback" in text


def test_unexpected_error_suggests_debug() -> None:
    explained = explain(RuntimeError("boom"))
    assert explained.code == 1
    assert "unexpected error: RuntimeError: boom" in explained.message
    assert "run with --debug for the traceback" in explained.message


async def test_commands_need_a_stored_user(cli: Cli) -> None:
    await (await SQLiteStore.open(cli.db)).close()  # a store, without the user
    for command in ("sync", "reconcile", "periods", "availability"):
        code, text = await cli.run(command)
        assert code == 1, command
        assert "no user 'default'" in text
        assert "cronofy-avail setup" in text


# --------------------------------------------------------------------------- the sync commands


async def test_sync_dry_run_shows_the_plan_and_writes_nothing(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 11))
    cli.add_event(calendar, at(2, 14), at(2, 15))
    cli.emu.clear_request_log()
    code, text = await cli.run("sync", "--dry-run")
    assert code == 0, text
    assert "upsert" in text
    assert "period_id" in text
    assert "Dry run: nothing was written" in text
    assert "full (dry run)" in text
    assert cli.remote_periods() == {}
    counts = cli.emu.request_counts()
    assert "POST /v1/batch" not in counts
    assert "POST /v1/available_periods" not in counts
    assert await cli.owned() == {}

    code, text = await cli.run("sync")
    assert code == 0, text
    assert len(cli.remote_periods()) == 2
    assert len(await cli.owned()) == 2
    user = await cli.user()
    assert user is not None
    assert user.watermark is not None
    assert not user.pending_full

    cli.add_event(calendar, at(3, 8), at(3, 9))
    code, text = await cli.run("sync")
    assert code == 0, text
    assert "incremental" in text
    assert len(cli.remote_periods()) == 3


async def test_reconcile_repairs_a_period_deleted_behind_its_back(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    code, _ = await cli.run("reconcile")
    assert code == 0
    cli.record.periods.clear()
    code, text = await cli.run("reconcile", "--dry-run")
    assert code == 0
    assert "upsert" in text
    assert cli.remote_periods() == {}
    code, text = await cli.run("reconcile")
    assert code == 0, text
    assert "full" in text
    assert len(cli.remote_periods()) == 1


async def test_periods_lists_owned_and_foreign_in_the_users_zone(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10, 30))
    await cli.run("sync")
    async with cli.emu.client(cli.account) as client:
        await client.upsert_available_period("foreign-1", at(2, 12), at(2, 13))
    code, text = await cli.run("periods")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].split() == ["start", "end", "available_period_id", "owned"]
    assert any(line.rstrip().endswith("yes") for line in lines)
    assert any("foreign-1" in line and line.rstrip().endswith("no") for line in lines)
    paris = at(1, 9).astimezone(ZoneInfo("Europe/Paris"))
    assert paris.strftime("%Y-%m-%d %H:%M") in text
    assert "2 Available Period(s), 1 owned by this toolkit; times in Europe/Paris." in text


async def test_availability_managed_and_unmanaged(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 11))
    await cli.run("sync")
    code, text = await cli.run("availability", "--days", "3", "--minutes", "60")
    assert code == 0, text
    assert "1 period of at least 60 min in the next 3 day(s) (managed availability)" in text
    assert "120 min" in text
    code, text = await cli.run("availability", "--days", "3", "--unmanaged")
    assert code == 0, text
    assert "plain free/busy" in text
    code, text = await cli.run("availability", "--days", "99")
    assert code == 2


async def test_status_lists_users_masked(cli: Cli) -> None:
    code, text = await cli.run("status")
    assert code == 0
    assert "No users" in text
    await cli.setup()
    code, text = await cli.run("status")
    assert code == 0, text
    assert re.search(r"CRONOFY_CLIENT_SECRET +CRN_…p4", text)
    assert "default" in text
    assert "idle" in text
    assert "full" in text
    user = await cli.user()
    assert user is not None
    assert str(user.channel_id) in text


# --------------------------------------------------------------------------- teardown


async def test_teardown_deletes_only_owned_periods_and_says_the_calendar_stays(
    cli: Cli,
) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    cli.add_event(calendar, at(2, 9), at(2, 10))
    await cli.run("sync")
    async with cli.emu.client(cli.account) as client:
        await client.upsert_available_period("foreign-1", at(3, 12), at(3, 13))
    assert len(cli.remote_periods()) == 3
    code, text = await cli.run("teardown", "--delete-calendar")
    assert code == 1  # the calendar could not be deleted: never a fake success
    assert "Closed channel" in text
    assert "Deleted 2 Available Period(s)" in text
    assert "NOT deleted" in text
    assert "no way to delete a calendar" in text
    assert "calendar app" in text
    assert list(cli.remote_periods()) == ["foreign-1"]
    assert cli.active_channels() == []
    assert await cli.user() is None
    assert calendar in cli.record.calendars  # still there

    await cli.setup()
    for channel in cli.active_channels():  # closed behind our back: teardown still completes
        cli.emu.state.close_channel(cli.record, channel.channel_id)
    code, text = await cli.run("teardown")
    assert code == 0, text
    assert "was already closed" in text
    assert "is kept" in text


# --------------------------------------------------------------------------- notify / replay


async def test_notify_against_a_dead_receiver_names_the_host(cli: Cli) -> None:
    port = closed_port()
    code, text = await cli.run("notify", f"http://127.0.0.1:{port}/cronofy/notifications/x")
    assert code == 1
    assert f"cannot reach 127.0.0.1:{port}" in text


async def test_notify_without_a_secret(cli: Cli) -> None:
    code, text = await cli.run("notify", "http://127.0.0.1:9/x", CRONOFY_CLIENT_SECRET="")
    assert code == 2
    assert "CRONOFY_CLIENT_SECRET" in text


async def test_replay_without_a_server(cli: Cli) -> None:
    port = closed_port()
    code, text = await cli.run("replay", "1", "--server", f"http://127.0.0.1:{port}/cronofy")
    assert code == 1
    assert f"cannot reach 127.0.0.1:{port}" in text


@pytest.fixture
async def sink() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A receiver that records what it gets and answers 401 when the signature is off."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        try:
            verify(body, request.headers.get(SIGNATURE_HEADER), [CLIENT_SECRET])
        except SignatureVerificationError:
            return web.json_response({"error": "invalid signature"}, status=401)
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


async def test_notify_signs_any_type(
    cli: Cli, sink: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = sink
    code, text = await cli.run("notify", url, "--changes-since", "2026-11-24T09:00:00Z")
    assert code == 0, text
    assert "receiver answered 202" in text
    body = json.loads(received[-1][1])
    assert body["notification"] == {"type": "change", "changes_since": "2026-11-24T09:00:00Z"}
    assert body["channel"]["callback_url"] == url
    assert received[-1][0]["Content-Type"].startswith("application/json")

    code, text = await cli.run("notify", url, "--type", "gdpr_requested")
    assert code == 0
    assert json.loads(received[-1][1])["notification"] == {"type": "gdpr_requested"}

    code, text = await cli.run("notify", url, "--secret", "CRN_wrongSecretForTheTest000000")
    assert code == 1
    assert "receiver answered 401" in text
    assert "rejected the signature" in text
    cli.extra_secrets.append("CRN_wrongSecretForTheTest000000")

    code, text = await cli.run("notify", url, "--changes-since", "yesterday")
    assert code == 1
    assert "is not a time" in text


async def test_setup_again_after_syncing_keeps_the_ownership_record(cli: Cli) -> None:
    """Re-running setup must not forget which periods this toolkit wrote (teardown relies
    on it)."""
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    code, _ = await cli.run("sync")
    assert code == 0
    assert len(await cli.owned()) == 1
    await cli.setup(f"http://127.0.0.1:{closed_port()}")
    assert len(await cli.owned()) == 1
    code, text = await cli.run("teardown")
    assert code == 0, text
    assert "Deleted 1 Available Period(s)" in text
    assert cli.remote_periods() == {}


async def test_sync_with_revoked_grant_says_reauthorize(cli: Cli) -> None:
    await cli.setup()
    cli.emu.expire_tokens(cli.account.account_id)
    cli.emu.state.revoke_refresh_tokens(cli.account.account_id)
    code, text = await cli.run("sync")
    assert code == 1
    assert "authorize" in text
    assert "Fix: authorize the user again" in text
    user = await cli.user()
    assert user is not None
    assert user.state == "needs_reauth"
    code, text = await cli.run("status")
    assert "needs_reauth" in text
    assert "fix: authorize the user again" in text


async def test_setup_with_only_a_refresh_token(cli: Cli) -> None:
    code, text = await cli.run(
        "setup", "--public-url", f"http://127.0.0.1:{closed_port()}", CRONOFY_ACCESS_TOKEN=""
    )
    assert code == 0, text
    user = await cli.user()
    assert user is not None
    assert user.credentials is not None
    assert user.credentials.access_token  # the renewed token was stored (and is masked)
    assert cli.emu.request_counts().get("POST /oauth/token") == 1


def test_main_commands_without_a_command_prints_help() -> None:
    out = io.StringIO()
    assert main_commands([], environ={}, out=out) == 2
    assert "setup" in out.getvalue()
    assert "replay" in out.getvalue()


async def test_register_on_another_parser_and_run_parsed(cli: Cli) -> None:
    """How cli.py wires it: ``register`` on its own parser, then ``run_parsed``."""
    import argparse

    from cronofy_avail.cli.commands import COMMANDS, register, run_parsed

    parser = argparse.ArgumentParser(prog="cronofy-avail")
    register(parser.add_subparsers(dest="command"))
    for name in COMMANDS:
        assert name in parser.format_help()
    args = parser.parse_args(["status", "--env-file", str(cli.env_file)])
    out = io.StringIO()
    code = await asyncio.to_thread(
        lambda: asyncio.run(run_parsed(args, environ=cli.environ, out=out))
    )
    cli.outputs.append(out.getvalue())
    assert code == 0
    assert "Settings (secrets masked)" in out.getvalue()


# --------------------------------------------------------------------------- review fixes


async def fake_agent(tunnels: list[dict[str, object]]) -> tuple[str, web.AppRunner]:
    """A local endpoint shaped like the ngrok agent's API (loopback only)."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"tunnels": tunnels})

    app = web.Application()
    app.router.add_get("/api/tunnels", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


async def test_setup_never_uses_a_tunnel_to_another_port(cli: Cli) -> None:
    other = f"https://127.0.0.1:{closed_port()}"
    agent, runner = await fake_agent(
        [{"public_url": other, "proto": "https", "config": {"addr": "http://localhost:3000"}}]
    )
    try:
        code, text = await cli.run("setup", "--ngrok-api", agent, "--port", "8080")
    finally:
        await runner.cleanup()
    assert code == 1, text
    assert "no tunnel to port 8080" in text
    assert f"{other} → http://localhost:3000" in text  # names where the tunnels go
    assert "ngrok http 8080" in text
    assert "--public-url" in text
    assert await cli.user() is None
    assert cli.active_channels() == []


async def test_setup_again_after_the_refresh_token_rotated(cli: Cli) -> None:
    """The configured refresh token was rotated away by a sync: setup uses the stored
    tokens, and what it stores afterwards still works."""
    cli.emu.state.rotate_refresh_tokens = True
    public = f"http://127.0.0.1:{closed_port()}"
    await cli.setup(public)
    cli.emu.expire_tokens(cli.account.account_id)
    code, text = await cli.run("sync")  # renews with the stored refresh token: rotated
    assert code == 0, text
    stored = await cli.user()
    assert stored is not None
    assert stored.credentials is not None
    assert stored.credentials.refresh_token != cli.account.refresh_token
    cli.emu.expire_tokens(cli.account.account_id)

    code, text = await cli.run("setup", "--public-url", public)
    assert code == 0, text
    assert "configured tokens were refused" in text
    assert "using the tokens stored for user 'default'" in text
    after = await cli.user()
    assert after is not None
    assert after.credentials is not None
    assert after.credentials.refresh_token != cli.account.refresh_token  # not the old ones
    assert after.channel_id == stored.channel_id

    cli.emu.expire_tokens(cli.account.account_id)
    code, text = await cli.run("sync")  # the stored tokens still renew
    assert code == 0, text


async def test_setup_stores_the_tokens_it_renewed(cli: Cli) -> None:
    """A rotating refresh during setup: the stored tokens are the renewed ones."""
    cli.emu.state.rotate_refresh_tokens = True
    await cli.setup()
    user = await cli.user()
    assert user is not None
    assert user.credentials is not None
    assert user.credentials.refresh_token not in (None, cli.account.refresh_token)
    assert user.credentials.expires_at is not None
    cli.emu.expire_tokens(cli.account.account_id)
    code, text = await cli.run("sync")
    assert code == 0, text


async def test_setup_with_another_accounts_tokens_refuses(cli: Cli) -> None:
    await cli.setup()
    first = await cli.user()
    assert first is not None
    other = await cli.emu.create_account(tzid="Europe/London")
    env = {
        "CRONOFY_ACCESS_TOKEN": other.access_token,
        "CRONOFY_REFRESH_TOKEN": other.refresh_token,
    }
    public = f"http://127.0.0.1:{closed_port()}"
    code, text = await cli.run("setup", "--public-url", public, **env)
    assert code == 1, text
    assert f"belongs to Cronofy account {cli.account.account_id}" in text
    assert other.account_id in text
    assert "teardown" in text
    assert "--user" in text
    assert "Closed" not in text
    unchanged = await cli.user()
    assert unchanged is not None
    assert (unchanged.sub, unchanged.channel_id) == (first.sub, first.channel_id)
    assert [c.channel_id for c in cli.active_channels()] == [first.channel_id]

    code, text = await cli.run("setup", "--public-url", public, "--force", **env)
    assert code == 0, text
    assert "Closed the previous channel" not in text
    assert f"Left at Cronofy (account {cli.account.account_id})" in text
    assert str(first.channel_id) in text
    replaced = await cli.user()
    assert replaced is not None
    assert replaced.sub == other.account_id
    assert [c.channel_id for c in cli.active_channels()] == [first.channel_id]  # untouched
    cli.extra_secrets += [other.access_token, other.refresh_token]


async def test_setup_says_closed_only_when_it_closed(cli: Cli) -> None:
    await cli.setup()
    first = await cli.user()
    assert first is not None
    for channel in cli.active_channels():
        cli.emu.state.close_channel(cli.record, channel.channel_id)
    _, text = await cli.setup(f"http://127.0.0.1:{closed_port()}")
    assert "Closed the previous channel" not in text
    assert f"The previous channel {first.channel_id} was already closed" in text


async def test_setup_with_a_wrong_client_secret(cli: Cli) -> None:
    wrong = "CRN_notThisApplicationsSecret0042"
    cli.extra_secrets.append(wrong)
    code, text = await cli.run(
        "setup", "--public-url", "http://127.0.0.1:9", CRONOFY_CLIENT_SECRET=wrong
    )
    assert code == 1, text
    assert "CRONOFY_CLIENT_SECRET (or CRONOFY_CLIENT_ID) is not this application's" in text
    assert "developer dashboard" in text
    assert "re-authorize" not in text
    assert await cli.user() is None
    assert cli.active_channels() == []


async def test_sync_with_a_wrong_client_secret_says_which(cli: Cli) -> None:
    await cli.setup()
    cli.emu.expire_tokens(cli.account.account_id)
    wrong = "CRN_notThisApplicationsSecret0042"
    cli.extra_secrets.append(wrong)
    code, text = await cli.run("sync", CRONOFY_CLIENT_SECRET=wrong)
    assert code == 1
    assert "CRONOFY_CLIENT_SECRET (or CRONOFY_CLIENT_ID) is not this application's" in text
    assert "Fix: re-authorize" not in text
    hint = hint_for_text("HTTP 401: token request refused (invalid_client) (POST x)")
    assert hint is not None
    assert hint.startswith("CRONOFY_CLIENT_SECRET")
    explained = explain(OAuthError("token request refused (invalid_client)", status=401))
    assert "is not this application's" in explained.message


async def test_setup_next_step_repeats_the_public_url(cli: Cli) -> None:
    public = f"http://127.0.0.1:{closed_port()}"
    _, text = await cli.setup(public)
    assert f"`cronofy-avail serve --port 8080 --public-url {public}`" in text


async def test_429_with_a_long_retry_after_says_it_was_not_retried(cli: Cli) -> None:
    await cli.setup()
    cli.emu.clear_request_log()
    cli.emu.add_fault(endpoint="GET /v1/available_periods", rate_limit_rate=1.0, retry_after=120)
    code, text = await cli.run("periods")
    assert code == 1
    assert "429" in text
    assert "not retried" in text
    assert "wait 120 seconds" in text
    assert "slowed down and retried" not in text
    assert cli.emu.request_counts()["GET /v1/available_periods"] == 1


async def test_replay_and_notify_without_a_receiver_say_start_serve(cli: Cli) -> None:
    port = closed_port()
    server = f"http://127.0.0.1:{port}/cronofy"
    code, text = await cli.run("replay", "1", "--server", server)
    assert code == 1
    assert f"{server}/deliveries/1/replay" in text
    assert "cronofy-avail serve" in text
    assert "--server" in text
    assert "CRONOFY_API_BASE_URL" not in text
    assert "CRONOFY_DATA_CENTER" not in text
    url = f"http://127.0.0.1:{port}/cronofy/notifications/x"
    code, text = await cli.run("notify", url)
    assert code == 1
    assert url in text
    assert "cronofy-avail serve" in text
    assert "CRONOFY_API_BASE_URL" not in text


async def test_teardown_local_after_the_grant_was_revoked(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    code, _ = await cli.run("sync")
    assert code == 0
    user = await cli.user()
    assert user is not None
    cli.emu.expire_tokens(cli.account.account_id)
    cli.emu.state.revoke_refresh_tokens(cli.account.account_id)
    code, text = await cli.run("teardown")
    assert code == 1
    assert "teardown --local" in text
    assert await cli.user() is not None
    cli.emu.clear_request_log()

    code, text = await cli.run("teardown", "--local")
    assert code == 0, text
    assert cli.emu.request_counts() == {}  # nothing asked of Cronofy
    assert await cli.user() is None
    assert await cli.owned() == {}
    assert f"channel {user.channel_id}" in text
    assert "1 Available Period(s)" in text
    assert "DELETE /v1/channels" in text
    assert len(cli.active_channels()) == 1  # still there, and said so
    assert len(cli.remote_periods()) == 1


async def test_env_file_errors_never_show_a_value(cli: Cli, tmp_path: Path) -> None:
    code, text = await cli.run("status", "--env-file", str(tmp_path / "missing.env"))
    assert code == 2
    assert f"{tmp_path / 'missing.env'} does not exist" in text
    pasted = tmp_path / "pasted.env"
    pasted.write_text(f"{CLIENT_SECRET}\n")
    code, text = await cli.run("status", "--env-file", str(pasted))
    assert code == 2
    assert f"{pasted}:1: line 1 has no '='" in text
    assert CLIENT_SECRET[:10] not in text
    quoted = tmp_path / "quoted.env"
    quoted.write_text(f'CRONOFY_CLIENT_SECRET="{CLIENT_SECRET}" # current\n')
    environ = {k: v for k, v in cli.environ.items() if k != "CRONOFY_CLIENT_SECRET"}
    out = io.StringIO()
    code = await asyncio.to_thread(
        main_commands, ["status", "--env-file", str(quoted)], environ=environ, out=out
    )
    cli.outputs.append(out.getvalue())
    assert code == 0
    assert re.search(r"CRONOFY_CLIENT_SECRET +CRN_…p4", out.getvalue())  # no quote kept


async def test_setup_drops_a_misspelt_time_zone_an_older_version_stored(cli: Cli) -> None:
    await cli.setup()
    store = await SQLiteStore.open(cli.db)
    try:
        user = await store.get_user("default")
        assert user is not None
        user.tzid = "europe/london"
        await store.save_user(user)
    finally:
        await store.close()
    code, text = await cli.run("setup", "--public-url", f"http://127.0.0.1:{closed_port()}")
    assert code == 0, text
    assert "note: the stored time zone is dropped: 'europe/london' is not a time zone" in text
    assert "did you mean 'Europe/London'?" in text
    fixed = await cli.user()
    assert fixed is not None
    assert fixed.tzid == "Europe/Paris"  # the account's
