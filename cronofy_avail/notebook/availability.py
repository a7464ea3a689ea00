"""Step 4: the availability query, asked twice (with and without managed availability), and
what the answer means in words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.models import AvailablePeriod, utc_instant
from cronofy_avail.notebook.steps import TRAP
from cronofy_avail.runtime.steps import busy_calendar_ids, query_availability

Slots = list[tuple[datetime, datetime]]


async def query_slots(
    client: CronofyClient,
    *,
    sub: str,
    calendar_id: str,
    window: tuple[datetime, datetime],
    minutes: int,
) -> tuple[Slots, Slots]:
    """The slots of ``minutes`` in ``window`` with managed availability, and without; the sub
    calendar ``calendar_id`` left out of the busy calendars."""
    consulted = await busy_calendar_ids(client, calendar_id)
    start, end = window
    answers = []
    for managed in (True, False):
        response = await query_availability(
            client,
            sub=sub,
            sub_calendar_id=calendar_id,
            start=start,
            end=end,
            minutes=minutes,
            managed=managed,
            calendar_ids=consulted,
        )
        answers.append([(utc_instant(r.start), utc_instant(r.end)) for r in response.results])
    return answers[0], answers[1]


def slots_note(
    managed: Slots,
    periods: list[AvailablePeriod],
    window: tuple[datetime, datetime],
    minutes: int,
    tzid: str,
) -> str:
    """The busy-calendar trap, and why there is no managed slot when there is none."""
    start, end = window
    note = TRAP
    if not periods and not managed:
        note += " No Available Periods yet: add availability (step 3) to get managed slots."
    elif not managed:
        zone = ZoneInfo(tzid)
        note += (
            f" No managed slot from {start.astimezone(zone):%a %d %b %H:%M} to "
            f"{end.astimezone(zone):%a %d %b %H:%M}: none of the {len(periods)} "
            f"Available Period(s) holds {minutes} free minutes in that window "
            "(periods that have passed, or lie beyond it, give no slots; widen the window)."
        )
    return note


__all__ = ["query_slots", "slots_note"]
