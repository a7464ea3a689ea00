"""The week picture: data in, SVG text out (pure: no I/O, no widgets).

One column per day of seven consecutive days in the user's time zone (the notebook and the
demo start them today: a rolling week, so "tomorrow" is in view on a Sunday too), one time
axis per day.
Each day column has four lanes, left to right: the sub calendar's **events**, the **Available
Periods** made from them, the **managed** availability slots (inside the periods) and the
**unmanaged** slots (any time not busy). All-day and multi-day all-day events sit in a band
above the axis; a timed bar that crosses midnight is drawn on every day it touches (one
``<rect>`` per day, same ``data-id``). "Now" is a line across today's column.

The same text is tested as XML, written by ``cronofy-avail week --svg``, shown in static HTML
and injected by the notebook's week widget, which maps a drag on empty time back to a time
range with :func:`time_at` (the layout lives here, once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event, LocalizedTime, utc_instant

KINDS = ("event", "period", "managed", "unmanaged")
"""Lane order inside a day column."""

COLORS = {
    "event": "#4a78c2",
    "period": "#3aa76d",
    "managed": "#f0b429",
    "unmanaged": "#cfcfcf",
    "selected": "#e0533d",
    "now": "#d62728",
}

GUTTER = 44
"""Width of the hour labels on the left."""
DAY_W = 132
HEADER_H = 22
ALLDAY_ROW_H = 16
HOUR_H = 18
LANE_GAP = 2
SNAP_MINUTES = 15


@dataclass(frozen=True, slots=True)
class Bar:
    """One thing to draw. Timed bars have aware ``datetime`` bounds; all-day bars have
    ``date`` bounds with an exclusive end (Cronofy's convention)."""

    id: str
    kind: str
    start: datetime | date
    end: datetime | date
    label: str = ""

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are: shared by the renderer and :func:`time_at`."""

    week_start: date
    tzid: str
    allday_rows: int = 1

    @property
    def axis_top(self) -> int:
        return HEADER_H + max(1, self.allday_rows) * ALLDAY_ROW_H + 4

    @property
    def width(self) -> int:
        return GUTTER + 7 * DAY_W

    @property
    def height(self) -> int:
        return self.axis_top + 24 * HOUR_H + 1

    def day_x(self, index: int) -> int:
        return GUTTER + index * DAY_W

    def lane(self, kind: str) -> tuple[float, float]:
        """(x offset inside the day column, width) of a lane."""
        lane_w = (DAY_W - LANE_GAP) / len(KINDS)
        i = KINDS.index(kind)
        return LANE_GAP + i * lane_w, lane_w - LANE_GAP

    def y_of(self, minutes: float) -> float:
        return self.axis_top + minutes * HOUR_H / 60


def _bound(value: datetime | date | LocalizedTime) -> datetime | date:
    return utc_instant(value) if isinstance(value, LocalizedTime) else value


def bars_from(
    events: Iterable[Event] = (),
    periods: Iterable[AvailablePeriod] = (),
    managed: Iterable[tuple[datetime, datetime]] = (),
    unmanaged: Iterable[tuple[datetime, datetime]] = (),
) -> list[Bar]:
    """Cronofy's objects as bars: the sub calendar's events (deleted ones left out), the
    Available Periods (labelled with their event's summary), and the slots of an availability
    query with and without managed availability. The CLI, the demo and the notebook all draw
    through this."""
    bars: list[Bar] = []
    summaries: dict[str, str] = {}
    for e in events:
        if e.deleted:
            continue
        summaries[period_id_for(e.event_uid)] = e.summary or ""
        bars.append(Bar(e.event_uid, "event", _bound(e.start), _bound(e.end), e.summary or ""))
    for p in periods:
        pid = p.available_period_id
        bars.append(
            Bar(pid, "period", utc_instant(p.start), utc_instant(p.end), summaries.get(pid, ""))
        )
    for kind, slots, label in (
        ("managed", managed, "free (managed availability)"),
        ("unmanaged", unmanaged, "free (without managed availability)"),
    ):
        bars.extend(Bar(f"{kind}-{i}", kind, a, b, label) for i, (a, b) in enumerate(slots))
    return bars


def span_title(first: date) -> str:
    """The seven days from ``first``, e.g. "Sun 06 Dec - Sat 12 Dec 2026"."""
    return f"{first:%a %d %b} - {first + timedelta(days=6):%a %d %b %Y}"


def time_at(
    week_start: date, tzid: str, day_index: int, y: float, *, allday_rows: int = 1
) -> datetime:
    """The local time at height ``y`` (SVG units) in day column ``day_index``, snapped to
    :data:`SNAP_MINUTES`, as an aware datetime in ``tzid``. Used for a drag on empty time."""
    layout = Layout(week_start, tzid, allday_rows)
    minutes = (y - layout.axis_top) * 60 / HOUR_H
    minutes = max(0.0, min(24 * 60.0, minutes))
    snapped = round(minutes / SNAP_MINUTES) * SNAP_MINUTES
    day = week_start + timedelta(days=max(0, min(6, day_index)))
    midnight = datetime.combine(day, time(0), ZoneInfo(tzid))
    return midnight + timedelta(minutes=snapped)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _allday_rows(bars: Sequence[Bar], week_start: date) -> dict[int, int]:
    """Row per all-day bar (by position in ``bars``), greedy so overlapping ones stack."""
    rows_end: list[date] = []
    placed: dict[int, int] = {}
    week_end = week_start + timedelta(days=7)
    order = sorted(
        (i for i, b in enumerate(bars) if b.all_day), key=lambda i: (bars[i].start, bars[i].id)
    )
    for i in order:
        bar = bars[i]
        assert isinstance(bar.start, date) and isinstance(bar.end, date)
        if bar.end <= week_start or bar.start >= week_end:
            continue
        for row, end in enumerate(rows_end):
            if end <= bar.start:
                rows_end[row] = bar.end
                placed[i] = row
                break
        else:
            rows_end.append(bar.end)
            placed[i] = len(rows_end) - 1
    return placed


def allday_row_count(bars: Sequence[Bar], week_start: date) -> int:
    """How many rows the all-day band of that week needs (it moves the time axis down)."""
    return max(_allday_rows(bars, week_start).values(), default=0) + 1


def render_week(
    bars: Iterable[Bar],
    *,
    week_start: date,
    tzid: str,
    now: datetime | None = None,
    selected: str | None = None,
    title: str | None = None,
) -> str:
    """The SVG text of seven days from ``week_start`` (any day of the week).

    Every bar carries ``class="bar <kind>"``, ``data-id``, ``data-kind`` and a ``<title>``
    (hover text); ``selected`` is ``"<kind>:<id>"`` (an event and its period share an id).
    Day columns are ``<rect class="day" data-day="0..6" data-date=...>`` (targets for a drag
    on empty time).
    """
    zone = ZoneInfo(tzid)
    items = list(bars)
    placed = _allday_rows(items, week_start)
    layout = Layout(week_start, tzid, allday_rows=max(placed.values(), default=0) + 1)
    week_end = week_start + timedelta(days=7)
    top = layout.axis_top
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cav-week" '
        f'width="{layout.width}" height="{layout.height}" '
        f'viewBox="0 0 {layout.width} {layout.height}" '
        f'data-week-start="{week_start.isoformat()}" data-tzid="{escape(tzid)}" '
        f'data-allday-rows="{layout.allday_rows}" font-family="sans-serif" font-size="10">'
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    # grid: day columns (drag targets), hour lines and labels
    for d in range(7):
        day = week_start + timedelta(days=d)
        x = layout.day_x(d)
        out.append(
            f'<rect class="day" data-day="{d}" data-date="{day.isoformat()}" x="{x}" y="{top}" '
            f'width="{DAY_W}" height="{24 * HOUR_H}" fill="#fafafa" stroke="#ddd"/>'
        )
        out.append(
            f'<text class="day-label" x="{x + DAY_W / 2:g}" y="15" text-anchor="middle">'
            f"{day:%a %d %b}</text>"
        )
    for h in range(0, 25, 2):
        y = layout.y_of(h * 60)
        out.append(
            f'<line x1="{GUTTER}" y1="{_fmt(y)}" x2="{layout.width}" y2="{_fmt(y)}" '
            'stroke="#eee" pointer-events="none"/>'
        )
        if h < 24:
            out.append(f'<text class="hour" x="4" y="{_fmt(y + 9)}">{h:02d}:00</text>')
    # all-day band
    for i, row in sorted(placed.items(), key=lambda kv: kv[0]):
        bar = items[i]
        assert isinstance(bar.start, date) and isinstance(bar.end, date)
        first = max(bar.start, week_start)
        last = min(bar.end, week_end)
        x = layout.day_x((first - week_start).days) + LANE_GAP
        w = (last - first).days * DAY_W - 2 * LANE_GAP
        y = HEADER_H + row * ALLDAY_ROW_H
        out.append(_rect(bar, x, y, w, ALLDAY_ROW_H - 2, selected, "allday"))
    # timed bars, split per day
    for bar in items:
        if bar.all_day:
            continue
        assert isinstance(bar.start, datetime) and isinstance(bar.end, datetime)
        start, end = bar.start.astimezone(zone), bar.end.astimezone(zone)
        if end <= start:
            continue
        lane_x, lane_w = layout.lane(bar.kind)
        day = max(start.date(), week_start)
        part = 0
        while day < week_end and day <= end.date():
            midnight = datetime.combine(day, time(0), zone)
            next_midnight = datetime.combine(day + timedelta(days=1), time(0), zone)
            lo, hi = max(start, midnight), min(end, next_midnight)
            if hi > lo:
                m0 = (lo - midnight).total_seconds() / 60
                m1 = (hi - midnight).total_seconds() / 60
                d = (day - week_start).days
                y0, y1 = layout.y_of(m0), layout.y_of(m1)
                out.append(
                    _rect(bar, layout.day_x(d) + lane_x, y0, lane_w, y1 - y0, selected, str(part))
                )
                part += 1
            day += timedelta(days=1)
    # now
    if now is not None:
        local = now.astimezone(zone)
        if week_start <= local.date() < week_end:
            d = (local.date() - week_start).days
            minutes = local.hour * 60 + local.minute + local.second / 60
            y_now = _fmt(layout.y_of(minutes))
            x0 = layout.day_x(d)
            out.append(
                f'<line class="now" x1="{x0}" y1="{y_now}" x2="{x0 + DAY_W}" y2="{y_now}" '
                f'stroke="{COLORS["now"]}" stroke-width="2" pointer-events="none"/>'
            )
    out.append("</svg>")
    return "".join(out)


def _rect(bar: Bar, x: float, y: float, w: float, h: float, selected: str | None, part: str) -> str:
    chosen = selected is not None and f"{bar.kind}:{bar.id}" == selected
    fill = COLORS["selected"] if chosen else COLORS[bar.kind]
    label = bar.label or bar.id
    if bar.kind in ("managed", "unmanaged") and h > 3:
        h -= 1  # back-to-back slots stay apart
    return (
        f'<rect class="bar {bar.kind}" data-id="{escape(bar.id)}" data-kind="{bar.kind}" '
        f'data-part="{part}" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" '
        f'height="{_fmt(max(h, 1.0))}" rx="2" fill="{fill}">'
        f"<title>{escape(bar.kind)}: {escape(label)}</title></rect>"
    )
