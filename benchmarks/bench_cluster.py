"""Receivers on PostgreSQL: notifications acknowledged per second with 1, 2 and 3 receiver
processes, against one receiver process on SQLite (the baseline, same machine, same load).

Each receiver is a separate process (``benchmarks.cluster_receiver``); on PostgreSQL every
acknowledgement records the intent and enqueues the user's sync job in one transaction (a
job is enqueued once per user and later ones fold into it, as in production). The load is
``CONCURRENCY`` connections posting signed change notifications for ``USERS`` users, spread
round-robin over the receivers, ``N`` in all. Needs PostgreSQL's ``initdb``/``pg_ctl`` (a
throwaway cluster is started and removed); skipped with the install command otherwise.

On 2 cores the load generator and the database share the CPU with the receivers, so the
figures say how much one machine gains, not how far a fleet scales.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.store import UserRecord, UserState, open_store

from .cluster_receiver import SECRET

USERS = 200
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


async def run() -> None:
    try:
        from tests.postgres import start_cluster

        cluster = start_cluster()
    except BaseException as exc:  # pytest's skip outside pytest, or a missing driver
        print(f"cluster benchmark skipped: {exc}")
        return
    rows: list[tuple[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
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


if __name__ == "__main__":
    asyncio.run(run())
