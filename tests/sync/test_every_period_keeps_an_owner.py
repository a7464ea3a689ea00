"""A period written at Cronofy is never left without an owner.

Against the emulator over real HTTP and a real SQLite file: a commit that fails after the
writes landed, a second process holding the user's sync lock (the CLI racing ``serve``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronofy_avail.core.mapping import MappingPolicy, period_id_for
from cronofy_avail.core.planner import (
    OwnershipChanges,
)
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.store import SQLiteStore, UserRecord, lock_owner
from cronofy_avail.runtime.sync import BUSY_MESSAGE, LOST_MESSAGE
from tests.support.commands import Cli, at, cli, emulator

__all__ = ["cli", "emulator"]

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, max_elapsed=5.0)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class CommitFails(SQLiteStore):
    """A real SQLite store whose next commit fails as a locked database does."""

    armed: bool = False

    async def commit_sync(
        self,
        user: UserRecord,
        changes: OwnershipChanges,
        *,
        started_at: datetime,
        full: bool,
        settle: bool = True,
        release_claimed_before: datetime | None = None,
        lock_owner: str | None = None,
    ) -> UserRecord:
        if self.armed:
            self.armed = False
            raise sqlite3.OperationalError("database is locked")
        return await super().commit_sync(
            user,
            changes,
            started_at=started_at,
            full=full,
            settle=settle,
            release_claimed_before=release_claimed_before,
            lock_owner=lock_owner,
        )


class Clock:
    """The playground's clock (the engine's and the emulator's): real time plus an offset the
    test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_a_write_whose_commit_failed_is_removed_when_its_event_goes(tmp_path: Path) -> None:
    store = await CommitFails.open(tmp_path / "state.db")
    clock = Clock()
    async with Playground.running(store=store, retry=FAST, clock=clock) as pg:
        await pg.coordinator.stop()  # this test drives the syncs
        store.armed = True
        uid = pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )["event_uid"]
        result = await pg.coordinator.sync_now(pg.user_id)
        assert result.state == "retrying"  # a store error: retried, never "failed"
        # The write reached Cronofy; the commit recording it failed.
        assert uid in {p.available_period_id for p in await pg.periods()}
        assert uid not in await store.get_periods(pg.user_id)
        assert await store.get_claims(pg.user_id) == {uid: uid}  # written ahead

        pg.emulator.delete_event(uid)
        result = await pg.coordinator.sync_now(pg.user_id)
        assert result.ok
        assert uid not in {p.available_period_id for p in await pg.periods()}

        # And the full reconcile agrees, with nothing left claimed once no write of the claim
        # can still be in flight.
        clock.offset = timedelta(minutes=11)
        result = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert result.ok
        assert uid not in {p.available_period_id for p in await pg.periods()}
        assert await store.get_claims(pg.user_id) == {}
        assert uid not in await store.get_periods(pg.user_id)


async def test_a_claim_that_never_landed_costs_one_delete_in_the_reconcile(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.client.upsert_available_period("foreign-1", at(2, 9), at(2, 10))
        await store.claim_periods(
            pg.user_id, {"never-sent": "gone-uid"}, claimed_at=at(0, 0) - timedelta(days=1)
        )
        result = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert result.ok
        assert await store.get_claims(pg.user_id) == {}  # absent at Cronofy: released
        assert "foreign-1" in {p.available_period_id for p in await pg.periods()}


async def test_a_slow_upsert_landing_after_its_delete_got_404_is_still_removed(
    tmp_path: Path,
) -> None:
    # Sync 1 claims E and sends the upsert; it times out and
    # stays in flight. The user deletes the event; sync 2 deletes E and gets 404. The slow
    # upsert then lands: E must still be owned, so the reconcile removes it.
    store = await SQLiteStore.open(tmp_path / "state.db")
    clock = Clock()
    async with Playground.running(store=store, retry=FAST, clock=clock) as pg:
        await pg.coordinator.stop()  # this test drives the syncs
        uid = pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )["event_uid"]
        pid = period_id_for(uid)
        await store.claim_periods(pg.user_id, {pid: uid}, claimed_at=clock())  # sync 1
        pg.emulator.delete_event(uid)
        clock.offset = timedelta(seconds=5)
        result = await pg.coordinator.sync_now(pg.user_id)  # sync 2: DELETE E -> 404
        assert result.ok
        assert result.deletes == 1
        assert await store.get_claims(pg.user_id) == {pid: uid}  # the upsert may still land

        await pg.client.upsert_available_period(pid, at(1, 9), at(1, 10))  # ...and it does
        clock.offset = timedelta(minutes=11)
        result = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert result.ok
        assert pid not in {p.available_period_id for p in await pg.periods()}
        assert await store.get_claims(pg.user_id) == {}


async def test_the_reconcile_reads_as_far_as_the_policy_horizon_reaches(tmp_path: Path) -> None:
    # The reconcile window reaches the policy horizon, not window_ahead alone: with a horizon
    # beyond window_ahead, an event the incremental sync wrote would be deleted by the next
    # reconcile as "no event".
    store = await SQLiteStore.open(tmp_path / "state.db")
    settings = {
        "policy_for": lambda user: MappingPolicy(tzid=user.tzid, horizon=timedelta(days=60)),
        "window_ahead": timedelta(days=30),
    }
    async with Playground.running(store=store, retry=FAST, engine_settings=settings) as pg:
        await pg.coordinator.stop()  # this test drives the syncs
        uid = pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(45, 9)), end=iso(at(45, 10))
        )["event_uid"]
        result = await pg.coordinator.sync_now(pg.user_id)
        assert result.kind == "incremental"
        assert result.upserts == 1
        result = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert result.ok
        assert result.deletes == 0
        assert period_id_for(uid) in {p.available_period_id for p in await pg.periods()}


class ClaimFails(SQLiteStore):
    """A real SQLite store whose next claim fails as a locked database does."""

    armed: bool = False

    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        if self.armed:
            self.armed = False
            raise sqlite3.OperationalError("database is locked")
        await super().claim_periods(
            user_id, claims, claimed_at=claimed_at, lock_owner=lock_owner, lock_ttl=lock_ttl
        )


async def test_a_store_error_inside_a_sync_is_retried_not_failed(tmp_path: Path) -> None:
    # "database is locked" from the sync's own store writes is retried; it does not mark the
    # user failed ("internal error").
    store = await ClaimFails.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        results: list[tuple[str, str | None]] = []
        pg.coordinator.add_listener(lambda _, r: results.append((r.state, r.error)))
        store.armed = True
        uid = pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )["event_uid"]
        await pg.settle()
        assert ("retrying", "store error: OperationalError: database is locked") in results
        assert "failed" not in {state for state, _ in results}
        assert results[-1][0] == "idle"
        assert uid in {p.available_period_id for p in await pg.periods()}
        user = await pg.user()
        assert user.state == "idle"


class Stalls(SQLiteStore):
    """A real SQLite store where the sync stalls (lid closed, SIGSTOP) at one protocol call
    until the test resumes it."""

    stall_at: str = ""
    stalled: asyncio.Event
    resume: asyncio.Event

    def arm(self, at_call: str) -> None:
        self.stall_at = at_call
        self.stalled, self.resume = asyncio.Event(), asyncio.Event()

    async def _maybe_stall(self, name: str) -> None:
        if self.stall_at == name:
            self.stall_at = ""
            self.stalled.set()
            await self.resume.wait()

    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        await self._maybe_stall("claim_periods")
        await super().claim_periods(
            user_id, claims, claimed_at=claimed_at, lock_owner=lock_owner, lock_ttl=lock_ttl
        )

    async def commit_sync(
        self,
        user: UserRecord,
        changes: OwnershipChanges,
        *,
        started_at: datetime,
        full: bool,
        settle: bool = True,
        release_claimed_before: datetime | None = None,
        lock_owner: str | None = None,
    ) -> UserRecord:
        await self._maybe_stall("commit_sync")
        return await super().commit_sync(
            user,
            changes,
            started_at=started_at,
            full=full,
            settle=settle,
            release_claimed_before=release_claimed_before,
            lock_owner=lock_owner,
        )


async def take_over_expired_lock(db: Path, user_id: str) -> tuple[SQLiteStore, str]:
    """Another process: the stalled holder's lease runs out and it takes the lock."""
    other = await SQLiteStore.open(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE sync_locks SET expires_at = 0 WHERE user_id = ?", (user_id,))
    conn.close()
    owner = lock_owner()
    assert await other.acquire_lock(user_id, owner, ttl=60) is None
    return other, owner


async def test_a_sync_that_lost_its_lock_before_applying_sends_nothing_and_records_nothing(
    tmp_path: Path,
) -> None:
    # serve stalls past its lease, the CLI takes the lock.
    store = await Stalls.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.coordinator.stop()
        pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )
        before = await store.get_user(pg.user_id)
        store.arm("claim_periods")
        syncing = asyncio.create_task(pg.coordinator.sync_now(pg.user_id, full=True))
        await store.stalled.wait()
        other, owner = await take_over_expired_lock(store.path, pg.user_id)
        try:
            store.resume.set()
            result = await syncing
            assert result.busy
            assert not result.ok
            assert result.error == LOST_MESSAGE
            assert await pg.periods() == []  # the stale upsert was never sent
            assert await store.get_periods(pg.user_id) == {}
            after = await store.get_user(pg.user_id)
            assert before is not None
            assert after is not None
            assert after.watermark == before.watermark
            assert after.last_reconcile_at == before.last_reconcile_at
            # The new holder keeps its lock: the stale sync did not release it.
            assert await store.acquire_lock(pg.user_id, lock_owner(), ttl=60) == owner
        finally:
            await other.release_lock(pg.user_id, owner)
            await other.close()


async def test_a_sync_that_lost_its_lock_before_committing_records_nothing(
    tmp_path: Path,
) -> None:
    store = await Stalls.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.coordinator.stop()
        uid = pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )["event_uid"]
        before = await store.get_user(pg.user_id)
        store.arm("commit_sync")
        syncing = asyncio.create_task(pg.coordinator.sync_now(pg.user_id, full=True))
        await store.stalled.wait()
        other, owner = await take_over_expired_lock(store.path, pg.user_id)
        try:
            store.resume.set()
            result = await syncing
            assert result.busy
            assert result.error == LOST_MESSAGE
            after = await store.get_user(pg.user_id)
            assert before is not None
            assert after is not None
            assert after.watermark == before.watermark  # the commit was refused
            assert await store.get_periods(pg.user_id) == {}
            # What it did send stays owned through its claim.
            assert await store.get_claims(pg.user_id) == {period_id_for(uid): uid}
        finally:
            await other.release_lock(pg.user_id, owner)
            await other.close()


async def test_two_syncs_of_one_user_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    # One owner id per sync, not per engine.
    store = await Stalls.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.coordinator.stop()
        pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )
        user = await pg.user()
        store.arm("claim_periods")
        first = asyncio.create_task(pg.engine.sync(user, pg.client, full=True))
        await store.stalled.wait()
        second = await pg.engine.sync(await pg.user(), pg.client, full=True)
        assert second.busy
        assert second.error == BUSY_MESSAGE
        store.resume.set()
        assert (await first).ok


async def test_a_second_process_is_told_the_user_is_busy_and_changes_nothing(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    other = await SQLiteStore.open(tmp_path / "state.db")  # another process's connection
    try:
        async with Playground.running(store=store, retry=FAST) as pg:
            await pg.coordinator.stop()  # no background syncs: this test drives them
            owner = lock_owner()
            assert await other.acquire_lock(pg.user_id, owner, ttl=60) is None
            pg.emulator.add_event(
                pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
            )
            before = await store.get_user(pg.user_id)
            result = await pg.coordinator.sync_now(pg.user_id, full=True)
            assert result.busy
            assert result.error == BUSY_MESSAGE
            assert result.api_calls == 0
            after = await store.get_user(pg.user_id)
            assert after == before
            await other.release_lock(pg.user_id, owner)
            result = await pg.coordinator.sync_now(pg.user_id, full=True)
            assert result.ok
            assert result.upserts == 1
    finally:
        await other.close()


async def test_serve_retries_a_busy_user_and_converges_once_the_lock_is_free(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    other = await SQLiteStore.open(tmp_path / "state.db")
    try:
        async with Playground.running(store=store, retry=FAST) as pg:
            owner = lock_owner()
            assert await other.acquire_lock(pg.user_id, owner, ttl=60) is None
            turned_away = asyncio.Event()
            pg.coordinator.add_listener(lambda _, r: turned_away.set() if r.busy else None)
            uid = pg.emulator.add_event(
                pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
            )["event_uid"]
            await pg.emulator.wait_notifications()
            async with asyncio.timeout(10):
                await turned_away.wait()
            assert uid not in {p.available_period_id for p in await pg.periods()}
            await other.release_lock(pg.user_id, owner)
            await pg.settle()
            assert uid in {p.available_period_id for p in await pg.periods()}
            user = await pg.user()
            assert user.state == "idle"
    finally:
        await other.close()


async def test_cli_reconcile_while_another_process_syncs_says_so(cli: Cli) -> None:
    await cli.setup()
    calendar = await cli.sub_calendar()
    cli.add_event(calendar, at(1, 9), at(1, 10))
    store = await SQLiteStore.open(cli.db)
    owner = lock_owner()
    try:
        assert await store.acquire_lock("default", owner, ttl=60) is None
        code, text = await cli.run("reconcile")
        assert code == 1
        assert "another process is syncing this user" in text
        assert "Traceback" not in text
        assert cli.remote_periods() == {}
    finally:
        await store.release_lock("default", owner)
        await store.close()
    code, text = await cli.run("reconcile")
    assert code == 0, text
    assert len(cli.remote_periods()) == 1


class ReleaseFails(SQLiteStore):
    """A real SQLite store whose next release of a sync lock fails as a locked database (or a
    lost server) does."""

    armed: bool = False

    async def release_lock(self, user_id: str, owner: str) -> None:
        if self.armed:
            self.armed = False
            raise sqlite3.OperationalError("database is locked")
        await super().release_lock(user_id, owner)


async def test_a_sync_lock_left_behind_by_an_unreachable_store_is_released_after(
    tmp_path: Path,
) -> None:
    """Not held until its lease runs out (a minute in which every sync of the user, in any
    process, finds it busy): the engine releases it as soon as the store answers again."""
    store = await ReleaseFails.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.coordinator.stop()  # this test drives the syncs
        other = "elsewhere:1:other-process"
        store.armed = True
        assert (await pg.coordinator.sync_now(pg.user_id)).ok
        finished = await store.acquire_lock(pg.user_id, other, ttl=60)
        assert finished is not None  # still held by the sync that ended
        assert await pg.engine.release_stale_locks() == 1
        assert await store.acquire_lock(pg.user_id, other, ttl=60) is None
        await store.release_lock(pg.user_id, other)

        # The engine's own next sync of the user releases it first, whoever calls.
        store.armed = True
        assert (await pg.coordinator.sync_now(pg.user_id)).ok
        result = await pg.coordinator.sync_now(pg.user_id)
        assert result.ok
        assert not result.busy
        assert await pg.engine.release_stale_locks() == 0


async def test_a_sync_says_whether_an_intent_was_left_pending_at_its_commit(
    tmp_path: Path,
) -> None:
    """The cluster's follow-up reads the commit's answer instead of reading the user again:
    a change notified while the sync ran is left pending, and the result says so."""
    store = await Stalls.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        await pg.coordinator.stop()
        pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(1, 9)), end=iso(at(1, 10))
        )
        quiet = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert quiet.ok
        assert quiet.pending_after is False
        pg.emulator.add_event(
            pg.calendar_id, summary="Available", start=iso(at(2, 9)), end=iso(at(2, 10))
        )
        store.arm("claim_periods")
        syncing = asyncio.create_task(pg.coordinator.sync_now(pg.user_id))
        await store.stalled.wait()
        await store.record_intent(pg.user_id, changes_since=None, received_at=NOW)
        store.resume.set()
        busy = await syncing
        assert busy.ok
        assert busy.pending_after is True
        assert "pending_after" not in busy.as_dict()
