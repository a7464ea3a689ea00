"""The embeddable emulator: ``async with Emulator() as emu:`` serves a fake Cronofy on
127.0.0.1 (port 0 picks a free port) inside any running event loop, Jupyter included."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.emulator.app import create_app
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.faults import FaultInjector, FaultRule, RateLimit
from cronofy_avail.emulator.http import SERVICES, Services
from cronofy_avail.emulator.notifications import Notifier
from cronofy_avail.emulator.state import (
    Application,
    Clock,
    EmulatorAccount,
    EmulatorState,
    Json,
    utc_now,
)
from cronofy_avail.runtime.serving import ConnectionLimits, start_site


class Emulator:
    """A running emulator. Settings are :class:`EmulatorConfig` fields, given as ``config`` or
    as keyword arguments (``Emulator(page_size=2, debounce=0.01)``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        config: EmulatorConfig | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Clock = utc_now,
        **settings: Any,
    ) -> None:
        config = config or EmulatorConfig()
        if settings:
            config = dataclasses.replace(config, **settings)
        self.host = host
        self.port = port
        self.config = config
        self.state = EmulatorState(
            config, client_id=client_id, client_secret=client_secret, clock=clock
        )
        self.notifier = Notifier(self.state, config)
        self.app = create_app(self.state, config=config, notifier=self.notifier)
        self.limits = ConnectionLimits()
        """The receiver's guard against slow and idle clients: a request head within 10 s, at
        most 128 connections waiting for one (a room of laptops cannot starve it of files)."""
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Self:
        if self._runner is not None:
            return self
        runner, self.base_url = await start_site(self.app, self.host, self.port, limits=self.limits)
        self._runner = runner
        self.port = int(self.base_url.rsplit(":", 1)[1])
        self.services.base_url = self.base_url
        return self

    async def stop(self) -> None:
        """Stop serving; every held request is released, every notification task is cancelled
        and awaited."""
        runner, self._runner = self._runner, None
        self.faults.release_all()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the application

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        """The newest active client secret."""
        return self.state.client_secret

    @property
    def client_secrets(self) -> list[str]:
        return list(self.state.client_secrets)

    @property
    def faults(self) -> FaultInjector:
        return self.services.faults

    @property
    def rate_limit(self) -> RateLimit:
        return self.services.rate_limit

    def request_counts(self) -> dict[str, int]:
        """Requests per endpoint (``"GET /v1/events"``) since the log was last cleared."""
        return dict(self.services.log.counts)

    def clear_request_log(self) -> None:
        self.services.log.clear()

    def add_fault(self, **rule: Any) -> FaultRule:
        """A :class:`FaultRule`; ``hold=True`` makes it a gate (see :meth:`wait_held`)."""
        return self.faults.add(FaultRule(**rule))

    async def wait_held(self, fault_id: str, count: int = 1) -> FaultRule:
        """Wait until the ``hold`` rule ``fault_id`` parks ``count`` requests (they are in
        flight, and stay so until :meth:`release_fault`). Bound it with ``asyncio.timeout``."""
        return await self.faults.wait_held(fault_id, count)

    def release_fault(self, fault_id: str) -> FaultRule:
        """Open the gate of a ``hold`` rule: its parked requests go on, later ones pass."""
        return self.faults.release(fault_id)

    def rotate_client_secret(self, *, keep_previous: bool = True) -> str:
        return self.state.rotate_client_secret(keep_previous=keep_previous)

    def create_application(self, name: str = "") -> Application:
        """Another application with its own credentials (``client_id`` and ``client_secret``
        stay the default one's); give its ``client_id`` to :meth:`create_account`."""
        return self.state.create_application(name)

    # ------------------------------------------------------------------ playing the user

    async def create_account(self, **kwargs: Any) -> EmulatorAccount:
        """A connected account with a profile, a primary calendar and tokens.

        Keywords: ``email``, ``name``, ``tzid``, ``scope``, ``provider_name``, ``calendars``
        (extra calendar names), ``token_kind`` (``application``/``personal``),
        ``can_create_calendars``, ``allows_duplicate_calendar_names``, ``client_id`` (its
        application; the default one when omitted).
        """
        return self.state.create_account(**kwargs)

    def client(self, account: EmulatorAccount, **kwargs: Any) -> CronofyClient:
        """A :class:`CronofyClient` for ``account`` pointed at this emulator, with the
        credentials of the application the account belongs to."""
        application = (
            self.state.application_of(account.account_id) or self.state.default_application
        )
        return CronofyClient(
            access_token=account.access_token,
            refresh_token=account.refresh_token,
            client_id=application.client_id,
            client_secret=application.client_secret,
            api_base_url=self.base_url,
            **kwargs,
        )

    def add_events(self, calendar_id: str, spec: Mapping[str, Any]) -> list[Json]:
        """The user adds an event (or a recurring series) in their calendar app."""
        return self.state.external_add_events(calendar_id, spec)

    def add_event(self, calendar_id: str, **spec: Any) -> Json:
        """One external event; ``start``/``end`` as strings, dates or ``{"time", "tzid"}``."""
        return self.state.external_add_events(calendar_id, spec)[0]

    def update_event(self, event_uid: str, **spec: Any) -> Json:
        """The user moves or edits an event (``start``, ``end``, ``status``, ...)."""
        return self.state.external_update_event(event_uid, spec)

    def delete_event(self, event_uid: str) -> Json:
        return self.state.external_delete_event(event_uid)

    def disconnect_profile(self, profile_id: str) -> Json:
        return self.state.set_profile(profile_id, connected=False)

    def expire_tokens(self, account_id: str | None = None) -> int:
        return self.state.expire_tokens(account_id)

    async def wait_notifications(self) -> None:
        """Wait until every pending notification delivery, retry and debounce is done.
        Bound it with ``asyncio.timeout``."""
        await self.notifier.wait_idle()
