"""What the emulator's handlers share: the services on the application, and request and
response helpers (JSON bodies, bearer tokens, Cronofy-shaped errors).

Both :mod:`.app` (the Cronofy API) and :mod:`.control` (the ``/_emulator`` API) build on it.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.faults import FaultInjector, RateLimit
from cronofy_avail.emulator.notifications import Notifier
from cronofy_avail.emulator.state import AccountRecord, EmulatorState, Json, Query
from cronofy_avail.emulator.validation import ApiError, unprocessable


@dataclass(slots=True)
class RequestLog:
    """The last requests (bounded) and counts per endpoint since the last clear."""

    size: int = 10_000
    entries: deque[Json] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, entry: Json) -> None:
        self.entries.append(entry)
        while len(self.entries) > self.size:
            self.entries.popleft()
        self.counts[entry["endpoint"]] += 1

    def clear(self) -> None:
        self.entries.clear()
        self.counts.clear()

    def json(self, limit: int | None = None) -> Json:
        entries = list(self.entries)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return {
            "counts": dict(self.counts),
            "total": sum(self.counts.values()),
            "requests": entries,
        }


@dataclass(slots=True)
class Services:
    """Everything the handlers share; stored on the application under :data:`SERVICES`."""

    state: EmulatorState
    notifier: Notifier
    faults: FaultInjector
    rate_limit: RateLimit
    log: RequestLog
    config: EmulatorConfig
    base_url: str = ""
    """The base URL the embedding :class:`~.server.Emulator` reports (informational)."""


SERVICES: web.AppKey[Services] = web.AppKey("cronofy_emulator_services", Services)
ACCOUNT_ID: web.RequestKey[str] = web.RequestKey("cronofy_emulator_account_id", str)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


# --------------------------------------------------------------------------- helpers


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def accepted() -> web.Response:
    return web.Response(status=202)


def error_response(exc: ApiError) -> web.Response:
    if exc.body is None:
        return web.Response(status=exc.status, headers=exc.headers)
    return web.json_response(exc.body, status=exc.status, headers=exc.headers)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def base_url(request: web.Request) -> str:
    """The origin the caller used (``Host``): ``next_page`` stays on the host the client
    configured, whether it says ``127.0.0.1`` or ``localhost``."""
    return str(request.url.origin())


def query(request: web.Request) -> Query:
    out: dict[str, list[str]] = {}
    for key, value in request.query.items():
        out.setdefault(key, []).append(value)
    return out


async def read_json(request: web.Request) -> Json:
    """The JSON object body; an empty body is ``{}``; anything else is a 422."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise unprocessable("body", "errors.invalid", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise unprocessable("body", "errors.invalid", "the body must be a JSON object")
    return data


def authenticate(request: web.Request) -> AccountRecord:
    account, _ = services(request).state.authenticate(bearer(request))
    request[ACCOUNT_ID] = account.account_id
    return account
