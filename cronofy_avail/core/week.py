"""The week picture: data in, SVG text out (pure: no I/O, no widgets).

One column per day of seven consecutive days in the user's time zone (the notebook and the
demo start them today: a rolling week, so "tomorrow" is in view on a Sunday too), one time
axis per day, drawn like a calendar:

* the sub calendar's **events** are blocks with their summary and start-end times inside
  (as much as fits) and always in the hover text (``<title>``, times in the week's zone);
  events that overlap, identical ones included, sit side by side in columns;
* each **Available Period** is a pale band behind the event it was made from (same column)
  with a solid rail on its left edge, the part one clicks; a period with no timed event that
  day (an all-day event's period, an orphan) washes the whole day with its rail at the
  column's left edge;
* **managed** availability slots are thin marks at the column's right edge; **unmanaged**
  slots (any time not busy) only when asked for (``show_unmanaged``), next to them.

A legend across the top names the colours of what can be drawn, and only that: its
"unmanaged" swatch comes and goes with ``show_unmanaged``, the one switch for both.

All-day and multi-day all-day events sit in a band above the axis; a timed block that crosses
midnight is drawn on every day it touches (one ``<rect>`` per day, same ``data-id``). "Now" is
a red line across today's column; the selection is a blue outline, never red.

The SVG scales to its container (``viewBox``, ``width="100%"``, no pixel size): 1000 units
wide, so at 1000 px one unit is one pixel and the text (11 units and up) stays readable on
anything from a laptop to a projector. Event blocks are focusable (``tabindex``, ``role``,
``aria-label``).

The same text is tested as XML, written by ``cronofy-avail demo --svg``, shown in static HTML
and injected by the notebook's week widget, which maps a drag on empty time back to a time
range with :func:`time_at` (the layout lives here, once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from html import escape
from zoneinfo import ZoneInfo

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event, LocalizedTime, utc_instant

KINDS = ("event", "period", "managed", "unmanaged")
"""What a bar can be (``data-kind``)."""

COLORS = {
    "event": "#3f6fb8",
    "period": "#2e9d62",
    "managed": "#e8a317",
    "unmanaged": "#b3b3b3",
    "selected": "#0b57d0",
    "now": "#d62728",
}
"""Fill of each kind (the legend's swatches), the selection outline and the "now" line."""

LEGEND = (
    ("event", "event in the sub calendar"),
    ("period", "Available Period"),
    ("managed", "free slot, managed availability"),
    ("unmanaged", "free slot, without managed availability"),
)
"""The legend's entries, in order; "unmanaged" only when those slots are drawn."""

GUTTER = 48
"""Width of the hour labels on the left."""
DAY_W = 136
LEGEND_H = 20
"""The legend's strip, above the day labels."""
HEADER_H = 30
"""The day labels' strip, under the legend."""
ALLDAY_ROW_H = 20
HOUR_H = 28
SNAP_MINUTES = 15

FONT_DAY = 13
FONT_TEXT = 12
"""Summaries inside blocks (viewBox units: 12 px at 1000 px wide, 23 px at 1920)."""
FONT_SMALL = 11
"""Times, hour labels, all-day summaries: the smallest text drawn."""
LINE_H = 13
"""Between the baselines of text lines inside a block."""

RAIL_W = 4
"""The Available Period's rail: the clickable part of its band."""
AREA_LEFT = 2 + RAIL_W + 2
"""Events start here inside a day column (left of it: rails of unlinked periods)."""
MARKS_W = 12
"""Right edge of a day column: the managed (and unmanaged) slot marks."""
COLUMN_GAP = 2

DASH = "\u2013"
ELLIPSIS = "\u2026"

FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"

_STYLE = (
    "svg.cav-week .bar{cursor:pointer}"
    "svg.cav-week .bar:focus{outline:none}"
    "svg.cav-week .bar:focus-visible{stroke:#111;stroke-width:2;stroke-dasharray:4 2}"
)


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
        return LEGEND_H + HEADER_H + max(1, self.allday_rows) * ALLDAY_ROW_H + 6

    @property
    def width(self) -> int:
        return GUTTER + 7 * DAY_W

    @property
    def height(self) -> int:
        return self.axis_top + 24 * HOUR_H + 1

    def day_x(self, index: int) -> int:
        return GUTTER + index * DAY_W

    def area(self, index: int) -> tuple[float, float]:
        """(left, right) of the events' area in day column ``index``."""
        x = self.day_x(index)
        return x + AREA_LEFT, x + DAY_W - MARKS_W

    def mark_x(self, index: int, kind: str) -> tuple[float, float]:
        """(x, width) of a slot mark of ``kind`` ("managed" or "unmanaged")."""
        right = self.day_x(index) + DAY_W
        return (right - 11, 4.0) if kind == "managed" else (right - 6, 2.5)  # clear of the border

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
        ("managed", managed, "free slot, managed availability"),
        ("unmanaged", unmanaged, "free slot, without managed availability"),
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


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(d: date) -> str:
    """The day as "Tue 01 Dec" (``%a %d %b`` in the C locale) without strftime's cost."""
    return f"{_WEEKDAYS[d.weekday()]} {d.day:02d} {_MONTHS[d.month - 1]}"


def _hm(t: datetime) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def when(bar: Bar, zone: tzinfo) -> str:
    """The bar's times in ``zone``: "Tue 01 Dec 09:00-12:00", "Tue 01 Dec 22:00 - Wed 02 Dec
    02:00", "Wed 02 Dec, all day", "Tue 01 Dec - Thu 03 Dec, all day" (with en dashes)."""
    if not isinstance(bar.start, datetime) or not isinstance(bar.end, datetime):
        first, last = bar.start, bar.end - timedelta(days=1)
        if last <= first:
            return f"{_day(first)}, all day"
        return f"{_day(first)} {DASH} {_day(last)}, all day"
    a, b = bar.start.astimezone(zone), bar.end.astimezone(zone)
    if b.date() == a.date() or (b.time() == time(0) and b.date() == a.date() + timedelta(days=1)):
        return f"{_day(a)} {_hm(a)}{DASH}{_hm(b)}"
    return f"{_day(a)} {_hm(a)} {DASH} {_day(b)} {_hm(b)}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------- text fitting
# SVG does not wrap or clip text: widths are estimated (generously, for DejaVu Sans, the
# widest of the usual fonts) so that what is drawn stays inside its block.

_NARROW = frozenset("il.,:;|!'`fjrtI1()[] ")


def _em(ch: str) -> float:
    """Width of ``ch`` in ems, rounded up."""
    if ch in _NARROW:
        return 0.34
    if ch in "mwMW@%" or ch in (ELLIPSIS, DASH):
        return 0.9
    if ch.isupper() or ch.isdigit():
        return 0.7
    return 0.62


_EMS = {chr(i): _em(chr(i)) for i in range(32, 127)} | {DASH: 0.9, ELLIPSIS: 0.9}


def _text_w(text: str, size: float, bold: bool = False) -> float:
    ems = _EMS
    em = sum(ems[ch] if ch in ems else _em(ch) for ch in text)
    return em * size * (1.08 if bold else 1.0)


def _fit(text: str, width: float, size: float, bold: bool = False) -> str:
    """``text``, cut with an ellipsis to fit ``width`` ("" when not even one letter does)."""
    scale = size * (1.08 if bold else 1.0)
    budget = width / scale
    ems = [_EMS[ch] if ch in _EMS else _em(ch) for ch in text]
    if sum(ems) <= budget:
        return text
    budget -= _EMS[ELLIPSIS]
    used, n = 0.0, 0
    while n < len(text) and used + ems[n] <= budget:
        used += ems[n]
        n += 1
    cut = text[:n].rstrip()
    return cut + ELLIPSIS if cut else ""


def _wrap(text: str, width: float, size: float, lines: int, bold: bool = False) -> list[str]:
    """Up to ``lines`` lines of ``text`` broken at spaces, the last one cut to fit."""
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines:
        if _text_w(words[0], size, bold) > width:  # a word wider than the block: cut, stop
            out.append(_fit(" ".join(words), width, size, bold))
            break
        line = words.pop(0)
        while words and _text_w(f"{line} {words[0]}", size, bold) <= width:
            line = f"{line} {words.pop(0)}"
        if words and len(out) == lines - 1:
            line = f"{line} {' '.join(words)}"
            words = []
        out.append(_fit(line, width, size, bold))
    return [line for line in out if line]


# ---------------------------------------------------------------------------- layout


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


@dataclass(slots=True)
class _Part:
    """The piece of a timed bar inside one day: minutes from that day's midnight."""

    bar: Bar
    day: int
    m0: float
    m1: float
    part: int


@dataclass(slots=True)
class _Group:
    """An event's piece on one day and its period's piece, if any: one column."""

    key: str
    m0: float
    m1: float
    event: _Part | None = None
    periods: list[_Part] = field(default_factory=list)
    col: int = 0
    cols: int = 1


def _parts(bar: Bar, week_start: date, zone: ZoneInfo, midnights: list[datetime]) -> list[_Part]:
    """The bar's pieces in each day of the week it touches; ``midnights`` are the eight local
    midnights that bound the seven days."""
    if not isinstance(bar.start, datetime) or not isinstance(bar.end, datetime):
        return []
    start, end = bar.start.astimezone(zone), bar.end.astimezone(zone)
    out: list[_Part] = []
    first = max(0, (start.date() - week_start).days)
    last = min(6, (end.date() - week_start).days)
    for d in range(first, last + 1):
        midnight = midnights[d]
        lo, hi = max(start, midnight), min(end, midnights[d + 1])
        if hi > lo:
            # same zone on both sides: wall-clock minutes, so a DST day still spans 00-24
            m0 = (lo - midnight).total_seconds() / 60
            m1 = (hi - midnight).total_seconds() / 60
            out.append(_Part(bar, d, min(m0, 1440), min(m1, 1440), len(out)))
    return out


def _columns(groups: list[_Group]) -> None:
    """Side by side: each group gets the leftmost column free at its start; every group of a
    cluster (groups linked by overlaps) shares the cluster's column count."""
    groups.sort(key=lambda g: (g.m0, -g.m1, g.key))
    cluster: list[_Group] = []
    ends: list[float] = []
    cluster_end = -1.0

    def close() -> None:
        for g in cluster:
            g.cols = len(ends)

    for g in groups:
        if cluster and g.m0 >= cluster_end:
            close()
            cluster, ends = [], []
        for col, end in enumerate(ends):
            if end <= g.m0:
                ends[col], g.col = g.m1, col
                break
        else:
            ends.append(g.m1)
            g.col = len(ends) - 1
        cluster.append(g)
        cluster_end = max(cluster_end, g.m1) if len(cluster) > 1 else g.m1
    close()


# ---------------------------------------------------------------------------- drawing


def render_week(
    bars: Iterable[Bar],
    *,
    week_start: date,
    tzid: str,
    now: datetime | None = None,
    selected: str | None = None,
    title: str | None = None,
    show_unmanaged: bool = False,
) -> str:
    """The SVG text of seven days from ``week_start`` (any day of the week).

    Every bar carries ``class="bar <kind>"``, ``data-id``, ``data-kind``, ``data-part`` and a
    ``<title>`` (hover text with its times in ``tzid``); ``selected`` is ``"<kind>:<id>"`` (an
    event and its period share an id). Day columns are ``<rect class="day" data-day="0..6"
    data-date=...>`` (targets for a drag on empty time). Unmanaged slots are left out unless
    ``show_unmanaged``, and so is their entry in the legend (``<g class="legend">``, one
    ``<g class="legend-item" data-legend=...>`` per entry). Same input, same text.
    """
    zone = ZoneInfo(tzid)
    items = [b for b in bars if show_unmanaged or b.kind != "unmanaged"]
    placed = _allday_rows(items, week_start)
    layout = Layout(week_start, tzid, allday_rows=max(placed.values(), default=0) + 1)
    week_end = week_start + timedelta(days=7)
    top = layout.axis_top
    today = now.astimezone(zone).date() if now is not None else None
    pen = _Pen(layout, zone, tzid, selected)
    out = pen.out
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cav-week" width="100%" '
        f'viewBox="0 0 {layout.width} {layout.height}" preserveAspectRatio="xMidYMin meet" '
        f'data-week-start="{week_start.isoformat()}" data-tzid="{escape(tzid)}" '
        f'data-allday-rows="{layout.allday_rows}" font-family="{FONT_FAMILY}" '
        f'font-size="{FONT_SMALL}" role="group" '
        f'aria-label="{escape(title or span_title(week_start))}">'
    )
    if title:
        out.append(f"<title>{escape(title)}</title>")
    out.append(f"<style>{_STYLE}</style>")
    out.append(_legend(show_unmanaged))
    # grid: day columns (drag targets), day labels, hour lines and labels
    for d in range(7):
        day = week_start + timedelta(days=d)
        x = layout.day_x(d)
        fill = "#f4f7fc" if day == today else "#f7f7f7" if day.weekday() >= 5 else "#fff"
        out.append(
            f'<rect class="day" data-day="{d}" data-date="{day.isoformat()}" x="{x}" y="{top}" '
            f'width="{DAY_W}" height="{24 * HOUR_H}" fill="{fill}" stroke="#d9d9d9"/>'
        )
        style = f' font-weight="bold" fill="{COLORS["now"]}"' if day == today else ""
        out.append(
            f'<text class="day-label" x="{x + DAY_W / 2:g}" y="{LEGEND_H + HEADER_H - 10}" '
            f'text-anchor="middle" font-size="{FONT_DAY}"{style}>{day:%a %d %b}</text>'
        )
    out.append(
        f'<text class="allday-label" x="{GUTTER - 4}" y="{LEGEND_H + HEADER_H + 14}" '
        f'text-anchor="end" '
        f'fill="#666">all day</text>'
    )
    for h in range(25):
        y = _fmt(layout.y_of(h * 60))
        stroke = "#ccc" if h % 6 == 0 else "#e6e6e6"
        out.append(
            f'<line x1="{GUTTER}" y1="{y}" x2="{layout.width}" y2="{y}" '
            f'stroke="{stroke}" pointer-events="none"/>'
        )
        if 0 < h < 24:  # 00:00 is the top of the axis
            label_y = _fmt(layout.y_of(h * 60) + 4)
            out.append(
                f'<text class="hour" x="{GUTTER - 5}" y="{label_y}" text-anchor="end" '
                f'fill="#555">{h:02d}:00</text>'
            )
    # all-day band
    for i, row in sorted(placed.items(), key=lambda kv: kv[0]):
        bar = items[i]
        assert isinstance(bar.start, date) and isinstance(bar.end, date)
        first = max(bar.start, week_start)
        last = min(bar.end, week_end)
        x = layout.day_x((first - week_start).days) + 2
        w = (last - first).days * DAY_W - 4
        row_y = LEGEND_H + HEADER_H + row * ALLDAY_ROW_H
        pen.block(bar, x, row_y, w, ALLDAY_ROW_H - 3, "allday")
    # timed bars, per day: bands and rails, event blocks, slot marks
    by_day: list[list[_Part]] = [[] for _ in range(7)]
    midnights = [datetime.combine(week_start + timedelta(days=d), time(0), zone) for d in range(8)]
    for bar in items:
        if not bar.all_day:
            for p in _parts(bar, week_start, zone, midnights):
                by_day[p.day].append(p)
    for d, parts in enumerate(by_day):
        pen.day(d, parts)
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
                f'<circle class="now-dot" cx="{x0}" cy="{y_now}" r="4" '
                f'fill="{COLORS["now"]}" pointer-events="none"/>'
            )
    out.extend(pen.outlines)
    out.append("</svg>")
    return "".join(out)


def _legend(show_unmanaged: bool) -> str:
    """The legend strip: a swatch and a name for each kind that can be drawn."""
    items: list[str] = []
    x = float(GUTTER)
    for kind, label in LEGEND:
        if kind == "unmanaged" and not show_unmanaged:
            continue
        items.append(
            f'<g class="legend-item" data-legend="{kind}">'
            f'<rect x="{_fmt(x)}" y="5" width="10" height="10" rx="1" fill="{COLORS[kind]}"/>'
            f'<text x="{_fmt(x + 14)}" y="14" fill="#333">{escape(label)}</text></g>'
        )
        x += 14 + _text_w(label, FONT_SMALL) + 16
    return f'<g class="legend" pointer-events="none">{"".join(items)}</g>'


class _Pen:
    """Draws bars into ``out``; collects the selection's outline to draw last (on top)."""

    def __init__(self, layout: Layout, zone: ZoneInfo, tzid: str, selected: str | None):
        self.layout = layout
        self.zone = zone
        self.tzid = tzid
        self.selected = selected
        self.out: list[str] = []
        self.outlines: list[str] = []

    def day(self, d: int, parts: list[_Part]) -> None:
        layout = self.layout
        left, right = layout.area(d)
        groups: dict[str, _Group] = {}
        for p in parts:
            if p.bar.kind == "event":
                key = f"{p.bar.id}\x00{p.part}"
                while key in groups:  # the same id twice: still side by side
                    key += "\x00"
                groups[key] = _Group(key, p.m0, p.m1, event=p)
        by_period = {
            period_id_for(g.event.bar.id): g for g in groups.values() if g.event is not None
        }
        unlinked: list[_Part] = []
        for p in parts:
            if p.bar.kind != "period":
                continue
            g = by_period.get(p.bar.id)
            if g is None:
                unlinked.append(p)
            else:
                g.periods.append(p)
                g.m0, g.m1 = min(g.m0, p.m0), max(g.m1, p.m1)
        ordered = list(groups.values())
        _columns(ordered)
        # behind everything: the bands
        for p in unlinked:
            self._band(p, left - RAIL_W - 2, right - (left - RAIL_W - 2))
        boxes: dict[str, tuple[float, float]] = {}
        for g in ordered:
            col_w = (right - left) / g.cols
            x, w = left + g.col * col_w, col_w - COLUMN_GAP
            boxes[g.key] = (x, w)
            for p in g.periods:
                self._band(p, x, w)
        # rails, then event blocks, then slot marks
        for p in unlinked:
            self._timed(p, left - RAIL_W - 2, RAIL_W)
        for g in ordered:
            x, w = boxes[g.key]
            for p in g.periods:
                self._timed(p, x, RAIL_W)
            if g.event is not None:
                self._timed(g.event, x + RAIL_W + 1, w - RAIL_W - 1)
        for p in parts:
            if p.bar.kind in ("managed", "unmanaged"):
                x, w = layout.mark_x(d, p.bar.kind)
                self._timed(p, x, w)

    def _band(self, p: _Part, x: float, w: float) -> None:
        y0, y1 = self.layout.y_of(p.m0), self.layout.y_of(p.m1)
        self.out.append(
            f'<rect class="band" x="{_fmt(x)}" y="{_fmt(y0)}" width="{_fmt(w)}" '
            f'height="{_fmt(max(y1 - y0, 1.0))}" fill="{COLORS["period"]}" fill-opacity="0.16" '
            'pointer-events="none"/>'
        )

    def _timed(self, p: _Part, x: float, w: float) -> None:
        y0, y1 = self.layout.y_of(p.m0), self.layout.y_of(p.m1)
        h = y1 - y0
        if p.bar.kind in ("managed", "unmanaged") and h > 3:
            h -= 1  # back-to-back slots stay apart
        self.block(p.bar, x, y0, w, h, str(p.part))

    def block(self, bar: Bar, x: float, y: float, w: float, h: float, part: str) -> None:
        """One bar's ``<rect>`` (with its hover text) and, for an event, its text inside."""
        h = max(h, 1.0)
        key = f"{bar.kind}:{bar.id}"
        chosen = self.selected is not None and key == self.selected
        times = when(bar, self.zone)
        summary = bar.label or ("(no title)" if bar.kind == "event" else "")
        if bar.kind == "event":
            hover = f"{summary}\n{times} ({self.tzid})\nevent in the sub calendar"
            extra = (
                f' tabindex="0" role="button" aria-label="{escape(f"{summary}, {times}")}"'
                f' aria-pressed="{"true" if chosen else "false"}"'
            )
            rx = 3
        elif bar.kind == "period":
            of = f" for “{summary}”" if summary else ""
            hover = f"Available Period{of}\n{times} ({self.tzid})\nid {bar.id}"
            extra, rx = "", 1
        else:
            hover = f"{bar.label or bar.kind}\n{times} ({self.tzid})"
            extra, rx = "", 1
        selected_attr = ' data-selected="true"' if chosen else ""
        self.out.append(
            f'<rect class="bar {bar.kind}" data-id="{escape(bar.id)}" data-kind="{bar.kind}" '
            f'data-part="{part}"{selected_attr} x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" '
            f'height="{_fmt(h)}" rx="{rx}" fill="{COLORS.get(bar.kind, "#888")}"{extra}>'
            f"<title>{escape(hover)}</title></rect>"
        )
        if bar.kind == "event":
            self._label(bar, summary, x, y, w, h, part)
        if chosen:
            self.outlines.append(
                f'<rect class="selection" x="{_fmt(x - 2.5)}" y="{_fmt(y - 2.5)}" '
                f'width="{_fmt(w + 5)}" height="{_fmt(h + 5)}" rx="{rx + 2}" fill="none" '
                f'stroke="{COLORS["selected"]}" stroke-width="2.5" pointer-events="none"/>'
            )

    def _label(
        self, bar: Bar, summary: str, x: float, y: float, w: float, h: float, part: str
    ) -> None:
        """The summary and times inside an event block, as much as fits."""
        inner = w - 8
        if inner < 14:
            return
        if part == "allday":
            lines = [(_fit(summary, inner, FONT_SMALL), FONT_SMALL, False)]
        else:
            assert isinstance(bar.start, datetime) and isinstance(bar.end, datetime)
            a, b = bar.start.astimezone(self.zone), bar.end.astimezone(self.zone)
            span = f"{_hm(a)}{DASH}{_hm(b)}"
            rows = int((h - 13.5) // LINE_H) + 1 if h >= 13 else 0
            lines = []
            if rows >= 2:
                wrapped = _wrap(summary, inner, FONT_TEXT, rows - 1, bold=True)
                lines = [(s, FONT_TEXT, True) for s in wrapped]
                for time_text in (span, _hm(a)):  # both times, or the start, or none
                    if _text_w(time_text, FONT_SMALL) <= inner:
                        lines.append((time_text, FONT_SMALL, False))
                        break
            elif rows == 1 or h >= FONT_SMALL + 1:
                lines = [(_fit(f"{_hm(a)} {summary}", inner, FONT_SMALL), FONT_SMALL, False)]
        lines = [line for line in lines if line[0]]
        if not lines:
            return
        tspans = []
        baseline = y + min(12.5, h / 2 + 4)  # one line in a short block: centred
        for text, size, bold in lines:
            weight = ' font-weight="600"' if bold else ""
            tspans.append(
                f'<tspan x="{_fmt(x + 4)}" y="{_fmt(baseline)}" font-size="{size}"{weight}>'
                f"{escape(text)}</tspan>"
            )
            baseline += LINE_H
        self.out.append(
            f'<text class="label" data-for="{escape(bar.id)}" fill="#fff" '
            f'pointer-events="none" aria-hidden="true">{"".join(tspans)}</text>'
        )
