"""Receivers and workers on one PostgreSQL (the throwaway cluster) against the emulator:
the coordinator's guarantees across processes (here several in one loop; the soak runs them
as separate processes and kills them)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import procrastinate
import pytest

from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import open_system
from cronofy_avail.cli.worker import worker
from cronofy_avail.client.ratelimit import RateWindow
from cronofy_avail.runtime.cluster import (
    QUEUE,
    SYNC_TASK,
    ClusterStore,
    ClusterWorker,
    PostgresRateLimiter,
    enqueue_sync,
    lock_key,
)
from cronofy_avail.runtime.coordinator import UserClients
from cronofy_avail.runtime.outage import DatabaseGone, DatabaseWatch
from cronofy_avail.runtime.store import UserRecord
from cronofy_avail.runtime.sync import SyncEngine
from tests.support.commands import WAIT, Cli, Served, at, closed_port, emulator, make_cli
from tests.support.deliveries import accepted_change
from tests.support.postgres import Cluster
from tests.support.wait import until

__all__ = ["emulator"]


@pytest.fixture
async def pg_cli(
    emulator: object, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # serve's admin token lives there
    runner = await make_cli(emulator, tmp_path)  # type: ignore[arg-type]
    runner.environ["CRONOFY_AVAIL_DB"] = pg_url
    return runner


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def pg_user(url: str, user_id: str = "default") -> UserRecord | None:
    store = await ClusterStore.open_cluster(url)
    try:
        return await store.get_user(user_id)
    finally:
        await store.close()


class Worker:
    """``cronofy-avail worker`` as a task in the test's loop."""

    def __init__(self, cli: Cli, **options: object) -> None:
        self.out = io.StringIO()
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        settings = Settings.load(cli.environ, None)
        self.task = asyncio.create_task(
            worker(settings, self.out, ready=self.ready, stop=self.stop, **options)  # type: ignore[arg-type]
        )

    async def __aenter__(self) -> Worker:
        waiter = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self.task}, timeout=WAIT, return_when="FIRST_COMPLETED"
        )
        if self.task in done:
            waiter.cancel()
            self.task.result()
            raise AssertionError(f"worker ended early:\n{self.out.getvalue()}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert await asyncio.wait_for(self.task, WAIT) == 0


async def test_a_receiver_enqueues_and_two_workers_converge(pg_cli: Cli, pg_url: str) -> None:
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    await pg_cli.setup(public)
    user = await pg_user(pg_url)
    assert user is not None
    assert user.calendar_id is not None
    pg_cli.add_event(user.calendar_id, at(1, 9), at(1, 10))
    async with Served(pg_cli, port, public_url=public) as served:
        assert "Receiving for the workers on postgresql://" in served.text
        async with Worker(pg_cli), Worker(pg_cli):
            await until(lambda: len(pg_cli.remote_periods()) == 1)
            pg_cli.add_event(user.calendar_id, at(2, 9), at(2, 10))
            await until(lambda: len(pg_cli.remote_periods()) == 2)
            await until(lambda: _settled(pg_url))
    stored = await pg_user(pg_url)
    assert stored is not None
    assert stored.pending_since is None
    assert not stored.pending_full


async def _settled(url: str) -> bool:
    user = await pg_user(url)
    return user is not None and user.pending_at is None and user.last_sync_at is not None


async def test_intent_and_job_are_one_transaction_and_later_ones_fold(pg_url: str) -> None:
    from datetime import UTC, datetime

    store = await ClusterStore.open_cluster(pg_url)
    try:
        await store.save_user(UserRecord("u1", calendar_id="cal"))
        now = datetime.now(UTC)
        for _ in range(5):
            await store.record_intent("u1", changes_since=now, received_at=now)
        assert (store.enqueued, store.folded) == (1, 4)  # one waiting job, the rest fold
        assert store.app is not None
        jobs = list(await store.app.job_manager.list_jobs_async(queueing_lock=lock_key("u1")))
        assert [j.status for j in jobs] == ["todo"]
        assert await enqueue_sync(store.app, "u1") is False
        # A failed transaction takes the job with it: nothing is queued without its intent.
        assert await store.record_intent("ghost", changes_since=now, received_at=now) is None
        ghost = list(await store.app.job_manager.list_jobs_async(queueing_lock=lock_key("ghost")))
        assert ghost == []
    finally:
        await store.close()


async def test_a_loaded_run_of_acks_writes_no_error_and_one_job_per_user(
    pg_cluster: Cluster, pg_url: str
) -> None:
    """Many acknowledgements at once, most for users whose job already waits: they commit in
    groups (one statement each), defer one job per user, fold the rest into it, and the
    server's log gains no ERROR line (no duplicate key on procrastinate's queueing lock)."""
    from datetime import UTC, datetime

    store = await ClusterStore.open_cluster(pg_url)
    start = pg_cluster.log.stat().st_size
    try:
        users = [UserRecord(f"u{i}", calendar_id="cal") for i in range(20)]
        for user in users:
            await store.save_user(user)
        now = datetime.now(UTC)

        async def ack(i: int) -> tuple[int, str] | None:
            user = users[i % len(users)]
            delivery = accepted_change(now, headers={"X": str(i)}, body=f"b{i}")
            return await store.accept_delivery(
                delivery, callback_key=user.callback_key, changes_since=now, full=i == 7
            )

        first = await asyncio.gather(*(ack(i) for i in range(20)))  # each user's job
        assert (store.enqueued, store.folded) == (20, 0)
        accepted = await asyncio.gather(*(ack(i) for i in range(600)))  # jobs already wait
        assert all(a is not None for a in [*first, *accepted])
        assert (store.enqueued, store.folded) == (20, 600)
        assert store.group_commits < 620 / 4  # grouped, not one commit per ack
        assert len({a[0] for a in accepted if a is not None}) == 600  # a delivery each
        assert store.app is not None
        jobs = list(await store.app.job_manager.list_jobs_async(queue=QUEUE))
        assert sorted(j.queueing_lock or "" for j in jobs) == sorted(
            lock_key(u.user_id) for u in users
        )
        # Every ack moved its user's intent on (applied in order, as one at a time would).
        u0 = await store.get_user("u0")
        assert u0 is not None
        assert (u0.pending_gen, u0.pending_since) == (31, now)
        u7 = await store.get_user("u7")
        assert u7 is not None
        assert u7.pending_full
        assert u7.pending_full_gen == 2  # its 2nd ack (i = 7) asked for it
        # A worker starting u0's job clears its mark: the next ack defers a new job.
        await store.job_started("u0")
        await ack(0)
        assert store.enqueued == 20  # u0's job is still todo here: the insert skips it
        assert not await enqueue_sync(store.app, "u1")
    finally:
        await store.close()
    log = pg_cluster.log.read_text(errors="replace")[start:]
    assert [line for line in log.splitlines() if "ERROR" in line] == []


async def test_the_rate_limit_is_shared_by_every_process(pg_url: str) -> None:
    """Two limiters (two workers) on one database admit ``limit`` starts per window together."""
    a = await ClusterStore.open_cluster(pg_url)
    b = await ClusterStore.open_cluster(pg_url)
    try:
        windows = (RateWindow(5, 0.5),)
        la = PostgresRateLimiter(a, "app", windows, margin=0.0)
        lb = PostgresRateLimiter(b, "app", windows, margin=0.0)
        for limiter in (la, lb, la, lb, la):
            assert await limiter._try() == 0.0
        assert await lb._try() > 0.0  # the sixth start waits, whoever asks
        assert await la._try() > 0.0
        other = PostgresRateLimiter(a, "another-app", windows, margin=0.0)
        assert await other._try() == 0.0  # per application
    finally:
        await a.close()
        await b.close()


async def test_each_request_reserves_its_start_in_one_round_trip(pg_url: str) -> None:
    """Requests of two workers at once: one database round trip each, and the starts they
    reserved keep every window (at most ``limit`` starts per ``period``)."""
    from cronofy_avail.runtime.store.postgres import SCHEMA

    a = await ClusterStore.open_cluster(pg_url)
    b = await ClusterStore.open_cluster(pg_url)
    try:
        windows = (RateWindow(3, 0.2), RateWindow(5, 0.6))
        la = PostgresRateLimiter(a, "app", windows, margin=0.0)
        lb = PostgresRateLimiter(b, "app", windows, margin=0.0)
        await asyncio.gather(*(limiter.acquire() for limiter in (la, lb) * 4))
        assert (la.tries, lb.tries) == (4, 4)
        assert la.acquired + lb.acquired == 8
        async with a.connection() as conn:
            cur = await conn.execute(
                f"SELECT extract(epoch FROM at)::float8 AS at FROM {SCHEMA}.rate_grants "  # noqa: S608
                "WHERE app = 'app' ORDER BY at"
            )
            starts = [float(r["at"]) for r in await cur.fetchall()]
        assert len(starts) == 8
        for window in windows:
            for i in range(len(starts) - window.limit):
                assert starts[i + window.limit] - starts[i] >= window.period - 1e-6
    finally:
        await a.close()
        await b.close()


async def test_every_process_of_a_cluster_shares_the_configured_limit(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CRONOFY_AVAIL_RATE_LIMIT`` reaches the limiter in the database: two systems (two
    processes of one application) with 3 requests a day start 3 between them, and the fourth
    is held back, whichever asks (its wait is counted before it sleeps: no clock waited on)."""
    monkeypatch.setenv("HOME", str(tmp_path))  # the store's local anchor lives there
    environ = {
        "CRONOFY_CLIENT_ID": "limited-app",
        "CRONOFY_CLIENT_SECRET": "CRN_secret_value_0000",
        "CRONOFY_AVAIL_DB": pg_url,
        "CRONOFY_AVAIL_RATE_LIMIT": "3/24h",
    }
    settings = Settings.load(environ, None)
    async with open_system(settings) as one, open_system(settings) as two:
        first, second = one.rate_limiter, two.rate_limiter
        assert isinstance(first, PostgresRateLimiter)
        assert isinstance(second, PostgresRateLimiter)
        assert first.windows == second.windows == (RateWindow(3, 86_400.0),)
        assert one.clients().rate_limiter is first
        for limiter in (first, second, first):
            await limiter.acquire()
        assert first.waits + second.waits == 0
        fourth = asyncio.create_task(second.acquire())
        await until(lambda: second.waits == 1, what="the fourth request to be held back")
        assert not fourth.done()
        assert second.waited > 3600  # most of a day, not a moment
        fourth.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fourth
        assert await first._try() > 3600  # a new asker is told to wait too


async def test_worker_refuses_a_sqlite_store(tmp_path: Path) -> None:
    from cronofy_avail.app.explain import CommandError

    settings = Settings.load(
        {
            "CRONOFY_CLIENT_ID": "id",
            "CRONOFY_CLIENT_SECRET": "CRN_secret_value_0000",
            "CRONOFY_AVAIL_DB": str(tmp_path / "s.db"),
        },
        None,
    )
    with pytest.raises(CommandError, match="postgresql://"):
        await worker(settings, io.StringIO())


def test_the_give_up_limit_is_checked_as_its_variable(tmp_path: Path) -> None:
    """``--give-up-after`` is ``CRONOFY_AVAIL_DB_GIVE_UP`` for this run: one check, one
    message naming both, before anything is opened."""
    from cronofy_avail.cli.main import main_commands

    empty = tmp_path / "empty.env"
    empty.write_text("")
    environ = {"CRONOFY_AVAIL_DB": "postgresql://app@127.0.0.1:1/none"}
    for argv in (["--give-up-after", "0"], ["--give-up-after", "soon"]):
        out = io.StringIO()
        code = main_commands(["worker", "--env-file", str(empty), *argv], environ=environ, out=out)
        assert code == 2
        assert "CRONOFY_AVAIL_DB_GIVE_UP (or `worker --give-up-after`) must be a number of " in (
            out.getvalue()
        )


def _closed_url() -> str:
    return f"postgresql://app:hunter2-SECRET@127.0.0.1:{closed_port()}/nowhere"


async def test_a_database_watch_gives_up_past_its_limit_without_the_password() -> None:
    watch = DatabaseWatch(_closed_url(), give_up_after=0.5)
    with pytest.raises(DatabaseGone) as caught:
        await watch.wait()
    message = str(caught.value)
    assert message.startswith("the database postgresql://app:***@127.0.0.1:")
    assert "s (the limit is 0.5 s); last error: connection failed" in message
    assert "hunter2" not in message
    assert "\n" not in message
    assert watch.outages == 1


async def test_a_database_watch_returns_once_it_answers_or_a_stop(pg_url: str) -> None:
    up = DatabaseWatch(pg_url, give_up_after=60)
    assert await up.answers()
    assert await up.wait() is True
    stop = asyncio.Event()
    stop.set()
    assert await DatabaseWatch(_closed_url(), give_up_after=60).wait(stop) is False
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="above 0"):
            DatabaseWatch(pg_url, give_up_after=bad)


async def _cluster_worker(url: str, **options: object) -> tuple[ClusterStore, ClusterWorker]:
    store = await ClusterStore.open_cluster(url)
    clients = UserClients(store, client_id="app", client_secret="CRN_not_used_0000")
    return store, ClusterWorker(store, SyncEngine(store), clients, **options)  # type: ignore[arg-type]


async def test_a_second_job_of_a_user_never_runs_while_one_runs(pg_url: str) -> None:
    """The job lock: with one job of u1 running (doing), a queued follow-up of u1 is not
    handed to any worker, while another user's job is."""
    store = await ClusterStore.open_cluster(pg_url)
    try:
        assert store.app is not None
        manager = store.app.job_manager
        worker_a = await manager.register_worker()
        worker_b = await manager.register_worker()
        assert await enqueue_sync(store.app, "u1")
        running = await manager.fetch_job([QUEUE], worker_a)
        assert running is not None
        assert running.lock == lock_key("u1")
        assert await enqueue_sync(store.app, "u1")  # the one follow-up may wait
        assert not await enqueue_sync(store.app, "u1")  # ...and only one
        assert await enqueue_sync(store.app, "u2")
        other = await manager.fetch_job([QUEUE], worker_b)
        assert other is not None
        assert other.lock == lock_key("u2")
        assert await manager.fetch_job([QUEUE], worker_b) is None  # u1's follow-up waits
    finally:
        await store.close()


async def test_jobs_of_a_worker_that_stopped_are_run_again_by_another(pg_url: str) -> None:
    store, runner = await _cluster_worker(pg_url, stalled_after=30.0)
    try:
        assert store.app is not None
        manager = store.app.job_manager
        dead = await manager.register_worker()
        assert await enqueue_sync(store.app, "u1")
        job = await manager.fetch_job([QUEUE], dead)
        assert job is not None
        assert await runner.recover_stalled() == 0  # its heartbeat is fresh: not stalled
        async with store.pool.connection() as conn:
            await conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = %s",
                (dead,),
            )
        assert await runner.recover_stalled() == 1
        alive = await manager.register_worker()
        again = await manager.fetch_job([QUEUE], alive)
        assert again is not None
        assert again.id == job.id  # the same job, now for a live worker
    finally:
        await store.close()


async def test_a_stalled_job_with_a_follow_up_waiting_gives_way_to_it(pg_url: str) -> None:
    store, runner = await _cluster_worker(pg_url, stalled_after=30.0)
    try:
        assert store.app is not None
        manager = store.app.job_manager
        dead = await manager.register_worker()
        assert await enqueue_sync(store.app, "u1")
        assert await manager.fetch_job([QUEUE], dead) is not None
        assert await enqueue_sync(store.app, "u1")  # the follow-up waits
        async with store.pool.connection() as conn:
            await conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
            )
        assert await runner.recover_stalled() == 1
        alive = await manager.register_worker()
        assert await manager.fetch_job([QUEUE], alive) is not None  # the follow-up runs
    finally:
        await store.close()


async def test_a_retry_is_due_after_its_delay_on_the_databases_clock(pg_url: str) -> None:
    """A retry's due time counts from the database's clock, the one that decides when a job
    is due: a worker whose clock is skewed neither puts the retry off nor runs it early
    (under libfaketime this process's clock is far from the throwaway PostgreSQL's)."""
    from datetime import UTC, datetime

    from cronofy_avail.runtime.sync import SyncResult

    store, runner = await _cluster_worker(pg_url, retry_delays=(600.0,))
    try:
        now = datetime.now(UTC)
        busy = SyncResult("incremental", ok=False, started_at=now, finished_at=now, busy=True)
        await runner._after("u1", busy, 0)  # another process held the lock: retry later
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM scheduled_at - now())::float8 AS due_in "
                "FROM procrastinate_jobs WHERE queueing_lock = %s",
                (lock_key("u1"),),
            )
            (row,) = await cur.fetchall()
        assert 0.0 < row["due_in"] <= 600.0
    finally:
        await store.close()


async def test_the_tick_records_the_reconcile_once_and_resumes_pending_users(
    pg_url: str,
) -> None:
    from datetime import UTC, datetime

    store, runner = await _cluster_worker(pg_url)
    second_store, second = await _cluster_worker(pg_url)
    try:
        assert store.app is not None
        await store.save_user(UserRecord("due", calendar_id="cal"))  # never synced: due
        fresh = UserRecord("fresh", calendar_id="cal")
        fresh.watermark = fresh.last_reconcile_at = datetime.now(UTC)
        await store.save_user(fresh)
        await runner.tick()
        await second.tick()  # another worker's tick in the same period changes nothing more
        due = await store.get_user("due")
        assert due is not None
        assert due.pending_full
        assert due.pending_gen == 1  # recorded once
        jobs = list(await store.app.job_manager.list_jobs_async(task=SYNC_TASK))
        assert sorted(j.queueing_lock or "" for j in jobs) == [lock_key("due")]
        assert runner.stats.reconciles == 1
        assert second.stats.reconciles == 0
        # The fresh user had no due time (stored before one was kept): the tick looked at it
        # once and stored it, so later ticks do not read it until then.
        stored = await store.get_user("fresh")
        assert stored is not None
        assert stored.reconcile_due_at == runner.engine.reconcile_due(stored)
        assert stored.reconcile_due_at is not None
        listed = await store.list_due_users(datetime.now(UTC))
        assert [u.user_id for u in listed] == ["due"]  # pending: its job resumes it
    finally:
        await store.close()
        await second_store.close()


async def test_the_queues_statements_commit_alone_without_begin_and_commit(pg_url: str) -> None:
    """Procrastinate's queries are single statements; its pool hands out connections in
    autocommit, so fetching or finishing a job is one round trip, not three."""
    store = await ClusterStore.open_cluster(pg_url)
    try:
        assert store.app is not None
        connector = store.app.connector
        assert isinstance(connector, procrastinate.PsycopgConnector)
        async with connector.pool.connection() as conn:
            assert conn.autocommit
        manager = store.app.job_manager
        worker = await manager.register_worker()
        assert await enqueue_sync(store.app, "u1")
        job = await manager.fetch_job([QUEUE], worker)
        assert job is not None
        assert job.lock == lock_key("u1")
    finally:
        await store.close()


async def test_a_batch_of_acks_that_creates_jobs_notifies_once_per_channel(pg_url: str) -> None:
    """Procrastinate's trigger notifies both of its channels for every new job; a batch of
    acknowledgements (one statement) sends one notification per channel for all its jobs,
    and every other insert (a retry, the tick) still notifies by itself."""
    import psycopg

    from cronofy_avail.runtime.store.postgres import _ACCEPT, acks_document

    channels = (f"procrastinate_queue_v1#{QUEUE}", "procrastinate_any_queue_v1")
    store = await ClusterStore.open_cluster(pg_url)
    try:
        keys = []
        for i in range(5):
            await store.save_user(UserRecord(f"u{i}", calendar_id="cal"))
            user = await store.get_user(f"u{i}")
            assert user is not None
            keys.append(user.callback_key)
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as listener:
            for channel in channels:
                await listener.execute(f'LISTEN "{channel}"')

            async def heard() -> list[tuple[str, str]]:
                """Notifications until the marker this sends after them (commit order)."""
                await store_notify("end")
                got: list[tuple[str, str]] = []
                async for note in listener.notifies(timeout=30):
                    if note.payload == "end":
                        return got
                    got.append((note.channel, json.loads(note.payload)["type"]))
                raise AssertionError(f"the marker never came; heard {got}")

            async def store_notify(payload: str) -> None:
                async with store.connection() as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (channels[0], payload))

            delivery = accepted_change(T0, body="b")
            document = acks_document([(delivery, key, T0, False) for key in keys])
            async with store.connection() as conn:
                cur = await conn.execute(_ACCEPT, [document, 100, QUEUE, SYNC_TASK])
                rows = await cur.fetchall()
            assert sum(bool(r["enqueued"]) for r in rows) == 5  # five jobs ...
            assert sorted(await heard()) == sorted((c, "job_inserted") for c in channels)
            await store.save_user(UserRecord("u9", calendar_id="cal"))
            assert store.app is not None
            assert await enqueue_sync(store.app, "u9")  # ... and one outside a batch
            assert sorted(await heard()) == sorted((c, "job_inserted") for c in channels)
    finally:
        await store.close()
