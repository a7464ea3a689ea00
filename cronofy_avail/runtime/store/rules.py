"""What every backend shares beyond the pure rules of :mod:`cronofy_avail.core.intents`: the
sync lock's owner ids (processes, pids) and what a sync's commit writes."""

from __future__ import annotations

import os
import socket
import uuid

from cronofy_avail.core.intents import Holder, Intent, UserState, lock_free, settle_intent
from cronofy_avail.runtime.store.records import SyncOutcome, UserRecord


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


def may_take_lock(holder: Holder | None, owner: str, now: float) -> bool:
    """:func:`~cronofy_avail.core.intents.lock_free`, a dead local holder counted as gone."""
    return lock_free(holder, owner, now, is_dead=holder_is_dead)


def commit_parts(
    user: UserRecord, stored: UserRecord, *, full: bool, settle: bool
) -> tuple[SyncOutcome, Intent]:
    """What ``commit_sync`` writes over the ``stored`` row: the sync's outcome, and the intent.

    ``user`` is the sync's copy, read when it started (at generation ``user.pending_gen``,
    with ``user.watermark`` its new watermark). A ``disconnected`` mark made meanwhile stands;
    the intent is settled by a successful sync (``settle``) or else kept as stored.
    """
    outcome = user.outcome()
    if stored.state == UserState.DISCONNECTED:
        outcome.state, outcome.last_error = stored.state, stored.last_error
    intent = stored.intent()
    if settle:
        intent = settle_intent(
            intent, seen_gen=user.pending_gen, watermark=user.watermark, full=full
        )
    return outcome, intent
