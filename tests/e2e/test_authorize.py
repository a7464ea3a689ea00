"""``cronofy-avail authorize`` end to end against the emulator's ``/oauth/authorize``: the
installed command in a child process (clean ``HOME``, empty directory, exported variables
only), a browser played by an HTTP client, then ``setup`` with no token in the environment.
"""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.commands import CLIENT_SECRET, closed_port, emulator
from tests.support.user_cli import SCRIPT, UserShell

__all__ = ["emulator"]  # fixture used by name

WITHIN = 30.0
AUTHORIZE_URL = re.compile(r"^  (http://\S+/oauth/authorize\?\S+)$", re.M)


@pytest.fixture
def shell(tmp_path: Path, emulator: Emulator) -> UserShell:
    user = UserShell(tmp_path)
    user.exported.update(
        {
            "CRONOFY_API_BASE_URL": emulator.base_url,
            "CRONOFY_CLIENT_ID": emulator.client_id,
            "CRONOFY_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    return user


async def _start(shell: UserShell, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "authorize",
        "--no-browser",
        *argv,
        cwd=shell.cwd,
        env=shell.environ(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _read_until(process: asyncio.subprocess.Process, marker: str) -> str:
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(WITHIN):
        while marker not in seen:
            line = (await process.stdout.readline()).decode()
            assert line, f"authorize ended early:\n{seen}"
            seen += line
    return seen


async def _tokens(shell: UserShell) -> list[str]:
    store = await SQLiteStore.open(shell.home / ".cronofy_avail" / "state.db")
    try:
        user = await store.get_user("default")
    finally:
        await store.close()
    assert user is not None
    assert user.credentials is not None
    assert user.credentials.refresh_token is not None
    return [user.credentials.access_token, user.credentials.refresh_token]


async def test_authorize_with_the_local_listener_then_setup(
    emulator: Emulator, shell: UserShell
) -> None:
    process = await _start(shell, "--port", "0", "--login-hint", "ada@example.com")
    seen = await _read_until(process, "Waiting for the redirect")
    url = AUTHORIZE_URL.search(seen)
    assert url, seen
    callback = re.search(r"Redirect URI \(register it in your Cronofy application\): (\S+)", seen)
    assert callback, seen
    async with aiohttp.ClientSession() as browser:
        # A redirect that is not the answer to this run (wrong state) is refused and ignored.
        async with browser.get(f"{callback.group(1)}?code=stolen&state=not-ours") as answer:
            assert answer.status == 400
        # The user allows access: the emulator redirects the browser to the listener.
        async with browser.get(url.group(1)) as answer:
            assert answer.status == 200
            assert "You can close this tab" in await answer.text()
    rest, _ = await asyncio.wait_for(process.communicate(), WITHIN)
    output = seen + rest.decode()
    assert process.returncode == 0, output
    assert "scope=read_account+list_calendars+create_calendar+read_events" in url.group(1)
    assert "Authorized Cronofy account acc_" in output
    assert "Tokens stored for user 'default'" in output
    db = shell.home / ".cronofy_avail" / "state.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for token in await _tokens(shell):
        assert token not in output
    account = next(a for a in emulator.state.accounts.values() if a.email == "ada@example.com")

    # setup finds the stored tokens: no CRONOFY_ACCESS_TOKEN anywhere.
    code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{closed_port()}")
    assert code == 0, text
    assert f"Account          {account.account_id} (ada@example.com)" in text
    for token in await _tokens(shell):
        assert token not in text


async def test_authorize_by_pasting_the_redirected_url(
    emulator: Emulator, shell: UserShell
) -> None:
    redirect_uri = "http://127.0.0.1:9/registered/callback"
    process = await _start(shell, "--paste", "--redirect-uri", redirect_uri)
    seen = await _read_until(process, "paste here")
    url = AUTHORIZE_URL.search(seen)
    assert url, seen
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(url.group(1), allow_redirects=False) as answer,
    ):
        assert answer.status == 302
        location = answer.headers["Location"]
    assert location.startswith(redirect_uri + "?code=")
    rest, _ = await asyncio.wait_for(process.communicate((location + "\n").encode()), WITHIN)
    output = seen + rest.decode()
    assert process.returncode == 0, output
    assert "Tokens stored for user 'default'" in output


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        (
            "http://127.0.0.1:9/cb?code=abc&state=forged",
            "the redirect's state does not match the one this run sent",
        ),
        (  # an error redirect is checked for the state too: not ours, not believed
            "http://127.0.0.1:9/cb?error=access_denied&state=wrong",
            "the redirect's state does not match the one this run sent",
        ),
        ("", "nothing was pasted; nothing was stored."),
        ("garbage", "what was pasted is not a URL (no http(s)://host); nothing was stored."),
    ],
)
async def test_a_pasted_url_that_is_not_our_answer_stores_nothing(
    shell: UserShell, pasted: str, message: str
) -> None:
    process = await _start(shell, "--paste", "--redirect-uri", "http://127.0.0.1:9/cb")
    await _read_until(process, "paste here")
    rest, _ = await asyncio.wait_for(process.communicate((pasted + "\n").encode()), WITHIN)
    output = rest.decode()
    assert process.returncode == 1, output
    assert message in output
    assert "Traceback" not in output
    code, text = await shell.run("setup", "--public-url", "http://127.0.0.1:9")
    assert code == 2
    assert "no tokens are stored for this user" in text
    assert "run `cronofy-avail authorize`" in text


async def test_paste_needs_the_redirect_uri(shell: UserShell) -> None:
    code, text = await shell.run("authorize", "--paste")
    assert code == 1
    assert "--paste needs --redirect-uri" in text


async def test_an_error_redirect_ends_the_run_only_with_this_runs_state(
    shell: UserShell,
) -> None:
    process = await _start(shell, "--port", "0")
    seen = await _read_until(process, "Waiting for the redirect")
    found = AUTHORIZE_URL.search(seen)
    assert found, seen
    query = parse_qs(urlsplit(found.group(1)).query)
    redirect_uri, state = query["redirect_uri"][0], query["state"][0]
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{redirect_uri}?error=access_denied&state=wrong") as response:
            assert response.status == 400
            assert "ignored" in await response.text()
        assert process.returncode is None  # still waiting for the real answer
        async with browser.get(f"{redirect_uri}?error=access_denied&state={state}") as response:
            assert response.status == 400
    rest, _ = await asyncio.wait_for(process.communicate(), WITHIN)
    assert process.returncode == 1
    assert "Cronofy did not authorize: access_denied." in rest.decode()


async def test_the_note_says_where_the_configured_token_comes_from(shell: UserShell) -> None:
    (shell.cwd / ".env").write_text("CRONOFY_ACCESS_TOKEN=an-old-token-from-a-file\n")
    process = await _start(shell, "--paste", "--redirect-uri", "http://127.0.0.1:9/cb")
    seen = await _read_until(process, "paste here")
    found = AUTHORIZE_URL.search(seen)
    assert found, seen
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(found.group(1), allow_redirects=False) as response,
    ):
        redirected = response.headers["Location"]
    rest, _ = await asyncio.wait_for(process.communicate((redirected + "\n").encode()), WITHIN)
    output = rest.decode()
    assert process.returncode == 0, output
    assert "note: CRONOFY_ACCESS_TOKEN is set in .env, and `setup` uses it before the " in output
    assert "remove it (and CRONOFY_REFRESH_TOKEN) from that file to use these." in output
    code, text = await shell.run("status")
    assert code == 0, text
    assert "default: callback none yet (authorized, not set up: run `cronofy-avail setup`)" in (
        text
    )
