"""The receiving side of the workshop's relay (:mod:`.relay`), in the attendee's kernel.

When the emulator cannot reach a receiver (a laptop on conference Wi-Fi), the channel's
callback is a relay box on the emulator. :class:`RelayPump` long-polls the box from the
receiver's own process and POSTs each held delivery — the raw body and the signature header,
byte for byte — to the local receiver, so it goes through exactly the verification and
handling of a direct delivery. A delivery is acknowledged to the relay only once the local
receiver answered it (2xx, or a 4xx that retrying cannot change); on a 5xx or a connection
error it stays held and is tried again.

The pump forwards notifications only (``/notifications/{key}``): whatever else a box might
hold never reaches the receiver's other routes (its admin views).

>>> pump = RelayPump(relay_url, receiver.url)             # doctest: +SKIP
>>> await pump.start()   # ... deliveries flow ...  await pump.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_LOGGER = logging.getLogger(__name__)
_NOTIFICATION = re.compile(r"/notifications/[A-Za-z0-9_\-]{1,128}")


@dataclass(slots=True)
class PumpStats:
    polls: int = 0
    forwarded: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    poll_errors: int = 0
    skipped: int = 0
    """Held items that were not notifications: acknowledged, never forwarded."""
    last_error: str | None = None


class RelayPump:
    """Fetch held deliveries from ``relay_url`` and feed them to ``receiver_url``.

    ``receiver_url`` is the receiver's base URL with its prefix (``WebhookServer.url``); a held
    delivery for ``/notifications/{key}`` is POSTed to ``{receiver_url}/notifications/{key}``.
    ``token`` is the attendee's, which the relay asks of whoever polls a box.
    """

    def __init__(
        self,
        relay_url: str,
        receiver_url: str,
        *,
        token: str,
        session: aiohttp.ClientSession | None = None,
        wait: float = 20.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.relay_url = relay_url.rstrip("/")
        self.receiver_url = receiver_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.wait = wait
        self.max_backoff = max_backoff
        self.stats = PumpStats()
        self.after = 0
        self._session = session
        self._own_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        """Set (and replaced) after every poll: :meth:`wait_drained` waits on it."""

    def __repr__(self) -> str:
        return f"RelayPump(forwarded={self.stats.forwarded}, after={self.after})"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="cronofy-avail relay pump")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def pump_once(self, wait: float = 0.0) -> int:
        """One poll (waiting up to ``wait`` s for a delivery); returns how many were fed."""
        assert self._session is not None, "start() the pump, or give it a session"
        params = {"after": str(self.after), "wait": f"{wait:g}"}
        timeout = aiohttp.ClientTimeout(total=wait + 15)
        async with self._session.get(
            self.relay_url, params=params, headers=self._headers, timeout=timeout
        ) as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
        self.stats.polls += 1
        fed = 0
        for item in data.get("deliveries", []):
            if not await self._forward(item):
                break  # keep it (and what follows) held; try again on the next poll
            self.after = max(self.after, int(item["seq"]))
            fed += 1
        self._progress.set()
        self._progress = asyncio.Event()
        return fed

    async def pending(self) -> int:
        """How many held deliveries this pump has not fed yet (asks the relay without
        waiting; acknowledges nothing the pump has not already fed)."""
        assert self._session is not None, "start() the pump, or give it a session"
        params = {"after": str(self.after), "wait": "0"}
        async with self._session.get(
            self.relay_url, params=params, headers=self._headers
        ) as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
        return len(data.get("deliveries", []))

    async def wait_drained(self, within: float = 30.0) -> None:
        """Wait until every delivery the relay holds for us has been fed to the receiver
        (its answer received). Waits on the pump's polls, never on a timer."""
        async with asyncio.timeout(within):
            while True:
                progress = self._progress
                if await self.pending() == 0:
                    return
                await progress.wait()

    async def _forward(self, item: dict[str, Any]) -> bool:
        assert self._session is not None
        body = base64.b64decode(item["body_base64"])
        headers = dict(item.get("headers") or {})
        path = str(item["path"])
        if not _NOTIFICATION.fullmatch(path):
            self.stats.skipped += 1
            return True  # not a delivery: acknowledged, never sent on
        url = self.receiver_url + path
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError as exc:
            self.stats.last_error = f"receiver unreachable: {type(exc).__name__}"
            return False
        self.stats.statuses[status] += 1
        if status >= 500 or status == 429:
            self.stats.last_error = f"receiver answered {status}"
            return False
        self.stats.forwarded += 1
        return True

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.pump_once(self.wait)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.stats.poll_errors += 1
                self.stats.last_error = f"relay unreachable: {type(exc).__name__}"
                _LOGGER.info("relay poll failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(self.max_backoff, backoff * 2)
