"""``status``, ``sync``, ``reconcile``, ``periods`` and ``availability``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TextIO

from cronofy_avail.app.explain import NOTHING_CONFIGURED, hint_for_text, nothing_configured
from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.common import (
    Out,
    Runtime,
    emit,
    local,
    nothing_set_up,
    pairs,
    redact_callback,
    runtime,
    store_missing,
    table,
    zone,
)
from cronofy_avail.cli.inputs import int_range
from cronofy_avail.cli.live import not_syncing, plural, why_not_syncing
from cronofy_avail.core.models import utc_instant
from cronofy_avail.runtime.steps import query_availability, query_start
from cronofy_avail.runtime.store import UserState
from cronofy_avail.runtime.sync import SyncResult

MAX_AVAILABILITY_DAYS = 35


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deliveries", type=int_range(0), default=10, help="how many logged deliveries to list"
    )


def add_sync_arguments(parser: argparse.ArgumentParser, *, full_flag: bool) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show the plan; write nothing to Cronofy"
    )
    if full_flag:
        parser.add_argument(
            "--full", action="store_true", help="a full reconcile instead of an incremental sync"
        )


def add_availability_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=int_range(1, MAX_AVAILABILITY_DAYS),
        default=7,
        help=f"how many days ahead to look, 1 to {MAX_AVAILABILITY_DAYS}",
    )
    parser.add_argument(
        "--minutes", type=int_range(1, 1440), default=30, help="required duration, in minutes"
    )
    parser.add_argument(
        "--unmanaged",
        action="store_true",
        help="ignore the Available Periods (plain free/busy), to compare",
    )
    parser.add_argument(
        "--format",
        choices=("periods", "slots"),
        default="periods",
        dest="response_format",
        help="free periods, or fixed-length slots",
    )


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = int((now - value).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _shown_zone(settings: Settings, stored: str) -> str:
    """The zone times are shown in: CRONOFY_TZID when set, else the user's stored zone."""
    return settings.tzid or stored


def _zone_note(shown: str, stored: str) -> str:
    return shown if shown == stored else f"{shown} (CRONOFY_TZID; the user's zone is {stored})"


def _say_if_nothing_configured(settings: Settings, out: Out) -> None:
    if nothing_configured(settings):
        emit(out)
        emit(out, NOTHING_CONFIGURED[0].upper() + NOTHING_CONFIGURED[1:])


async def run_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The settings (masked), the users in the store and the recent deliveries."""
    if store_missing(settings):
        # Only reading: no store is created (a typo in CRONOFY_AVAIL_DB leaves no stray file).
        emit(out, "Settings (secrets masked)")
        emit(out, pairs(settings.masked().items()))
        _say_if_nothing_configured(settings, out)
        emit(out)
        emit(out, f"No users: {nothing_set_up(settings)}.")
        return 0
    async with runtime(settings, out) as rt:
        emit(rt.out, "Settings (secrets masked)")
        emit(rt.out, pairs(settings.masked().items()))
        _say_if_nothing_configured(settings, rt.out)
        users = await rt.store.list_users()
        now = datetime.now(UTC)
        rows = []
        for user in users:
            rt.remember(user)
            owned = await rt.store.get_periods(user.user_id)
            pending = "full" if user.pending_full else ("yes" if user.pending_since else "no")
            rows.append(
                (
                    user.user_id,
                    user.state,
                    user.calendar_id,
                    user.channel_id,
                    user.tzid,
                    _ago(user.last_sync_at, now),
                    pending,
                    len(owned),
                    user.counts.get("syncs", 0),
                    user.counts.get("failures", 0),
                )
            )
        emit(rt.out)
        if not rows:
            emit(rt.out, f"No users in {settings.db_path}: run `cronofy-avail setup`.")
            return 0
        emit(rt.out, "Users")
        emit(
            rt.out,
            table(
                rows,
                (
                    "user",
                    "state",
                    "sub calendar",
                    "channel",
                    "tz",
                    "last sync",
                    "pending",
                    "periods",
                    "syncs",
                    "failures",
                ),
            ),
        )
        for user in users:
            callback = redact_callback(user.callback_url, user.callback_key)
            emit(
                rt.out,
                f"{user.user_id}: callback "
                + (callback or "none yet (authorized, not set up: run `cronofy-avail setup`)"),
            )
            stopped = why_not_syncing(user)
            if stopped:
                emit(rt.out, f"{user.user_id}: NOT SYNCING: {stopped[0]}")
                emit(rt.out, f"{user.user_id}: fix: {stopped[1]}")
            elif user.last_error:
                hint = hint_for_text(user.last_error, settings)
                emit(rt.out, f"{user.user_id}: last error: {user.last_error}")
                if hint:
                    emit(rt.out, f"{user.user_id}: fix: {hint}")
        deliveries = await rt.store.list_deliveries(max(0, args.deliveries))
        if deliveries:
            emit(rt.out)
            emit(rt.out, "Recent deliveries (replay with `cronofy-avail replay ID`)")
            emit(
                rt.out,
                table(
                    [
                        (
                            d.delivery_id,
                            local(d.received_at, zone("UTC")),
                            d.user_id,
                            d.notification_type,
                            "yes" if d.verified else "no",
                            d.outcome,
                        )
                        for d in deliveries
                    ],
                    ("id", "received (UTC)", "user", "type", "verified", "outcome"),
                ),
            )
    return 0


def _print_result(rt: Runtime, result: SyncResult, tzid: str) -> int:
    out = rt.out
    if result.plan is not None:
        emit(out, result.plan.explain(zone(tzid)))
        emit(out)
    emit(
        out,
        table(
            [
                (
                    result.kind + (" (dry run)" if result.dry_run else ""),
                    result.events_read,
                    result.upserts,
                    result.deletes,
                    result.skips,
                    result.rejected,
                    result.not_applied,
                    result.api_calls,
                    result.state,
                )
            ],
            (
                "sync",
                "events read",
                "upserts",
                "deletes",
                "skips",
                "rejected",
                "not applied",
                "api calls",
                "state",
            ),
        ),
    )
    if result.dry_run and result.ok:
        emit(out, "Dry run: nothing was written to Cronofy or to the store.")
    if result.error:
        emit(out, f"error: {result.error}")
        hint = hint_for_text(result.error, rt.settings)
        if hint:
            emit(out, f"Fix: {hint}.")
    if result.ok and result.rejected:
        return 1
    return 0 if result.ok else 1


async def _run_sync(settings: Settings, out: TextIO, *, full: bool | None, dry_run: bool) -> int:
    settings.require_app()
    async with runtime(settings, out) as rt:
        user = await rt.user()
        if user.credentials is None:
            rt.client_for(user)  # raises the explanation
        if user.state in (UserState.NEEDS_REAUTH, UserState.DISCONNECTED):
            emit(rt.out, f"note: user {user.user_id} is {user.state}; trying anyway")
        coordinator = await rt.system.coordinator(start=False)
        result = await coordinator.sync_now(user.user_id, full=full, dry_run=dry_run)
        if result.busy:
            emit(
                rt.out,
                f"user {user.user_id}: another process is syncing this user (probably "
                "`cronofy-avail serve`); nothing was read or written. It will sync the "
                "changes itself; run this again once it has finished if you still need to.",
            )
            return 1
        code = _print_result(rt, result, user.tzid)
        fresh = await rt.store.get_user(user.user_id)
        stopped = not_syncing(fresh) if fresh is not None else None
        if stopped and not dry_run:
            emit(rt.out, f"note: this sync ran, but the receiver still skips the user: {stopped}")
        return code


async def run_sync(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """An incremental sync (a full one when it is due, or with ``--full``)."""
    return await _run_sync(settings, out, full=True if args.full else None, dry_run=args.dry_run)


async def run_reconcile(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """A full reconcile: every event of the sub calendar against every period."""
    return await _run_sync(settings, out, full=True, dry_run=args.dry_run)


async def run_periods(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The account's Available Periods, marking those this toolkit owns."""
    settings.require_app()
    async with runtime(settings, out) as rt:
        user = await rt.user()
        shown = _shown_zone(settings, user.tzid)
        tz = zone(shown)
        client = rt.client_for(user)
        try:
            periods = await client.list_available_periods(tzid=user.tzid)
        finally:
            await client.close()
        owned = {k.period_id: k for k in (await rt.store.get_periods(user.user_id)).values()}
        rows = sorted(
            (
                (
                    local(utc_instant(p.start), tz),
                    local(utc_instant(p.end), tz),
                    p.available_period_id,
                    "yes" if p.available_period_id in owned else "no",
                )
                for p in periods
            ),
        )
        if rows:
            emit(rt.out, table(rows, ("start", "end", "available_period_id", "owned")))
        mine = sum(1 for r in rows if r[3] == "yes")
        emit(
            rt.out,
            f"{len(rows)} Available Period(s), {mine} owned by this toolkit; times in "
            f"{_zone_note(shown, user.tzid)}.",
        )
        missing = set(owned) - {p.available_period_id for p in periods}
        if missing:
            emit(
                rt.out,
                f"{len(missing)} period(s) the store records are missing at Cronofy: "
                "run `cronofy-avail reconcile`.",
            )
    return 0


async def run_availability(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Step 4: when is the user free, inside their Available Periods (managed availability)?"""
    settings.require_app()
    if not 1 <= args.days <= MAX_AVAILABILITY_DAYS:
        emit(out, f"--days must be between 1 and {MAX_AVAILABILITY_DAYS}")
        return 2
    if args.minutes < 1:
        emit(out, "--minutes must be at least 1")
        return 2
    async with runtime(settings, out) as rt:
        user = await rt.user()
        if not user.sub or not user.calendar_id:
            emit(rt.out, f"user {user.user_id} is not set up: run `cronofy-avail setup`.")
            return 1
        shown = _shown_zone(settings, user.tzid)
        tz = zone(shown)
        start = query_start(datetime.now(UTC))
        end = start + timedelta(days=args.days)
        client = rt.client_for(user)
        try:
            response = await query_availability(
                client,
                sub=user.sub,
                sub_calendar_id=user.calendar_id,
                start=start,
                end=end,
                minutes=args.minutes,
                managed=not args.unmanaged,
                response_format=args.response_format,
            )
        finally:
            await client.close()
        results = response.results
        rows = [
            (
                local(utc_instant(r.start), tz),
                local(utc_instant(r.end), tz),
                f"{int(r.duration.total_seconds() // 60)} min",
            )
            for r in results
        ]
        mode = "plain free/busy" if args.unmanaged else "managed availability"
        if rows:
            emit(rt.out, table(rows, ("start", "end", "length")))
        emit(
            rt.out,
            f"{plural(len(rows), args.response_format.rstrip('s'))} of at least "
            f"{args.minutes} min in the next "
            f"{args.days} day(s) ({mode}); times in {_zone_note(shown, user.tzid)}.",
        )
        if not rows and not args.unmanaged:
            emit(
                rt.out,
                "No availability: add events to the sub calendar, then `cronofy-avail sync`.",
            )
    return 0
