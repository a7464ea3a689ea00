"""Receivers and workers on PostgreSQL against one process on SQLite (the baseline, same
machine, same load).

**Acks**: notifications acknowledged per second with 1, 2 and 3 receiver processes.

Each receiver is a separate process (``benchmarks.cluster_receiver``); on PostgreSQL every
acknowledgement records the intent and enqueues the user's sync job in one transaction (a
job is enqueued once per user and later ones fold into it, as in production). The load is
``CONCURRENCY`` connections posting signed change notifications for ``USERS`` users, spread
round-robin over the receivers, ``N`` in all. Needs PostgreSQL's ``initdb``/``pg_ctl`` (a
throwaway cluster is started and removed); skipped with the install command otherwise.

**Syncs**: full syncs per second with 1, 2 and 4 ``cronofy-avail worker`` processes, for
``SYNC_USERS`` users of the emulator (3 events each), under Cronofy's application-wide limit
(50 requests/s, 500/min, enforced by the emulator and shared by the workers through the
database); the baseline is one ``SyncCoordinator`` (4 at once) on SQLite in this process.

On 2 cores the load generator and the database share the CPU with the receivers, so the
figures say how much one machine gains, not how far a fleet scales.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.store import (
    Store,
    StoredCredentials,
    UserRecord,
    UserState,
    open_store,
)

from .cluster_receiver import SECRET

USERS = 200
SYNC_USERS = 40
N = 3000
CONCURRENCY = 48


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(db: str) -> list[str]:
    store = await open_store(db)
    keys = []
    try:
        for i in range(USERS):
            user = UserRecord(user_id=f"u{i}", calendar_id="cal", state=UserState.IDLE)
            await store.save_user(user)
            keys.append(user.callback_key)
    finally:
        await store.close()
    return keys


async def _receivers(db: str, count: int) -> tuple[list[asyncio.subprocess.Process], list[int]]:
    procs, ports = [], []
    for _ in range(count):
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.cluster_receiver",
            "--db",
            db,
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"ready", line
        procs.append(proc)
        ports.append(port)
    return procs, ports


async def _load(ports: list[int], keys: list[str]) -> float:
    body = json.dumps(
        {
            "notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"},
            "channel": {"channel_id": "chn_bench"},
        }
    ).encode()
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    counter = iter(range(N))

    async def client(session: aiohttp.ClientSession) -> None:
        for i in counter:
            port = ports[i % len(ports)]
            key = keys[i % len(keys)]
            url = f"http://127.0.0.1:{port}/cronofy/notifications/{key}"
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 202, resp.status

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
        return N / (time.perf_counter() - start)


async def _case(db: str, receivers: int) -> float:
    keys = await _seed(db)
    procs, ports = await _receivers(db, receivers)
    try:
        return await _load(ports, keys)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()


async def _sync_users(emu: Any, store: Store) -> list[str]:
    from datetime import UTC, datetime, timedelta

    ids = []
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for i in range(SYNC_USERS):
        account = await emu.create_account()
        for h in range(3):
            s = start + timedelta(hours=2 * h)
            emu.add_event(
                account.calendar_id,
                start=s.strftime("%Y-%m-%dT%H:%M:%SZ"),
                end=(s + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        user = UserRecord(
            user_id=f"s{i}",
            calendar_id=account.calendar_id,
            state=UserState.IDLE,
            credentials=StoredCredentials(account.access_token, account.refresh_token),
        )
        await store.save_user(user)
        ids.append(user.user_id)
    return ids


async def _settled(store: Store, ids: list[str]) -> None:
    while True:
        users = [await store.get_user(i) for i in ids]
        if all(u is not None and u.last_sync_at is not None and not u.pending_full for u in users):
            return
        await asyncio.sleep(0.05)


async def _sqlite_syncs(path: str) -> float:
    from cronofy_avail.emulator import Emulator
    from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
    from cronofy_avail.runtime.sync import SyncEngine

    async with Emulator(client_secret=SECRET) as emu:
        store = await open_store(path)
        try:
            ids = await _sync_users(emu, store)
            clients = UserClients(
                store, client_id=emu.client_id, client_secret=SECRET, api_base_url=emu.base_url
            )
            coordinator = SyncCoordinator(
                store, SyncEngine(store), clients.for_user, schedule_every=None
            )
            await coordinator.start()
            start = time.perf_counter()
            for user_id in ids:
                coordinator.request(user_id, full=True)
            await coordinator.wait_idle()
            await _settled(store, ids)
            elapsed = time.perf_counter() - start
            await coordinator.stop()
            return len(ids) / elapsed
        finally:
            await store.close()


async def _cluster_syncs(url: str, workers: int, home: str) -> float:
    from datetime import UTC, datetime

    from cronofy_avail.emulator import Emulator

    async with Emulator(client_secret=SECRET) as emu:
        store = await open_store(url)
        procs: list[asyncio.subprocess.Process] = []
        try:
            ids = await _sync_users(emu, store)
            empty = Path(home) / "empty.env"
            empty.touch()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": home,
                "CRONOFY_CLIENT_ID": emu.client_id,
                "CRONOFY_CLIENT_SECRET": SECRET,
                "CRONOFY_API_BASE_URL": emu.base_url,
                "CRONOFY_AVAIL_DB": url,
            }
            now = datetime.now(UTC)
            for user_id in ids:  # as receivers do: intent and job in one transaction
                await store.record_intent(user_id, changes_since=None, full=True, received_at=now)
            # Timed from the workers' start (their start-up is part of the figure: about a
            # second, paid once) to every user synced.
            start = time.perf_counter()
            for _ in range(workers):
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-c",
                        "import sys; from cronofy_avail.cli import main; sys.exit(main())",
                        "worker",
                        "--env-file",
                        str(empty),
                        env=env,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
            await _settled(store, ids)
            return len(ids) / (time.perf_counter() - start)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                await proc.wait()
            await store.close()


async def run() -> None:
    try:
        from tests.support.postgres import start_cluster

        cluster = start_cluster()
    except BaseException as exc:  # pytest's skip outside pytest, or a missing driver
        print(f"cluster benchmark skipped: {exc}")
        return
    rows: list[tuple[str, float]] = []
    sync_rows: list[tuple[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sync_base = await _sqlite_syncs(str(Path(tmp) / "sync.db"))
            sync_rows.append(("1 process, SQLite (baseline)", sync_base))
            for count in (1, 2, 4):
                rate = await _cluster_syncs(cluster.create_database(), count, tmp)
                sync_rows.append((f"{count} worker(s), PostgreSQL", rate))
            base = await _case(str(Path(tmp) / "bench.db"), 1)
            rows.append(("1 receiver, SQLite (baseline)", base))
            for count in (1, 2, 3):
                rows.append(
                    (
                        f"{count} receiver(s), PostgreSQL",
                        await _case(cluster.create_database(), count),
                    )
                )
    finally:
        cluster.stop()
    print(f"notifications acknowledged per second: {N} changes, {CONCURRENCY} connections")
    print(f"  {'case':40s} {'acks/s':>8s} {'x baseline':>11s}")
    for name, rate in rows:
        print(f"  {name:40s} {rate:8.0f} {rate / base:10.2f}x")
    print()
    print(f"full syncs per second: {SYNC_USERS} users x 3 events, Cronofy's limit at the emulator")
    print(f"  {'case':40s} {'syncs/s':>8s} {'x baseline':>11s}")
    for name, rate in sync_rows:
        print(f"  {name:40s} {rate:8.1f} {rate / sync_base:10.2f}x")


if __name__ == "__main__":
    asyncio.run(run())
