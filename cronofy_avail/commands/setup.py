"""``setup`` (steps 1 and 2 for a user, with the prerequisite checks) and ``teardown``."""

from __future__ import annotations

import argparse
from typing import TextIO
from urllib.parse import urlsplit

from ..client import CronofyClient
from ..errors import (
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    ReauthorizationRequiredError,
)
from ..models import Account, Calendar, Profile
from ..ngrok import DEFAULT_AGENT_URL
from ..pattern import SUB_CALENDAR_NAME, SetupError, choose_profile, onboard_user
from ..planner import Action, ActionKind, Plan
from ..settings import Settings
from ..sync import PlanRunner
from .common import (
    Out,
    Runtime,
    emit,
    pairs,
    receiver_base,
    redact_callback,
    resolve_public_url,
    runtime,
)
from .errors import REAUTHORIZE, CommandError, data_center_hint

REQUIRED_SCOPES = ("read_events",)
"""Scopes without which the pattern cannot work at all (``create_calendar`` is checked apart:
it is only needed while the sub calendar does not exist yet)."""

CHANNEL_REFUSED = (
    "push notifications need an application (OAuth) token, not a personal token: Cronofy "
    "refused to create the channel."
)


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-url",
        help="public https URL that reaches `cronofy-avail serve` (default: ask the ngrok agent)",
    )
    parser.add_argument("--ngrok-api", default=DEFAULT_AGENT_URL, help="ngrok agent local API")
    parser.add_argument(
        "--port", type=int, default=8080, help="local port `serve` will use (picks the tunnel)"
    )
    parser.add_argument("--profile-id", help="calendar profile for the sub calendar")
    parser.add_argument(
        "--calendar-name", default=SUB_CALENDAR_NAME, help="name of the sub calendar"
    )
    parser.add_argument("--tzid", help="the user's IANA time zone (default: the account's)")


def add_teardown_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delete-calendar",
        action="store_true",
        help="also asks to delete the sub calendar (Cronofy's API cannot: says how instead)",
    )


async def _first_call(client: CronofyClient, settings: Settings) -> Account:
    """``GET /v1/account``: the call where a wrong data center or a dead token shows."""
    try:
        return await client.account()
    except (AuthenticationError, ReauthorizationRequiredError) as exc:
        raise CommandError(
            f"Cronofy did not accept the credentials on the first call "
            f"({type(exc).__name__}, {settings.api_url}).\n"
            f"Fix: {REAUTHORIZE}{data_center_hint(settings)}."
        ) from exc
    except ForbiddenError as exc:
        raise CommandError(
            "Cronofy answered 403 to GET /v1/account: the token lacks the read_account scope.\n"
            "Fix: re-authorize asking for 'read_account list_calendars create_calendar "
            "read_events'."
        ) from exc


def _check_scopes(account: Account, existing: Calendar | None, out: Out) -> None:
    if not account.scope:
        emit(out, "scopes      (not reported by Cronofy; not checked)")
        return
    missing = [s for s in REQUIRED_SCOPES if s not in account.scopes]
    if "create_calendar" not in account.scopes:
        if existing is None:
            missing.insert(0, "create_calendar")
        else:
            emit(out, "note: the token lacks create_calendar; reusing the existing calendar")
    if missing:
        raise SetupError(
            f"the token lacks the {' and '.join(missing)} scope"
            f"{'s' if len(missing) > 1 else ''} (it has: {account.scope}).\n"
            "Fix: authorize the user again asking for "
            "'read_account list_calendars create_calendar read_events'."
        )


async def run_setup(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Steps 1 and 2: choose a profile, find or create the sub calendar, create the channel."""
    settings.require_app()
    settings.require_tokens()
    async with runtime(settings, out) as rt:
        return await _setup(rt, args)


async def _setup(rt: Runtime, args: argparse.Namespace) -> int:
    settings, out = rt.settings, rt.out
    public_url, source = await resolve_public_url(
        args.public_url, agent_url=args.ngrok_api, port=args.port, session=rt.session
    )
    if public_url is None:
        raise CommandError(
            f"no public URL for the callback: {source}.\n"
            f"Fix: start `ngrok http {args.port}` or pass --public-url https://…"
        )
    base = receiver_base(public_url)
    where = (
        "set by CRONOFY_API_BASE_URL"
        if settings.api_base_url
        else f"data center {settings.data_center}"
    )
    client = rt.settings_client()
    account = await _first_call(client, settings)
    profiles = await client.list_profiles()
    profile: Profile = choose_profile(profiles, args.profile_id)
    existing = next(
        (
            c
            for c in await client.list_calendars()
            if c.profile_id == profile.profile_id
            and c.calendar_name == args.calendar_name
            and not c.calendar_deleted
        ),
        None,
    )
    _check_scopes(account, existing, out)
    previous = await rt.store.get_user(settings.user_id)
    if previous is not None:
        rt.remember(previous)
    tzid = args.tzid or settings.tzid or (previous.tzid if previous else None)
    try:
        user, channel = await onboard_user(
            rt.store,
            client,
            user_id=settings.user_id,
            public_base_url=base,
            tzid=tzid,
            profile_id=profile.profile_id,
            calendar_name=args.calendar_name,
        )
    except (AuthenticationError, ForbiddenError) as exc:
        if exc.url and urlsplit(exc.url).path.rstrip("/") == "/v1/channels":
            raise SetupError(
                f"{CHANNEL_REFUSED}\nFix: create an OAuth application in the developer "
                "dashboard and authorize the user through it; use that access token."
            ) from exc
        if isinstance(exc, ForbiddenError) and exc.url and "/v1/calendars" in exc.url:
            raise SetupError(
                "Cronofy refused to create the calendar (403): the token lacks the "
                "create_calendar scope.\nFix: authorize the user again asking for "
                "'read_account list_calendars create_calendar read_events'."
            ) from exc
        raise
    rt.remember(user)
    channel_reused = previous is not None and previous.channel_id == channel.channel_id
    closed_old = None  # onboard_user closed the channel this one replaces
    if previous is not None and previous.channel_id and previous.channel_id != channel.channel_id:
        closed_old = previous.channel_id
    calendar_state = "reused" if existing is not None else "created"
    emit(
        out,
        pairs(
            [
                ("Cronofy API", f"{settings.api_url} ({where})"),
                ("Account", f"{account.account_id} ({account.email or account.name or '-'})"),
                (
                    "Profile",
                    f"{profile.profile_id} {profile.provider_name} {profile.profile_name}"
                    + (f" (1 of {len(profiles)})" if len(profiles) > 1 else ""),
                ),
                ("Sub calendar", f"{user.calendar_id} {args.calendar_name!r} ({calendar_state})"),
                ("Channel", f"{channel.channel_id} ({'reused' if channel_reused else 'created'})"),
                ("Callback URL", redact_callback(user.callback_url, user.callback_key)),
                ("Public URL from", source),
                ("Time zone", user.tzid),
                ("Stored in", f"{settings.db_path} (user {user.user_id})"),
            ]
        ),
    )
    if closed_old:
        emit(out, f"Closed the previous channel {closed_old} (its callback URL changed).")
    if urlsplit(base).scheme != "https" and not settings.api_base_url:
        emit(out, "warning: Cronofy expects an https callback URL; use the https ngrok tunnel.")
    emit(
        out,
        f"Next: run `cronofy-avail serve --port {args.port}` (a first full reconcile runs on "
        "start), or `cronofy-avail reconcile` now.",
    )
    return 0


async def run_teardown(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Close the channel, delete the periods this toolkit owns, forget the user."""
    settings.require_app()
    async with runtime(settings, out) as rt:
        user = await rt.user()
        client = rt.client_for(user)
        try:
            if user.channel_id:
                try:
                    await client.close_channel(user.channel_id)
                    emit(rt.out, f"Closed channel {user.channel_id}.")
                except NotFoundError:
                    emit(rt.out, f"Channel {user.channel_id} was already closed.")
            owned = await rt.store.get_periods(user.user_id)
            actions = tuple(
                Action(ActionKind.DELETE, "teardown", event_uid=k.event_uid, period_id=k.period_id)
                for k in owned.values()
            )
            plan = Plan(actions=actions, previous=owned, target={})
            result = await PlanRunner(client).apply(plan)
            if result.error is not None:
                raise result.error
            if result.rejected:
                failed = "; ".join(f"{a.period_id}: {why}" for a, why in result.rejected[:3])
                raise CommandError(
                    f"{len(result.rejected)} of {len(actions)} periods could not be deleted "
                    f"({failed}); the user is kept so teardown can run again."
                )
            emit(
                rt.out,
                f"Deleted {len(result.applied)} Available Period(s) this toolkit owned "
                "(periods written by anything else were left alone).",
            )
        finally:
            await client.close()
        await rt.store.delete_user(user.user_id)
        emit(rt.out, f"Forgot user {user.user_id!r} in {settings.db_path}.")
        if args.delete_calendar:
            emit(
                rt.out,
                f"NOT deleted: the sub calendar {user.calendar_id}. Cronofy's API has no way to "
                "delete a calendar.\nDelete it yourself in the calendar app (Google Calendar, "
                "Outlook, ...).",
            )
            return 1
        emit(
            rt.out,
            f"The sub calendar {user.calendar_id} is kept (Cronofy's API cannot delete "
            "calendars; remove it in the calendar app if you no longer need it).",
        )
    return 0


__all__ = [
    "add_setup_arguments",
    "add_teardown_arguments",
    "run_setup",
    "run_teardown",
]
