"""What a sync's answers mean, as plain values: the batch entry for a planned write, which
statuses reject an entry, the state a failure leaves a user in, a sync's result record, and
each user's reconcile slots. Used by :mod:`cronofy_avail.runtime.sync`, tested without I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from cronofy_avail.core.errors import (
    AuthenticationError,
    CronofyAPIError,
    CronofyError,
    ForbiddenError,
    PaymentRequiredError,
    ReauthorizationRequiredError,
)
from cronofy_avail.core.intents import UserState
from cronofy_avail.core.models import BatchEntry, format_time
from cronofy_avail.core.planner import Action, ActionKind, Plan

PERIODS_PATH = "/v1/available_periods"


def batch_entry(action: Action) -> BatchEntry:
    """The ``POST /v1/batch`` entry that applies ``action``."""
    if action.kind == ActionKind.UPSERT:
        assert action.start is not None and action.end is not None
        return BatchEntry(
            method="POST",
            relative_url=PERIODS_PATH,
            data={
                "available_period_id": action.period_id,
                "start": format_time(action.start),
                "end": format_time(action.end),
            },
        )
    return BatchEntry(
        method="DELETE",
        relative_url=PERIODS_PATH,
        data={"available_period_id": action.period_id},
    )


# Answers about the account or the moment, not about one entry: retrying (later, or after a
# person fixes something) can succeed, so they stop the run instead of rejecting the entry.
_NOT_ABOUT_THE_ENTRY = frozenset({401, 402, 403, 423, 429})


def rejects_entry(status: int) -> bool:
    """Whether a 4xx says this entry itself is unacceptable (retrying it cannot help)."""
    return 400 <= status < 500 and status not in _NOT_ABOUT_THE_ENTRY


_NOT_KEPT = frozenset({"plan", "pending_after"})
"""What :meth:`SyncResult.as_dict` leaves out (the user's ``last_result`` keeps the rest)."""


@dataclass(slots=True)
class SyncResult:
    """The outcome of one sync, kept as the user's ``last_result`` (JSON-ready via ``as_dict``)."""

    kind: str
    ok: bool
    started_at: datetime
    finished_at: datetime
    since: datetime | None = None
    served_at: datetime | None = None
    """The earliest moment on Cronofy's clock its read can have happened (the answer's
    ``Date`` less the round trip); the next watermark is this less ``served_overlap``."""
    events_read: int = 0
    upserts: int = 0
    deletes: int = 0
    skips: int = 0
    rejected: int = 0
    not_applied: int = 0
    api_calls: int = 0
    state: str = UserState.IDLE
    error: str | None = None
    retry_after: float | None = None
    dry_run: bool = False
    busy: bool = False
    """Another process holds this user's sync lock: nothing was read or written."""
    plan: Plan | None = field(default=None, repr=False)
    pending_after: bool | None = field(default=None, repr=False)
    """``False`` when the user had no intent left pending as this sync committed: nothing was
    notified while it ran, so no follow-up is needed. ``True`` when one was left (or the user
    was deleted meanwhile, whose commit writes nothing: read the user to tell); ``None`` when
    the sync did not commit as a success. Not part of ``as_dict``."""

    @property
    def retryable(self) -> bool:
        return self.state == UserState.RETRYING

    def as_dict(self) -> dict[str, Any]:
        # Field by field: ``asdict`` would deep-copy the plan (every action and every known
        # period of the user) only to drop it, which made a sync cost what the calendar holds.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_KEPT}
        for key in ("started_at", "finished_at", "since", "served_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def state_for(exc: CronofyError) -> str:
    """The state a failed sync leaves the user in: fix needed by a person, or retry later."""
    if isinstance(exc, ReauthorizationRequiredError | AuthenticationError):
        return UserState.NEEDS_REAUTH
    if isinstance(exc, ForbiddenError | PaymentRequiredError):
        return UserState.FAILED
    status = exc.status if isinstance(exc, CronofyAPIError) else None
    if status is not None and status < 500 and status not in (423, 429):
        return UserState.FAILED
    return UserState.RETRYING


_SLOT_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def reconcile_slot(user_id: str, now: datetime, every: timedelta) -> datetime:
    """The latest of ``user_id``'s reconcile slots at or before ``now``.

    Each user has its own phase within the period (from a hash of its id), so users onboarded
    together come due spread over the period instead of all in one scheduler round. A user is
    due when its last reconcile is older than its latest slot: never later than ``every``
    after it (the slot before ``now`` is at most ``every`` old), at most one early reconcile
    once (the first slot after onboarding), then exactly once per period.
    """
    digest = hashlib.sha256(user_id.encode()).digest()
    phase = every * (int.from_bytes(digest[:8], "big") / 2**64)
    periods = (now - _SLOT_EPOCH - phase) // every
    return _SLOT_EPOCH + phase + every * periods
