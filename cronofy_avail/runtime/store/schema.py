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

PG_SCHEMA_VERSION = 6
"""PostgreSQL's (``schema_version`` table); above every version a development build wrote."""

# The whole schema. No release has shipped an older one, so there are no migrations: a
# database of another version is refused (``PostgresStore``).
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
    reconcile_due_at TIMESTAMPTZ
);
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
CREATE INDEX deliveries_user ON {PG_SCHEMA}.deliveries (user_id);
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
