"""The soak on one PostgreSQL with three receivers and two workers as separate processes.

The same workload, faults, CLI races and checks as :mod:`tests.soak.soak`; each user's
channel calls one of the receivers (as a load balancer would spread them), and every kill
SIGKILLs one receiver *and* one worker (at random, and while a batch is in flight) before
restarting them. On top of the single-process checks it records:

* **duplicate syncs**: workers run with ``--keep-jobs`` and log every sync run with its times
  (taken inside the user's sync lock); two runs of one user that overlap are counted;
* **the rate limit at the emulator**: every request the emulator admits is timed, and the
  most requests in any sliding 1 s and 60 s window are reported; the emulator's own limiter
  (Cronofy's 50/s, 500/min) counts every request it had to refuse.

``python -m tests.soak.cluster --minutes 30 --db postgresql://…`` runs a long one on an
existing server; the suite runs a short one on its throwaway cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from cronofy_avail.app.settings import postgres_anchor
from cronofy_avail.runtime.cluster import ClusterStore, PostgresRateLimiter
from cronofy_avail.runtime.store import UserState
from tests.support.wait import until

from .soak import SERVE, ZONES, Soak, SoakReport, SoakUser, free_port

RECEIVERS = 3
WORKERS = 2
TICK = "* * * * * */2"  # every 2 s (croniter: seconds are the 6th field): recovery, intents
STALLED_AFTER = 10.0


@dataclass
class ClusterReport:
    base: SoakReport
    overlapping_syncs: int = 0
    sync_jobs: int = 0
    rate_rejected: int = 0
    max_per_second: int = 0
    max_per_minute: int = 0
    worker_kills: int = 0
    receiver_kills: int = 0
    receivers: int = RECEIVERS
    workers: int = WORKERS

    def lines(self) -> list[str]:
        return [
            *self.base.lines(),
            f"  receivers {self.receivers}, workers {self.workers}; SIGKILLed "
            f"{self.receiver_kills} receivers, {self.worker_kills} workers",
            f"  sync runs {self.sync_jobs}, overlapping runs of one user {self.overlapping_syncs}",
            f"  requests at the emulator: at most {self.max_per_second} in any 1 s, "
            f"{self.max_per_minute} in any 60 s; refused by its rate limit {self.rate_rejected}",
        ]


def most_in_window(times: list[float], period: float) -> int:
    """The most entries of sorted ``times`` in any half-open window of ``period`` seconds."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, i + 1 - bisect_left(times, t - period + 1e-9, 0, i + 1))
    return best


class ProcessExited(RuntimeError):
    """A receiver or worker the soak did not stop or kill has exited."""


class ClusterSoak(Soak):
    def __init__(
        self,
        workdir: Path,
        minutes: float,
        seed: int,
        db_url: str,
        *,
        receivers: int = RECEIVERS,
        workers: int = WORKERS,
        zones: Sequence[str] = ZONES,
        worker_options: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir, minutes, seed)
        self.db_url = db_url
        # serve keeps its admin token by this machine's anchor of the URL (HOME = workdir).
        self.db = workdir / ".cronofy_avail" / postgres_anchor(db_url).name
        self.zones = tuple(zones)
        self.worker_options = tuple(worker_options)
        self.ports = [free_port() for _ in range(receivers)]
        self.receivers: list[asyncio.subprocess.Process | None] = [None] * receivers
        self.workers: list[asyncio.subprocess.Process | None] = [None] * workers
        self.logs: dict[int, Path] = {}
        """Each process's output, by PID."""
        self.cluster = ClusterReport(self.report, receivers=receivers, workers=workers)
        self.admitted: list[float] = []
        self.runs = 0

    def environ(self, user: SoakUser | None = None) -> dict[str, str]:
        env = super().environ(user)
        env["CRONOFY_AVAIL_DB"] = self.db_url
        return env

    def public_for(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index % len(self.ports)]}"

    # ------------------------------------------------------------------ processes

    async def _spawn(self, name: str, *argv: str) -> asyncio.subprocess.Process:
        self.runs += 1
        log = self.workdir / f"{name}-{self.runs}.log"
        self.outputs.append(log)
        with log.open("w") as handle:
            proc = await asyncio.create_subprocess_exec(
                *SERVE,
                *argv,
                "--env-file",
                str(self.empty_env()),
                env=self.environ(),
                cwd=self.workdir,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        marker = "Serving" if argv[0] == "serve" else "Worker on"

        def started() -> bool:
            if marker in log.read_text():
                return True
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()}")
            return False

        await until(started, within=60, what=f"{name} to start")
        self.logs[proc.pid] = log
        return proc

    def check_running(self) -> None:
        """Every receiver and worker started and not killed by the soak still runs: one that
        exited on its own is a failure the soak reports, never restarts (a worker that
        exits when its database restarts must not look fine here)."""
        for proc in (*self.receivers, *self.workers):
            if proc is not None and proc.returncode is not None:
                log = self.logs.get(proc.pid)
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise ProcessExited(
                    f"process {proc.pid} exited on its own with {proc.returncode}:\n{tail}"
                )

    async def start_serve(self) -> None:
        """Start the receivers and workers not started yet or killed by :meth:`kill_serve`."""
        self.check_running()
        for i, proc in enumerate(self.receivers):
            if proc is None:
                public = f"http://127.0.0.1:{self.ports[i]}"
                self.receivers[i] = await self._spawn(
                    f"receiver{i}", "serve", "--port", str(self.ports[i]), "--public-url", public
                )
        for i, proc in enumerate(self.workers):
            if proc is None:
                self.workers[i] = await self._spawn(
                    f"worker{i}",
                    "worker",
                    "--tick",
                    TICK,
                    "--stalled-after",
                    str(STALLED_AFTER),
                    "--keep-jobs",
                    *self.worker_options,
                )

    async def kill_serve(self) -> None:
        """SIGKILL one receiver and one worker (:meth:`start_serve` starts them again)."""
        self.check_running()
        for group, kind in ((self.receivers, "receiver"), (self.workers, "worker")):
            index = self.rng.randrange(len(group))
            proc = group[index]
            assert proc is not None
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            group[index] = None
            if kind == "receiver":
                self.cluster.receiver_kills += 1
            else:
                self.cluster.worker_kills += 1
        self.report.kills += 1

    async def stop_serve(self) -> None:
        procs = [p for p in (*self.receivers, *self.workers) if p and p.returncode is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            for proc in procs:
                await proc.wait()

    # ------------------------------------------------------------------ setup and checks

    async def setup(self) -> None:
        for i, tzid in enumerate(self.zones):
            account = await self.emu.create_account(tzid=tzid, email=f"user{i}@example.com")
            user = SoakUser(f"user{i}", tzid, account)
            code, text = await self.cli(
                "setup", "--public-url", self.public_for(i), user=user, tokens=True
            )
            if code != 0:
                raise RuntimeError(f"setup of {user.user_id} failed:\n{text}")
            store = await ClusterStore.open_cluster(self.db_url)
            try:
                record = await store.get_user(user.user_id)
                assert record is not None
                assert record.calendar_id
                user.calendar_id = record.calendar_id
                # The soak's own requests take their turns in the application's limit too.
                limiter = PostgresRateLimiter(store, f"cronofy:{self.emu.client_id}")
                async with self.emu.client(account, rate_limiter=limiter) as client:
                    for n in range(2):
                        start = self.future(3 + n, 10)
                        end = start + timedelta(hours=2)
                        pid = f"foreign-{user.user_id}-{n}"
                        await client.upsert_available_period(pid, start, end)
                        user.foreign[pid] = (start, end)
            finally:
                await store.close()
            self.users.append(user)
        self.report.users = len(self.users)

    async def quiesce(self) -> None:
        """No fault left; every notification delivered; every user idle, nothing pending."""
        self.emu.faults.clear()
        await asyncio.gather(*self.cli_tasks)
        await self.start_serve()  # only those the last kill stopped; fails if one exited
        store = await ClusterStore.open_cluster(self.db_url)
        try:
            async with asyncio.timeout(240):
                quiet = 0
                while quiet < 3:
                    await self.emu.wait_notifications()
                    users = await store.list_users()
                    settled = all(
                        u.state == UserState.IDLE and not u.pending_at and not u.pending_full
                        for u in users
                    )
                    quiet = quiet + 1 if settled else 0
                    await asyncio.sleep(0.5)
        finally:
            await store.close()
        self.check_running()

    async def collect_stored_secrets(self) -> None:
        store = await ClusterStore.open_cluster(self.db_url)
        try:
            for user in await store.list_users():
                self.stored_secrets.add(user.callback_key)
                if user.credentials is not None:
                    self.stored_secrets.add(user.credentials.access_token)
                    if user.credentials.refresh_token:
                        self.stored_secrets.add(user.credentials.refresh_token)
        finally:
            await store.close()

    async def overlapping_syncs(self) -> tuple[int, int]:
        """(sync runs, overlapping runs of one user) from the workers' audit log (their times
        are taken inside the user's sync lock; workers run with ``--keep-jobs``)."""
        async with await psycopg.AsyncConnection.connect(self.db_url) as conn:
            cur = await conn.execute(
                "SELECT user_id, started_at, finished_at FROM cronofy_avail.sync_runs "
                "ORDER BY user_id, started_at"
            )
            rows = await cur.fetchall()
        spans: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        for user_id, started, finished in rows:
            spans[user_id].append((started, finished))
        overlaps = 0
        for runs in spans.values():
            latest_end = None
            for started, finished in runs:
                if latest_end is not None and started < latest_end:
                    overlaps += 1
                latest_end = finished if latest_end is None else max(latest_end, finished)
        return len(rows), overlaps

    async def run_cluster(self) -> ClusterReport:
        from cronofy_avail.emulator import Emulator

        settings: dict[str, Any] = {
            "client_secret": "SOAK-client-5ecret-7e1f0a9b3c",
            "debounce": 0.2,
            "retry_initial_delay": 0.2,
            "retry_max_delay": 2.0,
        }
        async with Emulator(**settings) as emu:
            self.emu = emu
            limiter = emu.rate_limit
            admit = limiter.admit

            def timed_admit() -> bool:
                ok = admit()
                if ok:
                    self.admitted.append(time.monotonic())
                return ok

            limiter.admit = timed_admit  # type: ignore[method-assign]
            await self.setup()
            await self.start_serve()
            try:
                await self.workload()
                await self.quiesce()
                # Before the checker's own reads (which do not go through the cluster's limit).
                self.cluster.rate_rejected = limiter.rejected
                admitted_before_checks = len(self.admitted)
                self.report.mismatches_before = await self.mismatches()
                for user in self.users:
                    code, text = await self.cli("reconcile", user=user)
                    if code != 0:
                        self.report.details.append(f"  final reconcile {user.user_id}: {text}")
                self.report.mismatches_after = await self.mismatches()
                self.count_deliveries()
            finally:
                await self.stop_serve()
            through_cluster = self.admitted[:admitted_before_checks]
            self.cluster.max_per_second = most_in_window(through_cluster, 1.0)
            self.cluster.max_per_minute = most_in_window(through_cluster, 60.0)
            self.cluster.sync_jobs, self.cluster.overlapping_syncs = await self.overlapping_syncs()
            await self.collect_stored_secrets()
            self.scan_outputs()
        return self.cluster


async def run_cluster_soak(workdir: Path, minutes: float, seed: int, db_url: str) -> ClusterReport:
    return await ClusterSoak(workdir, minutes, seed, db_url).run_cluster()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 30))
    parser.add_argument("--db", required=True, help="postgresql:// URL of an empty database")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cronofy-soak-") as tmp:
        report = asyncio.run(run_cluster_soak(Path(tmp), args.minutes, args.seed, args.db))
    print("\n".join(report.lines()))
    base = report.base
    ok = (
        base.mismatches_before == 0
        and base.mismatches_after == 0
        and base.foreign_touched == 0
        and base.secrets_leaked == 0
        and report.overlapping_syncs == 0
        and report.rate_rejected == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
