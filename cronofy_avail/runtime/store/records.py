"""What the store keeps about a user and a delivery: the records every backend reads and writes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class UserState:
    """Where a user's sync stands. Every failure ends in one of these, never in silence."""

    NEW = "new"
    IDLE = "idle"
    RETRYING = "retrying"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


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
    """Bumped by every recorded intent; a sync settles the intent only if it is unchanged."""
    pending_full_gen: int = 0
    """The generation of the latest request for a full reconcile: a full sync that read the
    user at this generation or later settles ``pending_full`` even if other (incremental)
    intents arrived while it ran."""
    counts: dict[str, int] = field(default_factory=dict)
    reconcile_due_at: datetime | None = None
    """No scheduler round need look at the user before this (``None``: due now). Set by each
    sync's commit (see ``SyncEngine.reconcile_due``) and by scheduler rounds that found the
    user not due; an early value only costs a look, never a missed reconcile."""

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


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
