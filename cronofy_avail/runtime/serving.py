"""Serve an aiohttp application politely, inside any running event loop (Jupyter included).

``AppRunner``/``TCPSite`` (never ``web.run_app``), no signal handlers of our own, port 0 picks a
free port, and the caller learns the address that was actually bound.

A site started with a :class:`ConnectionLimits` is guarded against slow and idle clients: a
connection must send its request head within ``header_timeout`` seconds (aiohttp's
keep-alive timer, which also runs before the first request), and at most ``max_pending``
connections may be waiting for a head at once; beyond that the oldest waiting one is closed,
so a flood of half-sent requests can never crowd out a genuine delivery.

The admin token of ``serve`` lives next to the database, owner-only (:func:`admin_token`).
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - only compared, never bound here
"""Bind addresses that mean every interface."""


@dataclass(slots=True)
class ConnectionLimits:
    """Bounds on connections that have not sent a complete request head yet."""

    header_timeout: float = 10.0
    max_pending: int = 128
    evicted: int = field(default=0, init=False)
    """Connections closed because too many were waiting (for status and tests)."""


class _PendingGuard:
    """Tracks, on one aiohttp ``Server``, the connections still waiting for a request head."""

    def __init__(self, server: Any, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.pending: dict[RequestHandler, None] = {}  # oldest first
        made: Callable[..., None] = server.connection_made
        lost: Callable[..., None] = server.connection_lost
        factory: Callable[..., Any] = server.request_factory

        def connection_made(handler: RequestHandler, transport: Any) -> None:
            made(handler, transport)
            self.pending[handler] = None
            while len(self.pending) > limits.max_pending:
                oldest = next(iter(self.pending))
                del self.pending[oldest]
                limits.evicted += 1
                oldest.force_close()

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self.pending.pop(handler, None)
            lost(handler, exc)

        def request_factory(
            message: Any, payload: Any, protocol: RequestHandler, writer: Any, task: Any
        ) -> Any:
            self.pending.pop(protocol, None)  # the head is complete
            return factory(message, payload, protocol, writer, task)

        server.connection_made = connection_made
        server.connection_lost = connection_lost
        server.request_factory = request_factory


def raise_open_file_limit(most: int = 65536) -> int:
    """Raise this process's soft limit on open files towards its hard limit (at most
    ``most``), as servers do: a room of laptops opens more than the usual 1,024. Returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = most if hard == resource.RLIM_INFINITY else min(hard, most)
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft


async def start_site(
    app: web.Application, host: str, port: int, *, limits: ConnectionLimits | None = None
) -> tuple[web.AppRunner, str]:
    """Start serving ``app``; returns the runner (to ``cleanup()``) and ``http://host:port``.

    A wildcard bind is reported as 127.0.0.1, the address a local client can reach.
    """
    kwargs: dict[str, Any] = {}
    if limits is not None:
        kwargs["keepalive_timeout"] = limits.header_timeout
    runner = web.AppRunner(app, handle_signals=False, access_log=None, **kwargs)
    await runner.setup()
    if limits is not None:
        _PendingGuard(runner.server, limits)
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    shown = "127.0.0.1" if host in WILDCARDS else host
    shown = f"[{shown}]" if ":" in shown else shown
    return runner, f"http://{shown}:{bound_port}"
