"""Acting as the user on an emulator (the buttons of step 3 and the week view's drag): the
events they add, move and delete in the sub calendar, through the emulator's control API.
Real Cronofy has no such API: there the user uses their calendar app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cronofy_avail.emulator.control_client import EmulatorControl


@dataclass(frozen=True)
class ActingAsUser:
    """The user's hands: events in the sub calendar ``calendar_id``, as the user."""

    control: EmulatorControl
    calendar_id: str

    async def add_timed(self, start: datetime, end: datetime, summary: str) -> str:
        event = await self.control.add_event(
            self.calendar_id, summary=summary, start=_iso(start), end=_iso(end)
        )
        return str(event["event_uid"])

    async def add_all_day(self, day: date, days: int, summary: str) -> str:
        event = await self.control.add_event(
            self.calendar_id,
            summary=summary,
            start=day.isoformat(),
            end=(day + timedelta(days=days)).isoformat(),
        )
        return str(event["event_uid"])

    async def add_recurring(
        self, start: datetime, end: datetime, count: int, summary: str
    ) -> list[str]:
        events = await self.control.add_events(
            self.calendar_id,
            {
                "summary": summary,
                "start": _iso(start),
                "end": _iso(end),
                "recurrence": {"frequency": "daily", "count": count},
            },
        )
        return [str(e["event_uid"]) for e in events]

    async def move(self, event_uid: str, start: datetime, end: datetime) -> None:
        await self.control.move_event(event_uid, _iso(start), _iso(end))

    async def delete(self, event_uid: str) -> None:
        await self.control.delete_event(event_uid)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["ActingAsUser"]
