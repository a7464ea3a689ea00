"""The workshop's exercises (``notebooks/04_exercises.ipynb``): a lab to play in and self-checks.

Each check looks at the real state (the emulator's Available Periods, the sub calendar's
events, the channel) and says what is still wrong, in words an attendee can act on. No widget
library is imported here: the checks run the same in a notebook, a script or a test. Once
notebook 01 joined a workshop, each check also reports to its instructor page (:mod:`.progress`).

>>> lab = await Lab.start()                                 # doctest: +SKIP
>>> await check_thursday_afternoon(lab)                     # doctest: +SKIP
✘ Make Thursday afternoon available — still wrong:
  - no event in the Availability calendar covers Thu 03 Dec 13:00-17:00 (Europe/London)
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cronofy_avail.core.mapping import MappingPolicy, period_id_for
from cronofy_avail.notebook.lab import Check, Lab, _fmt, _iso
from cronofy_avail.notebook.progress import reports

THURSDAY, FRIDAY, SATURDAY = 3, 4, 5
AFTERNOON = (time(13), time(17))


async def _missing_periods(lab: Lab, uids: Collection[str] | None = None) -> list[str]:
    """Live, future events of the sub calendar (those of ``uids`` when given) without their
    period, described in the user's local time."""
    have = {pid for _, _, pid in await lab.periods()}
    now = datetime.now(UTC)
    missing = []
    for event in lab.live_events():
        if uids is not None and event["event_uid"] not in uids:
            continue
        end = event["end"]
        if isinstance(end, datetime) and end <= now:
            continue
        if period_id_for(event["event_uid"]) not in have:
            start = event["start"]
            when = (
                _fmt(start.astimezone(lab.zone))
                if isinstance(start, datetime)
                else f"{start:%a %d %b}, all day"
            )
            missing.append(f"{event['summary'] or event['event_uid']} ({when})")
    return missing


# --------------------------------------------------------------------------- exercise 1


@reports("thursday_afternoon")
async def check_thursday_afternoon(lab: Lab) -> Check:
    """Exercise 1: next Thursday 13:00-17:00 (local) is available, end to end."""
    check = Check("Make Thursday afternoon available")
    day = lab.next_weekday(THURSDAY)
    start, end = lab.at(day, AFTERNOON[0]), lab.at(day, AFTERNOON[1])
    where = f"{_fmt(start)}-{end:%H:%M} ({lab.playground.tzid})"
    covering = [
        e
        for e in lab.live_events()
        if isinstance(e["start"], datetime)
        and isinstance(e["end"], datetime)
        and e["start"] <= start
        and e["end"] >= end
    ]
    if not covering:
        check.problems.append(
            f"no event in the Availability calendar covers {where}: add one as the user "
            "(`await lab.add_availability(start, end)`)"
        )
        return check
    periods = await lab.periods()
    if not any(p_start <= start and p_end >= end for p_start, p_end, _ in periods):
        check.problems.append(
            "the event is there but no Available Period covers it yet: the sync runs on the "
            "notification; wait for it with `await lab.settle()`"
        )
        return check
    slots = await lab.slots(day)
    afternoon = [s for s, e in slots if start <= s and e <= end]
    if not afternoon:
        check.problems.append(
            f"the period exists but availability offers nothing in {where}: is something busy?"
        )
    return check


# --------------------------------------------------------------------------- exercise 2


@dataclass
class SlotMystery:
    day: date
    missing_at: datetime
    availability_uid: str
    blocker_uid: str


async def prepare_slot_mystery(lab: Lab) -> SlotMystery:
    """Exercise 2's setup: Friday 09:00-12:00 is available, yet the 10:00 slot is missing."""
    day = lab.next_weekday(FRIDAY)
    availability_uid = await lab.add_availability(lab.at(day, time(9)), lab.at(day, time(12)))
    blocker = lab.emulator.add_event(
        lab.primary_calendar_id,
        start=_iso(lab.at(day, time(10))),
        end=_iso(lab.at(day, time(11))),
        summary="Dentist",
    )
    await lab.settle()
    return SlotMystery(day, lab.at(day, time(10)), availability_uid, str(blocker["event_uid"]))


@reports("slot_mystery")
async def check_slot_mystery(mystery: SlotMystery, blocking_event_uid: str | None) -> Check:
    """Exercise 2: the attendee names the event that took the 10:00 slot away."""
    check = Check("Why did this slot disappear?")
    if not blocking_event_uid:
        check.problems.append(
            "set blocking_event_uid to the event_uid of the event that makes "
            f"{_fmt(mystery.missing_at)} busy (read the events of every calendar that day)"
        )
    elif blocking_event_uid == mystery.availability_uid:
        check.problems.append(
            "that is the Availability event: it is what creates the period 09:00-12:00; "
            "the missing hour is busy time in another calendar"
        )
    elif blocking_event_uid != mystery.blocker_uid:
        check.problems.append(
            f"{blocking_event_uid!r} does not overlap {_fmt(mystery.missing_at)}: look at the "
            "primary calendar"
        )
    return check


# --------------------------------------------------------------------------- exercise 3


def skip_all_day_events(lab: Lab) -> None:
    """Exercise 3's setup: the lab's policy ignores all-day events (a house rule gone wrong)."""
    lab.engine.policy_for = lambda user: MappingPolicy(tzid=user.tzid, include_all_day=False)


async def prepare_all_day(lab: Lab) -> str:
    """Exercise 3's setup: an all-day event next Saturday that produces no period."""
    skip_all_day_events(lab)
    day = lab.next_weekday(SATURDAY)
    event = lab.emulator.add_event(
        lab.calendar_id, start=day.isoformat(), end=(day + timedelta(days=1)).isoformat()
    )
    await lab.settle()
    return str(event["event_uid"])


@reports("all_day")
async def check_all_day(lab: Lab, event_uid: str) -> Check:
    """Exercise 3: the all-day event is one whole local day of availability."""
    check = Check("Make an all-day event count")
    day = lab.next_weekday(SATURDAY)
    want = (lab.at(day, time(0)), lab.at(day + timedelta(days=1), time(0)))
    user = await lab.user()
    policy = lab.engine.policy_for(user)
    if not policy.include_all_day:
        check.problems.append(
            "the sync policy still skips all-day events (reason `all_day_skipped` in the "
            "plan): give the engine a MappingPolicy with include_all_day=True"
        )
    found = [(s, e) for s, e, pid in await lab.periods() if pid == period_id_for(event_uid)]
    if not found:
        check.problems.append(
            "no Available Period for the all-day event yet: a changed policy only applies to "
            "events read again, so run a full reconcile (`await lab.reconcile()`)"
        )
    elif found[0] != want:
        check.problems.append(
            f"the period is {_fmt(found[0][0])}-{_fmt(found[0][1])}, not the whole local day"
        )
    return check


# --------------------------------------------------------------------------- exercise 4


async def prepare_receiver_outage(lab: Lab, *, events: int = 2) -> list[str]:
    """Exercise 4's setup: the receiver goes down, the user adds ``events`` slots, Cronofy gives
    up on the channel (here after one second of failures instead of a day), the receiver
    comes back. Returns the uids added while it was down."""
    notifier = lab.emulator.notifier
    notifier.failure_window, notifier.retry_initial_delay = 0.3, 0.05
    await lab.receiver_down()
    day = lab.next_weekday(FRIDAY) + timedelta(days=7)
    uids = [
        await lab.add_availability(lab.at(day, time(9 + 2 * i)), lab.at(day, time(10 + 2 * i)))
        for i in range(events)
    ]
    async with asyncio.timeout(30):
        while lab.channel_active():
            await lab.emulator.wait_notifications()
            await asyncio.sleep(0.05)
    await lab.receiver_up()
    notifier.failure_window = lab.emulator.config.failure_window
    notifier.retry_initial_delay = lab.emulator.config.retry_initial_delay
    return uids


@reports("recovered")
async def check_recovered(lab: Lab, lost: Collection[str] | None = None) -> Check:
    """Exercise 4: the channel is back and every event added while the receiver was down
    (``lost``, what :func:`prepare_receiver_outage` returned; default: every event) has its
    period again. Another exercise's unsolved event is that exercise's problem, not this."""
    check = Check("Recover after the receiver was down")
    if not lab.channel_active():
        check.problems.append(
            "the channel is closed: Cronofy closes a channel whose deliveries failed for a "
            "day and never resends; create it again (step 2: `await lab.playground.onboard()`)"
        )
    missing = await _missing_periods(lab, lost)
    if missing:
        check.problems.append(
            f"{len(missing)} event(s) have no Available Period: {', '.join(missing)}; "
            "the notifications were lost, so only a full reconcile finds them"
        )
    return check


__all__ = [
    "Check",
    "Lab",
    "SlotMystery",
    "check_all_day",
    "check_recovered",
    "check_slot_mystery",
    "check_thursday_afternoon",
    "prepare_all_day",
    "prepare_receiver_outage",
    "prepare_slot_mystery",
    "skip_all_day_events",
]
