"""``cronofy-avail event add|move|delete|list``: play the user against the emulator.

The user's events live in their calendar app; the emulator stands in for it through its control
API (``/_emulator``, :class:`~cronofy_avail.emulator.control_client.EmulatorControl`). These
commands change the stored user's sub calendar there, as the user would, so the emulator sends
the change notification a real calendar would cause. Times are wall-clock times in the user's
time zone. Against real Cronofy there is no such API: add events in the calendar app.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import aiohttp

from cronofy_avail.app.explain import (
    EXIT_CONFIG,
    NOTHING_CONFIGURED,
    CommandError,
    hint_for_text,
    nothing_configured,
)
from cronofy_avail.app.settings import ENV_API_BASE_URL, Settings
from cronofy_avail.cli.common import Runtime, emit, local, runtime, span, table, zone
from cronofy_avail.cli.live import not_syncing, receiver_running
from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.models import parse_time
from cronofy_avail.emulator.control_client import EmulatorControl, EmulatorControlError
from cronofy_avail.runtime.store import UserRecord, UserState

WAIT_SECONDS = 30.0
HORIZON = MappingPolicy().horizon or timedelta(days=201)
_RELATIVE = re.compile(r"^\+(\d+)$")
MAX_DAYS_AHEAD = 999
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def day_arg(value: str) -> str:
    """argparse type: ``today``, ``tomorrow``, ``+N`` (days from today) or ``YYYY-MM-DD``."""
    text = value.strip().lower()
    relative = _RELATIVE.match(text)
    if relative and int(relative.group(1)) > MAX_DAYS_AHEAD:
        raise argparse.ArgumentTypeError(
            f"{value!r} is too far ahead: +N takes at most +{MAX_DAYS_AHEAD} days (give a date "
            "such as 2029-08-28 for later)"
        )
    if text in ("today", "tomorrow") or relative:
        return text
    try:
        date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a day; use today, tomorrow, +N (N days from today) or a date "
            "such as 2026-12-02"
        ) from None
    return text


def clock_arg(value: str) -> time:
    """argparse type: a wall-clock time ``HH:MM``."""
    found = _CLOCK.match(value.strip())
    if found:
        hour, minute = int(found.group(1)), int(found.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise argparse.ArgumentTypeError(f"{value!r} is not a time of day such as 09:00 or 17:30")


def summary_arg(value: str) -> str:
    """argparse type: an event title that is not blank."""
    if not value.strip():
        raise argparse.ArgumentTypeError(
            "the summary is empty; give the event a title (default: Available)"
        )
    return value


def resolve_day(text: str, tz: ZoneInfo, now: datetime | None = None) -> date:
    """The day ``text`` names in the user's zone ``tz`` (today there, not in UTC)."""
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    relative = _RELATIVE.match(text)
    if relative:
        return today + timedelta(days=int(relative.group(1)))
    return date.fromisoformat(text)


def _add_when(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    parser.add_argument(
        "--date",
        type=day_arg,
        default="tomorrow" if defaults else None,
        help="the day: today, tomorrow, +N (days from today) or YYYY-MM-DD"
        + (" (default: tomorrow)" if defaults else ""),
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=clock_arg,
        default=time(9) if defaults else None,
        help="start, HH:MM in the user's time zone" + (" (default: 09:00)" if defaults else ""),
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=clock_arg,
        default=time(12) if defaults else None,
        help="end, HH:MM in the user's time zone (00:00: the midnight ending the day)"
        + (" (default: 12:00)" if defaults else ""),
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the notification is delivered and the running receiver synced it",
    )


def add_event_arguments(parser: argparse.ArgumentParser, action: str) -> None:
    if action == "add":
        _add_when(parser, defaults=True)
        parser.add_argument(
            "--summary", type=summary_arg, default="Available", help="the event's title"
        )
        parser.add_argument(
            "--all-day", action="store_true", help="an all-day event on --date (no times)"
        )
    elif action == "move":
        parser.add_argument("event_uid", help="the event's uid (from `cronofy-avail event list`)")
        _add_when(parser, defaults=False)
    elif action == "delete":
        parser.add_argument("event_uid", help="the event's uid (from `cronofy-avail event list`)")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait until the notification is delivered and the running receiver synced it",
        )


def _emulator_base(settings: Settings) -> str:
    base = settings.api_base_url
    if not base and nothing_configured(settings):
        raise CommandError(NOTHING_CONFIGURED, EXIT_CONFIG)
    if not base:
        raise CommandError(
            f"`event` acts as the user in the local emulator, and {ENV_API_BASE_URL} is not "
            "set (so the commands talk to Cronofy itself).\nFix: against Cronofy, add events "
            "to the sub calendar in your calendar app; to try the emulator, run "
            "`cronofy-avail dev` and use this command from the same directory."
        )
    return base


def _control(rt: Runtime) -> EmulatorControl:
    return EmulatorControl(_emulator_base(rt.settings), rt.session)


async def _call(rt: Runtime, what: str, call: Any) -> Any:
    base = rt.settings.api_base_url
    try:
        return await call
    except EmulatorControlError as exc:
        if exc.status == 404 and what != "event":
            raise CommandError(
                f"{base} has no emulator control API (/_emulator answered 404).\n"
                f"Fix: point {ENV_API_BASE_URL} at `cronofy-avail dev` or "
                "`cronofy-avail emulator` (started without --no-control-api)."
            ) from exc
        if exc.status == 404:
            raise CommandError(
                "the emulator has no such event (or the emulator was restarted and forgot it).\n"
                "Fix: list the events with `cronofy-avail event list`."
            ) from exc
        raise CommandError(f"the emulator refused: {exc.body}") from exc
    except aiohttp.ClientError as exc:
        raise CommandError(
            f"cannot reach the emulator at {base} ({ENV_API_BASE_URL}).\n"
            "Fix: start it (`cronofy-avail dev`) or correct the URL."
        ) from exc


async def _user(rt: Runtime, control: EmulatorControl) -> UserRecord:
    user = await rt.user()
    if not user.calendar_id:
        raise CommandError(
            f"user {user.user_id!r} has no sub calendar yet.\nFix: run `cronofy-avail setup`."
        )
    accounts = await _call(rt, "accounts", control.accounts())
    if user.sub and all(a.get("account_id") != user.sub for a in accounts):
        raise CommandError(
            f"the emulator at {rt.settings.api_base_url} does not know user {user.user_id!r}'s "
            f"account {user.sub}: it was restarted (an emulator forgets everything when it "
            "stops).\nFix: run `cronofy-avail setup` again (it replaces the stale user)."
        )
    return user


def _when(args: argparse.Namespace, tzid: str, *, fallback: dict[str, Any] | None) -> Any:
    tz = ZoneInfo(tzid)
    if fallback is not None:
        old_start = parse_time(str(fallback["start"])).astimezone(tz)
        old_end = parse_time(str(fallback["end"])).astimezone(tz)
        day = resolve_day(args.date, tz) if args.date else old_start.date()
        start_t = args.start or old_start.time()
        end_t = args.end or old_end.time()
    else:
        day = resolve_day(args.date, tz)
        start_t, end_t = args.start, args.end
    start = datetime.combine(day, start_t, tz)
    end = datetime.combine(day, end_t, tz)
    if end_t == time(0) and start_t != time(0):
        end = datetime.combine(day + timedelta(days=1), end_t, tz)  # the midnight ending the day
    if end == start:
        raise CommandError(
            f"the event would last no time (from {start_t.strftime('%H:%M')} to "
            f"{end_t.strftime('%H:%M')}).\nFix: give --to a later time than --from."
        )
    if end < start:
        raise CommandError(
            f"the event would end ({end_t.strftime('%H:%M')}) before it starts "
            f"({start_t.strftime('%H:%M')}).\nFix: give --to a later time than --from."
        )
    utc = "%Y-%m-%dT%H:%M:%SZ"
    return start.astimezone(UTC).strftime(utc), end.astimezone(UTC).strftime(utc)


def _describe(event: dict[str, Any], tzid: str) -> str:
    tz = zone(tzid)
    start, end = str(event["start"]), str(event["end"])
    if len(start) == 10:
        when = f"{start} (all day)"
    else:
        when = span(parse_time(start), parse_time(end), tz)
    return f"{event['event_uid']} {event.get('summary', '')!r} {when} ({tzid})"


async def _wait(rt: Runtime, control: EmulatorControl, user: UserRecord, before: int) -> None:
    """Until the emulator delivered every notification and the receiver synced this user; at
    once, with the reason, when the receiver will not sync it (disconnected, grant refused) or
    its sync failed."""
    if receiver_running(rt.settings.db_path) is None:
        emit(
            rt.out,
            "note: no receiver serves this store, so nothing syncs the change; run "
            "`cronofy-avail dev` (or `serve`), or `cronofy-avail sync` now.",
        )
        return
    stopped = not_syncing(user)
    if stopped:
        raise CommandError(f"the change is made, but the receiver will not sync it: {stopped}.")
    failures = user.counts.get("failures", 0)
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            if not await control.wait_notifications(WAIT_SECONDS):
                raise TimeoutError
            while True:
                fresh = await rt.store.get_user(user.user_id)
                if fresh is None:
                    return
                stopped = not_syncing(fresh)
                if stopped:
                    raise CommandError(f"the receiver's sync of the change failed: {stopped}.")
                if fresh.state == UserState.FAILED and fresh.counts.get("failures", 0) > failures:
                    hint = hint_for_text(fresh.last_error, rt.settings)
                    raise CommandError(
                        f"the receiver's sync of the change failed: {fresh.last_error}."
                        + (f"\nFix: {hint}." if hint else "")
                    )
                synced = fresh.counts.get("syncs", 0) > before
                if synced and not fresh.pending_since and not fresh.pending_full:
                    emit(rt.out, f"Synced: state {fresh.state}.")
                    return
                await asyncio.sleep(0.1)  # polling the store another process writes
    except TimeoutError:
        raise CommandError(
            f"no sync of user {user.user_id!r} within {WAIT_SECONDS:g}s after the change.\n"
            "Fix: look at the receiver's output (`cronofy-avail dev` or `serve`), or run "
            "`cronofy-avail sync`."
        ) from None


async def run_event(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    _emulator_base(settings)  # the first thing wrong, before the store
    async with runtime(settings, out) as rt:
        control = _control(rt)
        user = await _user(rt, control)
        assert user.calendar_id is not None
        before = user.counts.get("syncs", 0)
        action = args.event_action
        if action == "list":
            events = await _call(rt, "calendar", control.calendar_events(user.calendar_id))
            live = [e for e in events if not e.get("deleted")]
            tz = zone(user.tzid)
            rows = []
            for e in live:
                start, end = str(e["start"]), str(e["end"])
                timed = len(start) > 10
                rows.append(
                    (
                        e["event_uid"],
                        e.get("summary", ""),
                        local(parse_time(start), tz) if timed else start,
                        local(parse_time(end), tz) if timed else end,
                    )
                )
            if rows:
                emit(
                    rt.out,
                    table(sorted(rows, key=lambda r: r[2]), ("uid", "summary", "start", "end")),
                )
            emit(
                rt.out,
                f"{len(rows)} event(s) in the sub calendar {user.calendar_id}; times in "
                f"{user.tzid}.",
            )
            return 0
        if action == "add":
            spec: dict[str, Any] = {"summary": args.summary}
            if args.all_day:
                day = resolve_day(args.date, ZoneInfo(user.tzid))
                spec.update(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat())
            else:
                spec["start"], spec["end"] = _when(args, user.tzid, fallback=None)
            event = await _call(rt, "calendar", control.add_event(user.calendar_id, **spec))
            emit(rt.out, f"Added {_describe(event, user.tzid)} to the sub calendar.")
            _warn_no_period(rt, event, user.tzid)
        elif action == "move":
            if args.date is None and args.start is None and args.end is None:
                raise CommandError(
                    f"nothing to move: say where {args.event_uid} goes.\nFix: give --date, "
                    "--from and/or --to (what is left out stays as it is)."
                )
            current = await _find(rt, control, user, args.event_uid)
            start, end = _when(args, user.tzid, fallback=current)
            event = await _call(rt, "event", control.move_event(args.event_uid, start, end))
            emit(rt.out, f"Moved {_describe(event, user.tzid)}.")
            _warn_no_period(rt, event, user.tzid)
        else:
            events = await _call(rt, "calendar", control.calendar_events(user.calendar_id))
            if any(e.get("event_uid") == args.event_uid and e.get("deleted") for e in events):
                # Cronofy's delete is idempotent: nothing changes, no notification follows.
                emit(
                    rt.out,
                    f"Event {args.event_uid} was already deleted: nothing changed, so no "
                    "notification follows and there is nothing to wait for.",
                )
                return 0
            event = await _call(rt, "event", control.delete_event(args.event_uid))
            emit(rt.out, f"Deleted {event['event_uid']} {event.get('summary', '')!r}.")
        if args.wait:
            await _wait(rt, control, user, before)
        else:
            emit(
                rt.out,
                "The emulator notifies the receiver in about a second; then "
                "`cronofy-avail periods` shows the result.",
            )
    return 0


def _warn_no_period(rt: Runtime, event: dict[str, Any], tzid: str) -> None:
    """Say so when the event can make no Available Period (the sync would skip it)."""
    tz = zone(tzid)
    start, end = str(event["start"]), str(event["end"])
    if len(end) == 10:  # all day: ends at midnight (user's zone) after its last day
        end_at = datetime.combine(date.fromisoformat(end), time(0), tz)
        start_at = datetime.combine(date.fromisoformat(start), time(0), tz)
    else:
        end_at, start_at = parse_time(end), parse_time(start)
    now = datetime.now(UTC)
    if end_at <= now:
        emit(
            rt.out,
            f"warning: this event ended already ({local(end_at, tz)} {tzid}): no Available "
            "Period is made for the past, so `periods` will not show it.",
        )
    elif start_at > now + HORIZON:
        emit(
            rt.out,
            f"warning: this event starts more than {HORIZON.days} days ahead, beyond the "
            "window Cronofy syncs: it becomes an Available Period once it comes within "
            f"{HORIZON.days} days.",
        )


async def _find(
    rt: Runtime, control: EmulatorControl, user: UserRecord, event_uid: str
) -> dict[str, Any]:
    assert user.calendar_id is not None
    events = await _call(rt, "calendar", control.calendar_events(user.calendar_id))
    for event in events:
        if event.get("event_uid") == event_uid and not event.get("deleted"):
            return dict(event)
    raise CommandError(
        f"no event {event_uid!r} in the sub calendar {user.calendar_id}.\n"
        "Fix: list them with `cronofy-avail event list`."
    )


__all__ = ["add_event_arguments", "clock_arg", "day_arg", "run_event"]
