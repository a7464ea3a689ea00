"""The week view's side of the wizard (a mixin of
:class:`~cronofy_avail.notebook.controller.WizardController`): which seven days it shows (the
:class:`~.models.WeekModel`), the bars in them, the picture and the words about a bar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cronofy_avail.core.week import Bar, bars_from, render_week, span_title
from cronofy_avail.notebook.week_text import describe, period_rows

if TYPE_CHECKING:
    from cronofy_avail.core.models import AvailablePeriod, Event
    from cronofy_avail.notebook.models import WeekModel
    from cronofy_avail.notebook.steps import Inputs


class WeekViewing:
    if TYPE_CHECKING:
        inputs: Inputs
        week: WeekModel
        clock: Callable[[], datetime]
        selected: str | None
        events: list[Event]
        periods: list[AvailablePeriod]
        managed_slots: list[tuple[datetime, datetime]]
        unmanaged_slots: list[tuple[datetime, datetime]]

        def _changed(self) -> None: ...

    def today(self) -> date:
        """Today in the user's zone, on the wizard's clock."""
        return self.clock().astimezone(ZoneInfo(self.inputs.tzid)).date()

    @property
    def week_start(self) -> date:
        """The first of the seven days the week view shows (:class:`.models.WeekModel`)."""
        return self.week.start

    def shift_week(self, weeks: int) -> None:
        self.week.offset += weeks
        self._changed()

    def show(self, moment: date | datetime) -> None:
        """Move the week view to the seven days that hold ``moment``, unless in view."""
        offset = self.week.offset
        self.week.show(moment)
        if self.week.offset != offset:
            self._changed()

    def select(self, key: str | None) -> None:
        """Select the bar ``"<kind>:<id>"`` (a click in the week view)."""
        self.week.selected = key or None
        self._changed()

    def week_bars(self) -> list[Bar]:
        unmanaged = self.unmanaged_slots if self.week.show_unmanaged else []
        return bars_from(self.events, self.periods, self.managed_slots, unmanaged)

    def week_svg(self) -> str:
        return render_week(
            self.week_bars(),
            week_start=self.week_start,
            tzid=self.inputs.tzid,
            now=self.clock(),
            selected=self.selected,
            show_unmanaged=self.week.show_unmanaged,
            title=f"{self.week_title()} ({self.inputs.tzid})",
        )

    def week_title(self) -> str:
        """The seven days in view, e.g. "Sun 06 Dec - Sat 12 Dec 2026"."""
        return span_title(self.week_start)

    def period_rows(self) -> list[tuple[str, str, str, str]]:
        """(period id, start, end, event summary) in the user's zone, by start."""
        return period_rows(self.events, self.periods, self.inputs.tzid)

    def describe(self, key: str) -> str:
        """What the bar ``"<kind>:<id>"`` is (hover text, the details panel)."""
        return describe(self.week_bars(), key, self.inputs.tzid)


__all__ = ["WeekViewing"]
