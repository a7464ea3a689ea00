"""An attendee of a workshop: one isolated account on the instructor's emulator, and the
receiver, store and coordinator in the attendee's own kernel.

The instructor runs ``cronofy-avail workshop`` and shows one URL, its join code included. An
attendee (the wizard's "shared emulator" option, a notebook cell, or the load test) joins with
it::

    attendee = await WorkshopAttendee.join("http://192.168.1.20:8181/?code=K7QX-P2M9", "Ada")
    await attendee.onboard()                      # steps 1 and 2 (and the first reconcile)
    await attendee.add_availability(start, end)   # play the user; step 3 follows by itself
    await attendee.wait_in_sync()
    slots = await attendee.query(start, end)      # step 4
    await attendee.close()

Laptops on conference Wi-Fi usually cannot be reached from the instructor's machine, so by
default the channel's callback is the attendee's relay box on the emulator and a
:class:`~cronofy_avail.workshop.pump.RelayPump` feeds the held deliveries to the local receiver
(``relay=False`` when the emulator can reach the receiver directly, e.g. on one machine).

Joining gives the attendee their own application (client id and secret), so notifications
for them are signed with a secret only they (and the emulator) hold, and an attendee token
that opens their relay box and their own account's control routes, nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import aiohttp

from cronofy_avail.app.system import for_app, open_system
from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.models import AvailabilityResponse
from cronofy_avail.core.planner import KnownPeriod
from cronofy_avail.emulator.control_client import EmulatorControl, account_from_json
from cronofy_avail.emulator.state import EmulatorAccount
from cronofy_avail.runtime.coordinator import SyncCoordinator
from cronofy_avail.runtime.steps import onboard_user, query_availability
from cronofy_avail.runtime.store import MemoryStore, Store
from cronofy_avail.runtime.sync import SyncResult
from cronofy_avail.workshop.classroom import JOIN_PATH, REJOIN_PATH
from cronofy_avail.workshop.pump import RelayPump
from webhook_server import WebhookServer


class WorkshopError(Exception):
    """Joining or playing failed; the message says what to check."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The emulator's HTTP status when it answered (404: not a workshop emulator)."""


def split_workshop_url(url: str) -> tuple[str, str | None]:
    """``http://host:8181/?code=K7QX-P2M9`` → (``http://host:8181``, ``K7QX-P2M9``): the one
    line attendees paste holds the emulator's base URL and the join code."""
    parts = urlsplit(url.strip())
    codes = parse_qs(parts.query).get("code")
    base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    return base, (codes[0] if codes else None)


@dataclass(frozen=True)
class Joined:
    """What joining (or rejoining) answered: the attendee's own application (client id and
    secret), their attendee token, their relay box, and on a first join the isolated account
    with its tokens."""

    data: dict[str, Any]

    def __repr__(self) -> str:  # tokens, the client secret and the relay id stay out
        return f"Joined(account_id={self.data.get('account_id')!r})"

    @property
    def account(self) -> EmulatorAccount:
        return account_from_json(self.data["account"])

    @property
    def attendee_token(self) -> str:
        return str(self.data["attendee_token"])

    @property
    def client_id(self) -> str:
        return str(self.data["client_id"])

    @property
    def client_secret(self) -> str:
        return str(self.data["client_secret"])

    @property
    def relay_url(self) -> str:
        return str(self.data["relay_url"])


async def _post(
    session: aiohttp.ClientSession, base_url: str, path: str, body: dict[str, Any], ok: int
) -> dict[str, Any]:
    try:
        async with session.post(base_url + path, json=body) as response:
            raw = await response.read()
    except aiohttp.ClientError as exc:
        raise WorkshopError(
            f"cannot reach the workshop at {base_url} ({type(exc).__name__}): check "
            "the URL the instructor shows and that you are on the same network"
        ) from exc
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        data = None  # not an emulator's answer (or not a workshop's)
    if response.status == ok and isinstance(data, dict):
        return data
    said = data.get("error") if isinstance(data, dict) else None
    if response.status == 422 and isinstance(data, dict):
        said = "; ".join(
            str(e.get("description"))
            for errors in (data.get("errors") or {}).values()
            for e in errors
            if isinstance(e, dict)
        )
    raise WorkshopError(
        f"{base_url} refused to join ({response.status})"
        + (f": {said}" if said else ": is it a `cronofy-avail workshop` emulator?"),
        status=response.status,
    )


async def join_workshop(
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    *,
    tzid: str | None = None,
    code: str | None = None,
) -> Joined:
    """Join the workshop at ``url`` (what the instructor shows, join code included, or give
    ``code``) as ``name``: the instructor page lists the attendee from now on. Raises
    :class:`WorkshopError` (``status`` 404 when ``url`` is an emulator without the workshop
    routes, e.g. ``cronofy-avail emulator``; 403 for a wrong join code)."""
    base_url, in_url = split_workshop_url(url)
    body: dict[str, Any] = {"name": name, "code": code or in_url or ""}
    if tzid:
        body["tzid"] = tzid
    return Joined(await _post(session, base_url, JOIN_PATH, body, 201))


async def rejoin_workshop(session: aiohttp.ClientSession, url: str, refresh_token: str) -> Joined:
    """The credentials of the attendee whose account ``refresh_token`` belongs to (a kernel
    that resumes from its store): their application, a new attendee token, their relay box."""
    base_url, _ = split_workshop_url(url)
    body = {"refresh_token": refresh_token}
    return Joined(await _post(session, base_url, REJOIN_PATH, body, 200))


@dataclass
class WorkshopAttendee:
    name: str
    base_url: str
    account: EmulatorAccount
    relay_url: str
    session: aiohttp.ClientSession
    client: CronofyClient
    control: EmulatorControl
    store: Store
    coordinator: SyncCoordinator
    server: WebhookServer
    pump: RelayPump | None
    user_id: str = "attendee"
    calendar_id: str = ""
    channel_id: str = ""
    syncs: list[SyncResult] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)

    def __repr__(self) -> str:
        return f"WorkshopAttendee(name={self.name!r}, base_url={self.base_url!r})"

    @classmethod
    async def join(
        cls,
        url: str,
        name: str,
        *,
        relay: bool = True,
        tzid: str | None = None,
        receiver_host: str = "127.0.0.1",
        receiver_port: int = 0,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0),
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> Self:
        """Join the workshop at ``url`` (what the instructor shows, join code included) as
        ``name``.

        ``trace_configs`` go to the attendee's HTTP session (the benchmark times requests)."""
        base_url, _ = split_workshop_url(url)
        stack = AsyncExitStack()
        try:
            session = aiohttp.ClientSession(trace_configs=trace_configs)
            stack.push_async_callback(session.close)
            joined = await join_workshop(session, url, name, tzid=tzid)
            data = joined.data
            account = account_from_json(data["account"])
            settings = for_app(
                None,
                client_id=data["client_id"],
                client_secret=data["client_secret"],
                api_base_url=base_url,
            )
            system = await stack.enter_async_context(
                open_system(settings, store=MemoryStore(), session=session)
            )
            coordinator = await system.coordinator(start=False, retry_delays=retry_delays)
            attendee = cls(
                name=name,
                base_url=base_url,
                account=account,
                relay_url=data["relay_url"],
                session=session,
                client=system.client(
                    access_token=account.access_token, refresh_token=account.refresh_token
                ),
                control=EmulatorControl(base_url, session=session, token=joined.attendee_token),
                store=system.store,
                coordinator=coordinator,
                server=await system.receiver(
                    coordinator, host=receiver_host, port=receiver_port, runs_requests=True
                ),
                pump=None,
                _stack=stack,
            )
            coordinator.add_listener(attendee._on_sync)
            if relay:
                assert attendee.server.url is not None
                attendee.pump = RelayPump(
                    attendee.relay_url,
                    attendee.server.url,
                    token=joined.attendee_token,
                    session=session,
                )
                await attendee.pump.start()
                stack.push_async_callback(attendee.pump.stop)
            return attendee
        except BaseException:
            await stack.aclose()
            raise

    async def _on_sync(self, user_id: str, result: SyncResult) -> None:
        self.syncs.append(result)
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def public_base_url(self) -> str:
        """Where the emulator delivers: the relay box, or the receiver itself."""
        if self.pump is not None:
            return self.relay_url
        assert self.server.url is not None
        return self.server.url

    async def onboard(self) -> None:
        """Steps 1 and 2; the first full reconcile is requested and awaited."""
        user, channel = await onboard_user(
            self.store,
            self.client,
            user_id=self.user_id,
            public_base_url=self.public_base_url,
            tzid=self.account.tzid,
        )
        assert user.calendar_id is not None
        self.calendar_id, self.channel_id = user.calendar_id, channel.channel_id
        self.coordinator.request(self.user_id, full=True)
        await self.wait_for(lambda known: True)

    async def add_availability(
        self, start: datetime | str, end: datetime | str, summary: str = "Free"
    ) -> str:
        """Play the user over the control API; returns the new event's uid."""
        event = await self.control.add_event(
            self.calendar_id, start=_text(start), end=_text(end), summary=summary
        )
        return str(event["event_uid"])

    async def move(self, event_uid: str, start: datetime | str, end: datetime | str) -> None:
        await self.control.move_event(event_uid, _text(start), _text(end))

    async def delete(self, event_uid: str) -> None:
        await self.control.delete_event(event_uid)

    async def known_periods(self) -> Mapping[str, KnownPeriod]:
        return await self.store.get_periods(self.user_id)

    async def wait_for(
        self, condition: Callable[[Mapping[str, KnownPeriod]], bool], within: float = 60.0
    ) -> None:
        """Wait until a sync finished and the periods this receiver owns satisfy
        ``condition`` (checked after each sync, no polling of the API)."""
        async with asyncio.timeout(within):
            while True:
                changed = self._changed
                user = await self.store.get_user(self.user_id)
                settled = user is not None and user.watermark is not None
                if (
                    settled
                    and not self.coordinator.is_busy(self.user_id)
                    and condition(await self.known_periods())
                ):
                    return
                await changed.wait()

    async def wait_in_sync(self, event_uids: set[str], within: float = 60.0) -> None:
        """Wait until the owned periods are exactly those of ``event_uids``."""
        want = {period_id_for(uid) for uid in event_uids}
        await self.wait_for(lambda known: {k.period_id for k in known.values()} == want, within)

    async def query(
        self, start: datetime, end: datetime, *, minutes: int = 60, managed: bool = True
    ) -> AvailabilityResponse:
        """Step 4."""
        return await query_availability(
            self.client,
            sub=self.account.sub,
            sub_calendar_id=self.calendar_id,
            start=start,
            end=end,
            minutes=minutes,
            managed=managed,
        )

    async def close(self) -> None:
        """Stop the relay pump and the receiver, let running syncs finish, close the session."""
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _text(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.utcoffset() is None:
        raise ValueError("give an aware datetime (with a time zone), or a string")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
