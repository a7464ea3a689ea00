"""What the store keeps about a user and a delivery.

:class:`UserRecord` is the read model: everything known about one user. Who may write which of
its fields is a type, one per writer, so no store filters fields by lists of names:

* :class:`Setup`: written by setup, token renewal and teardown (``Store.save_user``);
* :class:`SyncOutcome`: written by a sync's commit (``Store.commit_sync``);
* :class:`~cronofy_avail.core.intents.Intent`: recorded by whoever acknowledges a notification
  (``Store.record_intent``, ``Store.accept_delivery``), settled by a sync's commit.

``state`` and ``last_error`` are in both ``Setup`` and ``SyncOutcome``: setup (authorize,
teardown) and syncs both set them; a ``disconnected`` mark outlives a sync that ran meanwhile.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from cronofy_avail.core.intents import Intent, UserState


@dataclass(repr=False, slots=True)
class StoredCredentials:
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"StoredCredentials(access_token=***, refresh_token=***, expires_at={self.expires_at})"
        )


@dataclass(slots=True)
class UserRecord:
    """Everything known about one user of the pattern."""

    user_id: str
    callback_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    credentials: StoredCredentials | None = field(default=None, repr=False)
    sub: str | None = None
    profile_id: str | None = None
    calendar_id: str | None = None
    channel_id: str | None = None
    callback_url: str | None = field(default=None, repr=False)
    tzid: str = "UTC"
    watermark: datetime | None = None
    state: str = UserState.NEW
    last_error: str | None = None
    last_result: dict[str, Any] | None = None
    last_sync_at: datetime | None = None
    last_reconcile_at: datetime | None = None
    pending_since: datetime | None = None
    pending_full: bool = False
    pending_at: datetime | None = None
    pending_gen: int = 0
    pending_full_gen: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    reconcile_due_at: datetime | None = None
    """No scheduler round need look at the user before this (``None``: due now). Set by each
    sync's commit (see ``SyncEngine.reconcile_due``) and by scheduler rounds that found the
    user not due; an early value only costs a look, never a missed reconcile."""

    def setup(self) -> Setup:
        return Setup(**{name: getattr(self, name) for name in SETUP_FIELDS})

    def outcome(self) -> SyncOutcome:
        return SyncOutcome(**{name: getattr(self, name) for name in OUTCOME_FIELDS})

    def intent(self) -> Intent:
        # Spelled out: every acknowledgement reads it (the hot path).
        return Intent(
            self.pending_since,
            self.pending_full,
            self.pending_at,
            self.pending_gen,
            self.pending_full_gen,
        )

    def apply(self, part: Setup | SyncOutcome | Intent) -> UserRecord:
        """Take the fields of ``part`` (what one writer wrote) and return this record."""
        for name in _FIELDS[type(part)]:
            setattr(self, name, getattr(part, name))
        return self

    def bump(self, **deltas: int) -> None:
        for key, delta in deltas.items():
            self.counts[key] = self.counts.get(key, 0) + delta

    def public(self) -> dict[str, Any]:
        """A JSON-ready view with every secret left out (status pages, diagnostics)."""
        return {
            "user_id": self.user_id,
            "sub": self.sub,
            "profile_id": self.profile_id,
            "calendar_id": self.calendar_id,
            "channel_id": self.channel_id,
            "callback_url": _redact_key(self.callback_url, self.callback_key),
            "tzid": self.tzid,
            "watermark": _iso(self.watermark),
            "state": self.state,
            "last_error": self.last_error,
            "last_result": self.last_result,
            "last_sync_at": _iso(self.last_sync_at),
            "last_reconcile_at": _iso(self.last_reconcile_at),
            "pending_since": _iso(self.pending_since),
            "pending_full": self.pending_full,
            "pending_at": _iso(self.pending_at),
            "counts": dict(self.counts),
            "reconcile_due_at": _iso(self.reconcile_due_at),
            "has_credentials": self.credentials is not None,
        }


@dataclass(slots=True)
class Setup:
    """The fields setup writes (``Store.save_user``); a sync never changes them except
    ``state`` and ``last_error``."""

    callback_key: str
    credentials: StoredCredentials | None
    sub: str | None
    profile_id: str | None
    calendar_id: str | None
    channel_id: str | None
    callback_url: str | None
    tzid: str
    state: str
    last_error: str | None


@dataclass(slots=True)
class SyncOutcome:
    """The fields a sync's commit writes (``Store.commit_sync``), besides settling the intent."""

    state: str
    last_error: str | None
    watermark: datetime | None
    last_result: dict[str, Any] | None
    last_sync_at: datetime | None
    last_reconcile_at: datetime | None
    counts: dict[str, int]
    reconcile_due_at: datetime | None


SETUP_FIELDS = tuple(f.name for f in fields(Setup))
OUTCOME_FIELDS = tuple(f.name for f in fields(SyncOutcome))
INTENT_FIELDS = tuple(f.name for f in fields(Intent))
_FIELDS: dict[type, tuple[str, ...]] = {
    Setup: SETUP_FIELDS,
    SyncOutcome: OUTCOME_FIELDS,
    Intent: INTENT_FIELDS,
}


def _redact_key(url: str | None, key: str) -> str | None:
    if url is None:
        return None
    return url.replace(key, key[:4] + "…") if key else url


@dataclass(slots=True)
class Delivery:
    """One received notification, as the delivery log keeps it."""

    received_at: datetime
    user_id: str | None
    callback_key_hint: str
    headers: dict[str, str]
    body: str
    verified: bool
    outcome: str
    notification_type: str | None = None
    sync_result: dict[str, Any] | None = None
    delivery_id: int | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
