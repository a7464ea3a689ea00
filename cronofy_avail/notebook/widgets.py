"""Thin views over :class:`~cronofy_avail.notebook.controller.WizardController`.

Every handler either changes an input on the controller or schedules one of its coroutines on
the kernel's running loop; every redraw sets widget traits (``HTML.value``, ``titles``,
``disabled``), never ``with out:`` from a background task (that would print into whatever cell
runs at the time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from html import escape
from typing import Any

import ipywidgets as w

from cronofy_avail.core.errors import CronofyError
from cronofy_avail.notebook.controller import (
    FEED_SHOWN,
    STEP_KEYS,
    Step,
    StepState,
    WizardController,
)
from cronofy_avail.notebook.panels import (
    _FIT,
    _NOTE_STYLE,
    _STOPPED_STYLE,
    RUN_LABELS,
    SAVED_NOTE,
    STOPPED,
    _button,
    _feed_html,
    _field,
    _row,
    _slot_rows,
    _status_html,
    _table,
    act_buttons,
    availability_fields,
    connect_fields,
    secret_fields,
)
from cronofy_avail.notebook.week_widget import _LEGEND, WeekView


class Wizard(w.VBox):  # type: ignore[misc]
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
            self.status[key] = w.HTML()
            self.status[key].add_class(f"cav-status-{key}")

        # step 0 inputs
        self.mode, self.emulator_url, self.attendee_name, self.data_center = connect_fields(
            c.inputs
        )
        self.secret_fields = secret_fields()
        self.mode.observe(self._wrap(lambda ch: c.set_input("mode", ch["new"])), names="value")
        self.emulator_url.observe(
            self._wrap(lambda ch: c.set_input("emulator_url", ch["new"])), names="value"
        )
        self.attendee_name.observe(
            self._wrap(lambda ch: c.set_input("name", ch["new"])), names="value"
        )
        self.data_center.observe(
            self._wrap(lambda ch: c.set_input("data_center", ch["new"])), names="value"
        )
        for name, field in self.secret_fields.items():
            field.observe(self._wrap(lambda ch, n=name: self._secret(n, ch)), names="value")
        self.authorize = _button("Authorize", "cav-authorize")
        self.authorize.on_click(self._wrap(lambda _b: c.spawn(self._authorize(), step="connect")))
        self.authorize_link = w.HTML()
        self.authorize_link.add_class("cav-authorize-link")
        self._authorize_url = ""
        """The pending authorization page (a link, no secret in it)."""
        # step 1
        # as wide as its longest option ("ada@example.com (google)"), within the panel
        self.profile = w.Dropdown(
            options=[], description="Profile", style=_FIT, layout=_field("auto")
        )
        self.profile.observe(self._wrap(self._profile_changed), names="value")
        # step 2
        self.callback_url = w.Text(
            description="Callback",
            placeholder="automatic: the receiver in this kernel, or the ngrok tunnel",
            style=_FIT,
            layout=_field("40em"),
        )
        self.callback_url.observe(
            self._wrap(lambda ch: c.set_input("callback_url", ch["new"])), names="value"
        )
        # step 3
        self.act_buttons = act_buttons()
        for name, button in self.act_buttons.items():
            button.on_click(self._wrap(lambda _b, n=name: self._act(n)))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Reconcile", style=_FIT)
        self.feed = w.HTML()
        self.feed.add_class("cav-feed")
        self.periods_table = w.HTML()
        self.periods_table.add_class("cav-periods")
        # step 4
        self.minutes, self.days = availability_fields(c.inputs)
        self.minutes.observe(
            self._wrap(lambda ch: c.set_input("minutes", ch["new"])), names="value"
        )
        self.days.observe(self._wrap(lambda ch: c.set_input("days", ch["new"])), names="value")
        self.slots_table = w.HTML()
        self.slots_table.add_class("cav-slots")
        # week view
        self.week = WeekView()
        self.week.observe(self._wrap(self._week_selected), names="selected")
        self.week.observe(self._wrap(self._week_hovered), names="hovered")
        self.week.observe(self._wrap(self._week_dragged), names="drag")
        self.week_label = w.HTML()
        self.hover = w.HTML()
        self.hover.add_class("cav-hover")
        self.details = w.HTML()
        self.details.add_class("cav-details")
        self.week_move = _button("Move +1h", "cav-week-move")
        self.week_delete = _button("Delete", "cav-week-delete")
        self.week_move.on_click(self._wrap(lambda _b: self._act("move")))
        self.week_delete.on_click(self._wrap(lambda _b: self._act("delete")))
        prev_week = _button("◀ previous 7 days", "cav-prev-week")
        next_week = _button("next 7 days ▶", "cav-next-week")
        prev_week.on_click(self._wrap(lambda _b: c.shift_week(-1)))
        next_week.on_click(self._wrap(lambda _b: c.shift_week(1)))
        self.week_pages = (prev_week, next_week)
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
                _row([self.act_buttons[n] for n in ("timed", "all_day", "recurring")]),
                _row([self.act_buttons[n] for n in ("move", "delete", "dry_run", "reconcile")]),
                self.progress,
                self.feed,
                self.periods_table,
            ],
            "availability": [_row([self.minutes, self.days]), self.slots_table],
        }
        children = []
        for key in STEP_KEYS:
            step = c.steps[key]
            about = w.HTML(f'<p class="cav-about">{escape(step.about)}</p>')
            buttons = _row([self.run_buttons[key], self.next_buttons[key]])
            panel = w.VBox([about, *extra[key], buttons, self.status[key]])
            panel.add_class(f"cav-step-{key}")
            self.panels[key] = panel
            children.append(panel)
        self.accordion = w.Accordion(children=children, selected_index=0)
        self.accordion.add_class("cav-steps")
        week_box = w.VBox(
            [
                _row([prev_week, self.week_label, next_week]),
                w.HTML(f'<div class="cav-legend" style="font-size:small">{_LEGEND}</div>'),
                self.week,
                self.hover,
                _row([self.details, self.week_move, self.week_delete]),
            ]
        )
        week_box.add_class("cav-week-box")
        super().__init__([self.stopped_banner, self.accordion, week_box])
        self.add_class("cav-wizard")
        c.on_change(self.redraw)
        self.redraw()

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
            data["text/html"] = (
                f'<div class="cav-saved-note" style="{_NOTE_STYLE}">{escape(SAVED_NOTE)}</div>'
            )
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
        c = self.controller
        steps = "".join(
            f'<details class="cav-stopped-step" style="margin:2px 0"{" open" if s.error else ""}>'
            f"<summary>{escape(s.icon)} {escape(s.title)} ({escape(s.state)})</summary>"
            f'<div style="margin-left:1.5em">{_status_html(s)}</div></details>'
            for s in c.steps.values()
        )
        html = (
            f'<div class="cav-wizard-stopped">'
            f'<div class="cav-stopped-note" style="{_STOPPED_STYLE}">{escape(STOPPED)}</div>'
            f'<div style="margin:6px 0">{steps}</div>'
            f"<div><b>{escape(c.week_title())}</b> ({escape(c.inputs.tzid)})</div>"
            f'<div style="font-size:small">{_LEGEND}</div>{c.week_svg()}</div>'
        )
        return {"text/html": html, "text/plain": STOPPED}

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
        self._authorize_url = ""
        self._authorize_url = await self.controller.authorize_url()
        self.redraw()

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
        c = self.controller
        kind, _, target = (c.selected or "").partition(":")
        if name == "timed":
            coro: Any = c.add_timed(c.tomorrow_at(9), c.tomorrow_at(12), "Open for calls")
        elif name == "all_day":
            coro = c.add_all_day(c.tomorrow_at(0, days=2).date())
        elif name == "recurring":
            coro = c.add_recurring(c.tomorrow_at(14, days=3), c.tomorrow_at(16, days=3))
        elif name in ("move", "delete"):
            event = next((e for e in c.events if kind == "event" and e.event_uid == target), None)
            if event is None:
                c.steps["sync"].error = "Select an event bar in the week view first."
                self.redraw()
                return
            if name == "delete":
                coro = c.delete(event.event_uid)
            else:
                bar = next(b for b in c.week_bars() if b.id == event.event_uid)
                coro = _shift(c, event.event_uid, bar.start, bar.end)
        elif name == "dry_run":
            coro = c.sync_now(full=True, dry_run=True)
        else:
            coro = c.sync_now(full=True)
        c.spawn(coro, step="sync")

    def _week_selected(self, change: dict[str, Any]) -> None:
        self.controller.select(change["new"])

    def _week_hovered(self, change: dict[str, Any]) -> None:
        bar = change["new"]
        self.hover.value = escape(self.controller.describe(bar)) if bar else ""

    def _week_dragged(self, change: dict[str, Any]) -> None:
        drag = change["new"]
        if not drag:
            return
        shown = drag.get("date")
        self.controller.spawn(
            self.controller.create_from_drag(
                int(drag["day"]),
                float(drag["y0"]),
                float(drag["y1"]),
                day=date.fromisoformat(shown) if isinstance(shown, str) else None,
                allday_rows=int(drag["rows"]) if drag.get("rows") else None,
            ),
            step="sync",
        )

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        c = self.controller
        titles = []
        if c.stopped:
            self._draw_stopped()
            return
        for key in STEP_KEYS:
            step = c.steps[key]
            titles.append(f"{step.icon} {step.title} ({step.state})")
            running = step.state == StepState.RUNNING
            self.run_buttons[key].disabled = running or not c.can_run(key)
            self.next_buttons[key].disabled = step.state != StepState.DONE
            self.status[key].value = _status_html(step)
        self.accordion.titles = tuple(titles)
        shared = c.inputs.mode == "shared"
        self.emulator_url.layout.display = "" if shared else "none"
        self.attendee_name.layout.display = "" if shared else "none"
        cronofy = c.inputs.mode == "cronofy"
        self.data_center.layout.display = "" if cronofy else "none"
        for field in self.secret_fields.values():
            field.layout.display = "" if cronofy else "none"
        self.authorize.layout.display = "" if cronofy else "none"
        self.authorize_link.layout.display = "" if cronofy else "none"
        pending = self._authorize_url and not c.authorized.is_set() and c.oauth_pending
        self.authorize_link.value = (
            f'<a href="{escape(self._authorize_url)}" target="_blank" rel="noopener">'
            "Open Cronofy to authorize</a> "
            if pending
            else ""
        ) + escape(c.authorization)
        options = [(f"{p.profile_name} ({p.provider_name})", p.profile_id) for p in c.profiles]
        if [o[1] for o in self.profile.options] != [o[1] for o in options]:
            self.profile.options = options
        if c.inputs.profile_id in {o[1] for o in options}:
            self.profile.value = c.inputs.profile_id
        synced = c.steps["channel"].state == StepState.DONE
        for button in self.act_buttons.values():
            button.disabled = not synced or c.busy
        # The engine reports no per-page progress: the bar says "running" and "finished".
        self.progress.value = 0 if c.busy else self.progress.max
        self.progress.bar_style = "info" if c.busy else ""
        self.progress.description = "Syncing…" if c.busy else "Idle"
        self.feed.value = _feed_html(c.feed[-FEED_SHOWN:])
        self.periods_table.value = _table(
            ["Available Period", "start", "end", "event"], c.period_rows(), "cav-periods-table"
        )
        zone_rows = _slot_rows(c)
        self.slots_table.value = _table(
            ["with managed availability", "without"], zone_rows, "cav-slots-table"
        ) + (f'<p class="cav-trap">{escape(c.availability_note)}</p>' if zone_rows else "")
        self.week_label.value = f"<b>{escape(c.week_title())}</b> ({escape(c.inputs.tzid)})"
        self.week.svg = c.week_svg()
        self.details.value = escape(c.describe(c.selected)) if c.selected else ""
        # move/delete act as the user on an emulator, on a selected event bar
        on_emulator = c.backend is not None and c.backend.control is not None
        shown = on_emulator and (c.selected or "").startswith("event:")
        for button in (self.week_move, self.week_delete):
            button.layout.display = "" if shown else "none"

    def _draw_stopped(self) -> None:
        self.stopped_banner.value = (
            f'<div class="cav-stopped-note" style="{_STOPPED_STYLE}">{escape(STOPPED)}</div>'
        )
        self.stopped_banner.layout.display = ""
        for control in self.controls():
            control.disabled = True
        for key, status in self.status.items():
            status.value = _status_html(self.controller.steps[key], stopped=True)
        self.accordion.titles = tuple(
            f"■ {c.title} (stopped)" for c in self.controller.steps.values()
        )
        self.authorize_link.value = ""


async def _shift(c: WizardController, uid: str, start: Any, end: Any) -> None:
    from datetime import datetime, timedelta

    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise CronofyError("only timed events move by an hour here")
    await c.move(uid, start + timedelta(hours=1), end + timedelta(hours=1))


__all__ = ["SAVED_NOTE", "STOPPED", "WeekView", "Wizard"]
