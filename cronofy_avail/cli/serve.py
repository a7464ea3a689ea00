"""``serve``: the webhook receiver for every stored user, until SIGINT/SIGTERM.

:func:`serve` is the core (a test starts it with ``ready``/``stop`` events); :func:`run_serve`
adds signal handling and the interactive question about stale channels.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import urlsplit

from cronofy_avail.app.admin_token import admin_token, admin_token_path, mask
from cronofy_avail.app.explain import CommandError, explain
from cronofy_avail.app.ngrok import DEFAULT_AGENT_URL
from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.common import (
    Runtime,
    emit,
    receiver_base,
    redact_callback,
    require_store,
    resolve_public_url,
    runtime,
)
from cronofy_avail.cli.inputs import port_arg, public_url_arg
from cronofy_avail.cli.live import NotSyncing, announce_deliveries, report_syncs, serving_lock
from cronofy_avail.core.errors import CronofyError, NotFoundError
from cronofy_avail.runtime.steps import callback_url_for, create_channel
from cronofy_avail.runtime.store import UserRecord
from webhook_server import DEFAULT_PREFIX

Confirm = Callable[[str], Awaitable[bool]]

_LOGGER = logging.getLogger(__name__)

CHANNEL_CHECK_PACE = 1.0
"""Seconds between the checks of channels of users not synced yet (about 12 % of Cronofy's
500 requests a minute)."""
_CHECKS_AT_ONCE = 2
CHANNELS_SHOWN = 5
"""Channels described one by one at start-up; beyond them one line counts the rest (at 10,000
users, a line each was 10,000 lines to write and mask before serving)."""


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_arg, default=8080, help="port to listen on")
    parser.add_argument(
        "--public-url",
        type=public_url_arg,
        help="public URL that reaches this server, without the callback path (default: ask "
        "the ngrok agent)",
    )
    parser.add_argument("--ngrok-api", default=DEFAULT_AGENT_URL, help="ngrok agent local API")
    parser.add_argument(
        "--recreate-channel",
        action="store_true",
        help="recreate channels whose callback URL no longer matches the public URL, or that "
        "Cronofy has closed",
    )


def listening(host: str, port: int, local_url: str) -> str:
    """Where the receiver listens, as typed: all interfaces are not only 127.0.0.1."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - describing, not binding
        return (
            f"{host or 'every address'} port {port}, every interface (from this machine: "
            f"http://127.0.0.1:{port}{DEFAULT_PREFIX})"
        )
    return local_url


def _first_line(exc: BaseException) -> str:
    return explain(exc).message.splitlines()[0]


async def _recreate(rt: Runtime, user: UserRecord, callback_url: str) -> UserRecord:
    """Create a channel that calls this server back, then close the user's old one.

    Created first: if creation fails the old channel (and the store naming it) is untouched.
    """
    assert user.calendar_id is not None
    client = rt.client_for(user)
    old = user.channel_id
    closed: str | None = None
    try:
        channel = await create_channel(
            client, callback_url=callback_url, calendar_id=user.calendar_id
        )
        if old and old != channel.channel_id:
            try:
                await client.close_channel(old)
                closed = f"closed channel {old}"
            except NotFoundError:
                closed = f"the old channel {old} was already closed"
            except CronofyError as exc:
                closed = (
                    f"could not close the old channel {old} ({_first_line(exc)}); it keeps "
                    "calling its old URL until Cronofy closes it"
                )
    finally:
        await client.close()
    fresh = await rt.store.get_user(user.user_id) or user
    fresh.channel_id = channel.channel_id
    fresh.callback_url = callback_url
    await rt.store.save_user(fresh)
    # Changes may have been missed while the channel pointed elsewhere: converge fully.
    await rt.store.record_intent(
        user.user_id, changes_since=None, full=True, received_at=datetime.now(UTC)
    )
    emit(
        rt.out,
        f"{user.user_id}: created channel {channel.channel_id}" + (f", {closed}" if closed else ""),
    )
    return fresh


async def _channel_listed(rt: Runtime, user: UserRecord) -> bool | None:
    """Whether Cronofy still lists the user's channel (it closes a channel whose deliveries
    failed for too long); ``None`` when it cannot be asked."""
    if not user.channel_id or user.credentials is None:
        return None
    client = rt.client_for(user)
    try:
        channels = await client.list_channels()
    except CronofyError as exc:
        emit(
            rt.out,
            f"warning: {user.user_id}: cannot check channel {user.channel_id} at Cronofy "
            f"({_first_line(exc)}).",
        )
        return None
    finally:
        await client.close()
    return any(c.channel_id == user.channel_id for c in channels)


async def serve(
    settings: Settings,
    out: TextIO,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    public_url: str | None = None,
    ngrok_api: str = DEFAULT_AGENT_URL,
    recreate_channel: bool | None = False,
    confirm: Confirm | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    schedule_every: float | None = 300.0,
    channel_check_pace: float = CHANNEL_CHECK_PACE,
) -> int:
    """Serve until ``stop`` is set. ``recreate_channel=None`` asks ``confirm`` per user.

    Channels are checked without holding up serving: a stored callback URL that is not this
    server's is handled before serving starts (no call to Cronofy, unless recreating); whether
    Cronofy still lists a channel is asked before the user's first sync here, and for users
    not synced yet one at a time every ``channel_check_pace`` seconds once serving."""
    settings.require_app()
    require_store(settings)  # before the lock: a refused run leaves no file behind
    stop = stop or asyncio.Event()
    # One receiver per SQLite file; on PostgreSQL as many as the load balancer spreads over.
    single = serving_lock(settings.db_path) if settings.db_url is None else contextlib.nullcontext()
    with single:
        return await _serve(
            settings,
            out,
            host=host,
            port=port,
            public_url=public_url,
            ngrok_api=ngrok_api,
            recreate_channel=recreate_channel,
            confirm=confirm,
            ready=ready,
            stop=stop,
            schedule_every=schedule_every,
            channel_check_pace=channel_check_pace,
        )


async def _serve(
    settings: Settings,
    out: TextIO,
    *,
    host: str,
    port: int,
    public_url: str | None,
    ngrok_api: str,
    recreate_channel: bool | None,
    confirm: Confirm | None,
    ready: asyncio.Event | None,
    stop: asyncio.Event,
    schedule_every: float | None,
    channel_check_pace: float,
) -> int:
    async with runtime(settings, out) as rt:
        users = await rt.store.list_users()
        if not users:
            raise CommandError(
                f"no users in {settings.db_path}: nothing to serve.\n"
                "Fix: run `cronofy-avail setup` first."
            )
        for user in users:
            rt.remember(user)
        public, source = await resolve_public_url(
            public_url, agent_url=ngrok_api, port=port, session=rt.session
        )
        checks = ChannelChecks(rt, public, recreate_channel, confirm, stop)
        # In a cluster this receiver records and enqueues, and workers sync (`cronofy-avail
        # worker`): nothing here talks to Cronofy for a notification.
        coordinator = await rt.system.sync_requests(
            schedule_every=schedule_every,
            # Notifications arriving during the checks of callback URLs are recorded (durable
            # intent) and acknowledged, but no sync starts before start().
            hold_until_start=True,
            # Is the channel still listed at Cronofy? Asked before the user's first sync.
            before_sync=checks.before_sync,
        )

        tzids = {user.user_id: user.tzid for user in users}
        coordinator.add_listener(report_syncs(rt.out, settings, tzid_of=tzids.get))
        # Who to read again for a delivery's note; everybody else's delivery only prints.
        not_syncing = NotSyncing(users)
        coordinator.add_listener(not_syncing.synced)
        token = admin_token(settings.db_path)
        assert token is not None
        hosts = {"127.0.0.1", "localhost", "::1", host.lower()}
        if public is not None:
            hosts.add((urlsplit(public).hostname or "").lower())
        try:
            # The coordinator starts after the channel checks below, so no sync races a
            # channel update.
            server = await rt.system.receiver(
                coordinator,
                host=host,
                port=port,
                admin_token=token,
                allowed_hosts=sorted(h for h in hosts if h),
                on_delivery=announce_deliveries(rt.store, rt.out, not_syncing=not_syncing),
            )
            local_url = server.url or ""
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}).\n"
                "Fix: stop what uses the port or pick another with --port."
            ) from exc
        sweep: asyncio.Task[None] | None = None
        try:
            emit(rt.out, f"Receiver listening on {listening(host, server.port, local_url)}")
            emit(
                rt.out,
                f"Admin token {mask(token)} (for /status, /metrics, /deliveries, replay) in "
                f"{admin_token_path(settings.db_path)}",
            )
            if public is None:
                emit(
                    rt.out,
                    f"warning: no public URL ({source}); Cronofy cannot reach this server. "
                    "Start `ngrok http "
                    f"{server.port}` or pass --public-url.",
                )
            else:
                emit(rt.out, f"Public URL {receiver_base(public)} (from {source})")
            for user in users:
                if stop.is_set():
                    break
                await checks.check_url(user)
            checks.summarise()
            del users  # not kept for the whole run: 10,000 records for every GC to walk
            if stop.is_set():
                emit(rt.out, "Stop requested before serving started.")
                return 0
            await coordinator.start()  # resumes pending work (the first reconcile after setup)
            if settings.db_url is not None:
                emit(rt.out, f"Receiving for the workers on {settings.db_label}.")
            emit(rt.out, "Serving; Ctrl-C stops.")
            sweep = asyncio.create_task(checks.sweep(channel_check_pace))
            if ready is not None:
                ready.set()
            await stop.wait()
        finally:
            if sweep is not None:
                sweep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweep
            emit(rt.out, "Stopping: letting running syncs finish...")
            await server.stop()
            await coordinator.stop()
            emit(rt.out, "Stopped.")
    return 0


class ChannelChecks:
    """``serve``'s channel checks, each costing only what is needed.

    * Whether the stored callback URL is this server's needs no call: :meth:`check_url`, for
      every user before serving; a channel pointing elsewhere is reported (or recreated, or
      asked about) there, as before.
    * Whether Cronofy still lists the channel (it closes one whose deliveries failed too long)
      costs a call per user: :meth:`before_sync` asks it once per user in this process, just
      before the user's first sync, and :meth:`sweep` for the users not synced yet, one at a
      time at a gentle pace. Nothing waits for all of them: at 10,000 users that was minutes
      of the whole rate limit before the first sync.

    Notifications arriving meanwhile are recorded and acknowledged as always (durable intent).
    """

    def __init__(
        self,
        rt: Runtime,
        public: str | None,
        recreate_channel: bool | None,
        confirm: Confirm | None,
        stop: asyncio.Event,
    ) -> None:
        self.rt = rt
        self.public = public
        self.recreate_channel = recreate_channel
        self.confirm = confirm
        self.stop = stop
        self._unchecked: dict[str, None] = {}
        """Users whose channel Cronofy has not been asked about yet, in the order served."""
        self._running: dict[str, asyncio.Future[None]] = {}
        self._at_once = asyncio.Semaphore(_CHECKS_AT_ONCE)
        self.asked = 0
        """Channel checks made at Cronofy (tests)."""
        self._shown = 0
        self._not_shown = 0

    def _describe(self, line: str) -> None:
        """A channel that needs nothing now: one line for each of the first few, then only
        counted (:meth:`summarise`)."""
        if self._shown < CHANNELS_SHOWN:
            self._shown += 1
            emit(self.rt.out, line)
        else:
            self._not_shown += 1

    def summarise(self) -> None:
        """One line for the channels :meth:`_describe` did not show."""
        if self._not_shown:
            where = "this server" if self.public is not None else "their stored URLs"
            emit(
                self.rt.out,
                f"... and {self._not_shown:,} more users' channels calling back {where}, not "
                "listed one by one (`cronofy-avail status` lists the users)",
            )
            self._not_shown = 0

    async def check_url(self, user: UserRecord) -> None:
        """Before serving, without calling Cronofy: is the stored callback URL this server's?"""
        rt, public = self.rt, self.public
        shown = redact_callback(user.callback_url, user.callback_key)
        if public is None:
            self._describe(f"{user.user_id}: channel {user.channel_id} calls back {shown}")
            self._unchecked[user.user_id] = None
            return
        expected = callback_url_for(receiver_base(public), user.callback_key)
        if user.callback_url == expected:
            self._describe(
                f"{user.user_id}: channel {user.channel_id} calls back {shown} (this server; "
                "Cronofy is asked whether it still lists it before the first sync)",
            )
            self._unchecked[user.user_id] = None
            return
        # Pointing elsewhere: reported (recreated, or asked about) now, as before serving.
        await _check_user(
            rt, user, public, self.recreate_channel, self.confirm, self.stop, listed=None
        )

    async def before_sync(self, user_id: str) -> None:
        """Ask Cronofy about the user's channel if not asked yet in this process (once; a
        second caller waits for the same check).

        The first caller runs the check itself (no task of its own): at 10,000 users waiting
        for their first sync, a task, a context and a record each were 10,000 more objects
        for every garbage collection to walk while acks were served."""
        checking = self._running.get(user_id)
        if checking is not None:
            await asyncio.shield(checking)
            return
        if user_id not in self._unchecked:
            return
        del self._unchecked[user_id]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._running[user_id] = done
        try:
            await self._check_listed(user_id)
        finally:
            del self._running[user_id]
            done.set_result(None)  # what the check raised is its first caller's to report

    async def sweep(self, pace: float) -> None:
        """Check the users not synced yet, one every ``pace`` seconds, until none is left."""
        while self._unchecked and not self.stop.is_set():
            await asyncio.sleep(pace)
            if self._unchecked:
                try:
                    await self.before_sync(next(iter(self._unchecked)))
                except Exception:  # a store error: the next one may work
                    emit(self.rt.out, "warning: a channel check failed; see the server log.")
                    _LOGGER.exception("channel check failed")

    async def _check_listed(self, user_id: str) -> None:
        rt, public = self.rt, self.public
        async with self._at_once:
            # Read when its turn comes (fresh, and no record held while waiting).
            user = await rt.store.get_user(user_id)
            if user is None or not user.channel_id or user.credentials is None:
                return
            self.asked += 1
            listed = await _channel_listed(rt, user)
        if listed is None:
            return  # could not ask: warned
        if public is None:
            if listed is False:
                emit(
                    rt.out,
                    f"{_closed_warning(user)} until `cronofy-avail setup` or "
                    "`serve --recreate-channel` (with a public URL) creates a new one.",
                )
            return
        if listed:
            shown = redact_callback(user.callback_url, user.callback_key)
            emit(rt.out, f"{user.user_id}: channel {user.channel_id} calls back {shown} (ok)")
            return
        await _check_user(
            rt, user, public, self.recreate_channel, self.confirm, self.stop, listed=False
        )


def _closed_warning(user: UserRecord) -> str:
    return (
        f"warning: {user.user_id}: Cronofy no longer lists channel {user.channel_id}: it was "
        "closed (Cronofy closes a channel whose deliveries keep failing); no notification "
        "will arrive"
    )


async def _check_user(
    rt: Runtime,
    user: UserRecord,
    public: str,
    recreate_channel: bool | None,
    confirm: Confirm | None,
    stop: asyncio.Event,
    *,
    listed: bool | None,
) -> None:
    """Report (and fix, if asked) a channel that is not this server's (``listed``: ``None``,
    Cronofy was not asked) or that Cronofy closed (``listed=False``)."""
    expected = callback_url_for(receiver_base(public), user.callback_key)
    shown = redact_callback(expected, user.callback_key)
    if listed is False:
        emit(rt.out, f"{_closed_warning(user)}.")
    else:
        emit(
            rt.out,
            f"warning: {user.user_id}: channel {user.channel_id} calls back "
            f"{redact_callback(user.callback_url, user.callback_key)}, not this server's "
            f"{shown} (ngrok URLs change on every run).",
        )
    if not user.calendar_id or user.credentials is None:
        emit(rt.out, f"{user.user_id}: not set up completely: run `cronofy-avail setup`.")
        return
    recreate = recreate_channel
    if recreate is None:
        recreate = (
            await _confirm_or_stop(confirm, f"Recreate {user.user_id}'s channel now? [y/N] ", stop)
            if confirm
            else False
        )
        if stop.is_set():
            return
    if recreate:
        try:
            await _recreate(rt, user, expected)
        except CronofyError as exc:
            emit(
                rt.out,
                f"warning: {user.user_id}: could not create a new channel "
                f"({_first_line(exc)}); channel {user.channel_id} is kept as it was. Fix: "
                "run `cronofy-avail setup` (it explains the cause) or serve again with "
                "--recreate-channel.",
            )
    else:
        emit(
            rt.out,
            f"{user.user_id}: no notification will arrive here until `cronofy-avail setup` "
            "creates a new channel. Fix: run again with --recreate-channel (or "
            "`cronofy-avail setup --public-url ...`).",
        )


async def _confirm_or_stop(confirm: Confirm, question: str, stop: asyncio.Event) -> bool:
    """``confirm(question)``, unless ``stop`` is set first (Ctrl-C at the prompt): then no."""
    asking = asyncio.ensure_future(confirm(question))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({asking, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if asking.done() and not stop.is_set():
        return asking.result()
    asking.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asking
    return False


def _input_in_daemon_thread(question: str) -> asyncio.Future[str]:
    """``input(question)`` in a daemon thread: a pending prompt never holds up the exit
    (the default executor's threads are joined when the loop closes)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value or "")

    def read() -> None:
        try:
            value: str | None = input(question)
            error: BaseException | None = None
        except BaseException as exc:  # EOF or a closed stdin: answered "no"
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=read, name="cronofy-avail-prompt", daemon=True).start()
    return answer


async def _ask(question: str) -> bool:
    try:
        answer = await _input_in_daemon_thread(question)
    except (EOFError, OSError):
        return False
    return answer.strip().lower() in ("y", "yes")


async def run_serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not supported here: Ctrl-C still interrupts
    interactive = sys.stdin is not None and sys.stdin.isatty()
    try:
        return await serve(
            settings,
            out,
            host=args.host,
            port=args.port,
            public_url=args.public_url or settings.public_url,
            ngrok_api=args.ngrok_api,
            recreate_channel=True if args.recreate_channel else (None if interactive else False),
            confirm=_ask if interactive else None,
            stop=stop,
        )
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
