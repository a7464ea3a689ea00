"""What a new user sets and the errors they meet, run as they run it: the installed
``cronofy-avail`` in a child process, a clean ``HOME``, an empty working directory, settings
from exported variables only (no ``--env-file`` unless the test is about it), and each
error's exact message.
"""

from __future__ import annotations

import pytest

from cronofy_avail.emulator import Emulator
from tests.support.commands import CLIENT_SECRET, closed_port, emulator, export_account
from tests.support.user_cli import UserShell, shell

__all__ = ["emulator", "shell"]  # fixtures used by name


async def exported_for(emu: Emulator, shell: UserShell) -> None:
    await export_account(emu, shell, "new.user@example.com")


# --------------------------------------------------------------------------- settings


async def test_exported_variables_alone_are_enough(emulator: Emulator, shell: UserShell) -> None:
    await exported_for(emulator, shell)
    assert not (shell.cwd / ".env").exists()
    code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{closed_port()}")
    assert code == 0, text
    assert "Sub calendar" in text
    # The store is the documented default, under the (clean) HOME.
    assert (shell.home / ".cronofy_avail" / "state.db").is_file()
    code, text = await shell.run("status")
    assert code == 0, text
    assert "default" in text
    for secret in shell.exported.values():
        if secret.startswith(("http", "emu_")):
            continue
        assert secret not in text


async def test_no_settings_at_all_names_the_variables_and_dev(shell: UserShell) -> None:
    code, text = await shell.run("periods")
    assert code == 2
    assert "nothing is configured here: there is no .env file in this directory" in text
    assert "set CRONOFY_CLIENT_ID and CRONOFY_CLIENT_SECRET from its page" in text
    assert "start `cronofy-avail dev` in another terminal in this directory" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("where", ["before", "after"])
async def test_a_missing_explicit_env_file_is_an_error(shell: UserShell, where: str) -> None:
    argv = (
        ("--env-file", "nope.env", "status")
        if where == "before"
        else ("status", "--env-file", "nope.env")
    )
    code, text = await shell.run(*argv)
    assert code == 2
    assert "the .env file nope.env does not exist; fix the --env-file path" in text


async def test_the_default_env_file_is_read_when_present(shell: UserShell) -> None:
    (shell.cwd / ".env").write_text("CRONOFY_AVAIL_USER=from-dotenv\n")
    code, text = await shell.run("status")
    assert code == 0, text
    assert "from-dotenv" in text


# --------------------------------------------------------------------------- time zones


async def test_setup_rejects_a_misspelt_time_zone_with_the_right_spelling(
    shell: UserShell,
) -> None:
    code, text = await shell.run("setup", "--tzid", "europe/london")
    assert code == 2
    assert "'europe/london' is not a time zone name" in text
    assert "did you mean 'Europe/London'?" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("command", ["demo", "emulator"])
async def test_demo_and_emulator_reject_a_bad_time_zone(shell: UserShell, command: str) -> None:
    code, text = await shell.run(command, "--tzid", "America/New_Yrok")
    assert code == 2
    assert "argument --tzid: 'America/New_Yrok' is not a time zone name" in text
    assert "did you mean 'America/New_York'" in text
    assert "Traceback" not in text


async def test_an_unknown_zone_without_a_near_name_says_what_a_name_looks_like(
    shell: UserShell,
) -> None:
    code, text = await shell.run("demo", "--tzid", "Nowhere")
    assert code == 2
    assert "use an IANA name such as 'Europe/London'" in text


async def test_a_bad_exported_time_zone_is_a_configuration_error(shell: UserShell) -> None:
    code, text = await shell.run("status", CRONOFY_TZID="europe/paris")
    assert code == 2
    assert "CRONOFY_TZID: 'europe/paris' is not a time zone name" in text
    assert "did you mean 'Europe/Paris'?" in text


# --------------------------------------------------------------------------- numbers


RANGE = "is out of range; use one"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("serve", "--port", "99999"), f"--port: 99999 {RANGE} between 0 and 65535"),
        (("emulator", "--port", "99999"), f"--port: 99999 {RANGE} between 0 and 65535"),
        (("emulator", "--port", "http"), "--port: 'http' is not a whole number"),
        (("setup", "--port", "0"), f"--port: 0 {RANGE} between 1 and 65535"),
        (("emulator", "--page-size", "0"), f"--page-size: 0 {RANGE} between 1 and 1000"),
        (("emulator", "--page-size", "-5"), f"--page-size: -5 {RANGE} between 1 and 1000"),
        (("emulator", "--token-ttl", "-1"), f"--token-ttl: -1 {RANGE} at least 1"),
        (("emulator", "--debounce", "-1"), f"--debounce: -1 {RANGE} at least 0"),
        (("emulator", "--failure-window", "0"), f"--failure-window: 0 {RANGE} more than 0"),
        (("availability", "--days", "36"), f"--days: 36 {RANGE} between 1 and 35"),
        (("availability", "--minutes", "0"), f"--minutes: 0 {RANGE} between 1 and 1440"),
        (("status", "--deliveries", "-1"), f"--deliveries: -1 {RANGE} at least 0"),
    ],
)
async def test_numbers_out_of_range_are_refused_by_name(
    shell: UserShell, argv: tuple[str, ...], message: str
) -> None:
    code, text = await shell.run(*argv)
    assert code == 2
    assert f"argument {message}" in text
    assert "Traceback" not in text


async def test_help_shows_the_defaults_and_limits(shell: UserShell) -> None:
    code, text = await shell.run("availability", "--help")
    assert code == 0
    flat = " ".join(text.split())
    assert "how many days ahead to look, 1 to 35 (default: 7)" in flat
    assert "required duration, in minutes (default: 30)" in flat
    code, text = await shell.run("emulator", "--help")
    flat = " ".join(text.split())
    assert "events/periods per page (default: 50)" in flat


# --------------------------------------------------------------------------- URLs


async def test_a_callback_url_given_as_public_url_is_refused(
    emulator: Emulator, shell: UserShell
) -> None:
    await exported_for(emulator, shell)
    callback = "https://abc.ngrok-free.app/cronofy/notifications/abcdefgh12345678"
    for command in ("setup", "serve"):
        code, text = await shell.run(command, "--public-url", callback)
        assert code == 2, text
        assert "looks like a callback URL; give the base URL the receiver is reached at" in text
        assert "(e.g. https://abc.ngrok-free.app)" in text
    assert emulator.request_counts().get("POST /v1/channels", 0) == 0


async def test_serve_on_every_interface_says_so(emulator: Emulator, shell: UserShell) -> None:
    from cronofy_avail.cli.serve import listening

    assert listening("0.0.0.0", 8080, "http://0.0.0.0:8080/cronofy").startswith(  # noqa: S104
        "0.0.0.0 port 8080, every interface (from this machine: http://127.0.0.1:8080/cronofy)"
    )
    assert listening("127.0.0.1", 8080, "http://127.0.0.1:8080/cronofy") == (
        "http://127.0.0.1:8080/cronofy"
    )


# --------------------------------------------------------------------------- the emulator path


async def test_setup_after_an_emulator_restart_replaces_the_stale_user(
    shell: UserShell,
) -> None:
    public = f"http://127.0.0.1:{closed_port()}"
    async with Emulator(client_secret=CLIENT_SECRET) as first:
        await exported_for(first, shell)
        code, text = await shell.run("setup", "--public-url", public)
        assert code == 0, text
        old_account = next(iter(first.state.accounts))
    # A new emulator (a restart) knows none of the old accounts.
    async with Emulator(client_secret=CLIENT_SECRET) as second:
        await exported_for(second, shell)
        code, text = await shell.run("event", "list")
        assert code == 1
        assert f"does not know user 'default''s account {old_account}: it was restarted" in text
        code, text = await shell.run("setup", "--public-url", public)
        assert code == 0, text
        assert f"no longer knows account {old_account} of the stored user 'default': it " in text
        assert "Replacing the stale user." in text
        assert "--force" not in text


async def test_notify_without_a_url_targets_the_stored_user(
    emulator: Emulator, shell: UserShell
) -> None:
    await exported_for(emulator, shell)
    code, text = await shell.run("notify")
    assert code == 1
    assert "nothing is set up yet" in text
    port = closed_port()
    code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{port}")
    assert code == 0, text
    code, text = await shell.run("notify")
    assert code == 1
    assert f"cannot reach 127.0.0.1:{port}: nothing accepts connections there" in text
    assert "leave the URL out to target the stored user's callback URL" in text
    assert "copy the callback URL" not in text
    code, text = await shell.run("notify", "not-a-url")
    assert code == 1
    assert "'not-a-url' is not an http(s) URL" in text


async def test_event_commands_need_the_emulator(shell: UserShell) -> None:
    code, text = await shell.run(
        "event", "add", CRONOFY_CLIENT_ID="id", CRONOFY_CLIENT_SECRET="secret-secret"
    )
    assert code == 1
    assert "`event` acts as the user in the local emulator, and CRONOFY_API_BASE_URL is not" in (
        text
    )
    assert "add events to the sub calendar in your calendar app" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--date", "someday"), "argument --date: 'someday' is not a day; use today, tomorrow"),
        (("--from", "9am"), "argument --from: '9am' is not a time of day such as 09:00"),
        (("--to", "24:00"), "argument --to: '24:00' is not a time of day"),
    ],
)
async def test_event_times_are_checked(
    shell: UserShell, argv: tuple[str, ...], message: str
) -> None:
    code, text = await shell.run("event", "add", *argv)
    assert code == 2
    assert message in text


async def test_an_event_ending_before_it_starts_is_refused(
    emulator: Emulator, shell: UserShell
) -> None:
    await exported_for(emulator, shell)
    code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{closed_port()}")
    assert code == 0, text
    code, text = await shell.run("event", "add", "--from", "12:00", "--to", "09:00")
    assert code == 1
    assert "the event would end (09:00) before it starts (12:00)" in text
    code, text = await shell.run("event", "delete", "evt_nope")
    assert code == 1
    assert "the emulator has no such event" in text


async def test_dev_leaves_a_users_own_env_file_alone(shell: UserShell) -> None:
    mine = "CRONOFY_CLIENT_ID=my-real-app\n"
    (shell.cwd / ".env").write_text(mine)
    code, text = await shell.run("dev", "--port", "0", "--receiver-port", "0")
    assert code == 1
    assert ".env exists and was not written by `cronofy-avail dev`; it is left alone" in text
    assert "pass --write-env with another file" in text
    assert (shell.cwd / ".env").read_text() == mine
