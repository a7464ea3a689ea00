"""Several receivers and workers on one PostgreSQL: the coordinator's guarantees cluster-wide.

The embedded :class:`~cronofy_avail.runtime.coordinator.SyncCoordinator` keeps single flight,
coalescing, the rate limit and the reconcile schedule inside one process. Here the same
promises rest on PostgreSQL and `procrastinate <https://procrastinate.readthedocs.io>`_ (a
maintained job queue on PostgreSQL) instead of process memory:

* **Receivers only verify, record and enqueue.** :class:`ClusterStore.record_intent` records
  the intent and defers the user's sync job *in one transaction*: the 202 is sent after both
  are durable, or neither happened.
* **At most one sync per user across all processes**: every sync job of a user carries the
  procrastinate ``lock`` ``sync:<user>`` (no two jobs with one lock run at once), and the
  engine's store lock stays as a second guard (CLI syncs, other tools).
* **Notifications during a sync fold into one follow-up**: the job's ``queueing_lock`` (same
  key) admits at most one *waiting* job per user; later notifications find it queued and only
  bump the intent it will read. A sync that could not settle the intent (it moved while the
  sync ran) enqueues the follow-up itself.
* **Crash recovery by any surviving worker**: a periodic *tick* (deferred once per period for
  the whole cluster by procrastinate's periodic defers) retries jobs of workers whose heartbeat
  stopped, and enqueues every user whose durable intent is still pending.
* **The daily reconcile is scheduled once for the cluster**: the same tick records a full
  intent for each user due one.
* **One application-wide rate limit**: :class:`PostgresRateLimiter`, a sliding-window log of
  request starts in the database, shared by every worker (Cronofy: 50/s and 500/min).

Needs the ``postgres`` extra; imported only by the cluster commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

import procrastinate
from procrastinate import exceptions as pq_exceptions
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from cronofy_avail.client.ratelimit import (
    CRONOFY_DEFAULT_WINDOWS,
    DEFAULT_MARGIN,
    RateLimiter,
    RateWindow,
)
from cronofy_avail.runtime.coordinator import (
    RETRY_DELAYS,
    CoordinatorStats,
    SyncListener,
    UserClients,
)
from cronofy_avail.runtime.store import UserRecord, UserState
from cronofy_avail.runtime.store.postgres import (
    CHECKOUT_TIMEOUT,
    RECONNECT_TIMEOUT,
    SCHEMA,
    PostgresStore,
    with_connect_timeout,
)
from cronofy_avail.runtime.sync import SyncEngine, SyncResult

_LOGGER = logging.getLogger(__name__)

SYNC_TASK = "cronofy_avail.sync_user"
TICK_TASK = "cronofy_avail.tick"
QUEUE = "cronofy_avail"
_SCHEMA_LOCK = 0x70726F6372617374
"""Advisory lock held while the job queue's schema is applied (several processes start)."""

Conn = AsyncConnection[DictRow]

CLUSTER_MARGIN = 2 * DEFAULT_MARGIN
"""Seconds kept off a window's edge: a grant and its request's arrival at Cronofy are further
apart across processes (a busy worker's event loop, the database round trip) than in one."""

# The database's clock and the newest grants of one application, oldest first after reversal.
# A fixed schema name; values go through placeholders.
_RECENT_GRANTS = (
    "SELECT extract(epoch FROM clock_timestamp())::float8 AS now, "  # noqa: S608
    "array(SELECT extract(epoch FROM at)::float8 "
    f"FROM {SCHEMA}.rate_grants WHERE app = %s ORDER BY at DESC LIMIT %s) AS starts"
)


async def database_now(store: PostgresStore) -> datetime:
    """The database's clock: the one procrastinate compares a job's ``scheduled_at`` with."""
    async with store.connection() as conn:
        cur = await conn.execute("SELECT now() AS now")
        row = await cur.fetchone()
    assert row is not None
    now: datetime = row["now"]
    return now


def lock_key(user_id: str) -> str:
    """The procrastinate ``lock`` and ``queueing_lock`` of a user's sync jobs."""
    return f"sync:{user_id}"


def pending(user: UserRecord) -> bool:
    """The user has an intent no sync has settled yet."""
    return user.pending_since is not None or user.pending_full or user.pending_at is not None


def new_app(url: str) -> procrastinate.App:
    """A procrastinate app on ``url`` with the toolkit's tasks *names* known (receivers defer
    by name; workers register the bodies with :class:`ClusterWorker`)."""
    return procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=url,
            # As the store's pool (which already checks connections as it hands them out):
            # a lost server is an error after a few seconds, not half a minute of waiting.
            timeout=CHECKOUT_TIMEOUT,
            reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs=with_connect_timeout(url),
            name="cronofy-avail-queue",
        )
    )


async def ensure_queue_schema(app: procrastinate.App, store: PostgresStore) -> None:
    """Apply procrastinate's schema once (under an advisory lock) if it is not there yet."""
    async with store.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS ok")
        row = await cur.fetchone()
        if row is not None and row["ok"]:
            return
        await conn.execute(app.schema_manager.get_schema().encode())


async def enqueue_sync(
    app: procrastinate.App,
    user_id: str,
    *,
    connection: Conn | None = None,
    attempt: int = 0,
    schedule_at: datetime | None = None,
) -> bool:
    """Defer a sync of ``user_id`` (in ``connection``'s transaction when given). ``False``
    when one is already waiting: it will read the newest intent, so this one folds into it.
    ``schedule_at`` (default: due at once) is a time on the database's clock, which decides
    when a job is due: see :func:`database_now`."""
    options: dict[str, Any] = {
        "lock": lock_key(user_id),
        "queueing_lock": lock_key(user_id),
        "queue": QUEUE,
    }
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    if connection is not None:
        options["connection"] = connection
    deferrer = app.configure_task(SYNC_TASK, **options)
    savepoint = connection.transaction() if connection is not None else contextlib.nullcontext()
    try:
        async with savepoint:  # a refused insert must not abort the caller's transaction
            await deferrer.defer_async(user_id=user_id, attempt=attempt)
    except pq_exceptions.AlreadyEnqueued:
        return False
    return True


class ClusterStore(PostgresStore):
    """The store of a cluster process: recording an intent also enqueues the user's sync, in
    the same transaction (a receiver's 202 means both are durable)."""

    app: procrastinate.App | None = None
    enqueued: int = 0
    folded: int = 0

    @classmethod
    async def open_cluster(cls, url: str, *, max_size: int = 10) -> Self:
        store = await cls.open(url, max_size=max_size)
        app = new_app(url)
        try:
            await ensure_queue_schema(app, store)
            await app.open_async()
        except BaseException:
            await store.close()
            raise
        store.app = app
        store.enqueued = store.folded = 0
        return store

    async def _after_intent(self, conn: Conn, user: UserRecord) -> None:
        """Enqueue the user's sync in the transaction that recorded the intent."""
        assert self.app is not None, "open with ClusterStore.open_cluster"
        if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
            return
        if await enqueue_sync(self.app, user.user_id, connection=conn):
            self.enqueued += 1
        else:
            self.folded += 1

    async def close(self) -> None:
        if self.app is not None:
            with contextlib.suppress(Exception):
                await self.app.close_async()
            self.app = None
        await super().close()


class PostgresRateLimiter(RateLimiter):
    """One application's Cronofy rate limit for every process on the database.

    A sliding-window log like :class:`RateLimiter`, kept in ``rate_grants`` and decided under a
    transaction-scoped advisory lock per application, on the database's clock: a request may
    start only when, for every window, fewer than ``limit`` starts fall in the last
    ``period + margin`` seconds, whichever process made them.
    """

    def __init__(
        self,
        store: PostgresStore,
        app_key: str,
        windows: Sequence[RateWindow] = CRONOFY_DEFAULT_WINDOWS,
        *,
        margin: float = CLUSTER_MARGIN,
    ) -> None:
        super().__init__(windows, margin=margin)
        self._store = store
        self.app_key = app_key
        self._since_prune = 0

    async def _try(self) -> float:
        """Record a start and return 0, or return how long to wait before trying again."""
        keep = max(w.limit for w in self.windows)
        longest = max(w.period for w in self.windows) + self.margin
        async with self._store.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.app_key,))
            cur = await conn.execute(_RECENT_GRANTS, (self.app_key, keep))
            row = await cur.fetchone()
            assert row is not None
            now = float(row["now"])
            starts: list[float] = list(reversed(row["starts"] or []))
            wait = 0.0
            for window in self.windows:
                if len(starts) < window.limit:
                    continue
                oldest = starts[len(starts) - window.limit]
                wait = max(wait, oldest + window.period + self.margin - now)
            if wait > 0.0:
                return wait
            await conn.execute(
                f"INSERT INTO {SCHEMA}.rate_grants (app, at) "  # noqa: S608
                "VALUES (%s, to_timestamp(%s))",
                (self.app_key, now),
            )
            self._since_prune += 1
            if self._since_prune >= 200:
                self._since_prune = 0
                await conn.execute(
                    f"DELETE FROM {SCHEMA}.rate_grants WHERE app = %s "  # noqa: S608
                    "AND at < to_timestamp(%s)",
                    (self.app_key, now - 2 * longest),
                )
        return 0.0

    async def acquire(self) -> None:
        while True:
            wait = await self._try()
            if wait <= 0.0:
                self.acquired += 1
                return
            self.waited += wait
            await asyncio.sleep(wait)


@dataclass(slots=True)
class WorkerStats:
    """Counts for tests, status output and benchmarks."""

    syncs: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    follow_ups: int = 0
    recovered: int = 0
    reconciles: int = 0


class ClusterWorker:
    """A worker: runs sync jobs (single flight per user through the job lock), the periodic
    tick (recovery and the reconcile schedule), retries with backoff like the coordinator."""

    def __init__(
        self,
        store: ClusterStore,
        engine: SyncEngine,
        clients: UserClients,
        *,
        concurrency: int = 4,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        tick_cron: str = "* * * * *",
        stalled_after: float = 30.0,
        heartbeat: float = 5.0,
        keep_jobs: bool = False,
    ) -> None:
        assert store.app is not None, "open the store with ClusterStore.open_cluster"
        self.store = store
        self.engine = engine
        self.clients = clients
        self.concurrency = concurrency
        self.retry_delays = tuple(retry_delays)
        self.stalled_after = stalled_after
        self.heartbeat = heartbeat
        self.keep_jobs = keep_jobs
        self.stats = WorkerStats()
        self.app = store.app
        self.app.task(name=SYNC_TASK, queue=QUEUE)(self.sync_user)
        self.app.periodic(cron=tick_cron, periodic_id="tick")(
            self.app.task(name=TICK_TASK, queue=QUEUE)(self._tick)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; running jobs finish (procrastinate's graceful stop)."""
        worker = asyncio.ensure_future(
            self.app.run_worker_async(
                queues=[QUEUE],
                concurrency=self.concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=self.heartbeat,
                # A follow-up whose user's job just finished, and a retry coming due, are not
                # announced (only new jobs are): look for them twice a second, not every 5 s.
                fetch_job_polling_interval=0.5,
                stalled_worker_timeout=self.stalled_after,
                delete_jobs="never" if self.keep_jobs else "successful",
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            elif worker.exception() is not None:
                raise worker.exception()  # type: ignore[misc]

    # ------------------------------------------------------------------ the jobs

    async def sync_user(self, user_id: str, attempt: int = 0) -> None:
        """One sync of ``user_id``; retries, follow-ups and ``failed`` as the coordinator."""
        user = await self.store.get_user(user_id)
        if user is None:
            _LOGGER.warning("sync requested for unknown user %s", user_id)
            return
        if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
            _LOGGER.info("not syncing %s: %s", user_id, user.state)
            return
        if not user.calendar_id:
            return
        client = self.clients.for_user(user)
        try:
            result = await self.engine.sync(user, client, full=None)
        finally:
            await client.close()
        self.stats.syncs[user_id] += 1
        if self.keep_jobs and not result.busy:
            await self._audit(user_id, result)
        await self._after(user_id, result, attempt)

    async def _audit(self, user_id: str, result: SyncResult) -> None:
        """Log the run (its times are taken inside the user's sync lock) for audits: two runs
        of one user must never overlap."""
        async with self.store.connection() as conn:
            await conn.execute(
                f"INSERT INTO {SCHEMA}.sync_runs (user_id, owner, kind, ok, "  # noqa: S608
                "started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    user_id,
                    self.engine.owner,
                    result.kind,
                    result.ok,
                    result.started_at,
                    result.finished_at,
                ),
            )

    async def _in(self, seconds: float) -> datetime:
        """``seconds`` from now on the database's clock. Procrastinate's own ``schedule_in``
        counts from this worker's clock, and a job is due by the database's: a worker whose
        clock ran ahead would put its retries off by the difference, one behind would run
        them early."""
        return await database_now(self.store) + timedelta(seconds=seconds)

    async def _after(self, user_id: str, result: SyncResult, attempt: int) -> None:
        assert self.app is not None
        if result.busy:
            # Another process (a CLI sync) holds the store lock: not a failure, not our turn.
            self.stats.retries[user_id] += 1
            delay = self.retry_delays[0] if self.retry_delays else 1.0
            await enqueue_sync(
                self.app, user_id, attempt=attempt, schedule_at=await self._in(delay)
            )
            return
        if result.retryable:
            if attempt + 1 > len(self.retry_delays):
                await self.store.set_state(
                    user_id,
                    UserState.FAILED,
                    f"gave up after {attempt + 1} attempts: {result.error}",
                )
                return
            delay = self.retry_delays[attempt]
            if result.retry_after is not None:
                delay = max(delay, result.retry_after)
            self.stats.retries[user_id] += 1
            await enqueue_sync(
                self.app, user_id, attempt=attempt + 1, schedule_at=await self._in(delay)
            )
            return
        if not result.ok:
            return  # needs_reauth / failed: visible in the state, a person must act
        fresh = await self.store.get_user(user_id)
        # Intent recorded while the sync ran (its generation moved): one follow-up.
        if fresh is not None and pending(fresh) and await enqueue_sync(self.app, user_id):
            self.stats.follow_ups += 1

    async def _tick(self, timestamp: int) -> None:
        del timestamp
        await self.tick()

    async def tick(self) -> None:
        """Recovery and scheduling, once per period for the whole cluster. Reads only the
        users due (``Store.list_due_users``), not every user; one that turns out not to be
        due gets its due time written."""
        await self.recover_stalled()
        now = self.engine.clock()
        later: dict[str, datetime] = {}
        for user in await self.store.list_due_users(now):
            if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
                continue
            if not user.calendar_id:
                continue
            if pending(user):
                await enqueue_sync(self.app, user.user_id)
            elif user.state == UserState.FAILED:
                continue
            elif self.engine.needs_full(user, now):
                await self.store.record_intent(
                    user.user_id, changes_since=None, full=True, received_at=now
                )
                self.stats.reconciles += 1
            else:
                due = self.engine.reconcile_due(user)
                if due is not None and (
                    user.reconcile_due_at is None or user.reconcile_due_at < due
                ):
                    later[user.user_id] = due
        if later:
            await self.store.set_reconcile_due(later)

    async def recover_stalled(self) -> int:
        """Put the jobs of workers that stopped sending heartbeats (killed, crashed) back in
        the queue, or drop them when a newer job of the same user already waits."""
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after))
        if not stalled:
            return 0
        # Due at once on the clock that decides when a job is due: the database's (a job is
        # fetched once ``scheduled_at <= now()`` there). This worker's clock, if ahead of the
        # database's, would put the job off by the difference.
        due = await database_now(self.store)
        count = 0
        for job in stalled:
            assert job.id is not None
            try:
                await manager.retry_job_by_id_async(job.id, retry_at=due)
            except pq_exceptions.ConnectorException:
                # The user already has a waiting job (queueing lock): it covers this one.
                await manager.finish_job_by_id_async(
                    job.id, status=procrastinate.jobs.Status.FAILED, delete_job=True
                )
            count += 1
        self.stats.recovered += count
        if count:
            _LOGGER.info("recovered %d sync job(s) of stopped workers", count)
        return count


def cluster_status(store: ClusterStore, worker: ClusterWorker | None) -> Mapping[str, Any]:
    """A JSON-ready summary (no secrets)."""
    data: dict[str, Any] = {"enqueued": store.enqueued, "folded": store.folded}
    if worker is not None:
        data.update(
            syncs=sum(worker.stats.syncs.values()),
            retries=sum(worker.stats.retries.values()),
            follow_ups=worker.stats.follow_ups,
            recovered=worker.stats.recovered,
            reconciles=worker.stats.reconciles,
        )
    return data


class QueuedSyncs:
    """A receiver's :class:`~cronofy_avail.runtime.coordinator.SyncRequests` in a cluster:
    the user's sync was enqueued in the transaction that recorded the intent
    (:class:`ClusterStore`), so a request only counts; workers sync, retry and schedule."""

    def __init__(self) -> None:
        self.stats = CoordinatorStats()

    def request(self, user_id: str, *, full: bool = False) -> None:
        self.stats.requests[user_id] += 1

    def add_listener(self, listener: SyncListener) -> Callable[[], None]:
        return lambda: None  # no sync runs here to report

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
