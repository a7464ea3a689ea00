"""What the runtime needs from persistence, and how opening a store fails.

Per user the store keeps: credentials, profile, sub calendar, channel, callback key, watermark,
sync state, last result and counts; the periods this toolkit wrote (its ownership record); the
period ids it *claimed* before sending them (write-ahead: a claim whose outcome is unknown is
still owned); the durable *intent* to sync (earliest unsynced ``changes_since``, whether a full
reconcile is due, and a generation counter bumped by every recorded intent), recorded before a
notification is acknowledged; a per-user sync lock shared by every process using the store;
and a bounded delivery log.

A sync commits only what it changed (:class:`~cronofy_avail.core.planner.OwnershipChanges`),
never a whole ownership set, and settles the intent only if no intent was recorded since it
read the user (same generation), whatever the clocks say.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from cronofy_avail.core.planner import KnownPeriod, OwnershipChanges
from cronofy_avail.runtime.store.records import (
    Delivery,
    StoredCredentials,
    UserRecord,
)

DEFAULT_DELIVERY_LOG = 100


class ReceiverStore(Protocol):
    """What the webhook receiver needs: find the user a notification names, record the intent and
    log the delivery before acknowledging, then credit the outcome."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...
    async def get_user_by_callback_key(self, callback_key: str) -> UserRecord | None: ...
    async def accept_delivery(
        self,
        delivery: Delivery,
        *,
        callback_key: str,
        changes_since: datetime | None,
        full: bool = False,
    ) -> tuple[int, str] | None: ...
    async def record_intent(
        self,
        user_id: str,
        *,
        changes_since: datetime | None,
        full: bool = False,
        received_at: datetime,
    ) -> UserRecord | None: ...
    async def add_delivery(self, delivery: Delivery) -> int: ...
    async def update_delivery(
        self, delivery_id: int, *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None: ...
    async def update_deliveries(
        self, delivery_ids: Sequence[int], *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None: ...
    async def list_deliveries(self, limit: int = DEFAULT_DELIVERY_LOG) -> list[Delivery]: ...
    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...


class SyncStore(Protocol):
    """What a sync needs (``SyncEngine``): the user, its ownership record and claims, its sync
    lock, and the commit."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...
    async def get_periods(
        self, user_id: str, event_uids: Collection[str] | None = None
    ) -> dict[str, KnownPeriod]: ...
    async def get_claims(self, user_id: str) -> dict[str, str | None]: ...
    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None: ...
    async def acquire_lock(self, user_id: str, owner: str, *, ttl: float) -> str | None: ...
    async def release_lock(self, user_id: str, owner: str) -> None: ...
    async def commit_sync(
        self,
        user: UserRecord,
        changes: OwnershipChanges,
        *,
        started_at: datetime,
        full: bool,
        settle: bool = True,
        release_claimed_before: datetime | None = None,
        lock_owner: str | None = None,
    ) -> UserRecord: ...


class AdminStore(Protocol):
    """What setup, the commands and the scheduler need: the users, their setup and state, and
    which are due."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...
    async def list_users(self) -> list[UserRecord]: ...
    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        """The users a scheduler round must look at, by an indexed query (not every user):
        those with a sub calendar, not in ``needs_reauth`` or ``disconnected``, and either due
        (``reconcile_due_at`` unknown or at or before ``now``), in ``failed`` (their backoff
        is counted in rounds), or with an intent no sync has settled. By ``user_id``."""

    async def set_reconcile_due(self, dues: Mapping[str, datetime]) -> None:
        """Move users' ``reconcile_due_at`` forward to the given times (one transaction); a
        stored later time stays (a sync committed meanwhile knows better)."""

    async def save_user(self, user: UserRecord) -> None:
        """Insert the user, or write only its :class:`~.records.Setup` (setup and state):
        never what a sync's commit (:class:`~.records.SyncOutcome`) or a notification
        (:class:`~cronofy_avail.core.intents.Intent`) wrote."""

    async def delete_user(self, user_id: str) -> None: ...
    async def save_credentials(self, user_id: str, credentials: StoredCredentials) -> None: ...
    async def set_state(self, user_id: str, state: str, last_error: str | None) -> None: ...
    async def close(self) -> None: ...


class Store(ReceiverStore, SyncStore, AdminStore, Protocol):
    """What the runtime needs from persistence, all of it (every store implements this). All
    methods are coroutines; each consumer may ask for only its narrow protocol."""


class StoreSchemaError(RuntimeError):
    """The database was written by another version of this toolkit (a newer one, or a
    development build before 0.1.0)."""


class StoreUnavailableError(RuntimeError):
    """The store cannot be opened: its driver is missing or its server cannot be reached; or
    its server went away while open (a restart, a failover, a network cut: trying again once
    it is back may work). The message says why and never holds a password."""


POSTGRES_EXTRA = "pip install 'cronofy-avail[postgres]'"
