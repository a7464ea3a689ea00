"""One workshop server: the emulator, the classroom (join code, instructor page, who may do
what) and the relay, started together. ``cronofy-avail workshop`` runs one; tests and
benchmarks embed one::

    async with WorkshopServer(debounce=0.05) as workshop:
        attendee = await WorkshopAttendee.join(workshop.attendee_url, "Ada")
"""

from __future__ import annotations

import contextlib
import socket
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from cronofy_avail.core.browser import is_ip_or_localhost
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.server import Emulator
from cronofy_avail.runtime.serving import WILDCARDS
from cronofy_avail.workshop.classroom import Classroom, add_classroom_routes
from cronofy_avail.workshop.page import WORKSHOP_PATH
from cronofy_avail.workshop.relay import Relay, RelayLimits


def lan_address() -> str:
    """This machine's address on the network that holds the default route (no packet is
    sent: connecting a UDP socket only picks the interface); 127.0.0.1 when offline."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address: str = probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return address


def public_base_url(host: str, port: int, public_url: str | None) -> str:
    """The base URL attendees reach: ``public_url``, else this machine's LAN address when
    bound to every interface, else the bound host."""
    if public_url:
        return public_url.rstrip("/")
    shown = lan_address() if host in WILDCARDS else host
    return f"http://{shown}:{port}"


class WorkshopServer:
    """A running workshop. ``settings`` are :class:`EmulatorConfig` fields."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        config: EmulatorConfig | None = None,
        relay_limits: RelayLimits | None = None,
        join_code: str | None = None,
        trust_loopback: bool = True,
        **settings: Any,
    ) -> None:
        config = config or EmulatorConfig()
        public_host = urlsplit(public_url).hostname if public_url else None
        if public_host and not is_ip_or_localhost(public_host):
            # The name attendees use must pass the emulator's Host check.
            settings["allowed_hosts"] = (*config.allowed_hosts, public_host.lower())
        self.public_url = public_url
        self.emulator = Emulator(host, port, config=config, **settings)
        self.relay = Relay(relay_limits)
        self.classroom: Classroom = add_classroom_routes(
            self.emulator.app, self.relay, join_code=join_code, trust_loopback=trust_loopback
        )

    def __repr__(self) -> str:
        return f"WorkshopServer(base_url={self.base_url!r})"

    async def start(self) -> Self:
        await self.emulator.start()
        base = public_base_url(self.emulator.host, self.emulator.port, self.public_url)
        self.classroom.attendee_url = f"{base}/?code={self.classroom.join_code}"
        return self

    async def stop(self) -> None:
        await self.emulator.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where this machine reaches the emulator (127.0.0.1 for a wildcard bind)."""
        return self.emulator.base_url

    @property
    def attendee_url(self) -> str:
        """The one line attendees paste: the public base URL with the join code."""
        assert self.classroom.attendee_url is not None, "start() the workshop first"
        return self.classroom.attendee_url

    @property
    def instructor_url(self) -> str:
        """The instructor page, as this machine opens it."""
        return self.base_url + WORKSHOP_PATH

    @property
    def join_code(self) -> str:
        return self.classroom.join_code

    def instructor_headers(self) -> dict[str, str]:
        """What a script (not the instructor's browser on this machine) sends to act as the
        instructor."""
        return {"Authorization": f"Bearer {self.classroom.instructor_token}"}
