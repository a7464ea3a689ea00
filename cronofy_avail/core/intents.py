"""The storage rules, written once: every store (memory, SQLite, PostgreSQL) follows these.

* an **intent** to sync is recorded before a notification is acknowledged
  (:func:`merge_intent`) and settled by a successful sync only as far as the sync covered it
  (:func:`settle_intent`): generations decide, never clocks;
* a **claim** (a period id recorded as owned before it is sent) is released only once no write
  of it can still land (:func:`claim_settles`);
* a **scheduler round** looks only at the users :func:`scheduler_must_look` selects (the SQL
  stores answer the same question with an index query, see ``runtime/store/sql.py``);
* a user's **sync lock** is a lease (:func:`lock_held_by`, :func:`lock_free`).

Plain values in, plain values out: no I/O, no clock, tested by tables (tests/core/test_intents.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol


class UserState:
    """Where a user's sync stands. Every failure ends in one of these, never in silence."""

    NEW = "new"
    IDLE = "idle"
    RETRYING = "retrying"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


NOT_SCHEDULED = (UserState.NEEDS_REAUTH, UserState.DISCONNECTED)
"""States a scheduler round leaves alone: a person has to act first."""


@dataclass(frozen=True, slots=True)
class Intent:
    """A user's durable intent to sync: written by whoever records a notification (the
    receiver, a command), settled only by a sync's commit."""

    pending_since: datetime | None = None
    """The earliest ``changes_since`` not yet read by a successful sync."""
    pending_full: bool = False
    """A full reconcile was asked for."""
    pending_at: datetime | None = None
    """When the oldest notification no successful sync has covered was received (``None``:
    nothing pending): set by the first notification, kept by the next ones, moved up to the
    sync's new watermark when a sync covers part of the intent (so it may be a little early).
    The operator's "oldest unsynced intent" is its minimum; and it changes only
    when an intent begins or settles, so acknowledging one more notification for a user
    already pending does not rewrite the indexes built on it."""
    pending_gen: int = 0
    """Bumped by every recorded intent; a sync settles the intent only if it is unchanged."""
    pending_full_gen: int = 0
    """The generation of the latest request for a full reconcile: a full sync that read the
    user at this generation or later settles ``pending_full`` even if other (incremental)
    intents arrived while it ran."""

    @property
    def pending(self) -> bool:
        return self.pending_at is not None or self.pending_since is not None or self.pending_full


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def merge_intent(
    intent: Intent, *, changes_since: datetime | None, full: bool, received_at: datetime
) -> Intent:
    """Fold a new notification into the pending intent: the earliest point and the earliest
    arrival win, and the generation moves on (a sync that read the user before this cannot
    settle it)."""
    gen = intent.pending_gen + 1
    last = intent.pending_at
    return Intent(
        pending_since=earliest(intent.pending_since, changes_since),
        pending_full=intent.pending_full or full,
        pending_at=received_at if last is None else min(last, received_at),
        pending_gen=gen,
        pending_full_gen=gen if full else intent.pending_full_gen,
    )


def settle_intent(
    stored: Intent, *, seen_gen: int, watermark: datetime | None, full: bool
) -> Intent:
    """The intent left once a sync succeeded that read the user at generation ``seen_gen``.

    The stored intent is the truth (notifications keep arriving while a sync runs). If any was
    recorded after the sync read the user (the generation moved), all of it stays pending:
    reading a little more next time is cheap and idempotent, missing a change is not. Clocks
    are not compared: a notification stamped before the sync started but recorded after the
    read was not covered. Otherwise it is cleared, the full-reconcile flag only by a full sync.

    What stays pending is read from no earlier than the sync's new ``watermark``: everything
    before it was read by this sync, so a days-old ``changes_since`` folded into the intent
    does not make the follow-up read days back (or, past the incremental age limit, a second
    full reconcile). ``pending_at`` keeps the follow-up due, moved up to the watermark too:
    the changes before the watermark were read by this sync, so what is left to sync is
    dated from there on.

    The full-reconcile flag has its own generation: a full sync settles every request for one
    made before it read the user, even when incremental intents arrived meanwhile (those stay
    pending and cost one incremental read, not a second full reconcile).
    """
    since, at = stored.pending_since, stored.pending_at
    if stored.pending_gen == seen_gen:
        since = at = None
    elif watermark is not None:
        since = None if since is None else max(since, watermark)
        at = None if at is None else max(at, watermark)
    settles_full = full and stored.pending_full_gen <= seen_gen
    return replace(
        stored,
        pending_since=since,
        pending_at=at,
        pending_full=stored.pending_full and not settles_full,
    )


def claim_settles(claimed_at: datetime, *, started_at: datetime, before: datetime | None) -> bool:
    """Whether a claim asked to be released (its period found absent, or its delete answered)
    may go.

    A write claimed at ``claimed_at`` may still be in flight (a timed-out request can land
    minutes later). Its claim settles only if no write of it can still land: claimed at or
    before ``before`` (the sync started at least the in-flight bound after it), or claimed by
    this very sync (at or after ``started_at``: its one write is known). ``before=None``
    releases unconditionally.
    """
    if before is None:
        return True
    return claimed_at <= before or claimed_at >= started_at


class DueFacts(Protocol):
    """What :func:`scheduler_must_look` reads of a user."""

    @property
    def calendar_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def reconcile_due_at(self) -> datetime | None: ...
    @property
    def pending_at(self) -> datetime | None: ...
    @property
    def pending_since(self) -> datetime | None: ...
    @property
    def pending_full(self) -> bool: ...


def scheduler_must_look(user: DueFacts, now: datetime) -> bool:
    """Whether a scheduler round must look at ``user`` (``Store.list_due_users``): it has a
    sub calendar and no person has to act first, and it is due (``reconcile_due_at`` unknown
    or passed), in ``failed`` (its backoff is counted in rounds), or has an unsettled intent."""
    if user.calendar_id is None or user.state in NOT_SCHEDULED:
        return False
    return (
        user.reconcile_due_at is None
        or user.reconcile_due_at <= now
        or user.state == UserState.FAILED
        or user.pending_at is not None
        or user.pending_since is not None
        or user.pending_full
    )


Holder = tuple[str, float]
"""Who holds a sync lock and until when (seconds since the epoch)."""


def lock_held_by(holder: Holder | None, owner: str, now: float) -> bool:
    """Whether ``owner`` holds the lock at ``now`` (its lease has not run out)."""
    return holder is not None and holder[0] == owner and holder[1] > now


def lock_free(
    holder: Holder | None, owner: str, now: float, *, is_dead: Callable[[str], bool]
) -> bool:
    """Whether ``owner`` may take (or renew) the lock at ``now``: nobody holds it, ``owner``
    does, the lease ran out, or the holder is a process known to be gone (``is_dead``)."""
    if holder is None:
        return True
    held_by, expires_at = holder
    return held_by == owner or expires_at <= now or is_dead(held_by)
