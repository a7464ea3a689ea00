"""Pydantic v2 wire models for every Cronofy payload this toolkit speaks.

Pure: no I/O. Conventions that hold throughout:

* Remote enums (providers, statuses, notification types) stay plain strings, so a value Cronofy
  adds tomorrow never breaks parsing. Known values are offered as constants.
* Response models keep unknown fields (``extra="allow"``): nothing Cronofy sends is lost.
* Times serialise the way Cronofy writes them: ``2026-11-24T09:00:00Z`` (UTC, seconds).
  Naive datetimes are refused: a time without a zone is a bug waiting for a DST change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

# --------------------------------------------------------------------------- times


def format_time(value: datetime) -> str:
    """Format an aware datetime as Cronofy's UTC time string, ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: give a time zone (e.g. datetime.now(UTC))")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """Parse a Cronofy time string (``Z`` or an offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return _in_utc(parsed)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 at +14:00 (or 9999-12-31 at -14:00) has no UTC instant
        raise ValueError("the time lies outside the years 1 to 9999 in UTC") from None


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: Cronofy times must carry a UTC offset")
    return _in_utc(value)


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(format_time, return_type=str),
]
"""An aware datetime normalised to UTC and written as ``2026-11-24T09:00:00Z``."""


class CronofyModel(BaseModel):
    """Base for response models: keep unknown fields, allow field names and aliases."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are a caller bug, so refuse them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LocalizedTime(CronofyModel):
    """``{"time": "2026-11-24T09:00:00+01:00", "tzid": "Europe/Paris"}``.

    ``time`` keeps the offset it was given; ``utc`` gives the instant in UTC.
    """

    time: datetime
    tzid: str

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("localized time must carry a UTC offset")
        _in_utc(value)  # it must have a UTC instant (``utc`` below)
        return value

    @property
    def utc(self) -> datetime:
        return self.time.astimezone(UTC)


def _parse_event_time(value: Any) -> Any:
    """Tell the three start/end forms apart before pydantic's union guesses.

    A string with a ``T`` is a timed instant, a bare ``YYYY-MM-DD`` is an all-day date, and a
    mapping is a localized time. A localized all-day boundary (``{"time": "2026-11-24",
    "tzid": ...}``) is a date: all-day events float, the user's zone places them. Anything else
    is handed on for pydantic to reject clearly.
    """
    if isinstance(value, str):
        if "T" in value or "t" in value:
            return parse_time(value)
        return date.fromisoformat(value)
    if isinstance(value, dict):
        inner = value.get("time")
        if isinstance(inner, str) and "T" not in inner and "t" not in inner:
            return date.fromisoformat(inner)
    return value


def _reject_naive(value: Any) -> Any:
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError("naive datetime: Cronofy times must carry a UTC offset")
    return value


def _serialize_event_time(value: datetime | date | LocalizedTime) -> Any:
    if isinstance(value, LocalizedTime):
        return {"time": value.time.isoformat(), "tzid": value.tzid}
    if isinstance(value, datetime):
        return format_time(value)
    return value.isoformat()


EventTime = Annotated[
    datetime | date | LocalizedTime,
    BeforeValidator(_parse_event_time),
    AfterValidator(_reject_naive),
    PlainSerializer(_serialize_event_time),
]
"""An event boundary: a UTC ``datetime``, an all-day ``date`` (end exclusive) or a
:class:`LocalizedTime` (when ``localized_times`` was asked for)."""


def _parse_period_time(value: Any) -> Any:
    if isinstance(value, str):
        return parse_time(value)
    return value


PeriodTime = Annotated[
    datetime | LocalizedTime,
    BeforeValidator(_parse_period_time),
    AfterValidator(_reject_naive),
    PlainSerializer(_serialize_event_time),
]
"""A boundary of an Available Period: UTC time or localized time; never an all-day date."""


def utc_instant(value: datetime | LocalizedTime) -> datetime:
    """The UTC instant of a timed boundary."""
    if isinstance(value, LocalizedTime):
        return value.utc
    return _require_aware(value)


# --------------------------------------------------------------------------- common


class Pages(CronofyModel):
    current: int = 1
    total: int = 1
    next_page: str | None = None


class ErrorDetail(CronofyModel):
    key: str
    description: str | None = None


class ErrorBody(CronofyModel):
    """The 422 body: ``{"errors": {"<param>": [{"key", "description"}]}}``."""

    errors: dict[str, list[ErrorDetail]] = Field(default_factory=dict)


# --------------------------------------------------------------------------- identity


class Profile(CronofyModel):
    provider_name: str
    profile_id: str
    profile_name: str
    provider_service: str | None = None
    profile_connected: bool = True
    profile_initial_sync_required: bool | None = None
    profile_relink_url: str | None = None


class ProfilesResponse(CronofyModel):
    profiles: list[Profile]


class Calendar(CronofyModel):
    calendar_id: str
    calendar_name: str
    provider_name: str | None = None
    profile_id: str | None = None
    profile_name: str | None = None
    calendar_readonly: bool = False
    calendar_deleted: bool = False
    calendar_primary: bool = False
    permission_level: str | None = None
    calendar_color: str | None = None


class CalendarsResponse(CronofyModel):
    calendars: list[Calendar]


class CalendarResponse(CronofyModel):
    calendar: Calendar


class ProfileWithCalendars(Profile):
    profile_calendars: list[Calendar] = Field(default_factory=list)


class UserInfoAuthorization(CronofyModel):
    scope: str | None = None
    status: str | None = None


class UserInfoData(CronofyModel):
    authorization: UserInfoAuthorization | None = None
    profiles: list[ProfileWithCalendars] = Field(default_factory=list)


class UserInfo(CronofyModel):
    """``GET /v1/userinfo``; the dotted keys ``cronofy.type``/``cronofy.data`` are literal."""

    sub: str
    email: str | None = None
    name: str | None = None
    zoneinfo: str | None = None
    cronofy_type: str | None = Field(default=None, alias="cronofy.type")
    cronofy_data: UserInfoData | None = Field(default=None, alias="cronofy.data")


class Account(CronofyModel):
    account_id: str
    email: str | None = None
    name: str | None = None
    scope: str | None = None
    default_tzid: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset((self.scope or "").split())


class AccountResponse(CronofyModel):
    account: Account


class CreateCalendarRequest(RequestModel):
    profile_id: str
    name: str
    color: str | None = None


# --------------------------------------------------------------------------- channels


class ChannelFilters(CronofyModel):
    calendar_ids: list[str] | None = None
    only_managed: bool | None = None


class Channel(CronofyModel):
    channel_id: str
    callback_url: str
    filters: ChannelFilters = Field(default_factory=ChannelFilters)


class ChannelResponse(CronofyModel):
    channel: Channel


class ChannelsResponse(CronofyModel):
    channels: list[Channel]


class CreateChannelRequest(RequestModel):
    callback_url: str
    filters: ChannelFilters | None = None


# --------------------------------------------------------------------------- notifications


class NotificationType:
    """The notification types seen so far. The set is open: compare strings, never enumerate."""

    VERIFICATION = "verification"
    CHANGE = "change"
    PROFILE_DISCONNECTED = "profile_disconnected"
    PROFILE_INITIAL_SYNC_COMPLETED = "profile_initial_sync_completed"
    CONFERENCING_PROFILE_DISCONNECTED = "conferencing_profile_disconnected"
    GDPR_REQUESTED = "gdpr_requested"

    KNOWN: frozenset[str] = frozenset(
        {
            VERIFICATION,
            CHANGE,
            PROFILE_DISCONNECTED,
            PROFILE_INITIAL_SYNC_COMPLETED,
            CONFERENCING_PROFILE_DISCONNECTED,
            GDPR_REQUESTED,
        }
    )


class Notification(CronofyModel):
    type: str
    changes_since: UtcDateTime | None = None

    @property
    def is_known(self) -> bool:
        return self.type in NotificationType.KNOWN


class NotificationChannel(CronofyModel):
    channel_id: str
    callback_url: str | None = None
    filters: ChannelFilters = Field(default_factory=ChannelFilters)


class NotificationEnvelope(CronofyModel):
    """The body Cronofy POSTs to a channel's callback URL."""

    notification: Notification
    channel: NotificationChannel | None = None

    @property
    def type(self) -> str:
        return self.notification.type

    @property
    def changes_since(self) -> datetime | None:
        return self.notification.changes_since


# --------------------------------------------------------------------------- events


class EventStatus:
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class Transparency:
    OPAQUE = "opaque"
    TRANSPARENT = "transparent"
    UNKNOWN = "unknown"


class ParticipationStatus:
    NEEDS_ACTION = "needs_action"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    UNKNOWN = "unknown"


class Attendee(CronofyModel):
    email: str | None = None
    display_name: str | None = None
    status: str | None = None


class Organizer(CronofyModel):
    email: str | None = None
    display_name: str | None = None


class Location(CronofyModel):
    description: str | None = None
    lat: str | float | None = None
    long: str | float | None = None


class Event(CronofyModel):
    """One event from ``GET /v1/events``. ``status`` also accepts the ``event_status`` spelling."""

    calendar_id: str
    event_uid: str
    event_id: str | None = None
    summary: str | None = None
    description: str | None = None
    start: EventTime
    end: EventTime
    deleted: bool = False
    created: UtcDateTime | None = None
    updated: UtcDateTime | None = None
    status: str | None = Field(
        default=None, validation_alias=AliasChoices("status", "event_status")
    )
    transparency: str | None = None
    participation_status: str | None = None
    recurring: bool | None = None
    series_identifier: str | None = None
    attendees: list[Attendee] = Field(default_factory=list)
    organizer: Organizer | None = None
    location: Location | None = None
    categories: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    event_private: bool | None = None

    @property
    def is_all_day(self) -> bool:
        return not isinstance(self.start, (datetime, LocalizedTime))


class EventsResponse(CronofyModel):
    pages: Pages = Field(default_factory=Pages)
    events: list[Event]


class UpsertEventRequest(RequestModel):
    """Managed event upsert (``POST /v1/calendars/{calendar_id}/events``), keyed by ``event_id``."""

    event_id: str
    summary: str
    start: EventTime
    end: EventTime
    description: str | None = None
    tzid: str | None = None
    transparency: str | None = None


# --------------------------------------------------------------------------- available periods

AVAILABLE_PERIOD_ID_MAX = 64


def _check_period_id(value: str) -> str:
    if not value:
        raise ValueError("available_period_id must not be empty")
    if not value.isascii():
        raise ValueError("available_period_id must be ASCII")
    if len(value) > AVAILABLE_PERIOD_ID_MAX:
        raise ValueError(
            f"available_period_id must be {AVAILABLE_PERIOD_ID_MAX} characters or fewer"
        )
    return value


AvailablePeriodId = Annotated[str, AfterValidator(_check_period_id)]


class AvailablePeriod(CronofyModel):
    available_period_id: str
    start: PeriodTime
    end: PeriodTime


class AvailablePeriodsResponse(CronofyModel):
    pages: Pages = Field(default_factory=Pages)
    available_periods: list[AvailablePeriod]


class UpsertAvailablePeriodRequest(RequestModel):
    """``POST /v1/available_periods``: first use of an id creates, later uses update."""

    available_period_id: AvailablePeriodId
    start: PeriodTime
    end: PeriodTime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime | LocalizedTime, info: Any) -> datetime | LocalizedTime:
        start = info.data.get("start")
        if start is not None and utc_instant(end) <= utc_instant(start):
            raise ValueError("end must be after start")
        return end


class DeleteAvailablePeriodRequest(RequestModel):
    available_period_id: AvailablePeriodId | None = None
    # validate_default: the one-of check must also run when neither field is given.
    delete_all: bool | None = Field(default=None, validate_default=True)

    @field_validator("delete_all")
    @classmethod
    def _one_of(cls, delete_all: bool | None, info: Any) -> bool | None:
        has_id = info.data.get("available_period_id") is not None
        if has_id == bool(delete_all):
            raise ValueError("give exactly one of available_period_id or delete_all=True")
        return delete_all


# --------------------------------------------------------------------------- batch

BATCH_MAX_ENTRIES = 50


class BatchEntry(RequestModel):
    method: Literal["POST", "DELETE"]
    relative_url: str
    data: dict[str, Any]


class BatchRequest(RequestModel):
    batch: list[BatchEntry] = Field(max_length=BATCH_MAX_ENTRIES)


class BatchEntryResult(CronofyModel):
    status: int
    data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def errors(self) -> dict[str, list[ErrorDetail]]:
        if not self.data or "errors" not in self.data:
            return {}
        return ErrorBody.model_validate(self.data).errors


class BatchResponse(CronofyModel):
    batch: list[BatchEntryResult]


# --------------------------------------------------------------------------- availability


class Duration(CronofyModel):
    minutes: int = Field(gt=0)


class Buffer(CronofyModel):
    before: Duration | None = None
    after: Duration | None = None


class QueryPeriod(CronofyModel):
    start: PeriodTime
    end: PeriodTime


class Member(CronofyModel):
    sub: str
    calendar_ids: list[str] | None = None
    managed_availability: bool | None = None
    available_periods: list[QueryPeriod] | None = None


class ParticipantGroup(CronofyModel):
    members: list[Member]
    required: Literal["all"] | int = "all"


class AvailabilityRequest(CronofyModel):
    participants: list[ParticipantGroup]
    required_duration: Duration
    query_periods: list[QueryPeriod] = Field(
        validation_alias=AliasChoices("query_periods", "available_periods")
    )
    start_interval: Duration | None = None
    buffer: Buffer | None = None
    response_format: Literal["periods", "slots", "overlapping_slots"] | None = None
    max_results: int | None = Field(default=None, gt=0)


class AvailabilityParticipant(CronofyModel):
    sub: str


class AvailabilityResult(CronofyModel):
    start: PeriodTime
    end: PeriodTime
    participants: list[AvailabilityParticipant] = Field(default_factory=list)

    @property
    def duration(self) -> timedelta:
        return utc_instant(self.end) - utc_instant(self.start)


class AvailabilityResponse(CronofyModel):
    available_periods: list[AvailabilityResult] | None = None
    available_slots: list[AvailabilityResult] | None = None

    @property
    def results(self) -> list[AvailabilityResult]:
        """Whichever list the response format produced."""
        return self.available_slots or self.available_periods or []


# --------------------------------------------------------------------------- oauth


class LinkingProfile(CronofyModel):
    provider_name: str | None = None
    profile_id: str | None = None
    profile_name: str | None = None


class TokenResponse(CronofyModel):
    """``POST /oauth/token``. Keep the returned refresh token: it may have been rotated."""

    # A validation error must never echo the payload: it holds the tokens.
    model_config = ConfigDict(extra="allow", populate_by_name=True, hide_input_in_errors=True)

    token_type: str = "bearer"  # noqa: S105 - a token kind, not a secret
    access_token: str = Field(repr=False)
    expires_in: int | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    scope: str | None = None
    account_id: str | None = None
    sub: str | None = None
    linking_profile: LinkingProfile | None = None


class OAuthErrorBody(CronofyModel):
    error: str
    error_description: str | None = None
