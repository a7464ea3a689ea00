"""``worker``: run the sync jobs receivers enqueue on a PostgreSQL store, until SIGINT/SIGTERM.

The database going away (a restart, a failover) does not stop it: it waits for it and resumes.
It exits 1, with one line saying why, only when the database stays away longer than
``CRONOFY_AVAIL_DB_GIVE_UP`` / ``--give-up-after`` seconds.

With ``CRONOFY_AVAIL_DB=postgresql://…`` receivers (``serve``) only verify, record and
enqueue; one or more workers (this command, on any machine) sync. See ``docs/how-to/postgresql.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TextIO

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.common import emit, runtime

NEEDS_POSTGRES = (
    "`worker` runs jobs from a PostgreSQL store, and CRONOFY_AVAIL_DB is a SQLite file.\n"
    "Fix: set CRONOFY_AVAIL_DB=postgresql://user@host/dbname for several receivers and "
    "workers (docs/how-to/postgresql.md); with SQLite, `serve` syncs in its own process."
)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="sync jobs this worker runs at once (different users; the application-wide "
        "rate limit is shared by every worker)",
    )
    parser.add_argument(
        "--tick",
        default="* * * * *",
        help="cron schedule of the cluster's tick (recovery of stopped workers' jobs, pending "
        "intents, the daily reconcile); a 6th field, last, counts seconds: '* * * * * */10' is "
        "every 10 s ('*/10 * * * * *' is every second of every 10th minute)",
    )
    parser.add_argument(
        "--stalled-after",
        type=float,
        default=30.0,
        help="seconds without a heartbeat after which a worker counts as stopped and its jobs "
        "are run again by another",
    )
    parser.add_argument(
        "--give-up-after",
        metavar="SECONDS",
        default=None,
        help="seconds to wait for the PostgreSQL database to come back (a restart, a "
        "failover) before exiting with status 1 (default: CRONOFY_AVAIL_DB_GIVE_UP or 300)",
    )
    parser.add_argument(
        "--metrics-port",
        metavar="PORT",
        default=None,
        help="serve /metrics (Prometheus text format, behind the admin token of `serve`) on "
        "this port, bound to CRONOFY_AVAIL_METRICS_HOST or 127.0.0.1; 0 picks a free port "
        "(default: CRONOFY_AVAIL_METRICS_PORT, else no listener)",
    )
    parser.add_argument(
        "--keep-jobs",
        action="store_true",
        help="keep finished jobs and their events in the queue's tables, and log every sync "
        "run with its times (an audit trail: runs of one user must never overlap)",
    )


async def worker(
    settings: Settings,
    out: TextIO,
    *,
    concurrency: int = 4,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    tick_cron: str = "* * * * *",
    stalled_after: float = 30.0,
    keep_jobs: bool = False,
) -> int:
    """Work until ``stop`` is set (the core of the command; tests drive it with events)."""
    settings.require_app()
    if settings.db_url is None:
        raise CommandError(NEEDS_POSTGRES)
    if concurrency < 1:
        raise CommandError("--concurrency must be 1 or more")
    stop = stop or asyncio.Event()
    from cronofy_avail.runtime.cluster import ClusterStore, PostgresRateLimiter
    from cronofy_avail.runtime.outage import DatabaseGone
    from cronofy_avail.runtime.store.postgres import connection_lost

    async with runtime(settings, out) as rt:
        assert isinstance(rt.store, ClusterStore)
        # shared by the cluster
        assert isinstance(rt.system.clients().rate_limiter, PostgresRateLimiter)
        try:
            runner = await rt.system.worker(
                concurrency=concurrency,
                tick_cron=tick_cron,
                stalled_after=stalled_after,
                keep_jobs=keep_jobs,
            )
        except OSError as exc:
            raise CommandError(
                f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port} "
                f"({exc.strerror or exc}).\n"
                "Fix: pick another port with --metrics-port or CRONOFY_AVAIL_METRICS_PORT."
            ) from None
        emit(
            rt.out,
            f"Worker on {settings.db_label}: up to {concurrency} syncs at once; Ctrl-C stops.",
        )
        if rt.system.metrics_url is not None:
            emit(rt.out, f"Metrics on {rt.system.metrics_url} (the admin token of `serve`).")
        # Resume at once what the cluster left pending (a first start, a restart after a crash):
        # the periodic tick would, a period later. The database gone already: run() waits.
        try:
            await runner.tick()
        except Exception as exc:
            if not connection_lost(exc):
                raise
            runner.watch.lost(exc)
        if ready is not None:
            ready.set()
        try:
            await runner.run(stop)
        except DatabaseGone as exc:
            # One line (the command's error): a supervisor restarts the worker, or a person
            # looks; the intents the receivers recorded wait in the database meanwhile.
            raise CommandError(f"gave up: {exc}") from None
        emit(rt.out, "Worker stopped.")
    return 0


async def run_worker(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        return await worker(
            settings,
            out,
            concurrency=args.concurrency,
            stop=stop,
            tick_cron=args.tick,
            stalled_after=args.stalled_after,
            keep_jobs=args.keep_jobs,
        )
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
