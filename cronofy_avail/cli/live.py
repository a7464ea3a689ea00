"""What a running receiver (``serve``, ``dev``, ``demo --keep-running``) shows as it happens, and
the lock that keeps two receivers off one store.

One line per delivery (``delivery 7: change for default, signature ok, accepted``) and one per
sync (``sync default: incremental ok: upserted 'Office hours' 2026-12-02 09:00-12:00 as
period evt_1; 3 API calls``), flushed at once so a pipe or a log sees them live.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO

from cronofy_avail.app.explain import REAUTHORIZE, CommandError, hint_for_text
from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.common import Out, emit, span, zone
from cronofy_avail.core.mapping import Reason
from cronofy_avail.core.models import NotificationType
from cronofy_avail.core.planner import ActionKind
from cronofy_avail.runtime.store import Delivery, Store, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncResult
from webhook_server.plugin import DeliveryListener

SummaryOf = Callable[[str], str | None]
"""The summary (title) of an event by its ``event_uid``, when known."""

ACTIONS_SHOWN = 3

SKIPS_SHOWN = {
    Reason.ENDED: "it has ended: no period in the past",
    Reason.BEYOND_HORIZON: "it starts beyond the 201-day sync window",
    Reason.CANCELLED: "cancelled",
    Reason.DECLINED: "declined",
    Reason.TENTATIVE: "tentative",
    Reason.TRANSPARENT: "transparent (free)",
    Reason.ALL_DAY_SKIPPED: "all-day events are not mirrored",
    Reason.ZERO_LENGTH: "it lasts no time",
    Reason.INVALID_TIMES: "it ends before it starts",
}
"""Why an event made no period, for the skips worth a line (not unchanged or deleted ones)."""


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _span(start: datetime | None, end: datetime | None, tz: tzinfo) -> str:
    if start is None or end is None:
        return ""
    return f" {span(start, end, tz)}"


def sync_line(
    user_id: str,
    result: SyncResult,
    *,
    tzid: str | None = None,
    summary_of: SummaryOf | None = None,
) -> str:
    """One line for one sync: what changed (event summary next to period id), counts, state."""
    tz = zone(tzid)
    head = f"sync {user_id}: {result.kind} {'ok' if result.ok else 'FAILED'}"
    done: list[str] = []
    if result.plan is not None:
        for action in result.plan.writes:
            summary = summary_of(action.event_uid) if summary_of and action.event_uid else None
            named = f"{summary!r} " if summary else ""
            if action.kind == ActionKind.DELETE:
                done.append(f"deleted {named}period {action.period_id}")
            else:
                span = _span(action.start, action.end, tz)
                done.append(f"upserted {named}as period {action.period_id}{span}")
        for action in result.plan.skips:
            why = SKIPS_SHOWN.get(action.reason)
            if why is None:
                continue
            summary = summary_of(action.event_uid) if summary_of and action.event_uid else None
            named = f"{summary!r} " if summary else ""
            done.append(f"skipped {named}{action.event_uid or ''} ({why})".replace("  ", " "))
    if len(done) > ACTIONS_SHOWN:
        done = [*done[:ACTIONS_SHOWN], f"and {len(done) - ACTIONS_SHOWN} more"]
    changes = "; ".join(done) if done else "no change"
    if done and result.dry_run:
        changes = "would have " + changes
    counts = (
        f"{plural(result.upserts, 'upsert')}, {plural(result.deletes, 'delete')}, "
        f"{plural(result.api_calls, 'API call')}"
    )
    return f"{head}: {changes} ({counts}; state {result.state})"


def report_syncs(
    out: Out,
    settings: Settings | None,
    *,
    tzid_of: Callable[[str], str | None] | None = None,
    summary_of: SummaryOf | None = None,
) -> Callable[[str, SyncResult], None]:
    """A coordinator listener printing :func:`sync_line` (and the fix of a failure)."""

    def report(user_id: str, result: SyncResult) -> None:
        tzid = tzid_of(user_id) if tzid_of else None
        emit(out, sync_line(user_id, result, tzid=tzid, summary_of=summary_of))
        if result.error:
            hint = hint_for_text(result.error, settings)
            emit(out, f"  error: {result.error}" + (f"\n  fix: {hint}" if hint else ""))

    return report


def delivery_line(delivery: Delivery, delivery_id: int) -> str:
    kind = delivery.notification_type or "notification"
    who = f" for {delivery.user_id}" if delivery.user_id else ""
    signature = "signature ok" if delivery.verified else "signature NOT verified"
    return f"delivery {delivery_id}: {kind}{who}, {signature}, {delivery.outcome}"


UNDO_DISCONNECT = (
    "relink the calendar profile at Cronofy, then run `cronofy-avail setup` (a test "
    "notification is undone by `cronofy-avail notify --type profile_initial_sync_completed`)"
)


def why_not_syncing(user: UserRecord) -> tuple[str, str] | None:
    """``(why, fix)`` when the receiver does not sync ``user``, else ``None``."""
    if user.state == UserState.DISCONNECTED:
        return (
            f"user {user.user_id} is disconnected ({user.last_error or 'profile_disconnected'}"
            "), so its changes are not synced",
            UNDO_DISCONNECT,
        )
    if user.state == UserState.NEEDS_REAUTH:
        return (
            f"user {user.user_id} needs authorizing again ({user.last_error or 'grant refused'}"
            "), so its changes are not synced",
            REAUTHORIZE,
        )
    return None


def not_syncing(user: UserRecord) -> str | None:
    """Why the receiver does not sync ``user`` and the fix, in one text, or ``None``."""
    found = why_not_syncing(user)
    return f"{found[0]}. Fix: {found[1]}" if found else None


def delivery_note(delivery: Delivery, user: UserRecord | None) -> str | None:
    """What a delivery means for the user's syncing, when it stops (or cannot start) it."""
    if user is None:
        return None
    if delivery.notification_type == NotificationType.PROFILE_DISCONNECTED:
        return (
            f"user {user.user_id} is now marked disconnected: its syncs stop. "
            f"Fix: {UNDO_DISCONNECT}"
        )
    if delivery.notification_type == NotificationType.CHANGE:
        return not_syncing(user)
    return None


class NotSyncing:
    """The users whose next change delivery reads the store for :func:`delivery_note`: those
    this process last saw disconnected or needing authorising, and those of a delivery of
    another type (it may change the state).

    Everybody else is healthy as far as this process knows, so their deliveries (the ack path,
    on every notification) print their line without reading the user again. Kept current by
    what the process sees: the users listed at start, each read it makes, each sync's result
    (:meth:`synced`). A state changed by another process (a ``sync`` command run beside
    ``serve``) is seen at the next sync here.
    """

    def __init__(self, users: Iterable[UserRecord] = ()) -> None:
        self.ids: set[str] = {u.user_id for u in users if why_not_syncing(u) is not None}

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.ids

    def saw(self, user_id: str, user: UserRecord | None) -> None:
        """The user as just read (``None``: forgotten)."""
        if user is not None and why_not_syncing(user) is not None:
            self.ids.add(user_id)
        else:
            self.ids.discard(user_id)

    def synced(self, user_id: str, result: SyncResult) -> None:
        """A coordinator listener: a sync's result says the user's state."""
        if result.state in (UserState.DISCONNECTED, UserState.NEEDS_REAUTH):
            self.ids.add(user_id)
        else:
            self.ids.discard(user_id)


def announce_deliveries(
    store: Store, out: Out, *, not_syncing: NotSyncing | None = None
) -> DeliveryListener:
    """A receiver's delivery listener that prints a line for each delivery it logs, and a
    note when the delivery stops (or cannot start) the user's syncs.

    ``not_syncing``: read the user (for the note) only for a change delivery of a user in it,
    or for a delivery of another type; without it, every delivery reads the user."""

    async def announce(delivery: Delivery, delivery_id: int) -> None:
        emit(out, delivery_line(delivery, delivery_id))
        user_id = delivery.user_id
        if not user_id:
            return
        change = delivery.notification_type == NotificationType.CHANGE
        if not_syncing is not None and change and user_id not in not_syncing:
            return  # healthy as far as this process knows: nothing to read on the ack path
        with contextlib.suppress(Exception):  # a display nicety: never fail a delivery
            user = await store.get_user(user_id)
            note = delivery_note(delivery, user)
            if note:
                emit(out, f"  note: {note}")
            if not_syncing is not None:
                if change:
                    not_syncing.saw(user_id, user)
                else:  # it may change the state once acted on: read at the next change
                    not_syncing.ids.add(user_id)

    return announce


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".serve.lock")


def receiver_running(db_path: Path) -> str | None:
    """The process id of the receiver serving the store at ``db_path``, or ``None``."""
    path = lock_path(db_path)
    if not path.exists():
        return None
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "unknown"
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def serving_lock(db_path: Path, *, option: str = "--db (or CRONOFY_AVAIL_DB)") -> Iterator[None]:
    """Held while a receiver serves the store at ``db_path``: a second one is refused.

    An advisory ``flock``: released by the kernel when the process ends, however it ends.
    """
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise CommandError(
                f"another receiver (process {pid}) already serves the store {db_path}; two "
                "would sync the same users side by side.\nFix: stop that one first, or give "
                f"this one another store with {option}."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


__all__ = [
    "NotSyncing",
    "announce_deliveries",
    "delivery_line",
    "delivery_note",
    "not_syncing",
    "plural",
    "report_syncs",
    "serving_lock",
    "sync_line",
    "why_not_syncing",
]
