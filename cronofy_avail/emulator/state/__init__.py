"""The emulator's state and every Cronofy operation on it, free of aiohttp.

Each public method takes already-decoded input (query multi-dicts, JSON bodies) and returns a
JSON-ready value, or raises :class:`~.validation.ApiError` with Cronofy's status and body. The
HTTP handlers in :mod:`.app` are thin wrappers; the control API in :mod:`.control` calls the
``external_*``/``control_*`` methods to play the user and the instructor.

Time comes from an injectable ``clock`` (aware UTC datetimes), so tests control ``updated``,
``last_modified``, token expiry and the default event window.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo

from cronofy_avail.core.models import format_time
from cronofy_avail.emulator import availability as av
from cronofy_avail.emulator.availability_query import MemberQuery, parse_availability
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.validation import (
    KEY_INVALID,
    ApiError,
    Errors,
    bool_param,
    check_id,
    check_order,
    date_param,
    parse_bool,
    time_value,
    unprocessable,
    zone,
)

Clock = Callable[[], datetime]
Json = dict[str, Any]
Query = Mapping[str, Sequence[str]]
"""A decoded query string: each name with all its values (``calendar_ids[]`` may repeat)."""

CALLBACK_URL_MAX_LENGTH = 128

DEFAULT_SCOPES = (
    "read_account",
    "list_calendars",
    "read_events",
    "create_event",
    "delete_event",
    "read_free_busy",
    "create_calendar",
    "change_participation_status",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _same_filters(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Channel filters compare as sets of calendars: the order they were listed in is noise."""

    def canonical(filters: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(filters)
        if out.get("calendar_ids") is not None:
            out["calendar_ids"] = sorted(set(out["calendar_ids"]))
        return out

    return canonical(a) == canonical(b)


def _hex(n: int) -> str:
    return secrets.token_hex(n)


def new_calendar_id() -> str:
    # Calendar ids may contain ``@``, ``-`` and ``_``: always emit all three.
    return f"cal_{_hex(6)}@{_hex(2)}-{_hex(3)}_{_hex(2)}"


# --------------------------------------------------------------------------- records


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


Boundary = datetime | date


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
    token: str
    account_id: str
    expires_at: datetime
    kind: str = "application"
    """``application`` (OAuth) or ``personal``: a personal token cannot create channels."""


@dataclass(slots=True)
class RefreshToken:
    token: str
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


# --------------------------------------------------------------------------- helpers


def _first(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    return values[0]


def _list(query: Query, name: str) -> list[str] | None:
    """``name[]`` values; also plain ``name`` and PHP's indexed ``name[0]``, ``name[1]``."""
    values = list(query.get(f"{name}[]", [])) + list(query.get(name, []))
    prefix = f"{name}["
    for key, found in query.items():
        if key.startswith(prefix) and key.endswith("]") and key[len(prefix) : -1].isdigit():
            values.extend(found)
    return values or None


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _instant_bounds(start: Boundary, end: Boundary, tz: ZoneInfo) -> tuple[datetime, datetime]:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return start, end
    assert isinstance(start, date)
    assert isinstance(end, date)
    return _local_midnight(start, tz), _local_midnight(end, tz)


def _format_boundary(value: Boundary, tz: ZoneInfo, tzid: str, localized: bool) -> Any:
    if isinstance(value, datetime):
        if localized:
            local = value.astimezone(tz).replace(microsecond=0)
            return {"time": local.isoformat(), "tzid": tzid}
        return format_time(value)
    # All-day dates stay plain dates, localized or not (see the README).
    return value.isoformat()


def _overlaps(start: Boundary, end: Boundary, window: tuple[date, date], tz: ZoneInfo) -> bool:
    first, last = window  # [first, last) in the request's zone
    if isinstance(start, datetime) and isinstance(end, datetime):
        return start < _local_midnight(last, tz) and end > _local_midnight(first, tz)
    assert isinstance(start, date)
    assert isinstance(end, date)
    return start < last and end > first


# --------------------------------------------------------------------------- the state


class EmulatorState:
    """Applications' accounts and everything in them. One application per emulator."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.client_id = client_id or f"emu_{_hex(12)}"
        self.client_secrets: list[str] = [client_secret or f"CRN_{secrets.token_urlsafe(30)}"]
        """Active client secrets, newest first: notifications are signed with each."""
        self.observer: StateObserver | None = None
        self.page_size = self.config.page_size
        self.access_token_ttl = self.config.access_token_ttl
        self.rotate_refresh_tokens = self.config.rotate_refresh_tokens
        self.reset()

    def reset(self) -> None:
        """Forget every account, token, channel and code (the application stays)."""
        self.accounts: dict[str, AccountRecord] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, tuple[str, str]] = {}
        self.cursors: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._cursor_data: dict[str, Cursor] = {}
        self._calendar_owner: dict[str, str] = {}
        self._profile_owner: dict[str, str] = {}
        self._event_owner: dict[str, str] = {}
        self._channel_owner: dict[str, str] = {}
        self._account_counter = 0

    @property
    def client_secret(self) -> str:
        """The newest active client secret."""
        return self.client_secrets[0]

    # ------------------------------------------------------------------ accounts & tokens

    def create_account(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        tzid: str = "Europe/London",
        scope: str | Sequence[str] | None = None,
        provider_name: str = "google",
        provider_service: str | None = None,
        calendars: Sequence[str] = (),
        token_kind: str = "application",  # noqa: S107 - a token kind
        can_create_calendars: bool = True,
        allows_duplicate_calendar_names: bool = False,
    ) -> EmulatorAccount:
        errors = Errors()
        zone(errors, "tzid", tzid, required=True)
        if token_kind not in ("application", "personal"):
            errors.invalid("token_kind", "token_kind must be application or personal")
        errors.raise_if_any()
        self._account_counter += 1
        account_id = f"acc_{_hex(12)}"
        email = email or f"user{self._account_counter}.{account_id[-6:]}@example.com"
        scopes: tuple[str, ...]
        if scope is None:
            scopes = DEFAULT_SCOPES
        elif isinstance(scope, str):
            scopes = tuple(scope.split())
        else:
            scopes = tuple(scope)
        account = AccountRecord(
            account_id=account_id,
            email=email,
            name=name or email.split("@")[0].replace(".", " ").title(),
            tzid=tzid,
            scopes=scopes,
            token_kind=token_kind,
        )
        profile = ProfileRecord(
            profile_id=f"pro_{_hex(8)}",
            account_id=account_id,
            provider_name=provider_name,
            provider_service=provider_service
            or {"google": "gsuite", "live_connect": "outlook_com"}.get(
                provider_name, provider_name
            ),
            profile_name=email,
            can_create_calendars=can_create_calendars,
            allows_duplicate_names=allows_duplicate_calendar_names,
        )
        account.profiles[profile.profile_id] = profile
        self._profile_owner[profile.profile_id] = account_id
        self.accounts[account_id] = account
        primary = self._add_calendar(account, profile, email, primary=True)
        ids = [primary.calendar_id]
        for extra in calendars:
            ids.append(self._add_calendar(account, profile, extra).calendar_id)
        access, refresh = self.issue_tokens(account)
        return EmulatorAccount(
            account_id=account_id,
            sub=account_id,
            email=email,
            name=account.name,
            profile_id=profile.profile_id,
            calendar_id=primary.calendar_id,
            calendar_ids=tuple(ids),
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=self.access_token_ttl,
            scope=account.scope,
            tzid=tzid,
        )

    def _add_calendar(
        self,
        account: AccountRecord,
        profile: ProfileRecord,
        name: str,
        *,
        primary: bool = False,
        color: str | None = None,
    ) -> CalendarRecord:
        calendar = CalendarRecord(
            calendar_id=new_calendar_id(),
            profile_id=profile.profile_id,
            account_id=account.account_id,
            name=name,
            primary=primary,
            color=color,
        )
        account.calendars[calendar.calendar_id] = calendar
        self._calendar_owner[calendar.calendar_id] = account.account_id
        return calendar

    def issue_tokens(
        self, account: AccountRecord, *, refresh: RefreshToken | None = None
    ) -> tuple[AccessToken, RefreshToken]:
        access = AccessToken(
            token=secrets.token_urlsafe(32),
            account_id=account.account_id,
            expires_at=self.clock() + timedelta(seconds=self.access_token_ttl),
            kind=account.token_kind,
        )
        self.access_tokens[access.token] = access
        if refresh is None:
            refresh = RefreshToken(secrets.token_urlsafe(32), account.account_id)
            self.refresh_tokens[refresh.token] = refresh
        return access, refresh

    def account(self, account_id: str) -> AccountRecord:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise ApiError(404, reason="no such account") from None

    def authenticate(self, token: str | None) -> tuple[AccountRecord, AccessToken]:
        """The account behind a bearer token; 401 when unknown or expired."""
        record = self.access_tokens.get(token or "")
        if record is None or record.expires_at <= self.clock():
            raise ApiError(
                401,
                headers={"WWW-Authenticate": 'Bearer realm="Cronofy", error="invalid_token"'},
                reason="invalid token",
            )
        account = self.accounts.get(record.account_id)
        if account is None:
            raise ApiError(401, reason="account gone")
        return account, record

    def is_client_secret(self, token: str | None) -> bool:
        return bool(token) and any(
            secrets.compare_digest(token or "", secret) for secret in self.client_secrets
        )

    @staticmethod
    def require_scope(account: AccountRecord, scope: str) -> None:
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

    def expire_tokens(self, account_id: str | None = None) -> int:
        """Expire access tokens (of one account or all): the next call answers 401."""
        count = 0
        past = self.clock() - timedelta(seconds=1)
        for token in self.access_tokens.values():
            if (account_id is None or token.account_id == account_id) and (token.expires_at > past):
                token.expires_at = past
                count += 1
        return count

    def revoke_refresh_tokens(self, account_id: str | None = None) -> int:
        count = 0
        for token in self.refresh_tokens.values():
            if (account_id is None or token.account_id == account_id) and not token.revoked:
                token.revoked = True
                count += 1
        return count

    def rotate_client_secret(self, *, keep_previous: bool = True) -> str:
        new = f"CRN_{secrets.token_urlsafe(30)}"
        self.client_secrets = [new, *self.client_secrets] if keep_previous else [new]
        return new

    def retire_previous_secrets(self) -> None:
        self.client_secrets = self.client_secrets[:1]

    # ------------------------------------------------------------------ oauth

    def authorization_code(self, account: AccountRecord, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = (account.account_id, redirect_uri)
        return code

    def token_request(self, body: Mapping[str, Any], basic: tuple[str, str] | None) -> Json:
        """``POST /oauth/token`` (refresh and code exchange). OAuth errors are 400/401."""
        client_id = body.get("client_id") or (basic[0] if basic else None)
        client_secret = body.get("client_secret") or (basic[1] if basic else None)
        grant_type = body.get("grant_type")
        if not grant_type:
            raise ApiError(400, {"error": "invalid_request"}, reason="no grant_type")
        if client_id != self.client_id or not self.is_client_secret(
            str(client_secret) if client_secret else None
        ):
            raise ApiError(401, {"error": "invalid_client"}, reason="bad client credentials")
        if grant_type == "refresh_token":
            raw = body.get("refresh_token")
            refresh = self.refresh_tokens.get(str(raw)) if raw else None
            if refresh is None or refresh.revoked or refresh.account_id not in self.accounts:
                raise ApiError(400, {"error": "invalid_grant"}, reason="unknown refresh token")
            account = self.accounts[refresh.account_id]
            if self.rotate_refresh_tokens:
                refresh.revoked = True
                access, refresh = self.issue_tokens(account)
            else:
                access, refresh = self.issue_tokens(account, refresh=refresh)
            return self._token_json(account, access, refresh)
        if grant_type == "authorization_code":
            code = body.get("code")
            entry = self.codes.pop(str(code), None) if code else None
            if entry is None or entry[0] not in self.accounts:
                raise ApiError(400, {"error": "invalid_grant"}, reason="unknown code")
            account_id, redirect_uri = entry
            if body.get("redirect_uri") != redirect_uri:
                raise ApiError(400, {"error": "invalid_grant"}, reason="redirect_uri mismatch")
            account = self.accounts[account_id]
            access, refresh = self.issue_tokens(account)
            answer = self._token_json(account, access, refresh)
            profile = next(iter(account.profiles.values()))
            answer.update(
                account_id=account_id,
                sub=account_id,
                linking_profile={
                    "provider_name": profile.provider_name,
                    "profile_id": profile.profile_id,
                    "profile_name": profile.profile_name,
                },
            )
            return answer
        raise ApiError(400, {"error": "unsupported_grant_type"}, reason="grant type")

    def _token_json(
        self, account: AccountRecord, access: AccessToken, refresh: RefreshToken
    ) -> Json:
        return {
            "token_type": "bearer",
            "access_token": access.token,
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh.token,
            "scope": account.scope,
        }

    # ------------------------------------------------------------------ identity

    def _profile_json(self, profile: ProfileRecord, base_url: str) -> Json:
        out: Json = {
            "provider_name": profile.provider_name,
            "provider_service": profile.provider_service,
            "profile_id": profile.profile_id,
            "profile_name": profile.profile_name,
            "profile_connected": profile.connected,
            "profile_initial_sync_required": False,
        }
        if not profile.connected:
            out["profile_relink_url"] = f"{base_url}/oauth/relink/{profile.profile_id}"
        return out

    def _calendar_json(self, account: AccountRecord, calendar: CalendarRecord) -> Json:
        profile = account.profiles[calendar.profile_id]
        out: Json = {
            "provider_name": profile.provider_name,
            "profile_id": profile.profile_id,
            "profile_name": profile.profile_name,
            "calendar_id": calendar.calendar_id,
            "calendar_name": calendar.name,
            "calendar_readonly": calendar.readonly,
            "calendar_deleted": calendar.deleted,
            "calendar_primary": calendar.primary,
            "calendar_integrated_conferencing_available": False,
            "calendar_attachments_available": False,
            "calendar_attendee_permissions": ["none"],
            "permission_level": "sandbox" if calendar.readonly else "unrestricted",
        }
        if calendar.color:
            out["calendar_color"] = calendar.color
        return out

    def profiles(self, account: AccountRecord, base_url: str) -> Json:
        return {"profiles": [self._profile_json(p, base_url) for p in account.profiles.values()]}

    def userinfo(self, account: AccountRecord, base_url: str) -> Json:
        profiles = []
        for profile in account.profiles.values():
            entry = self._profile_json(profile, base_url)
            entry["profile_calendars"] = [
                self._calendar_json(account, c)
                for c in account.calendars.values()
                if c.profile_id == profile.profile_id
            ]
            profiles.append(entry)
        return {
            "sub": account.account_id,
            "email": account.email,
            "name": account.name,
            "zoneinfo": account.tzid,
            "cronofy.type": "account",
            "cronofy.data": {
                "authorization": {"scope": account.scope, "status": "active"},
                "profiles": profiles,
                # No conferencing service is ever connected in the emulator.
                "conferencing_profiles": [],
            },
        }

    def account_json(self, account: AccountRecord) -> Json:
        return {
            "account": {
                "account_id": account.account_id,
                "email": account.email,
                "name": account.name,
                "scope": account.scope,
                "default_tzid": account.tzid,
            }
        }

    # ------------------------------------------------------------------ calendars

    def list_calendars(self, account: AccountRecord) -> Json:
        return {"calendars": [self._calendar_json(account, c) for c in account.calendars.values()]}

    def create_calendar(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        self.require_scope(account, "create_calendar")
        errors = Errors()
        profile_id = body.get("profile_id")
        name = body.get("name")
        color = body.get("color")
        profile = None
        if not profile_id:
            errors.required("profile_id")
        else:
            profile = account.profiles.get(str(profile_id))
            if profile is None:
                errors.invalid("profile_id", "profile_id is not a profile of this account")
        if not name:
            errors.required("name")
        elif not isinstance(name, str):
            errors.invalid("name", "name must be a string")
        if color is not None and not _is_color(color):
            errors.invalid("color", "color must be a hex color such as #49BED8")
        errors.raise_if_any()
        assert profile is not None
        assert isinstance(name, str)
        if profile.locked:
            raise ApiError(423, reason="profile locked")
        if not profile.connected:
            raise unprocessable(
                "profile_id", "errors.profile_disconnected", "the profile is disconnected"
            )
        if not profile.can_create_calendars:
            raise unprocessable(
                "profile_id",
                "errors.calendar_creation_not_supported",
                f"{profile.provider_name} profiles cannot create calendars",
            )
        if not profile.allows_duplicate_names and any(
            c.name == name and c.profile_id == profile.profile_id and not c.deleted
            for c in account.calendars.values()
        ):
            raise unprocessable(
                "name",
                "errors.duplicate_calendar_name",
                "A calendar with this name already exists in this profile",
            )
        calendar = self._add_calendar(account, profile, name, color=color)
        return {"calendar": self._calendar_json(account, calendar)}

    def _own_calendar(self, account: AccountRecord, calendar_id: str) -> CalendarRecord:
        calendar = account.calendars.get(calendar_id)
        if calendar is None or calendar.deleted:
            raise ApiError(404, reason="no such calendar")
        return calendar

    # ------------------------------------------------------------------ channels

    def create_channel(self, account: AccountRecord, token: AccessToken, body: Json) -> Json:
        if token.kind != "application":
            raise ApiError(403, reason="push notifications need an application token")
        errors = Errors()
        url = body.get("callback_url")
        if not url:
            errors.required("callback_url")
        elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
            errors.invalid("callback_url", "callback_url must be an absolute http(s) URL")
        elif len(url) > CALLBACK_URL_MAX_LENGTH:
            # pycronofy Client.create_notification_channel: "Must not be longer than 128
            # characters".
            errors.add(
                "callback_url",
                "errors.too_long",
                f"callback_url must be {CALLBACK_URL_MAX_LENGTH} characters or fewer",
            )
        filters_in = body.get("filters")
        filters: Json = {}
        if filters_in is not None and not isinstance(filters_in, Mapping):
            errors.invalid("filters", "filters must be an object")
        elif filters_in:
            ids = filters_in.get("calendar_ids")
            if ids is not None:
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    errors.invalid("filters", "filters.calendar_ids must be a list of ids")
                elif not ids:
                    # Cronofy's docs: at least one id when calendar_ids is given.
                    errors.invalid("filters", "filters.calendar_ids must hold at least one id")
                elif any(i not in account.calendars for i in ids):
                    errors.invalid("filters", "filters.calendar_ids holds an unknown calendar")
                else:
                    filters["calendar_ids"] = list(ids)
            if filters_in.get("only_managed") is not None:
                only = parse_bool(filters_in.get("only_managed"))
                if only is None:
                    errors.invalid("filters", "filters.only_managed must be true or false")
                else:
                    filters["only_managed"] = only
        errors.raise_if_any()
        assert isinstance(url, str)
        for channel in account.channels.values():
            if (
                channel.active
                and channel.callback_url == url
                and _same_filters(channel.filters, filters)
            ):
                return {"channel": channel.json()}
        if sum(c.active for c in account.channels.values()) >= self.config.max_channels:
            raise unprocessable(
                "channel",
                "errors.too_many_channels",
                f"an account may have at most {self.config.max_channels} channels",
            )
        channel = ChannelRecord(
            channel_id=f"chn_{_hex(12)}",
            account_id=account.account_id,
            callback_url=url,
            filters=filters,
            created=self.clock(),
        )
        account.channels[channel.channel_id] = channel
        self._channel_owner[channel.channel_id] = account.account_id
        if self.observer is not None:
            self.observer.channel_created(channel)
        return {"channel": channel.json()}

    def list_channels(self, account: AccountRecord) -> Json:
        return {"channels": [c.json() for c in account.channels.values() if c.active]}

    def close_channel(self, account: AccountRecord, channel_id: str, reason: str = "") -> None:
        channel = account.channels.get(channel_id)
        if channel is None or not channel.active:
            raise ApiError(404, reason="no such channel")
        self._close(channel, reason or "closed by the application")

    def _close(self, channel: ChannelRecord, reason: str) -> None:
        channel.active = False
        channel.closed_reason = reason
        if self.observer is not None:
            self.observer.channel_closed(channel)

    def close_channel_for_failures(self, channel: ChannelRecord) -> None:
        if channel.active:
            self._close(channel, "delivery failed for longer than the failure window")

    def channel(self, channel_id: str) -> ChannelRecord:
        owner = self._channel_owner.get(channel_id)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason="no such channel")
        return self.accounts[owner].channels[channel_id]

    def all_channels(self) -> list[ChannelRecord]:
        return [c for a in self.accounts.values() for c in a.channels.values()]

    # ------------------------------------------------------------------ events: read

    def read_events(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        self.require_scope(account, "read_events")
        errors = Errors()
        tz = zone(errors, "tzid", _first(query, "tzid"), required=True)
        first = date_param(errors, "from", _first(query, "from"))
        last = date_param(errors, "to", _first(query, "to"))
        last_modified_raw = _first(query, "last_modified")
        last_modified = None
        if last_modified_raw:
            value = time_value(errors, "last_modified", last_modified_raw, allow_date=False)
            last_modified = value if isinstance(value, datetime) else None
        include_deleted = bool_param(errors, "include_deleted", _first(query, "include_deleted"))
        include_moved = bool_param(errors, "include_moved", _first(query, "include_moved"))
        include_managed = bool_param(errors, "include_managed", _first(query, "include_managed"))
        only_managed = bool_param(errors, "only_managed", _first(query, "only_managed"))
        localized = bool_param(errors, "localized_times", _first(query, "localized_times"))
        bool_param(errors, "include_geo", _first(query, "include_geo"))
        calendar_ids = _list(query, "calendar_ids")
        if calendar_ids is not None and any(c not in account.calendars for c in calendar_ids):
            errors.invalid("calendar_ids", "calendar_ids holds a calendar not in this account")
        errors.raise_if_any()
        assert tz is not None
        today = self.clock().astimezone(tz).date()
        # Cronofy's docs: managed events are not subject to the *default* window.
        managed_windowed = first is not None or last is not None
        first = first or today - timedelta(days=self.config.events_days_back)
        last = last or today + timedelta(days=self.config.events_days_ahead)
        if last <= first:
            raise unprocessable("to", KEY_INVALID, "to must be after from")
        tzid = str(tz.key)
        window = (first, last)
        found: list[EventRecord] = []
        for event in account.events.values():
            if calendar_ids is not None and event.calendar_id not in calendar_ids:
                continue
            calendar = account.calendars.get(event.calendar_id)
            if calendar is None or calendar.deleted:
                continue
            if only_managed and not event.managed:
                continue
            if event.managed and not (include_managed or only_managed):
                continue
            if event.deleted and not include_deleted:
                continue
            if last_modified is not None:
                modified = (
                    event.updated if self.config.own_changes_count else event.external_updated
                )
                if modified is None or modified < last_modified:
                    continue
            positions = event.positions if include_moved else [(event.start, event.end)]
            if (not event.managed or managed_windowed) and not any(
                _overlaps(s, e, window, tz) for s, e in positions
            ):
                continue
            found.append(event)
        found.sort(key=lambda e: (_instant_bounds(e.start, e.end, tz)[0], e.event_uid))
        items = [self.event_json(e, tz, tzid, localized=localized) for e in found]
        return self._first_page(account, "events", items, base_url)

    def event_json(
        self, event: EventRecord, tz: ZoneInfo, tzid: str, *, localized: bool = False
    ) -> Json:
        out: Json = {
            "calendar_id": event.calendar_id,
            "event_uid": event.event_uid,
            "summary": event.summary,
            "description": event.description,
            "start": _format_boundary(event.start, tz, tzid, localized),
            "end": _format_boundary(event.end, tz, tzid, localized),
            "deleted": event.deleted,
            "created": format_time(event.created),
            "updated": format_time(event.updated),
            "status": event.status,
            "transparency": event.transparency,
            "participation_status": event.participation_status,
            "recurring": event.recurring,
            "attendees": list(event.attendees),
            "organizer": dict(event.organizer or self._owner_organizer(event)),
            "categories": [],
            "options": {"delete": True, "update": True, "change_participation_status": True},
            "event_private": False,
        }
        if event.event_id is not None:
            out["event_id"] = event.event_id
        if event.series_identifier is not None:
            out["series_identifier"] = event.series_identifier
        if event.location:
            out["location"] = {"description": event.location}
        return out

    def _owner_organizer(self, event: EventRecord) -> Json:
        """House rule: an event nobody set an organizer on is organized by the calendar's
        owner (the account), as for events a person creates in their own calendar."""
        account = self.accounts.get(event.account_id)
        if account is None:
            return {}
        return {"email": account.email, "display_name": account.name}

    # ------------------------------------------------------------------ pagination

    def _first_page(self, account: AccountRecord, kind: str, items: list[Json], base: str) -> Json:
        cursor_id = _hex(10)
        self._cursor_data[cursor_id] = Cursor(account.account_id, kind, items, self.page_size)
        while len(self._cursor_data) > 500:
            oldest = next(iter(self._cursor_data))
            del self._cursor_data[oldest]
        return self._page(cursor_id, 1, base)

    def _page(self, cursor_id: str, number: int, base: str) -> Json:
        cursor = self._cursor_data[cursor_id]
        size = max(1, cursor.page_size)
        total = max(1, -(-len(cursor.items) // size))
        pages: Json = {"current": number, "total": total}
        if number < total:
            token = _hex(12)
            self.cursors[token] = (cursor_id, number + 1)
            while len(self.cursors) > 5000:
                self.cursors.popitem(last=False)
            pages["next_page"] = f"{base}/v1/{cursor.kind}/pages/{token}"
        chunk = cursor.items[(number - 1) * size : number * size]
        return {"pages": pages, cursor.kind: chunk}

    def next_page(self, account: AccountRecord, kind: str, token: str, base: str) -> Json:
        """A later page. Unknown, expired or another account's token → 404."""
        entry = self.cursors.get(token)
        if entry is None or entry[0] not in self._cursor_data:
            raise ApiError(404, reason="no such page")
        cursor = self._cursor_data[entry[0]]
        if cursor.account_id != account.account_id or cursor.kind != kind:
            raise ApiError(404, reason="no such page")
        return self._page(entry[0], entry[1], base)

    # ------------------------------------------------------------------ events: write

    def upsert_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        """``POST /v1/calendars/{calendar_id}/events``: a managed event keyed by ``event_id``,
        or an edit of an existing (external) event keyed by ``event_uid``."""
        self.require_scope(account, "create_event")
        calendar = self._own_calendar(account, calendar_id)
        errors = Errors()
        by_uid = body.get("event_id") is None and body.get("event_uid") is not None
        event_id = "" if by_uid else check_id(errors, "event_id", body.get("event_id"))
        summary = body.get("summary")
        if not summary and not by_uid:
            errors.required("summary")
        tz = zone(errors, "tzid", body.get("tzid"), required=False)
        start = end = None
        if not by_uid or "start" in body or "end" in body:
            start = time_value(errors, "start", body.get("start"), allow_date=True)
            end = time_value(errors, "end", body.get("end"), allow_date=True)
            check_order(errors, start, end)
        transparency = body.get("transparency", "opaque")
        if transparency not in ("opaque", "transparent"):
            errors.invalid("transparency", "transparency must be opaque or transparent")
        target = None
        if by_uid:
            target = self._event_by_uid(errors, account, calendar_id, body.get("event_uid"))
        errors.raise_if_any()
        if calendar.readonly:
            raise unprocessable("calendar_id", "errors.read_only", "the calendar is read-only")
        now = self.clock()
        description = body.get("description")
        if by_uid:
            assert target is not None
            if summary:
                target.summary = str(summary)
            if description is not None:
                target.description = str(description)
            if "transparency" in body:
                target.transparency = str(transparency)
            if start is not None and end is not None:
                self._move(target, start, end)
            self._own_change(account, target, now)
            return
        assert start is not None
        assert end is not None
        existing = next(
            (
                e
                for e in account.events.values()
                if e.event_id == event_id and e.calendar_id == calendar_id
            ),
            None,
        )
        if existing is None:
            event = EventRecord(
                event_uid=f"evt_managed_{_hex(12)}",
                account_id=account.account_id,
                calendar_id=calendar_id,
                start=start,
                end=end,
                created=now,
                updated=now,
                event_id=event_id,
                summary=str(summary),
                description=str(description or ""),
                transparency=str(transparency),
                tzid=str(tz.key) if tz else None,
                positions=[(start, end)],
            )
            account.events[event.event_uid] = event
            self._event_owner[event.event_uid] = account.account_id
            self._own_change(account, event, now)
            return
        existing.summary = str(summary)
        existing.description = str(description or "")
        existing.transparency = str(transparency)
        existing.deleted = False
        existing.status = "confirmed"
        self._move(existing, start, end)
        self._own_change(account, existing, now)

    def delete_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        """``DELETE /v1/calendars/{calendar_id}/events`` by ``event_id`` (a managed event)
        or by ``event_uid`` (any event of the calendar, external ones included)."""
        self.require_scope(account, "delete_event")
        self._own_calendar(account, calendar_id)
        errors = Errors()
        now = self.clock()
        if body.get("event_id") is None and body.get("event_uid") is not None:
            uid = body.get("event_uid")
            if not isinstance(uid, str) or not uid:
                errors.invalid("event_uid", "event_uid must be a string")
            errors.raise_if_any()
            event = account.events.get(str(uid))
            # Unknown event_uid: accepted like an unknown event_id (house rule).
            if event is not None and event.calendar_id == calendar_id and not event.deleted:
                event.deleted = True
                self._own_change(account, event, now)
            return
        event_id = check_id(errors, "event_id", body.get("event_id"))
        errors.raise_if_any()
        for event in account.events.values():
            if (
                event.event_id == event_id
                and event.calendar_id == calendar_id
                and not event.deleted
            ):
                event.deleted = True
                self._own_change(account, event, now)
        # Unknown event_id: accepted (the event is gone either way).

    def bulk_delete_events(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        """``DELETE /v1/events``: every event this application manages, either in the whole
        account (``{"delete_all": true}``) or in the calendars named (``{"calendar_ids":
        [...]}``); the user's own events stay. Cronofy answers 202 (its Bulk Delete Events
        docs; cronofy-ruby ``Client#delete_all_events``, cronofy-node ``bulkDelete``)."""
        self.require_scope(account, "delete_event")
        errors = Errors()
        delete_all = bool_param(errors, "delete_all", body.get("delete_all"))
        raw_ids = body.get("calendar_ids")
        if delete_all == (raw_ids is not None):
            # House rule (Cronofy documents the two forms, not a mix or neither): a 422.
            errors.invalid("delete_all", "give either delete_all: true or calendar_ids")
        ids: set[str] = set()
        if raw_ids is not None:
            if not isinstance(raw_ids, list) or not all(isinstance(c, str) for c in raw_ids):
                errors.invalid("calendar_ids", "calendar_ids must be a list of calendar ids")
            else:
                ids = set(raw_ids)
        errors.raise_if_any()
        for calendar_id in sorted(ids):
            self._own_calendar(account, calendar_id)
        now = self.clock()
        for event in account.events.values():
            if event.managed and not event.deleted and (delete_all or event.calendar_id in ids):
                event.deleted = True
                self._own_change(account, event, now)

    def _event_by_uid(
        self, errors: Errors, account: AccountRecord, calendar_id: str, uid: Any
    ) -> EventRecord | None:
        event = account.events.get(uid) if isinstance(uid, str) else None
        if event is None or event.calendar_id != calendar_id or event.deleted:
            # House rule (Cronofy is silent): editing an unknown event_uid is a 422.
            errors.invalid("event_uid", "event_uid is not an event of this calendar")
            return None
        return event

    def _own_change(self, account: AccountRecord, event: EventRecord, at: datetime) -> None:
        """This application changed ``event``: ``updated`` moves; whether ``last_modified``
        and the channels see it is ``config.own_changes_count``."""
        event.updated = at
        if self.config.own_changes_count:
            self._changed(account, event.calendar_id, managed=event.managed, at=at)

    @staticmethod
    def _move(event: EventRecord, start: Boundary, end: Boundary) -> None:
        if (start, end) != (event.start, event.end):
            event.start, event.end = start, end
            event.positions.append((start, end))

    # ------------------------------------------------------------------ external events

    def external_add_events(self, calendar_id: str, spec: Mapping[str, Any]) -> list[Json]:
        """The user creates an event (or a recurring series) in their calendar app."""
        account = self._calendar_account(calendar_id)
        errors = Errors()
        tz = zone(errors, "tzid", spec.get("tzid") or account.tzid, required=True)
        start = time_value(errors, "start", spec.get("start"), allow_date=True, local_tz=tz)
        end = time_value(errors, "end", spec.get("end"), allow_date=True, local_tz=tz)
        check_order(errors, start, end)
        fields = self._external_fields(errors, spec)
        uid = spec.get("event_uid")
        if uid is not None and (not isinstance(uid, str) or not uid or uid in self._event_owner):
            errors.invalid("event_uid", "event_uid must be a new, non-empty string")
        recurrence = spec.get("recurrence")
        count, step = 1, timedelta(0)
        if recurrence is not None:
            if not isinstance(recurrence, Mapping):
                errors.invalid("recurrence", "recurrence must be an object")
            else:
                frequency = recurrence.get("frequency", "daily")
                interval = recurrence.get("interval", 1)
                raw_count = recurrence.get("count", 1)
                days = {"daily": 1, "weekly": 7}.get(str(frequency))
                if days is None:
                    errors.invalid("recurrence", "recurrence.frequency must be daily or weekly")
                elif not isinstance(interval, int) or not isinstance(raw_count, int):
                    errors.invalid("recurrence", "recurrence.count and interval are integers")
                elif not 1 <= raw_count <= 366 or interval < 1:
                    errors.invalid("recurrence", "recurrence.count must be 1..366")
                else:
                    count, step = raw_count, timedelta(days=days * interval)
        errors.raise_if_any()
        assert start is not None
        assert end is not None
        assert tz is not None
        now = self.clock()
        series = None
        if recurrence is not None:
            series = spec.get("series_identifier") or f"series_{_hex(10)}"
        made: list[Json] = []
        for index in range(count):
            occurrence_uid = uid if (uid and index == 0) else None
            if uid and index > 0:
                occurrence_uid = f"{uid}_{index}"
            event = EventRecord(
                event_uid=occurrence_uid or f"evt_external_{_hex(12)}",
                account_id=account.account_id,
                calendar_id=calendar_id,
                start=start + step * index,
                end=end + step * index,
                created=now,
                updated=now,
                recurring=series is not None,
                series_identifier=str(series) if series else None,
                tzid=str(tz.key),
                external_updated=now,
                **fields,
            )
            event.positions.append((event.start, event.end))
            account.events[event.event_uid] = event
            self._event_owner[event.event_uid] = account.account_id
            made.append(self.event_json(event, tz, str(tz.key)))
        self._changed(account, calendar_id, managed=False, at=now)
        return made

    @staticmethod
    def _external_fields(errors: Errors, spec: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        choices = {
            "status": ("tentative", "confirmed", "cancelled", "unknown"),
            "transparency": ("opaque", "transparent", "unknown"),
            "participation_status": (
                "needs_action",
                "accepted",
                "declined",
                "tentative",
                "unknown",
            ),
        }
        for name, allowed in choices.items():
            if name in spec:
                if spec[name] not in allowed:
                    errors.invalid(name, f"{name} must be one of {', '.join(allowed)}")
                else:
                    fields[name] = spec[name]
        for name in ("summary", "description", "location"):
            if name in spec:
                if spec[name] is not None and not isinstance(spec[name], str):
                    errors.invalid(name, f"{name} must be a string")
                else:
                    fields[name] = spec[name]
        if "organizer" in spec:
            organizer = spec["organizer"]
            if not isinstance(organizer, dict) or not isinstance(organizer.get("email"), str):
                errors.invalid("organizer", "organizer must be an object with an email")
            else:
                fields["organizer"] = organizer
        if "attendees" in spec:
            attendees = spec["attendees"]
            if not isinstance(attendees, list) or not all(isinstance(a, dict) for a in attendees):
                errors.invalid("attendees", "attendees must be a list of objects")
            else:
                fields["attendees"] = attendees
        return fields

    def external_update_event(self, event_uid: str, spec: Mapping[str, Any]) -> Json:
        """The user moves or edits an event (times, status, transparency, participation)."""
        account, event = self._event(event_uid)
        if event.deleted:
            raise unprocessable("event_uid", KEY_INVALID, "the event is deleted")
        errors = Errors()
        tz = zone(errors, "tzid", spec.get("tzid") or event.tzid or account.tzid, required=True)
        start: Boundary | None = event.start
        end: Boundary | None = event.end
        if "start" in spec:
            start = time_value(errors, "start", spec["start"], allow_date=True, local_tz=tz)
        if "end" in spec:
            end = time_value(errors, "end", spec["end"], allow_date=True, local_tz=tz)
        check_order(errors, start, end)
        fields = self._external_fields(errors, spec)
        errors.raise_if_any()
        assert start is not None
        assert end is not None
        assert tz is not None
        now = self.clock()
        for name, value in fields.items():
            setattr(event, name, value)
        self._move(event, start, end)
        event.updated = now
        event.external_updated = now
        self._changed(account, event.calendar_id, managed=event.managed, at=now)
        return self.event_json(event, tz, str(tz.key))

    def external_delete_event(self, event_uid: str) -> Json:
        account, event = self._event(event_uid)
        now = self.clock()
        if not event.deleted:
            event.deleted = True
            event.updated = now
            event.external_updated = now
            self._changed(account, event.calendar_id, managed=event.managed, at=now)
        tz = ZoneInfo(event.tzid or account.tzid)
        return self.event_json(event, tz, str(tz.key))

    def external_delete_series(self, series_identifier: str) -> list[Json]:
        uids = [
            e.event_uid
            for a in self.accounts.values()
            for e in a.events.values()
            if e.series_identifier == series_identifier and not e.deleted
        ]
        if not uids:
            raise ApiError(404, reason="no such series")
        return [self.external_delete_event(uid) for uid in uids]

    def calendar_events(self, calendar_id: str) -> list[Json]:
        """Every event of a calendar, managed and deleted included (control API)."""
        account = self._calendar_account(calendar_id)
        tz = ZoneInfo(account.tzid)
        return [
            self.event_json(e, tz, account.tzid)
            for e in account.events.values()
            if e.calendar_id == calendar_id
        ]

    def _calendar_account(self, calendar_id: str) -> AccountRecord:
        owner = self._calendar_owner.get(calendar_id)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason="no such calendar")
        return self.accounts[owner]

    def _event(self, event_uid: str) -> tuple[AccountRecord, EventRecord]:
        owner = self._event_owner.get(event_uid)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason="no such event")
        account = self.accounts[owner]
        return account, account.events[event_uid]

    def _changed(
        self, account: AccountRecord, calendar_id: str, *, managed: bool, at: datetime
    ) -> None:
        if self.observer is not None:
            self.observer.calendar_changed(account.account_id, calendar_id, managed=managed, at=at)

    def add_calendar(self, profile_id: str, name: str, *, color: str | None = None) -> Json:
        """Control API: the user creates a calendar in their calendar app (no checks)."""
        owner = self._profile_owner.get(profile_id)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason="no such profile")
        account = self.accounts[owner]
        calendar = self._add_calendar(account, account.profiles[profile_id], name, color=color)
        return self._calendar_json(account, calendar)

    def delete_calendar(self, calendar_id: str) -> Json:
        """Control API: the user deletes a calendar in their calendar app.

        It stays listed with ``calendar_deleted: true``; its events leave every read."""
        account = self._calendar_account(calendar_id)
        calendar = account.calendars[calendar_id]
        if not calendar.deleted:
            calendar.deleted = True
            self._changed(account, calendar_id, managed=False, at=self.clock())
        return self._calendar_json(account, calendar)

    # ------------------------------------------------------------------ profiles

    def set_profile(
        self,
        profile_id: str,
        *,
        connected: bool | None = None,
        locked: bool | None = None,
        base_url: str = "",
    ) -> Json:
        owner = self._profile_owner.get(profile_id)
        if owner is None or owner not in self.accounts:
            raise ApiError(404, reason="no such profile")
        profile = self.accounts[owner].profiles[profile_id]
        was_connected = profile.connected
        if connected is not None:
            profile.connected = connected
        if locked is not None:
            profile.locked = locked
        if was_connected and not profile.connected and self.observer is not None:
            self.observer.profile_disconnected(owner, profile_id)
        return self._profile_json(profile, base_url)

    # ------------------------------------------------------------------ available periods

    def upsert_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        errors = Errors()
        period_id = check_id(errors, "available_period_id", body.get("available_period_id"))
        zone(errors, "tzid", body.get("tzid"), required=False)
        start = time_value(errors, "start", body.get("start"), allow_date=False)
        end = time_value(errors, "end", body.get("end"), allow_date=False)
        check_order(errors, start, end)
        errors.raise_if_any()
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        account.periods[period_id] = PeriodRecord(period_id, start, end)

    def delete_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        errors = Errors()
        delete_all = bool_param(errors, "delete_all", body.get("delete_all"))
        raw_id = body.get("available_period_id")
        if delete_all and raw_id is None:
            errors.raise_if_any()
            account.periods.clear()
            return
        if delete_all:
            errors.invalid("delete_all", "give either available_period_id or delete_all")
        period_id = check_id(errors, "available_period_id", raw_id)
        errors.raise_if_any()
        account.periods.pop(period_id, None)  # unknown id: 202 (house rule)

    def list_periods(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        errors = Errors()
        first = date_param(errors, "from", _first(query, "from"))
        last = date_param(errors, "to", _first(query, "to"))
        tz = zone(
            errors, "tzid", _first(query, "tzid"), required=first is not None or last is not None
        )
        localized = bool_param(errors, "localized_times", _first(query, "localized_times"))
        errors.raise_if_any()
        zone_info = tz or ZoneInfo("Etc/UTC")
        tzid = str(zone_info.key)
        items = []
        for period in sorted(
            account.periods.values(), key=lambda p: (p.start, p.available_period_id)
        ):
            if first is not None and period.end <= _local_midnight(first, zone_info):
                continue
            if last is not None and period.start >= _local_midnight(last, zone_info):
                continue
            items.append(
                {
                    "available_period_id": period.available_period_id,
                    "start": _format_boundary(period.start, zone_info, tzid, localized),
                    "end": _format_boundary(period.end, zone_info, tzid, localized),
                }
            )
        return self._first_page(account, "available_periods", items, base_url)

    # ------------------------------------------------------------------ batch

    def batch(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        entries = body.get("batch")
        if entries is None:
            raise unprocessable("batch", "errors.required", "batch must be specified")
        if not isinstance(entries, list):
            raise unprocessable("batch", KEY_INVALID, "batch must be a list")
        if len(entries) > self.config.batch_max_entries:
            raise unprocessable(
                "batch",
                "errors.too_many_entries",
                f"a batch holds at most {self.config.batch_max_entries} entries",
            )
        results: list[Json] = []
        for entry in entries:
            try:
                self._batch_entry(account, entry)
            except ApiError as exc:
                result: Json = {"status": exc.status}
                if exc.body is not None:
                    result["data"] = exc.body
                results.append(result)
            else:
                results.append({"status": 202})
        return {"batch": results}

    def _batch_entry(self, account: AccountRecord, entry: Any) -> None:
        if not isinstance(entry, Mapping):
            raise unprocessable("batch", KEY_INVALID, "each batch entry must be an object")
        method = str(entry.get("method", "")).upper()
        url = str(entry.get("relative_url", "")).split("?", 1)[0].rstrip("/")
        data = entry.get("data") or {}
        if not isinstance(data, Mapping):
            raise unprocessable("data", KEY_INVALID, "data must be an object")
        if url == "/v1/available_periods":
            if method == "POST":
                return self.upsert_period(account, data)
            if method == "DELETE":
                return self.delete_period(account, data)
        parts = url.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "calendars"] and parts[4] == "events":
            calendar_id = unquote(parts[3])
            if method == "POST":
                return self.upsert_managed_event(account, calendar_id, data)
            if method == "DELETE":
                return self.delete_managed_event(account, calendar_id, data)
        raise ApiError(404, reason="unsupported batch entry")

    # ------------------------------------------------------------------ availability

    def availability(self, body: Mapping[str, Any]) -> Json:
        errors = Errors()
        request = parse_availability(body, errors)
        groups: list[av.GroupInput] = []
        for group in request.groups if request is not None else []:
            members: list[av.MemberInput] = []
            for member in group.members:
                account = self.accounts.get(member.sub)
                if account is None:
                    errors.invalid("participants", f"{member.sub} is not an authorized account")
                    continue
                members.append(self._member_input(errors, account, member))
            required = len(group.members) if group.required is None else group.required
            groups.append(av.GroupInput(members, required))
        errors.raise_if_any()
        assert request is not None
        duration = request.required_duration
        buffers = {"buffer_before": request.buffer_before, "buffer_after": request.buffer_after}
        results: list[av.Result]
        if request.query_slots is not None:
            results = av.check_slots(groups, request.query_periods, **buffers)
        elif request.response_format == "periods":
            results = av.compute_periods(
                groups, request.query_periods, required_duration=duration, **buffers
            )
        else:
            interval = request.start_interval or min(duration, timedelta(minutes=60))
            results = av.compute_slots(
                groups,
                request.query_periods,
                duration=duration,
                start_interval=interval,
                overlapping=request.response_format == "overlapping_slots",
                **buffers,
            )
        if request.max_results is not None:
            results = results[: request.max_results]
        key = "available_periods" if request.response_format == "periods" else "available_slots"
        return {
            key: [
                {
                    "start": format_time(r.start),
                    "end": format_time(r.end),
                    "participants": [{"sub": s} for s in r.participants],
                }
                for r in results
            ]
        }

    def _member_input(
        self, errors: Errors, account: AccountRecord, member: MemberQuery
    ) -> av.MemberInput:
        calendar_ids = member.calendar_ids
        if calendar_ids is None:
            consulted = set(account.calendars)  # house rule: omitted = every calendar
        else:
            consulted = set(calendar_ids)
            if any(c not in account.calendars for c in consulted):
                errors.invalid("participants", "calendar_ids holds a calendar of another account")
        tz = ZoneInfo(account.tzid)
        live = {c for c in consulted if c in account.calendars and not account.calendars[c].deleted}
        busy = [
            _instant_bounds(e.start, e.end, tz)
            for e in account.events.values()
            if e.calendar_id in live
            and not e.deleted
            and e.status != "cancelled"
            and e.transparency != "transparent"
            and e.participation_status != "declined"
        ]
        managed = None
        if member.managed_availability:
            managed = [(p.start, p.end) for p in account.periods.values()]
        return av.MemberInput(account.account_id, busy, managed, member.available_periods)

    # ------------------------------------------------------------------ control views

    def account_summary(self, account: AccountRecord) -> Json:
        return {
            "account_id": account.account_id,
            "sub": account.account_id,
            "email": account.email,
            "name": account.name,
            "tzid": account.tzid,
            "scope": account.scope,
            "token_kind": account.token_kind,
            "profiles": [self._profile_json(p, "") for p in account.profiles.values()],
            "calendars": [self._calendar_json(account, c) for c in account.calendars.values()],
            "events": len(account.events),
            "available_periods": len(account.periods),
            "channels": sum(c.active for c in account.channels.values()),
        }


def _is_color(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 7 or not value.startswith("#"):
        return False
    return all(ch in "0123456789abcdefABCDEF" for ch in value[1:])


def parse_form(body: bytes) -> dict[str, str]:
    """A form-encoded body (token requests from SDKs that do not send JSON)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
