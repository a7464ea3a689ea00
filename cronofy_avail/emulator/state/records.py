"""The emulator's records: what an account holds (profiles, calendars, events, available
periods, channels), the tokens behind it, and the types every resource of the state shares.

Plain data: the operations on it live in the resource modules of
:mod:`cronofy_avail.emulator.state`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

Clock = Callable[[], datetime]
Json = dict[str, Any]
Query = Mapping[str, Sequence[str]]
"""A decoded query string: each name with all its values (``calendar_ids[]`` may repeat)."""

Boundary = datetime | date
"""An event's start or end: an instant, or a date for all-day events."""


@dataclass(slots=True)
class ProfileRecord:
    profile_id: str
    account_id: str
    provider_name: str
    provider_service: str
    profile_name: str
    connected: bool = True
    locked: bool = False
    can_create_calendars: bool = True
    allows_duplicate_names: bool = False


@dataclass(slots=True)
class CalendarRecord:
    calendar_id: str
    profile_id: str
    account_id: str
    name: str
    primary: bool = False
    readonly: bool = False
    deleted: bool = False
    color: str | None = None


@dataclass(slots=True)
class EventRecord:
    event_uid: str
    account_id: str
    calendar_id: str
    start: Boundary
    end: Boundary
    created: datetime
    updated: datetime
    event_id: str | None = None
    """Set for events the application manages."""
    summary: str = ""
    description: str = ""
    status: str = "confirmed"
    transparency: str = "opaque"
    participation_status: str = "accepted"
    recurring: bool = False
    series_identifier: str | None = None
    location: str | None = None
    attendees: list[Json] = field(default_factory=list)
    organizer: Json | None = None
    """``{"email", "display_name"}``; ``None`` means the calendar's owner (house rule)."""
    tzid: str | None = None
    deleted: bool = False
    external_updated: datetime | None = None
    """When the user (not this application) last changed the event; ``last_modified`` uses it
    when ``own_changes_count`` is off (otherwise ``updated``)."""
    positions: list[tuple[Boundary, Boundary]] = field(default_factory=list)
    """Every (start, end) the event has had, current last: ``include_moved`` looks here."""

    @property
    def managed(self) -> bool:
        return self.event_id is not None

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(slots=True)
class PeriodRecord:
    available_period_id: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class Delivery:
    """One attempt to deliver a notification."""

    notification_type: str
    attempt: int
    at: str
    status: int | None
    ok: bool
    error: str | None = None


@dataclass(slots=True)
class ChannelRecord:
    channel_id: str
    account_id: str
    callback_url: str
    filters: Json
    created: datetime
    active: bool = True
    closed_reason: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def json(self) -> Json:
        return {
            "channel_id": self.channel_id,
            "callback_url": self.callback_url,
            "filters": dict(self.filters),
        }


@dataclass(slots=True)
class AccessToken:
    token: str = field(repr=False)
    account_id: str
    expires_at: datetime
    kind: str = "application"
    """``application`` (OAuth) or ``personal``: a personal token cannot create channels."""


@dataclass(slots=True)
class RefreshToken:
    token: str = field(repr=False)
    account_id: str
    revoked: bool = False


@dataclass(slots=True)
class AccountRecord:
    account_id: str
    email: str
    name: str
    tzid: str
    scopes: tuple[str, ...]
    token_kind: str = "application"  # noqa: S105 - a token kind, not a secret
    client_id: str = ""
    """The application the account authorized (its tokens are issued to that one alone)."""
    profiles: dict[str, ProfileRecord] = field(default_factory=dict)
    calendars: dict[str, CalendarRecord] = field(default_factory=dict)
    events: dict[str, EventRecord] = field(default_factory=dict)
    periods: dict[str, PeriodRecord] = field(default_factory=dict)
    channels: dict[str, ChannelRecord] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


@dataclass(frozen=True, slots=True)
class EmulatorAccount:
    """What creating an account (or authorizing again) hands back."""

    account_id: str
    sub: str
    email: str
    name: str
    profile_id: str
    calendar_id: str
    """The primary calendar."""
    calendar_ids: tuple[str, ...]
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: str
    tzid: str

    def json(self) -> Json:
        return {
            "account_id": self.account_id,
            "sub": self.sub,
            "email": self.email,
            "name": self.name,
            "profile_id": self.profile_id,
            "calendar_id": self.calendar_id,
            "calendar_ids": list(self.calendar_ids),
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
            "tzid": self.tzid,
        }


@dataclass(slots=True)
class Cursor:
    account_id: str
    kind: str
    items: list[Json]
    page_size: int


class StateObserver(Protocol):
    """Told about what produces push notifications (the notifier implements it)."""

    def channel_created(self, channel: ChannelRecord) -> None: ...

    def channel_closed(self, channel: ChannelRecord) -> None: ...

    def calendar_changed(
        self, account_id: str, calendar_id: str, *, managed: bool, at: datetime
    ) -> None: ...

    def profile_disconnected(self, account_id: str, profile_id: str) -> None: ...
