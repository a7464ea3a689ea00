"""The default store: one SQLite file.

SQLite runs on one worker thread owned by the store, so no call blocks the event loop. The
database file is created owner-only (0600): it holds tokens. Its schema carries a version
(``PRAGMA user_version``): a new file gets the schema, one of another version is refused rather
than damaged.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar, get_args, get_type_hints

from cronofy_avail.core.intents import Intent, claim_settles, lock_held_by, merge_intent
from cronofy_avail.core.planner import KnownPeriod, OwnershipChanges
from cronofy_avail.runtime.store import sql
from cronofy_avail.runtime.store.protocol import (
    DEFAULT_DELIVERY_LOG,
    StoreSchemaError,
)
from cronofy_avail.runtime.store.records import (
    INTENT_FIELDS,
    OUTCOME_FIELDS,
    Delivery,
    StoredCredentials,
    UserRecord,
    _dt,
    _iso,
)
from cronofy_avail.runtime.store.rules import LockLost, commit_parts, may_take_lock
from cronofy_avail.runtime.store.schema import SCHEMA_VERSION as SCHEMA_VERSION
from cronofy_avail.runtime.store.schema import SQLITE

T = TypeVar("T")


_JSON = frozenset({"credentials", "last_result", "counts"})
_TIMES = frozenset(
    name
    for name, kind in get_type_hints(UserRecord).items()
    if kind is datetime or datetime in get_args(kind)
)


def _encode(name: str, value: Any) -> Any:
    if name == "credentials":
        return json.dumps(asdict(value)) if value is not None else None
    if name in _JSON:
        return json.dumps(value) if value is not None else None
    if name in _TIMES:
        return _iso(value)
    if isinstance(value, bool):
        return int(value)
    return value


# What an acknowledgement reads: the intent, not a whole user.
_SELECT_INTENT_BY_KEY = (
    f"SELECT user_id, {', '.join(INTENT_FIELDS)} FROM users WHERE callback_key = ?"  # noqa: S608
)


def _params(part: Any, columns: tuple[str, ...]) -> list[Any]:
    """The values of ``columns`` of ``part`` (a record or one writer's part), as SQLite's."""
    return [_encode(c, getattr(part, c)) for c in columns]


def _decode(name: str, value: Any) -> Any:
    if name == "credentials":
        return StoredCredentials(**json.loads(value)) if value else None
    if name in _JSON:
        return json.loads(value) if value else None
    if name in _TIMES:
        return _dt(value)
    if name == "pending_full":
        return bool(value)
    return value


def _write_intent(db: sqlite3.Connection, user_id: str, stored: Intent, intent: Intent) -> None:
    """Write ``intent`` over ``stored``, setting only the columns that change (see
    :func:`sql.write_intent_changes`)."""
    changed = tuple(c for c in INTENT_FIELDS if getattr(stored, c) != getattr(intent, c))
    if changed:
        db.execute(sql.write_intent_changes(changed), [*_params(intent, changed), user_id])


def _user_from(row: sqlite3.Row) -> UserRecord:
    return UserRecord(**{c: _decode(c, row[c]) for c in sql.USER_COLUMNS})


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle_all(settled: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


def _delivery_from(row: sqlite3.Row) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        received_at=datetime.fromisoformat(row["received_at"]),
        user_id=row["user_id"],
        callback_key_hint=row["callback_key_hint"],
        headers=json.loads(row["headers"]),
        body=row["body"],
        verified=bool(row["verified"]),
        outcome=row["outcome"],
        notification_type=row["notification_type"],
        sync_result=json.loads(row["sync_result"]) if row["sync_result"] else None,
    )


class SQLiteStore:
    """A real embedded database file. Open with ``await SQLiteStore.open(path)``."""

    def __init__(self, path: Path, *, delivery_log: int = DEFAULT_DELIVERY_LOG) -> None:
        self.path = path
        self._delivery_log = delivery_log
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cronofy-store")
        self._conn: sqlite3.Connection | None = None
        self._group: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._group_lock = threading.Lock()
        self._group_queued = False
        self._prune_deliveries = False
        """A grouped write logged a delivery: trim the log to its size before committing."""
        self.group_commits = 0
        """Transactions that committed grouped writes (tests, benchmarks)."""
        self.grouped_writes = 0

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, delivery_log: int = DEFAULT_DELIVERY_LOG
    ) -> Self:
        store = cls(Path(path), delivery_log=delivery_log)
        try:
            await store._run(store._connect)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file owner-only before SQLite opens it: it holds tokens.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # A checkpoint (the WAL copied back into the file, and an fsync) every 4,000 pages
        # written, not SQLite's 1,000: with many users each ack dirties its own user's page,
        # and a page written again before the checkpoint is copied once. The WAL file keeps
        # its largest size (about 16 MB; cutting it back after each checkpoint cost more than
        # it saved). P9, serve at 10,000 users against 1, acks/s: 1.16-1.22x with 1,000,
        # 1.11-1.16x with 4,000 (three of five runs; benchmarks/bench_serve.py).
        conn.execute("PRAGMA wal_autocheckpoint=4000")
        self._conn = conn
        self._check_schema(conn)

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """Create the schema in a new database; refuse one of another version."""
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            conn.close()
            self._conn = None
            raise StoreSchemaError(
                f"{self.path} has schema version {version}; this cronofy_avail reads version "
                f"{SCHEMA_VERSION} (development builds before 0.1.0 wrote 1 to 5).\nFix: open it "
                "with the cronofy_avail that wrote it (upgrade cronofy_avail if that one is "
                "newer), or move it aside and run `cronofy-avail setup` again."
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SQLITE.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        return self._conn

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        def run() -> T:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return run

    async def _grouped(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a transaction shared with the other grouped writes waiting for the
        store thread (group commit), and return once that transaction has committed.

        Each write runs under its own savepoint, so one that raises is undone alone and raises
        to its own caller; the others still commit. While the thread commits one group, the
        next one gathers: under load, many acknowledgements share one commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._group_lock:
            self._group.append((fn, future))
            schedule = not self._group_queued
            self._group_queued = True
        if schedule:
            # Submitted, not ``run_in_executor``: nothing awaits the job itself (its writes
            # settle their own futures), so no wrapper future calls back into the loop.
            self._executor.submit(self._commit_group, loop)
        return await future

    def _commit_group(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._group_lock:
            group, self._group = self._group, []
            self._group_queued = False
        outcomes: list[tuple[bool, Any]] = []
        try:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for fn, _ in group:
                    db.execute("SAVEPOINT grouped")
                    try:
                        outcomes.append((True, fn(db)))
                    except Exception as exc:  # that write alone is undone and fails
                        db.execute("ROLLBACK TO grouped")
                        outcomes.append((False, exc))
                    db.execute("RELEASE grouped")
                if self._prune_deliveries:
                    self._prune_deliveries = False
                    db.execute(
                        "DELETE FROM deliveries WHERE delivery_id <= "
                        "(SELECT MAX(delivery_id) FROM deliveries) - ?",
                        (self._delivery_log,),
                    )
            except BaseException:
                self._prune_deliveries = False
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self.group_commits += 1
            self.grouped_writes += len(group)
        except BaseException as exc:  # nothing of the group committed
            outcomes = [(False, exc)] * len(group)
        # One wake-up of the loop for the whole group, not one per write: each wake-up is a
        # write to the loop's self-pipe and a hand-over of the GIL.
        settled = [(future, outcome) for (_, future), outcome in zip(group, outcomes, strict=True)]
        loop.call_soon_threadsafe(_settle_all, settled)

    async def get_user(self, user_id: str) -> UserRecord | None:
        def q() -> UserRecord | None:
            row = self._db.execute(sql.SELECT_USER_BY_ID, (user_id,)).fetchone()
            return _user_from(row) if row else None

        return await self._run(q)

    async def get_user_by_callback_key(self, callback_key: str) -> UserRecord | None:
        def q() -> UserRecord | None:
            row = self._db.execute(sql.SELECT_USER_BY_KEY, (callback_key,)).fetchone()
            return _user_from(row) if row else None

        return await self._run(q)

    async def list_users(self) -> list[UserRecord]:
        def q() -> list[UserRecord]:
            rows = self._db.execute(f"{sql.SELECT_USER} ORDER BY user_id")
            return [_user_from(r) for r in rows.fetchall()]

        return await self._run(q)

    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        when = _iso(now)

        def q() -> list[UserRecord]:
            rows = self._db.execute(sql.SELECT_DUE_UNION, (when,)).fetchall()
            return sorted((_user_from(r) for r in rows), key=lambda u: u.user_id)

        return await self._run(q)

    async def pending_intents(self) -> tuple[int, datetime | None]:
        """Users with an unsettled intent, and when the oldest notification no sync has
        covered was received (the operator's view; one indexed query)."""

        def q() -> tuple[int, datetime | None]:
            row = self._db.execute(sql.SELECT_PENDING).fetchone()
            return int(row["users"]), _dt(row["oldest"])

        return await self._run(q)

    async def set_reconcile_due(self, dues: Mapping[str, datetime]) -> None:
        rows = [(_iso(due), user_id, _iso(due)) for user_id, due in dues.items()]

        def q(db: sqlite3.Connection) -> None:
            db.executemany(
                sql.SET_RECONCILE_DUE,
                rows,
            )

        if rows:
            await self._run(self._tx(q))

    async def save_user(self, user: UserRecord) -> None:
        """Create the user, or update its setup (credentials, profile, calendar, channel, zone,
        state); what a sync owns (watermark, results, counts, the intent) is never overwritten."""
        row = _params(user, sql.USER_COLUMNS)

        def q(db: sqlite3.Connection) -> None:
            db.execute(sql.SAVE_USER, row)

        await self._run(self._tx(q))

    async def delete_user(self, user_id: str) -> None:
        def q(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM periods WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM claims WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            # The logged bodies carry the user's callback key: forgetting the user forgets them.
            db.execute("DELETE FROM deliveries WHERE user_id = ?", (user_id,))

        await self._run(self._tx(q))

    async def clear(self) -> None:
        """Empty the store, the schema kept: every user (with its periods and claims), sync
        lock and delivery goes, and delivery ids start again at 1 (``dev``'s fresh start)."""

        def q(db: sqlite3.Connection) -> None:
            for table in ("periods", "claims", "sync_locks", "deliveries", "users"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'deliveries'")

        await self._run(self._tx(q))

    async def save_credentials(self, user_id: str, credentials: StoredCredentials) -> None:
        value = json.dumps(asdict(credentials))

        def q(db: sqlite3.Connection) -> None:
            db.execute(sql.SAVE_CREDENTIALS, (value, user_id))

        await self._run(self._tx(q))

    async def set_state(self, user_id: str, state: str, last_error: str | None) -> None:
        """Only the state and its error: a targeted write cannot undo anybody else's."""

        def q(db: sqlite3.Connection) -> None:
            db.execute(sql.SET_STATE, (state, last_error, user_id))

        await self._run(self._tx(q))

    async def get_periods(
        self, user_id: str, event_uids: Collection[str] | None = None
    ) -> dict[str, KnownPeriod]:
        """The owned periods of ``user_id``; of those events only when ``event_uids`` is given
        (an incremental sync loads what it read, not the whole calendar)."""

        def q() -> dict[str, KnownPeriod]:
            if event_uids is None:
                rows = self._db.execute(sql.SELECT_PERIODS, (user_id,)).fetchall()
            else:
                rows = self._db.execute(
                    f"{sql.SELECT_PERIODS} AND event_uid IN (SELECT value FROM json_each(?))",  # noqa: S608
                    (user_id, json.dumps(sorted(event_uids))),
                ).fetchall()
            return {
                r["event_uid"]: KnownPeriod(
                    r["event_uid"],
                    r["period_id"],
                    datetime.fromisoformat(r["start"]),
                    datetime.fromisoformat(r["end"]),
                )
                for r in rows
            }

        return await self._run(q)

    async def get_claims(self, user_id: str) -> dict[str, str | None]:
        def q() -> dict[str, str | None]:
            rows = self._db.execute(sql.SELECT_CLAIMS, (user_id,)).fetchall()
            return {r["period_id"]: r["event_uid"] for r in rows}

        return await self._run(q)

    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        """Record period ids as owned *before* they are sent (write-ahead), durably, with the
        time of the claim (a re-claim keeps the oldest: that write may still be in flight).
        With ``lock_owner``, the user's sync lock is first taken or renewed for ``lock_ttl``
        seconds as :meth:`acquire_lock` does, in the same transaction; when another holds
        it, :class:`LockLost` and nothing written."""
        when = claimed_at.timestamp()
        rows = [(user_id, period_id, uid, when) for period_id, uid in claims.items()]

        def q(db: sqlite3.Connection) -> None:
            if lock_owner is not None and self._take_lock(db, user_id, lock_owner, lock_ttl):
                raise LockLost(f"the sync lock of {user_id} is no longer held by {lock_owner}")
            if db.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                db.executemany(
                    "INSERT INTO claims (user_id, period_id, event_uid, claimed_at) "
                    "VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(user_id, period_id) DO UPDATE SET event_uid = excluded.event_uid, "
                    "claimed_at = MIN(claimed_at, excluded.claimed_at)",
                    rows,
                )

        await self._run(self._tx(q))

    @staticmethod
    def _check_lock(db: sqlite3.Connection, user_id: str, owner: str) -> None:
        """Raise :class:`LockLost` unless ``owner`` holds the user's sync lock (unexpired)."""
        row = db.execute(
            "SELECT owner, expires_at FROM sync_locks WHERE user_id = ?", (user_id,)
        ).fetchone()
        holder = (str(row["owner"]), float(row["expires_at"])) if row else None
        if not lock_held_by(holder, owner, time.time()):
            raise LockLost(f"the sync lock of {user_id} is no longer held by {owner}")

    @staticmethod
    def _take_lock(db: sqlite3.Connection, user_id: str, owner: str, ttl: float) -> str | None:
        """Take (or renew) the user's sync lock in ``db``'s transaction: ``None`` when held,
        else the holder's id."""
        now = time.time()
        row = db.execute(
            "SELECT owner, expires_at FROM sync_locks WHERE user_id = ?", (user_id,)
        ).fetchone()
        holder = (str(row["owner"]), float(row["expires_at"])) if row else None
        if not may_take_lock(holder, owner, now):
            assert holder is not None
            return holder[0]
        db.execute(
            "INSERT INTO sync_locks (user_id, owner, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at",
            (user_id, owner, now + ttl),
        )
        return None

    async def acquire_lock(self, user_id: str, owner: str, *, ttl: float) -> str | None:
        """Take (or renew) the user's sync lock for ``ttl`` seconds; shared by every process
        on this database file. Returns ``None`` when held, else the holder's id."""
        return await self._run(self._tx(lambda db: self._take_lock(db, user_id, owner, ttl)))

    async def release_lock(self, user_id: str, owner: str) -> None:
        def q(db: sqlite3.Connection) -> None:
            db.execute(sql.RELEASE_LOCK, (user_id, owner))

        await self._run(self._tx(q))

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
        """Record the ownership changes, the watermark and the state in one transaction.

        Only ``changes`` touch the ownership record: rows this sync did not plan are left as
        they are. ``settle`` clears the intent the sync covered; a failed sync passes ``False``
        and the intent stays for the retry (with ``settle``, ``user.watermark`` is the sync's new
        one: an intent left pending is read from no earlier than it, see
        :func:`settle_intent`). A user deleted while the sync ran (``teardown``) is
        not brought back. With ``lock_owner`` the commit happens only if that owner still holds
        the user's sync lock (unexpired), checked in the same transaction; otherwise
        :class:`LockLost` is raised and nothing changes. ``release_claimed_before``: see
        :func:`claim_settles`.
        """
        user = replace(user, counts=dict(user.counts))
        rows = [
            (user.user_id, k.event_uid, k.period_id, _iso(k.start), _iso(k.end))
            for k in changes.put.values()
        ]
        drops = [(user.user_id, uid, period_id) for uid, period_id in changes.drop.items()]
        released = json.dumps(sorted(changes.release))

        def q(db: sqlite3.Connection) -> UserRecord:
            if lock_owner is not None:
                self._check_lock(db, user.user_id, lock_owner)
            current = db.execute(sql.SELECT_USER_BY_ID, (user.user_id,)).fetchone()
            if current is None:
                return user  # deleted while the sync ran (teardown): it stays deleted
            stored = _user_from(current)
            outcome, intent = commit_parts(user, stored, full=full, settle=settle)
            db.execute(
                sql.COMMIT_USER,
                [
                    *_params(outcome, OUTCOME_FIELDS),
                    *_params(intent, INTENT_FIELDS),
                    user.user_id,
                ],
            )
            db.executemany(sql.DELETE_PERIOD, drops)
            db.executemany(sql.PUT_PERIOD, rows)
            if changes.release:
                # Only claims no write of which can still land (see ``claim_settles``).
                claimed = db.execute(
                    "SELECT period_id, claimed_at FROM claims WHERE user_id = ? "
                    "AND period_id IN (SELECT value FROM json_each(?))",
                    (user.user_id, released),
                ).fetchall()
                db.executemany(
                    sql.DELETE_CLAIM,
                    [
                        (user.user_id, r["period_id"])
                        for r in claimed
                        if claim_settles(
                            datetime.fromtimestamp(r["claimed_at"], UTC),
                            started_at=started_at,
                            before=release_claimed_before,
                        )
                    ],
                )
            return stored.apply(outcome).apply(intent)

        return await self._run(self._tx(q))

    async def record_intent(
        self,
        user_id: str,
        *,
        changes_since: datetime | None,
        full: bool = False,
        received_at: datetime,
    ) -> UserRecord | None:
        def q(db: sqlite3.Connection) -> UserRecord | None:
            row = db.execute(sql.SELECT_USER_BY_ID, (user_id,)).fetchone()
            if row is None:
                return None
            user = _user_from(row)
            intent = merge_intent(
                user.intent(), changes_since=changes_since, full=full, received_at=received_at
            )
            _write_intent(db, user_id, user.intent(), intent)
            return user.apply(intent)

        return await self._grouped(q)

    def _insert_delivery(self, db: sqlite3.Connection, delivery: Delivery) -> int:
        cur = db.execute(
            sql.INSERT_DELIVERY,
            (
                _iso(delivery.received_at),
                delivery.user_id,
                delivery.callback_key_hint,
                json.dumps(delivery.headers),
                delivery.body,
                int(delivery.verified),
                delivery.outcome,
                delivery.notification_type,
                json.dumps(delivery.sync_result) if delivery.sync_result else None,
            ),
        )
        new_id = cur.lastrowid
        assert new_id is not None
        self._prune_deliveries = True  # once for the whole group, before it commits
        return new_id

    async def add_delivery(self, delivery: Delivery) -> int:
        return await self._grouped(lambda db: self._insert_delivery(db, delivery))

    async def accept_delivery(
        self,
        delivery: Delivery,
        *,
        callback_key: str,
        changes_since: datetime | None,
        full: bool = False,
    ) -> tuple[int, str] | None:
        """Find the user by ``callback_key``, log the delivery and record the intent, in one
        transaction (shared with concurrent acknowledgements: group commit). Committed when
        this returns; ``None`` (and nothing written) when no user holds the key."""

        def q(db: sqlite3.Connection) -> tuple[int, str] | None:
            row = db.execute(_SELECT_INTENT_BY_KEY, (callback_key,)).fetchone()
            if row is None:
                return None
            user_id = str(row["user_id"])
            stored = Intent(
                pending_since=_dt(row["pending_since"]),
                pending_full=bool(row["pending_full"]),
                pending_at=_dt(row["pending_at"]),
                pending_gen=int(row["pending_gen"]),
                pending_full_gen=int(row["pending_full_gen"]),
            )
            intent = merge_intent(
                stored,
                changes_since=changes_since,
                full=full,
                received_at=delivery.received_at,
            )
            _write_intent(db, user_id, stored, intent)
            logged = replace(delivery, user_id=user_id)
            return self._insert_delivery(db, logged), user_id

        return await self._grouped(q)

    async def update_delivery(
        self, delivery_id: int, *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        await self.update_deliveries([delivery_id], outcome=outcome, sync_result=sync_result)

    async def update_deliveries(
        self, delivery_ids: Sequence[int], *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        """Credit one outcome to many deliveries in one statement (a sync's result)."""
        ids = json.dumps(list(delivery_ids))
        result = json.dumps(sync_result) if sync_result else None

        def q(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE deliveries SET outcome = ?, sync_result = ? "
                "WHERE delivery_id IN (SELECT value FROM json_each(?))",
                (outcome, result, ids),
            )

        if delivery_ids:
            await self._grouped(q)

    async def list_deliveries(self, limit: int = DEFAULT_DELIVERY_LOG) -> list[Delivery]:
        def q() -> list[Delivery]:
            rows = self._db.execute(
                "SELECT * FROM deliveries ORDER BY delivery_id DESC LIMIT ?", (limit,)
            ).fetchall()
            return [_delivery_from(r) for r in rows]

        return await self._run(q)

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        def q() -> Delivery | None:
            row = self._db.execute(
                "SELECT * FROM deliveries WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
            return _delivery_from(row) if row else None

        return await self._run(q)

    async def close(self) -> None:
        if self._conn is not None:

            def q() -> None:
                assert self._conn is not None
                self._conn.close()
                self._conn = None

            await self._run(q)
        self._executor.shutdown(wait=True)
