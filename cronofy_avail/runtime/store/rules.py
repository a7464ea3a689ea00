"""The rules every backend follows: intents, claims, the scheduler's selection, the lock."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cronofy_avail.runtime.store.records import (
    UserRecord,
    UserState,
    _earliest,
)


def lock_owner() -> str:
    """A lock owner id for this process: ``host:pid:random`` (the pid lets a dead holder on
    the same host be recognised at once instead of waiting for its lease to expire)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(owner: str) -> bool:
    """Whether ``owner`` names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class LockLost(RuntimeError):
    """A sync's lease on the user's sync lock ran out or passed to another holder."""


def _lock_held_by(holder: tuple[str, float] | None, owner: str, now: float) -> bool:
    return holder is not None and holder[0] == owner and holder[1] > now


def _lock_free(holder: tuple[str, float] | None, owner: str, now: float) -> bool:
    if holder is None:
        return True
    held_by, expires_at = holder
    return held_by == owner or expires_at <= now or holder_is_dead(held_by)


@dataclass(slots=True)
class _Intent:
    """The columns an acknowledgement reads and writes: not a whole :class:`UserRecord`."""

    user_id: str
    pending_since: datetime | None
    pending_full: bool
    pending_at: datetime | None
    pending_gen: int
    pending_full_gen: int


_WithIntent = TypeVar("_WithIntent", UserRecord, _Intent)


def merge_intent(
    user: _WithIntent, *, changes_since: datetime | None, full: bool, received_at: datetime
) -> _WithIntent:
    """Fold a new notification into the pending intent: the earliest point wins, and the
    generation moves on (a sync that read the user before this cannot settle it)."""
    user.pending_gen += 1
    user.pending_since = _earliest(user.pending_since, changes_since)
    user.pending_full = user.pending_full or full
    if full:
        user.pending_full_gen = user.pending_gen
    user.pending_at = received_at if user.pending_at is None else max(user.pending_at, received_at)
    return user


def settle_intent(
    user: UserRecord,
    *,
    stored: UserRecord | None,
    started_at: datetime,
    full: bool,
) -> UserRecord:
    """The intent left once a sync succeeded that read the user at generation
    ``user.pending_gen``.

    The stored intent is the truth (notifications keep arriving while a sync runs). If any was
    recorded after the sync read the user (the generation moved), all of it stays pending:
    reading a little more next time is cheap and idempotent, missing a change is not. Clocks
    are not compared: a notification stamped before ``started_at`` but recorded after the read
    was not covered. Otherwise it is cleared, the full-reconcile flag only by a full sync.

    What stays pending is read from no earlier than the sync's new watermark (``user``'s):
    everything before it was read by this sync, so a days-old ``changes_since`` folded into
    the intent does not make the follow-up read days back (or, past the incremental age
    limit, a second full reconcile). ``pending_at`` keeps the follow-up due.

    The full-reconcile flag has its own generation: a full sync settles every request for one
    made before it read the user, even when incremental intents arrived meanwhile (those stay
    pending and cost one incremental read, not a second full reconcile).
    """
    del started_at  # kept for callers; generations decide, not clocks
    if stored is None:
        user.pending_since, user.pending_at, user.pending_full = None, None, False
        return user
    seen = user.pending_gen
    keep_intent(user, stored)
    if stored.pending_gen == seen:
        user.pending_since = None
        user.pending_at = None
    elif user.pending_since is not None and user.watermark is not None:
        user.pending_since = max(user.pending_since, user.watermark)
    if full and stored.pending_full_gen <= seen:
        user.pending_full = False
    return user


def claim_settles(claimed_at: datetime, *, started_at: datetime, before: datetime | None) -> bool:
    """Whether a claim asked to be released may go (see ``Store.commit_sync``).

    A write claimed at ``claimed_at`` may still be in flight (a timed-out request can land
    minutes later). Its claim settles only if no write of it can still land: claimed at or
    before ``before`` (the sync started at least the in-flight bound after it), or claimed by
    this very sync (at or after ``started_at``: its one write is known). ``before=None``
    releases unconditionally.
    """
    if before is None:
        return True
    return claimed_at <= before or claimed_at >= started_at


def keep_intent(user: UserRecord, stored: UserRecord | None) -> UserRecord:
    """Carry the stored intent over unchanged (the sync did not cover it)."""
    if stored is not None:
        user.pending_since, user.pending_at = stored.pending_since, stored.pending_at
        user.pending_full = stored.pending_full
        user.pending_gen = stored.pending_gen
        user.pending_full_gen = stored.pending_full_gen
    return user


# Fields a sync never changes: while it ran, setup, token renewal or a notification may have.
_NOT_THE_SYNCS = (
    "callback_key",
    "credentials",
    "sub",
    "profile_id",
    "calendar_id",
    "channel_id",
    "callback_url",
    "tzid",
)


def resolve_intent(
    user: UserRecord,
    stored: UserRecord | None,
    *,
    started_at: datetime,
    full: bool,
    settle: bool,
) -> UserRecord:
    """The record ``commit_sync`` writes: the sync's own results on top of what is stored now.

    The sync's copy of the user was read when it started; fields others own are taken from the
    stored row, a ``disconnected`` mark made meanwhile stands, and the intent is settled by a
    successful sync or else kept.
    """
    if stored is not None:
        for name in _NOT_THE_SYNCS:
            setattr(user, name, getattr(stored, name))
        if stored.state == UserState.DISCONNECTED:
            user.state, user.last_error = stored.state, stored.last_error
    if settle:
        return settle_intent(user, stored=stored, started_at=started_at, full=full)
    return keep_intent(user, stored)


# What a sync owns on a user's record; ``save_user`` never overwrites these.
_SYNC_FIELDS = (
    "watermark",
    "last_result",
    "last_sync_at",
    "last_reconcile_at",
    "pending_since",
    "pending_full",
    "pending_at",
    "pending_gen",
    "pending_full_gen",
    "counts",
    "reconcile_due_at",
)


_NOT_SCHEDULED = (UserState.NEEDS_REAUTH, UserState.DISCONNECTED)


def scheduler_must_look(user: UserRecord, now: datetime) -> bool:
    """What ``Store.list_due_users`` selects, for one user (the MemoryStore's filter)."""
    if user.calendar_id is None or user.state in _NOT_SCHEDULED:
        return False
    return (
        user.reconcile_due_at is None
        or user.reconcile_due_at <= now
        or user.state == UserState.FAILED
        or user.pending_at is not None
        or user.pending_since is not None
        or user.pending_full
    )
