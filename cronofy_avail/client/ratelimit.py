"""An application-wide rate limiter.

Cronofy limits requests per application (every user together): 50 per second and 500 per minute
by default (:data:`CRONOFY_DEFAULT_WINDOWS`; a raised limit is the setting
``CRONOFY_AVAIL_RATE_LIMIT``, which the composition root passes on). Every client of one
application in a process should therefore share one limiter: :func:`shared_limiter` hands out
one per client id (and limit).

Sliding-window log: a request may start only when, for every window, fewer than ``limit``
requests started within the last ``period + margin`` seconds. The margin (50 ms by default) keeps
a request off the exact edge of a window: a server that counts its window inclusively, or whose
clock runs slightly behind ours, would otherwise see ``limit + 1`` requests in one window.
Clock and sleep are injectable so tests measure the windows without waiting. No asyncio lock is
held across awaits, so one limiter can serve several event loops in turn (a notebook, a test
run, a server).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from cronofy_avail.core.ratewindows import CRONOFY_DEFAULT_WINDOWS, RateWindow

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


DEFAULT_MARGIN = 0.05
"""Seconds kept between a window's oldest counted start and the next start's edge."""


class RateLimiter:
    """Admit at most ``limit`` requests per ``period`` for each window."""

    def __init__(
        self,
        windows: Sequence[RateWindow] = CRONOFY_DEFAULT_WINDOWS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not windows:
            raise ValueError("a rate limiter needs at least one window")
        if margin < 0:
            raise ValueError("a rate limiter's margin cannot be negative")
        self.windows = tuple(windows)
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._keep = max(w.limit for w in self.windows)
        self._starts: deque[float] = deque(maxlen=self._keep)
        self.waited = 0.0
        """Total seconds callers were held back (a count for benchmarks and status pages)."""
        self.acquired = 0
        self.waits = 0
        """Times a caller was held back (``waited`` is their seconds)."""
        self.throttled = 0
        """Answers 429 to requests this limiter admitted (counted by the transport): Cronofy
        counted more than this limiter did."""

    @classmethod
    def per_second_and_minute(
        cls,
        per_second: int = 50,
        per_minute: int = 500,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> RateLimiter:
        """Cronofy's two windows with other numbers (a plan with a raised limit)."""
        windows = (RateWindow(per_second, 1.0), RateWindow(per_minute, 60.0))
        return cls(windows, clock=clock, sleep=sleep)

    def _wait_needed(self, now: float) -> float:
        wait = 0.0
        starts = self._starts
        for window in self.windows:
            if len(starts) < window.limit:
                continue
            # The window.limit-th most recent start must have left the window.
            oldest = starts[len(starts) - window.limit]
            wait = max(wait, oldest + window.period + self.margin - now)
        return wait

    async def acquire(self) -> None:
        """Wait until a request may start, then record that it started."""
        while True:
            now = self._clock()
            wait = self._wait_needed(now)
            if wait <= 0.0:
                self._starts.append(now)
                self.acquired += 1
                return
            self.waited += wait
            self.waits += 1
            await self._sleep(wait)


_SHARED: dict[tuple[str, tuple[RateWindow, ...]], RateLimiter] = {}


def shared_limiter(
    client_id: str, windows: Sequence[RateWindow] = CRONOFY_DEFAULT_WINDOWS
) -> RateLimiter:
    """The process-wide limiter for one Cronofy application and its limit (``windows``:
    Cronofy's default, or a raised one from ``CRONOFY_AVAIL_RATE_LIMIT``), created on first
    use."""
    key = (client_id, tuple(windows))
    limiter = _SHARED.get(key)
    if limiter is None:
        limiter = _SHARED[key] = RateLimiter(key[1])
    return limiter


__all__ = [
    "CRONOFY_DEFAULT_WINDOWS",
    "DEFAULT_MARGIN",
    "RateLimiter",
    "RateWindow",
    "shared_limiter",
]
