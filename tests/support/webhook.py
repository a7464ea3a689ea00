"""The webhook receiver's tests share a harness: a receiver on a test server with one stored
user and a coordinator that must never call Cronofy, a signed-body builder and the check that
nothing was touched."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestClient

from cronofy_avail.runtime.coordinator import SyncCoordinator, SyncRequests, UserClients
from cronofy_avail.runtime.store import MemoryStore, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine
from webhook_server import WebhookConfig, WebhookHandle

SECRET = "CRN_current_secret_value_for_tests"
OLD_SECRET = "CRN_previous_secret_value_for_tests"
ACCESS = "access-token-VERY-SECRET"
REFRESH = "refresh-token-VERY-SECRET"


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    store: MemoryStore
    coordinator: SyncRequests
    handle: WebhookHandle
    user: UserRecord

    def url(self, key: str | None = None) -> str:
        return f"/cronofy/notifications/{key or self.user.callback_key}"


def build(store: MemoryStore, admin_token: str | None = None) -> WebhookConfig:
    clients = UserClients(
        store,
        client_id="cid",
        client_secret=SECRET,
        api_base_url="http://127.0.0.1:9",  # discard port: nothing may call it
    )
    coordinator = SyncCoordinator(
        store, SyncEngine(store), clients.for_user, schedule_every=None, grace=1.0
    )
    return WebhookConfig(
        store=store,
        coordinator=coordinator,
        client_secrets=[SECRET, OLD_SECRET],
        max_body=1024,
        admin_token=admin_token,
    )


def body(kind: str = "change", **extra: object) -> bytes:
    note: dict[str, object] = {"type": kind, **extra}
    if kind == "change":
        note.setdefault("changes_since", "2026-11-24T09:00:00Z")
    return json.dumps(
        {"notification": note, "channel": {"channel_id": "chn_1", "callback_url": "https://x/y"}}
    ).encode()


async def assert_untouched(h: Harness) -> None:
    user = await h.store.get_user("u1")
    assert user is not None
    assert user.pending_since is None
    assert user.pending_at is None
    assert user.state == UserState.IDLE
    assert await h.store.list_deliveries() == []
    assert sum(h.coordinator.stats.requests.values()) == 0
