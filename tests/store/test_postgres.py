"""PostgreSQL's own promises, beyond the shared store suite (tests/store/test_stores.py runs that
suite on PostgreSQL too): one state for several processes, a versioned schema, clear errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.app.settings import Settings
from cronofy_avail.core.planner import OwnershipChanges
from cronofy_avail.runtime.store import (
    StoreSchemaError,
    StoreUnavailableError,
    UserRecord,
    open_store,
)
from tests.support.deliveries import accepted_change
from tests.support.postgres import Cluster

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_two_stores_on_one_database_share_users_and_the_sync_lock(pg_url: str) -> None:
    a = await open_store(pg_url)
    b = await open_store(pg_url)
    try:
        await a.save_user(UserRecord("u1"))
        assert await b.get_user("u1") is not None
        assert await a.acquire_lock("u1", "host:1:a", ttl=60) is None
        assert await b.acquire_lock("u1", "host:1:b", ttl=60) == "host:1:a"
        await a.release_lock("u1", "host:1:a")
        assert await b.acquire_lock("u1", "host:1:b", ttl=60) is None
    finally:
        await a.close()
        await b.close()


async def test_concurrent_intents_from_many_receivers_are_all_counted(pg_url: str) -> None:
    """Each recorded intent bumps the generation once, whichever process records it."""
    stores = [await open_store(pg_url) for _ in range(3)]
    try:
        await stores[0].save_user(UserRecord("u1"))
        await asyncio.gather(
            *(
                s.record_intent("u1", changes_since=T0 + timedelta(minutes=i), received_at=T0)
                for i in range(30)
                for s in stores
            )
        )
        got = await stores[1].get_user("u1")
        assert got is not None
        assert got.pending_gen == 90
        assert got.pending_since == T0
    finally:
        for s in stores:
            await s.close()


async def test_a_commit_never_settles_an_intent_another_process_recorded_meanwhile(
    pg_url: str,
) -> None:
    worker = await open_store(pg_url)
    receiver = await open_store(pg_url)
    try:
        await worker.save_user(UserRecord("u1"))
        await receiver.record_intent("u1", changes_since=T0, received_at=T0)
        read = await worker.get_user("u1")
        assert read is not None
        await receiver.record_intent("u1", changes_since=T0, received_at=T0)
        after = await worker.commit_sync(read, OwnershipChanges(), started_at=T0, full=False)
        assert after.pending_since == T0  # still pending: the follow-up will read it
    finally:
        await worker.close()
        await receiver.close()


async def test_many_processes_opening_a_new_database_at_once_create_its_schema_once(
    pg_url: str,
) -> None:
    from cronofy_avail.runtime.store.postgres import PG_SCHEMA_VERSION, PostgresStore

    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(4)))
    try:
        assert {s.schema_version for s in stores} == {PG_SCHEMA_VERSION}
    finally:
        for s in stores:
            await s.close()


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    import psycopg

    from cronofy_avail.runtime.store.postgres import PG_SCHEMA_VERSION, SCHEMA

    store = await open_store(pg_url)
    await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            f"UPDATE {SCHEMA}.schema_version SET version = %s",  # noqa: S608
            (PG_SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StoreSchemaError, match="upgrade cronofy_avail if that one is newer"):
        await open_store(pg_url)


async def test_an_unreachable_server_is_a_clear_error_without_the_password(
    pg_cluster: object,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://app:hunter2-SECRET@127.0.0.1:{port}/nowhere?connect_timeout=2"
    from cronofy_avail.runtime.store import postgres as pgstore

    with pytest.raises(StoreUnavailableError) as caught:
        await pgstore.PostgresStore.open(url, min_size=1)
    message = str(caught.value)
    assert "hunter2" not in message


def with_password(url: str) -> str:
    """``url`` with a password (the throwaway cluster trusts loopback, so any password works):
    what an error must never show."""
    return url.replace("cronofy_test@", "cronofy_test:hunter2-SECRET@")


async def test_a_store_outlives_restarts_of_its_server(pg_restartable: Cluster) -> None:
    """Every pooled connection dies with the server; the pool replaces them as it hands them
    out, so the first call after a restart works (a crash, ``immediate``, too)."""
    store = await open_store(pg_restartable.create_database())
    try:
        await store.save_user(UserRecord("u1"))
        for mode in ("fast", "immediate"):
            await asyncio.to_thread(pg_restartable.restart, mode)
            assert await store.get_user("u1") is not None
    finally:
        await store.close()


async def test_a_call_while_the_server_is_down_is_store_unavailable_without_the_password(
    pg_restartable: Cluster,
) -> None:
    """Not the driver's error, nor a wait of half a minute: the pool's few seconds, then an
    error a receiver answers 503 for; and the store works again once the server is back."""
    store = await open_store(with_password(pg_restartable.create_database()))
    try:
        await store.save_user(UserRecord("u1"))
        await asyncio.to_thread(pg_restartable.stop_server, "fast")
        try:
            with pytest.raises(StoreUnavailableError) as caught:
                await store.get_user("u1")
        finally:
            await asyncio.to_thread(pg_restartable.start_server)
        message = str(caught.value)
        assert message.startswith("lost the PostgreSQL store postgresql://cronofy_test:***@")
        assert "hunter2" not in message
        assert "\n" not in message
        assert await store.get_user("u1") is not None
    finally:
        await store.close()


def test_settings_take_a_postgres_url_and_never_show_its_password() -> None:
    url = "postgresql://app:hunter2-SECRET@db.internal:5433/avail"
    settings = Settings.load({"CRONOFY_AVAIL_DB": url}, env_file=None)
    assert settings.db_url == url
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.db_label
    assert settings.db_label == "postgresql://app:***@db.internal:5433/avail"
    assert "hunter2-SECRET" in settings.secrets()  # masked in every command's output
    assert settings.db_path.name == "pg-db.internal-5433-avail"


def test_the_driver_is_imported_only_when_a_postgres_store_is_opened() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, cronofy_avail, cronofy_avail.runtime.store, cronofy_avail.cli.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


async def test_due_users_are_read_by_index(pg_url: str) -> None:
    """A scheduler round reads the users due by the schema's indexes, not every
    user; a user whose due time is unknown is looked at by the next round."""
    import psycopg

    from cronofy_avail.runtime.store.postgres import _DUE, SCHEMA

    store = await open_store(pg_url)
    await store.save_user(
        UserRecord(
            "u1",
            callback_key="k",
            calendar_id="cal",
            state="idle",
            watermark=T0,
            last_reconcile_at=T0,
        )
    )
    await store.close()
    store = await open_store(pg_url)
    try:
        assert [u.user_id for u in await store.list_due_users(T0)] == ["u1"]
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute("SET enable_seqscan = off")  # a tiny table: ask for the index
            cur = await conn.execute(
                f"EXPLAIN SELECT user_id FROM {SCHEMA}.users {_DUE}",  # noqa: S608
                (T0,),
            )
            plan = "\n".join(str(row[0]) for row in await cur.fetchall())
        assert "Seq Scan" not in plan, plan
        assert "users_reconcile_due" in plan, plan
    finally:
        await store.close()


async def test_a_version_6_database_is_migrated_to_the_current_schema(pg_url: str) -> None:
    """0.1.0 shipped version 6: opening one adds ``users.job_queued`` and the functions (7),
    the room for heap-only updates in the users' pages (8), the JSON acks (9) and their reads
    through the indexes (10)."""
    import psycopg

    from cronofy_avail.runtime.store.postgres import PG_SCHEMA_VERSION, SCHEMA

    store = await open_store(pg_url)
    await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            f"DROP FUNCTION {SCHEMA}.accept_deliveries_v2, {SCHEMA}.defer_sync_v1, "  # noqa: S608
            f"{SCHEMA}.rate_grant_v1; ALTER TABLE {SCHEMA}.users DROP COLUMN job_queued; "
            f"ALTER TABLE {SCHEMA}.users RESET (fillfactor); "
            f"CREATE INDEX deliveries_user ON {SCHEMA}.deliveries (user_id); "
            f"UPDATE {SCHEMA}.schema_version SET version = 6"
        )
    store = await open_store(pg_url)
    try:
        assert store.schema_version == PG_SCHEMA_VERSION == 10  # type: ignore[attr-defined]
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            cur = await conn.execute(f"SELECT '{SCHEMA}.users'::regclass::oid")
            row = await cur.fetchone()
            assert row is not None
            cur = await conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s", (row[0],))
            assert await cur.fetchone() == (["fillfactor=80"],)
            cur = await conn.execute(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = "
                "'deliveries'",
                (SCHEMA,),
            )
            assert await cur.fetchone() == (1,)  # its primary key only (9)
        await store.save_user(UserRecord("u1", calendar_id="cal"))
        user = await store.get_user("u1")
        assert user is not None
        delivery = accepted_change(T0, body="b")
        accepted = await store.accept_delivery(
            delivery, callback_key=user.callback_key, changes_since=T0
        )
        assert accepted is not None
    finally:
        await store.close()


async def test_acks_for_a_user_already_pending_write_no_index_entry(pg_url: str) -> None:
    """``pending_at`` keeps the oldest arrival, so an ack for a user already pending changes
    only columns no index reads: PostgreSQL writes each new row version beside the old one
    (a heap-only update) and no index entry. Counted in the acking transaction itself."""
    import psycopg

    from cronofy_avail.runtime.store.postgres import _ACCEPT, SCHEMA, acks_document

    store = await open_store(pg_url)
    try:
        await store.save_user(UserRecord("u1", calendar_id="cal"))
        user = await store.get_user("u1")
        assert user is not None
        delivery = accepted_change(T0, body="b")
        # The user becomes pending (on the store's own connection).
        assert await store.accept_delivery(
            delivery, callback_key=user.callback_key, changes_since=T0
        )
    finally:
        await store.close()

    def ack(at: datetime) -> list[object]:
        delivery = accepted_change(at, body="b")
        return [acks_document([(delivery, user.callback_key, T0, False)]), 100, None, None]

    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        for minutes in range(1, 6):
            await conn.execute(_ACCEPT, ack(T0 + timedelta(minutes=minutes)))
        cur = await conn.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE schemaname = %s AND relname = 'users'",
            (SCHEMA,),
        )
        assert await cur.fetchone() == (5, 5)
        cur = await conn.execute(
            f"SELECT pending_at, pending_gen FROM {SCHEMA}.users"  # noqa: S608
        )
        assert await cur.fetchone() == (T0, 6)


async def test_a_group_of_acks_reads_the_users_by_index_among_thousands(pg_url: str) -> None:
    """An ack's cost does not grow with the number of users: among 3,000 (analyzed, as
    autovacuum would), a group of acks for users already pending and for users that get a
    job reads ``users`` only through its indexes. (Its first body joined the document's rows,
    which the planner cannot count, to the whole table: a scan of every user per group, 6x
    the cost per ack at 10,000 users.) Counted in the acking transaction itself."""
    import psycopg

    from cronofy_avail.runtime.cluster import QUEUE, SYNC_TASK, ClusterStore
    from cronofy_avail.runtime.store.postgres import _ACCEPT, SCHEMA, acks_document

    store = await ClusterStore.open_cluster(pg_url)  # with the job queue's tables
    try:
        await store.save_user(UserRecord("u0", callback_key="k0", calendar_id="cal"))
    finally:
        await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        # Copies of the first user under other ids and keys, in one statement.
        await conn.execute(
            f"INSERT INTO {SCHEMA}.users SELECT (jsonb_populate_record(NULL::{SCHEMA}.users, "  # noqa: S608
            "to_jsonb(u) || jsonb_build_object('user_id', 'u' || g, 'callback_key', 'k' || g))).* "
            f"FROM {SCHEMA}.users u, generate_series(1, 2999) AS g"
        )
        # Half the group's users already have a job waiting; the others get one.
        await conn.execute(
            f"UPDATE {SCHEMA}.users SET job_queued = TRUE, pending_at = %s "  # noqa: S608
            "WHERE user_id IN ('u10', 'u11', 'u12')",
            (T0,),
        )
        await conn.execute(f"ANALYZE {SCHEMA}.users")
        keys = ["k10", "k20", "k11", "k21", "k12", "k22", "k10", "nobody"]
        document = acks_document(
            [(accepted_change(T0 + timedelta(minutes=1)), k, T0, False) for k in keys]
        )
        async with conn.transaction(force_rollback=True):
            cur = await conn.execute(_ACCEPT, (document, 100, QUEUE, SYNC_TASK))
            rows = await cur.fetchall()
            cur = await conn.execute(
                "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables "
                "WHERE schemaname = %s AND relname = 'users'",
                (SCHEMA,),
            )
            scans = await cur.fetchone()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (1, "u10", False),
        (2, "u20", True),
        (3, "u11", False),
        (4, "u21", True),
        (5, "u12", False),
        (6, "u22", True),
        (7, "u10", False),
    ]
    assert scans is not None
    seq_scan, idx_scan = scans
    assert seq_scan == 0
    assert idx_scan > 0
