"""Acting as the user on an emulator (the buttons of step 3 and the week view's drag): the
events they add, move and delete in the sub calendar, through the emulator's control API.
Real Cronofy has no such API: there the user uses their calendar app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.notebook.steps import WizardError
from cronofy_avail.notebook.week_text import drag_span

if TYPE_CHECKING:
    from cronofy_avail.core.models import Calendar
    from cronofy_avail.core.week import Bar
    from cronofy_avail.notebook.backends import Backend
    from cronofy_avail.notebook.steps import Inputs


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


class ActsAsUser:
    """The wizard's methods that act as the user (a mixin of
    :class:`~cronofy_avail.notebook.controller.WizardController`): each adds, moves or deletes
    an event in the sub calendar, then shows it in the week view."""

    if TYPE_CHECKING:
        inputs: Inputs
        calendar: Calendar | None

        def _need_backend(self) -> Backend: ...
        def show(self, moment: date | datetime) -> None: ...
        def today(self) -> date: ...
        def week_bars(self) -> list[Bar]: ...
        @property
        def week_start(self) -> date: ...

    def _control(self) -> ActingAsUser:
        backend = self._need_backend()
        if backend.control is None:
            raise WizardError("acting as the user needs an emulator (real Cronofy: use your "
                              "calendar app)")  # fmt: skip
        if self.calendar is None:
            raise WizardError("create the sub calendar first (step 1)")
        return ActingAsUser(backend.control, self.calendar.calendar_id)

    async def add_timed(self, start: datetime, end: datetime, summary: str = "Available") -> str:
        uid = await self._control().add_timed(start, end, summary)
        self.show(start)
        return uid

    async def add_all_day(self, day: date, days: int = 1, summary: str = "Free all day") -> str:
        uid = await self._control().add_all_day(day, days, summary)
        self.show(day)
        return uid

    async def add_recurring(
        self, start: datetime, end: datetime, count: int = 3, summary: str = "Office hours"
    ) -> list[str]:
        uids = await self._control().add_recurring(start, end, count, summary)
        self.show(start)
        return uids

    async def move(self, event_uid: str, start: datetime, end: datetime) -> None:
        await self._control().move(event_uid, start, end)
        self.show(start)

    async def delete(self, event_uid: str) -> None:
        await self._control().delete(event_uid)

    def tomorrow_at(self, hour: int, minute: int = 0, *, days: int = 1) -> datetime:
        """Local ``hour:minute`` ``days`` from today in the user's zone (for the buttons)."""
        zone = ZoneInfo(self.inputs.tzid)
        return datetime.combine(self.today() + timedelta(days=days), time(hour, minute), zone)

    async def create_from_drag(
        self, day_index: int, y0: float, y1: float, *, day: date | None = None,
        allday_rows: int | None = None,
    ) -> str | None:  # fmt: skip
        """A drag across empty time in the week view: an availability event there, as the
        user. The notification → sync → period path does the rest. ``None`` for a drag shorter
        than half the snap step (a click that moved a little).

        ``day`` and ``allday_rows`` are those of the picture the drag was made on (the
        column's ``data-date``, the SVG's ``data-allday-rows``): a picture drawn before
        midnight and dragged on after it still means the day it showed."""
        span = drag_span(
            self.week_bars(), self.week_start, self.inputs.tzid, day_index, y0, y1,
            day=day, allday_rows=allday_rows,
        )  # fmt: skip
        if span is None:
            return None
        return await self.add_timed(*span, summary="Dragged in the week view")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["ActingAsUser", "ActsAsUser"]
