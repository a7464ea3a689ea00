"""The composition root (``app/system.py``): one place builds the running system from the
settings, and closes it in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import for_app, open_system
from cronofy_avail.core.ratewindows import CRONOFY_DEFAULT_WINDOWS, RateWindow
from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.store import MemoryStore
from tests.support.wait import until


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(debounce=0.05, retry_initial_delay=0.05) as emu:
        yield emu


def settings_for(emu: Emulator, tmp_path: Path, **given: object) -> Settings:
    base = Settings(db_path=tmp_path / "state.db", **given)  # type: ignore[arg-type]
    return for_app(
        base,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        api_base_url=emu.base_url,
    )


async def test_every_part_follows_the_settings(emulator: Emulator, tmp_path: Path) -> None:
    settings = settings_for(emulator, tmp_path, max_attempts=3, sync_overlap=9.0, data_center="uk")
    async with open_system(settings) as system:
        assert system.retry.max_attempts == 3
        assert system.engine.served_overlap.total_seconds() == 9.0
        clients = system.clients()
        assert clients.retry is system.retry
        assert clients.session is system.session
        coordinator = await system.coordinator()
        assert coordinator.engine is system.engine
        assert system.client(access_token="t").endpoints.api == emulator.base_url


async def test_closing_stops_the_receiver_then_the_syncs_then_closes_what_it_opened(
    emulator: Emulator, tmp_path: Path
) -> None:
    seen: list[tuple[str, bool, bool]] = []
    async with open_system(settings_for(emulator, tmp_path)) as system:
        store, session = system.store, system.session

        async def note(moment: str) -> None:
            assert server.handle is not None
            seen.append((moment, server.handle.loaded, session.closed))

        async def after_the_coordinator() -> None:
            await note("after the coordinator stopped")

        async def before_the_receiver() -> None:
            await note("before the receiver stopped")

        system.on_unload(after_the_coordinator)  # registered first: runs after both stops
        coordinator = await system.coordinator()
        server = await system.receiver(coordinator)
        system.on_unload(before_the_receiver)
        assert server.handle is not None
        assert server.handle.loaded
    assert seen == [
        ("before the receiver stopped", True, False),
        ("after the coordinator stopped", False, False),
    ]
    assert session.closed
    with pytest.raises(RuntimeError, match="after shutdown"):  # its worker thread is gone
        await store.list_users()


async def test_a_store_and_a_session_given_stay_open(emulator: Emulator, tmp_path: Path) -> None:
    store = MemoryStore()
    async with aiohttp.ClientSession() as session:
        async with open_system(
            settings_for(emulator, tmp_path), store=store, session=session
        ) as system:
            assert system.store is store
            assert system.session is session
            await system.receiver(await system.coordinator())
        assert not session.closed
        assert await store.list_users() == []
    assert not (tmp_path / "state.db").exists()  # no store of its own was opened


async def test_the_limiter_of_every_client_is_the_settings_limit(tmp_path: Path) -> None:
    """``CRONOFY_AVAIL_RATE_LIMIT`` reaches the limiter the system's clients share: with 3 a
    day, three requests start at once and the fourth is held back (its wait is counted before
    it sleeps: nothing here waits on the clock)."""
    settings = Settings.load(
        {
            "CRONOFY_CLIENT_ID": f"rate-{uuid.uuid4().hex}",  # a limiter of its own
            "CRONOFY_CLIENT_SECRET": "CRN_system_rate_test_0000",
            "CRONOFY_AVAIL_DB": str(tmp_path / "state.db"),
            "CRONOFY_AVAIL_RATE_LIMIT": "3/24h",
        },
        None,
    )
    async with open_system(settings, store=MemoryStore()) as system:
        limiter = system.rate_limiter
        assert limiter is not None
        assert limiter.windows == (RateWindow(3, 86_400.0),)
        assert system.clients().rate_limiter is limiter
        assert system.client(access_token="t")._transport.rate_limiter is limiter
        assert system.metrics().limiter is limiter
        for _ in range(3):
            await limiter.acquire()
        assert (limiter.acquired, limiter.waits) == (3, 0)
        fourth = asyncio.create_task(limiter.acquire())
        await until(lambda: limiter.waits == 1, what="the fourth request to be held back")
        assert not fourth.done()
        assert limiter.acquired == 3
        assert limiter.waited > 3600  # held back for most of the day, not a moment
        fourth.cancel()


async def test_without_a_setting_the_limit_is_cronofys_default(tmp_path: Path) -> None:
    settings = Settings(client_id="default-limit", db_path=tmp_path / "s.db")
    async with open_system(settings, store=MemoryStore()) as system:
        assert system.rate_limiter is not None
        assert system.rate_limiter.windows == CRONOFY_DEFAULT_WINDOWS
