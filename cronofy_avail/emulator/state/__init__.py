"""The emulator's state and every Cronofy operation on it, free of aiohttp.

Each public method takes already-decoded input (query multi-dicts, JSON bodies) and returns a
JSON-ready value, or raises :class:`~.validation.ApiError` with Cronofy's status and body. The
HTTP handlers in :mod:`.app` are thin wrappers; the control API in :mod:`.control` calls the
``external_*``/``control_*`` methods to play the user and the instructor.

Time comes from an injectable ``clock`` (aware UTC datetimes), so tests control ``updated``,
``last_modified``, token expiry and the default event window.

One module per resource, each an object holding its own data and sharing the settings, the
clock, the observer and the accounts through a :class:`~.shared.StateContext`:

- :mod:`.accounts`: accounts and profiles, and the identity views;
- :mod:`.tokens`: applications (client credentials), access and refresh tokens, OAuth codes;
- :mod:`.calendars`: calendars;
- :mod:`.events` and :mod:`.user_events`: events, as the application and as the user change
  them;
- :mod:`.channels`: push notification channels;
- :mod:`.periods`: available periods; :mod:`.pages`: pagination of reads;
- :mod:`.availability`: availability queries; :mod:`.batch`: batch requests.

:class:`EmulatorState` composes them and keeps the one API every caller uses.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state.accounts import DEFAULT_SCOPES, Accounts
from cronofy_avail.emulator.state.availability import Availability
from cronofy_avail.emulator.state.batch import Batch
from cronofy_avail.emulator.state.calendars import Calendars, new_calendar_id
from cronofy_avail.emulator.state.channels import CALLBACK_URL_MAX_LENGTH, Channels
from cronofy_avail.emulator.state.events import Events
from cronofy_avail.emulator.state.pages import Pages
from cronofy_avail.emulator.state.periods import Periods
from cronofy_avail.emulator.state.records import (
    AccessToken,
    AccountRecord,
    Boundary,
    CalendarRecord,
    ChannelRecord,
    Clock,
    Cursor,
    Delivery,
    EmulatorAccount,
    EventRecord,
    Json,
    PeriodRecord,
    ProfileRecord,
    Query,
    RefreshToken,
    StateObserver,
)
from cronofy_avail.emulator.state.shared import (
    StateContext,
    parse_form,
    require_scope,
    utc_now,
)
from cronofy_avail.emulator.state.tokens import Application, Tokens
from cronofy_avail.emulator.state.user_events import UserEvents

__all__ = [
    "CALLBACK_URL_MAX_LENGTH",
    "DEFAULT_SCOPES",
    "AccessToken",
    "AccountRecord",
    "Application",
    "Boundary",
    "CalendarRecord",
    "ChannelRecord",
    "Clock",
    "Cursor",
    "Delivery",
    "EmulatorAccount",
    "EmulatorState",
    "EventRecord",
    "Json",
    "PeriodRecord",
    "ProfileRecord",
    "Query",
    "RefreshToken",
    "StateObserver",
    "new_calendar_id",
    "parse_form",
    "utc_now",
]


class EmulatorState:
    """Applications' accounts and everything in them. The default application is the one
    ``client_id``/``client_secret(s)`` and the secret rotation mean; :meth:`create_application`
    adds others, each with its own accounts.

    Each operation is answered by its resource (``users``, ``tokens``, ``calendars``,
    ``events``, ``user_events``, ``channels``, ``periods``, ``pages``, ``availability_queries``,
    ``batches``); the methods here only pass it on, so callers need not know which."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.context = StateContext(config or EmulatorConfig(), clock)
        ctx = self.context
        self.tokens = Tokens(ctx, client_id=client_id, client_secret=client_secret)
        self.calendars = Calendars(ctx)
        self.users = Accounts(ctx, self.calendars, self.tokens)
        """Accounts and profiles (``accounts`` stays the records by id)."""
        self.pages = Pages(ctx)
        self.events = Events(ctx, self.calendars, self.pages)
        self.user_events = UserEvents(ctx, self.calendars, self.events)
        self.channels = Channels(ctx)
        self.periods = Periods(self.pages)
        self.availability_queries = Availability(ctx)
        self.batches = Batch(ctx, self.periods, self.events)

    def reset(self) -> None:
        """Forget every account, token, channel and code (the applications stay)."""
        for resource in (
            self.context,
            self.tokens,
            self.calendars,
            self.users,
            self.pages,
            self.events,
            self.channels,
        ):
            resource.reset()

    # ------------------------------------------------------------------ shared data

    @property
    def config(self) -> EmulatorConfig:
        return self.context.config

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def observer(self) -> StateObserver | None:
        return self.context.observer

    @observer.setter
    def observer(self, observer: StateObserver | None) -> None:
        self.context.observer = observer

    @property
    def accounts(self) -> dict[str, AccountRecord]:
        return self.context.accounts

    @property
    def page_size(self) -> int:
        return self.pages.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.pages.page_size = value

    @property
    def cursors(self) -> OrderedDict[str, tuple[str, int]]:
        return self.pages.cursors

    # ------------------------------------------------------------------ applications

    @property
    def default_application(self) -> Application:
        return self.tokens.default_application

    @property
    def applications(self) -> dict[str, Application]:
        """Every application by client id, the default one first."""
        return self.tokens.applications

    def create_application(self, name: str = "") -> Application:
        """A new application with random credentials (``emu_…`` id, ``CRN_…`` secret)."""
        return self.tokens.create_application(name)

    def application_for_secret(self, token: str | None) -> Application | None:
        return self.tokens.application_for_secret(token)

    def application_of(self, account_id: str) -> Application | None:
        """The application the account belongs to; ``None`` for an account gone."""
        account = self.accounts.get(account_id)
        return self.applications.get(account.client_id) if account is not None else None

    # ------------------------------------------------------------------ tokens

    @property
    def client_id(self) -> str:
        return self.tokens.client_id

    @property
    def client_secrets(self) -> list[str]:
        """Active client secrets, newest first: notifications are signed with each."""
        return self.tokens.client_secrets

    @property
    def client_secret(self) -> str:
        """The newest active client secret."""
        return self.tokens.client_secret

    @property
    def access_token_ttl(self) -> int:
        return self.tokens.access_token_ttl

    @access_token_ttl.setter
    def access_token_ttl(self, value: int) -> None:
        self.tokens.access_token_ttl = value

    @property
    def rotate_refresh_tokens(self) -> bool:
        return self.tokens.rotate_refresh_tokens

    @rotate_refresh_tokens.setter
    def rotate_refresh_tokens(self, value: bool) -> None:
        self.tokens.rotate_refresh_tokens = value

    @property
    def access_tokens(self) -> dict[str, AccessToken]:
        return self.tokens.access_tokens

    @property
    def refresh_tokens(self) -> dict[str, RefreshToken]:
        return self.tokens.refresh_tokens

    @property
    def codes(self) -> dict[str, tuple[str, str]]:
        return self.tokens.codes

    def issue_tokens(
        self, account: AccountRecord, *, refresh: RefreshToken | None = None
    ) -> tuple[AccessToken, RefreshToken]:
        return self.tokens.issue_tokens(account, refresh=refresh)

    def authenticate(self, token: str | None) -> tuple[AccountRecord, AccessToken]:
        return self.tokens.authenticate(token)

    def is_client_secret(self, token: str | None) -> bool:
        return self.tokens.is_client_secret(token)

    @staticmethod
    def require_scope(account: AccountRecord, scope: str) -> None:
        require_scope(account, scope)

    def expire_tokens(self, account_id: str | None = None) -> int:
        return self.tokens.expire_tokens(account_id)

    def revoke_refresh_tokens(self, account_id: str | None = None) -> int:
        return self.tokens.revoke_refresh_tokens(account_id)

    def rotate_client_secret(self, *, keep_previous: bool = True) -> str:
        return self.tokens.rotate_client_secret(keep_previous=keep_previous)

    def retire_previous_secrets(self) -> None:
        self.tokens.retire_previous_secrets()

    def authorization_code(self, account: AccountRecord, redirect_uri: str) -> str:
        return self.tokens.authorization_code(account, redirect_uri)

    def token_request(self, body: Mapping[str, Any], basic: tuple[str, str] | None) -> Json:
        return self.tokens.token_request(body, basic)

    # ------------------------------------------------------------------ accounts & profiles

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
        client_id: str | None = None,
    ) -> EmulatorAccount:
        """An account of the application ``client_id`` (``None``: the default one; an unknown
        one is a 422 on ``client_id``)."""
        return self.users.create_account(
            email=email,
            name=name,
            tzid=tzid,
            scope=scope,
            provider_name=provider_name,
            provider_service=provider_service,
            calendars=calendars,
            token_kind=token_kind,
            can_create_calendars=can_create_calendars,
            allows_duplicate_calendar_names=allows_duplicate_calendar_names,
            client_id=client_id,
        )

    def account(self, account_id: str) -> AccountRecord:
        return self.users.account(account_id)

    def set_profile(
        self,
        profile_id: str,
        *,
        connected: bool | None = None,
        locked: bool | None = None,
        base_url: str = "",
    ) -> Json:
        return self.users.set_profile(
            profile_id, connected=connected, locked=locked, base_url=base_url
        )

    def profiles(self, account: AccountRecord, base_url: str) -> Json:
        return self.users.profiles(account, base_url)

    def userinfo(self, account: AccountRecord, base_url: str) -> Json:
        return self.users.userinfo(account, base_url)

    def account_json(self, account: AccountRecord) -> Json:
        return self.users.account_json(account)

    def account_summary(self, account: AccountRecord) -> Json:
        return self.users.account_summary(account)

    # ------------------------------------------------------------------ calendars

    def list_calendars(self, account: AccountRecord) -> Json:
        return self.calendars.list_calendars(account)

    def create_calendar(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        return self.calendars.create_calendar(account, body)

    def add_calendar(self, profile_id: str, name: str, *, color: str | None = None) -> Json:
        return self.users.add_calendar(profile_id, name, color=color)

    def delete_calendar(self, calendar_id: str) -> Json:
        return self.calendars.delete_calendar(calendar_id)

    # ------------------------------------------------------------------ events

    def read_events(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        return self.events.read_events(account, query, base_url)

    def event_json(
        self, event: EventRecord, tz: ZoneInfo, tzid: str, *, localized: bool = False
    ) -> Json:
        return self.events.event_json(event, tz, tzid, localized=localized)

    def upsert_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        self.events.upsert_managed_event(account, calendar_id, body)

    def delete_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        self.events.delete_managed_event(account, calendar_id, body)

    def bulk_delete_events(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        self.events.bulk_delete_events(account, body)

    def external_add_events(self, calendar_id: str, spec: Mapping[str, Any]) -> list[Json]:
        return self.user_events.external_add_events(calendar_id, spec)

    def external_update_event(self, event_uid: str, spec: Mapping[str, Any]) -> Json:
        return self.user_events.external_update_event(event_uid, spec)

    def external_delete_event(self, event_uid: str) -> Json:
        return self.user_events.external_delete_event(event_uid)

    def external_delete_series(self, series_identifier: str) -> list[Json]:
        return self.user_events.external_delete_series(series_identifier)

    def calendar_events(self, calendar_id: str) -> list[Json]:
        return self.user_events.calendar_events(calendar_id)

    # ------------------------------------------------------------------ channels

    def create_channel(self, account: AccountRecord, token: AccessToken, body: Json) -> Json:
        return self.channels.create_channel(account, token, body)

    def list_channels(self, account: AccountRecord) -> Json:
        return self.channels.list_channels(account)

    def close_channel(self, account: AccountRecord, channel_id: str, reason: str = "") -> None:
        self.channels.close_channel(account, channel_id, reason)

    def close_channel_for_failures(self, channel: ChannelRecord) -> None:
        self.channels.close_channel_for_failures(channel)

    def channel(self, channel_id: str) -> ChannelRecord:
        return self.channels.channel(channel_id)

    def all_channels(self) -> list[ChannelRecord]:
        return self.channels.all_channels()

    # ------------------------------------------------------------------ periods, pages, batch

    def upsert_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        self.periods.upsert_period(account, body)

    def delete_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        self.periods.delete_period(account, body)

    def list_periods(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        return self.periods.list_periods(account, query, base_url)

    def next_page(self, account: AccountRecord, kind: str, token: str, base: str) -> Json:
        return self.pages.next_page(account, kind, token, base)

    def batch(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        return self.batches.run(account, body)

    # ------------------------------------------------------------------ availability

    def availability(self, body: Mapping[str, Any], *, client_id: str | None = None) -> Json:
        """A query by the application ``client_id`` (``None``: the default one), which may
        consult only its own accounts."""
        owner = self.client_id if client_id is None else client_id
        return self.availability_queries.query(body, owner)
