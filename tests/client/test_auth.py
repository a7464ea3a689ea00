"""Tokens: refresh on 401 and ahead of expiry, single flight, revoked grants, no leaks."""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections.abc import Mapping
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from cronofy_avail.client.api import ClientStats, CronofyClient, OAuthTokens
from cronofy_avail.client.auth import Auth, AuthMode
from cronofy_avail.core.errors import (
    AuthenticationError,
    AuthorizationCodeRefusedError,
    CronofyError,
    OAuthError,
    ReauthorizationRequiredError,
    UnexpectedResponseError,
)
from cronofy_avail.core.models import AvailabilityRequest, TokenResponse
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator
from tests.support.client import (
    ACCESS_TOKEN,
    API,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    NEW_REFRESH_TOKEN,
    REFRESH_TOKEN,
    SECRETS,
    TOKEN_URL,
    FakeClock,
    bearer,
    count,
    make_client,
    sent,
    token_payload,
)
from tests.support.wait import until

PROFILES = f"{API}/v1/profiles"
OK: dict[str, list[object]] = {"profiles": []}


@pytest.fixture
def m() -> Any:
    with aioresponses() as mocked:
        yield mocked


def _bearers(m: aioresponses, path: str) -> list[str | None]:
    return [bearer(kw) for _, url, kw in sent(m) if url.path == path]


def _by_token(url: URL, **kwargs: Any) -> CallbackResult:
    """Accept only the renewed access token."""
    if bearer(kwargs) == f"Bearer {NEW_ACCESS_TOKEN}":
        return CallbackResult(payload=OK)
    return CallbackResult(status=401)


# --------------------------------------------------------------------------- refresh on 401


async def test_401_refreshes_once_and_retries(m: aioresponses) -> None:
    m.get(PROFILES, callback=_by_token, repeat=True)
    m.post(TOKEN_URL, payload=token_payload())
    seen: list[OAuthTokens] = []
    clock = FakeClock()
    async with make_client(clock, on_tokens=seen.append) as client:
        assert await client.list_profiles() == []
        tokens = client.tokens
        assert client.stats.refreshes == 1
    assert tokens is not None
    assert tokens.access_token == NEW_ACCESS_TOKEN
    assert tokens.refresh_token == NEW_REFRESH_TOKEN
    assert tokens.expires_at == clock.wall() + 3600
    assert tokens.scope == "create_calendar read_events"
    assert seen == [tokens]
    assert _bearers(m, "/v1/profiles") == [f"Bearer {ACCESS_TOKEN}", f"Bearer {NEW_ACCESS_TOKEN}"]
    assert count(m, "POST", "/oauth/token") == 1
    assert clock.sleeps == []  # a renewal is not a retry: no backoff


async def test_async_on_tokens_callback_is_awaited(m: aioresponses) -> None:
    m.get(PROFILES, callback=_by_token, repeat=True)
    m.post(TOKEN_URL, payload=token_payload())
    stored: list[tuple[str, str | None]] = []

    async def persist(tokens: OAuthTokens) -> None:
        await asyncio.sleep(0)
        stored.append((tokens.access_token, tokens.refresh_token))

    async with make_client(on_tokens=persist) as client:
        await client.list_profiles()
    assert stored == [(NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN)]


async def test_refresh_without_new_refresh_token_keeps_the_old_one(m: aioresponses) -> None:
    m.get(PROFILES, callback=_by_token, repeat=True)
    m.post(TOKEN_URL, payload=token_payload(refresh=None))
    seen: list[OAuthTokens] = []
    async with make_client(on_tokens=seen.append) as client:
        await client.list_profiles()
        assert client.tokens is not None
        assert client.tokens.refresh_token == REFRESH_TOKEN
    assert seen[0].refresh_token == REFRESH_TOKEN
    assert seen[0].access_token == NEW_ACCESS_TOKEN


async def test_rotated_refresh_token_is_used_next_time(m: aioresponses) -> None:
    m.post(TOKEN_URL, payload=token_payload())
    m.post(TOKEN_URL, payload=token_payload(access="third-access", refresh="third-refresh"))
    async with make_client() as client:
        await client.refresh_access_token()
        await client.refresh_access_token()
    bodies = [kw["json"]["refresh_token"] for _, url, kw in sent(m) if url.path == "/oauth/token"]
    assert bodies == [REFRESH_TOKEN, NEW_REFRESH_TOKEN]


async def test_401_after_refresh_is_authentication_error_without_loop(m: aioresponses) -> None:
    m.get(PROFILES, status=401, repeat=True)
    m.post(TOKEN_URL, payload=token_payload(), repeat=True)
    async with make_client() as client:
        with pytest.raises(AuthenticationError):
            await client.list_profiles()
        assert client.stats.refreshes == 1
    assert count(m, "POST", "/oauth/token") == 1
    assert count(m, "GET", "/v1/profiles") == 2


async def test_availability_with_client_secret_is_not_refreshed(m: aioresponses) -> None:
    m.post(f"{API}/v1/availability", status=401, repeat=True)
    m.post(TOKEN_URL, payload=token_payload(), repeat=True)
    request = AvailabilityRequest.model_validate(
        {
            "participants": [{"members": [{"sub": "acc_1"}]}],
            "required_duration": {"minutes": 30},
            "query_periods": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}],
        }
    )
    async with make_client() as client:
        with pytest.raises(AuthenticationError):
            await client.availability(request, use_client_secret=True)
    assert count(m, "POST", "/oauth/token") == 0
    assert count(m, "POST", "/v1/availability") == 1


async def test_other_oauth_refusal_during_refresh(m: aioresponses) -> None:
    m.get(PROFILES, status=401, repeat=True)
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_client"})
    async with make_client() as client:
        with pytest.raises(OAuthError) as info:
            await client.list_profiles()
        assert client.can_refresh  # not a revoked grant: may be tried again later
    assert "invalid_client" in str(info.value)


# --------------------------------------------------------------------------- refresh ahead


async def test_refresh_ahead_of_expiry(m: aioresponses) -> None:
    m.post(TOKEN_URL, payload=token_payload())
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock, expires_at=clock.wall() + 30, refresh_ahead=60.0) as client:
        await client.list_profiles()
    assert [url.path for _, url, _ in sent(m)] == ["/oauth/token", "/v1/profiles"]
    assert _bearers(m, "/v1/profiles") == [f"Bearer {NEW_ACCESS_TOKEN}"]


async def test_already_expired_token_refreshed_first(m: aioresponses) -> None:
    m.post(TOKEN_URL, payload=token_payload())
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock, expires_at=clock.wall() - 1000) as client:
        await client.list_profiles()
    assert _bearers(m, "/v1/profiles") == [f"Bearer {NEW_ACCESS_TOKEN}"]


async def test_no_refresh_when_expiry_is_far(m: aioresponses) -> None:
    m.get(PROFILES, payload=OK, repeat=True)
    clock = FakeClock()
    async with make_client(clock, expires_at=clock.wall() + 61, refresh_ahead=60.0) as client:
        await client.list_profiles()
        clock.advance(2)  # now within the refresh-ahead margin
        m.post(TOKEN_URL, payload=token_payload())
        await client.list_profiles()
    assert _bearers(m, "/v1/profiles") == [f"Bearer {ACCESS_TOKEN}", f"Bearer {NEW_ACCESS_TOKEN}"]
    assert count(m, "POST", "/oauth/token") == 1


async def test_client_with_only_a_refresh_token_refreshes_first(m: aioresponses) -> None:
    m.post(TOKEN_URL, payload=token_payload())
    m.get(PROFILES, payload=OK)
    seen: list[OAuthTokens] = []
    async with make_client(access_token=None, on_tokens=seen.append) as client:
        await client.list_profiles()
    assert [url.path for _, url, _ in sent(m)] == ["/oauth/token", "/v1/profiles"]
    assert _bearers(m, "/v1/profiles") == [f"Bearer {NEW_ACCESS_TOKEN}"]
    assert len(seen) == 1


async def test_client_without_usable_credentials_fails_without_network(m: aioresponses) -> None:
    async with make_client(access_token=None, refresh_token=None) as client:
        with pytest.raises(ReauthorizationRequiredError):
            await client.list_profiles()
    # A refresh token alone is useless without the client secret to redeem it.
    async with make_client(access_token=None, client_secret=None) as client:
        with pytest.raises(ReauthorizationRequiredError):
            await client.list_profiles()
    assert sent(m) == []


# --------------------------------------------------------------------------- single flight


async def test_concurrent_401s_share_one_refresh(m: aioresponses) -> None:
    rejected = 0

    def profiles(url: URL, **kwargs: Any) -> CallbackResult:
        nonlocal rejected
        if bearer(kwargs) == f"Bearer {NEW_ACCESS_TOKEN}":
            return CallbackResult(payload=OK)
        rejected += 1
        return CallbackResult(status=401)

    async def token(url: URL, **kwargs: Any) -> CallbackResult:
        # hold the refresh open until every request has been refused
        await until(lambda: rejected >= 5, within=5, what="five refused requests")
        return CallbackResult(payload=token_payload())

    m.get(PROFILES, callback=profiles, repeat=True)
    m.post(TOKEN_URL, callback=token, repeat=True)
    seen: list[OAuthTokens] = []
    async with make_client(on_tokens=seen.append) as client:
        results = await asyncio.gather(*(client.list_profiles() for _ in range(5)))
        assert client.stats.refreshes == 1
    assert results == [[]] * 5
    assert rejected == 5
    assert count(m, "POST", "/oauth/token") == 1
    assert _bearers(m, "/v1/profiles").count(f"Bearer {NEW_ACCESS_TOKEN}") == 5
    assert len(seen) == 1


async def test_concurrent_401s_arriving_after_the_refresh(m: aioresponses) -> None:
    m.get(PROFILES, callback=_by_token, repeat=True)
    m.post(TOKEN_URL, payload=token_payload(), repeat=True)
    async with make_client() as client:
        await asyncio.gather(*(client.list_profiles() for _ in range(8)))
    assert count(m, "POST", "/oauth/token") == 1


async def test_concurrent_refresh_ahead_is_single_flight(m: aioresponses) -> None:
    async def token(url: URL, **kwargs: Any) -> CallbackResult:
        for _ in range(10):
            await asyncio.sleep(0)
        return CallbackResult(payload=token_payload())

    m.post(TOKEN_URL, callback=token, repeat=True)
    m.get(PROFILES, callback=_by_token, repeat=True)
    clock = FakeClock()
    async with make_client(clock, expires_at=clock.wall()) as client:
        await asyncio.gather(*(client.list_profiles() for _ in range(6)))
    assert count(m, "POST", "/oauth/token") == 1
    assert _bearers(m, "/v1/profiles") == [f"Bearer {NEW_ACCESS_TOKEN}"] * 6


# --------------------------------------------------------------------------- revoked grant


async def test_invalid_grant_requires_reauthorization_and_fails_fast(m: aioresponses) -> None:
    m.get(PROFILES, status=401, repeat=True)
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_grant"}, repeat=True)
    async with make_client() as client:
        with pytest.raises(ReauthorizationRequiredError):
            await client.list_profiles()
        assert not client.can_refresh
        for call in (client.list_profiles, client.list_calendars, client.list_profiles):
            with pytest.raises(ReauthorizationRequiredError):
                await call()
    # Later calls never reached the network again: one GET and one token request in all.
    assert [(meth, url.path) for meth, url, _ in sent(m)] == [
        ("GET", "/v1/profiles"),
        ("POST", "/oauth/token"),
    ]
    assert count(m) == 2


async def test_invalid_grant_on_refresh_ahead(m: aioresponses) -> None:
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_grant"})
    clock = FakeClock()
    async with make_client(clock, expires_at=clock.wall()) as client:
        with pytest.raises(ReauthorizationRequiredError):
            await client.list_profiles()
        with pytest.raises(ReauthorizationRequiredError):
            await client.list_profiles()
    assert [url.path for _, url, _ in sent(m)] == ["/oauth/token"]


async def test_set_tokens_after_reauthorization(m: aioresponses) -> None:
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_grant"})
    m.get(PROFILES, payload=OK)
    async with make_client() as client:
        with pytest.raises(ReauthorizationRequiredError):
            await client.refresh_access_token()
        client.set_tokens(OAuthTokens("fresh-access", "fresh-refresh"))
        assert client.can_refresh
        await client.list_profiles()
    assert _bearers(m, "/v1/profiles") == ["Bearer fresh-access"]


# --------------------------------------------------------------------------- secrets never leak


def test_reprs_hide_secrets() -> None:
    client = make_client()
    tokens = OAuthTokens(ACCESS_TOKEN, REFRESH_TOKEN, 123.0, "read_events")
    for text in (repr(client), str(client), repr(tokens), str(tokens)):
        for secret in SECRETS:
            assert secret not in text
    assert "***" in repr(tokens)
    assert "read_events" in repr(tokens)
    assert client.client_id is not None
    assert client.client_id in repr(client)


async def test_logs_never_contain_secrets(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    m.get(PROFILES, status=429, headers={"Retry-After": "1"})
    m.get(PROFILES, status=503)
    m.get(PROFILES, status=401)
    m.post(TOKEN_URL, status=503)
    m.post(TOKEN_URL, payload=token_payload())
    m.get(PROFILES, payload=OK)
    m.get(f"{API}/v1/calendars", status=422, payload={"errors": {"name": [{"key": "e"}]}})
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_grant"})
    errors: list[CronofyError] = []
    async with make_client() as client:
        await client.list_profiles()
        with pytest.raises(CronofyError) as info:
            await client.list_calendars()
        errors.append(info.value)
        with pytest.raises(CronofyError) as info:
            await client.refresh_access_token()
        errors.append(info.value)
        texts = [repr(client), repr(client.tokens)]
    assert client.stats.refreshes == 1
    assert client.stats.retries >= 3
    # The scenario did log: retries, the renewal and each answer.
    assert "retry" in caplog.text
    assert "renewed" in caplog.text
    assert "GET /v1/profiles -> 200" in caplog.text
    texts.append(caplog.text)
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
    texts.extend(str(e) for e in errors)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked in {text!r}"
    assert CLIENT_SECRET not in caplog.text


async def test_renewal_does_not_use_up_a_retry_attempt(m: aioresponses) -> None:
    m.get(PROFILES, status=401)
    m.post(TOKEN_URL, payload=token_payload())
    m.get(PROFILES, status=503)
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=2, rng=random.Random(0))
    async with make_client(clock, retry=policy) as client:
        assert await client.list_profiles() == []
        assert client.stats.refreshes == 1
        assert client.stats.retries == 1
    assert count(m, "GET", "/v1/profiles") == 3
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    "payload",
    [
        # access_token missing: unusable, but it carries a fresh refresh token.
        {"refresh_token": NEW_REFRESH_TOKEN},
        {"access_token": [NEW_ACCESS_TOKEN], "refresh_token": NEW_REFRESH_TOKEN},
        {"access_token": NEW_ACCESS_TOKEN, "expires_in": "soon"},
    ],
)
async def test_malformed_token_response_never_shows_tokens_in_tracebacks(
    m: aioresponses, payload: dict[str, Any]
) -> None:
    m.post(TOKEN_URL, payload=payload)
    async with make_client() as client:
        with pytest.raises(UnexpectedResponseError) as info:
            await client.refresh_access_token()
    assert "TokenResponse" in str(info.value)
    rendered = "".join(traceback.format_exception(info.value))
    assert "validation error for TokenResponse" in rendered  # the cause is still chained...
    for secret in SECRETS:
        assert secret not in rendered  # ...but never shows a token value


# --------------------------------------------------------------------------- the Auth object alone


def _auth(**overrides: Any) -> tuple[Auth, list[dict[str, str]]]:
    """An :class:`Auth` whose token endpoint is a plain function recording the forms posted."""
    posted: list[dict[str, str]] = []

    async def post_token(form: Mapping[str, str]) -> TokenResponse:
        posted.append(dict(form))
        await asyncio.sleep(0)
        return TokenResponse.model_validate(token_payload())

    kwargs: dict[str, Any] = {
        "post_token": post_token,
        "stats": ClientStats(),
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
        "wall_clock": FakeClock().wall,
    }
    kwargs.update(overrides)
    return Auth(**kwargs), posted


async def test_auth_adds_the_header_for_each_mode() -> None:
    auth, posted = _auth()
    cases: list[tuple[AuthMode, str | None, str]] = [
        ("token", f"Bearer {ACCESS_TOKEN}", ACCESS_TOKEN),
        ("client_secret", f"Bearer {CLIENT_SECRET}", ""),
        ("none", None, ""),
    ]
    for mode, expected, used in cases:
        headers: dict[str, str] = {}
        assert await auth.authorize(headers, mode) == used
        assert headers.get("Authorization") == expected
    assert posted == []


async def test_auth_renews_once_for_many_stale_tokens() -> None:
    auth, posted = _auth()
    await asyncio.gather(*(auth.refresh(stale=ACCESS_TOKEN) for _ in range(5)))
    await auth.refresh(stale=ACCESS_TOKEN)  # already renewed: nothing to do
    assert [form["grant_type"] for form in posted] == ["refresh_token"]
    assert auth.tokens is not None
    assert auth.tokens.access_token == NEW_ACCESS_TOKEN
    assert auth.stats.refreshes == 1


def test_auth_repr_hides_secrets() -> None:
    auth, _ = _auth()
    for text in (repr(auth), str(auth)):
        for secret in SECRETS:
            assert secret not in text
    assert "client_secret=***" in repr(auth)


async def test_a_refused_authorization_code_is_not_a_revoked_grant() -> None:
    """A bogus or used code (``invalid_grant`` on the code exchange) says the code was refused;
    the client's own tokens stay usable (nothing was revoked)."""
    async with Emulator() as emu:
        account = await emu.create_account()
        async with CronofyClient(
            access_token=account.access_token,
            refresh_token=account.refresh_token,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            api_base_url=emu.base_url,
        ) as client:
            with pytest.raises(AuthorizationCodeRefusedError) as refused:
                await client.exchange_code("bogus-code", "http://127.0.0.1:9/cb")
            assert "authorization code was refused (invalid_grant)" in str(refused.value)
            assert "refresh token" not in str(refused.value)
            assert not isinstance(refused.value, ReauthorizationRequiredError)
            assert client.can_refresh
            await client.refresh_access_token()
            assert (await client.account()).account_id == account.account_id
