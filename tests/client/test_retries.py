"""Retries: which answers are retried, how long the client waits (injected sleep), budgets."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from cronofy_avail.client.ratelimit import RateLimiter, RateWindow
from cronofy_avail.core.errors import (
    CronofyTimeoutError,
    CronofyTransportError,
    RateLimitedError,
    ServerError,
)
from cronofy_avail.core.retry import RetryPolicy
from tests.support.client import (
    API,
    CALENDAR,
    TOKEN_URL,
    FakeClock,
    count,
    make_client,
    token_payload,
)

PROFILES = f"{API}/v1/profiles"
OK: dict[str, list[object]] = {"profiles": []}


@pytest.fixture
def m() -> Any:
    with aioresponses() as mocked:
        yield mocked


async def test_429_retry_after_seconds(m: aioresponses) -> None:
    m.get(PROFILES, status=429, headers={"Retry-After": "7"})
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock) as client:
        assert await client.list_profiles() == []
        assert client.stats.retries == 1
        assert client.stats.requests == 2
    assert clock.sleeps == [7.0]
    assert count(m) == 2


async def test_429_retry_after_http_date_uses_wall_clock(m: aioresponses) -> None:
    clock = FakeClock(wall=1_900_000_000.0)
    when = format_datetime(datetime.fromtimestamp(1_900_000_042.0, UTC), usegmt=True)
    m.get(PROFILES, status=429, headers={"Retry-After": when})
    m.get(PROFILES, payload=OK)
    async with make_client(clock) as client:
        await client.list_profiles()
    assert clock.sleeps == [42.0]


async def test_backoff_without_retry_after_follows_seeded_jitter(m: aioresponses) -> None:
    for _ in range(3):
        m.get(PROFILES, status=429)
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    policy = RetryPolicy(base_delay=0.5, max_delay=20.0, rng=random.Random(99))
    async with make_client(clock, retry=policy) as client:
        await client.list_profiles()
    assert len(clock.sleeps) == 3
    for attempt, delay in enumerate(clock.sleeps, start=1):
        assert 0.0 <= delay <= 0.5 * 2 ** (attempt - 1)
    expected_rng = random.Random(99)
    assert clock.sleeps == [expected_rng.uniform(0.0, 0.5 * 2 ** (n - 1)) for n in (1, 2, 3)]
    assert count(m) == 4


async def test_backoff_capped_at_max_delay(m: aioresponses) -> None:
    m.get(PROFILES, status=503, repeat=True)
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=8, base_delay=1.0, max_delay=2.0, max_elapsed=1e9, rng=random.Random(5)
    )
    async with make_client(clock, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.list_profiles()
    assert len(clock.sleeps) == 7
    assert all(0.0 <= d <= 2.0 for d in clock.sleeps)
    assert count(m) == 8


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_retried_for_get(m: aioresponses, status: int) -> None:
    m.get(PROFILES, status=status)
    m.get(PROFILES, status=status)
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock) as client:
        assert await client.list_profiles() == []
    assert count(m) == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("status", [502, 504])
async def test_create_calendar_not_retried_on_ambiguous_failure(
    m: aioresponses, status: int
) -> None:
    m.post(f"{API}/v1/calendars", status=status, repeat=True)
    clock = FakeClock()
    async with make_client(clock) as client:
        with pytest.raises(ServerError) as info:
            await client.create_calendar("pro_1", "Availability")
    assert info.value.status == status
    assert count(m) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(("status", "headers"), [(429, {"Retry-After": "2"}), (503, {})])
async def test_create_calendar_retried_on_429_and_503(
    m: aioresponses, status: int, headers: dict[str, str]
) -> None:
    m.post(f"{API}/v1/calendars", status=status, headers=headers)
    m.post(f"{API}/v1/calendars", payload={"calendar": CALENDAR})
    clock = FakeClock()
    async with make_client(clock) as client:
        calendar = await client.create_calendar("pro_1", "Availability")
    assert calendar.calendar_id == CALENDAR["calendar_id"]
    assert count(m, "POST", "/v1/calendars") == 2
    assert len(clock.sleeps) == 1


async def test_create_calendar_not_retried_after_timeout_or_reset(m: aioresponses) -> None:
    m.post(f"{API}/v1/calendars", exception=TimeoutError())
    m.post(f"{API}/v1/calendars", exception=aiohttp.ServerDisconnectedError())
    m.post(f"{API}/v1/calendars", payload={"calendar": CALENDAR}, repeat=True)
    clock = FakeClock()
    async with make_client(clock) as client:
        with pytest.raises(CronofyTimeoutError):
            await client.create_calendar("pro_1", "Availability")
        with pytest.raises(CronofyTransportError):
            await client.create_calendar("pro_1", "Availability")
    assert count(m) == 2
    assert clock.sleeps == []


async def test_get_retried_after_timeout_and_reset(m: aioresponses) -> None:
    m.get(PROFILES, exception=TimeoutError())
    m.get(PROFILES, exception=aiohttp.ServerDisconnectedError())
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock) as client:
        assert await client.list_profiles() == []
    assert count(m) == 3
    assert len(clock.sleeps) == 2


async def test_attempts_bounded_by_max_attempts(m: aioresponses) -> None:
    m.get(PROFILES, status=503, repeat=True)
    clock = FakeClock()
    async with make_client(clock, retry=RetryPolicy(max_attempts=3, rng=random.Random(0))) as c:
        with pytest.raises(ServerError):
            await c.list_profiles()
        assert c.stats.requests == 3
        assert c.stats.retries == 2
    assert count(m) == 3
    assert len(clock.sleeps) == 2


async def test_timeouts_bounded_by_max_attempts(m: aioresponses) -> None:
    cause = TimeoutError()
    m.get(PROFILES, exception=cause, repeat=True)
    clock = FakeClock()
    async with make_client(clock, retry=RetryPolicy(max_attempts=2, rng=random.Random(0))) as c:
        with pytest.raises(CronofyTimeoutError) as info:
            await c.list_profiles()
    assert str(info.value.__cause__) == type(cause).__name__  # chained, sanitized
    assert count(m) == 2


async def test_max_elapsed_budget_with_retry_after(m: aioresponses) -> None:
    m.get(PROFILES, status=429, headers={"Retry-After": "4"}, repeat=True)
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=10, max_elapsed=10.0, rng=random.Random(0))
    async with make_client(clock, retry=policy) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.list_profiles()
    # t=0 try, wait 4; t=4 try, wait 4; t=8 try: 8 + 4 > 10, give up.
    assert clock.sleeps == [4.0, 4.0]
    assert count(m) == 3
    assert info.value.retry_after == 4.0


async def test_max_elapsed_counts_time_spent_in_requests(m: aioresponses) -> None:
    clock = FakeClock()

    def slow(url: URL, **kwargs: Any) -> CallbackResult:
        clock.advance(6.0)  # each answer takes six (fake) seconds
        return CallbackResult(status=503)

    m.get(PROFILES, callback=slow, repeat=True)
    policy = RetryPolicy(
        max_attempts=10, max_elapsed=10.0, base_delay=0.5, max_delay=1.0, rng=random.Random(0)
    )
    async with make_client(clock, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.list_profiles()
    # first answer at 6 s (+ <=1 s wait fits), second at >= 12 s: over budget.
    assert count(m) == 2
    assert len(clock.sleeps) == 1


async def test_retry_after_beyond_max_retry_after_raised_immediately(m: aioresponses) -> None:
    m.get(PROFILES, status=429, headers={"Retry-After": "3600"}, repeat=True)
    clock = FakeClock()
    async with make_client(clock, retry=RetryPolicy(max_retry_after=60.0)) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.list_profiles()
    assert info.value.retry_after == 3600.0
    assert count(m) == 1
    assert clock.sleeps == []


async def test_retry_after_zero_retries_at_once(m: aioresponses) -> None:
    m.get(PROFILES, status=503, headers={"Retry-After": "0"})
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    async with make_client(clock) as client:
        await client.list_profiles()
    assert clock.sleeps == [0.0]


async def test_every_attempt_passes_the_rate_limiter(m: aioresponses) -> None:
    m.get(PROFILES, status=503)
    m.get(PROFILES, status=429, headers={"Retry-After": "1"})
    m.get(PROFILES, payload=OK)
    clock = FakeClock()
    limiter = RateLimiter([RateWindow(100, 1.0)], clock=clock.monotonic, sleep=clock.sleep)
    async with make_client(clock, rate_limiter=limiter) as client:
        await client.list_profiles()
    assert limiter.acquired == 3


async def test_token_request_retried_on_503(m: aioresponses) -> None:
    m.post(TOKEN_URL, status=503)
    m.post(TOKEN_URL, payload=token_payload())
    clock = FakeClock()
    async with make_client(clock) as client:
        await client.refresh_access_token()
    assert count(m, "POST", "/oauth/token") == 2
    assert len(clock.sleeps) == 1


def _refused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_retried_even_for_create_calendar() -> None:
    """A refused connection never reached Cronofy, so even a non-idempotent call is retried."""
    clock = FakeClock()
    base = f"http://127.0.0.1:{_refused_port()}"
    policy = RetryPolicy(max_attempts=3, rng=random.Random(0))
    async with make_client(clock, api_base_url=base, retry=policy) as client:
        with pytest.raises(CronofyTransportError) as info:
            await client.create_calendar("pro_1", "Availability")
        assert client.stats.requests == 3
    assert str(info.value.__cause__).startswith("ClientConnectorError")
    assert "cannot connect to 127.0.0.1" in str(info.value)
    assert len(clock.sleeps) == 2
