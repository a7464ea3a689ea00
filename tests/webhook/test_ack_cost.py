"""The acknowledgement path's costs, counted (not timed): one store call and one transaction
per signed change, group commit of concurrent acknowledgements, a key lookup that does not
scan, and a sync's deliveries credited in one call.

Timing lives in ``benchmarks/`` (``make bench``); these tests pin the behaviour the numbers
rest on, and that durability before the 202 stays.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import (
    Delivery,
    MemoryStore,
    SQLiteStore,
    Store,
    UserRecord,
    UserState,
)
from cronofy_avail.runtime.sync import SyncEngine, SyncResult
from tests.support.deliveries import accepted_change
from webhook_server import WebhookConfig, async_setup

SECRET = "CRN_ack_path_secret_for_tests"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def delivery(at: datetime = T0) -> Delivery:
    return accepted_change(at)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore()
    else:
        s = await SQLiteStore.open(tmp_path / "state.db")
    yield s
    await s.close()


async def test_accept_delivery_logs_and_records_intent_together(store: Store) -> None:
    user = UserRecord(user_id="u1", calendar_id="cal")
    await store.save_user(user)
    accepted = await store.accept_delivery(
        delivery(), callback_key=user.callback_key, changes_since=T0
    )
    assert accepted is not None
    delivery_id, user_id = accepted
    assert user_id == "u1"
    logged = await store.get_delivery(delivery_id)
    assert logged is not None
    assert logged.user_id == "u1"
    stored = await store.get_user("u1")
    assert stored is not None
    assert (stored.pending_since, stored.pending_at, stored.pending_gen) == (T0, T0, 1)


async def test_accept_delivery_for_an_unknown_key_writes_nothing(store: Store) -> None:
    await store.save_user(UserRecord(user_id="u1", calendar_id="cal"))
    assert await store.accept_delivery(delivery(), callback_key="nope", changes_since=T0) is None
    assert await store.list_deliveries() == []
    stored = await store.get_user("u1")
    assert stored is not None
    assert stored.pending_gen == 0


async def test_key_index_follows_saves_and_deletes(store: Store) -> None:
    user = UserRecord(user_id="u1", calendar_id="cal")
    await store.save_user(user)
    old = user.callback_key
    user.callback_key = "a-new-key-for-u1-xxxxxxxxxxxx"
    await store.save_user(user)
    assert await store.get_user_by_callback_key(old) is None
    assert await store.accept_delivery(delivery(), callback_key=old, changes_since=T0) is None
    found = await store.get_user_by_callback_key(user.callback_key)
    assert found is not None
    assert found.user_id == "u1"
    await store.delete_user("u1")
    assert await store.get_user_by_callback_key(user.callback_key) is None


async def test_update_deliveries_credits_all_of_them(store: Store) -> None:
    user = UserRecord(user_id="u1", calendar_id="cal")
    await store.save_user(user)
    ids = []
    for _ in range(4):
        got = await store.accept_delivery(
            delivery(), callback_key=user.callback_key, changes_since=T0
        )
        assert got is not None
        ids.append(got[0])
    await store.update_deliveries(ids[:3], outcome="synced", sync_result={"upserts": 2})
    outcomes = {d.delivery_id: (d.outcome, d.sync_result) for d in await store.list_deliveries()}
    assert [outcomes[i] for i in ids] == [("synced", {"upserts": 2})] * 3 + [("accepted", None)]


async def test_memory_key_lookup_does_not_scan_users(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    users = [UserRecord(user_id=f"u{i}", calendar_id="cal") for i in range(200)]
    for user in users:
        await store.save_user(user)
    compared: Counter[str] = Counter()
    real = secrets.compare_digest

    def counting(a: str, b: str) -> bool:
        compared["calls"] += 1
        return real(a, b)

    monkeypatch.setattr(secrets, "compare_digest", counting)
    found = await store.get_user_by_callback_key(users[-1].callback_key)
    assert found is not None
    assert found.user_id == "u199"
    assert compared["calls"] <= 1


async def test_concurrent_acks_share_one_commit_and_are_durable(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    try:
        user = UserRecord(user_id="u1", calendar_id="cal")
        await store.save_user(user)
        # Hold the store thread so every acknowledgement queues, as under load.
        gate = threading.Event()
        blocked = asyncio.get_running_loop().run_in_executor(store._executor, gate.wait)
        tasks = [
            asyncio.create_task(
                store.accept_delivery(delivery(), callback_key=user.callback_key, changes_since=T0)
            )
            for _ in range(32)
        ]
        await asyncio.sleep(0)  # one loop turn: each task runs up to its queued write
        assert len(store._group) == 32
        commits_before = store.group_commits
        gate.set()
        await blocked
        results = await asyncio.gather(*tasks)
        assert store.group_commits - commits_before == 1
        assert len({r[0] for r in results if r is not None}) == 32
        # On disk once answered: another connection sees every delivery and the intent.
        with sqlite3.connect(tmp_path / "state.db") as other:
            assert other.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 32
            gen = other.execute("SELECT pending_gen FROM users WHERE user_id = 'u1'").fetchone()
            assert gen[0] == 32
    finally:
        await store.close()


async def test_a_failing_write_in_a_group_fails_alone(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    try:
        user = UserRecord(user_id="u1", calendar_id="cal")
        await store.save_user(user)
        gate = threading.Event()
        blocked = asyncio.get_running_loop().run_in_executor(store._executor, gate.wait)

        def broken(db: sqlite3.Connection) -> None:
            db.execute("UPDATE users SET state = 'half-written' WHERE user_id = 'u1'")
            raise RuntimeError("this write fails")

        good = asyncio.create_task(
            store.accept_delivery(delivery(), callback_key=user.callback_key, changes_since=T0)
        )
        bad = asyncio.create_task(store._grouped(broken))
        good2 = asyncio.create_task(
            store.accept_delivery(delivery(), callback_key=user.callback_key, changes_since=T0)
        )
        await asyncio.sleep(0)
        assert len(store._group) == 3
        gate.set()
        await blocked
        assert await good is not None
        assert await good2 is not None
        with pytest.raises(RuntimeError, match="this write fails"):
            await bad
        stored = await store.get_user("u1")
        assert stored is not None
        assert stored.state == UserState.NEW  # the failing write was undone
        assert stored.pending_gen == 2  # the others committed
    finally:
        await store.close()


class CountingStore:
    """Passes everything through and counts the calls the receiver makes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted


async def test_a_signed_change_costs_one_store_call(tmp_path: Path) -> None:
    real = await SQLiteStore.open(tmp_path / "state.db")
    user = UserRecord(user_id="u1", calendar_id="cal", state=UserState.IDLE)
    await real.save_user(user)
    counting = CountingStore(real)
    store = cast(Store, counting)
    clients = UserClients(store, client_id="c", client_secret=SECRET, api_base_url="http://x:9")
    coordinator = SyncCoordinator(store, SyncEngine(store), clients.for_user, schedule_every=None)
    await coordinator.stop()  # request() is then a no-op: only the ack is counted
    app = web.Application()
    handle = await async_setup(
        app,
        WebhookConfig(
            store=store, coordinator=coordinator, client_secrets=[SECRET], own_coordinator=False
        ),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        data = json.dumps(
            {"notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"}}
        ).encode()
        # The first delivery of a key in this process also looks the key up before its body
        # is read (slow bodies for unknown keys are refused early); every later one does not.
        counting.calls.clear()
        resp = await client.post(
            f"/cronofy/notifications/{user.callback_key}",
            data=data,
            headers={SIGNATURE_HEADER: sign(data, SECRET)},
        )
        assert resp.status == 202
        assert dict(counting.calls) == {"get_user_by_callback_key": 1, "accept_delivery": 1}
        counting.calls.clear()
        resp = await client.post(
            f"/cronofy/notifications/{user.callback_key}",
            data=data,
            headers={SIGNATURE_HEADER: sign(data, SECRET)},
        )
        assert resp.status == 202
        assert dict(counting.calls) == {"accept_delivery": 1}
        stored = await real.get_user("u1")
        assert stored is not None
        assert stored.pending_gen == 2
        # A sync's result is credited to its deliveries in one call.
        for _ in range(3):
            await client.post(
                f"/cronofy/notifications/{user.callback_key}",
                data=data,
                headers={SIGNATURE_HEADER: sign(data, SECRET)},
            )
        counting.calls.clear()
        now = datetime.now(UTC)
        await handle._on_sync("u1", SyncResult(kind="incremental", ok=True, started_at=now,
                                               finished_at=now))  # fmt: skip
        assert dict(counting.calls) == {"update_deliveries": 1}
        assert {d.outcome for d in await real.list_deliveries()} == {"synced"}
    finally:
        await client.close()
        await handle.async_unload()
        await real.close()
