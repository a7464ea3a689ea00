"""Pending work is data, not tasks: a burst for many users keeps at most ``max_concurrent``
worker tasks and a queue of user ids (each at most once), against the emulator over HTTP.

Syncs are parked at the emulator's ``hold`` gate on the events read, so the counts below are
taken while every worker is busy and everybody else waits; nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from cronofy_avail.client.ratelimit import RateLimiter, RateWindow
from cronofy_avail.emulator import Emulator
from cronofy_avail.emulator.faults import FaultRule
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine, SyncResult

LIMIT = 4
BURST = 1_000


@dataclass
class Setup:
    emulator: Emulator
    store: MemoryStore
    coordinator: SyncCoordinator
    kinds: list[tuple[str, str]]
    """(user id, sync kind) of every sync, in order."""

    def hold(self) -> FaultRule:
        return self.emulator.add_fault(endpoint="GET /v1/events", hold=True)

    async def parked(self, gate: FaultRule, count: int) -> None:
        async with asyncio.timeout(30):
            await self.emulator.wait_held(gate.fault_id, count)

    async def release(self, gate: FaultRule) -> None:
        self.emulator.release_fault(gate.fault_id)
        async with asyncio.timeout(120):
            await self.coordinator.wait_idle()


def coordinator_tasks() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").startswith("SyncCoordinator.")
    ]


async def users(n: int, *, limit: int = LIMIT) -> AsyncIterator[Setup]:
    async with Emulator(rate_limit_enabled=False) as emulator:
        account = await emulator.create_account()
        store = MemoryStore()
        now = datetime.now(UTC)
        for i in range(n):
            await store.save_user(
                UserRecord(
                    user_id=f"u{i:04d}",
                    credentials=StoredCredentials(account.access_token, account.refresh_token),
                    calendar_id=account.calendar_id,
                    state=UserState.IDLE,
                    watermark=now,
                    last_reconcile_at=now,
                )
            )
        clients = UserClients(
            store,
            client_id=emulator.client_id,
            client_secret=emulator.client_secret,
            api_base_url=emulator.base_url,
            rate_limiter=RateLimiter((RateWindow(1_000_000, 1.0),)),
        )
        coordinator = SyncCoordinator(
            store,
            SyncEngine(store, reconcile_every=None),
            clients.for_user,
            max_concurrent=limit,
            schedule_every=None,
        )
        kinds: list[tuple[str, str]] = []

        def record(user_id: str, result: SyncResult) -> None:
            kinds.append((user_id, result.kind))

        coordinator.add_listener(record)
        await coordinator.start()
        try:
            yield Setup(emulator, store, coordinator, kinds)
        finally:
            await coordinator.stop()


@pytest.fixture
async def burst() -> AsyncIterator[Setup]:
    async for setup in users(BURST):
        yield setup


@pytest.fixture
async def one_worker() -> AsyncIterator[Setup]:
    async for setup in users(3, limit=1):
        yield setup


async def test_a_burst_keeps_the_workers_bounded_and_syncs_everybody_once(burst: Setup) -> None:
    coordinator = burst.coordinator
    gate = burst.hold()
    before = len(asyncio.all_tasks())
    ids = [f"u{i:04d}" for i in range(BURST)]
    for user_id in ids:
        coordinator.request(user_id)
    for user_id in ids[:10]:  # already pending: not queued again
        coordinator.request(user_id)
    await burst.parked(gate, LIMIT)
    # Every worker is parked in a sync; the rest of the burst is a queue of ids.
    assert len(coordinator_tasks()) == LIMIT
    # Besides the workers, per running sync: the engine's lock renewal, and the emulator's
    # connection and request handlers of the parked read. Nothing per waiting user.
    assert len(asyncio.all_tasks()) - before <= 4 * LIMIT + 2
    assert len(coordinator._queue) == BURST - LIMIT
    assert len(set(coordinator._queue)) == len(coordinator._queue)
    assert all(coordinator.is_busy(u) for u in ids)
    await burst.release(gate)
    assert coordinator_tasks() == []
    assert [coordinator.stats.syncs[u] for u in ids] == [1] * BURST
    assert sorted(u for u, _ in burst.kinds) == ids
    assert coordinator._slots == {}  # nothing left per user once idle
    # First come, first served: the syncs ran in the order of the requests.
    assert [u for u, _ in burst.kinds] == ids


async def test_a_full_request_upgrades_the_pending_one(one_worker: Setup) -> None:
    coordinator = one_worker.coordinator
    gate = one_worker.hold()
    coordinator.request("u0000")
    await one_worker.parked(gate, 1)
    coordinator.request("u0001")
    coordinator.request("u0001", full=True)
    coordinator.request("u0001")
    assert list(coordinator._queue) == ["u0001"]
    await one_worker.release(gate)
    assert one_worker.kinds == [("u0000", "incremental"), ("u0001", "full")]
    assert coordinator.stats.requests["u0001"] == 3


async def test_requests_during_a_running_sync_give_exactly_one_more(one_worker: Setup) -> None:
    coordinator = one_worker.coordinator
    gate = one_worker.hold()
    coordinator.request("u0000")
    await one_worker.parked(gate, 1)
    assert coordinator.is_syncing("u0000")
    coordinator.request("u0001")
    for _ in range(5):
        coordinator.request("u0000")
    # The running user is not queued beside itself: its follow-up goes behind u0001.
    assert list(coordinator._queue) == ["u0001"]
    await one_worker.release(gate)
    assert [u for u, _ in one_worker.kinds] == ["u0000", "u0001", "u0000"]
    assert coordinator.stats.syncs["u0000"] == 2
    assert coordinator._slots == {}


async def test_a_stop_drops_the_queue_and_lets_the_running_syncs_finish(
    one_worker: Setup,
) -> None:
    coordinator = one_worker.coordinator
    gate = one_worker.hold()
    coordinator.request("u0000")
    await one_worker.parked(gate, 1)
    coordinator.request("u0001")
    coordinator.request("u0000")  # a follow-up: dropped by the stop too
    stopping = asyncio.create_task(coordinator.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the running sync, within its grace
    assert list(coordinator._queue) == []
    one_worker.emulator.release_fault(gate.fault_id)
    async with asyncio.timeout(30):
        await stopping
    assert [u for u, _ in one_worker.kinds] == ["u0000"]
    assert coordinator_tasks() == []
    assert coordinator._slots == {}
    # The intent stays in the store: a start resumes it (u0001 was recorded as pending by
    # the receiver in real use; here nothing was, so nothing runs).


async def test_a_request_as_the_last_worker_ends_starts_a_new_one(one_worker: Setup) -> None:
    """The request comes in the loop turn right after the worker's last sync, before any
    done callback of the ending worker: it must still find a worker."""
    coordinator = one_worker.coordinator
    loop = asyncio.get_running_loop()

    def then_another(user_id: str, result: SyncResult) -> None:
        if user_id == "u0000":  # runs to its end without yielding after this
            loop.call_soon(coordinator.request, "u0001")

    coordinator.add_listener(then_another)
    coordinator.request("u0000")
    async with asyncio.timeout(30):
        await coordinator.wait_idle()
    assert [u for u, _ in one_worker.kinds] == ["u0000", "u0001"]
    assert coordinator._queue == deque()
