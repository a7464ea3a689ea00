"""``/metrics`` for a :class:`~cronofy_avail.app.system.System`: its handler, behind the admin
views' guard, and a worker's own small listener.

Built by the composition root only (``System.metrics``), so every process that serves or syncs
exposes the same families: ``serve`` on its receiver's port, ``worker`` on
``CRONOFY_AVAIL_METRICS_PORT`` (``--metrics-port``) when set.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web

from cronofy_avail.runtime.metrics import CONTENT_TYPE, ProcessMetrics
from cronofy_avail.runtime.serving import ConnectionLimits, start_site
from webhook_server.guard import Handler, admin_only

METRICS_PATH = "/metrics"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def metrics_handler(
    metrics: ProcessMetrics, *, admin_token: str | None, allowed_hosts: Sequence[str] | None
) -> Handler:
    """``GET /metrics``: the exposition, refused exactly as ``/status`` refuses."""

    async def scrape(request: web.Request) -> web.StreamResponse:
        text = await metrics.render()
        response = web.Response(text=text)
        response.headers["Content-Type"] = CONTENT_TYPE
        response.headers["Cache-Control"] = "no-store"
        return response

    return admin_only(scrape, admin_token=admin_token, allowed_hosts=allowed_hosts)


class MetricsListener:
    """A worker's ``/metrics``: an aiohttp application with that one route."""

    def __init__(
        self,
        metrics: ProcessMetrics,
        *,
        host: str,
        port: int,
        admin_token: str | None,
    ) -> None:
        self.host = host
        self.port = port
        self.app = web.Application()
        allowed = sorted({*LOCAL_HOSTS, host.lower()})
        self.app.router.add_get(
            METRICS_PATH,
            metrics_handler(metrics, admin_token=admin_token, allowed_hosts=allowed),
        )
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        """``http://host:port/metrics`` once started."""

    async def start(self) -> str:
        runner, base = await start_site(self.app, self.host, self.port, limits=ConnectionLimits())
        self._runner = runner
        self.port = int(base.rsplit(":", 1)[1])
        self.url = base + METRICS_PATH
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def new_metrics() -> ProcessMetrics:
    return ProcessMetrics(clock=_utcnow)


__all__ = ["METRICS_PATH", "MetricsListener", "metrics_handler", "new_metrics"]
