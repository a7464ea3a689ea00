"""The table of ``scheduler_must_look``: which users the scheduler looks at, at ``T0``. The
rule's tests (tests/core/test_intents.py) and the stores' SQL forms of it
(tests/store/test_stores.py) check the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.core.intents import UserState

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Facts:
    calendar_id: str | None = "cal"
    state: str = UserState.IDLE
    reconcile_due_at: datetime | None = T0 + H
    pending_at: datetime | None = None
    pending_since: datetime | None = None
    pending_full: bool = False


DUE_CASES = [
    # (facts, looked at at T0)
    pytest.param(Facts(), False, id="not-due-yet"),
    pytest.param(Facts(reconcile_due_at=None), True, id="due-unknown"),
    pytest.param(Facts(reconcile_due_at=T0), True, id="due-now"),
    pytest.param(Facts(reconcile_due_at=T0 - H), True, id="overdue"),
    pytest.param(Facts(state=UserState.FAILED), True, id="failed-backoff-in-rounds"),
    pytest.param(Facts(state=UserState.RETRYING), False, id="retrying-not-due"),
    pytest.param(Facts(pending_at=T0 + H), True, id="pending-notification"),
    pytest.param(Facts(pending_since=T0 - H), True, id="pending-point"),
    pytest.param(Facts(pending_full=True), True, id="pending-full"),
    pytest.param(Facts(calendar_id=None, reconcile_due_at=None), False, id="no-sub-calendar"),
    pytest.param(
        Facts(state=UserState.NEEDS_REAUTH, reconcile_due_at=None, pending_full=True),
        False,
        id="needs-reauth",
    ),
    pytest.param(Facts(state=UserState.DISCONNECTED, pending_at=T0), False, id="disconnected"),
    pytest.param(Facts(state=UserState.NEW, reconcile_due_at=None), True, id="new"),
]
