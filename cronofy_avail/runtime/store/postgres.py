"""The :class:`~cronofy_avail.runtime.store.protocol.Store` on PostgreSQL, for several processes and
machines sharing one state (``CRONOFY_AVAIL_DB=postgresql://…``).

The same semantics as the SQLite store, with PostgreSQL's row locks in place of SQLite's
whole-database write lock: ``record_intent`` and ``commit_sync`` lock the user's row
(``SELECT … FOR UPDATE``), so an intent recorded by any receiver is either seen by a commit or
bumps the generation that commit checks; the sync lock's lease runs on the database's clock,
so machines with skewed clocks still agree on when it expired.

Everything lives in its own schema (``cronofy_avail``), so a database shared with a job queue
or an application keeps its names apart. The schema carries a version (``schema_version``); it is
created on first open under an advisory lock (several processes starting at once create it
once), and a database of another version is refused rather than damaged.

Needs the ``postgres`` extra (psycopg 3 and its pool): this module is imported only when a
``postgresql://`` URL is opened, so ``import cronofy_avail`` stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Self

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cronofy_avail.core.dburl import redact_db_url
from cronofy_avail.core.intents import merge_intent
from cronofy_avail.core.planner import KnownPeriod, OwnershipChanges
from cronofy_avail.runtime.store import sql
from cronofy_avail.runtime.store.protocol import (
    DEFAULT_DELIVERY_LOG,
    StoreSchemaError,
    StoreUnavailableError,
)
from cronofy_avail.runtime.store.records import (
    INTENT_FIELDS,
    OUTCOME_FIELDS,
    Delivery,
    StoredCredentials,
    UserRecord,
)
from cronofy_avail.runtime.store.rules import LockLost, commit_parts, holder_is_dead
from cronofy_avail.runtime.store.schema import PG_MIGRATIONS, POSTGRES, POSTGRES_FUNCTIONS
from cronofy_avail.runtime.store.schema import PG_SCHEMA_VERSION as PG_SCHEMA_VERSION
from cronofy_avail.runtime.store.sql import for_postgres

# Any fixed 64-bit key: held while the schema is created, so concurrent openers create it once.
_SCHEMA_LOCK = 0x63726F6E6F6679

CHECKOUT_TIMEOUT = 3.0
"""Seconds a store call waits for a working connection: long enough to ride out a restart
(``pg_ctl restart`` takes about a second), short enough that a receiver answers 503 before
Cronofy stops waiting, and a worker learns the database is gone (see ``runtime.cluster``)."""
RECONNECT_TIMEOUT = 2.0
"""Seconds the pool keeps trying to replace a lost connection (1 s apart, then 2 s) before it
leaves that to the next caller, who starts a fresh series at once. psycopg_pool doubles the
delay without bound over its default 5 minutes: after an outage of a minute the next attempt
could come a minute after the server is back, every caller answered "unavailable" meanwhile."""
CONNECT_TIMEOUT = 10
"""Seconds a new connection may take (libpq's ``connect_timeout``) unless the URL says: a
server that moved (a failover) fails the attempt instead of hanging it for minutes."""

# SQLSTATEs of a server going away or not taking connections yet (besides class 08, connection
# exceptions): admin shutdown, crash shutdown, cannot connect now, too many connections.
_GONE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
SCHEMA = sql.PG_SCHEMA
_PRUNE_EVERY = 32
# A delivery is in the log while it is one of the newest ``delivery_log`` (placeholder).
_IN_LOG = f"delivery_id > (SELECT coalesce(max(delivery_id), 0) FROM {SCHEMA}.deliveries) - %s"  # noqa: S608

# The statements both dialects share (see ``sql.py``), in PostgreSQL's form.
_SELECT_USER = for_postgres(sql.SELECT_USER)
_SAVE_USER = for_postgres(sql.SAVE_USER)
_COMMIT_USER = for_postgres(sql.COMMIT_USER)
_WRITE_INTENT = for_postgres(sql.WRITE_INTENT)
# What a scheduler round reads (``Store.list_due_users``): one bitmap OR of the due indexes.
_DUE = sql.DUE_WHERE.replace("?", "%s")
# The user's row, locked, if ``owner`` still holds the user's sync lock (locked too).
_SELECT_USER_HELD = (
    f"SELECT {', '.join('u.' + c for c in sql.USER_COLUMNS)} FROM {SCHEMA}.users u "  # noqa: S608
    f"JOIN {SCHEMA}.sync_locks l ON l.user_id = u.user_id AND l.owner = %s "
    "AND l.expires_at > clock_timestamp() WHERE u.user_id = %s FOR UPDATE"
)
# The sync lock taken when free, renewed by its owner, or taken over once expired.
_TAKE_LOCK = (
    f"INSERT INTO {SCHEMA}.sync_locks AS l (user_id, owner, expires_at) "  # noqa: S608
    "VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
    "ON CONFLICT (user_id) DO UPDATE SET owner = excluded.owner, "
    "expires_at = excluded.expires_at "
    "WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp() RETURNING l.owner"
)
# Claims written ahead (``claim_periods``), the user's row locked FOR SHARE: none written
# for a user deleted meanwhile.
_CLAIM_ROWS = (
    f"INSERT INTO {SCHEMA}.claims AS c (user_id, period_id, event_uid, claimed_at) "  # noqa: S608
    "SELECT u.user_id, n.period_id, n.event_uid, %(at)s FROM (SELECT user_id FROM "
    f"{SCHEMA}.users WHERE user_id = %(user)s FOR SHARE) u CROSS JOIN "
    "unnest(%(ids)s::text[], %(uids)s::text[]) AS n(period_id, event_uid) {held}"
    "ON CONFLICT (user_id, period_id) DO UPDATE SET event_uid = excluded.event_uid, "
    "claimed_at = LEAST(c.claimed_at, excluded.claimed_at)"
)
_CLAIM = _CLAIM_ROWS.format(held="")
# The same by a sync: its lock taken or renewed first (``_TAKE_LOCK``'s common cases), the
# claims written only if it holds it, all in one statement; ``held`` says whether it did.
_CLAIM_HELD = (
    f"WITH lock AS (INSERT INTO {SCHEMA}.sync_locks AS l (user_id, owner, expires_at) "  # noqa: S608
    "VALUES (%(user)s, %(owner)s, clock_timestamp() + make_interval(secs => %(ttl)s)) "
    "ON CONFLICT (user_id) DO UPDATE SET owner = excluded.owner, "
    "expires_at = excluded.expires_at "
    "WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp() RETURNING l.owner), "
    "ins AS (" + _CLAIM_ROWS.format(held="WHERE EXISTS (SELECT 1 FROM lock) ") + ") "
    "SELECT EXISTS (SELECT 1 FROM lock) AS held"
)
# Many acknowledgements in one statement and one commit (``schema.POSTGRES_FUNCTIONS``).
_ACCEPT = (
    f"SELECT ord, user_id, delivery_id, enqueued FROM {SCHEMA}.accept_deliveries_v2("  # noqa: S608
    "%s::jsonb, %s, %s, %s)"
)


def acks_document(acks: Sequence[tuple[Delivery, str, datetime | None, bool]]) -> str:
    """The JSON array ``accept_deliveries_v2`` reads: per (delivery, callback key,
    ``changes_since``, full) in arrival order, one object (``ord`` its position from 1).
    Written by the C encoder in one call: psycopg dumps arrays element by element in Python,
    which cost a receiver a quarter of its CPU per ack when this was ten arrays."""
    return json.dumps(
        [
            {
                "ord": i,
                "key": key,
                "received": d.received_at.isoformat(),
                "since": None if since is None else since.isoformat(),
                "full": full,
                "hint": d.callback_key_hint,
                "headers": d.headers,
                "body": d.body,
                "verified": d.verified,
                "outcome": d.outcome,
                "type": d.notification_type,
            }
            for i, (d, key, since, full) in enumerate(acks, start=1)
        ]
    )


ACK_BATCH = 500
"""Most acknowledgements one statement carries (the rest wait for the next one)."""


@dataclass(slots=True)
class _Ack:
    """One acknowledgement waiting for its group's commit."""

    delivery: Delivery
    callback_key: str
    changes_since: datetime | None
    full: bool
    done: asyncio.Future[tuple[int, str, bool] | None]


def _encode(value: Any) -> Any:
    if isinstance(value, StoredCredentials):
        return Jsonb(asdict(value))
    if isinstance(value, dict):
        return Jsonb(value)
    return value


def _params(part: Any, columns: tuple[str, ...]) -> list[Any]:
    """The values of ``columns`` of ``part`` (a record or one writer's part), as psycopg's."""
    return [_encode(getattr(part, c)) for c in columns]


def user_from(row: DictRow) -> UserRecord:
    """A user record from a row of the user columns (``sql.USER_COLUMNS``)."""
    creds = row["credentials"]
    return UserRecord(
        user_id=row["user_id"],
        callback_key=row["callback_key"],
        credentials=StoredCredentials(**creds) if creds else None,
        sub=row["sub"],
        profile_id=row["profile_id"],
        calendar_id=row["calendar_id"],
        channel_id=row["channel_id"],
        callback_url=row["callback_url"],
        tzid=row["tzid"],
        watermark=row["watermark"],
        state=row["state"],
        last_error=row["last_error"],
        last_result=row["last_result"],
        last_sync_at=row["last_sync_at"],
        last_reconcile_at=row["last_reconcile_at"],
        pending_since=row["pending_since"],
        pending_full=bool(row["pending_full"]),
        pending_at=row["pending_at"],
        pending_gen=int(row["pending_gen"]),
        pending_full_gen=int(row["pending_full_gen"]),
        counts=dict(row["counts"]),
        reconcile_due_at=row["reconcile_due_at"],
    )


def _delivery_from(row: DictRow) -> Delivery:
    return Delivery(
        delivery_id=int(row["delivery_id"]),
        received_at=row["received_at"],
        user_id=row["user_id"],
        callback_key_hint=row["callback_key_hint"],
        headers=dict(row["headers"]),
        body=row["body"],
        verified=bool(row["verified"]),
        outcome=row["outcome"],
        notification_type=row["notification_type"],
        sync_result=row["sync_result"],
    )


Conn = AsyncConnection[DictRow]


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the database going away or not answering: a
    restart, a failover, a network cut, a pool that found no working connection. Not a query
    the server refused (a constraint, a deadlock, a syntax error): that one is not transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreUnavailableError):
            return True
        if isinstance(current, psycopg.OperationalError):
            state = current.sqlstate
            # No SQLSTATE: libpq's own failure (refused, closed, timed out) or the pool's.
            if state is None or state.startswith("08") or state in _GONE_STATES:
                return True
        current = current.__cause__ or current.__context__
    return False


def with_connect_timeout(url: str) -> dict[str, Any]:
    """Connection keywords for ``url``: :data:`CONNECT_TIMEOUT` unless the URL sets one."""
    if "connect_timeout" in psycopg.conninfo.conninfo_to_dict(url):
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT}


async def check_connection(conn: AsyncConnection[Any]) -> None:
    """The pool's check of a connection it hands out, without a round trip when the
    connection is quiet: a server that closed it (a restart, a failover's fast shutdown) has
    written its termination notice or EOF on the socket, which makes it readable; only then
    is the connection probed (``check_connection``: a round trip, which fails if it is gone).
    A probe on every checkout doubled the statements of every store call."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


async def _configure(conn: AsyncConnection[Any]) -> None:
    # Timestamps come back in UTC, as the SQLite store returns them.
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


class PostgresStore:
    """A PostgreSQL database shared by every process. Open with
    ``await PostgresStore.open("postgresql://…")``."""

    def __init__(self, pool: AsyncConnectionPool[Conn], url: str, *, delivery_log: int) -> None:
        self._pool = pool
        self.url = url
        self._delivery_log = delivery_log
        self.schema_version = 0
        self._acks: list[_Ack] = []
        self._flusher: asyncio.Task[None] | None = None
        self.group_commits = 0
        """Statements (each its own transaction) that committed grouped acknowledgements."""
        self.grouped_writes = 0
        """Acknowledgements those statements committed."""

    @property
    def pool(self) -> AsyncConnectionPool[Conn]:
        """The connection pool (the job queue's receiver side shares its transactions)."""
        return self._pool

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A working connection of the pool (checked as it is handed out, replaced if the
        server closed it). The database going away, before or while it is used, is a
        :class:`StoreUnavailableError` saying so (without the password): the caller may try
        again once it is back; any other error is the driver's own."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except Exception as exc:
            if isinstance(exc, StoreUnavailableError) or not connection_lost(exc):
                raise
            raise StoreUnavailableError(
                f"lost the PostgreSQL store {redact_db_url(self.url)} "
                f"({error_reason(self.url, exc)})"
            ) from exc

    def __repr__(self) -> str:
        return f"PostgresStore({redact_db_url(self.url)!r})"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        delivery_log: int = DEFAULT_DELIVERY_LOG,
        min_size: int = 1,
        max_size: int = 10,
        checkout_timeout: float = CHECKOUT_TIMEOUT,
    ) -> Self:
        """Connect, create the schema if new, then open the pool. A server that cannot be reached,
        or a schema newer than this code, fails here with a clear error (no password).
        ``checkout_timeout``: see :data:`CHECKOUT_TIMEOUT`."""
        try:
            async with await AsyncConnection.connect(
                url, autocommit=True, row_factory=dict_row, **with_connect_timeout(url)
            ) as conn:
                version = await _ensure_schema(conn, url)
        except Exception as exc:
            raise open_error(url, exc) from None
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, **with_connect_timeout(url)},
            configure=_configure,
            # A connection the server closed (a restart) is replaced as it is handed out,
            # instead of failing the first statement of whoever gets it.
            check=check_connection,
            timeout=checkout_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            name="cronofy-avail-store",
        )
        try:
            await pool.open(wait=True, timeout=30.0)
        except Exception as exc:
            await pool.close()
            raise open_error(url, exc) from None
        store = cls(pool, url, delivery_log=delivery_log)
        store.schema_version = version
        return store

    # ------------------------------------------------------------------ users

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self.connection() as conn:
            cur = await conn.execute(f"{_SELECT_USER} WHERE user_id = %s", (user_id,))
            row = await cur.fetchone()
        return user_from(row) if row else None

    async def get_user_by_callback_key(self, callback_key: str) -> UserRecord | None:
        async with self.connection() as conn:
            cur = await conn.execute(f"{_SELECT_USER} WHERE callback_key = %s", (callback_key,))
            row = await cur.fetchone()
        return user_from(row) if row else None

    async def list_users(self) -> list[UserRecord]:
        async with self.connection() as conn:
            cur = await conn.execute(f"{_SELECT_USER} ORDER BY user_id")
            rows = await cur.fetchall()
        return [user_from(r) for r in rows]

    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        """See ``Store.list_due_users``: one bitmap OR of the due indexes of the schema."""
        async with self.connection() as conn:
            cur = await conn.execute(f"{_SELECT_USER} {_DUE} ORDER BY user_id", (now,))
            rows = await cur.fetchall()
        return [user_from(r) for r in rows]

    async def set_reconcile_due(self, dues: Mapping[str, datetime]) -> None:
        if not dues:
            return
        async with self.connection() as conn, conn.transaction(), conn.cursor() as c:
            await c.executemany(
                for_postgres(sql.SET_RECONCILE_DUE),
                [(due, user_id, due) for user_id, due in dues.items()],
            )

    async def save_user(self, user: UserRecord) -> None:
        async with self.connection() as conn:
            await conn.execute(_SAVE_USER, _params(user, sql.USER_COLUMNS))

    async def delete_user(self, user_id: str) -> None:
        async with self.connection() as conn, conn.transaction():
            for table in ("periods", "claims", "sync_locks", "users", "deliveries"):
                await conn.execute(
                    f"DELETE FROM {SCHEMA}.{table} WHERE user_id = %s",  # noqa: S608
                    (user_id,),
                )

    async def save_credentials(self, user_id: str, credentials: StoredCredentials) -> None:
        async with self.connection() as conn:
            await conn.execute(
                for_postgres(sql.SAVE_CREDENTIALS),
                (Jsonb(asdict(credentials)), user_id),
            )

    async def set_state(self, user_id: str, state: str, last_error: str | None) -> None:
        """Only the state and its error: a targeted write cannot undo anybody else's."""
        async with self.connection() as conn:
            await conn.execute(
                for_postgres(sql.SET_STATE),
                (state, last_error, user_id),
            )

    # ------------------------------------------------------------------ ownership

    async def get_periods(
        self, user_id: str, event_uids: Collection[str] | None = None
    ) -> dict[str, KnownPeriod]:
        """The user's owned periods; with ``event_uids``, only those events' periods."""
        query = for_postgres(sql.SELECT_PERIODS)
        params: tuple[Any, ...] = (user_id,)
        if event_uids is not None:
            if not event_uids:
                return {}
            query += " AND event_uid = ANY(%s)"
            params = (user_id, list(event_uids))
        async with self.connection() as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        return {
            r["event_uid"]: KnownPeriod(r["event_uid"], r["period_id"], r["start"], r["end"])
            for r in rows
        }

    async def get_claims(self, user_id: str) -> dict[str, str | None]:
        async with self.connection() as conn:
            cur = await conn.execute(
                for_postgres(sql.SELECT_CLAIMS),
                (user_id,),
            )
            rows = await cur.fetchall()
        return {r["period_id"]: r["event_uid"] for r in rows}

    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        """Record period ids as owned *before* they are sent (write-ahead), durably; a claim
        made again keeps its first time (see :func:`.store.claim_settles`). With
        ``lock_owner``, the user's sync lock is first taken or renewed for ``lock_ttl``
        seconds as :meth:`acquire_lock` does, in the same statement; when another holds it,
        :class:`.store.LockLost` and nothing written."""
        if not claims:
            return
        params = {"at": claimed_at, "user": user_id, "ids": list(claims)}
        params["uids"] = list(claims.values())
        if lock_owner is None:
            async with self.connection() as conn:
                await conn.execute(_CLAIM, params)
            return
        params.update(owner=lock_owner, ttl=lock_ttl)
        async with self.connection() as conn:
            cur = await conn.execute(_CLAIM_HELD, params)
            row = await cur.fetchone()
        if row is not None and row["held"]:
            return
        # Another holder's lease covers it: taken back only if that holder is dead.
        if await self.acquire_lock(user_id, lock_owner, ttl=lock_ttl) is not None:
            raise LockLost(f"the sync lock of {user_id} is no longer held by {lock_owner}")
        await self.claim_periods(user_id, claims, claimed_at=claimed_at)

    # ------------------------------------------------------------------ the sync lock

    async def acquire_lock(self, user_id: str, owner: str, *, ttl: float) -> str | None:
        """Take (or renew) the user's sync lock for ``ttl`` seconds of the database's clock;
        shared by every process on this database. ``None`` when held, else the holder's id.

        One statement in the common cases (free, renewed by its owner, or expired); only a
        lock another holder's lease still covers is looked at further (is that holder dead?)."""
        async with self.connection() as conn:
            cur = await conn.execute(_TAKE_LOCK, (user_id, owner, ttl))
            if await cur.fetchone() is not None:
                return None
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO {SCHEMA}.sync_locks (user_id, owner, expires_at) "  # noqa: S608
                "VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (user_id) DO NOTHING RETURNING owner",
                (user_id, owner, ttl),
            )
            if await cur.fetchone() is not None:
                return None
            cur = await conn.execute(
                f"SELECT owner, expires_at <= clock_timestamp() AS expired "  # noqa: S608
                f"FROM {SCHEMA}.sync_locks WHERE user_id = %s FOR UPDATE",
                (user_id,),
            )
            row = await cur.fetchone()
            held_by = str(row["owner"]) if row else None
            if row is not None and not (
                held_by == owner or row["expired"] or holder_is_dead(str(held_by))
            ):
                return held_by
            await conn.execute(
                f"INSERT INTO {SCHEMA}.sync_locks (user_id, owner, expires_at) "  # noqa: S608
                "VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (user_id) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at",
                (user_id, owner, ttl),
            )
            return None

    async def release_lock(self, user_id: str, owner: str) -> None:
        async with self.connection() as conn:
            await conn.execute(
                for_postgres(sql.RELEASE_LOCK),
                (user_id, owner),
            )

    # ------------------------------------------------------------------ sync results

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
        """Record the ownership changes, the watermark and the state in one transaction, with
        the user's row locked (see the SQLite store for the rules). With ``lock_owner``, the
        commit happens only while that owner still holds the user's sync lock (else
        :class:`.store.LockLost` and nothing changes)."""
        user = replace(user, counts=dict(user.counts))
        async with self.connection() as conn, conn.transaction():
            current = None
            if lock_owner is not None:
                # The user's row and the lock's row locked in one statement (the common case).
                cur = await conn.execute(_SELECT_USER_HELD, (lock_owner, user.user_id))
                current = await cur.fetchone()
                if current is None:
                    cur = await conn.execute(
                        f"SELECT 1 FROM {SCHEMA}.sync_locks WHERE user_id = %s "  # noqa: S608
                        "AND owner = %s AND expires_at > clock_timestamp() FOR UPDATE",
                        (user.user_id, lock_owner),
                    )
                    if await cur.fetchone() is None:
                        raise LockLost(f"the sync lock of {user.user_id} passed to another holder")
            if current is None:
                cur = await conn.execute(
                    f"{_SELECT_USER} WHERE user_id = %s FOR UPDATE", (user.user_id,)
                )
                current = await cur.fetchone()
            if current is None:
                return user  # deleted while the sync ran (teardown): it stays deleted
            stored = user_from(current)
            outcome, intent = commit_parts(user, stored, full=full, settle=settle)
            # The writes need no answer before the next: one pipelined round trip.
            async with conn.pipeline(), conn.cursor() as c:
                await c.execute(
                    _COMMIT_USER,
                    [
                        *_params(outcome, OUTCOME_FIELDS),
                        *_params(intent, INTENT_FIELDS),
                        user.user_id,
                    ],
                )
                if changes.drop:
                    await c.executemany(
                        for_postgres(sql.DELETE_PERIOD),
                        [(user.user_id, uid, pid) for uid, pid in changes.drop.items()],
                    )
                if changes.put:
                    await c.executemany(
                        for_postgres(sql.PUT_PERIOD),
                        [
                            (user.user_id, k.event_uid, k.period_id, k.start, k.end)
                            for k in changes.put.values()
                        ],
                    )
                if changes.release:
                    # ``claim_settles`` in SQL: one statement, not a read and a delete.
                    await c.execute(
                        f"DELETE FROM {SCHEMA}.claims WHERE user_id = %s "  # noqa: S608
                        "AND period_id = ANY(%s) AND (%s::timestamptz IS NULL "
                        "OR claimed_at <= %s OR claimed_at >= %s)",
                        (
                            user.user_id,
                            list(changes.release),
                            release_claimed_before,
                            release_claimed_before,
                            started_at,
                        ),
                    )
            return stored.apply(outcome).apply(intent)

    async def record_intent(
        self,
        user_id: str,
        *,
        changes_since: datetime | None,
        full: bool = False,
        received_at: datetime,
    ) -> UserRecord | None:
        async with self.connection() as conn, conn.transaction():
            user = await record_intent_in(
                conn, user_id, changes_since=changes_since, full=full, received_at=received_at
            )
            if user is not None:
                await self._after_intent(conn, user)
            return user

    async def _after_intent(self, conn: Conn, user: UserRecord) -> None:
        """Called inside the transaction that recorded ``user``'s intent (a cluster process
        enqueues the sync there)."""

    _job_queue: tuple[str, str] | None = None
    """(queue, task) of the sync job an acknowledgement defers; ``None``: none (one process
    syncs itself). Set by the cluster's store."""

    async def accept_delivery(
        self,
        delivery: Delivery,
        *,
        callback_key: str,
        changes_since: datetime | None,
        full: bool = False,
    ) -> tuple[int, str] | None:
        """Find the user by ``callback_key``, log the delivery and record the intent (and, in a
        cluster, defer the user's sync unless one waits), in one transaction shared with the
        acknowledgements that arrive meanwhile (group commit: one statement and one commit
        for all of them, ``accept_deliveries_v2``); ``None`` (and nothing written) when no
        user holds the key. Returns once committed."""
        done: asyncio.Future[tuple[int, str, bool] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._acks.append(_Ack(delivery, callback_key, changes_since, full, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_acks())
        accepted = await done
        if accepted is None:
            return None
        delivery_id, user_id, _ = accepted
        return delivery_id, user_id

    async def _flush_acks(self) -> None:
        """Commit the waiting acknowledgements, a group at a time, until none waits: those that
        arrive while one group commits form the next."""
        while self._acks:
            group, self._acks = self._acks[:ACK_BATCH], self._acks[ACK_BATCH:]
            try:
                rows = await self._accept_group(group)
            except BaseException as exc:  # nothing of the group committed
                for ack in group:
                    if not ack.done.done():
                        ack.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.group_commits += 1
            self.grouped_writes += len(rows)
            found: dict[int, tuple[int, str, bool]] = {
                int(r["ord"]): (int(r["delivery_id"]), str(r["user_id"]), bool(r["enqueued"]))
                for r in rows
            }
            self._after_group(list(found.values()))
            for i, ack in enumerate(group, start=1):
                if not ack.done.done():
                    ack.done.set_result(found.get(i))

    def _after_group(self, accepted: list[tuple[int, str, bool]]) -> None:
        """Called with each committed group's (delivery id, user, job deferred)."""

    async def _accept_group(self, group: Sequence[_Ack]) -> list[DictRow]:
        document = acks_document(
            [(a.delivery, a.callback_key, a.changes_since, a.full) for a in group]
        )
        queue, task = self._job_queue or (None, None)
        async with self.connection() as conn:
            cur = await conn.execute(_ACCEPT, (document, self._delivery_log, queue, task))
            return await cur.fetchall()

    # ------------------------------------------------------------------ delivery log

    async def add_delivery(self, delivery: Delivery) -> int:
        async with self.connection() as conn, conn.transaction():
            return await self._insert_delivery(conn, delivery)

    async def _insert_delivery(self, conn: Conn, delivery: Delivery) -> int:
        cur = await conn.execute(
            f"{for_postgres(sql.INSERT_DELIVERY)} RETURNING delivery_id",
            (
                delivery.received_at,
                delivery.user_id,
                delivery.callback_key_hint,
                Jsonb(delivery.headers),
                delivery.body,
                delivery.verified,
                delivery.outcome,
                delivery.notification_type,
                Jsonb(delivery.sync_result) if delivery.sync_result else None,
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        new_id = int(row["delivery_id"])
        if new_id % _PRUNE_EVERY == 0:
            # Pruned now and then, not on every insert: receivers deleting the same old
            # rows at once would wait on each other's row locks. Reads see the bound.
            await conn.execute(
                f"DELETE FROM {SCHEMA}.deliveries WHERE delivery_id <= %s",  # noqa: S608
                (new_id - self._delivery_log,),
            )
        return new_id

    async def update_deliveries(
        self, delivery_ids: Sequence[int], *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        """One outcome for many deliveries, in one statement."""
        if not delivery_ids:
            return
        async with self.connection() as conn:
            await conn.execute(
                f"UPDATE {SCHEMA}.deliveries SET outcome = %s, sync_result = %s "  # noqa: S608
                "WHERE delivery_id = ANY(%s)",
                (outcome, Jsonb(sync_result) if sync_result else None, list(delivery_ids)),
            )

    async def update_delivery(
        self, delivery_id: int, *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        async with self.connection() as conn:
            await conn.execute(
                for_postgres(sql.SET_DELIVERY),
                (outcome, Jsonb(sync_result) if sync_result else None, delivery_id),
            )

    async def list_deliveries(self, limit: int = DEFAULT_DELIVERY_LOG) -> list[Delivery]:
        async with self.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM {SCHEMA}.deliveries WHERE {_IN_LOG} "  # noqa: S608
                "ORDER BY delivery_id DESC LIMIT %s",
                (self._delivery_log, limit),
            )
            rows = await cur.fetchall()
        return [_delivery_from(r) for r in rows]

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        async with self.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM {SCHEMA}.deliveries "  # noqa: S608
                f"WHERE delivery_id = %s AND {_IN_LOG}",
                (delivery_id, self._delivery_log),
            )
            row = await cur.fetchone()
        return _delivery_from(row) if row else None

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher  # the acknowledgements already taken commit first
        await self._pool.close()


async def _ensure_schema(conn: Conn, url: str) -> int:
    """Create the schema in a new database (once, however many processes open it at once);
    refuse one of another version. Returns the version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await conn.execute(
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}; "
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL)"
        )
        cur = await conn.execute(f"SELECT version FROM {SCHEMA}.schema_version")  # noqa: S608
        row = await cur.fetchone()
        if row is None:
            await conn.execute(POSTGRES.encode())
            await conn.execute(POSTGRES_FUNCTIONS.encode())
            await conn.execute(
                f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (%s)",  # noqa: S608
                (PG_SCHEMA_VERSION,),
            )
            return PG_SCHEMA_VERSION
        version = int(row["version"])
        while version in PG_MIGRATIONS and version < PG_SCHEMA_VERSION:
            await conn.execute(PG_MIGRATIONS[version].encode())
            version += 1
            await conn.execute(
                f"UPDATE {SCHEMA}.schema_version SET version = %s",  # noqa: S608
                (version,),
            )
        if version != PG_SCHEMA_VERSION:
            raise StoreSchemaError(
                f"{redact_db_url(url)} has schema version {version}; this cronofy_avail reads "
                f"version {PG_SCHEMA_VERSION} (development builds before 0.1.0 wrote 1 to 5)."
                "\nFix: open it with the cronofy_avail that wrote it (upgrade cronofy_avail if "
                "that one is newer), or drop its cronofy_avail schema and run `cronofy-avail "
                "setup` again."
            )
    return version


async def record_intent_in(
    conn: Conn,
    user_id: str,
    *,
    changes_since: datetime | None,
    full: bool,
    received_at: datetime,
) -> UserRecord | None:
    """Fold a notification into the user's durable intent inside the caller's transaction
    (a receiver enqueues the sync job in the same one)."""
    cur = await conn.execute(f"{_SELECT_USER} WHERE user_id = %s FOR UPDATE", (user_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    user = user_from(row)
    intent = merge_intent(
        user.intent(), changes_since=changes_since, full=full, received_at=received_at
    )
    await conn.execute(_WRITE_INTENT, [*_params(intent, INTENT_FIELDS), user_id])
    return user.apply(intent)


def error_reason(url: str, exc: BaseException) -> str:
    """The first line of a driver's error on ``url``, as a user may read it (never the
    password); the class name if it says nothing."""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def open_error(url: str, exc: Exception) -> Exception:
    """What opening ``url`` failed with, as a user may read it (never the password)."""
    if isinstance(exc, StoreSchemaError):
        return exc
    if isinstance(exc, psycopg.Error | PoolTimeout):
        shown = redact_db_url(url)
        reason = error_reason(url, exc)
        return StoreUnavailableError(
            f"cannot open the PostgreSQL store {shown} ({reason}).\n"
            "Fix: check that the server runs and the URL (host, port, user, database) is right."
        )
    return exc
