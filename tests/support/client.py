"""Helpers shared by the client tests: fake clocks, a client factory, request inspection.

Secrets are distinctive strings so a leak is easy to spot in reprs, errors and logs.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from typing import Any

from aioresponses import aioresponses
from yarl import URL

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.client.ratelimit import RateLimiter, RateWindow
from cronofy_avail.core.retry import RetryPolicy

API = "https://api.cronofy.com"
ACCESS_TOKEN = "ACCESS-tok-5ecret-7f3a9c"
REFRESH_TOKEN = "REFRESH-tok-5ecret-2b8e41"
CLIENT_SECRET = "CLIENT-sec-5ecret-9d0c55"
NEW_ACCESS_TOKEN = "ACCESS-new-5ecret-41aa77"
NEW_REFRESH_TOKEN = "REFRESH-new-5ecret-93bb12"
SECRETS = (ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN)

WALL_START = 1_800_000_000.0
"""A fixed wall-clock epoch (2027-01-15) for the injected ``wall_clock``."""

TOKEN_URL = f"{API}/oauth/token"


class FakeClock:
    """Monotonic and wall clocks that only move when ``sleep`` is awaited (or ``advance``)."""

    def __init__(self, monotonic: float = 500.0, wall: float = WALL_START) -> None:
        self.mono = monotonic
        self.wall_now = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.wall_now

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall_now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


_ids = itertools.count()


def unique_client_id() -> str:
    """A client id no other test uses, so the process-wide shared limiter stays out of the way."""
    return f"test-app-{next(_ids)}"


def unlimited() -> RateLimiter:
    return RateLimiter([RateWindow(1_000_000, 1.0)])


def make_client(clock: FakeClock | None = None, **overrides: Any) -> CronofyClient:
    """A client with fake secrets, an injected clock/sleep and no effective rate limit."""
    clock = clock or FakeClock()
    kwargs: dict[str, Any] = {
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "client_id": unique_client_id(),
        "client_secret": CLIENT_SECRET,
        "sleep": clock.sleep,
        "monotonic": clock.monotonic,
        "wall_clock": clock.wall,
        "rate_limiter": unlimited(),
        "retry": RetryPolicy(rng=random.Random(1234)),
    }
    kwargs.update(overrides)
    return CronofyClient(**kwargs)


def url_re(path: str, base: str = API) -> re.Pattern[str]:
    """Match ``base + path`` with any query string."""
    return re.compile("^" + re.escape(base + path) + r"(\?.*)?$")


def sent(m: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request aioresponses saw: (method, URL with merged query, request kwargs)."""
    out: list[tuple[str, URL, dict[str, Any]]] = []
    for (method, url), calls in m.requests.items():
        for call in calls:
            out.append((method, url, dict(call.kwargs)))
    return out


def count(m: aioresponses, method: str | None = None, path: str | None = None) -> int:
    return sum(
        1
        for meth, url, _ in sent(m)
        if (method is None or meth == method) and (path is None or url.path == path)
    )


def only(m: aioresponses, method: str, path: str) -> tuple[URL, dict[str, Any]]:
    """The single request sent with ``method`` to ``path`` (fails if not exactly one)."""
    matches = [(url, kw) for meth, url, kw in sent(m) if meth == method and url.path == path]
    assert len(matches) == 1, f"expected one {method} {path}, saw {len(matches)}: {sent(m)}"
    return matches[0]


def bearer(kwargs: dict[str, Any]) -> str | None:
    headers = kwargs.get("headers") or {}
    value = headers.get("Authorization")
    return str(value) if value is not None else None


def token_payload(
    access: str = NEW_ACCESS_TOKEN, refresh: str | None = NEW_REFRESH_TOKEN, expires_in: int = 3600
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "token_type": "bearer",
        "access_token": access,
        "expires_in": expires_in,
        "scope": "create_calendar read_events",
    }
    if refresh is not None:
        payload["refresh_token"] = refresh
    return payload


PROFILE = {
    "provider_name": "google",
    "provider_service": "gsuite",
    "profile_id": "pro_n23kjnwrw2",
    "profile_name": "jane@example.com",
    "profile_connected": True,
    "profile_initial_sync_required": False,
}

CALENDAR = {
    "provider_name": "google",
    "profile_id": "pro_n23kjnwrw2",
    "profile_name": "jane@example.com",
    "calendar_id": "cal_n23kjnwrw2_jsdfjksn234",
    "calendar_name": "Availability",
    "calendar_readonly": False,
    "calendar_deleted": False,
    "calendar_primary": False,
    "permission_level": "unrestricted",
}


def event(uid: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "calendar_id": "cal_sub",
        "event_uid": uid,
        "summary": f"event {uid}",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
        "deleted": False,
        "status": "confirmed",
        "transparency": "opaque",
    }
    body.update(extra)
    return body
