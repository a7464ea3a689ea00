"""The emulator tests' shared values: fast settings, a settable clock, a bearer header and a
callback receiver (its fixture is ``receiver`` in ``tests/emulator/conftest.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

FAST = {
    "page_size": 3,
    "debounce": 0.05,
    "retry_initial_delay": 0.01,
    "retry_backoff": 1.0,
    "retry_max_delay": 0.01,
    "failure_window": 3600.0,
    "rate_limit_enabled": False,
    "delivery_timeout": 2.0,
}

WAIT = 10.0
"""Upper bound of any wait on a condition (never reached when things work)."""


class FakeClock:
    """A settable clock for ``updated``, ``last_modified`` and token expiry."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A callback server on 127.0.0.1:0 that records every POST it gets."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    script: list[int] = field(default_factory=list)
    """Statuses answered first, in order, before ``status``."""
    delays: list[float] = field(default_factory=list)
    """Seconds to wait before answering, per request in order (then none)."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if json.loads(r.body)["notification"]["type"] == kind]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()
