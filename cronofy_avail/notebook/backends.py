"""What step 0 connects to: the embedded playground, a shared emulator (a workshop joined, or a
plain ``cronofy-avail emulator``), or real Cronofy. Each ``connect_*`` builds the same system
(engine, coordinator, receiver) every entry point builds, registers what it starts on the
given exit stack, and returns a :class:`Backend`; none of them knows the wizard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.ngrok import discover_public_url
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import System, for_app, open_system
from cronofy_avail.client.api import CronofyClient
from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.notebook.steps import MODES, Inputs, WizardError, _Secrets
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.coordinator import SyncCoordinator
from cronofy_avail.runtime.store import MemoryStore, Store
from cronofy_avail.workshop import (
    Joined,
    RelayPump,
    WorkshopError,
    join_workshop,
    rejoin_workshop,
    split_workshop_url,
)
from cronofy_avail.workshop.relay import RELAY_PATH
from cronofy_avail.workshop.seat import save_seat
from webhook_server import WebhookServer

Clock = Callable[[], datetime]


@dataclass
class Backend:
    store: Store
    coordinator: SyncCoordinator
    client: CronofyClient
    server: Any
    receiver_url: str
    control: EmulatorControl | None
    where: str
    account_label: str
    busy_calendar_id: str | None = None
    public_url: str | None = None
    """Where the emulator delivers when not to the receiver itself: a workshop relay box."""
    pump: RelayPump | None = None
    """Feeds the relay box's deliveries to the receiver (workshop)."""
    configuration: str = ""
    """Which .env a real-Cronofy connect read (or where none was found)."""

    async def public_base_url(self, typed: str) -> str:
        """Where Cronofy must POST: the ``typed`` URL, else the relay box or the receiver
        itself (emulator), else the ngrok tunnel forwarding to the receiver (real Cronofy)."""
        if typed.strip():
            return typed.strip()
        if self.public_url is not None:
            return self.public_url
        if self.control is not None:
            return self.receiver_url
        port = int(self.receiver_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        public = await discover_public_url(port=port)
        if public is None:
            raise CommandError(
                f"no public URL: Cronofy cannot reach {self.receiver_url}.\n"
                f"Fix: run `ngrok http {port}` and press the button again, or paste the "
                "public URL of the receiver."
            )
        prefix = self.receiver_url.split("://", 1)[1].partition("/")[2]
        return public.rstrip("/") + ("/" + prefix if prefix else "")

    async def delivered(self, within: float = 10.0) -> None:
        """Wait until the emulator sent what it owes and, through a workshop relay, the
        pump fed all of it to the receiver."""
        if self.control is not None:
            await self.control.wait_notifications(within)
        if self.pump is not None:
            await self.pump.wait_drained(within)


async def connect_embedded(
    stack: AsyncExitStack, inputs: Inputs, store: Store | None, settings: Settings, clock: Clock
) -> Backend:
    pg = await stack.enter_async_context(
        Playground.running(
            user_id=inputs.user_id,
            tzid=inputs.tzid,
            store=store,
            settings=settings,
            onboard=False,
            clock=clock,
        )
    )
    control = EmulatorControl(pg.emulator.base_url, session=pg.session)
    return Backend(
        store=pg.store,
        coordinator=pg.coordinator,
        client=pg.client,
        server=pg.server,
        receiver_url=pg.webhook_url,
        control=control,
        where=f"the embedded emulator at {pg.emulator.base_url}",
        account_label=pg.account.email,
        busy_calendar_id=pg.account.calendar_id,
    )


async def _receiver(
    stack: AsyncExitStack,
    settings: Settings,
    store: Store,
    session: aiohttp.ClientSession,
    clock: Clock,
    host: str,
) -> tuple[System, SyncCoordinator, WebhookServer, str]:
    """The same system (engine, coordinator, receiver) every entry point builds."""
    system = await stack.enter_async_context(
        open_system(settings, store=store, session=session, clock=clock)
    )
    coordinator = await system.coordinator(start=False)
    server = await system.receiver(coordinator, host=host, runs_requests=True)
    assert server.url
    return system, coordinator, server, server.url


async def connect_shared(
    stack: AsyncExitStack,
    inputs: Inputs,
    store: Store | None,
    settings: Settings,
    clock: Clock,
    *,
    receiver_host: str,
    account_options: dict[str, Any],
    attendee_name: Callable[[], str],
) -> Backend:
    """An isolated account on a shared emulator. On a ``cronofy-avail workshop``
    emulator the wizard joins the workshop (the instructor page lists the attendee, and
    :func:`~cronofy_avail.workshop.seat.save_seat` keeps the seat for notebook 04) and
    the channel's callback is the attendee's relay box there, fed to the receiver in this
    kernel by a :class:`~cronofy_avail.workshop.RelayPump`: conference Wi-Fi rarely lets the
    instructor's machine reach a laptop. A plain ``cronofy-avail emulator`` (no workshop
    routes) delivers to the receiver directly."""
    typed = inputs.emulator_url.strip()
    url, code = split_workshop_url(typed)
    if not url.startswith(("http://", "https://")):
        raise WizardError(
            "shared emulator: give its URL, e.g. http://192.168.1.10:8181/?code=K7QX-P2M9 "
            "(the instructor shows it with `cronofy-avail workshop`)"
        )
    store = store or MemoryStore()
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    user = await store.get_user(inputs.user_id)
    joined: Joined | None = None
    name = ""
    try:
        if user is not None and user.credentials is not None:
            access, refresh = user.credentials.access_token, user.credentials.refresh_token
            label, busy = f"user {user.user_id} (resumed)", None
            if _relay_url_of(user.callback_url) is not None and refresh:
                joined = await rejoin_workshop(session, url, refresh)
        else:
            name = attendee_name()
            joined = await join_workshop(session, typed, name, tzid=inputs.tzid, code=code)
            access, refresh = joined.account.access_token, joined.account.refresh_token
            label, busy = joined.account.email, joined.account.calendar_id
    except WorkshopError as exc:
        if exc.status != 404 or user is not None:
            raise CommandError(_workshop_refusal(url, exc)) from exc
        joined = None  # not a workshop: an isolated account of our own, below
    if joined is not None:
        _keep_seat(url, joined, name)
    control = EmulatorControl(url, session=session, token=joined.attendee_token if joined else None)
    if joined is not None:
        client_id, client_secret = joined.client_id, joined.client_secret
        relay_url: str | None = joined.relay_url
    else:
        # A plain `cronofy-avail emulator` (no workshop routes) delivers directly.
        if user is None or user.credentials is None:
            account = await control.create_account(tzid=inputs.tzid, **account_options)
            access, refresh = account.access_token, account.refresh_token
            label, busy = account.email, account.calendar_id
        info = await control.info()
        client_id, client_secret, relay_url = info.client_id, info.client_secret, None
    settings = for_app(
        settings,
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=url,
        data_center="us",
    )
    system, coordinator, server, receiver = await _receiver(
        stack, settings, store, session, clock, receiver_host
    )
    pump: RelayPump | None = None
    if relay_url is not None:
        assert joined is not None
        pump = RelayPump(relay_url, receiver, token=joined.attendee_token, session=session)
        await pump.start()
        stack.push_async_callback(pump.stop)
    client = system.client(access_token=access, refresh_token=refresh)
    where = f"the shared emulator at {url}" + (" (deliveries via its relay)" if pump else "")
    return Backend(
        store, coordinator, client, server, receiver, control, where, label, busy,
        public_url=relay_url, pump=pump,
    )  # fmt: skip


async def connect_cronofy(
    stack: AsyncExitStack,
    inputs: Inputs,
    store: Store | None,
    settings: Settings,
    clock: Clock,
    *,
    receiver_host: str,
    secrets: _Secrets,
) -> Backend:
    s = secrets
    client_id = s.client_id or settings.client_id
    secrets_ = [s.client_secret] if s.client_secret else settings.client_secrets
    access = s.access_token or settings.access_token
    refresh = s.refresh_token or settings.refresh_token
    store = store or MemoryStore()
    user = await store.get_user(inputs.user_id)
    if access is None and user is not None and user.credentials is not None:
        access, refresh = user.credentials.access_token, user.credentials.refresh_token
    if not client_id or not secrets_ or not access:
        missing = [
            name
            for name, value in (
                ("CRONOFY_CLIENT_ID", client_id),
                ("CRONOFY_CLIENT_SECRET", secrets_),
                ("CRONOFY_ACCESS_TOKEN", access),
            )
            if not value
        ]
        raise CommandError(
            f"real Cronofy needs {', '.join(missing)}, not set ({settings.env_note()}).\n"
            "Fix: put them in .env or the environment, or type them in the password fields "
            "(they are never shown back); no token yet: press Authorize."
        )
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    data_center = inputs.data_center or settings.data_center
    settings = for_app(
        settings,
        client_id=client_id,
        client_secret=",".join(secrets_),
        api_base_url=settings.api_base_url,
        data_center=data_center,
    )
    system, coordinator, server, receiver = await _receiver(
        stack, settings, store, session, clock, receiver_host
    )
    client = system.client(access_token=access, refresh_token=refresh)
    where = settings.api_base_url or f"Cronofy ({data_center} data center)"
    return Backend(
        store, coordinator, client, server, receiver, None, where, "your account",
        configuration=settings.env_note(),
    )  # fmt: skip


async def connect(
    stack: AsyncExitStack,
    inputs: Inputs,
    store: Store | None,
    load_settings: Callable[[], Settings],
    clock: Clock,
    *,
    receiver_host: str,
    account_options: dict[str, Any],
    attendee_name: Callable[[], str],
    secrets: _Secrets,
) -> Backend:
    """The backend of ``inputs.mode``: the embedded emulator, a shared one, or real Cronofy."""
    mode = inputs.mode
    if mode == "embedded":
        return await connect_embedded(stack, inputs, store, load_settings(), clock)
    if mode == "shared":
        return await connect_shared(
            stack, inputs, store, load_settings(), clock,
            receiver_host=receiver_host,
            account_options=account_options,
            attendee_name=attendee_name,
        )  # fmt: skip
    if mode == "cronofy":
        return await connect_cronofy(
            stack, inputs, store, load_settings(), clock,
            receiver_host=receiver_host, secrets=secrets,
        )  # fmt: skip
    raise WizardError(f"mode must be one of {', '.join(MODES)}")


def callback_lines(callback_url: str | None, callback_key: str) -> list[str]:
    """A channel's callback as step 2 shows it: its key cut short, and a workshop relay box's
    id too (whoever knows it can read the box)."""
    shown = (callback_url or "").replace(callback_key, callback_key[:4] + "…")
    relay = _relay_url_of(callback_url)
    if relay is None:
        return [f"callback: {shown}"]
    box = relay.rsplit("/", 1)[1]
    return [
        f"callback: {shown.replace(box, box[:8] + '…')}",
        "deliveries reach this kernel through the workshop's relay",
    ]


def _keep_seat(url: str, joined: Joined, name: str) -> None:
    """The seat (workshop URL and attendee token, owner-only) for the user's other kernels:
    notebook 04's checks report to the instructor page with it. A home that cannot be written
    costs only that."""
    with contextlib.suppress(OSError):
        save_seat(url, joined, name)


def _workshop_refusal(url: str, exc: WorkshopError) -> str:
    if exc.status is None:
        cause = f"cannot reach the shared emulator at {url}"
    elif exc.status == 403:
        cause = f"{url} refused to join the workshop: the join code is wrong or missing"
    else:
        cause = f"{url} refused to join the workshop ({exc.status})"
    return (
        f"{cause}.\nFix: paste the whole URL the instructor shows, join code included (e.g. "
        "http://192.168.1.20:8181/?code=K7QX-P2M9), from a computer on the room's network."
    )


def _relay_url_of(callback_url: str | None) -> str | None:
    """The relay box a stored callback URL points at (a resumed workshop attendee)."""
    if not callback_url or RELAY_PATH + "/" not in callback_url:
        return None
    head, _, tail = callback_url.partition(RELAY_PATH + "/")
    return head + RELAY_PATH + "/" + tail.split("/", 1)[0]


__all__ = [
    "Backend",
    "callback_lines",
    "connect",
    "connect_cronofy",
    "connect_embedded",
    "connect_shared",
]
