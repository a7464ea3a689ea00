"""Both stores against one suite: what the runtime relies on, plus SQLite's own promises."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronofy_avail.core.planner import KnownPeriod, OwnershipChanges
from cronofy_avail.runtime.metrics import PendingSource
from cronofy_avail.runtime.store import (
    SCHEMA_VERSION,
    LockLost,
    MemoryStore,
    SQLiteStore,
    Store,
    StoredCredentials,
    StoreSchemaError,
    UserRecord,
    UserState,
)
from tests.support.deliveries import accepted_change

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore(delivery_log=5)
    elif request.param == "sqlite":
        s = await SQLiteStore.open(tmp_path / "state.db", delivery_log=5)
    else:
        from cronofy_avail.runtime.store.postgres import PostgresStore

        url: str = request.getfixturevalue("pg_url")
        s = await PostgresStore.open(url, delivery_log=5)
    yield s
    await s.close()


def user(**kw: object) -> UserRecord:
    base = UserRecord(
        user_id="u1",
        credentials=StoredCredentials("at-SECRET", "rt-SECRET", 123.0, "read_events"),
        calendar_id="cal_sub",
        tzid="Europe/London",
    )
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def period(uid: str, hour: int = 9) -> KnownPeriod:
    return KnownPeriod(uid, f"p-{uid}", T0.replace(hour=hour), T0.replace(hour=hour + 1))


def put(*periods: KnownPeriod) -> OwnershipChanges:
    return OwnershipChanges(put={p.event_uid: p for p in periods})


NOTHING = OwnershipChanges()


async def test_user_round_trip_and_lookup_by_callback_key(store: Store) -> None:
    u = user(watermark=T0, counts={"syncs": 2}, last_result={"ok": True})
    await store.save_user(u)
    got = await store.get_user("u1")
    assert got == u
    assert await store.get_user_by_callback_key(u.callback_key) == u
    assert await store.get_user_by_callback_key("nope") is None
    assert await store.get_user("nobody") is None
    assert [x.user_id for x in await store.list_users()] == ["u1"]


async def test_returned_records_are_copies(store: Store) -> None:
    await store.save_user(user())
    got = await store.get_user("u1")
    assert got is not None
    got.bump(syncs=1)
    got.state = UserState.FAILED
    again = await store.get_user("u1")
    assert again is not None
    assert again.counts == {}
    assert again.state == UserState.NEW


async def test_intent_keeps_the_earliest_point_and_the_full_flag(store: Store) -> None:
    await store.save_user(user())
    await store.record_intent("u1", changes_since=T0, received_at=T0)
    await store.record_intent("u1", changes_since=T0 - timedelta(minutes=5), received_at=T0)
    got = await store.record_intent(
        "u1", changes_since=T0 + timedelta(minutes=5), full=True, received_at=T0
    )
    assert got is not None
    assert got.pending_since == T0 - timedelta(minutes=5)
    assert got.pending_full
    assert await store.record_intent("ghost", changes_since=T0, received_at=T0) is None


async def test_commit_records_periods_watermark_and_settles_covered_intent(store: Store) -> None:
    await store.save_user(user())
    await store.record_intent("u1", changes_since=T0, received_at=T0)
    u = await store.get_user("u1")
    assert u is not None
    u.watermark = T0 + timedelta(minutes=1)
    committed = await store.commit_sync(
        u, put(period("a")), started_at=T0 + timedelta(minutes=1), full=False
    )
    assert committed.pending_since is None
    assert committed.pending_at is None
    assert await store.get_periods("u1") == {"a": period("a")}
    stored = await store.get_user("u1")
    assert stored is not None
    assert stored.watermark == T0 + timedelta(minutes=1)


async def test_notification_arriving_during_a_sync_stays_pending(store: Store) -> None:
    await store.save_user(user())
    started = T0
    u = await store.get_user("u1")
    assert u is not None
    # The sync started; a notification arrives while it runs.
    await store.record_intent(
        "u1", changes_since=T0 + timedelta(seconds=30), received_at=T0 + timedelta(seconds=31)
    )
    committed = await store.commit_sync(u, NOTHING, started_at=started, full=False)
    assert committed.pending_since == T0 + timedelta(seconds=30)
    stored = await store.get_user("u1")
    assert stored is not None
    assert stored.pending_at == T0 + timedelta(seconds=31)


async def test_failed_sync_keeps_intent_and_full_flag_cleared_only_by_a_full_sync(
    store: Store,
) -> None:
    await store.save_user(user())
    await store.record_intent("u1", changes_since=T0, full=True, received_at=T0)
    u = await store.get_user("u1")
    assert u is not None
    kept = await store.commit_sync(
        u, NOTHING, started_at=T0 + timedelta(minutes=1), full=True, settle=False
    )
    assert (kept.pending_since, kept.pending_full) == (T0, True)
    partial = await store.commit_sync(u, NOTHING, started_at=T0 + timedelta(minutes=1), full=False)
    assert partial.pending_since is None
    assert partial.pending_full  # an incremental sync does not satisfy a reconcile request
    done = await store.commit_sync(u, NOTHING, started_at=T0 + timedelta(minutes=2), full=True)
    assert not done.pending_full


async def test_a_full_sync_settles_the_full_request_made_before_it_read_the_user(
    store: Store,
) -> None:
    """A change notified while a full reconcile runs keeps the intent pending, but not the
    full-reconcile request the reconcile itself answers: the follow-up is incremental."""
    await store.save_user(user())
    await store.record_intent("u1", changes_since=None, full=True, received_at=T0)
    u = await store.get_user("u1")  # the full sync reads the user ...
    assert u is not None
    # ... and a change is notified while it runs.
    later = T0 + timedelta(seconds=30)
    await store.record_intent("u1", changes_since=later, received_at=later)
    done = await store.commit_sync(u, NOTHING, started_at=T0, full=True)
    assert not done.pending_full
    assert done.pending_since == later  # the change stays pending
    stored = await store.get_user("u1")
    assert stored is not None
    assert (stored.pending_full, stored.pending_since) == (False, later)


async def test_what_stays_pending_after_a_sync_is_read_from_its_new_watermark(
    store: Store,
) -> None:
    """A days-old ``changes_since`` (a user back from ``needs_reauth``) folded into the intent
    must not outlive the sync that read from it: with a change notified while that sync ran,
    the follow-up reads from the new watermark, not days back (nor fully again)."""
    old = T0 - timedelta(days=8)
    await store.save_user(user(watermark=old))
    await store.record_intent("u1", changes_since=old, received_at=old)
    u = await store.get_user("u1")
    assert u is not None
    later = T0 + timedelta(seconds=30)
    await store.record_intent("u1", changes_since=old, received_at=later)  # read at T0 - 8 days
    u.watermark = T0 - timedelta(seconds=2)  # the sync read everything up to here
    done = await store.commit_sync(u, NOTHING, started_at=T0, full=True)
    assert done.pending_since == T0 - timedelta(seconds=2)
    # The follow-up is still due: what the sync did not cover arrived after it read the
    # user, so the oldest unsynced notification is dated no earlier than the watermark.
    assert done.pending_at == T0 - timedelta(seconds=2)
    from cronofy_avail.runtime.sync import SyncEngine

    stored = await store.get_user("u1")
    assert stored is not None
    assert not SyncEngine(store, reconcile_every=None).needs_full(stored, T0 + timedelta(minutes=1))


async def test_an_acknowledged_change_keeps_the_full_requests_generation(store: Store) -> None:
    """The ack's one-call path (``accept_delivery``) reads and writes only the intent: it must
    carry the full request's generation, or the full sync that answers the request could not
    settle it (a second full reconcile would follow)."""
    await store.save_user(user())
    await store.record_intent("u1", changes_since=None, full=True, received_at=T0)
    u = await store.get_user("u1")  # the full sync reads the user ...
    assert u is not None
    delivery = accepted_change(T0, headers={"X": "1"}, body="body")
    accepted = await store.accept_delivery(
        delivery, callback_key=u.callback_key, changes_since=T0, full=False
    )  # ... and a change is acknowledged while it runs
    assert accepted is not None
    done = await store.commit_sync(u, NOTHING, started_at=T0, full=True)
    assert not done.pending_full
    assert done.pending_at is not None  # the change still gets its sync


async def test_an_ack_for_a_user_already_pending_keeps_its_oldest_arrival(store: Store) -> None:
    """``pending_at`` is when the oldest notification no sync has covered arrived: the
    operator's "oldest unsynced intent", and a value a busy user's acks leave alone."""
    await store.save_user(user())
    u = await store.get_user("u1")
    assert u is not None
    for minutes in (2, 0, 1):  # receivers may commit out of order
        at = T0 + timedelta(minutes=minutes)
        delivery = accepted_change(at, headers={"X": "1"}, body="body")
        accepted = await store.accept_delivery(
            delivery, callback_key=u.callback_key, changes_since=at
        )
        assert accepted is not None
    stored = await store.get_user("u1")
    assert stored is not None
    assert (stored.pending_since, stored.pending_at, stored.pending_gen) == (T0, T0, 3)
    if isinstance(store, PendingSource):
        assert await store.pending_intents() == (1, T0)


async def test_sqlite_ack_for_a_user_already_pending_sets_only_the_generation(
    tmp_path: Path,
) -> None:
    """SQLite rewrites every index on a column an UPDATE sets, changed or not: the ack for a
    user already pending sets the generation alone (no index on it), so at 10,000 users a
    group of acks dirties one page per user, not four."""
    store = await SQLiteStore.open(tmp_path / "s.db")
    try:
        await store.save_user(user())
        u = await store.get_user("u1")
        assert u is not None
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        for minutes in (0, 1):
            at = T0 + timedelta(minutes=minutes)
            delivery = accepted_change(at, body="body")
            await store.accept_delivery(delivery, callback_key=u.callback_key, changes_since=T0)
        store._db.set_trace_callback(None)
        updates = [s for s in statements if s.startswith("UPDATE users")]
        assert len(updates) == 2
        assert "pending_at" in updates[0]  # the first ack starts the intent
        assert updates[1].startswith("UPDATE users SET pending_gen = 2 WHERE")
    finally:
        await store.close()


async def test_a_full_request_made_during_a_full_sync_stays(store: Store) -> None:
    await store.save_user(user())
    await store.record_intent("u1", changes_since=None, full=True, received_at=T0)
    u = await store.get_user("u1")
    assert u is not None
    # A second full request while the first reconcile runs (a channel re-created, say): the
    # running reconcile may have read before what it asks for, so another one follows.
    await store.record_intent("u1", changes_since=None, full=True, received_at=T0)
    done = await store.commit_sync(u, NOTHING, started_at=T0, full=True)
    assert done.pending_full
    again = await store.get_user("u1")
    assert again is not None
    assert not (await store.commit_sync(again, NOTHING, started_at=T0, full=True)).pending_full


async def test_commit_records_only_the_changes_never_the_whole_set(store: Store) -> None:
    """A commit records only its changes: replacing the user's whole ownership set with the
    view its sync read at the start would erase what another process recorded meanwhile."""
    await store.save_user(user())
    u = user()
    await store.commit_sync(u, put(period("a"), period("b")), started_at=T0, full=False)
    # Another process recorded "c" after this sync read the record; this sync moved "b" and
    # removed "a". "c" must survive.
    await store.commit_sync(u, put(period("c")), started_at=T0, full=False)
    changes = OwnershipChanges(put={"b": period("b", 11)}, drop={"a": "p-a"})
    await store.commit_sync(u, changes, started_at=T0, full=False)
    assert await store.get_periods("u1") == {"b": period("b", 11), "c": period("c")}
    # A drop names the period id it saw: a row holding another id by now stays.
    await store.commit_sync(u, OwnershipChanges(drop={"c": "p-other"}), started_at=T0, full=False)
    assert "c" in await store.get_periods("u1")


async def test_claims_are_recorded_ahead_and_released_by_commit(store: Store) -> None:
    await store.save_user(user())
    await store.claim_periods("u1", {"p-a": "a", "p-b": "b"}, claimed_at=T0)
    assert await store.get_claims("u1") == {"p-a": "a", "p-b": "b"}
    changes = OwnershipChanges(put={"a": period("a")}, release=frozenset({"p-a"}))
    await store.commit_sync(user(), changes, started_at=T0, full=False, settle=False)
    assert await store.get_claims("u1") == {"p-b": "b"}  # outcome of p-b still unknown
    assert await store.get_periods("u1") == {"a": period("a")}
    await store.delete_user("u1")
    assert await store.get_claims("u1") == {}


async def test_claims_with_a_lock_owner_take_or_renew_its_lock_first(store: Store) -> None:
    """A sync's claims take or renew its lease in the same statement (the check before
    applying, as ``acquire_lock`` does): one whose lock another holds records nothing and
    learns it there."""
    await store.save_user(user())
    await store.claim_periods("u1", {"p-a": "a"}, claimed_at=T0, lock_owner="host:1:a")
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"  # taken
    await store.release_lock("u1", "host:1:a")
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) is None
    with pytest.raises(LockLost):  # held by another
        await store.claim_periods("u1", {"p-b": "b"}, claimed_at=T0, lock_owner="host:1:a")
    assert await store.get_claims("u1") == {"p-a": "a"}
    await store.release_lock("u1", "host:1:b")
    assert await store.acquire_lock("u1", "host:1:a", ttl=0) is None  # a lapsed lease of a
    await store.claim_periods(
        "u1", {"p-c": "c"}, claimed_at=T0, lock_owner="host:1:a", lock_ttl=60
    )  # is renewed, as before applying
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"
    assert await store.get_claims("u1") == {"p-a": "a", "p-c": "c"}


async def test_save_user_never_overwrites_the_intent_or_what_a_sync_recorded(
    store: Store,
) -> None:
    # Serve and step 2 read the user, change its channel and
    # save it; a notification or a sync committed meanwhile must survive that write.
    await store.save_user(user())
    stale = await store.get_user("u1")
    assert stale is not None
    await store.record_intent("u1", changes_since=T0, full=True, received_at=T0)
    synced = await store.get_user("u1")
    assert synced is not None
    synced.watermark = T0 + timedelta(hours=1)
    synced.bump(syncs=1)
    await store.commit_sync(synced, NOTHING, started_at=T0, full=False, settle=False)
    stale.channel_id, stale.state = "chn_new", UserState.IDLE
    await store.save_user(stale)
    after = await store.get_user("u1")
    assert after is not None
    assert after.channel_id == "chn_new"
    assert after.state == UserState.IDLE
    assert after.pending_gen == 1
    assert after.pending_since == T0
    assert after.pending_full
    assert after.watermark == T0 + timedelta(hours=1)
    assert after.counts == {"syncs": 1}


async def test_commit_sync_is_conditional_on_still_holding_the_lock(store: Store) -> None:
    # The lock is checked in the commit's own transaction.
    await store.save_user(user())
    before = await store.get_user("u1")
    with pytest.raises(LockLost):  # never held
        await store.commit_sync(
            user(watermark=T0), put(period("a")), started_at=T0, full=False, lock_owner="me"
        )
    assert await store.acquire_lock("u1", "other", ttl=60) is None
    with pytest.raises(LockLost):  # held by another
        await store.commit_sync(
            user(watermark=T0), put(period("a")), started_at=T0, full=False, lock_owner="me"
        )
    assert await store.get_periods("u1") == {}
    assert await store.get_user("u1") == before
    await store.release_lock("u1", "other")
    assert await store.acquire_lock("u1", "me", ttl=60) is None
    await store.commit_sync(
        user(watermark=T0), put(period("a")), started_at=T0, full=False, lock_owner="me"
    )
    assert await store.get_periods("u1") == {"a": period("a")}


async def test_a_claim_settles_only_once_no_write_of_it_can_still_land(store: Store) -> None:
    # A delete answered 404 (or a listing without the period)
    # soon after the claim does not prove the claimed upsert will not land later.
    await store.save_user(user())
    bound = timedelta(minutes=10)
    await store.claim_periods("u1", {"p-old": "a", "p-young": "b"}, claimed_at=T0)
    await store.claim_periods("u1", {"p-young": "b"}, claimed_at=T0 + timedelta(minutes=8))
    await store.claim_periods("u1", {"p-mine": "c"}, claimed_at=T0 + timedelta(minutes=11))
    started = T0 + timedelta(minutes=11)
    release = OwnershipChanges(release=frozenset({"p-old", "p-young", "p-mine"}))
    await store.commit_sync(
        user(), release, started_at=started, full=False, release_claimed_before=started - bound
    )
    # p-old: claimed 11 minutes before. p-mine: claimed by this sync itself. p-young: claimed
    # first at T0; a re-claim keeps the oldest time, so it settles as well.
    assert await store.get_claims("u1") == {}

    await store.claim_periods("u1", {"p-x": "x"}, claimed_at=T0 + timedelta(minutes=5))
    await store.claim_periods("u1", {"p-x": "x"}, claimed_at=T0 + timedelta(minutes=12))
    started = T0 + timedelta(minutes=12)
    await store.commit_sync(
        user(),
        OwnershipChanges(release=frozenset({"p-x"})),
        started_at=started,
        full=False,
        release_claimed_before=started - bound,
    )
    # The write of minute 5 may still be in flight: the re-claim of this sync does not settle it.
    assert await store.get_claims("u1") == {"p-x": "x"}
    started = T0 + timedelta(minutes=14, seconds=59)
    await store.commit_sync(
        user(),
        OwnershipChanges(release=frozenset({"p-x"})),
        started_at=started,
        full=False,
        release_claimed_before=started - bound,
    )
    assert await store.get_claims("u1") == {"p-x": "x"}
    started = T0 + timedelta(minutes=15)
    await store.commit_sync(
        user(),
        OwnershipChanges(release=frozenset({"p-x"})),
        started_at=started,
        full=False,
        release_claimed_before=started - bound,
    )
    assert await store.get_claims("u1") == {}


async def test_an_intent_recorded_after_the_read_is_never_settled_by_clocks(store: Store) -> None:
    """An intent is settled by what the sync read, not by comparing clocks: by clocks, a
    notification recorded after the sync read the user but stamped before the sync's start
    time would be cleared unread."""
    await store.save_user(user())
    u = await store.get_user("u1")  # the sync reads the user ...
    assert u is not None
    # ... a notification is recorded after that read, stamped (by another clock) earlier.
    await store.record_intent("u1", changes_since=T0, received_at=T0 - timedelta(seconds=5))
    committed = await store.commit_sync(u, NOTHING, started_at=T0, full=False)
    assert committed.pending_since == T0
    stored = await store.get_user("u1")
    assert stored is not None
    assert stored.pending_since == T0
    # A sync that read the user after the intent settles it.
    settled = await store.commit_sync(stored, NOTHING, started_at=T0, full=False)
    assert settled.pending_since is None


async def test_sync_lock_is_exclusive_renewable_and_released(store: Store) -> None:
    await store.save_user(user())
    assert await store.acquire_lock("u1", "host:1:a", ttl=60) is None
    assert await store.acquire_lock("u1", "host:1:a", ttl=60) is None  # renew
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"
    await store.release_lock("u1", "host:1:b")  # not the holder: no effect
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"
    await store.release_lock("u1", "host:1:a")
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) is None


async def test_an_expired_lock_is_taken_over(store: Store) -> None:
    assert await store.acquire_lock("u1", "host:1:a", ttl=-1) is None  # already expired
    assert await store.acquire_lock("u1", "host:1:b", ttl=60) is None


async def test_a_lock_held_by_a_dead_local_process_is_taken_over(store: Store) -> None:
    import socket
    import sys

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    dead = f"{socket.gethostname()}:{out.decode().strip()}:x"
    assert await store.acquire_lock("u1", dead, ttl=3600) is None
    assert await store.acquire_lock("u1", "other:1:b", ttl=60) is None


async def test_sqlite_lock_is_shared_between_two_connections(tmp_path: Path) -> None:
    a = await SQLiteStore.open(tmp_path / "state.db")
    b = await SQLiteStore.open(tmp_path / "state.db")
    try:
        assert await a.acquire_lock("u1", "host:1:a", ttl=60) is None
        assert await b.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"
    finally:
        await a.close()
        await b.close()


async def test_credentials_saved_separately_survive(store: Store) -> None:
    await store.save_user(user())
    await store.save_credentials("u1", StoredCredentials("new-at", "new-rt", 999.0))
    got = await store.get_user("u1")
    assert got is not None
    assert got.credentials == StoredCredentials("new-at", "new-rt", 999.0)


async def test_delivery_log_is_bounded_newest_first_and_updatable(store: Store) -> None:
    ids = []
    for i in range(7):
        ids.append(
            await store.add_delivery(
                accepted_change(T0, user_id="u1", headers={"X": str(i)}, body=f"body{i}")
            )
        )
    log = await store.list_deliveries()
    assert [d.body for d in log] == ["body6", "body5", "body4", "body3", "body2"]
    await store.update_delivery(ids[-1], outcome="synced", sync_result={"upserts": 1})
    latest = await store.get_delivery(ids[-1])
    assert latest is not None
    assert (latest.outcome, latest.sync_result) == ("synced", {"upserts": 1})
    assert await store.get_delivery(ids[0]) is None  # fell off the log


async def test_delivery_log_bound_holds_for_deliveries_logged_together(store: Store) -> None:
    # SQLite trims the log once per group commit: concurrent writes share one group.
    ids = await asyncio.gather(
        *(store.add_delivery(accepted_change(T0, user_id="u1", body=f"body{i}")) for i in range(7))
    )
    log = await store.list_deliveries()
    assert sorted(d.delivery_id for d in log if d.delivery_id is not None) == sorted(ids)[-5:]
    assert len(log) == 5


async def test_delete_user_removes_its_periods(store: Store) -> None:
    await store.save_user(user())
    await store.commit_sync(user(), put(period("a")), started_at=T0, full=False)
    await store.delete_user("u1")
    assert await store.get_user("u1") is None
    assert await store.get_periods("u1") == {}


def test_public_view_and_repr_hold_no_secret() -> None:
    u = user(callback_url="https://x.example/cronofy/notifications/KEY")
    u.callback_key = "KEYKEYKEYKEY"
    u.callback_url = f"https://x.example/cronofy/notifications/{u.callback_key}"
    text = repr(u) + repr(u.public()) + repr(u.credentials)
    for secret in ("at-SECRET", "rt-SECRET", u.callback_key):
        assert secret not in text


async def test_sqlite_file_is_owner_only_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    s = await SQLiteStore.open(path)
    await s.save_user(user())
    await s.commit_sync(user(), put(period("a")), started_at=T0, full=False)
    await s.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    s2 = await SQLiteStore.open(path)
    try:
        assert s2.schema_version == SCHEMA_VERSION
        got = await s2.get_user("u1")
        assert got is not None
        assert got.credentials == user().credentials
        assert await s2.get_periods("u1") == {"a": period("a")}
    finally:
        await s2.close()


async def test_sqlite_tightens_a_loose_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    s = await SQLiteStore.open(path)
    await s.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreSchemaError, match="upgrade cronofy_avail if that one is newer"):
        await SQLiteStore.open(path)


async def test_sqlite_refuses_a_database_of_another_version(tmp_path: Path) -> None:
    """No migrations: the schema is version 1 (no release had another); any other version,
    as a development build before the squash wrote, is refused rather than damaged."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    with pytest.raises(StoreSchemaError, match="schema version 5") as raised:
        await SQLiteStore.open(path)
    assert "move it aside and run `cronofy-avail setup` again" in str(raised.value)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
async def test_sqlite_refuses_every_development_schema(tmp_path: Path, version: int) -> None:
    """Development builds before 0.1.0 wrote versions 1 to 5 with other columns: none of their
    files is taken for this schema (a version-1 file used to be opened, then failed on its
    first write with a raw OperationalError)."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, callback_key TEXT)")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    with pytest.raises(StoreSchemaError, match=f"schema version {version};"):
        await SQLiteStore.open(path)


async def test_sqlite_creates_the_schema_in_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sqlite3.connect(path).close()  # version 0, no tables
    s = await SQLiteStore.open(path)
    try:
        assert s.schema_version == SCHEMA_VERSION
        await s.save_user(user())
        assert await s.get_user("u1") is not None
    finally:
        await s.close()


async def test_saving_a_user_again_keeps_its_owned_periods(store: Store) -> None:
    await store.save_user(user())
    await store.commit_sync(user(), put(period("a")), started_at=T0, full=False)
    again = await store.get_user("u1")
    assert again is not None
    again.state = UserState.DISCONNECTED
    await store.save_user(again)
    assert await store.get_periods("u1") == {"a": period("a")}
    stored = await store.get_user("u1")
    assert stored is not None
    assert stored.state == UserState.DISCONNECTED


async def test_a_sync_finishing_after_teardown_does_not_bring_the_user_back(store: Store) -> None:
    await store.save_user(user())
    running = await store.get_user("u1")  # the sync's copy, taken when it started
    assert running is not None
    await store.delete_user("u1")  # teardown meanwhile
    await store.commit_sync(running, put(period("a")), started_at=T0, full=False)
    assert await store.get_user("u1") is None
    assert await store.get_periods("u1") == {}


async def test_periods_of_some_events_only(store: Store) -> None:
    await store.save_user(user())
    await store.commit_sync(
        user(), put(period("a"), period("b", 11), period("c", 13)), started_at=T0, full=True
    )
    assert set(await store.get_periods("u1", ["a", "c", "zz"])) == {"a", "c"}
    assert await store.get_periods("u1", []) == {}
    assert set(await store.get_periods("u1")) == {"a", "b", "c"}


async def test_a_round_reads_only_the_users_due(store: Store) -> None:
    """The scheduler asks the store for the users due (an indexed query), not for
    every user; what it selects is what a round must look at, nothing it may skip."""
    later, earlier = T0 + timedelta(hours=1), T0 - timedelta(hours=1)
    for uid in ("new", "due", "later", "failed", "pending", "reauth", "gone", "nocal"):
        await store.save_user(user(user_id=uid, state=UserState.IDLE))
    for uid, due in (("due", earlier), ("later", later), ("failed", later), ("pending", later)):
        u = await store.get_user(uid)
        assert u is not None
        u.watermark, u.reconcile_due_at = T0, due
        await store.commit_sync(u, NOTHING, started_at=T0, full=False)
    await store.set_state("failed", UserState.FAILED, "403")
    await store.record_intent("pending", changes_since=T0, received_at=T0)
    await store.set_state("reauth", UserState.NEEDS_REAUTH, "401")
    await store.set_state("gone", UserState.DISCONNECTED, None)
    nocal = await store.get_user("nocal")
    assert nocal is not None
    nocal.calendar_id = None
    await store.save_user(nocal)

    listed = await store.list_due_users(T0)
    assert [u.user_id for u in listed] == ["due", "failed", "new", "pending"]
    assert next(u for u in listed if u.user_id == "due").reconcile_due_at == earlier
    assert [u.user_id for u in await store.list_due_users(later)] == [
        "due",
        "failed",
        "later",
        "new",
        "pending",
    ]


async def test_a_due_time_only_moves_forward_and_save_user_keeps_it(store: Store) -> None:
    await store.save_user(user())
    await store.set_reconcile_due({"u1": T0, "ghost": T0})
    await store.set_reconcile_due({"u1": T0 - timedelta(hours=1)})  # a stale round's view
    got = await store.get_user("u1")
    assert got is not None
    assert got.reconcile_due_at == T0
    got.reconcile_due_at = None
    got.tzid = "Europe/Paris"
    await store.save_user(got)  # setup: never the sync's own fields
    again = await store.get_user("u1")
    assert again is not None
    assert (again.tzid, again.reconcile_due_at) == ("Europe/Paris", T0)
    assert await store.get_user("ghost") is None
    assert [u.user_id for u in await store.list_due_users(T0 - timedelta(seconds=1))] == []


async def test_sqlite_reads_due_users_by_index(tmp_path: Path) -> None:
    from cronofy_avail.runtime.store.sql import SELECT_DUE_UNION

    s = await SQLiteStore.open(tmp_path / "state.db")
    try:
        await s.save_user(
            user(state=UserState.IDLE, watermark=T0, last_reconcile_at=T0, calendar_id="cal")
        )
        # Unknown due time (never computed by a sync): looked at by the next round.
        assert [u.user_id for u in await s.list_due_users(T0)] == ["u1"]
        plan = s._db.execute(f"EXPLAIN QUERY PLAN {SELECT_DUE_UNION}", (T0.isoformat(),)).fetchall()
        details = [str(row[3]) for row in plan]
        assert not [d for d in details if d.startswith("SCAN")], details
    finally:
        await s.close()


async def test_each_store_selects_the_users_the_rule_selects(store: Store) -> None:
    """The SQL forms of ``scheduler_must_look`` (an index query per dialect) agree with the
    rule on every row of its table (tests/core/test_intents.py)."""
    from tests.support.intents import DUE_CASES
    from tests.support.intents import T0 as AT

    expected: list[str] = []
    for case in DUE_CASES:
        facts, looked_at = case.values
        assert isinstance(case.id, str)
        await store.save_user(user(user_id=case.id, **{k: getattr(facts, k) for k in vars(facts)}))
        if looked_at:
            expected.append(case.id)
    assert [u.user_id for u in await store.list_due_users(AT)] == sorted(expected)


async def test_sqlite_clear_empties_the_store_and_delivery_ids_start_again(
    tmp_path: Path,
) -> None:
    s = await SQLiteStore.open(tmp_path / "state.db")
    try:
        u = user(user_id="u1")
        await s.save_user(u)
        await s.commit_sync(u, put(period("e1")), started_at=T0, full=False)
        await s.claim_periods("u1", {"p1": "e1"}, claimed_at=T0)
        for owner in ("u1", None):
            await s.add_delivery(accepted_change(T0, user_id=owner, body="b"))
        assert await s.acquire_lock("u1", "me", ttl=60) is None
        await s.clear()
        assert await s.list_users() == []
        assert await s.list_deliveries() == []
        assert await s.get_periods("u1") == {}
        assert await s.get_claims("u1") == {}
        assert await s.acquire_lock("u1", "other", ttl=60) is None  # no lock left behind
        first = await s.add_delivery(accepted_change(T0, body="b", notification_type=None))
        assert first == 1
    finally:
        await s.close()


async def test_an_acknowledged_delivery_is_logged_exactly_as_received(store: Store) -> None:
    """Whatever the body and headers hold (quotes, backslashes, newlines, non-ASCII, an
    escaped NUL), the log keeps them as received: PostgreSQL gets the group as one JSON
    document, which must not change a character."""
    await store.save_user(user())
    u = await store.get_user("u1")
    assert u is not None
    body = '{"notification": {"type": "change", "changes_since": "2026-01-05T09:00:00Z"}}\n'
    body += 'quote " backslash \\ tab \t émoji 🎉 escaped-nul \\u0000 ]}'
    headers = {"Cronofy-HMAC-SHA256": "abc=", "X-Odd": 'a"b\\c é'}
    delivery = accepted_change(T0, headers=headers, body=body)
    accepted = await store.accept_delivery(
        delivery, callback_key=u.callback_key, changes_since=None, full=True
    )
    assert accepted is not None
    logged = await store.get_delivery(accepted[0])
    assert logged is not None
    assert (logged.body, logged.headers, logged.user_id) == (body, headers, "u1")
    assert logged.received_at == T0
    stored = await store.get_user("u1")
    assert stored is not None
    assert (stored.pending_full, stored.pending_since, stored.pending_at) == (True, None, T0)
