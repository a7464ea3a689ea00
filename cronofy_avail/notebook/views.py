"""Thin views: each links a few widgets to the traits of one model (:mod:`.models`).

A view draws when a trait it names changes, and only then; nothing pushes every widget after
every change. All the models' traits change on the wizard's loop (the kernel's), so the
widgets do too, never from inside a cell's output.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import HasTraits

from cronofy_avail.notebook.feed import FEED_SHOWN
from cronofy_avail.notebook.models import StepModel, SyncModel
from cronofy_avail.notebook.panels import (
    STOPPED_NOTE,
    _feed_html,
    _status_html,
    authorize_html,
    draw_profiles,
    show_for_mode,
    tables_html,
)
from cronofy_avail.notebook.steps import StepState

if TYPE_CHECKING:
    from cronofy_avail.notebook.controller import WizardController
    from cronofy_avail.notebook.week_widget import WeekView
    from cronofy_avail.runtime.progress import SyncProgress
    from cronofy_avail.runtime.sync import SyncResult

_LOGGER = logging.getLogger(__name__)


def link(model: HasTraits, names: Sequence[str], draw: Callable[[], None]) -> None:
    """``draw()`` now and whenever one of ``names`` of ``model`` changes."""
    model.observe(lambda _change: draw(), names=list(names))
    draw()


class StepView:
    """A step's status, its Run button (enabled once the step may run and is not running) and
    its Next button (enabled once it is done)."""

    def __init__(self, model: StepModel, run: w.Button, next_: w.Button, status: w.HTML) -> None:
        self.model, self.run, self.next, self.status = model, run, next_, status
        self.stopped = False
        link(model, ["state", "summary", "error", "lines", "runnable"], self.draw)

    def draw(self) -> None:
        m = self.model
        if self.stopped:
            self.status.value = _status_html(m, stopped=True)
            return
        self.run.disabled = m.state == StepState.RUNNING or not m.runnable
        self.next.disabled = m.state != StepState.DONE
        self.status.value = _status_html(m)

    def title(self) -> str:
        m = self.model
        if self.stopped:
            return f"■ {m.title} (stopped)"
        return f"{m.icon} {m.title} ({m.state})"


class Later:
    """Draw once, however many traits changed before it: a refresh sets events, periods and
    slots one after the other, and the week is drawn once, at the end of the operation
    (:meth:`flush`, from the controller's ``on_change``) or on the next turn of the loop,
    whichever comes first."""

    def __init__(self, draw: Callable[[], None]) -> None:
        self._draw = draw
        self._due = False

    def __call__(self, *_args: Any) -> None:
        if self._due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test drawing by hand): now
            self._draw()
            return
        self._due = True
        loop.call_soon(self._run)

    def _run(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Draw now if a change is waiting."""
        if self._due:
            self._due = False
            self._draw()


def draw_progress(progress: w.IntProgress, sync: SyncModel) -> None:
    """Step 3's bar: the running sync's pages read and writes applied (as the engine reports
    them); between syncs, how the last one ended (never "idle" beside a full bar)."""
    report: SyncProgress | None = sync.progress
    if report is not None:
        if report.phase == "applying" and report.writes_planned:
            progress.max, progress.value = report.writes_planned, report.writes_done
            progress.description = f"Writes {report.writes_done}/{report.writes_planned}"
        else:
            pages = report.pages_read
            progress.max, progress.value = 1, 0
            progress.description = f"Read {pages} page{'s' if pages != 1 else ''}"
        progress.bar_style = "info"
        return
    progress.max = 1
    last: SyncResult | None = sync.last_result
    if sync.busy or last is None:  # started here, no report yet; or nothing synced yet
        progress.value, progress.bar_style = 0, "info" if sync.busy else ""
        progress.description = "Syncing…" if sync.busy else "No sync yet"
        return
    # The last sync's outcome, full or not, until the next one reports.
    progress.value = 1  # full either way: green, or red
    progress.bar_style = "success" if last.ok else "danger"
    progress.description = "Synced" if last.ok else "Sync failed"


class DrawsWizard:
    """How :class:`~cronofy_avail.notebook.widgets.Wizard` draws (a mixin): each widget
    follows the traits of the model it shows."""

    if TYPE_CHECKING:
        controller: WizardController
        step_views: dict[str, StepView]
        accordion: w.Accordion
        mode: w.Dropdown
        emulator_url: w.Text
        attendee_name: w.Text
        data_center: w.Dropdown
        secret_fields: dict[str, w.Password]
        authorize: w.Button
        authorize_link: w.HTML
        profile: w.Dropdown
        act_buttons: dict[str, w.Button]
        progress: w.IntProgress
        feed: w.HTML
        periods_table: w.HTML
        slots_table: w.HTML
        week: WeekView
        week_label: w.HTML
        details: w.HTML
        week_move: w.Button
        week_delete: w.Button
        stopped_banner: w.HTML
        unmanaged: w.Checkbox

        def controls(self) -> list[w.DOMWidget]: ...
        def _wrap(self, handler: Callable[..., Any]) -> Callable[..., None]: ...

    def _link_views(self) -> None:
        """Each widget follows the traits it shows (:mod:`.views`)."""
        c, m = self.controller, self.controller.model
        for view in self.step_views.values():
            link(view.model, ["state"], self._draw_titles)
        live = self._live
        link(
            m.connect,
            ["authorization", "authorize_url", "oauth_pending"],
            live(self._draw_authorize),
        )
        # The mode's fields follow the input, after it changed (on the wizard's loop), and
        # after every operation (the input is not a trait: set_input from code too).
        self.mode.observe(self._wrap(lambda _ch: self._draw_mode()), names="value")
        link(m.connect, ["profiles", "state"], live(lambda: draw_profiles(self.profile, c)))
        link(m.channel, ["state"], live(self._draw_acts))
        link(m.sync, ["busy"], live(self._draw_acts))
        bar = ["busy", "progress", "last_result"]
        link(m.sync, bar, live(lambda: draw_progress(self.progress, m.sync)))
        self._later = feed, tables, week = (
            Later(live(self._draw_feed)),
            Later(live(self._draw_tables)),
            Later(live(self._draw_week)),
        )
        link(m.sync, ["fed"], feed)
        link(m.sync, ["events", "periods"], tables)
        link(m.availability, ["managed_slots", "unmanaged_slots", "note"], tables)
        link(c.week, ["offset", "selected", "show_unmanaged"], week)
        link(m.sync, ["events", "periods", "refreshes"], week)
        link(m.availability, ["managed_slots", "unmanaged_slots"], week)
        link(c.week, ["selected"], live(self._draw_selected))
        link(c.week, ["show_unmanaged"], live(self._draw_unmanaged))
        link(m, ["stopped"], self._draw_stopped)
        c.on_change(self._flush)
        self._flush()

    def _live(self, draw: Callable[[], None]) -> Callable[[], None]:
        """``draw`` while the wizard runs (a stopped wizard stays as it stopped), its errors
        logged: a view's failure never fails the step whose trait change drew it."""

        def guarded() -> None:
            if self.controller.stopped:
                return
            try:
                draw()
            except Exception:
                _LOGGER.exception("wizard view failed to draw")

        return guarded

    def _flush(self) -> None:
        """The end of an operation: what is due is drawn now, and the week and the mode's
        fields in any case (they also show what no trait holds: the zone, the clock, the
        mode)."""
        self._later[2]()  # the week: due in any case
        for later in self._later:
            later.flush()
        self._live(self._draw_mode)()

    def _draw_feed(self) -> None:
        self.feed.value = _feed_html(self.controller.feed[-FEED_SHOWN:])

    def _draw_titles(self) -> None:
        self.accordion.titles = tuple(v.title() for v in self.step_views.values())

    def _draw_mode(self) -> None:
        show_for_mode(
            self.controller.inputs.mode,
            [self.emulator_url, self.attendee_name],
            [self.data_center, *self.secret_fields.values(), self.authorize, self.authorize_link],
        )

    def _draw_authorize(self) -> None:
        m = self.controller.model.connect
        self.authorize_link.value = authorize_html(
            m.authorize_url, bool(m.authorize_url and m.oauth_pending), m.authorization
        )

    def _draw_acts(self) -> None:
        m = self.controller.model
        for button in self.act_buttons.values():
            button.disabled = m.channel.state != StepState.DONE or m.sync.busy

    def _draw_tables(self) -> None:
        self.periods_table.value, self.slots_table.value = tables_html(self.controller)

    def _draw_week(self) -> None:
        c = self.controller
        self.week_label.value = f"<b>{escape(c.week_title())}</b> ({escape(c.inputs.tzid)})"
        self.week.svg = c.week_svg()
        self._draw_selected()

    def _draw_selected(self) -> None:
        c = self.controller
        kind, _, uid = (c.selected or "").partition(":")
        there = kind == "event" and any(e.event_uid == uid for e in c.events)
        self.details.value = escape(c.describe(c.selected)) if c.selected else ""
        if kind == "event" and not there:  # deleted since it was selected
            self.details.value = ""
        # move/delete act as the user on an emulator, on a selected event that still exists
        on_emulator = c.backend is not None and c.backend.control is not None
        shown = on_emulator and there
        for button in (self.week_move, self.week_delete):
            button.layout.display = "" if shown else "none"

    def _draw_unmanaged(self) -> None:
        self.unmanaged.value = self.controller.week.show_unmanaged

    def _draw_stopped(self) -> None:
        if not self.controller.stopped:
            return
        self.stopped_banner.value = STOPPED_NOTE
        self.stopped_banner.layout.display = ""
        for control in self.controls():
            control.disabled = True
        for view in self.step_views.values():
            view.stopped = True
            view.draw()
        self._draw_titles()
        self.authorize_link.value = ""


__all__ = ["DrawsWizard", "Later", "StepView", "draw_progress", "link"]
