"""``serve``: the webhook receiver for every stored user, until SIGINT/SIGTERM.

:func:`serve` is the core (a test starts it with ``ready``/``stop`` events); :func:`run_serve`
adds signal handling and the interactive question about stale channels.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO

from webhook_server import WebhookConfig, WebhookServer

from ..coordinator import SyncCoordinator
from ..errors import NotFoundError
from ..ngrok import DEFAULT_AGENT_URL
from ..pattern import callback_url_for, create_channel
from ..settings import Settings
from ..store import UserRecord
from ..sync import SyncEngine, SyncResult
from .common import (
    Runtime,
    emit,
    receiver_base,
    redact_callback,
    resolve_public_url,
    runtime,
)
from .errors import CommandError, hint_for_text

Confirm = Callable[[str], Awaitable[bool]]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--public-url", help="public URL that reaches this server (default: ask ngrok)"
    )
    parser.add_argument("--ngrok-api", default=DEFAULT_AGENT_URL, help="ngrok agent local API")
    parser.add_argument(
        "--recreate-channel",
        action="store_true",
        help="recreate channels whose callback URL no longer matches the public URL",
    )


async def _recreate(rt: Runtime, user: UserRecord, callback_url: str) -> UserRecord:
    """Close the user's old channel and create one that calls this server back."""
    assert user.calendar_id is not None
    client = rt.client_for(user)
    try:
        if user.channel_id:
            with contextlib.suppress(NotFoundError):
                await client.close_channel(user.channel_id)
        channel = await create_channel(
            client, callback_url=callback_url, calendar_id=user.calendar_id
        )
    finally:
        await client.close()
    fresh = await rt.store.get_user(user.user_id) or user
    old = fresh.channel_id
    fresh.channel_id = channel.channel_id
    fresh.callback_url = callback_url
    await rt.store.save_user(fresh)
    # Changes may have been missed while the channel pointed elsewhere: converge fully.
    await rt.store.record_intent(
        user.user_id, changes_since=None, full=True, received_at=datetime.now(UTC)
    )
    emit(rt.out, f"{user.user_id}: closed channel {old}, created {channel.channel_id}")
    return fresh


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
) -> int:
    """Serve until ``stop`` is set. ``recreate_channel=None`` asks ``confirm`` per user."""
    settings.require_app()
    stop = stop or asyncio.Event()
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
        engine = SyncEngine(rt.store)
        coordinator = SyncCoordinator(
            rt.store, engine, rt.user_clients().for_user, schedule_every=schedule_every
        )

        def report(user_id: str, result: SyncResult) -> None:
            line = (
                f"sync {user_id}: {result.kind} {'ok' if result.ok else 'FAILED'}, "
                f"{result.upserts} upserts, {result.deletes} deletes, "
                f"{result.api_calls} API calls, state {result.state}"
            )
            emit(rt.out, line)
            if result.error:
                hint = hint_for_text(result.error, settings)
                emit(rt.out, f"  error: {result.error}" + (f"\n  fix: {hint}" if hint else ""))

        coordinator.add_listener(report)
        server = WebhookServer(
            WebhookConfig(
                store=rt.store,
                coordinator=coordinator,
                client_secrets=settings.client_secrets,
                # Started after the channel checks below, so no sync races a channel update.
                own_coordinator=False,
            ),
            host=host,
            port=port,
        )
        try:
            local_url = await server.start()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}).\n"
                "Fix: stop what uses the port or pick another with --port."
            ) from exc
        try:
            emit(rt.out, f"Receiver listening on {local_url}")
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
                await _check_user(rt, user, public, recreate_channel, confirm)
            await coordinator.start()  # resumes pending work (the first reconcile after setup)
            emit(rt.out, "Serving; Ctrl-C stops.")
            if ready is not None:
                ready.set()
            await stop.wait()
        finally:
            emit(rt.out, "Stopping: letting running syncs finish...")
            await server.stop()
            await coordinator.stop()
            emit(rt.out, "Stopped.")
    return 0


async def _check_user(
    rt: Runtime,
    user: UserRecord,
    public: str | None,
    recreate_channel: bool | None,
    confirm: Confirm | None,
) -> None:
    if public is None:
        emit(
            rt.out,
            f"{user.user_id}: channel {user.channel_id} calls back "
            f"{redact_callback(user.callback_url, user.callback_key)}",
        )
        return
    expected = callback_url_for(receiver_base(public), user.callback_key)
    shown = redact_callback(expected, user.callback_key)
    if user.callback_url == expected:
        emit(rt.out, f"{user.user_id}: channel {user.channel_id} calls back {shown} (ok)")
        return
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
            await confirm(f"Recreate {user.user_id}'s channel now? [y/N] ") if confirm else False
        )
    if recreate:
        await _recreate(rt, user, expected)
    else:
        emit(
            rt.out,
            f"{user.user_id}: notifications will not arrive here. Fix: run again with "
            "--recreate-channel (or `cronofy-avail setup --public-url ...`).",
        )


async def _ask(question: str) -> bool:
    answer = await asyncio.to_thread(input, question)
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
            public_url=args.public_url,
            ngrok_api=args.ngrok_api,
            recreate_channel=True if args.recreate_channel else (None if interactive else False),
            confirm=_ask if interactive else None,
            stop=stop,
        )
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
