"""The application-wide sliding-window rate limiter, measured with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from cronofy_avail.client.ratelimit import (
    CRONOFY_DEFAULT_WINDOWS,
    RateLimiter,
    RateWindow,
    shared_limiter,
)
from tests.support.client import make_client, unique_client_id


class Clock:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _violations(starts: list[float], window: RateWindow) -> list[int]:
    """Indexes i where more than ``limit`` starts fall in [starts[i], starts[i] + period]: the
    window closed at both ends, as a server that counts inclusively sees it."""
    bad = []
    for i, start in enumerate(starts):
        inside = [s for s in starts[i:] if s <= start + window.period]
        if len(inside) > window.limit:
            bad.append(i)
    return bad


async def _acquire_recording(limiter: RateLimiter, clock: Clock, n: int) -> list[float]:
    starts = []
    for _ in range(n):
        await limiter.acquire()
        starts.append(clock())
    return starts


async def test_200_acquisitions_respect_every_window() -> None:
    clock = Clock()
    windows = (RateWindow(5, 1.0), RateWindow(20, 60.0))
    limiter = RateLimiter(windows, clock=clock, sleep=clock.sleep)
    starts = await _acquire_recording(limiter, clock, 200)
    assert starts == sorted(starts)
    for window in windows:
        assert _violations(starts, window) == []
    # ...and it waits no more than needed: each minute admits 20, five per second, each window
    # waited out plus the margin.
    m = limiter.margin
    assert starts[-1] - starts[0] == pytest.approx(9 * (60.0 + m) + 3 * (1.0 + m))
    assert starts[20] - starts[0] == pytest.approx(60.0 + m)
    assert limiter.acquired == 200
    assert limiter.waited == pytest.approx(sum(clock.sleeps))


async def test_burst_then_wait_on_the_short_window() -> None:
    clock = Clock()
    limiter = RateLimiter([RateWindow(5, 1.0)], clock=clock, sleep=clock.sleep)
    starts = await _acquire_recording(limiter, clock, 12)
    assert starts[:5] == [1000.0] * 5
    assert clock.sleeps[0] == pytest.approx(1.05)
    assert starts[5:10] == [pytest.approx(1001.05)] * 5
    assert starts[10:] == [pytest.approx(1002.1)] * 2
    assert _violations(starts, RateWindow(5, 1.0)) == []


async def test_spread_requests_are_not_delayed() -> None:
    clock = Clock()
    limiter = RateLimiter([RateWindow(2, 1.0)], clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await limiter.acquire()
        clock.now += 0.55  # two starts span 1.1 s: clear of the 1 s window and its margin
    assert clock.sleeps == []


async def test_concurrent_acquirers_respect_windows() -> None:
    clock = Clock()
    windows = (RateWindow(3, 1.0), RateWindow(10, 10.0))
    limiter = RateLimiter(windows, clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            await limiter.acquire()
            starts.append(clock())

    await asyncio.gather(*(worker() for _ in range(8)))
    assert len(starts) == 40
    starts.sort()
    for window in windows:
        assert _violations(starts, window) == []


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        RateWindow(0, 1.0)
    with pytest.raises(ValueError, match="period"):
        RateWindow(1, 0.0)
    with pytest.raises(ValueError, match="at least one window"):
        RateLimiter([])


def test_defaults_are_cronofys_limits() -> None:
    assert (RateWindow(50, 1.0), RateWindow(500, 60.0)) == CRONOFY_DEFAULT_WINDOWS
    limiter = RateLimiter.per_second_and_minute(100, 1000)
    assert limiter.windows == (RateWindow(100, 1.0), RateWindow(1000, 60.0))


def test_shared_limiter_one_per_client_id() -> None:
    app_a, app_b = unique_client_id(), unique_client_id()
    assert shared_limiter(app_a) is shared_limiter(app_a)
    assert shared_limiter(app_a) is not shared_limiter(app_b)
    assert shared_limiter(app_a).windows == CRONOFY_DEFAULT_WINDOWS


def test_clients_of_one_application_share_the_limiter() -> None:
    app = unique_client_id()
    first = make_client(client_id=app, rate_limiter=None)
    second = make_client(client_id=app, rate_limiter=None, access_token="another-user")
    other = make_client(client_id=unique_client_id(), rate_limiter=None)
    assert first.rate_limiter is second.rate_limiter
    assert first.rate_limiter is shared_limiter(app)
    assert other.rate_limiter is not first.rate_limiter
    explicit = RateLimiter()
    assert make_client(client_id=app, rate_limiter=explicit).rate_limiter is explicit
    assert make_client(client_id=None, rate_limiter=None).rate_limiter is not first.rate_limiter


async def test_no_request_starts_on_the_exact_edge_of_a_window() -> None:
    """The 501st request of a minute waits past the edge by the margin, not onto it."""
    clock = Clock()
    limiter = RateLimiter((RateWindow(3, 60.0),), clock=clock, sleep=clock.sleep, margin=0.05)
    starts = await _acquire_recording(limiter, clock, 4)
    assert starts[3] - starts[0] == pytest.approx(60.05)
    without = RateLimiter((RateWindow(3, 60.0),), clock=clock, sleep=clock.sleep, margin=0.0)
    edge = await _acquire_recording(without, clock, 4)
    assert edge[3] - edge[0] == pytest.approx(60.0)  # the old behaviour: on the edge
    assert _violations(edge, RateWindow(3, 60.0)) == [0]
    assert _violations(starts, RateWindow(3, 60.0)) == []


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        RateLimiter(margin=-1.0)
