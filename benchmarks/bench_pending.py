"""Memory after a burst: N users' notifications through the real receiver and coordinator,
each synced once against the emulator over HTTP, and the process's RSS before and after.

Run in a process of its own per size (RSS is the whole process's), as
``python -m benchmarks.bench_pending N``: prints one JSON object, the RSS growth per user
(``/proc/self/status`` ``VmRSS``, after ``gc.collect()``) and the peak number of live asyncio
tasks (all of them, and the coordinator's own), sampled while the burst is acknowledged and
synced. The store is SQLite, as ``serve`` runs it; the emulator runs in another process (its
memory is Cronofy's, not ours); the users share one emulator account (the coordinator's and
the receiver's per-user state is what is measured, not Cronofy's). The notifications are
posted over 16 keep-alive connections from this process (the client's memory is bounded, not
per user).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from cronofy_avail.client.ratelimit import RateLimiter, RateWindow
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import SQLiteStore, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine
from webhook_server import WebhookConfig, WebhookServer

CONNECTIONS = 16
WARM_UP = 50
"""Users notified and synced before the first reading: code paths and pools warmed."""
SIZES = (1_000, 10_000)


def rss_bytes() -> int:
    """This process's resident set (``VmRSS``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _coordinator_tasks() -> int:
    return sum(
        1
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").startswith("SyncCoordinator.")
    )


async def _post_all(url: str, keys: list[str], secret: str) -> None:
    body = json.dumps(
        {
            "notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"},
            "channel": {"channel_id": "chn_bench"},
        }
    ).encode()
    headers = {SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"}
    todo = iter(keys)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def poster() -> None:
            for key in todo:
                async with session.post(f"{url}/{key}", data=body, headers=headers) as resp:
                    if resp.status != 202:
                        raise RuntimeError(f"delivery answered {resp.status}")

        await asyncio.gather(*(poster() for _ in range(CONNECTIONS)))


async def measure(n: int) -> dict[str, Any]:
    from .figures import _emulator_process

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        async with _emulator_process() as info:
            async with EmulatorControl(info["base_url"]) as control:
                account = await control.create_account()
            store = await SQLiteStore.open(Path(tmp) / "bench.db")
            try:
                now = datetime.now(UTC)
                keys: list[str] = []
                for i in range(n + WARM_UP):
                    user = UserRecord(
                        user_id=f"u{i:05d}",
                        calendar_id=account.calendar_id,
                        state=UserState.IDLE,
                        watermark=now,
                        last_reconcile_at=now,
                    )
                    user.credentials = StoredCredentials(
                        account.access_token, account.refresh_token
                    )
                    await store.save_user(user)
                    keys.append(user.callback_key)
                stored = time.perf_counter()
                async with aiohttp.ClientSession() as session:  # shared, as ``serve`` does
                    clients = UserClients(
                        store,
                        client_id=info["client_id"],
                        client_secret=info["client_secret"],
                        api_base_url=info["base_url"],
                        session=session,
                        rate_limiter=RateLimiter((RateWindow(1_000_000, 1.0),)),
                    )
                    coordinator = SyncCoordinator(
                        store,
                        SyncEngine(store, reconcile_every=None),
                        clients.for_user,
                        schedule_every=None,
                    )
                    config = WebhookConfig(
                        store=store, coordinator=coordinator, client_secrets=[info["client_secret"]]
                    )
                    async with WebhookServer(config) as server:
                        url = f"{server.url}/notifications"
                        await _post_all(url, keys[:WARM_UP], info["client_secret"])
                        await coordinator.wait_idle()
                        gc.collect()
                        before = rss_bytes()
                        peak_all = peak_ours = 0
                        done = asyncio.Event()

                        async def sample() -> None:
                            nonlocal peak_all, peak_ours
                            while not done.is_set():
                                peak_all = max(peak_all, len(asyncio.all_tasks()))
                                peak_ours = max(peak_ours, _coordinator_tasks())
                                await asyncio.sleep(0.005)

                        sampler = asyncio.create_task(sample())
                        burst_started = time.perf_counter()
                        await _post_all(url, keys[WARM_UP:], info["client_secret"])
                        acked = time.perf_counter()
                        peak_all = max(peak_all, len(asyncio.all_tasks()))
                        peak_ours = max(peak_ours, _coordinator_tasks())
                        await coordinator.wait_idle()
                        done.set()
                        synced_at = time.perf_counter()
                        await sampler
                        synced = sum(
                            1 for k in range(n + WARM_UP) if coordinator.stats.syncs[f"u{k:05d}"]
                        )
                        gc.collect()
                        after = rss_bytes()
            finally:
                await store.close()
    return {
        "users": n,
        "synced": synced - WARM_UP,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_user": (after - before) / n,
        "peak_tasks": peak_all,
        "peak_coordinator_tasks": peak_ours,
        "seconds": round(time.perf_counter() - started, 1),
        "seconds_storing_users": round(stored - started, 1),
        "seconds_acking": round(acked - burst_started, 1),
        "seconds_syncing_after": round(synced_at - acked, 1),
    }


async def measure_in_process(n: int) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (RSS is per process)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_pending", str(n), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench_pending {n} exited {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    for size in sizes:
        print(json.dumps(asyncio.run(measure(size))), flush=True)
