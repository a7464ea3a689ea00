"""The receiver on its own: a fresh aiohttp application with the plugin mounted.

Started with ``AppRunner``/``TCPSite`` (never ``web.run_app``), so it also runs inside Jupyter,
where an event loop is already running. Port 0 picks a free port; :attr:`WebhookServer.url`
reports the bound address.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web

from cronofy_avail.runtime.serving import ConnectionLimits, start_site
from webhook_server.plugin import WebhookConfig, WebhookHandle, async_setup


class WebhookServer:
    def __init__(
        self,
        config: WebhookConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.config = config
        self.limits = limits or ConnectionLimits()
        """Header timeout and the cap on connections still sending their request head."""
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=config.max_body + 1024)
        self.handle: WebhookHandle | None = None
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Mount, bind and serve. Returns the base URL of the receiver (with its prefix)."""
        self.handle = await async_setup(self.app, self.config)
        try:
            runner, base = await start_site(self.app, self.host, self.port, limits=self.limits)
        except BaseException:
            await self.handle.async_unload()
            raise
        self._runner = runner
        self.port = int(base.rsplit(":", 1)[1])
        self.url = f"{base}{self.handle.prefix}"
        return self.url

    async def stop(self) -> None:
        """Graceful: unload (stops accepting, lets running syncs finish), then close sockets."""
        if self.handle is not None:
            await self.handle.async_unload()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
