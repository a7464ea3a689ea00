"""A delivery as the receiver logs an accepted, verified change notification: the one the
store and output tests build, with what each test cares about given."""

from __future__ import annotations

from datetime import datetime

from cronofy_avail.runtime.store import Delivery


def accepted_change(
    at: datetime,
    *,
    user_id: str | None = None,
    headers: dict[str, str] | None = None,
    body: str = "{}",
    notification_type: str | None = "change",
) -> Delivery:
    """An accepted, verified ``change`` delivery received at ``at``."""
    return Delivery(
        received_at=at,
        user_id=user_id,
        callback_key_hint="abcd…",
        headers={} if headers is None else headers,
        body=body,
        verified=True,
        outcome="accepted",
        notification_type=notification_type,
    )
