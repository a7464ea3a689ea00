"""One horizon in the user's zone, a scheduler that survives a failing round, backoff for
``failed`` users, and no sync before ``start()`` when held."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.planner import OwnershipChanges
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine


class ListFailsOnce(MemoryStore):
    """A real in-memory store whose first ``list_due_users`` (the first scheduler round) fails
    like a locked database."""

    def __init__(self) -> None:
        super().__init__()
        self.list_calls = 0

    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        self.list_calls += 1
        if self.list_calls == 1:  # the first round
            raise RuntimeError("database is locked")
        return await super().list_due_users(now)


def coordinator_for(store: MemoryStore, **kwargs: object) -> SyncCoordinator:
    clients = UserClients(
        store, client_id="cid", client_secret="sec", api_base_url="http://127.0.0.1:9"
    )
    return SyncCoordinator(store, SyncEngine(store), clients.for_user, **kwargs)  # type: ignore[arg-type]


def user(state: str = UserState.IDLE) -> UserRecord:
    return UserRecord(
        user_id="u1",
        credentials=StoredCredentials("at", "rt"),
        calendar_id="cal_sub",
        channel_id="chn_1",
        state=state,
    )


async def test_the_scheduler_survives_a_failing_round_and_logs_its_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = ListFailsOnce()
    await store.save_user(user(UserState.NEEDS_REAUTH))  # listed, never synced
    gate: asyncio.Queue[None] = asyncio.Queue()
    slept = asyncio.Event()

    async def sleep(_: float) -> None:
        slept.set()
        await gate.get()

    coordinator = coordinator_for(store, schedule_every=60.0, sleep=sleep)
    await coordinator.start()
    async with asyncio.timeout(10):  # the old loop died in round one and never slept again
        for _ in range(3):  # three rounds: the first fails, the loop must go on
            await slept.wait()
            slept.clear()
            gate.put_nowait(None)
        await slept.wait()
    assert store.list_calls == 3
    await coordinator.stop()  # drains; does not raise
    failures = [r for r in caplog.records if "scheduling round failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "database is locked" in str(failures[0].exc_info[1])


async def test_failed_users_back_off_instead_of_a_reconcile_every_round() -> None:
    store = MemoryStore()
    await store.save_user(user(UserState.FAILED))
    # Held: requests are counted and queued, never run (nothing to reach here).
    coordinator = coordinator_for(store, schedule_every=300.0, hold_until_start=True)
    for _ in range(16):
        await coordinator.schedule_round()
    # Rounds 1, 3, 6, 11: skipping 1, 2, 4, 8 rounds in between.
    assert coordinator.stats.requests["u1"] == 4
    # Fixed by a person: back to normal at once.
    await store.set_state("u1", UserState.IDLE, None)
    await coordinator.schedule_round()
    await coordinator.schedule_round()
    assert coordinator.stats.requests["u1"] == 6


async def test_held_requests_wait_for_start() -> None:
    store = MemoryStore()
    await store.save_user(user(UserState.NEEDS_REAUTH))  # the worker returns at once
    coordinator = coordinator_for(store, schedule_every=None, hold_until_start=True)
    coordinator.request("u1")
    await asyncio.sleep(0)
    assert not coordinator.is_busy("u1")
    assert coordinator.stats.requests["u1"] == 1
    await coordinator.start()
    assert coordinator.is_busy("u1")
    await coordinator.wait_idle()
    await coordinator.stop()


@pytest.mark.parametrize("tzid", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("hour", [0, 5, 11, 13, 23])
def test_the_reconcile_reads_every_day_the_incremental_sync_accepts(tzid: str, hour: int) -> None:
    """ "Today" is the user's local day: taken in UTC, an event on the horizon's last local day
    east of UTC would be created incrementally and deleted by the next reconcile."""
    engine = SyncEngine(MemoryStore())
    policy = MappingPolicy(tzid=tzid)
    now = datetime(2026, 11, 24, hour, 30, tzinfo=UTC)
    first, last = engine.reconcile_window(tzid, now)
    assert policy.horizon is not None
    latest_start = now + policy.horizon  # the last start the policy accepts
    local_day = latest_start.astimezone(ZoneInfo(tzid)).date()
    assert local_day < last  # ``to`` is exclusive
    assert first <= (now - timedelta(hours=1)).astimezone(ZoneInfo(tzid)).date()


def test_a_logged_error_keeps_its_cause_and_masks_secrets() -> None:
    """A logged error says its cause, not only "log: error: sync worker for u1 crashed"."""

    from cronofy_avail.cli.common import MaskingWriter
    from cronofy_avail.cli.logs import LogToOutput

    buffer = io.StringIO()
    writer = MaskingWriter(buffer)
    writer.add_secret("SECRET-token-value-123456")
    handler = LogToOutput(writer, logging.WARNING)
    try:
        raise RuntimeError("database is locked near SECRET-token-value-123456")
    except RuntimeError:
        record = logging.getLogger("cronofy_avail.test").makeRecord(
            "cronofy_avail.test",
            logging.ERROR,
            __file__,
            1,
            "sync worker for %s crashed",
            ("u1",),
            sys.exc_info(),
        )
    handler.emit(record)
    text = buffer.getvalue()
    assert "sync worker for u1 crashed" in text
    assert "RuntimeError: database is locked" in text
    assert "SECRET-token-value-123456" not in text
    assert "Traceback" not in text  # only with --debug


def test_reconciles_of_users_onboarded_together_spread_over_the_day() -> None:
    """2,000 users reconciled at the same moment do not all come due in one scheduler round
    a day later: each has its own slot, and none waits longer than a day."""
    from datetime import UTC, datetime, timedelta

    from cronofy_avail.runtime.store import MemoryStore, UserRecord
    from cronofy_avail.runtime.sync import SyncEngine

    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    engine = SyncEngine(MemoryStore(), reconcile_every=timedelta(days=1))
    users = [
        UserRecord(user_id=f"user-{i}", watermark=t0, last_reconcile_at=t0) for i in range(2_000)
    ]
    per_round: list[int] = []
    reconciles = dict.fromkeys((u.user_id for u in users), 0)
    now = t0
    while now < t0 + timedelta(days=2):
        now += timedelta(minutes=5)
        due = 0
        for user in users:
            assert now - user.last_reconcile_at <= timedelta(days=1, minutes=5)  # type: ignore[operator]
            user.watermark = now
            if engine.needs_full(user, now):
                due += 1
                user.last_reconcile_at = now
                reconciles[user.user_id] += 1
        per_round.append(due)
    # A day has 288 rounds: about 7 users a round; never a pile-up (it was all 2,000 at once).
    assert max(per_round) <= 40
    # Each user: one early reconcile at most (its first slot), then one a day.
    assert set(reconciles.values()) <= {2, 3}


def test_the_stored_due_time_is_never_later_than_needs_full_and_tight() -> None:
    """``reconcile_due`` is when ``needs_full`` first turns true, so a store asked
    only for users due at ``now`` never hides a user who needs a reconcile."""
    import random

    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    rng = random.Random(14)
    for every in (timedelta(days=1), timedelta(hours=3), None):
        engine = SyncEngine(
            MemoryStore(), reconcile_every=every, max_incremental_age=timedelta(days=2)
        )
        for i in range(300):
            last = t0 - timedelta(minutes=rng.randrange(0, 4000))
            u = UserRecord(
                user_id=f"user-{i}",
                watermark=last + timedelta(minutes=rng.randrange(0, 3000)),
                last_reconcile_at=last,
            )
            due = engine.reconcile_due(u)
            assert due is not None
            assert not engine.needs_full(u, due - timedelta(microseconds=1))
            assert engine.needs_full(u, due + timedelta(microseconds=1))
            for minutes in range(0, 4000, 97):
                now = last + timedelta(minutes=minutes)
                if now < due:
                    assert not engine.needs_full(u, now)
    engine = SyncEngine(MemoryStore())
    assert engine.reconcile_due(UserRecord(user_id="never-synced")) is None
    assert engine.reconcile_due(UserRecord(user_id="x", watermark=datetime.now(UTC))) is None


class CountingDue(MemoryStore):
    """A real in-memory store that counts the users each scheduler round reads."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[int] = []

    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        users = await super().list_due_users(now)
        self.read.append(len(users))
        return users


async def test_a_round_reads_the_users_due_and_requests_what_a_full_scan_would() -> None:
    """A day of 5-minute rounds over 500 users stored before due times existed:
    the first round looks at every user once and stores their due times; later rounds read
    only the users due, and request exactly the reconciles a scan of every user would."""
    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    now = [t0]
    store = CountingDue()
    engine = SyncEngine(store, clock=lambda: now[0])
    clients = UserClients(store, client_id="c", client_secret="s", api_base_url="http://x:9")
    coordinator = SyncCoordinator(
        store, engine, clients.for_user, schedule_every=300.0, hold_until_start=True
    )
    for i in range(500):
        await store.save_user(
            UserRecord(
                user_id=f"user-{i}",
                calendar_id="cal",
                state=UserState.IDLE,
                watermark=t0,
                last_reconcile_at=t0 - timedelta(hours=i % 24),
            )
        )
    requested: dict[str, int] = {}
    asked_per_round: list[int] = []
    for _ in range(288):
        scan = {u.user_id for u in await store.list_users() if engine.needs_full(u, now[0])}
        before = dict(coordinator.stats.requests)
        await coordinator.schedule_round()
        asked = {uid for uid, n in coordinator.stats.requests.items() if n > before.get(uid, 0)}
        assert asked == scan
        asked_per_round.append(len(asked))
        for user_id in asked:  # the reconcile runs: what its commit records
            done = await store.get_user(user_id)
            assert done is not None
            done.watermark = done.last_reconcile_at = now[0]
            done.reconcile_due_at = engine.reconcile_due(done)
            await store.commit_sync(done, OwnershipChanges(), started_at=now[0], full=True)
            requested[user_id] = requested.get(user_id, 0) + 1
        now[0] += timedelta(minutes=5)
    assert store.read[0] == 500  # due times unknown: every user looked at, once
    # Then only the users due: each user read is a reconcile requested, no more.
    assert store.read[1:] == asked_per_round[1:]
    assert max(store.read[1:]) <= 10
    assert len(requested) == 500  # every user reconciled within the day


async def test_a_real_sync_stores_when_the_user_is_next_due() -> None:
    """Each commit records the user's next reconcile time, so the scheduler's
    store query finds the user exactly when ``needs_full`` turns true, and not before."""
    from cronofy_avail.playground import Playground

    store = MemoryStore()
    async with Playground.running(store=store, tzid="UTC") as pg:
        result = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert result.ok
        user = await store.get_user(pg.user_id)
        assert user is not None
        due = user.reconcile_due_at
        assert due is not None
        assert due == pg.coordinator.engine.reconcile_due(user)
        assert user.last_reconcile_at is not None
        assert user.last_reconcile_at < due <= user.last_reconcile_at + timedelta(days=1)
        assert await store.list_due_users(due - timedelta(seconds=1)) == []
        assert [u.user_id for u in await store.list_due_users(due)] == [pg.user_id]
        assert pg.coordinator.engine.needs_full(user, due)
