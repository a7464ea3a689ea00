"""The four steps of the pattern as library calls (the CLI, the demo and the notebooks use these).

1. :func:`create_sub_calendar` — the "Availability" calendar in the user's profile;
2. :func:`create_channel` — a push channel filtered to it, with the callback URL;
3. syncing — :class:`.sync.SyncEngine` behind :class:`.coordinator.SyncCoordinator`;
   :func:`onboard_user` records what steps 1 and 2 made and asks for the first full reconcile;
4. :func:`query_availability` — an availability query with managed availability that avoids
   the busy-calendar trap: the sub calendar's own opaque events would be busy time and cancel
   the periods made from them, so it is left out of the consulted calendars. Every query the
   toolkit makes starts at :func:`query_start` (now, rounded up to the next slot boundary), so
   availability made for later today is offered today.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import CronofyError, NotFoundError
from cronofy_avail.core.models import (
    Account,
    AvailabilityRequest,
    AvailabilityResponse,
    Calendar,
    Channel,
    Duration,
    Member,
    ParticipantGroup,
    Profile,
    QueryPeriod,
)
from cronofy_avail.runtime.store import Store, StoredCredentials, UserRecord, UserState

SUB_CALENDAR_NAME = "Availability"
SUB_CALENDAR_COLOR = "#49BED8"
NOTIFICATIONS_PATH = "/notifications/"


class SetupError(CronofyError):
    """A prerequisite is missing; the message says what to fix."""


def choose_profile(profiles: Sequence[Profile], profile_id: str | None = None) -> Profile:
    """The profile to put the sub calendar in: the one asked for, else the first connected."""
    if profile_id is not None:
        for profile in profiles:
            if profile.profile_id == profile_id:
                if not profile.profile_connected:
                    raise SetupError(f"profile {profile_id} is disconnected: relink it first")
                return profile
        raise SetupError(f"no profile {profile_id} in this account")
    for profile in profiles:
        if profile.profile_connected:
            return profile
    raise SetupError("the account has no connected calendar profile")


async def create_sub_calendar(
    client: CronofyClient,
    *,
    profile_id: str | None = None,
    name: str = SUB_CALENDAR_NAME,
    color: str | None = SUB_CALENDAR_COLOR,
) -> tuple[Calendar, bool]:
    """Step 1: find or create the sub calendar. Returns ``(calendar, created)``."""
    profile = choose_profile(await client.list_profiles(), profile_id)
    return await client.find_or_create_calendar(profile.profile_id, name, color=color)


def callback_url_for(public_base_url: str, callback_key: str) -> str:
    """``{public URL of the receiver with its prefix}/notifications/{key}``."""
    return public_base_url.rstrip("/") + NOTIFICATIONS_PATH + callback_key


async def create_channel(client: CronofyClient, *, callback_url: str, calendar_id: str) -> Channel:
    """Step 2: a channel filtered to the sub calendar (Cronofy reuses an identical one)."""
    return await client.create_channel(callback_url, calendar_ids=[calendar_id])


async def onboard_user(
    store: Store,
    client: CronofyClient,
    *,
    user_id: str,
    public_base_url: str,
    tzid: str | None = None,
    profile_id: str | None = None,
    calendar_name: str = SUB_CALENDAR_NAME,
    received_at: datetime | None = None,
    account: Account | None = None,
    calendar: Calendar | None = None,
) -> tuple[UserRecord, Channel]:
    """Steps 1 and 2 for one user, recorded in the store, with a full reconcile requested.

    Idempotent: run twice, it reuses the calendar, the callback key and the channel. When the
    public URL changed (ngrok gives a new one per run) the new channel replaces the old one,
    which is closed. Re-onboarding is also how a user recovers from ``needs_reauth``,
    ``disconnected`` or ``failed``.

    ``account`` and ``calendar``, when the caller has just read them, spare the same reads.
    """
    user = await store.get_user(user_id) or UserRecord(user_id=user_id)
    if account is None:
        account = await client.account()
    if calendar is None:
        calendar, _ = await create_sub_calendar(client, profile_id=profile_id, name=calendar_name)
    tokens = client.tokens
    if tokens is not None:
        user.credentials = StoredCredentials(
            tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scope
        )
    user.sub = account.account_id
    user.tzid = tzid or account.default_tzid or "UTC"
    user.profile_id = calendar.profile_id
    user.calendar_id = calendar.calendar_id
    callback_url = callback_url_for(public_base_url, user.callback_key)
    channel = await create_channel(
        client, callback_url=callback_url, calendar_id=calendar.calendar_id
    )
    previous_channel = user.channel_id
    user.channel_id = channel.channel_id
    user.callback_url = callback_url
    if previous_channel and previous_channel != channel.channel_id:
        # Already gone is fine: Cronofy closes channels whose deliveries failed for a day.
        with contextlib.suppress(NotFoundError):
            await client.close_channel(previous_channel)
    if user.state != UserState.IDLE:
        user.state, user.last_error = UserState.IDLE, None
    await store.save_user(user)
    # A new channel means changes may have been missed: converge fully first.
    recorded = await store.record_intent(
        user_id, changes_since=None, full=True, received_at=received_at or datetime.now(UTC)
    )
    assert recorded is not None
    return recorded, channel


async def busy_calendar_ids(client: CronofyClient, sub_calendar_id: str) -> list[str]:
    """Every live calendar of the account except the sub calendar (the trap avoided)."""
    return [
        c.calendar_id
        for c in await client.list_calendars()
        if c.calendar_id != sub_calendar_id and not c.calendar_deleted
    ]


SLOT_BOUNDARY = timedelta(minutes=15)
"""Query windows start on a multiple of this (counted from the epoch, so on the quarter hour
in every zone whose offset is whole quarter hours)."""


def query_start(now: datetime, boundary: timedelta = SLOT_BOUNDARY) -> datetime:
    """Where an availability query from ``now`` starts: ``now`` rounded up to the next
    ``boundary`` (``now`` itself when it is exactly on one), in UTC.

    Not "tomorrow at 00:00": a period dragged onto the rest of today must give slots today.
    """
    moment = now.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    late = (moment - epoch) % boundary
    return moment if not late else moment + (boundary - late)


async def query_availability(
    client: CronofyClient,
    *,
    sub: str,
    sub_calendar_id: str,
    start: datetime,
    end: datetime,
    minutes: int = 30,
    managed: bool = True,
    response_format: Literal["periods", "slots", "overlapping_slots"] = "slots",
    calendar_ids: Sequence[str] | None = None,
) -> AvailabilityResponse:
    """Step 4: when is ``sub`` free for ``minutes`` between ``start`` and ``end``?

    With ``managed`` the answer lies inside the user's Available Periods; the sub calendar is
    left out of the consulted calendars so its own events do not cancel them.
    """
    consulted = (
        list(calendar_ids)
        if calendar_ids is not None
        else await busy_calendar_ids(client, sub_calendar_id)
    )
    if sub_calendar_id in consulted and managed:
        raise SetupError(
            "consulting the sub calendar in a managed query cancels its own periods "
            "(its events are busy time); leave it out or make its events transparent"
        )
    request = AvailabilityRequest(
        participants=[
            ParticipantGroup(
                members=[
                    Member(
                        sub=sub,
                        calendar_ids=consulted,
                        managed_availability=True if managed else None,
                    )
                ],
                required="all",
            )
        ],
        required_duration=Duration(minutes=minutes),
        query_periods=[QueryPeriod(start=start, end=end)],
        response_format=response_format,
    )
    return await client.availability(request)
