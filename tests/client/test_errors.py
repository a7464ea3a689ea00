"""Every error the client raises, through real requests (aioresponses)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from cronofy_avail.client.api import TransportCause
from cronofy_avail.core.errors import (
    AuthenticationError,
    CronofyAPIError,
    CronofyError,
    CronofyTimeoutError,
    CronofyTransportError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PaymentRequiredError,
    ProfileLockedError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
from cronofy_avail.core.retry import NO_RETRY
from tests.support.client import API, SECRETS, FakeClock, count, make_client, sent


@pytest.fixture
def m() -> Any:
    with aioresponses() as mocked:
        yield mocked


async def _profiles_error(m: aioresponses, **overrides: Any) -> CronofyError:
    async with make_client(**overrides) as client:
        with pytest.raises(CronofyError) as info:
            await client.list_profiles()
    return info.value


async def test_401_without_refresh_is_authentication_error(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", status=401, repeat=True)
    error = await _profiles_error(m, client_secret=None)
    assert type(error) is AuthenticationError
    assert error.status == 401
    assert count(m) == 1


async def test_401_with_access_token_only(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", status=401, repeat=True)
    error = await _profiles_error(m, refresh_token=None)
    assert type(error) is AuthenticationError
    assert count(m) == 1
    assert count(m, "POST", "/oauth/token") == 0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (402, PaymentRequiredError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (423, ProfileLockedError),
        (400, CronofyAPIError),
        (409, CronofyAPIError),
        (418, CronofyAPIError),
        (500, ServerError),
    ],
)
async def test_status_mapping_and_not_retried(
    m: aioresponses, status: int, cls: type[CronofyAPIError]
) -> None:
    m.get(f"{API}/v1/profiles", status=status, body=b'{"whatever": true}', repeat=True)
    clock = FakeClock()
    async with make_client(clock) as client:
        with pytest.raises(CronofyAPIError) as info:
            await client.list_profiles()
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.method == "GET"
    assert info.value.url == f"{API}/v1/profiles"
    assert count(m) == 1
    assert clock.sleeps == []


async def test_422_errors_parsed(m: aioresponses) -> None:
    m.post(
        f"{API}/v1/available_periods",
        status=422,
        payload={
            "errors": {
                "end": [{"key": "errors.invalid", "description": "end must be after start"}],
                "available_period_id": [{"key": "errors.required"}],
            }
        },
        repeat=True,
    )
    clock = FakeClock()
    async with make_client(clock) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.upsert_available_period(
                "ap", datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC)
            )
    error = info.value
    assert error.status == 422
    assert error.error_keys("end") == ["errors.invalid"]
    assert error.error_keys("available_period_id") == ["errors.required"]
    assert error.errors["end"][0].description == "end must be after start"
    assert "end must be after start" in str(error)
    assert count(m) == 1
    assert clock.sleeps == []


async def test_429_carries_retry_after(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", status=429, headers={"Retry-After": "7"}, repeat=True)
    error = await _profiles_error(m, retry=NO_RETRY)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert count(m) == 1


async def test_429_without_retry_after(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", status=429, repeat=True)
    error = await _profiles_error(m, retry=NO_RETRY)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_server_error(m: aioresponses, status: int) -> None:
    m.get(f"{API}/v1/profiles", status=status, repeat=True)
    error = await _profiles_error(m, retry=NO_RETRY)
    assert type(error) is ServerError
    assert error.status == status
    assert count(m) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_not_followed(m: aioresponses, status: int) -> None:
    target = "https://evil.example/steal"
    m.get(f"{API}/v1/profiles", status=status, headers={"Location": target})
    m.get(target, payload={"profiles": []})
    m.get(f"{API}/v1/elsewhere", payload={"profiles": []})
    error = await _profiles_error(m)
    assert type(error) is UnexpectedResponseError
    assert error.status == status
    assert "redirect" in str(error)
    assert count(m) == 1
    assert [url.host for _, url, _ in sent(m)] == ["api.cronofy.com"]
    assert all(kwargs["allow_redirects"] is False for _, _, kwargs in sent(m))


@pytest.mark.parametrize("body", [b"{not json", b"<html>oops</html>", b"\xff\xfe\x00"])
async def test_malformed_json_on_200(m: aioresponses, body: bytes) -> None:
    m.get(f"{API}/v1/profiles", status=200, body=body)
    error = await _profiles_error(m)
    assert type(error) is UnexpectedResponseError
    assert "not valid JSON" in str(error)
    assert count(m) == 1


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"profiles": "nope"},
        {"profiles": [{"provider_name": "google"}]},
        {"something_else": []},
    ],
)
async def test_wrong_shape_json(m: aioresponses, payload: Any) -> None:
    if payload is None:
        m.get(f"{API}/v1/profiles", status=200, body=b"")
    else:
        m.get(f"{API}/v1/profiles", status=200, payload=payload)
    error = await _profiles_error(m)
    assert type(error) is UnexpectedResponseError
    assert "ProfilesResponse" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("connection reset"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "reset by peer"),
    ],
)
async def test_connection_error_is_chained(m: aioresponses, exc: Exception) -> None:
    m.get(f"{API}/v1/profiles", exception=exc, repeat=True)
    error = await _profiles_error(m, retry=NO_RETRY)
    assert type(error) is CronofyTransportError
    # Chained to what happened, by type and message, without aiohttp's request object.
    assert isinstance(error.__cause__, TransportCause)
    assert str(error.__cause__).startswith(type(exc).__name__)
    assert error.url == f"{API}/v1/profiles"
    assert count(m) == 1


@pytest.mark.parametrize("exc", [TimeoutError(), aiohttp.ServerTimeoutError("read timeout")])
async def test_timeout(m: aioresponses, exc: Exception) -> None:
    m.get(f"{API}/v1/profiles", exception=exc, repeat=True)
    error = await _profiles_error(m, retry=NO_RETRY)
    assert type(error) is CronofyTimeoutError
    assert isinstance(error, CronofyTransportError)
    assert isinstance(error.__cause__, TransportCause)
    assert str(error.__cause__).startswith(type(exc).__name__)


async def test_cancellation_is_not_swallowed(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", exception=asyncio.CancelledError(), repeat=True)
    async with make_client() as client:
        with pytest.raises(asyncio.CancelledError):
            await client.list_profiles()
    assert count(m) == 1


async def test_error_urls_drop_query_string(m: aioresponses) -> None:
    next_page = f"{API}/v1/events/page2?page_token=opaque-cursor-123&tzid=UTC"
    m.get(
        f"{API}/v1/events?tzid=UTC",
        payload={"pages": {"current": 1, "total": 2, "next_page": next_page}, "events": []},
    )
    m.get(next_page, status=404)
    async with make_client() as client:
        with pytest.raises(NotFoundError) as info:
            await client.read_events(tzid="UTC")
    assert info.value.url == f"{API}/v1/events/page2"
    assert "opaque-cursor-123" not in str(info.value)
    assert "?" not in str(info.value)


async def test_no_secret_in_any_client_error(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", status=401)
    m.get(f"{API}/v1/calendars", status=422, payload={"errors": {"x": [{"key": "errors.k"}]}})
    m.get(f"{API}/v1/channels", exception=aiohttp.ClientConnectionError("reset"))
    m.get(f"{API}/v1/account", body=b"garbage")
    m.get(f"{API}/v1/userinfo", status=429, headers={"Retry-After": "3600"})
    errors: list[BaseException] = []
    async with make_client(client_secret=None, retry=NO_RETRY) as client:
        for call in (
            client.list_profiles,
            client.list_calendars,
            client.list_channels,
            client.account,
            client.userinfo,
        ):
            with pytest.raises(CronofyError) as info:
                await call()
            errors.append(info.value)
        assert len({type(e) for e in errors}) == 5
        for error in errors:
            for secret in SECRETS:
                assert secret not in str(error)
                assert secret not in repr(error)


async def test_a_malformed_answer_chains_no_request_headers() -> None:
    """aiohttp's exceptions carry the request and print its headers in their repr; the chain
    we raise must not (the bearer token is one of those headers)."""
    token = "ACCESS-TOKEN-THAT-MUST-NOT-LEAK-1234567"

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nBad Header\x00: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = make_client(
            access_token=token, api_base_url=f"http://127.0.0.1:{port}", retry=NO_RETRY
        )
        with pytest.raises(CronofyError) as info:
            await client.account()
        await client.close()
    finally:
        server.close()
        await server.wait_closed()
    chain: list[BaseException] = []
    link: BaseException | None = info.value
    while link is not None:
        chain.append(link)
        link = link.__cause__ or link.__context__
    assert len(chain) >= 2  # still chained: the cause says what went wrong
    for exc in chain:
        assert token not in repr(exc)
        assert token not in str(exc)
        assert "Bearer" not in repr(exc) or "***" in repr(exc)
