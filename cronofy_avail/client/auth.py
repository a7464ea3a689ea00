"""Who the client speaks for: an account's tokens and the application's credentials.

:class:`Auth` adds the ``Authorization`` header to each try, renews the access token ahead of
its expiry and once on a 401 (one renewal however many requests ask at the same moment), remembers
a revoked grant so later calls fail without the network, and reports renewed tokens to
``on_tokens``. The token endpoint itself is reached through ``post_token`` (the client's request
loop), so this module knows nothing of HTTP.

Secrets (access token, refresh token, client secret) never appear in a ``repr``, a log record or
an error message.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from cronofy_avail.client.stats import ClientStats
from cronofy_avail.core.errors import CronofyError, ReauthorizationRequiredError
from cronofy_avail.core.models import TokenResponse

_LOGGER = logging.getLogger("cronofy_avail.client.api")
"""The client's one logger name, whichever of its modules logs."""

AuthMode = Literal["token", "client_secret", "none"]
"""What a request is authenticated with: the account's access token, the application's client
secret, or nothing (the token endpoint, which takes the credentials in its body)."""

DEFAULT_SCOPES: tuple[str, ...] = (
    "read_account",
    "list_calendars",
    "create_calendar",
    "read_events",
)


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
PostToken = Callable[[Mapping[str, str]], Awaitable[TokenResponse]]
"""Send a form to the token endpoint and return its validated answer (or raise its error)."""


class Auth:
    """An account's tokens and the application's ``client_id``/``client_secret``.

    ``refresh_ahead``: seconds before ``expires_at`` at which the token is renewed before use.
    ``wall_clock``: epoch seconds, injectable so tests choose the moment.
    """

    def __init__(
        self,
        *,
        post_token: PostToken,
        stats: ClientStats,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_at: float | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        on_tokens: TokenCallback | None = None,
        refresh_ahead: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._tokens = (
            OAuthTokens(access_token, refresh_token, expires_at) if access_token else None
        )
        if self._tokens is None and refresh_token:
            # Only a refresh token: the first request renews it.
            self._tokens = OAuthTokens("", refresh_token, expires_at=0.0)
        self._post_token = post_token
        self.stats = stats
        self._on_tokens = on_tokens
        self._refresh_ahead = refresh_ahead
        self._wall_clock = wall_clock
        self._refresh_task: asyncio.Future[None] | None = None
        self._grant_revoked = False

    def __repr__(self) -> str:
        return (
            f"Auth(client_id={self.client_id!r}, tokens={self._tokens!r}, "
            f"client_secret={'***' if self._client_secret else None})"
        )

    # ------------------------------------------------------------------ state

    @property
    def tokens(self) -> OAuthTokens | None:
        return self._tokens

    @property
    def client_secret(self) -> str | None:
        return self._client_secret

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

    def require_client_secret(self) -> str:
        if not self._client_secret:
            raise CronofyError("this call needs the application's client secret")
        return self._client_secret

    # ------------------------------------------------------------------ each try

    async def authorize(self, headers: dict[str, str], mode: AuthMode) -> str:
        """Add the ``Authorization`` header for ``mode`` to ``headers``.

        Returns the access token used (``""`` unless ``mode`` is ``"token"``): the stale token a
        401 names, so a renewal already made by another request is not made twice.
        """
        if mode == "token":
            token = await self.access_token()
            headers["Authorization"] = f"Bearer {token}"
            return token
        if mode == "client_secret":
            headers["Authorization"] = f"Bearer {self.require_client_secret()}"
        return ""

    async def access_token(self) -> str:
        """The access token to send, renewed first when it is missing or about to expire."""
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
            await self.refresh(stale=tokens.access_token)
            assert self._tokens is not None
            return self._tokens.access_token
        if not tokens.access_token:
            # Only a refresh token, and no client_id/client_secret to redeem it.
            raise ReauthorizationRequiredError(
                "no access token, and the refresh token cannot be redeemed without "
                "client_id and client_secret"
            )
        return tokens.access_token

    # ------------------------------------------------------------------ renewal

    async def refresh(self, *, stale: str) -> None:
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
            response = await self._post_token(body)
        except ReauthorizationRequiredError:
            self._grant_revoked = True
            raise
        self.stats.refreshes += 1
        await self._install(response, previous_refresh=tokens.refresh_token)

    # ------------------------------------------------------------------ authorization

    def authorization_url(
        self,
        app_base_url: str,
        redirect_uri: str,
        *,
        scope: str | Iterable[str] = DEFAULT_SCOPES,
        state: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """The page on ``app_base_url`` to send the user to."""
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
        query.update(extra or {})
        return f"{app_base_url}/oauth/authorize?{urlencode(query)}"

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenResponse:
        """Turn an authorization code into tokens, install them, and report to ``on_tokens``."""
        if not self.client_id or not self._client_secret:
            raise CronofyError("exchanging a code needs client_id and client_secret")
        response = await self._post_token(
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
