"""The typed async Cronofy client.

Everything goes through one small request function, :meth:`CronofyClient._send`, which owns the
cross-cutting rules: the shared rate limiter, bearer tokens (refreshed ahead of expiry and once
on a 401), bounded retries of 429/502/503/504 and connection failures with an injectable sleep,
explicit timeouts, no redirects, and the single status → error mapping of :mod:`.errors`.
Endpoints are thin wrappers that build a request and validate the answer into a model.

Secrets (access token, refresh token, client secret) never appear in ``repr``, log records or
error messages.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from cronofy_avail._version import __version__
from cronofy_avail.client.ratelimit import RateLimiter, shared_limiter
from cronofy_avail.core.errors import (
    CronofyAPIError,
    CronofyError,
    CronofyTimeoutError,
    CronofyTransportError,
    NotFoundError,
    PaginationError,
    ReauthorizationRequiredError,
    UnexpectedResponseError,
    error_for_status,
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
    format_time,
)
from cronofy_avail.core.retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_http_date,
    parse_retry_after,
)

_LOGGER = logging.getLogger(__name__)

USER_AGENT = f"cronofy_avail/{__version__} (+aiohttp/{aiohttp.__version__})"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_read=20)
"""Explicit timeouts: aiohttp's own default waits five minutes."""

AuthMode = Literal["token", "client_secret", "none"]
DEFAULT_SCOPES: tuple[str, ...] = (
    "read_account",
    "list_calendars",
    "create_calendar",
    "read_events",
)
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class EventsRead:
    """Events read, and when Cronofy answered the read's first page."""

    events: list[Event]
    served_at: datetime | None
    """The earliest moment on Cronofy's clock its read of the first page can have happened
    (the answer's ``Date`` less the request's round trip): every change made before it is in
    the read. ``None`` if the answer carried no usable ``Date``."""


@dataclass(repr=False, slots=True)
class OAuthTokens:
    """An access token and what is needed to renew it. ``repr`` never shows a token."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    """Wall-clock epoch seconds after which the access token is no longer accepted."""
    scope: str | None = None

    def __repr__(self) -> str:
        refresh = "set" if self.refresh_token else "none"
        return (
            f"OAuthTokens(access_token=***, refresh_token={refresh}, "
            f"expires_at={self.expires_at}, scope={self.scope!r})"
        )


TokenCallback = Callable[[OAuthTokens], Awaitable[None] | None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class ClientStats:
    """Counts for status pages, tests and benchmarks (never timings)."""

    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)


class TransportCause(Exception):
    """What a transport failure was, without the request it failed on.

    aiohttp's exceptions carry the request (headers included) and show it in their ``repr``;
    chaining them would put the bearer token in every logged or printed chain.
    """


_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)


def _sanitized(exc: BaseException) -> TransportCause:
    text = _BEARER.sub(r"\1***", str(exc))
    return TransportCause(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Cronofy query encoding: booleans as true/false, lists as ``name[]``, times in UTC."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, _bool(value)))
        elif isinstance(value, datetime):
            out.append((key, format_time(value)))
        elif isinstance(value, date):
            out.append((key, value.isoformat()))
        elif isinstance(value, list | tuple):
            out.extend((f"{key}[]", str(item)) for item in value)
        else:
            out.append((key, str(value)))
    return out


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


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def _endpoint_key(method: str, url: str) -> str:
    """``GET /v1/events`` from any URL: the key of the per-endpoint request count."""
    return f"{method} {URL(url).path}"


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
        self.client_id = client_id
        self._client_secret = client_secret
        self._tokens = (
            OAuthTokens(access_token, refresh_token, expires_at) if access_token else None
        )
        if self._tokens is None and refresh_token:
            # Only a refresh token: the first request renews it.
            self._tokens = OAuthTokens("", refresh_token, expires_at=0.0)
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        if rate_limiter is None:
            rate_limiter = shared_limiter(client_id) if client_id else RateLimiter()
        self.rate_limiter = rate_limiter
        self._on_tokens = on_tokens
        self._refresh_ahead = refresh_ahead
        self._max_pages = max_pages
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._user_agent = user_agent
        self._refresh_task: asyncio.Future[None] | None = None
        self._grant_revoked = False
        self.stats = ClientStats()

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        return (
            f"CronofyClient(api={self.endpoints.api!r}, client_id={self.client_id!r}, "
            f"tokens={self._tokens!r}, client_secret={'***' if self._client_secret else None})"
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
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    # ------------------------------------------------------------------ tokens

    @property
    def tokens(self) -> OAuthTokens | None:
        return self._tokens

    def set_tokens(self, tokens: OAuthTokens) -> None:
        """Install new tokens (e.g. after the user authorized again)."""
        self._tokens = tokens
        self._grant_revoked = False

    @property
    def can_refresh(self) -> bool:
        return bool(
            self._tokens
            and self._tokens.refresh_token
            and self.client_id
            and self._client_secret
            and not self._grant_revoked
        )

    def _require_client_secret(self) -> str:
        if not self._client_secret:
            raise CronofyError("this call needs the application's client secret")
        return self._client_secret

    async def _access_token(self) -> str:
        if self._grant_revoked:
            raise ReauthorizationRequiredError(
                "the refresh token was revoked: the user must authorize the application again"
            )
        tokens = self._tokens
        if tokens is None:
            raise ReauthorizationRequiredError("no access token configured for this client")
        expiring = (
            tokens.expires_at is not None
            and tokens.expires_at - self._refresh_ahead <= self._wall_clock()
        )
        if (expiring or not tokens.access_token) and self.can_refresh:
            await self._refresh(stale=tokens.access_token)
            assert self._tokens is not None
            return self._tokens.access_token
        if not tokens.access_token:
            # Only a refresh token, and no client_id/client_secret to redeem it.
            raise ReauthorizationRequiredError(
                "no access token, and the refresh token cannot be redeemed without "
                "client_id and client_secret"
            )
        return tokens.access_token

    async def _refresh(self, *, stale: str) -> None:
        """Renew the access token once, however many requests ask at the same moment."""
        if self._tokens is not None and self._tokens.access_token != stale:
            return  # another request renewed it meanwhile
        task = self._refresh_task
        if task is None:
            task = self._refresh_task = asyncio.ensure_future(self.refresh_access_token())
            task.add_done_callback(self._clear_refresh_task)
        await asyncio.shield(task)

    def _clear_refresh_task(self, task: asyncio.Future[Any]) -> None:
        if self._refresh_task is task:
            self._refresh_task = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is never reported twice

    async def refresh_access_token(self) -> None:
        """Exchange the refresh token for a new access token and report it to ``on_tokens``."""
        tokens = self._tokens
        if not tokens or not tokens.refresh_token:
            raise ReauthorizationRequiredError("no refresh token: authorize the user again")
        if not self.client_id or not self._client_secret:
            raise ReauthorizationRequiredError(
                "refreshing a token needs client_id and client_secret"
            )
        body = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
        }
        try:
            response = await self._token_request(body)
        except ReauthorizationRequiredError:
            self._grant_revoked = True
            raise
        self.stats.refreshes += 1
        await self._install(response, previous_refresh=tokens.refresh_token)

    async def _install(self, response: TokenResponse, *, previous_refresh: str | None) -> None:
        expires_at = (
            self._wall_clock() + response.expires_in if response.expires_in is not None else None
        )
        self._tokens = OAuthTokens(
            access_token=response.access_token,
            refresh_token=response.refresh_token or previous_refresh,
            expires_at=expires_at,
            scope=response.scope,
        )
        self._grant_revoked = False
        _LOGGER.info("Cronofy access token renewed (expires in %ss)", response.expires_in)
        if self._on_tokens is not None:
            result = self._on_tokens(self._tokens)
            if inspect.isawaitable(result):
                await result

    async def _token_request(self, body: Mapping[str, str]) -> TokenResponse:
        url = f"{self.endpoints.api}/oauth/token"
        # 429/503 are retried inside _send; other refusals come back for the OAuth mapping.
        status, payload, _ = await self._send(
            "POST", url, json_body=dict(body), auth="none", idempotent=False, raise_for=False
        )
        if status != 200:
            raise oauth_error(status, payload, url=url)
        return self._validate(TokenResponse, self._decode(payload, "POST", url), "POST", url)

    # ------------------------------------------------------------------ the request function

    def url(self, path: str) -> str:
        """An absolute API URL for a path such as ``/v1/events``."""
        return f"{self.endpoints.api}{path}"

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        auth: AuthMode = "token",
        idempotent: bool = True,
        raise_for: bool = True,
        round_trip: list[float] | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Send one logical request: rate limit, auth, retries. Returns status, body, headers.

        With ``raise_for=False`` a final non-2xx answer is returned instead of raised (the token
        endpoint has its own error mapping); retryable answers are still retried first.
        ``round_trip`` receives the seconds from sending the answered attempt to its body.
        """
        session = self._get_session()
        started = self._monotonic()
        attempt = 0
        refreshed = False
        endpoint = _endpoint_key(method, url)
        while True:
            attempt += 1
            headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
            token = ""
            if auth == "token":
                token = await self._access_token()
                headers["Authorization"] = f"Bearer {token}"
            elif auth == "client_secret":
                headers["Authorization"] = f"Bearer {self._require_client_secret()}"
            await self.rate_limiter.acquire()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            failure: CronofyError
            cause: BaseException | None = None
            retry_after: float | None = None
            sent = self._monotonic()
            try:
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as resp:
                    status = resp.status
                    body = await resp.read()
                    resp_headers: Mapping[str, str] = resp.headers
                if round_trip is not None:
                    round_trip.append(self._monotonic() - sent)
            except TimeoutError as exc:
                failure = CronofyTimeoutError("no answer in time", method=method, url=url)
                cause, retryable = exc, idempotent
            except aiohttp.ClientConnectorError as exc:
                # The request never left: always safe to try again.
                failure = CronofyTransportError(
                    f"cannot connect to {URL(url).host}", method=method, url=url
                )
                cause, retryable = exc, True
            except aiohttp.ClientError as exc:
                failure = CronofyTransportError(
                    f"connection failed ({type(exc).__name__})", method=method, url=url
                )
                cause, retryable = exc, idempotent
            else:
                _LOGGER.debug("%s -> %s", endpoint, status)
                if 200 <= status < 300:
                    return status, body, resp_headers
                if status == 401 and auth == "token" and not refreshed and self.can_refresh:
                    refreshed = True
                    attempt -= 1  # a renewal is not a retry
                    await self._refresh(stale=token)
                    continue
                if 300 <= status < 400:
                    raise UnexpectedResponseError(
                        "redirect not followed (the bearer token stays on the API host)",
                        status=status,
                        method=method,
                        url=url,
                    )
                retry_after = parse_retry_after(
                    resp_headers.get("Retry-After"), now=self._wall_clock()
                )
                failure = error_for_status(
                    status, body, method=method, url=url, retry_after=retry_after
                )
                retryable = status in (429, 503) or (status in RETRYABLE_STATUSES and idempotent)
                if not retryable and not raise_for:
                    return status, body, resp_headers
            delay = self._retry.delay(attempt, retry_after)
            elapsed = self._monotonic() - started
            if not retryable or not self._retry.should_retry(attempt, elapsed, delay):
                if cause is not None:
                    raise failure from _sanitized(cause)
                raise failure
            self.stats.retries += 1
            _LOGGER.warning(
                "%s failed (%s); retry %d in %.2fs", endpoint, failure.message, attempt, delay
            )
            await self._sleep(delay)

    def _decode(self, body: bytes, method: str, url: str) -> Any:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponseError(
                "response body is not valid JSON", method=method, url=url
            ) from exc

    def _validate(self, model: type[ModelT], payload: Any, method: str, url: str) -> ModelT:
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
            raise UnexpectedResponseError(
                f"response does not match {model.__name__} (bad: {fields})",
                method=method,
                url=url,
            ) from exc

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
        _, raw, _ = await self._send(
            method,
            url,
            params=_query(params) if params else None,
            json_body=_dump(body) if isinstance(body, BaseModel) else body,
            auth=auth,
            idempotent=idempotent,
        )
        return self._validate(model, self._decode(raw, method, url), method, url)

    async def _call_no_content(
        self, method: str, path: str, *, body: BaseModel | Mapping[str, Any] | None = None
    ) -> None:
        await self._send(
            method,
            self.url(path),
            json_body=_dump(body) if isinstance(body, BaseModel) else body,
        )

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
        query: list[tuple[str, str]] | None = _query(params)
        seen = {str(URL(url).with_query(query))}
        previous = 0
        for _ in range(self._max_pages):
            round_trip: list[float] = []
            _, raw, headers = await self._send("GET", url, params=query, round_trip=round_trip)
            if served_at is not None:
                served_at.append(_served_at(headers.get("Date"), round_trip[-1]))
            page = self._validate(model, self._decode(raw, "GET", url), "GET", url)
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
        await self._send("DELETE", self.url(f"/v1/channels/{channel_id}"))

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

    async def read_events_served(self, **query: Any) -> EventsRead:
        """All events, with when Cronofy answered the first page (arguments as
        :meth:`iter_event_pages`): every change made before that moment is in the read."""
        served: list[datetime | None] = []
        events = [
            e
            async for page in self.iter_event_pages(**query, served_at=served)
            for e in page.events
        ]
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
        self, *, tzid: str, calendar_id: str, changes_since: datetime
    ) -> EventsRead:
        """:meth:`read_changed_events` with when Cronofy answered (its clock, not ours): the
        next read can start from there."""
        return await self.read_events_served(
            tzid=tzid,
            last_modified=changes_since,
            include_deleted=True,
            include_moved=True,
            calendar_ids=[calendar_id],
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
        if not self.client_id:
            raise CronofyError("authorization_url needs client_id")
        scopes = scope if isinstance(scope, str) else " ".join(scope)
        query: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scopes,
        }
        if state is not None:
            query["state"] = state
        query.update(extra)
        return f"{self.endpoints.app}/oauth/authorize?{urlencode(query)}"

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenResponse:
        """Turn an authorization code into tokens, install them, and report to ``on_tokens``."""
        if not self.client_id or not self._client_secret:
            raise CronofyError("exchanging a code needs client_id and client_secret")
        response = await self._token_request(
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
            }
        )
        await self._install(response, previous_refresh=None)
        return response
