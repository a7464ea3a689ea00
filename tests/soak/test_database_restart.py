"""Receivers and workers outlive their PostgreSQL (issue 22): real ``cronofy-avail serve`` and
``cronofy-avail worker`` processes against the emulator over real HTTP, on a PostgreSQL whose
server these tests restart and stop.

* Restarted (``pg_ctl restart -m fast``, and ``-m immediate`` held down until a sync has run
  into the dead database) under a stream of edits, with a sync in flight at the emulator each
  time: the same processes are still running afterwards (nothing restarts them), the sync that
  was interrupted ran again (no job is left ``failed``) and every user's periods match their
  events without anybody acting.
* Stopped for longer than the workers' limit: the worker exits 1 with one line saying why; the
  receiver answers 503 meanwhile, 202 once the database is back, and a worker started then
  catches up with everything the receiver acknowledged.

The server is the session's restartable one (``pg_restartable``: durable as a production
server, an acknowledged commit survives ``-m immediate``). Nothing here waits for time to
pass: every wait is on a condition (a log line, a held request, a process exit), bounded
generously.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cronofy_avail.emulator import Emulator
from tests.support.postgres import Cluster
from tests.support.wait import until

from .cluster import ClusterSoak
from .soak import CLIENT_SECRET, ZONES

pytestmark = pytest.mark.slow

EMULATOR: dict[str, Any] = {
    "client_secret": CLIENT_SECRET,
    "debounce": 0.2,
    "retry_initial_delay": 0.2,
    "retry_max_delay": 1.0,
}
WITHIN = 90.0
"""The bound of every wait here: never reached when things work."""

# What a worker logs (its output, at the warning level of `cronofy-avail worker`).
RESUMED = "the job queue resumes"
INTERRUPTED = re.compile(r"sync of \S+ interrupted")
AFTER = re.compile(r"the job queue resumes, ([0-9.]+) s after it stopped")


def text(soak: ClusterSoak, proc: asyncio.subprocess.Process | None) -> str:
    assert proc is not None
    return soak.logs[proc.pid].read_text(errors="replace")


def count_in(soak: ClusterSoak, pattern: str | re.Pattern[str]) -> list[int]:
    """How many lines of each worker's output match ``pattern``."""
    found = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
    return [len(found.findall(text(soak, proc))) for proc in soak.workers]


@contextlib.asynccontextmanager
async def cluster_soak(tmp_path: Path, db_url: str, **options: Any) -> AsyncIterator[ClusterSoak]:
    """Users set up, the soak's receivers and workers running; stopped on the way out."""
    soak = ClusterSoak(tmp_path, 0.0, random.SystemRandom().randrange(1 << 30), db_url, **options)
    async with Emulator(**EMULATOR) as emu:
        soak.emu = emu
        await soak.setup()
        await soak.start_serve()
        try:
            yield soak
        finally:
            await soak.stop_serve()


async def edits(soak: ClusterSoak, stop: asyncio.Event) -> int:
    """A stream of external edits (each one a notification to a receiver) until ``stop``."""
    made = 0
    while not stop.is_set():
        soak.edit()
        made += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), soak.rng.uniform(0.05, 0.3))  # pacing only
    return made


async def hold_a_sync(soak: ClusterSoak) -> str:
    """Park the next batch of writes at the emulator (a sync in flight); returns the gate."""
    rule = soak.emu.add_fault(endpoint="POST /v1/batch", hold=True)
    for _ in range(3):  # whichever user's sync writes first (the stream goes on meanwhile)
        soak.edit()
    async with asyncio.timeout(WITHIN):
        await soak.emu.faults.wait_held(rule.fault_id)
    return rule.fault_id


async def failed_jobs(db_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def deliveries(soak: ClusterSoak) -> list[int | None]:
    """The status of every delivery attempt the emulator made, in order per channel."""
    return [
        d.status
        for account in soak.emu.state.accounts.values()
        for channel in account.channels.values()
        for d in channel.deliveries
    ]


async def test_receivers_and_workers_outlive_postgresql_restarts(
    tmp_path: Path, pg_restartable: Cluster
) -> None:
    db_url = pg_restartable.create_database()
    async with cluster_soak(tmp_path, db_url, receivers=2, workers=2, zones=ZONES[:3]) as soak:
        pids = [p.pid for p in (*soak.receivers, *soak.workers) if p is not None]
        stop_load = asyncio.Event()
        load = asyncio.create_task(edits(soak, stop_load))

        def resumed(times: int) -> bool:
            soak.check_running()  # a process that exited fails the test at once, with its log
            return all(n >= times for n in count_in(soak, RESUMED))

        # 1. `pg_ctl restart -m fast` (the case) with a batch held at the emulator.
        gate = await hold_a_sync(soak)
        await asyncio.to_thread(pg_restartable.restart, "fast")
        soak.emu.faults.remove(gate)
        await until(lambda: resumed(1), within=WITHIN, what="every worker resumed once")

        # 2. `-m immediate` (a crash), the server kept down until the held sync, let go, has
        # run into the dead database; then started again (what `pg_ctl restart` does).
        gate = await hold_a_sync(soak)
        await asyncio.to_thread(pg_restartable.stop_server, "immediate")
        soak.emu.faults.remove(gate)

        def interrupted() -> bool:
            soak.check_running()
            return sum(count_in(soak, INTERRUPTED)) >= 1

        await until(interrupted, within=WITHIN, what="a sync interrupted by the dead database")
        await asyncio.to_thread(pg_restartable.start_server)
        await until(lambda: resumed(2), within=WITHIN, what="every worker resumed twice")

        stop_load.set()
        made = await load
        began = asyncio.get_running_loop().time()
        await soak.quiesce()  # fails if any process exited; restarts none
        settled = asyncio.get_running_loop().time() - began
        mismatches = await soak.mismatches()
        failed = await failed_jobs(db_url)
        still = [p.pid for p in (*soak.receivers, *soak.workers) if p and p.returncode is None]
        statuses = deliveries(soak)
        resumed_after = [float(m) for proc in soak.workers for m in AFTER.findall(text(soak, proc))]
        print(  # figures for the record (docs/operations/cluster.md), not assertions
            f"edits {made}; deliveries {len(statuses)}, answered 503: {statuses.count(503)}; "
            f"resumes per worker {count_in(soak, RESUMED)}, seconds after the queue stopped "
            f"{resumed_after}; interrupted syncs {sum(count_in(soak, INTERRUPTED))}; "
            f"settled {settled:.1f} s after the edits stopped; failed jobs {failed}; "
            f"mismatches {mismatches}"
        )
        assert still == pids  # the same processes, none restarted
        assert mismatches == 0, soak.report.details
        assert failed == 0
    soak.scan_outputs()
    assert soak.report.secrets_leaked == 0, soak.report.details


async def test_a_worker_gives_up_when_the_database_stays_down(
    tmp_path: Path, pg_restartable: Cluster
) -> None:
    db_url = pg_restartable.create_database()
    options = ("--give-up-after", "2")
    async with cluster_soak(
        tmp_path, db_url, receivers=1, workers=1, zones=ZONES[:1], worker_options=options
    ) as soak:
        worker, receiver = soak.workers[0], soak.receivers[0]
        assert worker is not None
        assert receiver is not None
        await asyncio.to_thread(pg_restartable.stop_server, "fast")
        try:
            async with asyncio.timeout(WITHIN):
                code = await worker.wait()
            soak.edit()  # a notification the receiver cannot record now
            await until(
                lambda: 503 in deliveries(soak), within=WITHIN, what="a delivery answered 503"
            )
            # Counted while the database is still down: a retry the receiver holds for its
            # connection may be accepted before ``start_server`` returns (one round trip).
            refused = len(deliveries(soak))
        finally:
            await asyncio.to_thread(pg_restartable.start_server)
        await until(
            lambda: any(s == 202 for s in deliveries(soak)[refused:]),
            within=WITHIN,
            what="a delivery accepted once the database is back",
        )
        output = text(soak, worker).splitlines()
        assert code == 1
        reasons = [line for line in output if line.startswith("cronofy-avail worker:")]
        assert len(reasons) == 1, output[-10:]
        assert "gave up" in reasons[0]
        assert "2 s" in reasons[0]
        assert not any("Traceback" in line for line in output)
        assert receiver.returncode is None  # the receiver outlived the outage

        # Nothing the receiver acknowledged is lost: a worker started now catches up.
        soak.workers[0] = None
        await soak.start_serve()
        await soak.quiesce()
        assert await soak.mismatches() == 0, soak.report.details
    soak.scan_outputs()
    assert soak.report.secrets_leaked == 0, soak.report.details
