"""Thin views over :class:`~cronofy_avail.notebook.controller.WizardController`.

Every handler either changes an input on the controller or schedules one of its coroutines on
the kernel's running loop; every redraw sets widget traits (``HTML.value``, ``titles``,
``disabled``), never ``with out:`` from a background task (that would print into whatever cell
runs at the time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as w

from cronofy_avail.notebook.controller import (
    STEP_KEYS,
    Step,
    StepState,
    WizardController,
)
from cronofy_avail.notebook.panels import (
    _FIT,
    RUN_LABELS,
    SAVED_NOTE,
    SAVED_NOTE_HTML,
    STOPPED,
    _button,
    _row,
    act_buttons,
    availability_fields,
    callback_field,
    connect_fields,
    drag_action,
    html,
    profile_field,
    secret_fields,
    step3_action,
    step3_rows,
    step_panel,
    stopped_html,
    week_box,
)
from cronofy_avail.notebook.views import DrawsWizard, StepView
from cronofy_avail.notebook.week_controls import unmanaged_toggle
from cronofy_avail.notebook.week_widget import WeekView


class Wizard(DrawsWizard, w.VBox):  # type: ignore[misc]
    """The four steps as panels, plus the live week view.

    ``Wizard()`` shows it with nothing started (press Connect); ``await Wizard.start()`` also
    starts the embedded emulator and the webhook receiver in the running loop. Scripted:
    ``await wizard.run_step("calendar")``, ``await wizard.run_all()``.
    """

    def __init__(self, controller: WizardController | None = None, **options: Any) -> None:
        self.controller = controller or WizardController(**options)
        c = self.controller
        self.panels: dict[str, w.VBox] = {}
        self.run_buttons: dict[str, w.Button] = {}
        self.next_buttons: dict[str, w.Button] = {}
        self.status: dict[str, w.HTML] = {}
        for key in STEP_KEYS:
            self.run_buttons[key] = _button(
                RUN_LABELS[key], f"cav-run-{key}", button_style="primary"
            )
            self.run_buttons[key].on_click(self._wrap(lambda _b, k=key: self._run(k)))
            self.next_buttons[key] = _button("Next", f"cav-next-{key}", disabled=True)
            self.next_buttons[key].on_click(self._wrap(lambda _b, k=key: self._next(k)))
            self.status[key] = html(f"cav-status-{key}")

        # step 0 inputs
        self.mode, self.emulator_url, self.attendee_name, self.data_center = connect_fields(
            c.inputs
        )
        self.secret_fields = secret_fields()
        self._bind(self.mode, "mode")
        self._bind(self.emulator_url, "emulator_url")
        self._bind(self.attendee_name, "name")
        self._bind(self.data_center, "data_center")
        for name, field in self.secret_fields.items():
            field.observe(self._wrap(lambda ch, n=name: self._secret(n, ch)), names="value")
        self.authorize = _button("Authorize", "cav-authorize")
        self.authorize.on_click(self._wrap(lambda _b: c.spawn(self._authorize(), step="connect")))
        self.authorize_link = html("cav-authorize-link")
        # steps 1 and 2
        self.profile = profile_field()
        self.profile.observe(self._wrap(self._profile_changed), names="value")
        self.callback_url = callback_field()
        self._bind(self.callback_url, "callback_url")
        # step 3
        self.act_buttons = act_buttons()
        for name, button in self.act_buttons.items():
            button.on_click(self._wrap(lambda _b, n=name: self._act(n)))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Reconcile", style=_FIT)
        self.feed, self.periods_table = html("cav-feed"), html("cav-periods")
        # step 4
        self.minutes, self.days = availability_fields(c.inputs)
        self._bind(self.minutes, "minutes")
        self._bind(self.days, "days")
        self.slots_table = html("cav-slots")
        # week view
        self.week = WeekView()
        self.week.observe(self._wrap(self._week_selected), names="selected")
        self.week.observe(self._wrap(self._week_hovered), names="hovered")
        self.week.observe(self._wrap(self._week_dragged), names="drag")
        self.week_label = w.HTML()
        self.hover, self.details = html("cav-hover"), html("cav-details")
        self.week_move = _button("Move +1h", "cav-week-move")
        self.week_delete = _button("Delete", "cav-week-delete")
        self.week_move.on_click(self._wrap(lambda _b: self._act("move")))
        self.week_delete.on_click(self._wrap(lambda _b: self._act("delete")))
        prev_week = _button("◀ previous 7 days", "cav-prev-week")
        next_week = _button("next 7 days ▶", "cav-next-week")
        prev_week.on_click(self._wrap(lambda _b: c.shift_week(-1)))
        next_week.on_click(self._wrap(lambda _b: c.shift_week(1)))
        self.week_pages = (prev_week, next_week)
        self.unmanaged = unmanaged_toggle()
        self.unmanaged.observe(
            self._wrap(lambda ch: setattr(c.week, "show_unmanaged", bool(ch["new"]))),
            names="value",
        )
        self.stopped_banner = w.HTML(layout=w.Layout(display="none"))
        self.stopped_banner.add_class("cav-stopped")
        self._display_id: str | None = None
        """The display id IPython showed the wizard under (see :meth:`_ipython_display_`)."""

        extra: dict[str, list[w.Widget]] = {
            "connect": [
                self.mode,
                self.emulator_url,
                self.attendee_name,
                self.data_center,
                *self.secret_fields.values(),
                _row([self.authorize, self.authorize_link]),
            ],
            "calendar": [self.profile],
            "channel": [self.callback_url],
            "sync": [
                *step3_rows(self.act_buttons),
                self.progress,
                self.feed,
                self.periods_table,
            ],
            "availability": [_row([self.minutes, self.days]), self.slots_table],
        }
        for key in STEP_KEYS:
            self.panels[key] = step_panel(
                c.steps[key],
                extra[key],
                [self.run_buttons[key], self.next_buttons[key]],
                self.status[key],
            )
        self.step_views = {
            key: StepView(c.steps[key], self.run_buttons[key], self.next_buttons[key], s)
            for key, s in self.status.items()
        }
        self.accordion = w.Accordion(children=list(self.panels.values()), selected_index=0)
        self.accordion.add_class("cav-steps")
        week = week_box(
            [prev_week, self.week_label, next_week, self.unmanaged],
            self.week,
            self.hover,
            [self.details, self.week_move, self.week_delete],
        )
        super().__init__([self.stopped_banner, self.accordion, week])
        self.add_class("cav-wizard")
        self._link_views()

    # ------------------------------------------------------------------ public API

    @classmethod
    async def start(cls, **options: Any) -> Wizard:
        """A wizard with step 0 done: by default the embedded emulator and the receiver run
        in this kernel's loop."""
        wizard = cls(**options)
        await wizard.run_step("connect")
        if wizard.steps["connect"].state == StepState.DONE:
            wizard._open("calendar")
        return wizard

    async def run_step(self, key: str) -> Step:
        self._open(key)  # its panel shows the outcome; "Next" moves on once it is done
        return await self.controller.run_step(key)

    async def run_all(self) -> bool:
        ok = await self.controller.run_all()
        failed = [k for k in STEP_KEYS if self.controller.steps[k].state != StepState.DONE]
        self._open(failed[0] if failed else "availability")
        return ok

    async def settle(self, within: float = 30.0) -> None:
        await self.controller.settle(within)

    async def shutdown(self) -> None:
        """Stop the emulator, the receiver and the background work. The wizard stays on
        screen and says it stopped: where a notebook showed it, the display becomes a picture
        of its last state (the steps, the week) under "Stopped: …", plain HTML that a notebook
        reopened from disk shows as it was; the widgets themselves stay open, disabled.
        (Closing them made the wizard vanish, and the saved notebook reopened with "Error
        displaying widget: model not found".)

        (``close()`` stays ipywidgets' own: it closes the comms, and is called on garbage
        collection; it also schedules this stop on the wizard's loop.)"""
        await self.controller.shutdown()
        if self._display_id is not None:
            from IPython.display import update_display

            update_display(  # type: ignore[no-untyped-call]
                self.stopped_bundle(), raw=True, display_id=self._display_id
            )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view, and for wherever it cannot be drawn (nbviewer, a static export, an
        untrusted notebook) a message instead of ipywidgets' repr."""
        data: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if data is not None:
            data["text/plain"] = SAVED_NOTE
            data["text/html"] = SAVED_NOTE_HTML
        return data

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Shown by IPython (a cell's last value, ``display(wizard)``) under a display id of
        its own, so that :meth:`shutdown` can replace what a saved notebook keeps."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is None:  # closed: nothing to draw
            return
        if self._display_id is None:
            self._display_id = f"cronofy-avail-wizard-{self.model_id}"
        display(bundle, raw=True, display_id=self._display_id)  # type: ignore[no-untyped-call]

    def stopped_bundle(self) -> dict[str, str]:
        """The wizard's last state as plain HTML: what its display becomes at shutdown."""
        return {"text/html": stopped_html(self.controller), "text/plain": STOPPED}

    def close(self) -> None:
        super().close()
        loop = self.controller._loop
        if self.controller.backend is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.controller.close()))

    @property
    def steps(self) -> dict[str, Step]:
        return self.controller.steps

    def week_svg(self) -> str:
        return self.controller.week_svg()

    # ------------------------------------------------------------------ handlers

    def _wrap(self, handler: Callable[..., Any]) -> Callable[..., None]:
        """Every handler runs on the wizard's loop, whichever thread the message came in on
        (see :meth:`WizardController.call_soon`); none once the wizard was shut down."""

        def run(*args: Any) -> None:
            if not self.controller.stopped:
                handler(*args)

        return lambda *args: self.controller.call_soon(run, *args)

    def _bind(self, field: w.ValueWidget, name: str) -> None:
        """The controller's input ``name`` follows ``field``."""
        c = self.controller
        field.observe(self._wrap(lambda ch: c.set_input(name, ch["new"])), names="value")

    def controls(self) -> list[w.DOMWidget]:
        """Every button and input (disabled once the wizard was shut down)."""
        return [
            *self.run_buttons.values(),
            *self.next_buttons.values(),
            *self.act_buttons.values(),
            self.mode,
            self.emulator_url,
            self.attendee_name,
            self.data_center,
            *self.secret_fields.values(),
            self.authorize,
            self.profile,
            self.callback_url,
            self.minutes,
            self.days,
            self.week_move,
            self.week_delete,
            *self.week_pages,
            self.unmanaged,
        ]

    def _run(self, key: str) -> None:
        self.controller.spawn(self.run_step(key), step=key)

    def _next(self, key: str) -> None:
        self._open(self._after(key))

    @staticmethod
    def _after(key: str) -> str:
        index = STEP_KEYS.index(key)
        return STEP_KEYS[min(index + 1, len(STEP_KEYS) - 1)]

    def _open(self, key: str) -> None:
        self.accordion.selected_index = STEP_KEYS.index(key)

    async def _authorize(self) -> None:
        await self.controller.authorize_url()

    def _secret(self, name: str, change: dict[str, Any]) -> None:
        value = change["new"]
        if not value:
            return
        self.controller.set_secret(name, value)
        field = self.secret_fields[name]
        field.value = ""  # held by the controller only; never left in a widget value
        field.placeholder = "set (hidden)"

    def _profile_changed(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.controller.set_input("profile_id", change["new"])

    def _act(self, name: str) -> None:
        coro = step3_action(self.controller, name)
        if coro is None:
            return
        self.controller.spawn(coro, step="sync")

    def _week_selected(self, change: dict[str, Any]) -> None:
        self.controller.select(change["new"])

    def _week_hovered(self, change: dict[str, Any]) -> None:
        bar = change["new"]
        self.hover.value = escape(self.controller.describe(bar)) if bar else ""

    def _week_dragged(self, change: dict[str, Any]) -> None:
        drag = change["new"]
        if not drag:
            return
        self.controller.spawn(drag_action(self.controller, drag), step="sync")


__all__ = ["SAVED_NOTE", "STOPPED", "WeekView", "Wizard"]
