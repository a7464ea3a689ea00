"""Statement text shared by the SQLite and PostgreSQL stores, where the two dialects agree.

Written once with ``?`` placeholders and unqualified table names (SQLite's form);
:func:`for_postgres` gives PostgreSQL's (``%s``, tables in the ``cronofy_avail`` schema). The
user columns come from the record types (:mod:`.records`), so which statement writes which
columns follows from who may write which field, not from lists of names.

Values always go through placeholders; only these fixed names are formatted into the text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import fields

from cronofy_avail.core.intents import NOT_SCHEDULED, UserState
from cronofy_avail.runtime.store.records import (
    INTENT_FIELDS,
    OUTCOME_FIELDS,
    SETUP_FIELDS,
    UserRecord,
)

PG_SCHEMA = "cronofy_avail"

USER_COLUMNS = tuple(f.name for f in fields(UserRecord))
COMMIT_COLUMNS = (*OUTCOME_FIELDS, *INTENT_FIELDS)
"""What a sync's commit writes: its outcome and the intent it settled (or kept)."""


def _set(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{c} = ?" for c in columns)


SELECT_USER = f"SELECT {', '.join(USER_COLUMNS)} FROM users"  # noqa: S608
SELECT_USER_BY_ID = f"{SELECT_USER} WHERE user_id = ?"
SELECT_USER_BY_KEY = f"{SELECT_USER} WHERE callback_key = ?"
# An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, and the cascade would take
# the user's owned-period record with it. A known user gets only what setup writes: a
# read-modify-write racing a notification or a sync would otherwise lower the intent's
# generation, drop ``pending_since`` or move the watermark back.
SAVE_USER = (
    f"INSERT INTO users ({', '.join(USER_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(USER_COLUMNS))}) "
    "ON CONFLICT (user_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in SETUP_FIELDS)
)
COMMIT_USER = f"UPDATE users SET {_set(COMMIT_COLUMNS)} WHERE user_id = ?"  # noqa: S608
WRITE_INTENT = f"UPDATE users SET {_set(INTENT_FIELDS)} WHERE user_id = ?"  # noqa: S608


@functools.cache
def write_intent_changes(columns: tuple[str, ...]) -> str:
    """An intent's UPDATE setting only ``columns`` (SQLite rewrites every index on a column
    that is SET, changed or not: an ack for a user already pending sets the generation alone
    and touches no index). Built once per set of columns: it runs on every ack."""
    return f"UPDATE users SET {_set(columns)} WHERE user_id = ?"  # noqa: S608


SET_RECONCILE_DUE = (
    "UPDATE users SET reconcile_due_at = ? WHERE user_id = ? "
    "AND (reconcile_due_at IS NULL OR reconcile_due_at < ?)"
)
SAVE_CREDENTIALS = "UPDATE users SET credentials = ? WHERE user_id = ?"
SET_STATE = "UPDATE users SET state = ?, last_error = ? WHERE user_id = ?"
DELETE_PERIOD = "DELETE FROM periods WHERE user_id = ? AND event_uid = ? AND period_id = ?"
PUT_PERIOD = (
    'INSERT INTO periods (user_id, event_uid, period_id, start, "end") VALUES (?, ?, ?, ?, ?) '
    "ON CONFLICT (user_id, event_uid) DO UPDATE SET period_id = excluded.period_id, "
    'start = excluded.start, "end" = excluded."end"'
)
SELECT_PERIODS = 'SELECT event_uid, period_id, start, "end" FROM periods WHERE user_id = ?'
SELECT_CLAIMS = "SELECT period_id, event_uid FROM claims WHERE user_id = ?"
DELETE_CLAIM = "DELETE FROM claims WHERE user_id = ? AND period_id = ?"
RELEASE_LOCK = "DELETE FROM sync_locks WHERE user_id = ? AND owner = ?"
SET_DELIVERY = "UPDATE deliveries SET outcome = ?, sync_result = ? WHERE delivery_id = ?"
INSERT_DELIVERY = (
    "INSERT INTO deliveries (received_at, user_id, callback_key_hint, headers, body, verified, "
    "outcome, notification_type, sync_result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# The SQL form of ``core.intents.scheduler_must_look`` (a round must be an index query, not a
# scan of every user): one condition per reason to look, each answered by an index.
_SCHEDULED = "calendar_id IS NOT NULL AND state NOT IN ({})".format(
    ", ".join(f"'{state}'" for state in NOT_SCHEDULED)
)
DUE_REASONS = (
    "reconcile_due_at IS NULL",
    "reconcile_due_at <= ?",
    f"state = '{UserState.FAILED}'",
    "pending_at IS NOT NULL",
    "pending_since IS NOT NULL",
    "pending_full = TRUE",
)
# The operator's view (``pending_intents``): how many users have an unsettled intent, and the
# oldest notification no sync has covered; answered from the pending indexes.
SELECT_PENDING = (
    "SELECT count(*) AS users, min(pending_at) AS oldest FROM users "
    "WHERE pending_at IS NOT NULL OR pending_since IS NOT NULL OR pending_full = TRUE"
)
# SQLite: a union of index lookups (its planner does not OR indexes together here).
SELECT_DUE_UNION = (
    f"{SELECT_USER} WHERE user_id IN ("  # noqa: S608
    + " UNION ".join(f"SELECT user_id FROM users WHERE {r}" for r in DUE_REASONS)  # noqa: S608
    + f") AND {_SCHEDULED}"
)
# PostgreSQL: one bitmap OR of the same indexes.
DUE_WHERE = f"WHERE {_SCHEDULED} AND ({' OR '.join(DUE_REASONS)})"

_TABLE = re.compile(r"\b(FROM|INTO|UPDATE) (users|periods|claims|sync_locks|deliveries)\b")


def for_postgres(statement: str) -> str:
    """``statement`` in PostgreSQL's form: ``%s`` placeholders, tables in their schema."""
    return _TABLE.sub(rf"\1 {PG_SCHEMA}.\2", statement).replace("?", "%s")
