"""Fixtures: a real emulator on 127.0.0.1:0, clients for it, and a callback receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator, EmulatorAccount, EmulatorControl
from tests.support.emulator import FAST, FakeClock, Received, Receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(**FAST) as emulator:  # type: ignore[arg-type]
        yield emulator


@pytest.fixture
async def account(emu: Emulator) -> EmulatorAccount:
    return await emu.create_account(email="jane@example.com", tzid="Europe/London")


@pytest.fixture
async def emu_on_clock(clock: FakeClock) -> AsyncIterator[Emulator]:
    """An emulator on ``clock`` (2026-11-24) instead of the real one: its default events
    window (``events_days_back``/``events_days_ahead`` around the clock's day) holds the fixed
    dates of late November 2026 whatever day the tests run."""
    async with Emulator(clock=clock, **FAST) as emulator:  # type: ignore[arg-type]
        yield emulator


@pytest.fixture
async def account_on_clock(emu_on_clock: Emulator) -> EmulatorAccount:
    return await emu_on_clock.create_account(email="jane@example.com", tzid="Europe/London")


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def client(emu: Emulator, account: EmulatorAccount) -> AsyncIterator[CronofyClient]:
    async with emu.client(account, sleep=_no_sleep, retry=RetryPolicy(max_attempts=4)) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def control(emu: Emulator, http: aiohttp.ClientSession) -> EmulatorControl:
    return EmulatorControl(emu.base_url, session=http)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        rec.received.append(Received(await request.read(), dict(request.headers)))
        rec.arrived.set()
        if rec.delays:
            await asyncio.sleep(rec.delays.pop(0))
        return web.Response(status=rec.script.pop(0) if rec.script else rec.status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cronofy/notifications/key"
    yield rec
    await runner.cleanup()
