"""The schema of each backend: one CREATE script each, no migrations.

No release has shipped an older schema, so a database of another version is refused
(:class:`~.protocol.StoreSchemaError`) rather than migrated. The version is 6, not 1: the
development builds before 0.1.0 wrote versions 1 to 5 with other columns, and a number they
used would let one of their files be taken for this schema. Derived state (the watermark,
``reconcile_due_at``) can be rebuilt by a full reconcile, which is what a future version bump
of it may rely on.
"""

from __future__ import annotations

from cronofy_avail.runtime.store.sql import PG_SCHEMA

SCHEMA_VERSION = 6
"""SQLite's (``PRAGMA user_version``); above every version a development build wrote."""

SQLITE = """
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    callback_key TEXT NOT NULL UNIQUE,
    credentials TEXT,
    sub TEXT,
    profile_id TEXT,
    calendar_id TEXT,
    channel_id TEXT,
    callback_url TEXT,
    tzid TEXT NOT NULL DEFAULT 'UTC',
    watermark TEXT,
    state TEXT NOT NULL,
    last_error TEXT,
    last_result TEXT,
    last_sync_at TEXT,
    last_reconcile_at TEXT,
    pending_since TEXT,
    pending_full INTEGER NOT NULL DEFAULT 0,
    pending_at TEXT,
    pending_gen INTEGER NOT NULL DEFAULT 0,
    pending_full_gen INTEGER NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}',
    reconcile_due_at TEXT
);
CREATE TABLE periods (
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    event_uid TEXT NOT NULL,
    period_id TEXT NOT NULL,
    start TEXT NOT NULL,
    "end" TEXT NOT NULL,
    PRIMARY KEY (user_id, event_uid)
);
CREATE TABLE claims (
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    period_id TEXT NOT NULL,
    event_uid TEXT,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (user_id, period_id)
);
CREATE TABLE sync_locks (
    user_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    user_id TEXT,
    callback_key_hint TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    verified INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    notification_type TEXT,
    sync_result TEXT
);
-- What a scheduler round selects (``Store.list_due_users``), one index per reason, so a round
-- reads the users due, not every user.
CREATE INDEX users_reconcile_due ON users (reconcile_due_at);
CREATE INDEX users_failed ON users (state) WHERE state = 'failed';
CREATE INDEX users_pending ON users (pending_at) WHERE pending_at IS NOT NULL;
CREATE INDEX users_pending_since ON users (pending_since) WHERE pending_since IS NOT NULL;
CREATE INDEX users_pending_full ON users (pending_full) WHERE pending_full = TRUE;
"""

PG_SCHEMA_VERSION = 10
"""PostgreSQL's (``schema_version`` table); above every version a development build wrote.
7 added ``users.job_queued`` and the functions of :data:`POSTGRES_FUNCTIONS`; 8 keeps room
in the users' pages and keeps ``pending_at`` the oldest arrival (see ``_USERS_FILLFACTOR``);
9 takes a group of acks as one JSON document (``accept_deliveries_v2``), notifies the
workers once per group and drops the delivery log's index on ``user_id``; 10 reads the users
of a group of acks through their indexes (the same function, a new body). A database of
version 6 to 9 is brought to 10 by :data:`PG_MIGRATIONS` (0.1.0 shipped 6)."""

_USERS_FILLFACTOR = 80
"""Room left in each page of ``users`` for the new version of a row, as usual for a table
updated in place. An acknowledgement for a user already pending changes only columns no
index reads (the generation; ``pending_at`` is the oldest arrival and stays put), so
PostgreSQL writes the row's new version in the same page without touching any index (a
heap-only tuple) whenever the page has room; at the default (100) a page just filled by
inserts has none until it is pruned. (Not measured apart: the test counts heap-only updates,
which the unchanged index columns make possible.)"""

# The whole schema (then :data:`POSTGRES_FUNCTIONS`). A database of version 6 is migrated
# (:data:`PG_MIGRATIONS`); one of another version is refused (``PostgresStore``).
POSTGRES = f"""
CREATE TABLE {PG_SCHEMA}.users (
    user_id TEXT PRIMARY KEY,
    callback_key TEXT NOT NULL UNIQUE,
    credentials JSONB,
    sub TEXT,
    profile_id TEXT,
    calendar_id TEXT,
    channel_id TEXT,
    callback_url TEXT,
    tzid TEXT NOT NULL DEFAULT 'UTC',
    watermark TIMESTAMPTZ,
    state TEXT NOT NULL,
    last_error TEXT,
    last_result JSONB,
    last_sync_at TIMESTAMPTZ,
    last_reconcile_at TIMESTAMPTZ,
    pending_since TIMESTAMPTZ,
    pending_full BOOLEAN NOT NULL DEFAULT FALSE,
    pending_at TIMESTAMPTZ,
    pending_gen BIGINT NOT NULL DEFAULT 0,
    pending_full_gen BIGINT NOT NULL DEFAULT 0,
    counts JSONB NOT NULL DEFAULT '{{}}',
    reconcile_due_at TIMESTAMPTZ,
    job_queued BOOLEAN NOT NULL DEFAULT FALSE
) WITH (fillfactor = {_USERS_FILLFACTOR});
CREATE TABLE {PG_SCHEMA}.periods (
    user_id TEXT NOT NULL REFERENCES {PG_SCHEMA}.users(user_id) ON DELETE CASCADE,
    event_uid TEXT NOT NULL,
    period_id TEXT NOT NULL,
    start TIMESTAMPTZ NOT NULL,
    "end" TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, event_uid)
);
CREATE TABLE {PG_SCHEMA}.claims (
    user_id TEXT NOT NULL REFERENCES {PG_SCHEMA}.users(user_id) ON DELETE CASCADE,
    period_id TEXT NOT NULL,
    event_uid TEXT,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, period_id)
);
CREATE TABLE {PG_SCHEMA}.sync_locks (
    user_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE {PG_SCHEMA}.deliveries (
    delivery_id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL,
    user_id TEXT,
    callback_key_hint TEXT NOT NULL,
    headers JSONB NOT NULL,
    body TEXT NOT NULL,
    verified BOOLEAN NOT NULL,
    outcome TEXT NOT NULL,
    notification_type TEXT,
    sync_result JSONB
);
-- What a scheduler round selects (``Store.list_due_users``): a bitmap OR of these indexes
-- reads the users due, not every user.
CREATE INDEX users_reconcile_due ON {PG_SCHEMA}.users (reconcile_due_at);
CREATE INDEX users_failed ON {PG_SCHEMA}.users (user_id) WHERE state = 'failed';
CREATE INDEX users_pending ON {PG_SCHEMA}.users (user_id)
    WHERE pending_at IS NOT NULL OR pending_since IS NOT NULL OR pending_full;
-- The application-wide rate limit shared by every worker (a sliding-window log), and the
-- audit log of sync runs workers keep with --keep-jobs (runtime/cluster.py).
CREATE TABLE {PG_SCHEMA}.rate_grants (
    app TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_grants_app_at ON {PG_SCHEMA}.rate_grants (app, at DESC);
CREATE TABLE {PG_SCHEMA}.sync_runs (
    run_id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sync_runs_user ON {PG_SCHEMA}.sync_runs (user_id, started_at);
"""

_NOT_QUEUED_STATES = "'needs_reauth', 'disconnected'"

BATCH_NOTIFY = "cronofy_avail.batch_notify"
"""A transaction-local setting: while ``on``, procrastinate's job-insert trigger sends no
notification (:data:`QUEUE_NOTIFY_GUARD`); ``accept_deliveries_v2`` sends one per batch."""

PROCRASTINATE_NOTIFY_BODY = """
DECLARE
    payload TEXT;
BEGIN
    SELECT json_build_object('type', 'job_inserted', 'job_id', NEW.id)::text INTO payload;
    PERFORM pg_notify('procrastinate_queue_v1#' || NEW.queue_name, payload);
    PERFORM pg_notify('procrastinate_any_queue_v1', payload);
    RETURN NEW;
END;
"""
"""The body of procrastinate's ``procrastinate_notify_queue_job_inserted_v1`` (its schema of
3.x): the guard below replaces only this body (compared with whitespace collapsed), so a
procrastinate whose migrations changed it keeps its own."""

QUEUE_NOTIFY_GUARD = (
    """
-- Procrastinate's trigger function for a new job notifies both of its channels per job: a
-- batch of 500 new jobs was 1,000 notifications, each queued at commit and parsed by every
-- listening worker. This is its body with one guard in front: while the transaction-local
-- """
    + BATCH_NOTIFY
    + """ is 'on' (accept_deliveries_v2, around its one insert), the caller
-- notifies once for the batch instead. Every other insert notifies as before.
CREATE OR REPLACE FUNCTION procrastinate_notify_queue_job_inserted_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
"""
    + PROCRASTINATE_NOTIFY_BODY.replace(
        "BEGIN\n",
        f"BEGIN\n    IF current_setting('{BATCH_NOTIFY}', true) = 'on' THEN\n"
        "        RETURN NEW;\n    END IF;\n",
        1,
    )
    + "$$;\n"
)
"""Installed by ``runtime.cluster.ensure_queue_schema`` over :data:`PROCRASTINATE_NOTIFY_BODY`."""

POSTGRES_FUNCTIONS = f"""
-- A cluster's acknowledgements, many at once in ONE statement and one commit (group commit):
-- each ack (an element of ``p_acks``, a JSON array in arrival order: ``ord`` its position
-- from 1, ``key``, ``received``, ``since``, ``full``, ``hint``, ``headers``, ``body``,
-- ``verified``, ``outcome``, ``type``; one parameter, which the receiver writes with its C
-- JSON encoder: ten arrays cost it a quarter of its CPU per ack) folds a notification into its
-- user's durable intent (``core.intents.merge_intent``, applied in order), logs the delivery
-- and, when ``p_queue`` is given, defers the user's sync job unless one is already waiting.
-- ``users.job_queued`` says one is (set here and by ``defer_sync_v1``, cleared by the worker
-- as the job starts), so the common case under load writes no job at all; the insert itself
-- skips a waiting job of the user (procrastinate's queueing lock) instead of failing on it:
-- no ERROR is the normal path. The workers are woken by one notification per channel for
-- the whole batch (not procrastinate's trigger, two per job), in this one transaction. Users
-- are locked in user_id order (no deadlock between receivers). Returns, per ack found: its
-- position, user, delivery id, and whether a job was inserted for its user (on the first ack
-- of that user only).
CREATE OR REPLACE FUNCTION {PG_SCHEMA}.accept_deliveries_v2(
    p_acks jsonb, p_delivery_log bigint, p_queue text, p_task text
)
    RETURNS TABLE (ord integer, user_id text, delivery_id bigint, enqueued boolean)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_keys text[];
    v_users text[];
    v_found text[];
    v_enqueue text[];
    v_inserted text[] := '{{}}';
    v_seq regclass :=
        pg_get_serial_sequence('{PG_SCHEMA}.deliveries', 'delivery_id')::regclass;
    v_max bigint;
    v_job bigint;
    v_payload text;
BEGIN
    -- Every read of ``users`` goes through an index (its callback keys, then the user ids
    -- found): a join with the document's rows, which the planner cannot count, was a hash
    -- join over the whole table, so one ack's cost grew with the number of users.
    v_keys := ARRAY(SELECT DISTINCT a.key FROM jsonb_to_recordset(p_acks) AS a(key text));
    -- The users found, locked in user_id order, with whether each needs a job: read under
    -- its lock, so the value is the current one.
    SELECT array_agg(l.user_id ORDER BY l.user_id), array_agg(l.callback_key ORDER BY l.user_id),
           array_agg(l.user_id ORDER BY l.user_id) FILTER (WHERE l.enqueue)
    INTO v_users, v_found, v_enqueue
    FROM (
        SELECT u.user_id, u.callback_key,
               (p_queue IS NOT NULL AND NOT u.job_queued
                AND u.state NOT IN ({_NOT_QUEUED_STATES})) AS enqueue
        FROM {PG_SCHEMA}.users u WHERE u.callback_key = ANY(v_keys)
        ORDER BY u.user_id FOR UPDATE
    ) AS l;
    IF v_users IS NULL THEN
        RETURN;
    END IF;
    WITH acks AS (
        SELECT a.key, a.received, a.since, a.full AS isfull,
               row_number() OVER (PARTITION BY a.key ORDER BY a.ord) AS k
        FROM jsonb_to_recordset(p_acks)
             AS a(ord integer, key text, received timestamptz, since timestamptz, "full" boolean)
    ), per_user AS (
        SELECT acks.key, count(*) AS n, min(acks.since) AS since, bool_or(acks.isfull) AS anyfull,
               min(acks.received) AS first_at, max(acks.k) FILTER (WHERE acks.isfull) AS fullk
        FROM acks GROUP BY acks.key
    )
    UPDATE {PG_SCHEMA}.users u SET
        pending_since = LEAST(u.pending_since, g.since),
        pending_full = u.pending_full OR g.anyfull,
        pending_at = LEAST(u.pending_at, g.first_at),
        pending_gen = u.pending_gen + g.n,
        pending_full_gen = CASE WHEN g.fullk IS NULL THEN u.pending_full_gen
                                ELSE u.pending_gen + g.fullk END,
        job_queued = u.job_queued OR (
            p_queue IS NOT NULL AND u.state NOT IN ({_NOT_QUEUED_STATES}))
    FROM per_user g
    WHERE u.user_id = ANY(v_users) AND u.callback_key = g.key;
    IF v_enqueue IS NOT NULL THEN
        -- The jobs' insert trigger stays quiet (see QUEUE_NOTIFY_GUARD): one notification per
        -- channel for the whole batch, sent below, wakes the workers as well as one per job.
        PERFORM set_config('{BATCH_NOTIFY}', 'on', true);
        WITH ins AS (
            INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock,
                                            queueing_lock, args)
            SELECT p_queue, p_task, 0, 'sync:' || e.uid, 'sync:' || e.uid,
                   jsonb_build_object('user_id', e.uid, 'attempt', 0)
            FROM unnest(v_enqueue) AS e(uid) ORDER BY e.uid
            ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
            RETURNING procrastinate_jobs.queueing_lock, procrastinate_jobs.id
        )
        SELECT coalesce(array_agg(substr(ins.queueing_lock, 6)), '{{}}'), max(ins.id)
        INTO v_inserted, v_job FROM ins;
        PERFORM set_config('{BATCH_NOTIFY}', '', true);
        IF v_job IS NOT NULL THEN
            v_payload := json_build_object('type', 'job_inserted', 'job_id', v_job)::text;
            PERFORM pg_notify('procrastinate_queue_v1#' || p_queue, v_payload);
            PERFORM pg_notify('procrastinate_any_queue_v1', v_payload);
        END IF;
    END IF;
    RETURN QUERY
    WITH acks AS MATERIALIZED (
        SELECT a.ord, f.uid, a.received, a.hint, a.headers, a.body,
               a.verified, a.outcome, a.type AS ntype, nextval(v_seq) AS did,
               row_number() OVER (PARTITION BY f.uid ORDER BY a.ord) AS k
        FROM jsonb_to_recordset(p_acks)
             AS a(ord integer, key text, received timestamptz, hint text, headers jsonb,
                  body text, verified boolean, outcome text, type text)
        JOIN unnest(v_found, v_users) AS f(key, uid) ON f.key = a.key
        ORDER BY a.ord
    ), ins AS (
        INSERT INTO {PG_SCHEMA}.deliveries (delivery_id, received_at, user_id,
            callback_key_hint, headers, body, verified, outcome, notification_type)
        SELECT acks.did, acks.received, acks.uid, acks.hint, acks.headers, acks.body,
               acks.verified, acks.outcome, acks.ntype
        FROM acks
    )
    SELECT acks.ord, acks.uid, acks.did, (acks.k = 1 AND acks.uid = ANY(v_inserted))
    FROM acks ORDER BY acks.ord;
    -- Pruned now and then (when the ids cross a multiple of 32), not on every batch.
    v_max := currval(v_seq);
    IF v_max % 32 < jsonb_array_length(p_acks) THEN
        DELETE FROM {PG_SCHEMA}.deliveries d WHERE d.delivery_id <= v_max - p_delivery_log;
    END IF;
END;
$$;

-- Defer one sync job of a user (a worker's retry or follow-up, the tick, a recorded intent):
-- marks the user's job as queued and inserts the job unless one is already waiting (then
-- FALSE, and nothing fails: no ERROR in the server's log).
CREATE OR REPLACE FUNCTION {PG_SCHEMA}.defer_sync_v1(
    p_user text, p_attempt integer, p_scheduled_at timestamptz, p_queue text, p_task text
)
    RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE {PG_SCHEMA}.users SET job_queued = TRUE WHERE user_id = p_user AND NOT job_queued;
    INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock,
                                    args, scheduled_at)
    VALUES (p_queue, p_task, 0, 'sync:' || p_user, 'sync:' || p_user,
            jsonb_build_object('user_id', p_user, 'attempt', p_attempt), p_scheduled_at)
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
    RETURNING id INTO v_id;
    RETURN v_id IS NOT NULL;
END;
$$;

-- The application-wide rate limit (``runtime.cluster.PostgresRateLimiter``), decided in one
-- round trip under a transaction-scoped advisory lock per application, on the database's
-- clock: the time at which a request may start is the latest of now, the newest start
-- recorded, and, for each window, its ``limit``-th newest start plus its period and margin
-- (a sliding-window log whose starts only move forward). With ``p_reserve`` that start is
-- recorded (possibly in the future) and the caller waits until it; without, it is recorded
-- only if it is now. Returns the seconds to wait (0: start now).
CREATE OR REPLACE FUNCTION {PG_SCHEMA}.rate_grant_v1(
    p_app text, p_limits integer[], p_periods float8[], p_margin float8, p_reserve boolean,
    p_prune_before float8
)
    RETURNS float8
    LANGUAGE plpgsql
AS $$
DECLARE
    v_now float8;
    v_at float8;
    v_nth float8;
    i integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(p_app));
    v_now := extract(epoch FROM clock_timestamp());
    SELECT greatest(v_now, extract(epoch FROM max(g.at))) INTO v_at
    FROM {PG_SCHEMA}.rate_grants g WHERE g.app = p_app;
    FOR i IN 1 .. cardinality(p_limits) LOOP
        SELECT extract(epoch FROM g.at) INTO v_nth FROM {PG_SCHEMA}.rate_grants g
        WHERE g.app = p_app ORDER BY g.at DESC OFFSET p_limits[i] - 1 LIMIT 1;
        IF v_nth IS NOT NULL THEN
            v_at := greatest(v_at, v_nth + p_periods[i] + p_margin);
        END IF;
    END LOOP;
    IF v_at > v_now AND NOT p_reserve THEN
        RETURN v_at - v_now;
    END IF;
    INSERT INTO {PG_SCHEMA}.rate_grants (app, at) VALUES (p_app, to_timestamp(v_at));
    IF p_prune_before IS NOT NULL THEN
        DELETE FROM {PG_SCHEMA}.rate_grants g
        WHERE g.app = p_app AND g.at < to_timestamp(v_now - p_prune_before);
    END IF;
    RETURN v_at - v_now;
END;
$$;
"""  # noqa: S608 - only the fixed schema name is formatted in

PG_MIGRATIONS: dict[int, str] = {
    6: f"ALTER TABLE {PG_SCHEMA}.users ADD COLUMN IF NOT EXISTS job_queued BOOLEAN NOT NULL "
    "DEFAULT FALSE;\n" + POSTGRES_FUNCTIONS,
    # Pages written from now on keep the room (existing ones get it as rows move).
    7: f"ALTER TABLE {PG_SCHEMA}.users SET (fillfactor = {_USERS_FILLFACTOR});\n"
    + POSTGRES_FUNCTIONS,
    # The delivery log's index on user_id served only deleting a user (a rare statement on a
    # bounded table), and cost every ack an entry at a random place in it.
    8: f"DROP INDEX IF EXISTS {PG_SCHEMA}.deliveries_user;\n" + POSTGRES_FUNCTIONS,
    # accept_deliveries_v2's new body: the same arguments and results, so a receiver of
    # version 9 still running during an upgrade calls it as before.
    9: POSTGRES_FUNCTIONS,
}
"""The script that brings a database of version ``key`` to the next version."""
