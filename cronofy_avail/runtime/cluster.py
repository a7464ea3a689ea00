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
* **Workers outlive their database**: when PostgreSQL restarts or fails over, a worker waits
  for it (:mod:`~cronofy_avail.runtime.outage`) and resumes; a sync the outage interrupted runs
  again once it is back. Only an outage longer than the worker's limit makes it give up.

Needs the ``postgres`` extra; imported only by the cluster commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

import procrastinate
import psycopg
from procrastinate import exceptions as pq_exceptions
from procrastinate.connector import BaseConnector
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
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
from cronofy_avail.runtime.outage import DEFAULT_GIVE_UP, FIRST_DELAY, MAX_DELAY, DatabaseWatch
from cronofy_avail.runtime.store import UserRecord, UserState, sql
from cronofy_avail.runtime.store.postgres import (
    CHECKOUT_TIMEOUT,
    RECONNECT_TIMEOUT,
    SCHEMA,
    PostgresStore,
    connection_lost,
    user_from,
    with_connect_timeout,
)
from cronofy_avail.runtime.store.schema import (
    BATCH_NOTIFY,
    PROCRASTINATE_NOTIFY_BODY,
    QUEUE_NOTIFY_GUARD,
)
from cronofy_avail.runtime.store.sql import USER_COLUMNS
from cronofy_avail.runtime.sync import SyncEngine, SyncResult

_LOGGER = logging.getLogger(__name__)

SYNC_TASK = "cronofy_avail.sync_user"
TICK_TASK = "cronofy_avail.tick"
QUEUE = "cronofy_avail"
_SCHEMA_LOCK = 0x70726F6372617374
"""Advisory lock held while the job queue's schema is applied (several processes start)."""

Conn = AsyncConnection[DictRow]

HEALTHY_AFTER = 10.0
"""Seconds a resumed job queue must run, the database answering then, before its outage
counts as over: a queue that keeps failing at once still reaches the worker's limit."""

CLUSTER_MARGIN = 2 * DEFAULT_MARGIN
"""Seconds kept off a window's edge: a grant and its request's arrival at Cronofy are further
apart across processes (a busy worker's event loop, the database round trip) than in one."""

_GRANT = f"SELECT {SCHEMA}.rate_grant_v1(%s, %s::integer[], %s::float8[], %s, %s, %s) AS wait"


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


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    """Procrastinate's queries are single statements (function calls): on a connection in a
    transaction, each would cost three round trips (``BEGIN``, the query, ``COMMIT``)."""
    await conn.set_autocommit(True)


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
            configure=_autocommit,
            name="cronofy-avail-queue",
        )
    )


_NOTIFY_SOURCE = (
    "SELECT p.prosrc FROM pg_proc p WHERE p.proname = 'procrastinate_notify_queue_job_inserted_v1'"
)


def _collapsed(source: str) -> str:
    return " ".join(source.split())


async def ensure_queue_schema(app: procrastinate.App, store: PostgresStore) -> None:
    """Apply procrastinate's schema once (under an advisory lock) if it is not there yet, then
    :func:`guard_queue_notify`."""
    async with store.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS ok")
        row = await cur.fetchone()
        if row is None or not row["ok"]:
            await conn.execute(app.schema_manager.get_schema().encode())
        await guard_queue_notify(conn)


async def guard_queue_notify(conn: Conn) -> bool:
    """Put the batch guard in procrastinate's job-insert trigger function
    (:data:`schema.QUEUE_NOTIFY_GUARD`, in the caller's transaction) if its body is still
    procrastinate's 3.x one. Optional: a function whose body procrastinate changed is left as
    it is, and so is one this role does not own (procrastinate's schema applied by another
    role); then each new job notifies by itself, as without the guard. True when guarded."""
    cur = await conn.execute(_NOTIFY_SOURCE)
    row = await cur.fetchone()
    source = "" if row is None else str(row["prosrc"])
    if BATCH_NOTIFY in source:
        return True
    if _collapsed(source) != _collapsed(PROCRASTINATE_NOTIFY_BODY):
        _LOGGER.info(
            "procrastinate's job-insert trigger is not the one this version knows: left as it "
            "is (each new job notifies the workers by itself)"
        )
        return False
    try:
        async with conn.transaction():  # a savepoint: a refusal leaves the rest standing
            await conn.execute(QUEUE_NOTIFY_GUARD.encode())
    except psycopg.errors.InsufficientPrivilege:
        _LOGGER.warning(
            "could not add the batch guard to procrastinate's job-insert trigger (this "
            "database role does not own it): each new job notifies the workers by itself"
        )
        return False
    return True


_DEFER = f"SELECT {SCHEMA}.defer_sync_v1(%s, %s, %s, %s, %s) AS deferred"
# The same through procrastinate's connector (named placeholders).
_DEFER_NAMED = (
    f"SELECT {SCHEMA}.defer_sync_v1(%(user)s, %(attempt)s, %(at)s, %(queue)s, %(task)s) AS deferred"
)
_JOB_STARTED = (
    f"UPDATE {SCHEMA}.users SET job_queued = FALSE WHERE user_id = %s "  # noqa: S608
    f"RETURNING {', '.join(USER_COLUMNS)}"
)


async def enqueue_sync(
    app: procrastinate.App,
    user_id: str,
    *,
    connection: Conn | None = None,
    attempt: int = 0,
    schedule_at: datetime | None = None,
    store: PostgresStore | None = None,
) -> bool:
    """Defer a sync of ``user_id`` (in ``connection``'s transaction when given, else on
    ``store``'s pool or the app's connector). ``False`` when one is already waiting: it will
    read the newest intent, so this one folds into it. One statement (``defer_sync_v1``), which
    marks the user's job as queued and skips a waiting job instead of failing on procrastinate's
    queueing lock: no error, no savepoint. ``schedule_at`` (default: due at once) is a time on
    the database's clock, which decides when a job is due: see :func:`database_now`."""
    params = (user_id, attempt, schedule_at, QUEUE, SYNC_TASK)
    if connection is not None:
        cur = await connection.execute(_DEFER, params)
        row = await cur.fetchone()
        return bool(row and row["deferred"])
    if store is not None:
        async with store.connection() as conn:
            cur = await conn.execute(_DEFER, params)
            row = await cur.fetchone()
        return bool(row and row["deferred"])
    result = await app.connector.execute_query_one_async(
        _DEFER_NAMED, user=user_id, attempt=attempt, at=schedule_at, queue=QUEUE, task=SYNC_TASK
    )
    return bool(result["deferred"])


class ClusterStore(PostgresStore):
    """The store of a cluster process: recording an intent also enqueues the user's sync, in
    the same transaction (a receiver's 202 means both are durable); acknowledgements do it
    for a whole group at once (``PostgresStore.accept_delivery``)."""

    app: procrastinate.App | None = None
    enqueued: int = 0
    folded: int = 0
    _job_queue = (QUEUE, SYNC_TASK)

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

    async def pending_intents(self) -> tuple[int, datetime | None]:
        """Users with an unsettled intent, and when the oldest notification no sync has
        covered was received (the operator's view; one indexed query)."""
        async with self.connection() as conn:
            cur = await conn.execute(sql.for_postgres(sql.SELECT_PENDING))
            row = await cur.fetchone()
        assert row is not None
        return int(row["users"]), row["oldest"]

    async def queue_depth(self) -> int:
        """Sync jobs waiting (``todo``) in the cluster's queue: the operator's view."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM procrastinate_jobs "
                "WHERE queue_name = %s AND status = 'todo'",
                (QUEUE,),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    def _after_group(self, accepted: list[tuple[int, str, bool]]) -> None:
        deferred = sum(1 for _, _, enqueued in accepted if enqueued)
        self.enqueued += deferred
        self.folded += len(accepted) - deferred

    async def job_started(self, user_id: str) -> UserRecord | None:
        """The user's queued job starts: the next intent defers a new one. Returns the user as
        read after that (so an intent recorded before it is seen by this job), in the same
        round trip."""
        async with self.connection() as conn:
            cur = await conn.execute(_JOB_STARTED, (user_id,))
            row = await cur.fetchone()
        return user_from(row) if row else None

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
    ``period + margin`` seconds, whichever process made them. Each request reserves its start
    in one round trip (``rate_grant_v1``) and waits until it: no retries.
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
        self.tries = 0
        """Round trips to the database (one per request; more only through ``_try``)."""

    async def _grant(self, *, reserve: bool) -> float:
        """One round trip (``rate_grant_v1``): the seconds until this request may start. With
        ``reserve`` that start is recorded and the caller just waits until it; without, it is
        recorded only if it is now (0)."""
        self.tries += 1
        self._since_prune += 1
        prune: float | None = None
        if self._since_prune >= 200:
            self._since_prune = 0
            prune = 2 * (max(w.period for w in self.windows) + self.margin)
        async with self._store.connection() as conn:
            cur = await conn.execute(
                _GRANT,
                (
                    self.app_key,
                    [w.limit for w in self.windows],
                    [float(w.period) for w in self.windows],
                    self.margin,
                    reserve,
                    prune,
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return max(0.0, float(row["wait"]))

    async def _try(self) -> float:
        """Record a start and return 0, or return how long to wait before trying again."""
        return await self._grant(reserve=False)

    async def acquire(self) -> None:
        """Reserve the next start the windows allow and wait until it: one round trip per
        request, however many processes share the limit."""
        wait = await self._grant(reserve=True)
        self.acquired += 1
        if wait > 0.0:
            self.waited += wait
            self.waits += 1
            await asyncio.sleep(wait)


def _not_running(exc: BaseException) -> bool:
    """Procrastinate refused to end a job that is no longer running here: another worker's
    stall recovery took it over while this one could not reach the database (its heartbeat
    stopped with the database)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.RaiseException) and "doing" in str(cause)


class PatientJobManager(JobManager):
    """Procrastinate's job manager, whose record of a job's end waits for the database: a job
    that ends while PostgreSQL restarts is recorded once it is back, instead of staying
    ``doing`` (its user's lock held) until another worker's stall recovery puts it back.
    Bounded by the worker's :class:`~cronofy_avail.runtime.outage.DatabaseWatch`; a stop
    requested meanwhile gives up at once (the job is recovered elsewhere, as a killed
    worker's)."""

    def __init__(
        self,
        connector: BaseConnector,
        watch: DatabaseWatch,
        stopping: Callable[[], asyncio.Event],
    ) -> None:
        super().__init__(connector)
        self.watch = watch
        self.stopping = stopping

    async def _patiently(self, job: Job, record: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await record()
            except pq_exceptions.ConnectorException as exc:
                if _not_running(exc):
                    _LOGGER.warning(
                        "job %s of %s was taken over by another worker while the database "
                        "was away; its end is theirs to record",
                        job.id,
                        job.task_name,
                    )
                    return
                if not connection_lost(exc):
                    raise
                self.watch.lost(exc)
                if not await self.watch.wait(self.stopping()):
                    raise
            else:
                return

    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        finish = super().finish_job
        await self._patiently(job, lambda: finish(job, status, delete_job))

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        retry = super().retry_job
        await self._patiently(job, lambda: retry(job, retry_at, priority, queue, lock))


@dataclass(slots=True)
class WorkerStats:
    """Counts for tests, status output and benchmarks."""

    syncs: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    follow_ups: int = 0
    recovered: int = 0
    reconciles: int = 0
    interrupted: int = 0
    """Syncs the database going away interrupted, queued again once it was back."""
    resumed: int = 0
    """Times the job queue ran again after losing the database."""


class ClusterWorker:
    """A worker: runs sync jobs (single flight per user through the job lock), the periodic
    tick (recovery and the reconcile schedule), retries with backoff like the coordinator;
    waits for its database when it goes away, for up to ``give_up_after`` seconds."""

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
        give_up_after: float = DEFAULT_GIVE_UP,
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
        self._listeners: list[SyncListener] = []
        self.watch = DatabaseWatch(store.url, give_up_after=give_up_after)
        self._stop = asyncio.Event()
        """The stop of the current :meth:`run` (a job waiting for the database ends on it)."""
        self._announced = 0
        """The last outage the queue loop logged."""
        self.app = store.app
        # Before the tasks are registered: a job's end waits for the database, see the class.
        self.app.job_manager = PatientJobManager(self.app.connector, self.watch, lambda: self._stop)
        self.app.task(name=SYNC_TASK, queue=QUEUE)(self.sync_user)
        self.app.periodic(cron=tick_cron, periodic_id="tick")(
            self.app.task(name=TICK_TASK, queue=QUEUE)(self._tick)
        )

    def add_listener(self, listener: SyncListener) -> Callable[[], None]:
        """Be told of each sync this worker runs (as ``SyncCoordinator.add_listener``);
        returns the function that stops it. A listener's failure never fails the job."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; running jobs finish (procrastinate's graceful stop).

        Procrastinate's worker stops (or fails) when its database goes away: its listener,
        heartbeat or fetch lose the connection. Then this one waits for the database,
        probing it with a capped exponential backoff, and runs the queue again: it resumes
        listening and fetching, puts back the jobs the outage left running and releases the
        sync locks it left held. :class:`~cronofy_avail.runtime.outage.DatabaseGone` when the
        database stays away longer than ``give_up_after`` seconds; a stop requested during an
        outage just stops.
        """
        self._stop = stop
        delay = FIRST_DELAY
        lost = self.watch.down  # the first tick (the command's) may have lost it already
        lost_at = self.watch.clock()
        while not stop.is_set():
            if lost:
                if self._announced != self.watch.outages:
                    self._announced = self.watch.outages
                    delay = FIRST_DELAY  # a new outage; else the backoff goes on growing
                _LOGGER.warning(
                    "the job queue lost its database (%s); reconnecting, giving up %g s after "
                    "it went",
                    self.watch.reason or "its worker stopped",
                    self.watch.give_up_after,
                )
                if not await self.watch.wait(stop, delay=delay):
                    return
                delay = min(delay * 2, MAX_DELAY)  # if it fails again at once
                try:
                    await self._resume()
                except Exception as exc:
                    if not connection_lost(exc):
                        raise
                    self.watch.lost(exc)
                    continue
                self.stats.resumed += 1
                _LOGGER.warning(
                    "the database answers again; the job queue resumes, %.1f s after it stopped",
                    self.watch.clock() - lost_at,
                )
            cause: BaseException | None = None
            try:
                await self._run_queue(stop)
            except Exception as exc:
                if not connection_lost(exc):
                    raise
                cause = exc
            if stop.is_set():
                return
            # Ended while not asked to (procrastinate stops when a side task fails), or failed:
            # either way the database went away, or the pool found no working connection.
            self.watch.lost(cause)
            lost = True
            lost_at = self.watch.clock()

    async def _run_queue(self, stop: asyncio.Event) -> None:
        """Run procrastinate's worker until it ends or ``stop`` is set. After an outage, the
        outage ends once the queue has run :data:`HEALTHY_AFTER` seconds and the database
        answers a probe."""
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
            if self.watch.down:
                done, _ = await asyncio.wait(
                    {worker, stopping}, timeout=HEALTHY_AFTER, return_when=asyncio.FIRST_COMPLETED
                )
                if not done and await self.watch.answers():
                    self.watch.recovered()
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            elif worker.exception() is not None:
                raise worker.exception()  # type: ignore[misc]

    async def _resume(self) -> None:
        """Once the database answers again: release the sync locks syncs could not release
        as it went, and run the tick (the jobs the outage left running go back in the queue
        once their worker counts as stopped; pending intents are enqueued)."""
        await self.engine.release_stale_locks()
        await self.tick()

    # ------------------------------------------------------------------ the jobs

    async def sync_user(self, user_id: str, attempt: int = 0) -> None:
        """One sync of ``user_id``; retries, follow-ups and ``failed`` as the coordinator. If
        the database goes away meanwhile, the sync runs again once it is back."""
        try:
            await self._sync_user(user_id, attempt)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            await self._after_outage(user_id, attempt, exc)

    async def _after_outage(self, user_id: str, attempt: int, exc: Exception) -> None:
        """The database went away during the sync: what it did not commit is not lost (the
        intent stays pending, the claims written ahead stay owned). Wait for the database
        (the worker's limit applies), then queue the sync again as a new job, as every retry
        here is; the job itself ends well. (Procrastinate's own retry would put this very job
        back in the queue, which the user's queueing lock refuses while a newer job waits:
        the job would stay ``doing`` and hold the user's lock.) The attempt is not counted:
        the outage is not the user's."""
        self.watch.lost(exc)
        _LOGGER.warning(
            "sync of %s interrupted: the database went away (%s); it runs again once the "
            "database answers",
            user_id,
            self.watch.reason,
        )
        while True:
            if not await self.watch.wait(self._stop):
                raise exc  # stopping: another worker's recovery runs it (heartbeat stopped)
            try:
                await self.engine.release_stale_locks(user_id)
                await enqueue_sync(self.app, user_id, attempt=attempt)
            except Exception as again:
                if not connection_lost(again):
                    raise
                self.watch.lost(again)
                continue
            self.stats.interrupted += 1
            return

    async def _sync_user(self, user_id: str, attempt: int) -> None:
        user = await self.store.job_started(user_id)
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
        for listener in list(self._listeners):
            try:
                told = listener(user_id, result)
                if told is not None:
                    await told
            except Exception:
                _LOGGER.exception("a sync listener failed after the sync of %s", user_id)
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
        # Intent recorded while the sync ran (its generation moved): one follow-up. The commit
        # said whether any was (one recorded after it finds the user's job not queued and
        # queues one itself), so the common case reads nothing more; when it was, the user is
        # read again (deleted meanwhile: no follow-up).
        if result.pending_after is False:
            return
        fresh = await self.store.get_user(user_id)
        if fresh is not None and pending(fresh) and await enqueue_sync(self.app, user_id):
            self.stats.follow_ups += 1

    async def _tick(self, timestamp: int) -> None:
        del timestamp
        try:
            await self.tick()
        except Exception as exc:
            if not connection_lost(exc):
                raise
            # The next period's tick does the work; this job ends once the database is back
            # (so its row is not left running, nor ``failed``).
            self.watch.lost(exc)
            await self.watch.wait(self._stop)

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
            except pq_exceptions.ConnectorException as exc:
                if connection_lost(exc):
                    raise
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
