"""Notebook 04's lab: one attendee's sandbox (:class:`Lab`) and a check's verdict
(:class:`Check`). The exercises and their checks are in :mod:`.exercises`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.models import utc_instant
from cronofy_avail.emulator.server import Emulator
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.coordinator import SyncCoordinator
from cronofy_avail.runtime.steps import query_availability
from cronofy_avail.runtime.store import UserRecord
from cronofy_avail.runtime.sync import SyncEngine, SyncResult


@dataclass
class Check:
    """A self-check's verdict: ``ok`` when nothing is left in ``problems``; ``note``: why the
    workshop's instructor page does not show it, when it does not."""

    title: str
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"✔ {self.title} — solved" if self.ok else f"✘ {self.title} — still wrong:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines + [self.note] * bool(self.note))

    __repr__ = __str__


class Lab:
    """One attendee's sandbox: the playground (emulator, receiver, coordinator, one user)
    started in the running loop, plus helpers that speak in the user's local time."""

    def __init__(self, playground: Playground, stack: contextlib.AsyncExitStack) -> None:
        self.playground = playground
        self._stack = stack
        self.zone = ZoneInfo(playground.tzid)

    @classmethod
    async def start(cls, *, tzid: str = "Europe/London") -> Lab:
        """Start everything and run steps 1 and 2 (onboarding) for the lab's user."""
        stack = contextlib.AsyncExitStack()
        playground = await stack.enter_async_context(Playground.running(tzid=tzid))
        return cls(playground, stack)

    async def close(self) -> None:
        await self._stack.aclose()

    # ------------------------------------------------------------------ shortcuts

    @property
    def emulator(self) -> Emulator:
        return self.playground.emulator

    @property
    def client(self) -> CronofyClient:
        return self.playground.client

    @property
    def engine(self) -> SyncEngine:
        return self.playground.engine

    @property
    def coordinator(self) -> SyncCoordinator:
        return self.playground.coordinator

    @property
    def calendar_id(self) -> str:
        """The sub calendar ("Availability")."""
        return self.playground.calendar_id

    @property
    def primary_calendar_id(self) -> str:
        return self.playground.account.calendar_id

    async def user(self) -> UserRecord:
        return await self.playground.user()

    def next_weekday(self, weekday: int) -> date:
        """The next ``weekday`` (Monday 0 … Sunday 6) at least two days away, in the user's zone."""
        today = datetime.now(self.zone).date()
        ahead = (weekday - today.weekday()) % 7
        if ahead < 2:
            ahead += 7
        return today + timedelta(days=ahead)

    def at(self, day: date, clock: time) -> datetime:
        """``day`` at ``clock`` in the user's zone, as an aware datetime."""
        return datetime.combine(day, clock, self.zone)

    async def add_availability(self, start: datetime, end: datetime, summary: str = "Free") -> str:
        """Act as the user: add an event to the Availability calendar; returns its uid.
        Awaited, like the wizard's ``add_timed`` and a workshop attendee's
        ``add_availability``: the same call wherever an attendee plays the user."""
        event = self.emulator.add_event(
            self.calendar_id, start=_iso(start), end=_iso(end), summary=summary
        )
        return str(event["event_uid"])

    async def settle(self) -> None:
        """Wait for every notification and the syncs they start."""
        await self.playground.settle()

    async def reconcile(self) -> SyncResult:
        """A full reconcile now (what the coordinator does daily and on a new channel)."""
        return await self.coordinator.sync_now(self.playground.user_id, full=True)

    async def periods(self) -> list[tuple[datetime, datetime, str]]:
        """The account's Available Periods as (start, end, id), local time, sorted."""
        out = [
            (
                utc_instant(p.start).astimezone(self.zone),
                utc_instant(p.end).astimezone(self.zone),
                p.available_period_id,
            )
            for p in await self.client.list_available_periods()
        ]
        return sorted(out)

    async def slots(
        self, day: date, *, minutes: int = 60, managed: bool = True
    ) -> list[tuple[datetime, datetime]]:
        """Step 4 for one local day: the bookable slots, local time."""
        user = await self.user()
        assert user.sub and user.calendar_id
        answer = await query_availability(
            self.client,
            sub=user.sub,
            sub_calendar_id=user.calendar_id,
            start=max(self.at(day, time(0)), datetime.now(UTC) + timedelta(minutes=5)),
            end=self.at(day + timedelta(days=1), time(0)),
            minutes=minutes,
            managed=managed,
        )
        return [
            (utc_instant(s.start).astimezone(self.zone), utc_instant(s.end).astimezone(self.zone))
            for s in answer.results
        ]

    def live_events(self, calendar_id: str | None = None) -> list[dict[str, Any]]:
        """The events the user sees in a calendar (the sub calendar by default)."""
        calendar_id = calendar_id or self.calendar_id
        account = self.emulator.state.accounts[self.playground.account.account_id]
        return [
            {"event_uid": e.event_uid, "summary": e.summary, "start": e.start, "end": e.end}
            for e in account.events.values()
            if e.calendar_id == calendar_id and not e.deleted
        ]

    def channel_active(self) -> bool:
        account = self.emulator.state.accounts[self.playground.account.account_id]
        channel = account.channels.get(self.playground.channel_id)
        return channel is not None and channel.active

    # ------------------------------------------------------------------ the receiver

    async def receiver_down(self) -> None:
        """Stop the webhook receiver, as a laptop going to sleep does."""
        await self.playground.server.stop()

    async def receiver_up(self) -> None:
        """Start the receiver again on the same port (the callback URL is unchanged)."""
        pg = self.playground
        pg.server = await pg.system.receiver(
            pg.coordinator, port=pg.server.port, runs_requests=True
        )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt(value: datetime) -> str:
    return value.strftime("%a %d %b %H:%M")


__all__ = ["Check", "Lab"]
