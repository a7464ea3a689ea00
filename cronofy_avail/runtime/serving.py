"""Serve an aiohttp application politely, inside any running event loop (Jupyter included).

``AppRunner``/``TCPSite`` (never ``web.run_app``), no signal handlers of our own, port 0 picks a
free port, and the caller learns the address that was actually bound.
"""

from __future__ import annotations

from aiohttp import web

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - only compared, never bound here


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving ``app``; returns the runner (to ``cleanup()``) and ``http://host:port``.

    A wildcard bind is reported as 127.0.0.1, the address a local client can reach.
    """
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    shown = "127.0.0.1" if host in _WILDCARDS else host
    shown = f"[{shown}]" if ":" in shown else shown
    return runner, f"http://{shown}:{bound_port}"
