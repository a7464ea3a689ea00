"""The typed async Cronofy client: its endpoints, each a thin wrapper that builds a request
and validates the answer into a model.

The plumbing lives next door: :mod:`.transport` sends each request (the shared rate limiter,
explicit timeouts, no redirects, bounded retries with an injectable sleep), :mod:`.decide` is the
pure decision it asks about every answer (done, renew the token, retry after N seconds, or which
error to raise), and :mod:`.auth` holds the tokens and the application's credentials (renewed
ahead of expiry and once on a 401).

Secrets (access token, refresh token, client secret) never appear in ``repr``, log records or
error messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import aiohttp
from pydantic import BaseModel
from yarl import URL

from cronofy_avail._version import __version__
from cronofy_avail.client.auth import (
    DEFAULT_SCOPES,
    Auth,
    AuthMode,
    OAuthTokens,
    TokenCallback,
)
from cronofy_avail.client.decide import TransportCause
from cronofy_avail.client.ratelimit import RateLimiter, shared_limiter
from cronofy_avail.client.stats import ClientStats
from cronofy_avail.client.transport import Sleep, Transport
from cronofy_avail.client.wire import ModelT, encode_query, read_model, request_json
from cronofy_avail.core.errors import (
    CronofyAPIError,
    NotFoundError,
    PaginationError,
    UnexpectedResponseError,
    oauth_error,
)
from cronofy_avail.core.hosts import Endpoints
from cronofy_avail.core.models import (
    BATCH_MAX_ENTRIES,
    Account,
    AccountResponse,
    AvailabilityRequest,
    AvailabilityResponse,
    AvailablePeriod,
    AvailablePeriodsResponse,
    BatchEntry,
    BatchEntryResult,
    BatchRequest,
    BatchResponse,
    Calendar,
    CalendarResponse,
    CalendarsResponse,
    Channel,
    ChannelFilters,
    ChannelResponse,
    ChannelsResponse,
    CreateCalendarRequest,
    CreateChannelRequest,
    DeleteAvailablePeriodRequest,
    Event,
    EventsResponse,
    LocalizedTime,
    Pages,
    Profile,
    ProfilesResponse,
    TokenResponse,
    UpsertAvailablePeriodRequest,
    UpsertEventRequest,
    UserInfo,
)
from cronofy_avail.core.retry import RetryPolicy, parse_http_date

__all__ = [
    "DEFAULT_SCOPES",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "AuthMode",
    "ClientStats",
    "CronofyClient",
    "EventsRead",
    "OAuthTokens",
    "Sleep",
    "TokenCallback",
    "TransportCause",
]

USER_AGENT = f"cronofy_avail/{__version__} (+aiohttp/{aiohttp.__version__})"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_read=20)
"""Explicit timeouts: aiohttp's own default waits five minutes."""


@dataclass(frozen=True, slots=True)
class EventsRead:
    """Events read, and when Cronofy answered the read's first page."""

    events: list[Event]
    served_at: datetime | None
    """The earliest moment on Cronofy's clock its read of the first page can have happened
    (the answer's ``Date`` less the request's round trip): every change made before it is in
    the read. ``None`` if the answer carried no usable ``Date``."""


def _served_at(date_header: str | None, round_trip: float) -> datetime | None:
    """The earliest Cronofy's clock can have read at, for an answer dated ``date_header``.

    Cronofy stamped ``Date`` (whole seconds, rounded down) at most ``round_trip`` after we
    sent the request, and read no earlier than we sent it: so on Cronofy's clock it read at or
    after ``Date - round_trip``. A slow answer (Cronofy 2 s slow, a long page) widens it, so a
    change made while Cronofy was answering is still read next time.
    """
    date = parse_http_date(date_header)
    if date is None:
        return None
    return date - timedelta(seconds=max(0.0, round_trip))


class CronofyClient:
    """An async client for one Cronofy account (or for application-level calls).

    >>> async with CronofyClient(access_token="…", data_center="uk") as client:
    ...     profiles = await client.list_profiles()

    ``session``: an ``aiohttp.ClientSession`` the caller owns; if omitted the client creates
    one and closes it on :meth:`close`. ``api_base_url`` points the client anywhere else (the
    emulator). ``rate_limiter`` defaults to the process-wide limiter of ``client_id``.
    ``on_tokens`` receives renewed tokens (persist them: the refresh token may rotate).
    ``sleep``, ``monotonic`` and ``wall_clock`` are injectable so tests never wait.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_at: float | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        data_center: str = "us",
        api_base_url: str | None = None,
        app_base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        on_tokens: TokenCallback | None = None,
        refresh_ahead: float = 60.0,
        max_pages: int = 1000,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.endpoints = Endpoints.for_data_center(
            data_center, api_base_url_override=api_base_url, app_base_url_override=app_base_url
        )
        self.data_center = data_center
        self._max_pages = max_pages
        stats = ClientStats()
        self._auth = Auth(
            post_token=self._token_request,
            stats=stats,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            client_id=client_id,
            client_secret=client_secret,
            on_tokens=on_tokens,
            refresh_ahead=refresh_ahead,
            wall_clock=wall_clock,
        )
        if rate_limiter is None:
            rate_limiter = shared_limiter(client_id) if client_id else RateLimiter()
        self._transport = Transport(
            auth=self._auth,
            stats=stats,
            rate_limiter=rate_limiter,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            user_agent=user_agent,
            session=session,
            sleep=sleep,
            monotonic=monotonic,
            wall_clock=wall_clock,
        )

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        return (
            f"CronofyClient(api={self.endpoints.api!r}, client_id={self.client_id!r}, "
            f"tokens={self.tokens!r}, client_secret={'***' if self._client_secret else None})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it; a caller's session is left alone."""
        await self._transport.close()

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        return self._transport.session

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._transport.rate_limiter

    @rate_limiter.setter
    def rate_limiter(self, limiter: RateLimiter) -> None:
        self._transport.rate_limiter = limiter

    @property
    def stats(self) -> ClientStats:
        return self._transport.stats

    @stats.setter
    def stats(self, stats: ClientStats) -> None:
        self._transport.stats = self._auth.stats = stats

    # ------------------------------------------------------------------ tokens

    @property
    def client_id(self) -> str | None:
        return self._auth.client_id

    @client_id.setter
    def client_id(self, client_id: str | None) -> None:
        self._auth.client_id = client_id

    @property
    def _client_secret(self) -> str | None:
        return self._auth.client_secret

    @property
    def tokens(self) -> OAuthTokens | None:
        return self._auth.tokens

    def set_tokens(self, tokens: OAuthTokens) -> None:
        """Install new tokens (e.g. after the user authorized again)."""
        self._auth.set_tokens(tokens)

    @property
    def can_refresh(self) -> bool:
        return self._auth.can_refresh

    async def refresh_access_token(self) -> None:
        """Exchange the refresh token for a new access token and report it to ``on_tokens``."""
        await self._auth.refresh_access_token()

    async def _token_request(self, body: Mapping[str, str]) -> TokenResponse:
        url = f"{self.endpoints.api}/oauth/token"
        # 429/503 are retried by the transport; other refusals come back for the OAuth mapping.
        answer = await self._transport.send(
            "POST", url, json_body=dict(body), auth="none", idempotent=False, raise_for=False
        )
        if answer.status != 200:
            raise oauth_error(
                answer.status, answer.body, url=url, grant_type=body.get("grant_type")
            )
        return read_model(TokenResponse, answer.body, "POST", url)

    # ------------------------------------------------------------------ the request function

    def url(self, path: str) -> str:
        """An absolute API URL for a path such as ``/v1/events``."""
        return f"{self.endpoints.api}{path}"

    async def _call(
        self,
        method: str,
        path: str,
        model: type[ModelT],
        *,
        params: Mapping[str, Any] | None = None,
        body: BaseModel | Mapping[str, Any] | None = None,
        auth: AuthMode = "token",
        idempotent: bool = True,
    ) -> ModelT:
        url = self.url(path)
        answer = await self._transport.send(
            method,
            url,
            params=encode_query(params) if params else None,
            json_body=request_json(body),
            auth=auth,
            idempotent=idempotent,
        )
        return read_model(model, answer.body, method, url)

    async def _call_no_content(
        self, method: str, path: str, *, body: BaseModel | Mapping[str, Any] | None = None
    ) -> None:
        await self._transport.send(method, self.url(path), json_body=request_json(body))

    async def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        model: type[ModelT],
        served_at: list[datetime | None] | None = None,
    ) -> AsyncIterator[ModelT]:
        """Yield each page, following ``next_page`` only on the API host and never in a loop.
        ``served_at`` receives each page's ``Date`` (Cronofy's clock), ``None`` if unusable."""
        url = self.url(path)
        query: list[tuple[str, str]] | None = encode_query(params)
        seen = {str(URL(url).with_query(query))}
        previous = 0
        for _ in range(self._max_pages):
            round_trip: list[float] = []
            answer = await self._transport.send("GET", url, params=query, round_trip=round_trip)
            if served_at is not None:
                served_at.append(_served_at(answer.headers.get("Date"), round_trip[-1]))
            page = read_model(model, answer.body, "GET", url)
            yield page
            pages: Pages = getattr(page, "pages", Pages())
            if pages.current <= previous:
                raise PaginationError(
                    f"page {pages.current} came after page {previous}", method="GET", url=url
                )
            previous = pages.current
            next_page = pages.next_page
            if not next_page:
                return
            if not self.endpoints.same_origin(next_page):
                raise PaginationError(
                    "next_page points off the API host; not following it with the token",
                    method="GET",
                    url=url,
                )
            key = str(URL(next_page))  # same encoding as the first URL (e.g. ``[]`` → ``%5B%5D``)
            if key in seen:
                raise PaginationError("next_page repeats an earlier page", method="GET", url=url)
            seen.add(key)
            url, query = next_page, None
        raise PaginationError(f"more than {self._max_pages} pages", method="GET", url=url)

    # ------------------------------------------------------------------ identity

    async def list_profiles(self) -> list[Profile]:
        return (await self._call("GET", "/v1/profiles", ProfilesResponse)).profiles

    async def userinfo(self) -> UserInfo:
        return await self._call("GET", "/v1/userinfo", UserInfo)

    async def account(self) -> Account:
        return (await self._call("GET", "/v1/account", AccountResponse)).account

    # ------------------------------------------------------------------ calendars

    async def list_calendars(self) -> list[Calendar]:
        return (await self._call("GET", "/v1/calendars", CalendarsResponse)).calendars

    async def create_calendar(
        self, profile_id: str, name: str, *, color: str | None = None
    ) -> Calendar:
        """Step 1: create a calendar in a profile (needs the ``create_calendar`` scope).

        Not retried after an ambiguous failure (the calendar may exist): a retry would meet
        ``errors.duplicate_calendar_name``; see :meth:`find_or_create_calendar`.
        """
        request = CreateCalendarRequest(profile_id=profile_id, name=name, color=color)
        response = await self._call(
            "POST", "/v1/calendars", CalendarResponse, body=request, idempotent=False
        )
        return response.calendar

    async def find_or_create_calendar(
        self, profile_id: str, name: str, *, color: str | None = None
    ) -> tuple[Calendar, bool]:
        """The profile's live calendar called ``name``, created if missing.

        Returns ``(calendar, created)``.
        """

        async def existing() -> Calendar | None:
            for calendar in await self.list_calendars():
                if (
                    calendar.profile_id == profile_id
                    and calendar.calendar_name == name
                    and not calendar.calendar_deleted
                ):
                    return calendar
            return None

        found = await existing()
        if found is not None:
            return found, False
        try:
            return await self.create_calendar(profile_id, name, color=color), True
        except CronofyAPIError as exc:
            if "errors.duplicate_calendar_name" not in exc.error_keys("name"):
                raise
            found = await existing()
            if found is None:
                raise
            return found, False

    # ------------------------------------------------------------------ channels

    async def create_channel(
        self,
        callback_url: str,
        *,
        calendar_ids: Sequence[str] | None = None,
        only_managed: bool | None = None,
    ) -> Channel:
        """Step 2: a push channel, filtered to ``calendar_ids``. Identical channels are reused."""
        filters = None
        if calendar_ids is not None or only_managed is not None:
            filters = ChannelFilters(
                calendar_ids=list(calendar_ids) if calendar_ids is not None else None,
                only_managed=only_managed,
            )
        request = CreateChannelRequest(callback_url=callback_url, filters=filters)
        return (await self._call("POST", "/v1/channels", ChannelResponse, body=request)).channel

    async def list_channels(self) -> list[Channel]:
        return (await self._call("GET", "/v1/channels", ChannelsResponse)).channels

    async def close_channel(self, channel_id: str) -> None:
        await self._transport.send("DELETE", self.url(f"/v1/channels/{channel_id}"))

    # ------------------------------------------------------------------ events

    def iter_event_pages(
        self,
        *,
        tzid: str,
        from_: date | None = None,
        to: date | None = None,
        last_modified: datetime | None = None,
        include_deleted: bool | None = None,
        include_moved: bool | None = None,
        include_managed: bool | None = None,
        only_managed: bool | None = None,
        calendar_ids: Sequence[str] | None = None,
        localized_times: bool | None = None,
        include_geo: bool | None = None,
        served_at: list[datetime | None] | None = None,
    ) -> AsyncIterator[EventsResponse]:
        """Pages of ``GET /v1/events``; every query parameter Cronofy documents.

        ``served_at``, if given, receives when Cronofy answered each page (its ``Date``)."""
        params: dict[str, Any] = {
            "tzid": tzid,
            "from": from_,
            "to": to,
            "last_modified": last_modified,
            "include_deleted": include_deleted,
            "include_moved": include_moved,
            "include_managed": include_managed,
            "only_managed": only_managed,
            "calendar_ids": list(calendar_ids) if calendar_ids is not None else None,
            "localized_times": localized_times,
            "include_geo": include_geo,
        }
        return self._pages("/v1/events", params, EventsResponse, served_at)

    async def iter_events(self, **query: Any) -> AsyncIterator[Event]:
        """Every event across every page (arguments as :meth:`iter_event_pages`)."""
        async for page in self.iter_event_pages(**query):
            for event in page.events:
                yield event

    async def read_events(self, **query: Any) -> list[Event]:
        """All events as a list (arguments as :meth:`iter_event_pages`)."""
        return [event async for event in self.iter_events(**query)]

    async def read_events_served(
        self, *, on_page: Callable[[EventsResponse], None] | None = None, **query: Any
    ) -> EventsRead:
        """All events, with when Cronofy answered the first page (arguments as
        :meth:`iter_event_pages`): every change made before that moment is in the read.

        ``on_page``, if given, is called with each page as it arrives (progress reports)."""
        served: list[datetime | None] = []
        events: list[Event] = []
        async for page in self.iter_event_pages(**query, served_at=served):
            events.extend(page.events)
            if on_page is not None:
                on_page(page)
        return EventsRead(events, served[0] if served else None)

    async def read_changed_events(
        self, *, tzid: str, calendar_id: str, changes_since: datetime
    ) -> list[Event]:
        """Step 3's read: what changed in the sub calendar since ``changes_since``, deleted
        and moved events included, every page followed."""
        return (
            await self.read_changes(tzid=tzid, calendar_id=calendar_id, changes_since=changes_since)
        ).events

    async def read_changes(
        self,
        *,
        tzid: str,
        calendar_id: str,
        changes_since: datetime,
        on_page: Callable[[EventsResponse], None] | None = None,
    ) -> EventsRead:
        """:meth:`read_changed_events` with when Cronofy answered (its clock, not ours): the
        next read can start from there. ``on_page`` as :meth:`read_events_served`."""
        return await self.read_events_served(
            tzid=tzid,
            last_modified=changes_since,
            include_deleted=True,
            include_moved=True,
            calendar_ids=[calendar_id],
            on_page=on_page,
        )

    async def upsert_event(self, calendar_id: str, event: UpsertEventRequest) -> None:
        """Create or update a managed event (keyed by your ``event_id``)."""
        await self._call_no_content("POST", f"/v1/calendars/{calendar_id}/events", body=event)

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        await self._call_no_content(
            "DELETE", f"/v1/calendars/{calendar_id}/events", body={"event_id": event_id}
        )

    # ------------------------------------------------------------------ available periods

    async def upsert_available_period(
        self,
        available_period_id: str,
        start: datetime | LocalizedTime,
        end: datetime | LocalizedTime,
    ) -> None:
        """Create or update one Available Period (the id is yours: ASCII, ≤ 64 characters)."""
        request = UpsertAvailablePeriodRequest(
            available_period_id=available_period_id, start=start, end=end
        )
        await self._call_no_content("POST", "/v1/available_periods", body=request)

    def iter_available_period_pages(
        self,
        *,
        tzid: str | None = None,
        from_: date | None = None,
        to: date | None = None,
        localized_times: bool | None = None,
    ) -> AsyncIterator[AvailablePeriodsResponse]:
        if (from_ is not None or to is not None) and not tzid:
            raise ValueError("tzid is required when from_ or to is given")
        params = {"tzid": tzid, "from": from_, "to": to, "localized_times": localized_times}
        return self._pages("/v1/available_periods", params, AvailablePeriodsResponse)

    async def iter_available_periods(self, **query: Any) -> AsyncIterator[AvailablePeriod]:
        async for page in self.iter_available_period_pages(**query):
            for period in page.available_periods:
                yield period

    async def list_available_periods(self, **query: Any) -> list[AvailablePeriod]:
        """Every Available Period across every page."""
        return [period async for period in self.iter_available_periods(**query)]

    async def delete_available_period(self, available_period_id: str) -> bool:
        """Delete one period. ``False`` when Cronofy says it was already gone (404)."""
        request = DeleteAvailablePeriodRequest(available_period_id=available_period_id)
        try:
            await self._call_no_content("DELETE", "/v1/available_periods", body=request)
        except NotFoundError:
            return False
        return True

    async def delete_all_available_periods(self) -> None:
        """Delete every Available Period of the account, owned by this toolkit or not."""
        request = DeleteAvailablePeriodRequest(delete_all=True)
        await self._call_no_content("DELETE", "/v1/available_periods", body=request)

    # ------------------------------------------------------------------ batch

    async def batch(self, entries: Iterable[BatchEntry]) -> list[BatchEntryResult]:
        """Send entries through ``POST /v1/batch``, 50 per call; results in request order."""
        items = list(entries)
        results: list[BatchEntryResult] = []
        for offset in range(0, len(items), BATCH_MAX_ENTRIES):
            chunk = items[offset : offset + BATCH_MAX_ENTRIES]
            response = await self._call(
                "POST", "/v1/batch", BatchResponse, body=BatchRequest(batch=chunk)
            )
            if len(response.batch) != len(chunk):
                raise UnexpectedResponseError(
                    f"batch answered {len(response.batch)} results for {len(chunk)} entries",
                    method="POST",
                    url=self.url("/v1/batch"),
                )
            results.extend(response.batch)
        return results

    # ------------------------------------------------------------------ availability

    async def availability(
        self, request: AvailabilityRequest, *, use_client_secret: bool = False
    ) -> AvailabilityResponse:
        """Step 4: ``POST /v1/availability``.

        Authenticated with the account's access token, or with the application's client secret
        (newer Cronofy docs) when ``use_client_secret`` is set.
        """
        return await self._call(
            "POST",
            "/v1/availability",
            AvailabilityResponse,
            body=request,
            auth="client_secret" if use_client_secret else "token",
        )

    # ------------------------------------------------------------------ oauth

    def authorization_url(
        self,
        redirect_uri: str,
        *,
        scope: str | Iterable[str] = DEFAULT_SCOPES,
        state: str | None = None,
        **extra: str,
    ) -> str:
        """The page to send the user to. The default scopes are what the four steps call:
        ``read_account`` (account), ``list_calendars`` (find the sub calendar),
        ``create_calendar`` (step 1) and ``read_events`` (step 3)."""
        return self._auth.authorization_url(
            self.endpoints.app, redirect_uri, scope=scope, state=state, extra=extra
        )

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenResponse:
        """Turn an authorization code into tokens, install them, and report to ``on_tokens``."""
        return await self._auth.exchange_code(code, redirect_uri)
