"""The wizard's panels in pieces: the HTML each panel shows (a step's status, the feed, the
tables) and the widgets each one holds, built here and wired by
:class:`~cronofy_avail.notebook.widgets.Wizard`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from cronofy_avail.core.errors import CronofyError
from cronofy_avail.notebook.feed import FeedItem
from cronofy_avail.notebook.models import StepModel as Step
from cronofy_avail.notebook.steps import MODES, Inputs

if TYPE_CHECKING:
    from cronofy_avail.notebook.controller import WizardController

STOPPED = "Stopped: the receiver and syncs were shut down; run the cell again to start over."
SAVED_NOTE = "The wizard ran here; run the cell again to use it."
"""What a notebook shows where the live wizard cannot be drawn (reopened from disk)."""
_NOTE_STYLE = "padding:6px 10px;border-left:4px solid #888;background:#f4f4f4;color:#333"
_STOPPED_STYLE = (
    "padding:6px 10px;border-left:4px solid #a15c00;background:#fff4e0;color:#5a3500;"
    "font-weight:bold"
)

STOPPED_NOTE = f'<div class="cav-stopped-note" style="{_STOPPED_STYLE}">{escape(STOPPED)}</div>'
SAVED_NOTE_HTML = f'<div class="cav-saved-note" style="{_NOTE_STYLE}">{escape(SAVED_NOTE)}</div>'

SLOT_ROWS = 6
"""First slots listed side by side; the week view shows them all."""


def _status_html(step: Step, *, stopped: bool = False) -> str:
    state = (
        '<div class="cav-state cav-state-stopped">■ stopped</div>'
        if stopped
        else f'<div class="cav-state cav-state-{step.state}">{step.icon} {step.state}</div>'
    )
    parts = [state]
    if step.summary:
        parts.append(f'<div class="cav-summary">{escape(step.summary)}</div>')
    if step.lines:
        items = "".join(f"<li>{escape(line)}</li>" for line in step.lines if line)
        parts.append(f"<ul>{items}</ul>")
    if step.error:
        parts.append(
            '<div class="cav-error" style="color:#a00;white-space:pre-wrap;border:1px solid '
            f'#e99;padding:4px">{escape(step.error)}</div>'
        )
    return "".join(parts)


_FEED_COLORS = {"log": "#a15c00", "sync": "inherit", "delivery": "inherit"}


def _feed_html(items: Sequence[FeedItem]) -> str:
    """Step 3's feed, newest first, in a box of bounded height that scrolls."""
    if not items:
        return '<div class="cav-feed-items">(nothing yet: deliveries and syncs appear here)</div>'
    rows = []
    for f in reversed(items):
        detail = (
            '<pre style="margin:2px 0 4px 1em;white-space:pre">'
            + escape("\n".join(f.detail[:12]))
            + "</pre>"
            if f.detail and f.kind == "sync"
            else ""
        )
        color = _FEED_COLORS.get(f.kind, "inherit")
        rows.append(
            f'<div class="cav-feed-{f.kind}" style="color:{color}">{escape(f.text)}{detail}</div>'
        )
    return (
        '<div class="cav-feed-items" style="max-height:16em;overflow:auto;border:1px solid '
        '#ddd;padding:2px 4px;font-size:small">'
        '<div style="color:#777">newest first</div>' + "".join(rows) + "</div>"
    )


def _table(headers: list[str], rows: Sequence[tuple[str, ...]], css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">(none)</td></tr>'
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_FORM = {"description_width": "8.5em"}
"""The Connect form's labels: one width, so the fields line up, that holds its longest label
("Refresh token", "Data center") in any font (em: it grows with the font)."""
_FIT = {"description_width": "initial"}
"""A label as wide as its text: never cut short."""


def _field(width: str = "26em") -> w.Layout:
    """An input's box: wide enough for its placeholder, never wider than the panel."""
    return w.Layout(width=width, max_width="100%")


def _row(children: list[w.Widget]) -> w.HBox:
    """Side by side, wrapping onto the next line when the panel is narrow."""
    return w.HBox(children, layout=w.Layout(flex_flow="row wrap", align_items="center"))


def _button(description: str, css: str, **kw: Any) -> w.Button:
    """A button as wide as its text (ipywidgets' fixed 148 px cut "Create or reuse the
    Availability calendar" short)."""
    button = w.Button(description=description, layout=w.Layout(width="auto", min_width="6em"), **kw)
    button.add_class(css)
    return button


def _slot_rows(c: WizardController) -> list[tuple[str, ...]]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(c.inputs.tzid)

    def fmt(pair: tuple[Any, Any] | None) -> str:
        if pair is None:
            return ""
        a, b = pair
        return f"{a.astimezone(zone):%a %d %b %H:%M}-{b.astimezone(zone):%H:%M}"

    n = max(len(c.managed_slots), len(c.unmanaged_slots))
    rows: list[tuple[str, ...]] = []
    for i in range(min(n, SLOT_ROWS)):
        m = c.managed_slots[i] if i < len(c.managed_slots) else None
        u = c.unmanaged_slots[i] if i < len(c.unmanaged_slots) else None
        rows.append((fmt(m), fmt(u)))
    if n > SLOT_ROWS:
        rows.append((f"… {len(c.managed_slots)} in all", f"… {len(c.unmanaged_slots)} in all"))
    return rows


RUN_LABELS = {
    "connect": "Connect",
    "calendar": "Create or reuse the Availability calendar",
    "channel": "Create channel",
    "sync": "Run the first full reconcile",
    "availability": "Query availability",
}
"""Each step's run button."""


def connect_fields(inputs: Inputs) -> tuple[w.Dropdown, w.Text, w.Text, w.Dropdown]:
    """Step 0's inputs: the mode, the shared emulator's URL, the attendee's name, the data
    center."""
    mode = w.Dropdown(
        options=list(MODES),
        value=inputs.mode,
        description="Cronofy",
        style=_FORM,
        layout=_field("18em"),
    )
    emulator_url = w.Text(
        value=inputs.emulator_url,
        description="Emulator",
        placeholder="http://instructor:8181 (shared emulator)",
        style=_FORM,
        layout=_field("32em"),
    )
    attendee_name = w.Text(
        value=inputs.name,
        description="Your name",
        placeholder="shown on the instructor's page (workshop)",
        style=_FORM,
        layout=_field("32em"),
    )
    attendee_name.add_class("cav-attendee-name")
    data_center = w.Dropdown(
        options=["us", "uk", "de", "au", "ca", "sg"],
        value=inputs.data_center,
        description="Data center",
        style=_FORM,
        layout=_field("18em"),
    )
    return mode, emulator_url, attendee_name, data_center


def secret_fields() -> dict[str, w.Password]:
    """Step 0's password fields (real Cronofy), emptied as soon as typed."""
    return {
        name: w.Password(
            description=label,
            placeholder="from .env / environment",
            style=_FORM,
            layout=_field(),
        )
        for name, label in (
            ("client_id", "Client id"),
            ("client_secret", "Client secret"),
            ("access_token", "Access token"),
            ("refresh_token", "Refresh token"),
        )
    }


def act_buttons() -> dict[str, w.Button]:
    """Step 3's buttons: acting as the user, and syncing."""
    return {
        "timed": _button("Add timed", "cav-add-timed"),
        "all_day": _button("Add all-day", "cav-add-all-day"),
        "recurring": _button("Add recurring", "cav-add-recurring"),
        "move": _button("Move selected +1h", "cav-move"),
        "delete": _button("Delete selected", "cav-delete"),
        "dry_run": _button("Dry run", "cav-dry-run"),
        "reconcile": _button("Full reconcile", "cav-reconcile"),
    }


def availability_fields(inputs: Inputs) -> tuple[w.BoundedIntText, w.BoundedIntText]:
    """Step 4's inputs: the slot's minutes and the window's days."""
    minutes = w.BoundedIntText(
        value=inputs.minutes,
        min=5,
        max=480,
        description="Minutes",
        style=_FIT,
        layout=_field("12em"),
    )
    days = w.BoundedIntText(
        value=inputs.days,
        min=1,
        max=35,
        description="Days",
        style=_FIT,
        layout=_field("10em"),
    )
    return minutes, days


def step_panel(
    step: Step, widgets: list[w.Widget], buttons: list[w.Button], status: w.HTML
) -> w.VBox:
    """A step's panel: what it does, its inputs, its run and next buttons, its status."""
    about = w.HTML(f'<p class="cav-about">{escape(step.about)}</p>')
    panel = w.VBox([about, *widgets, _row(buttons), status])
    panel.add_class(f"cav-step-{step.key}")
    return panel


def week_box(pages: list[w.Widget], week: w.Widget, hover: w.HTML, below: list[w.Widget]) -> w.VBox:
    """The week view under its paging row and legend, the hover text and the details row
    under it."""
    box = w.VBox(
        [
            _row(pages),
            week,
            hover,
            _row(below),
        ]
    )
    box.add_class("cav-week-box")
    return box


def stopped_html(c: WizardController) -> str:
    """The wizard's last state as plain HTML (the steps, the week) under "Stopped: …"."""
    steps = "".join(
        f'<details class="cav-stopped-step" style="margin:2px 0"{" open" if s.error else ""}>'
        f"<summary>{escape(s.icon)} {escape(s.title)} ({escape(s.state)})</summary>"
        f'<div style="margin-left:1.5em">{_status_html(s)}</div></details>'
        for s in c.steps.values()
    )
    return (
        f'<div class="cav-wizard-stopped">'
        f'{STOPPED_NOTE}<div style="margin:6px 0">{steps}</div>'
        f"<div><b>{escape(c.week_title())}</b> ({escape(c.inputs.tzid)})</div>"
        f"{c.week_svg()}</div>"
    )


def tables_html(c: WizardController) -> tuple[str, str]:
    """Step 3's Available Periods table and step 4's slots table (with the trap's note)."""
    periods = _table(
        ["Available Period", "start", "end", "event"], c.period_rows(), "cav-periods-table"
    )
    zone_rows = _slot_rows(c)
    slots = _table(["with managed availability", "without"], zone_rows, "cav-slots-table") + (
        f'<p class="cav-trap">{escape(c.availability_note)}</p>' if zone_rows else ""
    )
    return periods, slots


def step3_action(c: WizardController, name: str) -> Any | None:
    """What step 3's button ``name`` does, as a coroutine to spawn; ``None`` (and the step
    says why) for move or delete with no event bar selected."""
    kind, _, target = (c.selected or "").partition(":")
    if name == "timed":
        return c.add_timed(c.tomorrow_at(9), c.tomorrow_at(12), "Open for calls")
    if name == "all_day":
        return c.add_all_day(c.tomorrow_at(0, days=2).date())
    if name == "recurring":
        return c.add_recurring(c.tomorrow_at(14, days=3), c.tomorrow_at(16, days=3))
    if name in ("move", "delete"):
        event = next((e for e in c.events if kind == "event" and e.event_uid == target), None)
        if event is None:
            c.steps["sync"].error = "Select an event bar in the week view first."
            return None
        if name == "delete":
            return c.delete(event.event_uid)
        bar = next(b for b in c.week_bars() if b.id == event.event_uid)
        return _shift(c, event.event_uid, bar.start, bar.end)
    if name == "dry_run":
        return c.sync_now(full=True, dry_run=True)
    return c.sync_now(full=True)


async def _shift(c: WizardController, uid: str, start: Any, end: Any) -> None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise CronofyError("only timed events move by an hour here")
    await c.move(uid, start + timedelta(hours=1), end + timedelta(hours=1))


def html(css: str) -> w.HTML:
    """An HTML output with a class of its own (for the browser tests and the styles)."""
    out = w.HTML()
    out.add_class(css)
    return out


def profile_field() -> w.Dropdown:
    """Step 1's profile: as wide as its longest option ("ada@example.com (google)"), within
    the panel."""
    return w.Dropdown(options=[], description="Profile", style=_FIT, layout=_field("auto"))


def callback_field() -> w.Text:
    """Step 2's callback URL (empty: automatic)."""
    return w.Text(
        description="Callback",
        placeholder="automatic: the receiver in this kernel, or the ngrok tunnel",
        style=_FIT,
        layout=_field("40em"),
    )


def show_for_mode(mode: str, shared: list[w.Widget], cronofy: list[w.Widget]) -> None:
    """Step 0 shows the shared emulator's fields and real Cronofy's only in their mode."""
    for field in shared:
        field.layout.display = "" if mode == "shared" else "none"
    for field in cronofy:
        field.layout.display = "" if mode == "cronofy" else "none"


def authorize_html(url: str, pending: bool, said: str) -> str:
    """The link to Cronofy's consent page while its redirect is awaited, and what the
    Authorize flow says."""
    link = (
        f'<a href="{escape(url)}" target="_blank" rel="noopener">Open Cronofy to authorize</a> '
        if pending
        else ""
    )
    return link + escape(said)


def draw_profiles(field: w.Dropdown, c: WizardController) -> None:
    """Step 1's dropdown: the connected account's profiles, the chosen one selected."""
    options = [(f"{p.profile_name} ({p.provider_name})", p.profile_id) for p in c.profiles]
    if [o[1] for o in field.options] != [o[1] for o in options]:
        field.options = options
    if c.inputs.profile_id in {o[1] for o in options}:
        field.value = c.inputs.profile_id


def step3_rows(buttons: dict[str, w.Button]) -> list[w.HBox]:
    """Step 3's buttons in two rows: adding events, then changing them and syncing."""
    return [
        _row([buttons[n] for n in ("timed", "all_day", "recurring")]),
        _row([buttons[n] for n in ("move", "delete", "dry_run", "reconcile")]),
    ]


def drag_action(c: WizardController, drag: dict[str, Any]) -> Any:
    """The week view's ``drag`` trait (``{day, y0, y1, date, rows}``) as the coroutine that
    makes an event there."""
    shown = drag.get("date")
    return c.create_from_drag(
        int(drag["day"]),
        float(drag["y0"]),
        float(drag["y1"]),
        day=date.fromisoformat(shown) if isinstance(shown, str) else None,
        allday_rows=int(drag["rows"]) if drag.get("rows") else None,
    )
