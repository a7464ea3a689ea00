"""``cronofy-avail authorize``: the browser hears "Authorized" only once the code was exchanged
and the tokens stored; a refused code (bogus, replayed) gets a failure page in the browser and
one accurate line in the terminal. The installed command in a child process (clean ``HOME``,
empty directory, exported variables only) against the emulator over real HTTP, a browser played
by an HTTP client.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.commands import CLIENT_SECRET, emulator
from tests.support.user_cli import SCRIPT, UserShell

__all__ = ["emulator"]  # fixture used by name

WITHIN = 30.0
AUTHORIZE_URL = re.compile(r"^  (http://\S+/oauth/authorize\?\S+)$", re.M)
REFUSED = (
    "the authorization code was refused (invalid_grant): start again with `cronofy-avail authorize`"
)


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


class Authorizing:
    """One ``authorize`` run with its listener, up to "Waiting for the redirect"."""

    def __init__(self, process: asyncio.subprocess.Process, seen: str) -> None:
        self.process = process
        self.seen = seen
        found = AUTHORIZE_URL.search(seen)
        assert found, seen
        self.authorize_url = found.group(1)
        query = parse_qs(urlsplit(self.authorize_url).query)
        self.redirect_uri = query["redirect_uri"][0]
        self.state = query["state"][0]

    async def finish(self) -> tuple[int, str]:
        rest, _ = await asyncio.wait_for(self.process.communicate(), WITHIN)
        assert self.process.returncode is not None
        return self.process.returncode, self.seen + rest.decode()


async def authorizing(shell: UserShell) -> Authorizing:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "authorize",
        "--no-browser",
        "--port",
        "0",
        cwd=shell.cwd,
        env=shell.environ(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(WITHIN):
        while "Waiting for the redirect" not in seen:
            line = (await process.stdout.readline()).decode()
            assert line, f"authorize ended early:\n{seen}"
            seen += line
    return Authorizing(process, seen)


async def stored_user_count(shell: UserShell) -> int:
    db = shell.home / ".cronofy_avail" / "state.db"
    if not db.exists():
        return 0
    store = await SQLiteStore.open(db)
    try:
        return len(await store.list_users())
    finally:
        await store.close()


async def a_real_code(browser: aiohttp.ClientSession, run: Authorizing) -> str:
    """The code the emulator's consent page gives (the redirect not followed)."""
    async with browser.get(run.authorize_url, allow_redirects=False) as answer:
        assert answer.status == 302
        location = answer.headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def assert_refused(status: int, page: str, code: int, output: str) -> None:
    assert 400 <= status < 600
    assert "You can close this tab" not in page
    assert "Not authorized" in page
    assert "nothing was stored" in page
    assert CLIENT_SECRET not in page
    assert code == 1, output
    assert REFUSED in output
    assert "refresh token" not in output
    assert "Authorized Cronofy account" not in output
    assert "Traceback" not in output
    assert CLIENT_SECRET not in output


async def test_a_bogus_code_is_refused_in_the_browser_and_the_terminal(
    shell: UserShell,
) -> None:
    run = await authorizing(shell)
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{run.redirect_uri}?code=bogus-code&state={run.state}") as answer,
    ):
        status, page = answer.status, await answer.text()
    code, output = await run.finish()
    assert_refused(status, page, code, output)
    assert status == 400  # the code the browser brought is what was wrong
    assert await stored_user_count(shell) == 0


async def test_a_replayed_code_is_refused_after_its_first_use(
    emulator: Emulator, shell: UserShell
) -> None:
    first = await authorizing(shell)
    async with aiohttp.ClientSession() as browser:
        used = await a_real_code(browser, first)
        async with browser.get(f"{first.redirect_uri}?code={used}&state={first.state}") as answer:
            assert answer.status == 200
            assert "You can close this tab" in await answer.text()
        code, output = await first.finish()
        assert code == 0, output

        second = await authorizing(shell)
        async with browser.get(f"{second.redirect_uri}?code={used}&state={second.state}") as answer:
            status, page = answer.status, await answer.text()
    code, output = await second.finish()
    assert_refused(status, page, code, output)
    assert await stored_user_count(shell) == 1  # the first run's tokens, untouched


async def test_the_browser_hears_success_only_once_the_tokens_are_stored(
    shell: UserShell,
) -> None:
    run = await authorizing(shell)
    async with aiohttp.ClientSession() as browser:
        assert await stored_user_count(shell) == 0
        async with browser.get(run.authorize_url) as answer:
            assert answer.status == 200
            assert "You can close this tab" in await answer.text()
        # The page came after the exchange and the store, not before: the user is there now,
        # while the command may still be printing.
        assert await stored_user_count(shell) == 1
    code, output = await run.finish()
    assert code == 0, output


async def test_a_refused_client_secret_fails_the_page_without_the_secret(
    emulator: Emulator, shell: UserShell
) -> None:
    wrong = "CRN_WrongSecretForThisAppDistinct5Kd"
    shell.exported["CRONOFY_CLIENT_SECRET"] = wrong
    run = await authorizing(shell)
    async with aiohttp.ClientSession() as browser:
        real = await a_real_code(browser, run)
        async with browser.get(f"{run.redirect_uri}?code={real}&state={run.state}") as answer:
            status, page = answer.status, await answer.text()
    code, output = await run.finish()
    assert status == 502  # Cronofy refused the application, not the browser's request
    assert "Not authorized" in page
    assert "You can close this tab" not in page
    assert wrong not in page
    assert CLIENT_SECRET not in page
    assert code == 1, output
    assert "CRONOFY_CLIENT_SECRET" in output
    assert wrong not in output
    assert "Traceback" not in output


async def test_a_pasted_bogus_code_says_the_code_was_refused(shell: UserShell) -> None:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "authorize",
        "--no-browser",
        "--paste",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        cwd=shell.cwd,
        env=shell.environ(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(WITHIN):
        while "paste here" not in seen:
            line = (await process.stdout.readline()).decode()
            assert line, seen
            seen += line
    found = AUTHORIZE_URL.search(seen)
    assert found, seen
    state = parse_qs(urlsplit(found.group(1)).query)["state"][0]
    pasted = f"http://127.0.0.1:9/cb?code=bogus-code&state={state}\n"
    rest, _ = await asyncio.wait_for(process.communicate(pasted.encode()), WITHIN)
    output = rest.decode()
    assert process.returncode == 1, output
    assert REFUSED in output
    assert "refresh token" not in output
    assert "Traceback" not in output
