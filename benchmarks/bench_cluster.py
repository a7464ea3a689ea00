"""Receivers and workers on PostgreSQL against one process on SQLite (the baseline, same
machine, same load): CPU per unit of work beside the wall-clock rates (issue 24).

CPU per unit is what predicts a cluster's ceiling on bigger machines; wall-clock throughput on
2 shared cores cannot (the load generator, the receivers and the database share them). CPU is
read from ``/proc/<pid>/stat`` (utime + stime) of every process involved: the receivers or
workers, and, on PostgreSQL, the server (the postmaster and every backend, with the CPU of
backends that exited meanwhile, which the postmaster collects as its children's). The
throwaway cluster runs with production durability: ``fsync``, ``synchronous_commit`` and
full-page writes on. Start-up is not counted (CPU is sampled once the processes are ready).

**Acks** (signed change notifications over ``CONCURRENCY`` connections, each receiver taking
its share of the users; each receiver a separate process,
``benchmarks.cluster_receiver``):

* SQLite, 1 receiver: the baseline (the coordinator stopped, so only the ack is measured);
* PostgreSQL, 1 and 3 receivers, *user's job already queued*: every user got one ack first
  (its sync job waits, no worker runs), then 5 s of acks fold into those jobs; with 1
  receiver, the same among ``MANY_USERS`` users (an ack's cost should not grow with them);
* PostgreSQL, 1 and 3 receivers, *ack that creates a job*: ``NEW_USERS`` users, one ack each
  (each receiver saw its users once before, then their jobs were taken away, as a worker
  does).

The load comes from ``wrk`` when it is installed (C: it leaves the cores to the receivers and
the database), else from this process (``N`` acks; ``BENCH_LOADGEN=python`` forces it).

**Full syncs** (``SYNC_USERS`` users of the emulator, 3 events each, under Cronofy's
application-wide limit of 50 requests/s and 500/min enforced by the emulator): the baseline is
one process on SQLite (``benchmarks.sqlite_syncer``, a ``SyncCoordinator`` 4 at once), then 1
and 2 ``cronofy-avail worker`` processes on PostgreSQL (the rate limit shared through the
database). The emulator runs in this process and is not counted.

The server's log is read for ERROR lines written during the runs (the goal: none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
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

from . import wrk
from .cluster_receiver import SECRET

USERS = 200
NEW_USERS = 2000
MANY_USERS = 10_000
SYNC_USERS = 100
N = 3000
CONCURRENCY = 48
_TICK = os.sysconf("SC_CLK_TCK")

# Issue 24's goals, in ms of CPU per unit (receiver + PostgreSQL), and as a ratio for syncs.
GOAL_ACK_QUEUED = 0.3
GOAL_ACK_CREATES = 0.6
GOAL_SYNC_RATIO = 3.0


@dataclass
class Row:
    unit: str
    case: str
    rate: float
    """Units per second, wall clock."""
    own_ms: float
    """CPU ms per unit of the receivers or workers."""
    pg_ms: float
    """CPU ms per unit of the PostgreSQL server (0 on SQLite)."""
    errors: int = 0

    @property
    def total_ms(self) -> float:
        return self.own_ms + self.pg_ms


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()  # from field 3 (state) on


def proc_cpu(pid: int | str, *, children: bool = False) -> float:
    """CPU seconds of ``pid`` (utime + stime), with its reaped children's if ``children``."""
    rest = _stat(pid)
    ticks = int(rest[11]) + int(rest[12])
    if children:
        ticks += int(rest[13]) + int(rest[14])
    return ticks / _TICK


def postgres_cpu(datadir: Path) -> float:
    """CPU seconds of a PostgreSQL server so far: the postmaster, its live children, and the
    children that exited (the postmaster's reaped-children times)."""
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    total = proc_cpu(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            rest = _stat(entry)
            if int(rest[1]) == postmaster:
                total += proc_cpu(entry, children=True)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _errors(log: Path, offset: int) -> int:
    if not log.exists():
        return 0
    with log.open("rb") as f:
        f.seek(offset)
        return sum(1 for line in f.read().decode(errors="replace").splitlines() if "ERROR" in line)


def _log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(db: str, count: int) -> list[str]:
    """``count`` idle users through the store's API; on PostgreSQL beyond the first, copies of
    it under new ids and keys in one statement (10,000 users in a second, not a minute)."""
    store = await open_store(db)
    keys = []
    try:
        for i in range(count if not db.startswith("postgresql://") else 1):
            user = UserRecord(user_id=f"u{i}", calendar_id="cal", state=UserState.IDLE)
            await store.save_user(user)
            keys.append(user.callback_key)
    finally:
        await store.close()
    if len(keys) < count:
        import psycopg

        from cronofy_avail.runtime.store.postgres import SCHEMA

        more = [UserRecord(user_id=f"u{i}").callback_key for i in range(1, count)]
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            await conn.execute(
                f"INSERT INTO {SCHEMA}.users SELECT (jsonb_populate_record(NULL::{SCHEMA}.users, "  # noqa: S608
                "to_jsonb(u) || jsonb_build_object('user_id', 'u' || n.i, 'callback_key', n.key)"
                f")).* FROM {SCHEMA}.users u, unnest(%s::text[]) WITH ORDINALITY AS n(key, i)",
                (more,),
            )
            await conn.execute(f"ANALYZE {SCHEMA}.users")  # as autovacuum would
        keys += more
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


_BODY = json.dumps(
    {
        "notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"},
        "channel": {"channel_id": "chn_bench"},
    }
)
_HEADERS = {SIGNATURE_HEADER: sign(_BODY.encode(), SECRET), "Content-Type": "application/json"}


def _parts(ports: list[int], keys: list[str]) -> list[tuple[int, list[str]]]:
    """Each receiver's share of the users (Cronofy's load balancer sends a user's callbacks
    anywhere; a share each keeps every receiver's key cache warm after one ack per user)."""
    return [(port, keys[j :: len(ports)]) for j, port in enumerate(ports)]


async def _load(ports: list[int], keys: list[str], n: int) -> tuple[int, float]:
    """Post ``n`` notifications from this process, the ``i``-th to receiver ``i % R`` for the
    next user of its share; (acks, seconds)."""
    parts = _parts(ports, keys)
    counter = iter(range(n))

    async def client(session: aiohttp.ClientSession) -> None:
        for i in counter:
            port, share = parts[i % len(parts)]
            key = share[(i // len(parts)) % len(share)]
            url = f"http://127.0.0.1:{port}/cronofy/notifications/{key}"
            async with session.post(url, data=_BODY.encode(), headers=_HEADERS) as resp:
                await resp.read()
                assert resp.status == 202, resp.status

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
        return n, time.perf_counter() - start


async def _wrk_load(
    ports: list[int], keys: list[str], *, once: bool, seconds: float, executable: str
) -> tuple[int, float]:
    """``wrk`` (C; it leaves the cores to the receivers and the database), one per receiver
    over its share of the users, for ``seconds``; with ``once``, each stops after one ack per
    user of its share. (acks, seconds)."""
    stop = (
        "response = function(status, headers, body) if i >= #paths then wrk.thread:stop() end end\n"
        if once
        else ""
    )
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for j, (port, share) in enumerate(_parts(ports, keys)):
            script = Path(tmp) / f"post{j}.lua"
            lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(_BODY)}"]
            for name, value in _HEADERS.items():
                lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
            paths = ", ".join(json.dumps(f"/cronofy/notifications/{k}") for k in share)
            lines.append("local paths = {" + paths + "}")
            lines.append("local i = 0")
            lines.append(
                "request = function() i = i + 1; "
                "return wrk.format(nil, paths[((i - 1) % #paths) + 1]) end"
            )
            script.write_text("\n".join(lines) + "\n" + stop + _WRK_DONE)
            procs.append(
                await wrk.start(
                    executable,
                    script,
                    f"http://127.0.0.1:{port}",
                    connections=max(1, CONCURRENCY // len(ports)),
                    seconds=seconds,
                )
            )
        done, longest = 0, 0.0
        try:
            outputs = [await proc.communicate() for proc in procs]
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        for proc, (out, err) in zip(procs, outputs, strict=True):
            found = [ln for ln in out.decode().splitlines() if ln.startswith("WRK-JSON ")]
            if proc.returncode != 0 or not found:
                raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[:200]}")
            raw = json.loads(found[-1][len("WRK-JSON ") :])
            assert int(raw["non_2xx"]) + int(raw["errors"]) == 0, raw
            done += int(raw["completed"])
            longest = max(longest, float(raw["seconds"]))
    return done, longest


_WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK-JSON {\\"completed\\": %d, \\"seconds\\": %f, \\"non_2xx\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


async def _clear_jobs(db: str) -> None:
    """What the workers would have done: every waiting job started (and ended)."""
    from cronofy_avail.runtime.store.postgres import SCHEMA, PostgresStore

    store = await PostgresStore.open(db)
    try:
        async with store.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM procrastinate_jobs")
            await conn.execute(f"UPDATE {SCHEMA}.users SET job_queued = FALSE")  # noqa: S608
    finally:
        await store.close()


async def _jobs(conn: Any) -> int:
    cur = await conn.execute("SELECT count(*) FROM procrastinate_jobs")
    row = await cur.fetchone()
    return int(row[0])


async def _ack_case(
    name: str, db: str, receivers: int, users: int, *, creates: bool, cluster: Any
) -> Row:
    """Every receiver first acks each user of its share once (its key cache warm, as in a
    running receiver; on PostgreSQL each user's job then waits); with ``creates`` the jobs
    are then taken away as workers would, so that every measured ack creates one."""
    keys = await _seed(db, users)
    procs, ports = await _receivers(db, receivers)
    executable = None if os.environ.get("BENCH_LOADGEN") == "python" else shutil.which("wrk")
    poll = None
    try:
        await _load(ports, keys, len(keys))
        if creates:
            await _clear_jobs(db)
        if cluster:
            import psycopg

            poll = await psycopg.AsyncConnection.connect(db, autocommit=True)
        pids = [p.pid for p in procs]
        own0 = sum(proc_cpu(pid) for pid in pids)
        pg0 = postgres_cpu(cluster.datadir) if cluster else 0.0
        offset = _log_size(cluster.log) if cluster else 0
        if executable and creates:
            # Timed until every user has its job (each ack's own), then CPU read at once.
            start = time.perf_counter()
            load = asyncio.ensure_future(
                _wrk_load(ports, keys, once=True, seconds=60, executable=executable)
            )
            # wrk stops after one ack per user; an ack it abandoned in flight may not reach the
            # store, so the count is the jobs made, timed to the last one.
            n, changed = 0, start
            while not load.done():
                made = await _jobs(poll)
                now = time.perf_counter()
                if made != n:
                    n, changed = made, now
                if made >= len(keys) or (made and now - changed > 0.5):
                    break
                await asyncio.sleep(0.05)
            elapsed = changed - start
        elif executable:
            n, elapsed = await _wrk_load(ports, keys, once=False, seconds=5, executable=executable)
        else:
            n, elapsed = await _load(ports, keys, len(keys) if creates else N)
        own = sum(proc_cpu(pid) for pid in pids) - own0
        pg = postgres_cpu(cluster.datadir) - pg0 if cluster else 0.0
        errors = _errors(cluster.log, offset) if cluster else 0
        jobs = await _jobs(poll) if poll else 0
        if executable and creates:
            load.cancel()
            with contextlib.suppress(BaseException):
                await load
    finally:
        if poll is not None:
            await poll.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()
    if creates:
        name = f"{name} ({jobs} jobs)"
    return Row("ack", name, n / elapsed, own * 1000 / n, pg * 1000 / n, errors)


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


async def _sqlite_syncs(path: str) -> Row:
    from cronofy_avail.emulator import Emulator

    async with Emulator(client_secret=SECRET) as emu:
        store = await open_store(path)
        try:
            await _sync_users(emu, store)
        finally:
            await store.close()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.sqlite_syncer",
            "--db",
            path,
            "--api",
            emu.base_url,
            "--client-id",
            emu.client_id,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
            cpu0 = proc_cpu(proc.pid)
            start = time.perf_counter()
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            assert (await asyncio.wait_for(proc.stdout.readline(), 300)).strip() == b"done"
            elapsed = time.perf_counter() - start
            cpu = proc_cpu(proc.pid) - cpu0
        finally:
            proc.stdin.close()
            await proc.wait()
    return Row(
        "full sync",
        "1 process, SQLite (baseline)",
        SYNC_USERS / elapsed,
        cpu * 1000 / SYNC_USERS,
        0.0,
    )


async def _query_one(store: Any, query: str, params: tuple[Any, ...] = ()) -> Any:
    async with store.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchone()


async def _cluster_syncs(cluster: Any, workers: int, home: str) -> Row:
    from cronofy_avail.emulator import Emulator
    from cronofy_avail.runtime.cluster import QUEUE, SYNC_TASK
    from cronofy_avail.runtime.store.postgres import SCHEMA, PostgresStore

    url = cluster.create_database()
    async with Emulator(client_secret=SECRET) as emu:
        store = await PostgresStore.open(url)
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
            # Start-up is not counted: wait until every worker listens for jobs.
            while True:
                row = await _query_one(
                    store, "SELECT to_regclass('procrastinate_workers') IS NOT NULL AS ok"
                )
                if row["ok"]:
                    row = await _query_one(store, "SELECT count(*) AS n FROM procrastinate_workers")
                    if int(row["n"]) >= workers:
                        break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # their first tick ends
            own0 = sum(proc_cpu(p.pid) for p in procs)
            pg0 = postgres_cpu(cluster.datadir)
            offset = _log_size(cluster.log)
            start = time.perf_counter()
            # Every user's full intent and sync job, in one transaction (as receivers do).
            async with store.connection() as conn, conn.transaction():
                await conn.execute(
                    f"UPDATE {SCHEMA}.users SET pending_full = TRUE, "  # noqa: S608
                    "pending_full_gen = pending_gen + 1, pending_gen = pending_gen + 1, "
                    "pending_at = now() WHERE user_id = ANY(%s)",
                    (ids,),
                )
                await conn.execute(
                    f"SELECT {SCHEMA}.defer_sync_v1(u, 0, NULL, %s, %s) "  # noqa: S608
                    "FROM unnest(%s::text[]) AS u",
                    (QUEUE, SYNC_TASK, ids),
                )
            while True:
                row = await _query_one(
                    store,
                    f"SELECT count(*) AS n FROM {SCHEMA}.users WHERE user_id = ANY(%s) "  # noqa: S608
                    "AND (last_sync_at IS NULL OR pending_full)",
                    (ids,),
                )
                if int(row["n"]) == 0:
                    break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - start
            own = sum(proc_cpu(p.pid) for p in procs) - own0
            pg = postgres_cpu(cluster.datadir) - pg0
            errors = _errors(cluster.log, offset)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                await proc.wait()
            await store.close()
    return Row(
        "full sync",
        f"{workers} worker(s), PostgreSQL",
        SYNC_USERS / elapsed,
        own * 1000 / SYNC_USERS,
        pg * 1000 / SYNC_USERS,
        errors,
    )


def _print(rows: list[Row], base: Row, unit: str, goal: str) -> None:
    print(f"  {'case':48s} {unit:>8s} {'own ms':>7s} {'pg ms':>7s} {'total':>7s} {'x SQLite':>9s}")
    for row in rows:
        print(
            f"  {row.case:48s} {row.rate:8.1f} {row.own_ms:7.3f} {row.pg_ms:7.3f} "
            f"{row.total_ms:7.3f} {row.total_ms / base.total_ms:8.1f}x"
        )
    print(f"  goal: {goal}")


async def run() -> None:
    try:
        from tests.support.postgres import start_cluster

        cluster = start_cluster(fsync=True)
    except BaseException as exc:  # pytest's skip outside pytest, or a missing driver
        print(f"cluster benchmark skipped: {exc}")
        return
    acks: list[Row] = []
    syncs: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            syncs.append(await _sqlite_syncs(str(Path(tmp) / "sync.db")))
            for count in (1, 2):
                syncs.append(await _cluster_syncs(cluster, count, tmp))
            acks.append(
                await _ack_case(
                    "1 receiver, SQLite (baseline)",
                    str(Path(tmp) / "bench.db"),
                    1,
                    USERS,
                    creates=False,
                    cluster=None,
                )
            )
            for count in (1, 3):
                acks.append(
                    await _ack_case(
                        f"{count} receiver(s), PostgreSQL, job already queued",
                        cluster.create_database(),
                        count,
                        USERS,
                        creates=False,
                        cluster=cluster,
                    )
                )
            acks.append(
                await _ack_case(
                    f"1 receiver, PostgreSQL, job already queued, {MANY_USERS:,} users",
                    cluster.create_database(),
                    1,
                    MANY_USERS,
                    creates=False,
                    cluster=cluster,
                )
            )
            for count in (1, 3):
                acks.append(
                    await _ack_case(
                        f"{count} receiver(s), PostgreSQL, ack creates a job",
                        cluster.create_database(),
                        count,
                        NEW_USERS,
                        creates=True,
                        cluster=cluster,
                    )
                )
    finally:
        cluster.stop()
    print(
        "CPU per unit of work (ms, /proc utime+stime; PostgreSQL with fsync and "
        "synchronous_commit on), beside the wall-clock rate on this machine"
    )
    loadgen = "wrk" if shutil.which("wrk") else "the Python generator"
    print(
        f"acks from {loadgen}, {CONCURRENCY} connections, each receiver's key cache warm: "
        f"{USERS} (or {MANY_USERS:,}) users with their job queued, or {NEW_USERS} users one "
        "ack each"
    )
    _print(
        acks,
        acks[0],
        "acks/s",
        f"total <= {GOAL_ACK_QUEUED} ms when the user's job is queued, <= {GOAL_ACK_CREATES} ms "
        "when the ack creates one",
    )
    print()
    print(f"full syncs: {SYNC_USERS} users x 3 events, Cronofy's limit at the emulator")
    _print(syncs, syncs[0], "syncs/s", f"PostgreSQL within {GOAL_SYNC_RATIO:g}x SQLite's CPU")
    errors = sum(r.errors for r in acks + syncs)
    print()
    print(f"ERROR lines in PostgreSQL's log during the runs: {errors}")


if __name__ == "__main__":
    asyncio.run(run())
