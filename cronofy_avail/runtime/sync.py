"""Apply plans to Cronofy, and run a user's incremental sync or full reconcile.

* :class:`PlanRunner` applies a :class:`~cronofy_avail.core.planner.Plan` through ``POST /v1/batch``
  (50 entries a call), falls back to single calls when batch is unavailable (402/403/404 on the
  batch endpoint), reads per-entry 207 results, and treats deleting a missing period as success.
  A rejected entry (4xx for that entry) is reported and not retried: retrying cannot help. A
  transient failure (429, 5xx, transport) stops the run so the caller can retry later.
* :class:`SyncEngine` runs one sync for one user: it reads **every** page before writing
  anything, plans, applies, and commits the new watermark only when every write succeeded
  (rejections aside). It decides when an incremental sync must become a full reconcile.

Nothing is lost between Cronofy and the store:

* the user's sync lock (in the store, so shared by every process on the same database) is held
  around read, plan, apply and commit; a second process gets ``busy`` ("another process is
  syncing this user") and changes nothing. Each sync has its own owner id. A sync re-checks
  (and renews) its lease as it claims (in the claims' own statement or transaction; with
  nothing to claim, on its own before applying) and before every further 50 writes, and its
  commit is conditional on still holding it (same transaction): a sync that stalled past its
  lease and lost the lock stops, writes no more and records nothing (``busy``);
* every period id about to be upserted is *claimed* in the store before it is sent
  (write-ahead); a crash or a failed commit leaves a claim, which the next sync treats as owned;
  a claim is released (its period found absent, or its delete answered 404) only once no write
  of it can still land (``in_flight`` after the claim), so a slow upsert landing late is still
  owned;
* a commit records only the plan's changes, never a whole ownership set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import (
    AuthenticationError,
    CronofyAPIError,
    CronofyError,
    ForbiddenError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    ReauthorizationRequiredError,
    error_for_status,
)
from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.outcomes import PERIODS_PATH as PERIODS_PATH
from cronofy_avail.core.outcomes import SyncResult as SyncResult
from cronofy_avail.core.outcomes import batch_entry, reconcile_slot, state_for
from cronofy_avail.core.outcomes import rejects_entry as rejects_entry
from cronofy_avail.core.planner import (
    Action,
    ActionKind,
    OwnershipChanges,
    Plan,
    plan_changes,
    plan_reconcile,
)
from cronofy_avail.runtime.progress import ProgressCallback, ProgressReport
from cronofy_avail.runtime.store import LockLost, SyncStore, UserRecord, UserState, lock_owner

_LOGGER = logging.getLogger(__name__)

BUSY_MESSAGE = "another process is syncing this user; try again when it has finished"
LOST_MESSAGE = (
    "this sync's lock on the user ran out and another process took it over; "
    "it stopped without writing more and recorded nothing"
)

Checkpoint = Callable[[], Awaitable[None]]
OnWrites = Callable[["ApplyResult"], None]
"""Told the run's result so far after each write call answered (a batch call: up to 50)."""


@dataclass(slots=True)
class ApplyResult:
    """What applying a plan did."""

    applied: list[Action] = field(default_factory=list)
    rejected: list[tuple[Action, str]] = field(default_factory=list)
    not_applied: list[Action] = field(default_factory=list)
    error: CronofyError | None = None

    @property
    def complete(self) -> bool:
        """Every write was either applied or definitively rejected."""
        return self.error is None and not self.not_applied

    @property
    def failed(self) -> list[Action]:
        return [a for a, _ in self.rejected] + self.not_applied


class PlanRunner:
    """Applies plans for one client. Remembers when the batch endpoint is unavailable."""

    def __init__(self, client: CronofyClient, *, use_batch: bool = True) -> None:
        self.client = client
        self.use_batch = use_batch
        self._checkpoint: Checkpoint | None = None
        self._on_writes: OnWrites | None = None

    async def _check(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint()

    async def apply(
        self,
        plan: Plan,
        *,
        checkpoint: Checkpoint | None = None,
        on_writes: OnWrites | None = None,
    ) -> ApplyResult:
        """Apply the plan's writes. ``checkpoint`` is awaited before every 50 writes (a sync
        re-checks its lock there); what it raises stops the run and propagates. ``on_writes``
        is called with the result so far after each write call is answered (progress): the
        writes run one call after another, so its counts only grow, except that a fallback
        to single calls (batch unavailable on the first call, nothing applied) starts again
        from an empty result."""
        writes = list(plan.writes)
        result = ApplyResult()
        if not writes:
            return result
        self._checkpoint = checkpoint
        self._on_writes = on_writes
        if self.use_batch:
            try:
                await self._apply_batch(writes, result)
                return result
            except (NotFoundError, ForbiddenError, PaymentRequiredError) as exc:
                _LOGGER.warning("batch endpoint unavailable (%s); using single calls", exc.status)
                self.use_batch = False
                result = ApplyResult()
        await self._apply_single(writes, result)
        return result

    async def _apply_batch(self, writes: list[Action], result: ApplyResult) -> None:
        done = 0
        try:
            # One call per 50 entries: a failure after the first chunk leaves the rest unapplied.
            for offset in range(0, len(writes), 50):
                chunk = writes[offset : offset + 50]
                await self._check()
                outcomes = await self.client.batch(batch_entry(a) for a in chunk)
                for action, outcome in zip(chunk, outcomes, strict=True):
                    self._record(action, outcome.status, outcome.data, result)
                done = offset + len(chunk)
                if self._on_writes is not None:
                    self._on_writes(result)
        except (NotFoundError, ForbiddenError, PaymentRequiredError):
            if done == 0:
                raise
            result.error = CronofyError("batch endpoint became unavailable mid-run")
            result.not_applied.extend(writes[done:])
        except CronofyError as exc:
            result.error = exc
            result.not_applied.extend(writes[done:])

    @staticmethod
    def _record(action: Action, status: int, data: Any, result: ApplyResult) -> None:
        if 200 <= status < 300 or (action.kind == ActionKind.DELETE and status == 404):
            result.applied.append(action)
        elif rejects_entry(status):
            result.rejected.append((action, f"HTTP {status}: {data}"))
        else:
            result.not_applied.append(action)
            if result.error is None:
                body = json.dumps(data).encode() if data is not None else b""
                result.error = error_for_status(status, body, method="POST", url=PERIODS_PATH)

    async def _apply_single(self, writes: list[Action], result: ApplyResult) -> None:
        for index, action in enumerate(writes):
            if index % 50 == 0:
                await self._check()
            try:
                if action.kind == ActionKind.UPSERT:
                    assert action.period_id and action.start and action.end
                    await self.client.upsert_available_period(
                        action.period_id, action.start, action.end
                    )
                else:
                    assert action.period_id
                    await self.client.delete_available_period(action.period_id)
            except ValueError as exc:
                # Refused before sending (the request models validate like Cronofy): the same
                # verdict a 422 would give, without the round trip.
                result.rejected.append((action, f"invalid: {exc}"))
                if self._on_writes is not None:
                    self._on_writes(result)
                continue
            except CronofyAPIError as exc:
                if exc.status is not None and rejects_entry(exc.status):
                    result.rejected.append((action, str(exc)))
                    if self._on_writes is not None:
                        self._on_writes(result)
                    continue
                result.error = exc
                result.not_applied.extend(writes[index:])
                return
            except CronofyError as exc:
                result.error = exc
                result.not_applied.extend(writes[index:])
                return
            result.applied.append(action)
            if self._on_writes is not None:
                self._on_writes(result)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SyncEngine:
    """Runs syncs for users with one client per user (``client_for``)."""

    def __init__(
        self,
        store: SyncStore,
        *,
        policy_for: Callable[[UserRecord], MappingPolicy] | None = None,
        overlap: timedelta = timedelta(minutes=2),
        served_overlap: timedelta = timedelta(seconds=2),
        max_incremental_age: timedelta = timedelta(days=7),
        reconcile_every: timedelta | None = timedelta(days=1),
        window_back: timedelta = timedelta(days=1),
        window_ahead: timedelta = timedelta(days=201),
        use_batch: bool = True,
        clock: Callable[[], datetime] = _utcnow,
        lock_ttl: float = 60.0,
        in_flight: timedelta = timedelta(minutes=10),
    ) -> None:
        self.store = store
        self.policy_for = policy_for or (lambda user: MappingPolicy(tzid=user.tzid))
        self.overlap = overlap
        """Read again this much before the sync's start on *this machine's* clock: used only
        when Cronofy's answer carried no ``Date`` (clocks differ, so it is generous)."""
        self.served_overlap = served_overlap
        """Read again this much before Cronofy's own clock at the last read (its ``Date``,
        rounded down to the second, less the request's round trip): small, since no clocks
        are compared; it covers the spread between Cronofy's own servers' clocks."""
        self.max_incremental_age = max_incremental_age
        self.reconcile_every = reconcile_every
        self.window_back = window_back
        self.window_ahead = window_ahead
        self.use_batch = use_batch
        self.clock = clock
        self.lock_ttl = lock_ttl
        self.in_flight = in_flight
        """The longest a write can stay in flight (a request that timed out here may still
        land at Cronofy this long after it was sent): a claim is released only by a sync that
        started at least this long after the claim (or by the sync that made it)."""
        self.owner = lock_owner()
        """This engine's id in the store's sync locks."""
        self._no_batch: set[str] = set()
        """Users whose account answered that the batch endpoint is unavailable."""
        self._unreleased: dict[str, str] = {}
        """The sync lock owner of each user whose finished sync could not release its lock
        (the store was unreachable as it ended): see :meth:`release_stale_locks`."""

    def needs_full(self, user: UserRecord, now: datetime) -> bool:
        """A full reconcile is due: never synced, asked for, too old a watermark, or scheduled."""
        if user.pending_full or user.watermark is None:
            return True
        since = user.watermark
        if user.pending_since is not None:
            since = min(since, user.pending_since)
        if now - since > self.max_incremental_age:
            return True
        if self.reconcile_every is None:
            return False
        last = user.last_reconcile_at
        return last is None or last < reconcile_slot(user.user_id, now, self.reconcile_every)

    def reconcile_due(self, user: UserRecord) -> datetime | None:
        """The first moment :meth:`needs_full` can turn true for ``user`` as its sync state
        stands (its watermark growing too old, or its next reconcile slot); ``None`` when it is
        true already (never synced or never reconciled).

        Stored as ``reconcile_due_at`` with each commit, so a scheduler round asks the store
        only for the users due instead of every user. A pending intent (``pending_full``
        included) is not counted in: the store selects users with one anyway. Never later
        than the truth (the scheduler would miss a reconcile); computed with other settings
        (a shorter ``reconcile_every`` after a restart) it may be, until the user's next sync.
        """
        if user.watermark is None:
            return None
        due = user.watermark + self.max_incremental_age
        if self.reconcile_every is not None:
            last = user.last_reconcile_at
            if last is None:
                return None
            due = min(
                due, reconcile_slot(user.user_id, last, self.reconcile_every) + self.reconcile_every
            )
        return due

    async def _commit(
        self, user: UserRecord, changes: OwnershipChanges, **kwargs: Any
    ) -> UserRecord:
        """``store.commit_sync`` with the user's next reconcile time (see :meth:`reconcile_due`)."""
        user.reconcile_due_at = self.reconcile_due(user)
        return await self.store.commit_sync(user, changes, **kwargs)

    async def release_stale_locks(self, user_id: str | None = None) -> int:
        """Release the sync locks (of ``user_id``, or of every user) that this engine's
        finished syncs could not release because the store was unreachable as they ended.
        Without this the user's next sync, in any process, finds the lock held until its
        lease runs out (``lock_ttl``). Each owner is one finished sync's own, so nobody
        else's lock is touched. Returns how many were released; one the store still cannot
        release is kept for the next call."""
        released = 0
        for uid, owner in list(self._unreleased.items()):
            if user_id is not None and uid != user_id:
                continue
            try:
                await self.store.release_lock(uid, owner)
            except Exception as exc:
                # Still unreachable: the next call tries again, or the lease runs out.
                _LOGGER.debug("sync lock of %s not released yet: %s", uid, exc)
                continue
            if self._unreleased.get(uid) == owner:
                del self._unreleased[uid]
            released += 1
        return released

    @contextlib.asynccontextmanager
    async def _locked(self, user_id: str, owner: str) -> AsyncIterator[bool]:
        """Hold the user's sync lock (renewed while held); yields ``False`` if another holds it."""
        if user_id in self._unreleased:
            await self.release_stale_locks(user_id)
        holder = await self.store.acquire_lock(user_id, owner, ttl=self.lock_ttl)
        if holder is not None:
            _LOGGER.info("not syncing %s: its sync lock is held by %s", user_id, holder)
            yield False
            return

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lock_ttl / 3)
                try:
                    holder = await self.store.acquire_lock(user_id, owner, ttl=self.lock_ttl)
                    if holder is not None:
                        # The lease ran out (a stalled process) and another took it. The sync
                        # stops at its next checkpoint and its commit is refused.
                        _LOGGER.warning("the sync lock of %s passed to %s", user_id, holder)
                        return
                except Exception:
                    _LOGGER.warning("could not renew the sync lock of %s", user_id, exc_info=True)

        renewer = asyncio.create_task(renew())
        try:
            yield True
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await asyncio.shield(self.store.release_lock(user_id, owner))
            except Exception:
                # Released later (release_stale_locks), or the lease runs out on its own; the
                # sync's outcome matters more.
                self._unreleased[user_id] = owner
                _LOGGER.warning("could not release the sync lock of %s", user_id, exc_info=True)

    async def sync(
        self,
        user: UserRecord,
        client: CronofyClient,
        *,
        full: bool | None = None,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """One sync for ``user``; ``full=None`` lets the engine decide. Never raises a
        :class:`CronofyError`: the outcome, state and error are in the result (and stored).

        The user's sync lock is held throughout (a dry run writes nothing and takes none); if
        another process holds it the result is ``busy`` and nothing was read or written.

        ``progress``, if given, receives a :class:`~cronofy_avail.runtime.progress.SyncProgress`
        after each page of events read, when the plan is known, after each write call, and a
        last one (``done``) however the sync ends; a busy sync reports nothing. What it raises
        is logged and ignored.
        """
        if not user.calendar_id:
            raise ValueError(f"user {user.user_id!r} has no sub calendar yet (run step 1)")
        if dry_run:
            return await self._sync(user, client, full=full, dry_run=True, progress=progress)
        # One owner id per sync: two syncs of one user in one process exclude each other too.
        owner = f"{self.owner}:{uuid.uuid4().hex[:8]}"
        try:
            async with self._locked(user.user_id, owner) as held:
                if not held:
                    return self._busy(full, BUSY_MESSAGE)
                stored = await self.store.get_user(user.user_id)
                if stored is not None:
                    # Another process may have synced, or a notification arrived, since the
                    # caller read the user: what a sync reads is what commits and intents wrote.
                    user.apply(stored.outcome()).apply(stored.intent())
                return await self._sync(
                    user, client, full=full, dry_run=False, owner=owner, progress=progress
                )
        except LockLost:
            _LOGGER.warning("sync of %s stopped: %s", user.user_id, LOST_MESSAGE)
            return self._busy(full, LOST_MESSAGE)
        except Exception as exc:
            # Not a Cronofy answer (those are in the result already): the store failed
            # ("database is locked", a dropped connection). Nothing was committed; claims
            # made stay owned. Transient until proven otherwise: retry, do not fail the user.
            _LOGGER.warning(
                "sync of %s hit a store error; it will be retried", user.user_id, exc_info=True
            )
            now = self.clock()
            return SyncResult(
                kind="full" if full else "incremental",
                ok=False,
                started_at=now,
                finished_at=now,
                state=UserState.RETRYING,
                error=f"store error: {type(exc).__name__}: {exc}",
            )

    def _busy(self, full: bool | None, message: str) -> SyncResult:
        now = self.clock()
        return SyncResult(
            kind="full" if full else "incremental",
            ok=False,
            started_at=now,
            finished_at=now,
            state=UserState.RETRYING,
            error=message,
            busy=True,
        )

    async def _still_held(self, user_id: str, owner: str | None) -> None:
        """Renew this sync's lease, or raise :class:`LockLost` if another took it."""
        if owner is None:
            return
        holder = await self.store.acquire_lock(user_id, owner, ttl=self.lock_ttl)
        if holder is not None:
            raise LockLost(f"the sync lock of {user_id} passed to {holder}")

    async def _sync(
        self,
        user: UserRecord,
        client: CronofyClient,
        *,
        full: bool | None,
        dry_run: bool,
        owner: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        started = self.clock()
        do_full = self.needs_full(user, started) if full is None else full
        report = None
        if progress is not None:
            kind = "full" if do_full else "incremental"
            report = ProgressReport(progress, user.user_id, kind, dry_run=dry_run)
        try:
            return await self._run(
                user, client, started, do_full, dry_run=dry_run, owner=owner, report=report
            )
        finally:
            if report is not None:
                report.done()  # however the sync ended: a view stops its bar

    async def _run(
        self,
        user: UserRecord,
        client: CronofyClient,
        started: datetime,
        do_full: bool,
        *,
        dry_run: bool,
        owner: str | None,
        report: ProgressReport | None,
    ) -> SyncResult:
        calls_before = client.stats.requests
        kind = "full" if do_full else "incremental"
        result = SyncResult(
            kind=kind, ok=False, started_at=started, finished_at=started, dry_run=dry_run
        )
        try:
            plan = await self._plan(user, client, started, do_full, result, report)
            result.plan = plan
            counts = plan.counts()
            result.upserts, result.deletes = counts[ActionKind.UPSERT], counts[ActionKind.DELETE]
            result.skips = counts[ActionKind.SKIP]
            if report is not None:
                report.planning_done(len(plan.writes))
            if dry_run:
                result.ok = True
                return self._finish(result, client, calls_before)
            runner = PlanRunner(
                client, use_batch=self.use_batch and user.user_id not in self._no_batch
            )
            # Write-ahead: recorded as owned before Cronofy hears of it. If this fails nothing
            # is sent (the error propagates; the intent stays for the next sync).
            # The claims renew the lock and are written only while it is held (one statement
            # on PostgreSQL), so they stand for the check before applying too; without
            # claims, the check is its own.
            claims = {a.period_id: a.event_uid for a in plan.upserts if a.period_id}
            if claims:
                await self.store.claim_periods(
                    user.user_id,
                    claims,
                    claimed_at=self.clock(),
                    lock_owner=owner,
                    lock_ttl=self.lock_ttl,
                )
            elif plan.writes:
                await self._still_held(user.user_id, owner)
            checked = True

            async def checkpoint() -> None:
                nonlocal checked
                if checked:  # the first, before any write: just done
                    checked = False
                    return
                await self._still_held(user.user_id, owner)

            on_writes: OnWrites | None = (
                None if report is None else lambda r: report.writes(len(r.applied), len(r.rejected))
            )
            applied = await runner.apply(plan, checkpoint=checkpoint, on_writes=on_writes)
            if not runner.use_batch:
                self._no_batch.add(user.user_id)
        except (ReauthorizationRequiredError, AuthenticationError) as exc:
            return await self._failed(
                user, client, calls_before, result, exc, UserState.NEEDS_REAUTH, owner
            )
        except (ForbiddenError, PaymentRequiredError) as exc:
            return await self._failed(
                user, client, calls_before, result, exc, UserState.FAILED, owner
            )
        except CronofyError as exc:
            return await self._failed(
                user, client, calls_before, result, exc, UserState.RETRYING, owner
            )
        result.rejected = len(applied.rejected)
        result.not_applied = len(applied.not_applied)
        state = plan.changes_after(applied.applied, applied.failed)
        if not applied.complete:
            assert applied.error is not None
            self._finish(result, client, calls_before)
            # Keep what did succeed; the watermark and the intent stay for the retry.
            await self._commit(
                self._mark(user, result, applied.error, state_for(applied.error)),
                state,
                started_at=started,
                full=do_full,
                settle=False,
                release_claimed_before=started - self.in_flight,
                lock_owner=owner,
            )
            return result
        result.ok = True
        result.state = UserState.IDLE
        if applied.rejected:
            result.error = "; ".join(f"{a.period_id}: {why}" for a, why in applied.rejected[:5])
        user.watermark = self.next_watermark(result.served_at, started)
        if do_full:
            user.last_reconcile_at = started
        user.state = UserState.IDLE
        user.last_error = result.error
        self._finish(result, client, calls_before)
        user.last_result = result.as_dict()
        user.last_sync_at = result.finished_at
        user.bump(
            syncs=1,
            upserts=len([a for a in applied.applied if a.kind == ActionKind.UPSERT]),
            deletes=len([a for a in applied.applied if a.kind == ActionKind.DELETE]),
            rejected=result.rejected,
            **({"reconciles": 1} if do_full else {}),
        )
        committed = await self._commit(
            user,
            state,
            started_at=started,
            full=do_full,
            release_claimed_before=started - self.in_flight,
            lock_owner=owner,
        )
        result.pending_after = committed.intent().pending
        return result

    def next_watermark(self, served_at: datetime | None, started: datetime) -> datetime:
        """Where the next incremental read starts (``last_modified``): Cronofy's clock when it
        answered this sync's read, less a small overlap; this machine's clock at the sync's
        start less a generous one if Cronofy's answer had no ``Date``."""
        if served_at is not None:
            return served_at - self.served_overlap
        return started - self.overlap

    async def _plan(
        self,
        user: UserRecord,
        client: CronofyClient,
        now: datetime,
        full: bool,
        result: SyncResult,
        report: ProgressReport | None = None,
    ) -> Plan:
        assert user.calendar_id is not None
        on_page = None if report is None else (lambda page: report.page(len(page.events)))
        policy = self.policy_for(user)
        claimed = await self.store.get_claims(user.user_id)
        if full:
            known = await self.store.get_periods(user.user_id)
            first, last = self.reconcile_window(user.tzid, now, horizon=policy.horizon)
            read = await client.read_events_served(
                tzid=user.tzid,
                from_=first,
                to=last,
                calendar_ids=[user.calendar_id],
                on_page=on_page,
            )
            events, result.served_at = read.events, read.served_at
            remote = await client.list_available_periods(tzid=user.tzid)
            result.events_read = len(events)
            return plan_reconcile(
                events, known, remote, policy, now, calendar_id=user.calendar_id, claimed=claimed
            )
        assert user.watermark is not None
        # The watermark already holds its overlap (see ``next_watermark``); a notification's
        # ``changes_since`` is Cronofy's own "read from here".
        since = user.watermark
        if user.pending_since is not None:
            since = min(since, user.pending_since)
        result.since = since
        # Every page is read before anything is written: a failing page 2 changes nothing.
        read = await client.read_changes(
            tzid=user.tzid, calendar_id=user.calendar_id, changes_since=since, on_page=on_page
        )
        events, result.served_at = read.events, read.served_at
        result.events_read = len(events)
        # Only the stored periods of the events read: the plan touches no other, so a change
        # costs what changed, not what the calendar holds.
        known = await self.store.get_periods(user.user_id, {e.event_uid for e in events})
        return plan_changes(
            events, known, policy, now, calendar_id=user.calendar_id, claimed=claimed
        )

    def reconcile_window(
        self, tzid: str, now: datetime, *, horizon: timedelta | None = None
    ) -> tuple[date, date]:
        """The dates a reconcile reads (``to`` exclusive), in the user's own zone.

        "Today" is the user's local date, not UTC's, and the window reaches one day past
        ``max(window_ahead, horizon)`` (``horizon``: the mapping policy's) so it holds every
        event the policy accepts (measured from *now*): the incremental sync and the reconcile
        then agree on one horizon, and the policy alone says what is beyond it.
        """
        ahead = self.window_ahead if horizon is None else max(self.window_ahead, horizon)
        today = now.astimezone(ZoneInfo(tzid)).date()
        return today - self.window_back, today + ahead + timedelta(days=1)

    def _finish(self, result: SyncResult, client: CronofyClient, calls_before: int) -> SyncResult:
        result.finished_at = self.clock()
        result.api_calls = client.stats.requests - calls_before
        return result

    def _mark(
        self, user: UserRecord, result: SyncResult, exc: CronofyError, state: str
    ) -> UserRecord:
        result.state = state
        result.error = str(exc)
        if isinstance(exc, RateLimitedError):
            result.retry_after = exc.retry_after
        user.state = state
        user.last_error = result.error
        user.last_result = result.as_dict()
        user.bump(failures=1)
        return user

    async def _failed(
        self,
        user: UserRecord,
        client: CronofyClient,
        calls_before: int,
        result: SyncResult,
        exc: CronofyError,
        state: str,
        owner: str | None = None,
    ) -> SyncResult:
        _LOGGER.warning("sync of %s failed (%s): %s", user.user_id, state, exc)
        self._finish(result, client, calls_before)
        self._mark(user, result, exc, state)
        if result.dry_run:
            return result
        await self._commit(
            user,
            OwnershipChanges(),
            started_at=result.started_at,
            full=False,
            settle=False,
            lock_owner=owner,
        )
        return result
