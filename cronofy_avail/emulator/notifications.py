"""Push notifications: debounced, signed, delivered asynchronously with retries.

* ``verification`` right after a channel is created;
* ``change`` after external changes in a calendar the channel's filters cover (the
  application's own writes too when ``own_changes_count`` is on): changes within
  ``debounce`` seconds are folded into one delivery whose ``changes_since`` is the earliest
  unnotified change (second precision, rounded down so ``last_modified`` finds it);
* ``profile_disconnected`` when a profile is disconnected.

Each delivery is a POST with ``Cronofy-HMAC-SHA256`` (one value per active client secret of the
application the channel's account belongs to, comma-separated) and a timeout; a failure is
retried with exponential backoff, and a channel whose deliveries keep failing for
``failure_window`` seconds is closed. Every attempt is recorded on the channel.
:meth:`Notifier.stop` cancels and awaits every task it started.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import aiohttp

from cronofy_avail.core.models import format_time
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import Application, ChannelRecord, Delivery, EmulatorState

_LOGGER = logging.getLogger(__name__)
USER_AGENT = "Cronofy-Emulator"
"""Sent with every delivery: a request carrying it is the emulator's own, never a person's."""


class Notifier:
    """Implements :class:`~.state.StateObserver` for one :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.debounce = config.debounce
        self.delivery_timeout = config.delivery_timeout
        self.retry_initial_delay = config.retry_initial_delay
        self.retry_max_delay = config.retry_max_delay
        self.retry_backoff = config.retry_backoff
        self.failure_window = config.failure_window
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_channel: dict[str, set[asyncio.Task[None]]] = {}
        self._pending: dict[str, datetime] = {}
        self._flushing: set[str] = set()
        self._failing_since: dict[str, float] = {}
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        state.observer = self

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._stopped = False
        self._loop = asyncio.get_running_loop()
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Cancel every pending delivery and wait for it; close the HTTP session."""
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._by_channel.clear()
        self._pending.clear()
        self._flushing.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_idle(self) -> None:
        """Wait until no delivery, retry or debounce is pending. Bound it with
        ``asyncio.timeout``: a callback that keeps failing keeps a retry pending."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    @property
    def pending_tasks(self) -> int:
        return len(self._tasks)

    def reset(self) -> None:
        """Drop every pending delivery (the state was reset)."""
        for task in list(self._tasks):
            task.cancel()
        self._pending.clear()
        self._flushing.clear()
        self._failing_since.clear()

    def _spawn(self, channel: ChannelRecord, coro: Any) -> None:
        if self._stopped:
            coro.close()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # Called outside the loop (another thread, a plain sync caller): hand it over.
            if self._loop is None or self._loop.is_closed():
                coro.close()
                _LOGGER.warning(
                    "no running emulator: notification for %s dropped", channel.channel_id
                )
                return
            self._loop.call_soon_threadsafe(self._spawn, channel, coro)
            return
        task: asyncio.Task[None] = loop.create_task(coro)
        self._tasks.add(task)
        self._by_channel.setdefault(channel.channel_id, set()).add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._by_channel.get(channel.channel_id, set()).discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                _LOGGER.error(
                    "notification task for %s failed",
                    channel.channel_id,
                    exc_info=finished.exception(),
                )

        task.add_done_callback(done)

    # ------------------------------------------------------------------ StateObserver

    def channel_created(self, channel: ChannelRecord) -> None:
        self._spawn(channel, self._deliver(channel, {"type": "verification"}))

    def channel_closed(self, channel: ChannelRecord) -> None:
        current = asyncio.current_task()
        for task in list(self._by_channel.get(channel.channel_id, ())):
            if task is not current:
                task.cancel()
        self._pending.pop(channel.channel_id, None)
        self._flushing.discard(channel.channel_id)

    def calendar_changed(
        self, account_id: str, calendar_id: str, *, managed: bool, at: datetime
    ) -> None:
        account = self.state.accounts.get(account_id)
        if account is None:
            return
        for channel in account.channels.values():
            if not channel.active:
                continue
            ids = channel.filters.get("calendar_ids")
            if ids is not None and calendar_id not in ids:
                continue
            if channel.filters.get("only_managed") and not managed:
                continue
            earliest = self._pending.get(channel.channel_id)
            if earliest is None or at < earliest:
                self._pending[channel.channel_id] = at
            if channel.channel_id not in self._flushing:
                self._flushing.add(channel.channel_id)
                self._spawn(channel, self._flush(channel))

    def profile_disconnected(self, account_id: str, profile_id: str) -> None:
        account = self.state.accounts.get(account_id)
        if account is None:
            return
        for channel in list(account.channels.values()):
            if channel.active:
                self._spawn(channel, self._deliver(channel, {"type": "profile_disconnected"}))

    # ------------------------------------------------------------------ delivery

    async def _flush(self, channel: ChannelRecord) -> None:
        try:
            await asyncio.sleep(self.debounce)
        finally:
            self._flushing.discard(channel.channel_id)
        since = self._pending.pop(channel.channel_id, None)
        if since is None or not channel.active:
            return
        await self._deliver(channel, {"type": "change", "changes_since": format_time(since)})

    def _retry_delay(self, attempt: int) -> float:
        delay = self.retry_initial_delay * self.retry_backoff ** (attempt - 1)
        return float(min(self.retry_max_delay, delay))

    async def _deliver(self, channel: ChannelRecord, notification: dict[str, Any]) -> None:
        envelope = {"notification": notification, "channel": channel.json()}
        body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
        application = self.state.application_of(channel.account_id)
        if application is None:
            _LOGGER.info("%s: its account is gone, nothing delivered", channel.channel_id)
            return
        loop = asyncio.get_running_loop()
        attempt = 0
        while channel.active and not self._stopped:
            attempt += 1
            status, error = await self._post(channel, application, body)
            ok = status is not None and 200 <= status < 300
            channel.deliveries.append(
                Delivery(
                    notification_type=notification["type"],
                    attempt=attempt,
                    at=format_time(self.state.clock()),
                    status=status,
                    ok=ok,
                    error=error,
                )
            )
            if ok:
                self._failing_since.pop(channel.channel_id, None)
                _LOGGER.debug("%s %s delivered", channel.channel_id, notification["type"])
                return
            now = loop.time()
            since = self._failing_since.setdefault(channel.channel_id, now)
            _LOGGER.info(
                "%s %s delivery attempt %d failed (%s)",
                channel.channel_id,
                notification["type"],
                attempt,
                error or status,
            )
            if now - since >= self.failure_window:
                _LOGGER.warning("closing %s: deliveries keep failing", channel.channel_id)
                self.state.close_channel_for_failures(channel)
                return
            await asyncio.sleep(self._retry_delay(attempt))

    async def _post(
        self, channel: ChannelRecord, application: Application, body: bytes
    ) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(body, application.client_secrets),
            "User-Agent": USER_AGENT,
        }
        try:
            async with self._session.post(
                channel.callback_url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.delivery_timeout),
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, "timeout"
        except aiohttp.ClientError as exc:
            return None, type(exc).__name__
