"""``setup`` (steps 1 and 2 for a user, with the prerequisite checks) and ``teardown``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO
from urllib.parse import urlsplit

import aiohttp

from cronofy_avail.app.explain import (
    INVALID_CLIENT,
    REAUTHORIZE,
    CommandError,
    data_center_hint,
    hint_for_text,
    is_invalid_client,
)
from cronofy_avail.app.inputs import InputError, check_tzid
from cronofy_avail.app.ngrok import DEFAULT_AGENT_URL
from cronofy_avail.app.settings import ENV_PUBLIC_URL, Settings
from cronofy_avail.cli.common import (
    Out,
    Runtime,
    credentials_of,
    emit,
    nothing_set_up,
    pairs,
    receiver_base,
    redact_callback,
    resolve_public_url,
    runtime,
    store_missing,
)
from cronofy_avail.cli.emulated import emulator_forgot
from cronofy_avail.cli.inputs import public_url_arg, tunnel_port_arg, tzid_arg
from cronofy_avail.cli.live import receiver_running, sync_line
from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import (
    AuthenticationError,
    CronofyAPIError,
    ForbiddenError,
    NotFoundError,
    OAuthError,
    ReauthorizationRequiredError,
)
from cronofy_avail.core.models import Account, Calendar, Profile
from cronofy_avail.core.planner import Action, ActionKind, Plan
from cronofy_avail.runtime.steps import (
    SUB_CALENDAR_COLOR,
    SUB_CALENDAR_NAME,
    SetupError,
    choose_profile,
    onboard_user,
)
from cronofy_avail.runtime.store import UserRecord
from cronofy_avail.runtime.sync import PlanRunner

REQUIRED_SCOPES = ("read_events",)
"""Scopes without which the pattern cannot work at all (``create_calendar`` is checked apart:
it is only needed while the sub calendar does not exist yet)."""

PERIOD_IDS_SHOWN = 10

CHANNEL_REFUSED = (
    "push notifications need an application (OAuth) token, not a personal token: Cronofy "
    "refused to create the channel."
)


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-url",
        type=public_url_arg,
        help="public https URL that reaches `cronofy-avail serve`, without the callback path "
        "(default: ask the ngrok agent)",
    )
    parser.add_argument("--ngrok-api", default=DEFAULT_AGENT_URL, help="ngrok agent local API")
    parser.add_argument(
        "--port",
        type=tunnel_port_arg,
        default=8080,
        help="local port `serve` will use (picks the tunnel)",
    )
    parser.add_argument("--profile-id", help="calendar profile for the sub calendar")
    parser.add_argument(
        "--calendar-name", default=SUB_CALENDAR_NAME, help="name of the sub calendar"
    )
    parser.add_argument(
        "--tzid", type=tzid_arg, help="the user's IANA time zone (default: the account's)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a stored user that belongs to another Cronofy account (its channel and "
        "periods stay at that account)",
    )


def add_teardown_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delete-calendar",
        action="store_true",
        help="also asks to delete the sub calendar (Cronofy's API cannot: says how instead)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="only forget the user in the store, without calling Cronofy (when the grant was "
        "revoked); says what is left at Cronofy",
    )


def _why_refused(exc: Exception) -> str:
    """What Cronofy said, in its own words (never a Python class name)."""
    if isinstance(exc, ReauthorizationRequiredError):
        return exc.message
    return "401: the access token was not recognised"


def _refused(exc: Exception, settings: Settings, *, tried: str = "") -> CommandError:
    # A wrong data center answers 401 to a valid access token; a refused refresh token
    # (invalid_grant) is revoked or already used, whatever the data center.
    hint = data_center_hint(settings) if isinstance(exc, AuthenticationError) else ""
    return CommandError(
        f"Cronofy did not accept the credentials on the first call "
        f"({_why_refused(exc)}; {settings.api_url}){tried}.\n"
        f"Fix: {REAUTHORIZE}{hint}."
    )


async def _verify(client: CronofyClient) -> Account:
    """One refresh grant when a refresh token is there (it proves the client id and secret,
    which nothing else in ``setup`` uses, and yields ``expires_at``), then ``GET /v1/account``:
    the call where a wrong data center or a dead token shows."""
    tokens = client.tokens
    if tokens is not None and tokens.refresh_token:
        try:
            await client.refresh_access_token()
        except OAuthError as exc:
            if is_invalid_client(exc.message):
                raise CommandError(
                    f"Cronofy refused the application's credentials ({exc.message}): every "
                    "notification would then be rejected as wrongly signed.\n"
                    f"Fix: {INVALID_CLIENT}."
                ) from exc
            raise
    return await _first_call(client)


async def _first_call(client: CronofyClient) -> Account:
    try:
        return await client.account()
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
    async with runtime(settings, out, store="create") as rt:
        return await _setup(rt, args)


async def _setup(rt: Runtime, args: argparse.Namespace) -> int:
    settings, out = rt.settings, rt.out
    if not settings.access_token and not settings.refresh_token:
        stored = await rt.store.get_user(settings.user_id)
        if stored is None or stored.credentials is None:
            settings.require_tokens()  # raises: says where tokens come from
    given = args.public_url or settings.public_url
    public_url, source = await resolve_public_url(
        given, agent_url=args.ngrok_api, port=args.port, session=rt.session
    )
    if given and not args.public_url:
        source = ENV_PUBLIC_URL
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
    previous = await rt.store.get_user(settings.user_id)
    if previous is not None:
        rt.remember(previous)
    client, account = await _working_client(rt, previous)
    if (
        previous is not None
        and previous.sub
        and previous.sub != account.account_id
        and await emulator_forgot(rt.session, settings.api_base_url, previous.sub)
    ):
        emit(
            out,
            f"note: the emulator at {settings.api_base_url} no longer knows account "
            f"{previous.sub} of the stored user {previous.user_id!r}: it was restarted (an "
            "emulator forgets everything when it stops). Replacing the stale user.",
        )
        await forget_locally(rt, previous, reason="its emulator account is gone")
        previous = None
    if previous is not None and previous.sub and previous.sub != account.account_id:
        if not args.force:
            raise CommandError(
                f"user {previous.user_id!r} in {settings.db_path} belongs to Cronofy account "
                f"{previous.sub}, but these tokens are for {account.account_id}.\n"
                f"Fix: run `cronofy-avail teardown` with account {previous.sub}'s tokens first "
                "(`teardown --local` if its grant is gone), or pass --user with another user "
                "id; --force replaces the stored user (its channel and periods stay at "
                f"{previous.sub})."
            )
        await forget_locally(rt, previous, reason="replaced with --force")
        previous = None
    elif previous is not None and previous.sub == account.account_id:
        # The tokens that work replace the stored ones now: a rotated refresh token must not
        # be lost if a later step fails.
        working = credentials_of(client)
        if working is not None and working.refresh_token:
            await rt.store.save_credentials(previous.user_id, working)
    kept_refresh = (  # the stored refresh token of this same account, if any
        previous.credentials.refresh_token
        if previous is not None
        and previous.credentials is not None
        and previous.sub == account.account_id
        else None
    )
    previous_active = False
    if previous is not None and previous.channel_id:
        previous_active = any(
            c.channel_id == previous.channel_id for c in await client.list_channels()
        )
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
    kept_tzid = previous.tzid if previous else None
    if kept_tzid is not None:
        try:
            check_tzid(kept_tzid)
        except InputError as exc:
            # Stored by an older version that did not check: say so, use the account's.
            emit(out, f"note: the stored time zone is dropped: {exc}")
            kept_tzid = None
    tzid = args.tzid or settings.tzid or kept_tzid
    try:
        calendar = existing
        if calendar is None:  # created here: the lists were read a moment ago
            calendar = await _create_calendar(client, profile.profile_id, args.calendar_name)
        user, channel = await onboard_user(
            rt.store,
            client,
            user_id=settings.user_id,
            public_base_url=base,
            tzid=tzid,
            profile_id=profile.profile_id,
            calendar_name=args.calendar_name,
            account=account,
            calendar=calendar,
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
    # What is stored are the tokens that worked last (a refresh during onboarding rotates them).
    working = credentials_of(client)
    if working is not None and working.refresh_token is None and kept_refresh is not None:
        # Only an access token was configured: keep the stored refresh token of this account.
        working = dataclasses.replace(working, refresh_token=kept_refresh)
    if working is not None and working != user.credentials:
        await rt.store.save_credentials(user.user_id, working)
        user.credentials = working
    rt.remember(user)
    channel_reused = previous is not None and previous.channel_id == channel.channel_id
    replaced = None  # onboard_user closed the channel this one replaces (if still open)
    if previous is not None and previous.channel_id and previous.channel_id != channel.channel_id:
        replaced = previous.channel_id
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
    if replaced and previous_active:
        emit(out, f"Closed the previous channel {replaced} (its callback URL changed).")
    elif replaced:
        emit(out, f"The previous channel {replaced} was already closed at Cronofy.")
    if urlsplit(base).scheme != "https" and not settings.api_base_url:
        emit(out, "warning: Cronofy expects an https callback URL; use the https ngrok tunnel.")
    running = receiver_running(settings.db_path)
    if running is not None:
        if await _answers(rt, base):
            emit(
                out,
                f"A receiver (process {running}) serves this store at {base}: each change to "
                "the sub calendar now becomes an Available Period as its notification arrives.",
            )
        else:
            emit(
                out,
                f"warning: a receiver (process {running}) serves this store, but nothing "
                f"answers at {base} (GET {base}/health): the new channel's notifications will "
                "not reach it.\nFix: restart `cronofy-avail serve` where that URL leads (e.g. "
                f"`cronofy-avail serve --port PORT --public-url {public_url}`), or run setup "
                "again with --public-url set to the running receiver's URL.",
            )
        # The running receiver does not see the full reconcile this new channel asks for (it
        # only looks for pending work when it starts): run it here, now.
        await _first_reconcile(rt, user)
        return 0
    serve_options = f"--port {args.port}"
    if source == "--public-url":
        serve_options += f" --public-url {public_url}"
    if existing is None:
        emit(out, f"Next: run `cronofy-avail serve {serve_options}`.")
    else:
        emit(
            out,
            f"Next: run `cronofy-avail serve {serve_options}` (a first full reconcile of the "
            "events already in the sub calendar runs on start), or `cronofy-avail reconcile` "
            "now.",
        )
    return 0


async def _answers(rt: Runtime, base: str) -> bool:
    """Whether a receiver answers ``GET {base}/health``."""
    try:
        async with rt.session.get(
            f"{base}/health", timeout=aiohttp.ClientTimeout(total=5), allow_redirects=False
        ) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False


async def _first_reconcile(rt: Runtime, user: UserRecord) -> None:
    """The full reconcile a new channel asks for, with its one sync line."""
    coordinator = await rt.system.coordinator(start=False)
    result = await coordinator.sync_now(user.user_id, full=True)
    if result.busy:
        emit(rt.out, "The running receiver is syncing this user now; it reconciles the rest.")
        return
    emit(rt.out, sync_line(user.user_id, result, tzid=user.tzid))
    if result.error:
        hint = hint_for_text(result.error, rt.settings)
        emit(rt.out, f"error: {result.error}" + (f"\nFix: {hint}." if hint else ""))


async def _create_calendar(client: CronofyClient, profile_id: str, name: str) -> Calendar:
    """Create the sub calendar; one made meanwhile by someone else (a duplicate name) is
    found and reused instead."""
    try:
        return await client.create_calendar(profile_id, name, color=SUB_CALENDAR_COLOR)
    except CronofyAPIError as exc:
        if "errors.duplicate_calendar_name" not in exc.error_keys("name"):
            raise
    calendar, _ = await client.find_or_create_calendar(profile_id, name, color=SUB_CALENDAR_COLOR)
    return calendar


async def _working_client(
    rt: Runtime, previous: UserRecord | None
) -> tuple[CronofyClient, Account]:
    """A client whose tokens Cronofy accepts, and the account: the configured tokens, else
    (when they are refused) the tokens stored for this user id, which may have been renewed
    (a rotated refresh token) since the configured ones were issued."""
    settings = rt.settings
    if not settings.access_token and not settings.refresh_token:
        if previous is None or previous.credentials is None:
            settings.require_tokens()  # raises: says where tokens come from
        assert previous is not None
        # The tokens `cronofy-avail authorize` (or an earlier setup) stored for this user.
        stored = rt.client_for(previous)
        try:
            return stored, await _verify(stored)
        except (AuthenticationError, ReauthorizationRequiredError) as exc:
            await stored.close()
            raise _refused(
                exc, settings, tried=f"; user {previous.user_id!r}'s stored tokens"
            ) from exc
    client = rt.settings_client()
    try:
        return client, await _verify(client)
    except (AuthenticationError, ReauthorizationRequiredError) as exc:
        await client.close()
        if previous is None or previous.credentials is None:
            raise _refused(exc, settings) from exc
        refused = _why_refused(exc)
    stored = rt.client_for(previous)  # persists what it renews: nothing rotates away
    try:
        account = await _verify(stored)
    except (AuthenticationError, ReauthorizationRequiredError) as exc:
        await stored.close()
        raise _refused(
            exc,
            settings,
            tried=f"; neither the configured nor user {previous.user_id!r}'s stored tokens",
        ) from exc
    emit(
        rt.out,
        f"note: the configured tokens were refused ({refused}); using the tokens stored for "
        f"user {previous.user_id!r}, which work. Update CRONOFY_ACCESS_TOKEN / "
        "CRONOFY_REFRESH_TOKEN when you next authorize.",
    )
    return stored, account


async def forget_locally(rt: Runtime, user: UserRecord, *, reason: str) -> None:
    """Forget ``user`` and its store rows without calling Cronofy; say what is left there."""
    owned = await rt.store.get_periods(user.user_id)
    await rt.store.delete_user(user.user_id)
    account = user.sub or "its Cronofy account"
    emit(rt.out, f"Forgot user {user.user_id!r} in {rt.settings.db_path} ({reason}).")
    left = []
    if user.channel_id:
        left.append(f"channel {user.channel_id}")
    if owned:
        ids = sorted(k.period_id for k in owned.values())
        shown = ", ".join(ids[:PERIOD_IDS_SHOWN]) + (", …" if len(ids) > PERIOD_IDS_SHOWN else "")
        left.append(f"{len(owned)} Available Period(s) this toolkit wrote ({shown})")
    if not left:
        emit(rt.out, f"Nothing of it is left at Cronofy (account {account}) but the calendar.")
    else:
        emit(
            rt.out,
            f"Left at Cronofy (account {account}), no longer tracked here: "
            f"{'; '.join(left)}.\nTo remove them later, with a token of that account (after "
            "it authorizes again): close the channel (DELETE /v1/channels/ID) and delete the "
            "periods (DELETE /v1/available_periods with each available_period_id).",
        )
    if user.calendar_id:
        emit(
            rt.out,
            f"The sub calendar {user.calendar_id} is kept (Cronofy's API cannot delete "
            "calendars; remove it in the calendar app if you no longer need it).",
        )


async def _stored_or_nothing(rt: Runtime) -> UserRecord | None:
    """The user to tear down; ``None`` (said, not an error) when it is already gone."""
    user = await rt.store.get_user(rt.settings.user_id)
    if user is None:
        emit(
            rt.out,
            f"Nothing to tear down: no user {rt.settings.user_id!r} in {rt.settings.db_path} "
            "(already torn down, or never set up).",
        )
        return None
    rt.remember(user)
    return user


async def run_teardown(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Close the channel, delete the periods this toolkit owns, forget the user."""
    if store_missing(settings):
        emit(out, f"Nothing to tear down: {nothing_set_up(settings)}.")
        return 0
    if args.local:
        async with runtime(settings, out) as rt:
            local_user = await _stored_or_nothing(rt)
            if local_user is not None:
                await forget_locally(rt, local_user, reason="--local: nothing was asked of Cronofy")
        return 0
    settings.require_app()
    async with runtime(settings, out) as rt:
        user = await _stored_or_nothing(rt)
        if user is None:
            return 0
        client = rt.client_for(user)
        try:
            if user.channel_id:
                try:
                    await client.close_channel(user.channel_id)
                    emit(rt.out, f"Closed channel {user.channel_id}.")
                except NotFoundError:
                    emit(rt.out, f"Channel {user.channel_id} was already closed.")
                except ReauthorizationRequiredError as exc:
                    raise CommandError(
                        f"Cronofy: the credentials of user {user.user_id!r} cannot be renewed "
                        f"({exc.message}), so its channel cannot be closed.\n"
                        f"Fix: {REAUTHORIZE}, then run teardown again; or run "
                        "`cronofy-avail teardown --local` to forget the user here only."
                    ) from exc
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
        emit(
            rt.out,
            f"Forgot user {user.user_id!r} in {settings.db_path} (its delivery log included).",
        )
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
