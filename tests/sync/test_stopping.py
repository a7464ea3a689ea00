"""Stopping the coordinator: a stop gives running syncs their grace, a cancelled stop (a second
Ctrl-C) and a stop on the way out of a cancel do not wait for it; either way every sync has
ended, its clean-up done, before the stop returns (nothing outlives the store it uses).

A sync is parked at the emulator's ``hold`` gate, never released by the test, so only a
cancel can end it before the grace; the grace is far longer than any test waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronofy_avail.playground import Playground
from cronofy_avail.runtime.store import SQLiteStore
from tests.support.playground import add, at

LONG_GRACE = 3600.0


@pytest.fixture
async def parked(tmp_path: Path) -> AsyncIterator[Playground]:
    """A playground on a SQLite store (its own worker thread) whose next sync is parked in
    its read of the events."""
    store = await SQLiteStore.open(tmp_path / "state.db")
    try:
        async with Playground.running(store=store) as pg:
            pg.coordinator.grace = LONG_GRACE
            gate = pg.emulator.add_fault(endpoint="GET /v1/events", hold=True)
            add(pg, at(1, 9), at(1, 10))
            async with asyncio.timeout(10):
                await pg.emulator.wait_held(gate.fault_id)
            assert pg.coordinator.is_syncing(pg.user_id)
            yield pg
    finally:
        await store.close()


async def test_a_cancelled_stop_cancels_the_running_syncs_and_waits_for_their_end(
    parked: Playground,
) -> None:
    stopping = asyncio.create_task(parked.coordinator.stop())
    await asyncio.sleep(0)  # the stop is under way: waiting out the grace
    assert not stopping.done()
    stopping.cancel()
    async with asyncio.timeout(10):  # far below the grace
        with pytest.raises(asyncio.CancelledError):
            await stopping
    assert not parked.coordinator.is_busy(parked.user_id)  # ended, clean-up done
    assert await parked.store.get_user(parked.user_id) is not None  # the store still serves


async def test_a_stop_on_the_way_out_of_a_cancel_does_not_wait_for_the_grace(
    parked: Playground,
) -> None:
    async def cancelled_then_cleaning_up() -> None:
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            await parked.coordinator.stop()

    task = asyncio.create_task(cancelled_then_cleaning_up())
    await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(10):  # far below the grace
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not parked.coordinator.is_busy(parked.user_id)
