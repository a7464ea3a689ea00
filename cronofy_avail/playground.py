"""The whole pattern in one process: emulator, webhook server, coordinator and one user.

Used by ``cronofy-avail demo``, the notebooks and the end-to-end tests. Everything binds to
127.0.0.1 on free ports and is started with ``AppRunner``/``TCPSite``, so it also runs inside
Jupyter's event loop.

>>> async with Playground.running() as pg:                   # doctest: +SKIP
...     event = pg.emulator.add_event(pg.calendar_id, start=..., end=...)
...     await pg.settle()
...     periods = await pg.client.list_available_periods()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import System, for_app, open_system
from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.models import AvailablePeriod
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.runtime.coordinator import SyncCoordinator
from cronofy_avail.runtime.steps import onboard_user
from cronofy_avail.runtime.store import MemoryStore, Store, UserRecord
from cronofy_avail.runtime.sync import SyncEngine


@dataclass
class Playground:
    emulator: Emulator
    account: EmulatorAccount
    store: Store
    engine: SyncEngine
    coordinator: SyncCoordinator
    server: Any  # the started WebhookServer (tests and the demo reach into its handle)
    client: CronofyClient
    session: aiohttp.ClientSession
    user_id: str
    tzid: str
    system: System
    calendar_id: str = ""
    channel_id: str = ""

    @property
    def webhook_url(self) -> str:
        url: str = self.server.url
        return url

    async def user(self) -> UserRecord:
        user = await self.store.get_user(self.user_id)
        assert user is not None
        return user

    async def settle(self, within: float = 30.0) -> None:
        """Wait until notifications are delivered and every sync they started has finished."""
        async with asyncio.timeout(within):
            for _ in range(3):  # a sync can finish after a late delivery: go round again
                await self.emulator.wait_notifications()
                await self.coordinator.wait_idle()

    async def periods(self) -> list[AvailablePeriod]:
        return await self.client.list_available_periods()

    async def onboard(self, *, reconcile: bool = True) -> UserRecord:
        """Steps 1 and 2 for the playground's user, then (optionally) the first reconcile."""
        user, channel = await onboard_user(
            self.store,
            self.client,
            user_id=self.user_id,
            public_base_url=self.webhook_url,
            tzid=self.tzid,
        )
        assert user.calendar_id is not None
        self.calendar_id = user.calendar_id
        self.channel_id = channel.channel_id
        if reconcile:
            self.coordinator.request(self.user_id, full=True)
            await self.settle()
        return user

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        *,
        user_id: str = "demo",
        tzid: str = "Europe/London",
        store: Store | None = None,
        settings: Settings | None = None,
        emulator_settings: dict[str, Any] | None = None,
        engine_settings: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        retry_delays: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4),
        clock: Callable[[], datetime] | None = None,
        webhook_port: int = 0,
        onboard: bool = True,
        max_concurrent: int = 4,
    ) -> AsyncIterator[Playground]:
        """Start everything; unless ``onboard=False``, onboard the user (steps 1 and 2) and
        run the first reconcile. ``settings``: the configuration to run with (retries, sync
        overlap; the application and API are the emulator's); default: every default."""
        options = {"debounce": 0.05, "retry_initial_delay": 0.05, **(emulator_settings or {})}
        if clock is not None:  # one clock for the whole playground: Cronofy's and the engine's
            options["clock"] = clock
        emulator = Emulator(**options)
        await emulator.start()
        try:
            account = await emulator.create_account(tzid=tzid)
            configured = for_app(
                settings,
                client_id=emulator.client_id,
                client_secret=emulator.client_secret,
                api_base_url=emulator.base_url,
            )
            async with open_system(
                configured,
                store=store or MemoryStore(),
                clock=clock,
                retry=retry,
                engine_options=engine_settings,
            ) as system:
                coordinator = await system.coordinator(
                    start=False, retry_delays=retry_delays, max_concurrent=max_concurrent
                )
                # Stopping the receiver lets running syncs finish (a laptop going to sleep).
                server = await system.receiver(coordinator, port=webhook_port, runs_requests=True)
                playground = cls(
                    emulator=emulator,
                    account=account,
                    store=system.store,
                    engine=system.engine,
                    coordinator=coordinator,
                    server=server,
                    client=system.client(
                        access_token=account.access_token, refresh_token=account.refresh_token
                    ),
                    session=system.session,
                    user_id=user_id,
                    tzid=tzid,
                    system=system,
                )
                if onboard:
                    await playground.onboard()
                yield playground
        finally:
            await emulator.stop()
