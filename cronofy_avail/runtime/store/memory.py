"""The store in dictionaries: for notebooks and tests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cronofy_avail.core.intents import (
    claim_settles,
    lock_held_by,
    merge_intent,
    scheduler_must_look,
)
from cronofy_avail.core.planner import KnownPeriod, OwnershipChanges
from cronofy_avail.runtime.store.protocol import DEFAULT_DELIVERY_LOG
from cronofy_avail.runtime.store.records import Delivery, StoredCredentials, UserRecord
from cronofy_avail.runtime.store.rules import LockLost, commit_parts, may_take_lock


class MemoryStore:
    """Dictionaries; for notebooks and tests. Keeps copies so callers cannot alias state."""

    def __init__(self, *, delivery_log: int = DEFAULT_DELIVERY_LOG) -> None:
        self._users: dict[str, UserRecord] = {}
        self._periods: dict[str, dict[str, KnownPeriod]] = {}
        self._claims: dict[str, dict[str, str | None]] = {}
        self._claimed_at: dict[str, dict[str, datetime]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._deliveries: list[Delivery] = []
        self._next_delivery = 1
        self._delivery_log = delivery_log
        self._by_key: dict[str, str] = {}
        """Callback key -> user id: a lookup costs the same at 1 user or 100,000."""

    @staticmethod
    def _copy(user: UserRecord) -> UserRecord:
        return replace(
            user,
            counts=dict(user.counts),
            last_result=dict(user.last_result) if user.last_result else None,
        )

    async def get_user(self, user_id: str) -> UserRecord | None:
        user = self._users.get(user_id)
        return self._copy(user) if user else None

    def _user_for_key(self, callback_key: str) -> UserRecord | None:
        user = self._users.get(self._by_key.get(callback_key, ""))
        if user is None or not secrets.compare_digest(user.callback_key, callback_key):
            return None
        return user

    async def get_user_by_callback_key(self, callback_key: str) -> UserRecord | None:
        user = self._user_for_key(callback_key)
        return self._copy(user) if user else None

    async def list_users(self) -> list[UserRecord]:
        return [self._copy(u) for u in sorted(self._users.values(), key=lambda u: u.user_id)]

    async def pending_intents(self) -> tuple[int, datetime | None]:
        """Users with an unsettled intent, and when the oldest notification no sync has
        covered was received."""
        pending = [u for u in self._users.values() if u.intent().pending]
        times = [u.pending_at for u in pending if u.pending_at is not None]
        return len(pending), min(times, default=None)

    async def list_due_users(self, now: datetime) -> list[UserRecord]:
        # A scan without copies: only the few users due are copied (notebooks and tests).
        due = [u for u in self._users.values() if scheduler_must_look(u, now)]
        return [self._copy(u) for u in sorted(due, key=lambda u: u.user_id)]

    async def set_reconcile_due(self, dues: Mapping[str, datetime]) -> None:
        for user_id, due in dues.items():
            user = self._users.get(user_id)
            if user is not None and (user.reconcile_due_at is None or user.reconcile_due_at < due):
                user.reconcile_due_at = due

    async def save_user(self, user: UserRecord) -> None:
        old = self._users.get(user.user_id)
        if old is not None and old.callback_key != user.callback_key:
            self._by_key.pop(old.callback_key, None)
        # A known user gets only what setup writes; what syncs and notifications wrote stays.
        new = self._copy(user)
        self._users[user.user_id] = new if old is None else old.apply(new.setup())
        self._by_key[user.callback_key] = user.user_id

    async def delete_user(self, user_id: str) -> None:
        old = self._users.pop(user_id, None)
        if old is not None:
            self._by_key.pop(old.callback_key, None)
        self._periods.pop(user_id, None)
        self._claims.pop(user_id, None)
        self._claimed_at.pop(user_id, None)
        # The logged bodies carry the user's callback key: forgetting the user forgets them.
        self._deliveries = [d for d in self._deliveries if d.user_id != user_id]

    async def save_credentials(self, user_id: str, credentials: StoredCredentials) -> None:
        user = self._users.get(user_id)
        if user is not None:
            user.credentials = replace(credentials)

    async def set_state(self, user_id: str, state: str, last_error: str | None) -> None:
        user = self._users.get(user_id)
        if user is not None:
            user.state, user.last_error = state, last_error

    async def get_periods(
        self, user_id: str, event_uids: Collection[str] | None = None
    ) -> dict[str, KnownPeriod]:
        periods = self._periods.get(user_id, {})
        if event_uids is None:
            return dict(periods)
        return {uid: periods[uid] for uid in event_uids if uid in periods}

    async def get_claims(self, user_id: str) -> dict[str, str | None]:
        return dict(self._claims.get(user_id, {}))

    async def claim_periods(
        self,
        user_id: str,
        claims: Mapping[str, str | None],
        *,
        claimed_at: datetime,
        lock_owner: str | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        if lock_owner is not None and await self.acquire_lock(user_id, lock_owner, ttl=lock_ttl):
            raise LockLost(f"the sync lock of {user_id} is no longer held by {lock_owner}")
        if user_id in self._users:
            self._claims.setdefault(user_id, {}).update(claims)
            times = self._claimed_at.setdefault(user_id, {})
            for period_id in claims:
                # The oldest write still in doubt decides when the claim may settle.
                times[period_id] = min(times.get(period_id, claimed_at), claimed_at)

    async def acquire_lock(self, user_id: str, owner: str, *, ttl: float) -> str | None:
        now = time.time()
        holder = self._locks.get(user_id)
        if not may_take_lock(holder, owner, now):
            assert holder is not None
            return holder[0]
        self._locks[user_id] = (owner, now + ttl)
        return None

    async def release_lock(self, user_id: str, owner: str) -> None:
        holder = self._locks.get(user_id)
        if holder is not None and holder[0] == owner:
            del self._locks[user_id]

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
    ) -> UserRecord:
        if lock_owner is not None and not lock_held_by(
            self._locks.get(user.user_id), lock_owner, time.time()
        ):
            raise LockLost(f"the sync lock of {user.user_id} is no longer held by {lock_owner}")
        user = self._copy(user)
        stored = self._users.get(user.user_id)
        if stored is None:
            return user  # deleted while the sync ran (teardown): it stays deleted
        outcome, intent = commit_parts(user, stored, full=full, settle=settle)
        stored.apply(outcome).apply(intent)
        periods = self._periods.setdefault(user.user_id, {})
        for uid, period_id in changes.drop.items():
            if uid in periods and periods[uid].period_id == period_id:
                del periods[uid]
        periods.update(changes.put)
        claims = self._claims.get(user.user_id, {})
        times = self._claimed_at.get(user.user_id, {})
        for period_id in changes.release:
            claimed_at = times.get(period_id)
            if claimed_at is not None and claim_settles(
                claimed_at, started_at=started_at, before=release_claimed_before
            ):
                claims.pop(period_id, None)
                times.pop(period_id, None)
        return self._copy(stored)

    async def record_intent(
        self,
        user_id: str,
        *,
        changes_since: datetime | None,
        full: bool = False,
        received_at: datetime,
    ) -> UserRecord | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        user.apply(
            merge_intent(
                user.intent(), changes_since=changes_since, full=full, received_at=received_at
            )
        )
        return self._copy(user)

    async def add_delivery(self, delivery: Delivery) -> int:
        return self._log(replace(delivery, delivery_id=None))

    def _log(self, delivery: Delivery) -> int:
        """Append ``delivery`` (a copy the caller no longer holds) with the next id."""
        delivery_id = delivery.delivery_id = self._next_delivery
        self._next_delivery += 1
        self._deliveries.append(delivery)
        if len(self._deliveries) > self._delivery_log:
            del self._deliveries[: -self._delivery_log]
        return delivery_id

    async def accept_delivery(
        self,
        delivery: Delivery,
        *,
        callback_key: str,
        changes_since: datetime | None,
        full: bool = False,
    ) -> tuple[int, str] | None:
        user = self._user_for_key(callback_key)
        if user is None:
            return None
        user.apply(
            merge_intent(
                user.intent(),
                changes_since=changes_since,
                full=full,
                received_at=delivery.received_at,
            )
        )
        return self._log(replace(delivery, user_id=user.user_id)), user.user_id

    async def update_delivery(
        self, delivery_id: int, *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        await self.update_deliveries([delivery_id], outcome=outcome, sync_result=sync_result)

    async def update_deliveries(
        self, delivery_ids: Sequence[int], *, outcome: str, sync_result: dict[str, Any] | None
    ) -> None:
        wanted = set(delivery_ids)
        for i, delivery in enumerate(self._deliveries):
            if delivery.delivery_id in wanted:
                self._deliveries[i] = replace(delivery, outcome=outcome, sync_result=sync_result)

    async def list_deliveries(self, limit: int = DEFAULT_DELIVERY_LOG) -> list[Delivery]:
        return list(reversed(self._deliveries))[:limit]

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        for delivery in self._deliveries:
            if delivery.delivery_id == delivery_id:
                return delivery
        return None

    async def close(self) -> None:
        return None
