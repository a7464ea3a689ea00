"""The command tests' shared parts: an emulator on 127.0.0.1, a temporary store, a runner
that calls :func:`cronofy_avail.cli.commands.main_commands` in-process, and ``serve`` running
as a task next to them. A test module uses the fixtures ``emulator`` and ``cli`` by importing
them from here.

The commands run through ``main_commands`` (``asyncio.run``) in a worker thread, while the
emulator serves from the test's event loop: real HTTP both ways, no mocks. Every output of a
test is kept, and the fixture checks at the end that no secret appears in any of it.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.commands import serve
from cronofy_avail.cli.main import main_commands
from cronofy_avail.core.planner import KnownPeriod
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.emulator.state import AccountRecord
from cronofy_avail.runtime.store import SQLiteStore, UserRecord
from tests.support.clock import iso
from tests.support.user_cli import UserShell

WAIT = 15.0
"""The bound of a wait on ``serve`` (never reached when things work)."""

CLIENT_SECRET = "CRN_CmdTestSecretDistinct7Qx9Lm2Zp4"
OLD_CLIENT_SECRET = "CRN_CmdOldSecretDistinct3Vb8Nk1Wq6"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""Midnight UTC of the day this module was imported: one base for every call of ``at``, so a
test that runs across midnight still names the same days at its end as at its start."""


def at(days: int, hour: int, minute: int = 0) -> datetime:
    return TODAY + timedelta(days=days, hours=hour, minutes=minute)


@dataclass
class Cli:
    emu: Emulator
    account: EmulatorAccount
    db: Path
    environ: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    extra_secrets: list[str] = field(default_factory=list)

    async def run(self, *argv: str, **env: str) -> tuple[int, str]:
        """``main_commands(argv)`` with this test's environment (``env`` overrides)."""
        buffer = io.StringIO()
        environ = {**self.environ, **env}
        # Never a .env from the working directory: point at an empty one (after the command's
        # name: `event ACTION` is two words).
        name = 2 if argv[0] == "event" else 1
        full = [*argv[:name], "--env-file", str(self.env_file), *argv[name:]]
        code = await asyncio.to_thread(main_commands, full, environ=environ, out=buffer)
        text = buffer.getvalue()
        self.outputs.append(text)
        return code, text

    async def setup(self, public_url: str | None = None, *args: str) -> tuple[int, str]:
        code, text = await self.run(
            "setup", "--public-url", public_url or f"http://127.0.0.1:{closed_port()}", *args
        )
        assert code == 0, text
        return code, text

    @property
    def env_file(self) -> Path:
        """An empty ``.env`` (an ``--env-file`` that does not exist is an error)."""
        path = self.db.parent / "empty.env"
        if not path.exists():
            path.write_text("")
        return path

    @property
    def record(self) -> AccountRecord:
        return self.emu.state.accounts[self.account.account_id]

    def active_channels(self) -> list[Any]:
        return [c for c in self.record.channels.values() if c.active]

    def remote_periods(self) -> dict[str, Any]:
        return dict(self.record.periods)

    async def user(self, user_id: str = "default") -> UserRecord | None:
        store = await SQLiteStore.open(self.db)
        try:
            return await store.get_user(user_id)
        finally:
            await store.close()

    async def owned(self, user_id: str = "default") -> dict[str, KnownPeriod]:
        store = await SQLiteStore.open(self.db)
        try:
            return await store.get_periods(user_id)
        finally:
            await store.close()

    async def sub_calendar(self) -> str:
        user = await self.user()
        assert user is not None
        assert user.calendar_id is not None
        return user.calendar_id

    def add_event(self, calendar_id: str, start: datetime, end: datetime, **extra: Any) -> str:
        event = self.emu.add_event(
            calendar_id, start=iso(start), end=iso(end), summary="Available", **extra
        )
        uid: str = event["event_uid"]
        return uid

    async def secrets(self) -> list[str]:
        values = [
            CLIENT_SECRET,
            OLD_CLIENT_SECRET,
            self.account.access_token,
            self.account.refresh_token,
            *self.extra_secrets,
        ]
        if self.db.exists():
            store = await SQLiteStore.open(self.db)
            try:
                for user in await store.list_users():
                    values.append(user.callback_key)
                    if user.credentials is not None:
                        values.append(user.credentials.access_token)
                        if user.credentials.refresh_token:
                            values.append(user.credentials.refresh_token)
            finally:
                await store.close()
        return [v for v in values if v]


def environ_for(emu: Emulator, account: EmulatorAccount, db: Path) -> dict[str, str]:
    return {
        "CRONOFY_CLIENT_ID": emu.client_id,
        "CRONOFY_CLIENT_SECRET": CLIENT_SECRET,
        "CRONOFY_ACCESS_TOKEN": account.access_token,
        "CRONOFY_REFRESH_TOKEN": account.refresh_token,
        "CRONOFY_API_BASE_URL": emu.base_url,
        "CRONOFY_AVAIL_DB": str(db),
        "CRONOFY_AVAIL_USER": "default",
    }


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # retry_initial_delay stays long: a verification to a dead URL is tried once per test.
    async with Emulator(client_secret=CLIENT_SECRET, debounce=0.01) as emu:
        yield emu


async def make_cli(emulator: Emulator, tmp_path: Path, **account: Any) -> Cli:
    acc = await emulator.create_account(tzid=account.pop("tzid", "Europe/Paris"), **account)
    db = tmp_path / "state.db"
    # Never read the real process environment, nor a .env in the working directory.
    environ = environ_for(emulator, acc, db)
    return Cli(emulator, acc, db, environ)


@pytest.fixture
async def cli(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Cli]:
    runner = await make_cli(emulator, tmp_path)
    yield runner
    await assert_no_secret(runner)


async def assert_no_secret(runner: Cli) -> None:
    secrets = await runner.secrets()
    for text in runner.outputs:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the output:\n{text}"


class Served:
    """``serve`` running as a task in the test's loop (next to the emulator)."""

    def __init__(self, cli: Cli, port: int, **options: object) -> None:
        self.cli = cli
        self.port = port
        self.out = io.StringIO()
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        settings = Settings.load(cli.environ, None)
        self.task = asyncio.create_task(
            serve(
                settings,
                self.out,
                port=port,
                ready=self.ready,
                stop=self.stop,
                schedule_every=None,
                **options,  # type: ignore[arg-type]
            )
        )

    async def __aenter__(self) -> Served:
        waiter = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self.task}, timeout=WAIT, return_when="FIRST_COMPLETED"
        )
        if self.task in done:
            waiter.cancel()
            self.task.result()  # raises what went wrong
            raise AssertionError(f"serve ended early:\n{self.out.getvalue()}")
        assert waiter in done, self.out.getvalue()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        code = await asyncio.wait_for(self.task, WAIT)
        self.cli.outputs.append(self.out.getvalue())
        assert code == 0

    @property
    def text(self) -> str:
        return self.out.getvalue()


async def export_account(emu: Emulator, shell: UserShell, email: str) -> None:
    """A new account on ``emu``, exported in ``shell`` the way a user sets up: the API base
    URL, the application's id and secret, the account's tokens (environment only)."""
    account = await emu.create_account(email=email, tzid="Europe/London")
    shell.exported.update(
        {
            "CRONOFY_API_BASE_URL": emu.base_url,
            "CRONOFY_CLIENT_ID": emu.client_id,
            "CRONOFY_CLIENT_SECRET": CLIENT_SECRET,
            "CRONOFY_ACCESS_TOKEN": account.access_token,
            "CRONOFY_REFRESH_TOKEN": account.refresh_token,
        }
    )
