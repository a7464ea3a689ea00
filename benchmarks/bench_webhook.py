"""The webhook ack path: what verifying, logging and recording intent cost per delivery.

Baseline: a bare aiohttp handler that reads the body and answers 202, on the same loop and the
same kind of socket. Measured: the plugin's notification route with a MemoryStore and with a
SQLiteStore (durable intent). Deliveries are sent sequentially over one keep-alive connection
to 127.0.0.1, a bounded number of times.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import MemoryStore, SQLiteStore, Store, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine
from webhook_server import WebhookConfig, WebhookServer

SECRET = "CRN_benchmark_secret"  # noqa: S105 - a fixed test value
N = 400


async def _time_posts(url: str, body: bytes, headers: dict[str, str]) -> float:
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm up the connection and caches
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
        start = time.perf_counter()
        for _ in range(N):
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 202, resp.status
        return (time.perf_counter() - start) / N


async def _baseline(body: bytes, headers: dict[str, str]) -> float:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await _time_posts(f"http://127.0.0.1:{port}/hook", body, headers)
    finally:
        await runner.cleanup()


async def _plugin(store: Store, kind: str) -> float:
    user = UserRecord(user_id="bench", calendar_id="cal", state=UserState.IDLE)
    await store.save_user(user)
    clients = UserClients(
        store, client_id="c", client_secret=SECRET, api_base_url="http://127.0.0.1:9"
    )
    coordinator = SyncCoordinator(store, SyncEngine(store), clients.for_user, schedule_every=None)
    # Stopped: request() is then a no-op, so only the acknowledgement is measured (a change
    # still records its delivery and its intent before the 202).
    await coordinator.stop()
    body = json.dumps(
        {
            "notification": {"type": kind, "changes_since": "2026-11-24T09:00:00Z"},
            "channel": {"channel_id": "chn_bench"},
        }
    ).encode()
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    config = WebhookConfig(
        store=store, coordinator=coordinator, client_secrets=[SECRET], own_coordinator=False
    )
    async with WebhookServer(config) as server:
        return await _time_posts(f"{server.url}/notifications/{user.callback_key}", body, headers)


async def run() -> None:
    body = b'{"notification": {"type": "verification"}}'
    base = await _baseline(body, {SIGNATURE_HEADER: sign(body, SECRET)})
    rows: list[tuple[str, float]] = [("bare aiohttp 202 (baseline)", base)]
    cases: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("plugin, verification, MemoryStore", lambda: _plugin(MemoryStore(), "verification")),
    ]
    with tempfile.TemporaryDirectory() as tmp:

        async def sqlite_case() -> float:
            store = await SQLiteStore.open(Path(tmp) / "bench.db")
            try:
                return await _plugin(store, "verification")
            finally:
                await store.close()

        async def sqlite_change() -> float:
            store = await SQLiteStore.open(Path(tmp) / "bench-change.db")
            try:
                return await _plugin(store, "change")
            finally:
                await store.close()

        cases.append(("plugin, verification, SQLiteStore (durable log)", sqlite_case))
        cases.append(("plugin, change, MemoryStore", lambda: _plugin(MemoryStore(), "change")))
        cases.append(("plugin, change, SQLiteStore (log + intent)", sqlite_change))
        for name, case in cases:
            rows.append((name, await case()))
    print(f"webhook ack path, {N} sequential deliveries each")
    print(f"  {'case':50s} {'per delivery':>14s} {'x baseline':>11s}")
    for name, seconds in rows:
        print(f"  {name:50s} {seconds * 1e3:11.3f} ms {seconds / base:10.2f}x")
