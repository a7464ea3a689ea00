"""Per-user sync coordination, in the style of Home Assistant's update coordinator.

* At most one sync per user at a time. Requests that arrive while a sync runs fold into **one**
  follow-up sync, however many there were.
* Users share the application's rate limit, so at most ``max_concurrent`` syncs run at once and
  waiting users are served first come, first served.
* Pending work is data, not tasks: a request queues the user id (once, however many requests;
  a ``full`` one upgrades the queued entry) and at most ``max_concurrent`` worker tasks take
  ids from the queue, started when ids are queued and ended when none is left. A burst for
  10,000 users is a queue of 10,000 ids, not 10,000 tasks. A user waiting out a retry delay
  has a small task of its own until it is queued again.
* Every failure ends in success, a retry later (bounded, with backoff, honouring
  ``Retry-After``), or a visible ``needs_reauth`` / ``failed`` state; never a silent drop.
* Intent is durable (recorded in the store before a notification is acknowledged), so
  :meth:`SyncCoordinator.start` resumes whatever a crash interrupted.
* A scheduler requests the regular full reconcile Cronofy advises (daily by default). It
  survives any failing round (logged with its cause) and backs off per user for users in
  ``failed``, whom only a person can fix.
* Another process syncing the same user (the store's sync lock) is not a failure: the sync is
  retried after the first retry delay, without counting towards giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import aiohttp

from cronofy_avail.client.api import CronofyClient, OAuthTokens
from cronofy_avail.client.ratelimit import RateLimiter
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.runtime.progress import ProgressCallback, SyncProgress
from cronofy_avail.runtime.store import Store, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine, SyncResult

_LOGGER = logging.getLogger(__name__)

SyncListener = Callable[[str, SyncResult], Awaitable[None] | None]
BeforeSync = Callable[[str], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class UserClients:
    """Builds a :class:`CronofyClient` per user on one shared session and rate limiter, and
    persists renewed tokens (into the store and into the record being synced)."""

    def __init__(
        self,
        store: Store,
        *,
        client_id: str,
        client_secret: str,
        data_center: str = "us",
        api_base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        rate_limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.client_id = client_id
        self._client_secret = client_secret
        self.data_center = data_center
        self.api_base_url = api_base_url
        self.session = session
        self.rate_limiter = rate_limiter
        self.retry = retry
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"UserClients(client_id={self.client_id!r}, api_base_url={self.api_base_url!r})"

    def for_user(self, user: UserRecord) -> CronofyClient:
        creds = user.credentials
        store = self.store

        async def on_tokens(tokens: OAuthTokens) -> None:
            fresh = StoredCredentials(
                tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scope
            )
            user.credentials = fresh  # the sync's own copy commits the new tokens too
            await store.save_credentials(user.user_id, fresh)

        return CronofyClient(
            access_token=creds.access_token if creds else None,
            refresh_token=creds.refresh_token if creds else None,
            expires_at=creds.expires_at if creds else None,
            client_id=self.client_id,
            client_secret=self._client_secret,
            data_center=self.data_center,
            api_base_url=self.api_base_url,
            session=self.session,
            rate_limiter=self.rate_limiter,
            retry=self.retry,
            on_tokens=on_tokens,
            sleep=self._sleep,
        )


ClientFactory = Callable[[UserRecord], CronofyClient]

RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
"""The waits (seconds) between a failed sync and its retries, in a process or a cluster."""


@dataclass(slots=True)
class _Slot:
    """A user with work: queued, running, waiting to retry, or in a ``sync_now``. Made on
    the first request and forgotten once idle, so it costs memory only while there is work."""

    requested: bool = False
    """A sync is wanted: the queued one, or one more after the running one."""
    full: bool = False
    queued: bool = False
    """The user id is in the pending queue (at most once)."""
    running: bool = False
    """A worker has taken it from the queue and not finished with it."""
    retry: asyncio.Task[None] | None = None
    """Waiting out a retry delay; then queued again."""
    failures: int = 0
    lock: asyncio.Lock | None = None
    """Held around every sync of the user, by the worker and by sync_now alike (made when
    first needed)."""
    callers: int = 0
    """``sync_now`` calls holding or waiting for ``lock``."""

    def sync_lock(self) -> asyncio.Lock:
        if self.lock is None:
            self.lock = asyncio.Lock()
        return self.lock


@dataclass(slots=True, eq=False)
class _ProgressListener:
    callback: ProgressCallback
    failed: bool = False
    """It raised once already (logged with its traceback; later failures at debug)."""


@dataclass(slots=True)
class CoordinatorStats:
    """Counts for tests, status pages and benchmarks."""

    requests: Counter[str] = field(default_factory=Counter)
    syncs: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)


class SyncRequests(Protocol):
    """Where a receiver hands a recorded intent on: a :class:`SyncCoordinator` (syncs in this
    process) or a cluster's queue (workers sync). The intent is already durable when
    :meth:`request` is called; the request only says "sync this user soon"."""

    @property
    def stats(self) -> CoordinatorStats: ...

    def request(self, user_id: str, *, full: bool = False) -> None: ...

    def add_listener(self, listener: SyncListener) -> Callable[[], None]:
        """Be told of each sync's result; returns the function that removes the listener."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def _cancel_and_wait(tasks: Collection[asyncio.Task[None]], bound: float) -> None:
    """Cancel ``tasks`` and wait (at most ``bound`` seconds) until each has ended, its
    clean-up done; a cancel of the caller meanwhile is raised once they have."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    waiting = asyncio.ensure_future(asyncio.wait(tasks, timeout=bound))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        await waiting
        raise


class SyncCoordinator:
    """Runs syncs for many users: single flight per user, coalescing, retries, scheduling."""

    def __init__(
        self,
        store: Store,
        engine: SyncEngine,
        client_factory: ClientFactory,
        *,
        max_concurrent: int = 4,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        schedule_every: float | None = 300.0,
        grace: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        failed_backoff_max: float = 6 * 3600.0,
        hold_until_start: bool = False,
        before_sync: BeforeSync | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.client_factory = client_factory
        self.retry_delays = tuple(retry_delays)
        self.schedule_every = schedule_every
        self.grace = grace
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.max_concurrent = max_concurrent
        self._semaphore = asyncio.Semaphore(max_concurrent)
        """Syncs at once, the workers' and ``sync_now``'s together."""
        self._slots: dict[str, _Slot] = {}
        self._queue: deque[str] = deque()
        """Users waiting for a worker, first come first served; each at most once."""
        self._workers: set[asyncio.Task[None]] = set()
        """At most ``max_concurrent``: started when users are queued, ended when none is."""
        self._active = 0
        """Workers handling a user (the others are about to take one from the queue)."""
        self._retries: set[asyncio.Task[None]] = set()
        """One per user waiting out a retry delay (a failed sync; another process's lock)."""
        self._syncing: set[str] = set()
        self._listeners: list[SyncListener] = []
        self._progress_listeners: list[_ProgressListener] = []
        self._scheduler: asyncio.Task[None] | None = None
        self.failed_backoff_max = failed_backoff_max
        self._failed_rounds: dict[str, int] = {}
        """Scheduler rounds still to skip, and the current skip length, per ``failed`` user."""
        self._failed_skip: dict[str, int] = {}
        self._stopping = False
        self._held = hold_until_start
        """Requests are queued, not run, until :meth:`start` (``serve``: after its checks)."""
        self.before_sync = before_sync
        """Awaited with the user id before each of the worker's syncs, by the worker that took
        the user from the queue, before the sync's turn in the concurrency limit (``serve``
        checks a user's channel at Cronofy before its first sync there). What it raises is
        logged; the sync goes ahead."""
        self.stats = CoordinatorStats()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resume interrupted work (durable intent), run requests held until now, and start
        the reconcile scheduler."""
        self._stopping = False
        self._held = False
        self._spawn()
        for user in await self.store.list_users():
            if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
                continue
            if user.pending_since is not None or user.pending_full or user.pending_at:
                _LOGGER.info("resuming pending sync for %s", user.user_id)
                self.request(user.user_id)
        if self.schedule_every is not None and self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule_loop())

    async def stop(self) -> None:
        """Stop scheduling; let running syncs finish within ``grace`` seconds, then cancel.

        A stop that is itself cancelled (a second Ctrl-C), or called while its caller is being
        cancelled (the clean-up on the way out of one), does not wait: it cancels the running
        syncs and waits only for them to end, so nothing they do outlives the store they use.
        Nothing is lost by cancelling: intent is in the store and the watermark only moves
        after a complete sync.
        """
        self._stopping = True
        if self._scheduler is not None:
            scheduler, self._scheduler = self._scheduler, None
            scheduler.cancel()
            # Waited for, not awaited: a cancel of this stop is this stop's, not swallowed
            # as the scheduler's.
            await asyncio.wait([scheduler])
            if not scheduler.cancelled() and scheduler.exception() is not None:
                _LOGGER.error(
                    "the reconcile scheduler had stopped on an error",
                    exc_info=scheduler.exception(),
                )
        # No follow-ups, queued syncs or retries once stopping: the intent is in the store.
        self._queue.clear()
        for slot in self._slots.values():
            slot.requested = slot.queued = False
        await _cancel_and_wait(list(self._retries), self.grace)
        for user_id, slot in list(self._slots.items()):
            self._evict_if_idle(user_id, slot)
        tasks = list(self._workers)
        if not tasks:
            return
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            await _cancel_and_wait(tasks, self.grace)
            return
        try:
            _, pending = await asyncio.wait(tasks, timeout=self.grace)
        except asyncio.CancelledError:
            await _cancel_and_wait(tasks, self.grace)
            raise
        await _cancel_and_wait(pending, self.grace)

    def add_listener(self, listener: SyncListener) -> Callable[[], None]:
        """Call ``listener(user_id, result)`` after each sync; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_progress_listener(self, callback: ProgressCallback) -> Callable[[], None]:
        """Call ``callback(progress)`` with each :class:`SyncProgress` of every user's syncs
        (pages read, writes applied, then ``done``); returns a remover (calling it twice is
        harmless). Called synchronously in the sync's task, so it must return quickly; what
        it raises is logged (its first failure with the traceback, later ones at debug) and
        never fails the sync. A sync that started before any listener was added reports
        nothing; with no listener the engine makes no reports at all."""
        entry = _ProgressListener(callback)
        self._progress_listeners.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._progress_listeners.remove(entry)

        return remove

    def _report_progress(self, progress: SyncProgress) -> None:
        for entry in tuple(self._progress_listeners):
            try:
                entry.callback(progress)
            except Exception:
                if entry.failed:
                    _LOGGER.debug("sync progress listener failed again", exc_info=True)
                else:
                    entry.failed = True
                    _LOGGER.exception("sync progress listener failed")

    # ------------------------------------------------------------------ requests

    def request(self, user_id: str, *, full: bool = False) -> None:
        """Ask for a sync of ``user_id``; folds into a queued one, or into a running one's
        follow-up. Never blocks: the user id is queued for one of at most
        ``max_concurrent`` workers, no task is made per user."""
        if self._stopping:
            return
        self.stats.requests[user_id] += 1
        slot = self._slots.get(user_id)
        if slot is None:  # made only when needed: this runs on every acknowledgement
            slot = self._slots[user_id] = _Slot()
        slot.requested = True
        slot.full = slot.full or full
        self._enqueue(user_id, slot)

    def is_busy(self, user_id: str) -> bool:
        """A sync of ``user_id`` is queued, running, or waiting to retry."""
        slot = self._slots.get(user_id)
        if slot is None:
            return False
        return slot.running or slot.retry is not None or (slot.queued and not self._held)

    def is_syncing(self, user_id: str) -> bool:
        """A sync of ``user_id`` has started talking to Cronofy and not yet finished.

        Requests made before that point are covered by the sync about to start; requests made
        after it fold into one follow-up.
        """
        return user_id in self._syncing

    async def wait_idle(self) -> None:
        """Wait until no sync is running or requested (tests, demos, graceful stops).

        Bound it with ``asyncio.timeout`` where a caller must not wait forever.
        """
        while True:
            tasks = [*self._workers, *self._retries]
            if not tasks:
                return
            await asyncio.wait(tasks)

    async def sync_now(
        self, user_id: str, *, full: bool | None = None, dry_run: bool = False
    ) -> SyncResult:
        """Run one sync right away and return its result (CLI, notebooks). Waits for a
        running sync of the same user first, so single flight holds."""
        slot = self._slots.setdefault(user_id, _Slot())
        slot.callers += 1
        try:
            async with slot.sync_lock(), self._semaphore:
                return await self._sync_once(user_id, full=full, dry_run=dry_run)
        finally:
            slot.callers -= 1
            self._evict_if_idle(user_id, slot)

    def _evict_if_idle(self, user_id: str, slot: _Slot) -> None:
        """Forget an idle user's slot (nothing requested, queued, running or waiting): at
        10,000 users, per-user state must not outlive the work. The next request makes a new
        one. A slot still used by anybody stays, so single flight holds."""
        if slot.requested or slot.queued or slot.running or slot.retry is not None:
            return
        if slot.callers or (slot.lock is not None and slot.lock.locked()):
            return
        if self._slots.get(user_id) is slot:
            del self._slots[user_id]

    def _enqueue(self, user_id: str, slot: _Slot) -> None:
        """Queue a requested user unless it is queued, running (its worker queues the
        follow-up) or waiting to retry (the retry queues it); start a worker if one is free."""
        if slot.queued or slot.running or slot.retry is not None or not slot.requested:
            return
        slot.queued = True
        self._queue.append(user_id)
        if not self._held:
            self._spawn()

    def _spawn(self) -> None:
        """Start workers for the queued users, up to ``max_concurrent`` in all."""
        if self._stopping:
            return
        while len(self._workers) < self.max_concurrent and (
            len(self._workers) - self._active < len(self._queue)
        ):
            task = asyncio.create_task(self._worker())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    # ------------------------------------------------------------------ internals

    async def _sync_once(
        self, user_id: str, *, full: bool | None, dry_run: bool = False
    ) -> SyncResult:
        user = await self.store.get_user(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id!r}")
        client = self.client_factory(user)
        self._syncing.add(user_id)
        try:
            progress = self._report_progress if self._progress_listeners else None
            result = await self.engine.sync(
                user, client, full=full, dry_run=dry_run, progress=progress
            )
        finally:
            self._syncing.discard(user_id)
            await client.close()
        self.stats.syncs[user_id] += 1
        for listener in list(self._listeners):
            try:
                outcome = listener(user_id, result)
                if outcome is not None:
                    await outcome
            except Exception:
                _LOGGER.exception("sync listener failed")
        return result

    async def _worker(self) -> None:
        """Take users from the queue, one sync attempt each, until the queue is empty."""
        try:
            await self._take_from_queue()
        finally:
            # Out of the set the moment it ends, with no await in between: a user queued from
            # now on starts a worker of its own (a done callback would come a turn later).
            task = asyncio.current_task()
            if task is not None:
                self._workers.discard(task)

    async def _take_from_queue(self) -> None:
        while self._queue and not self._stopping:
            user_id = self._queue.popleft()
            slot = self._slots.get(user_id)
            if slot is None or not slot.queued:  # stopped and started again meanwhile
                continue
            slot.queued = False
            slot.running = True
            self._active += 1
            try:
                await self._attempt(user_id, slot)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug or a broken store, not a Cronofy answer: make it visible. The intent
                # stays in the store, so the next notification, start() or reconcile picks
                # it up.
                _LOGGER.exception("sync worker for %s crashed", user_id)
                with contextlib.suppress(Exception):
                    await self._mark_failed(user_id, "internal error; see the server log")
            finally:
                self._active -= 1
                slot.running = False
                if self._stopping:
                    slot.requested = False
                # A request during the sync: once more, behind the users already waiting.
                self._enqueue(user_id, slot)
                self._evict_if_idle(user_id, slot)

    async def _attempt(self, user_id: str, slot: _Slot) -> None:
        """One sync of the user; a retry is left to :meth:`_retry_later`, a follow-up to
        the worker."""
        slot.requested = False
        full, slot.full = slot.full, False
        user = await self.store.get_user(user_id)
        if user is None:
            _LOGGER.warning("sync requested for unknown user %s", user_id)
            slot.requested = slot.full = False
            return
        if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
            _LOGGER.info("not syncing %s: %s", user_id, user.state)
            slot.requested = slot.full = False
            return
        if self.before_sync is not None:
            try:
                await self.before_sync(user_id)
            except Exception:
                _LOGGER.exception("the check before syncing %s failed", user_id)
        async with slot.sync_lock(), self._semaphore:
            result = await self._sync_once(user_id, full=True if full else None)
        if result.busy:
            # Another process is syncing this user: not a failure, just not our turn.
            self.stats.retries[user_id] += 1
            self._retry_later(
                user_id, slot, full, self.retry_delays[0] if self.retry_delays else 1.0
            )
            return
        if not result.retryable:
            slot.failures = 0
            return
        slot.failures += 1
        if slot.failures > len(self.retry_delays):
            await self._mark_failed(
                user_id, f"gave up after {slot.failures} attempts: {result.error}"
            )
            slot.failures = 0
            slot.requested = slot.full = False
            return
        delay = self.retry_delays[slot.failures - 1]
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
        delay *= 1.0 + self._rng.uniform(0.0, 0.1)
        self.stats.retries[user_id] += 1
        _LOGGER.info("retrying sync of %s in %.1fs", user_id, delay)
        self._retry_later(user_id, slot, full, delay)

    def _retry_later(self, user_id: str, slot: _Slot, full: bool, delay: float) -> None:
        """Queue the user again after ``delay`` seconds (requests meanwhile fold into it)."""
        slot.requested = True
        slot.full = slot.full or full
        task = asyncio.create_task(self._wait_to_retry(user_id, slot, delay))
        slot.retry = task
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _wait_to_retry(self, user_id: str, slot: _Slot, delay: float) -> None:
        try:
            await self._sleep(delay)
        finally:
            slot.retry = None
            if self._stopping:
                slot.requested = False
                self._evict_if_idle(user_id, slot)
        self._enqueue(user_id, slot)

    async def _mark_failed(self, user_id: str, message: str) -> None:
        await self.store.set_state(user_id, UserState.FAILED, message)

    async def _schedule_loop(self) -> None:
        """Request due reconciles every ``schedule_every`` seconds, forever.

        A round that fails (a store error, a bug) is logged with its cause and the next round
        runs as usual: the reconcile is the safety net for every other miss.
        """
        assert self.schedule_every is not None
        while True:
            await self._sleep(self.schedule_every)
            try:
                await self.schedule_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("reconcile scheduling round failed; trying again next round")

    async def schedule_round(self) -> None:
        """One scheduler round: request a full reconcile for every user due one.

        The store is asked only for the users due (``Store.list_due_users``, an indexed
        query), not for every user: at 10,000 users a round reads the few due. A user it
        returns that turns out not to be due (a row from before its due time was stored) gets
        its due time written, so the next rounds skip it.

        Users in ``failed`` are retried with a per-user backoff (1, 2, 4 … rounds skipped, up to
        ``failed_backoff_max`` seconds): a person must fix them, hammering the API cannot.
        """
        now = self.engine.clock()
        failed: set[str] = set()
        later: dict[str, datetime] = {}
        for user in await self.store.list_due_users(now):
            if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
                continue
            if user.state == UserState.FAILED:
                failed.add(user.user_id)
                if self._failed_rounds.get(user.user_id, 0) > 0:
                    self._failed_rounds[user.user_id] -= 1
                    continue
                assert self.schedule_every is not None
                limit = max(1, int(self.failed_backoff_max // max(self.schedule_every, 1e-9)))
                skip = min(limit, max(1, 2 * self._failed_skip.get(user.user_id, 0)))
                self._failed_skip[user.user_id] = skip
                self._failed_rounds[user.user_id] = skip
            if not user.calendar_id:
                continue
            if self.engine.needs_full(user, now):
                self.request(user.user_id, full=True)
                continue
            due = self.engine.reconcile_due(user)
            if due is not None and (user.reconcile_due_at is None or user.reconcile_due_at < due):
                later[user.user_id] = due
        # Every user in ``failed`` is listed each round: one not listed has left it.
        for user_id in [u for u in self._failed_skip if u not in failed]:
            self._failed_rounds.pop(user_id, None)
            self._failed_skip.pop(user_id, None)
        if later:
            await self.store.set_reconcile_due(later)
