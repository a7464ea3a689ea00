"""The request loop: send, ask :func:`~cronofy_avail.client.decide.decide`, do what it says.

Each try waits for the shared rate limiter, carries the ``Authorization`` header of
:class:`~cronofy_avail.client.auth.Auth`, sends once with explicit timeouts and no redirects,
and turns what came back into plain values (an :class:`Answer` or a sanitized
:class:`TransportFailure`). The decision about those values is pure and lives in
:mod:`.decide`; this loop only performs it: return, renew the token, sleep (injectable) and try
again, or raise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from yarl import URL

from cronofy_avail.client.auth import Auth, AuthMode
from cronofy_avail.client.decide import (
    Answer,
    Attempt,
    Done,
    Outcome,
    Raise,
    Refresh,
    Retry,
    TransportFailure,
    decide,
    sanitized,
)
from cronofy_avail.client.ratelimit import RateLimiter
from cronofy_avail.client.stats import ClientStats
from cronofy_avail.core.retry import RetryPolicy

_LOGGER = logging.getLogger("cronofy_avail.client.api")
"""The client's one logger name, whichever of its modules logs."""

Sleep = Callable[[float], Awaitable[None]]


def endpoint_key(method: str, url: str) -> str:
    """``GET /v1/events`` from any URL: the key of the per-endpoint request count."""
    return f"{method} {URL(url).path}"


def failure_of(exc: TimeoutError | aiohttp.ClientError, url: str) -> TransportFailure:
    """What a transport exception means, as plain values for the decision."""
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return TransportFailure("timeout", sanitized(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportFailure("refused", sanitized(exc), host=URL(url).host)
    return TransportFailure("broken", sanitized(exc), error_type=type(exc).__name__)


class Transport:
    """Sends a client's requests; owns (or borrows) the ``aiohttp`` session."""

    def __init__(
        self,
        *,
        auth: Auth,
        stats: ClientStats,
        rate_limiter: RateLimiter,
        retry: RetryPolicy,
        timeout: aiohttp.ClientTimeout,
        user_agent: str,
        session: aiohttp.ClientSession | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.auth = auth
        self.stats = stats
        self.rate_limiter = rate_limiter
        self.retry = retry
        self.session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._user_agent = user_agent
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall_clock = wall_clock

    async def close(self) -> None:
        """Close the session if this transport created it; a caller's session is left alone."""
        if self._owns_session and self.session is not None:
            await self.session.close()
            self.session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._owns_session = True
        return self.session

    async def send(
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
    ) -> Answer:
        """Send one logical request: rate limit, auth, retries. Returns the final answer.

        With ``raise_for=False`` a final non-2xx answer is returned instead of raised (the token
        endpoint has its own error mapping); retryable answers are still retried first.
        ``round_trip`` receives the seconds from sending the answered try to its body.
        """
        session = self._get_session()
        started = self._monotonic()
        endpoint = endpoint_key(method, url)
        number, refreshed = 1, False
        while True:
            headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
            token = await self.auth.authorize(headers, auth)
            await self.rate_limiter.acquire()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            outcome = await self._try(session, method, url, params, json_body, headers, round_trip)
            if isinstance(outcome, Answer):
                _LOGGER.debug("%s -> %s", endpoint, outcome.status)
                if outcome.status == 429:  # the application's count, for the operator's view
                    self.rate_limiter.throttled += 1
            attempt = Attempt(
                method=method,
                url=url,
                number=number,
                elapsed=self._monotonic() - started,
                now=self._wall_clock(),
                idempotent=idempotent,
                raise_for=raise_for,
                can_refresh=auth == "token" and self.auth.can_refresh,
                refreshed=refreshed,
            )
            match decide(attempt, outcome, self.retry):
                case Done(answer):
                    return answer
                case Refresh():
                    refreshed = True  # a renewal is not a retry: ``number`` stays
                    await self.auth.refresh(stale=token)
                case Retry(after, reason):
                    self.stats.retries += 1
                    _LOGGER.warning(
                        "%s failed (%s); retry %d in %.2fs", endpoint, reason.message, number, after
                    )
                    await self._sleep(after)
                    number += 1
                case Raise(error, None):
                    raise error
                case Raise(error, cause):
                    raise error from cause

    async def _try(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]] | None,
        json_body: Any,
        headers: dict[str, str],
        round_trip: list[float] | None,
    ) -> Outcome:
        """Send once; what came back as plain values. Cancellation is never caught."""
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
                answer = Answer(resp.status, await resp.read(), resp.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return failure_of(exc, url)
        if round_trip is not None:
            round_trip.append(self._monotonic() - sent)
        return answer
