"""What the state's resources share: the context (settings, clock, observer, the accounts) and
small helpers for ids, query strings and times.

Every resource object (:mod:`.accounts`, :mod:`.tokens`, :mod:`.calendars`, …) holds one
:class:`StateContext`; none holds another's data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from cronofy_avail.core.models import format_time
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state.records import (
    AccountRecord,
    Boundary,
    Clock,
    Query,
    StateObserver,
)
from cronofy_avail.emulator.validation import ApiError


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_hex(n: int) -> str:
    """``n`` random bytes as hex: the random part of every id the emulator makes up."""
    return secrets.token_hex(n)


class StateContext:
    """The settings, the clock, the observer and the accounts, shared by every resource.

    ``accounts`` is replaced (not cleared) by :meth:`reset`, as the state always did: a
    caller holding the old mapping keeps what it had.
    """

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.observer: StateObserver | None = None
        self.accounts: dict[str, AccountRecord] = {}

    def reset(self) -> None:
        self.accounts = {}

    def owner(self, index: Mapping[str, str], key: str, what: str) -> AccountRecord:
        """The account that ``index`` says owns ``key``; 404 ``no such {what}`` otherwise."""
        owner = index.get(key)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason=f"no such {what}")
        return self.accounts[owner]

    def calendar_changed(
        self, account: AccountRecord, calendar_id: str, *, managed: bool, at: datetime
    ) -> None:
        if self.observer is not None:
            self.observer.calendar_changed(account.account_id, calendar_id, managed=managed, at=at)


def require_scope(account: AccountRecord, scope: str) -> None:
    """403 with Cronofy's ``insufficient_scope`` challenge unless ``account`` has ``scope``."""
    if scope not in account.scopes:
        raise ApiError(
            403,
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="Cronofy", error="insufficient_scope", scope="{scope}"'
                )
            },
            reason=f"missing scope {scope}",
        )


# --------------------------------------------------------------------------- query strings


def query_value(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    return values[0]


def query_values(query: Query, name: str) -> list[str] | None:
    """``name[]`` values; also plain ``name`` and PHP's indexed ``name[0]``, ``name[1]``."""
    values = list(query.get(f"{name}[]", [])) + list(query.get(name, []))
    prefix = f"{name}["
    for key, found in query.items():
        if key.startswith(prefix) and key.endswith("]") and key[len(prefix) : -1].isdigit():
            values.extend(found)
    return values or None


def parse_form(body: bytes) -> dict[str, str]:
    """A form-encoded body (token requests from SDKs that do not send JSON)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


# --------------------------------------------------------------------------- times


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def instant_bounds(start: Boundary, end: Boundary, tz: ZoneInfo) -> tuple[datetime, datetime]:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return start, end
    assert isinstance(start, date)
    assert isinstance(end, date)
    return local_midnight(start, tz), local_midnight(end, tz)


def format_boundary(value: Boundary, tz: ZoneInfo, tzid: str, localized: bool) -> Any:
    if isinstance(value, datetime):
        if localized:
            local = value.astimezone(tz).replace(microsecond=0)
            return {"time": local.isoformat(), "tzid": tzid}
        return format_time(value)
    # All-day dates stay plain dates, localized or not (docs/reference/emulator.md).
    return value.isoformat()


def overlaps(start: Boundary, end: Boundary, window: tuple[date, date], tz: ZoneInfo) -> bool:
    first_day, last_day = window  # [first_day, last_day) in the request's zone
    if isinstance(start, datetime) and isinstance(end, datetime):
        return start < local_midnight(last_day, tz) and end > local_midnight(first_day, tz)
    assert isinstance(start, date)
    assert isinstance(end, date)
    return start < last_day and end > first_day
