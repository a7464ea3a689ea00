"""The receiver's callback-key cache is bounded: it keeps the most recently used keys, and a
key it no longer keeps is found in the store again (one lookup), never refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cronofy_avail.app.settings import DEFAULT_KEY_CACHE, ENV_KEY_CACHE, ConfigError, Settings
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.coordinator import CoordinatorStats
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncResult
from tests.support.webhook import SECRET, body
from webhook_server import WebhookConfig, async_setup, keycache
from webhook_server.keycache import KeyCache


def test_the_least_recently_used_key_goes_first() -> None:
    cache = KeyCache(2)
    cache.put("a", "u1")
    cache.put("b", "u2")
    assert cache.get("a") == "u1"  # now the most recently used
    cache.put("c", "u3")
    assert len(cache) == 2
    assert "b" not in cache
    assert cache.get("a") == "u1"
    assert cache.get("c") == "u3"
    cache.put("c", "u3")  # again: no growth
    assert len(cache) == 2
    cache.discard("a")
    cache.discard("a")  # twice is harmless
    assert cache.get("a") is None


def test_a_zero_sized_cache_keeps_nothing_and_a_negative_one_is_refused() -> None:
    cache = KeyCache(0)
    cache.put("a", "u1")
    assert len(cache) == 0
    assert cache.get("a") is None
    with pytest.raises(ValueError, match="0 or more"):
        KeyCache(-1)


def test_the_setting_has_the_receivers_default_and_is_checked() -> None:
    assert DEFAULT_KEY_CACHE == keycache.DEFAULT_KEY_CACHE
    assert Settings.load({}, None).key_cache == DEFAULT_KEY_CACHE
    assert Settings.load({ENV_KEY_CACHE: "10"}, None).key_cache == 10
    for bad in ("-1", "many"):
        with pytest.raises(ConfigError, match=f"{ENV_KEY_CACHE} must be a whole number"):
            Settings.load({ENV_KEY_CACHE: bad}, None)


class Recorded:
    """Where the receiver hands intents on: counted, never synced."""

    def __init__(self) -> None:
        self.stats = CoordinatorStats()

    def request(self, user_id: str, *, full: bool = False) -> None:
        self.stats.requests[user_id] += 1

    def add_listener(
        self, listener: Callable[[str, SyncResult], Awaitable[None] | None]
    ) -> Callable[[], None]:
        return lambda: None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.key_lookups = 0

    async def get_user_by_callback_key(self, callback_key: str) -> UserRecord | None:
        self.key_lookups += 1
        return await super().get_user_by_callback_key(callback_key)


async def test_the_receiver_keeps_at_most_its_size_and_a_forgotten_key_still_works() -> None:
    store = CountingStore()
    users = []
    for i in range(5):
        user = UserRecord(
            user_id=f"u{i}",
            credentials=StoredCredentials("at", "rt"),
            calendar_id="cal_sub",
            channel_id=f"chn_{i}",
            state=UserState.IDLE,
        )
        await store.save_user(user)
        users.append(user)
    requests = Recorded()
    app = web.Application()
    handle = await async_setup(
        app,
        WebhookConfig(store=store, coordinator=requests, client_secrets=[SECRET], key_cache_size=2),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        data = body()
        headers = {SIGNATURE_HEADER: sign(data, SECRET)}

        async def notify(user: UserRecord) -> None:
            url = f"/cronofy/notifications/{user.callback_key}"
            resp = await client.post(url, data=data, headers=headers)
            assert resp.status == 202

        for user in users:
            await notify(user)
        assert store.key_lookups == 5  # every key seen for the first time
        assert len(handle._known_keys) == 2
        await notify(users[4])  # kept: no store call
        assert store.key_lookups == 5
        await notify(users[0])  # forgotten: found in the store again, and accepted
        assert store.key_lookups == 6
        assert len(handle._known_keys) == 2
        assert requests.stats.requests == {"u0": 2, "u1": 1, "u2": 1, "u3": 1, "u4": 2}
    finally:
        await client.close()
        await handle.async_unload()
