"""The week picture as XML: exactly the bars given, in the right day, column and height, read
like a calendar (blocks with text, bands behind them, marks at the edge), scaling to its
container and reachable by keyboard."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.week import (
    COLORS,
    DAY_W,
    FONT_SMALL,
    GUTTER,
    HOUR_H,
    Bar,
    Layout,
    allday_row_count,
    render_week,
    time_at,
)

NS = "{http://www.w3.org/2000/svg}"
LONDON = ZoneInfo("Europe/London")
MONDAY = date(2026, 11, 30)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it


def _bars(root: ET.Element, kind: str | None = None) -> list[ET.Element]:
    return [
        r
        for r in root.iter(f"{NS}rect")
        if "bar" in r.get("class", "").split() and (kind is None or r.get("data-kind") == kind)
    ]


def _local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), LONDON)


def _box(r: ET.Element) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1"""
    x, y = float(r.get("x", "nan")), float(r.get("y", "nan"))
    return x, y, x + float(r.get("width", "nan")), y + float(r.get("height", "nan"))


def _render(bars: list[Bar], **kw: object) -> ET.Element:
    return _parse(render_week(bars, week_start=MONDAY, tzid="Europe/London", **kw))  # type: ignore[arg-type]


def _event_and_period(uid: str, start: datetime, end: datetime, summary: str) -> list[Bar]:
    return [
        Bar(uid, "event", start, end, summary),
        Bar(period_id_for(uid), "period", start, end, summary),
    ]


def test_the_seven_days_start_on_any_day_of_the_week() -> None:
    sunday = MONDAY - timedelta(days=1)
    bars = [
        Bar("mon", "event", _local(0, 9), _local(0, 10)),
        Bar("sun", "event", _local(6, 9), _local(6, 10)),
    ]
    root = _parse(render_week(bars, week_start=sunday, tzid="Europe/London"))
    days = [r.get("data-date") for r in root.iter(f"{NS}rect") if r.get("class") == "day"]
    assert days == [str(sunday + timedelta(days=d)) for d in range(7)]
    labels = [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == "day-label"]
    assert [label[:3] for label in labels] == ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    # Monday is the second column; the next Sunday (day 6 from MONDAY) is past the seventh
    assert [b.get("data-id") for b in _bars(root)] == ["mon"]
    [mon] = _bars(root)
    assert float(mon.get("x", "0")) >= Layout(sunday, "Europe/London").day_x(1)


def test_an_event_is_a_block_with_its_period_behind_and_slot_marks_at_the_edge() -> None:
    bars = [
        *_event_and_period("evt-1", _local(1, 9), _local(1, 12), "Open for calls"),
        Bar("s1", "managed", _local(1, 9), _local(1, 10)),
        Bar("u1", "unmanaged", _local(2, 13), _local(2, 14)),
    ]
    root = _render(bars)
    layout = Layout(MONDAY, "Europe/London")
    tuesday = (GUTTER + DAY_W, GUTTER + 2 * DAY_W)
    [event] = _bars(root, "event")
    ex0, ey0, ex1, ey1 = _box(event)
    assert tuesday[0] <= ex0 < ex1 <= tuesday[1]
    assert ey0 == pytest.approx(layout.y_of(9 * 60))
    assert ey1 - ey0 == pytest.approx(3 * HOUR_H)
    assert ex1 - ex0 > DAY_W * 0.75  # alone in its day: most of the column
    # the period: a rail just left of the block, at the period's times, and a band behind
    [rail] = _bars(root, "period")
    rx0, ry0, rx1, ry1 = _box(rail)
    assert tuesday[0] <= rx0 < rx1 <= ex0
    assert (ry0, ry1) == pytest.approx((ey0, ey1))
    [band] = [r for r in root.iter(f"{NS}rect") if r.get("class") == "band"]
    bx0, by0, bx1, by1 = _box(band)
    assert bx0 <= rx0
    assert ex1 <= bx1 + 0.01
    assert (by0, by1) == (ey0, ey1)
    assert band.get("pointer-events") == "none"  # clicks go to the block or the day
    order = list(root.iter(f"{NS}rect"))
    assert order.index(band) < order.index(event)  # behind
    # the managed slot: a thin mark right of the block, same day, its own times
    [mark] = _bars(root, "managed")
    mx0, my0, mx1, my1 = _box(mark)
    assert ex1 <= mx0 < mx1 <= tuesday[1]
    assert mx1 - mx0 <= 5
    assert my0 == pytest.approx(layout.y_of(9 * 60))
    assert my1 <= layout.y_of(10 * 60)
    # unmanaged slots only when asked for
    assert _bars(root, "unmanaged") == []
    [free] = _bars(_render(bars, show_unmanaged=True), "unmanaged")
    assert GUTTER + 2 * DAY_W <= _box(free)[0] < _box(free)[2] <= GUTTER + 3 * DAY_W


def _legend(root: ET.Element) -> list[tuple[str, str]]:
    """(kind, name) of each legend entry, in order."""
    [legend] = [g for g in root.iter(f"{NS}g") if g.get("class") == "legend"]
    return [
        (item.get("data-legend", ""), "".join(item.itertext()))
        for item in legend.iter(f"{NS}g")
        if item.get("class") == "legend-item"
    ]


def test_the_legend_names_only_what_is_drawn_unmanaged_slots_when_asked_for() -> None:
    bars = [
        *_event_and_period("evt-1", _local(1, 9), _local(1, 12), "Open for calls"),
        Bar("s1", "managed", _local(1, 9), _local(1, 10)),
        Bar("u1", "unmanaged", _local(2, 13), _local(2, 14)),
    ]
    hidden = _render(bars)  # the default: unmanaged slots neither drawn nor in the legend
    assert _bars(hidden, "unmanaged") == []
    assert [kind for kind, _ in _legend(hidden)] == ["event", "period", "managed"]
    assert all("without managed" not in name for _, name in _legend(hidden))
    shown = _render(bars, show_unmanaged=True)
    assert [b.get("data-id") for b in _bars(shown, "unmanaged")] == ["u1"]
    assert [kind for kind, _ in _legend(shown)] == ["event", "period", "managed", "unmanaged"]
    assert _legend(shown)[-1] == ("unmanaged", "free slot, without managed availability")
    # each swatch is the colour its kind is drawn in; the legend takes no clicks
    swatches = {
        item.get("data-legend"): rect.get("fill")
        for item in shown.iter(f"{NS}g")
        if item.get("class") == "legend-item"
        for rect in item.iter(f"{NS}rect")
    }
    drawn = {b.get("data-kind"): b.get("fill") for b in _bars(shown)}
    assert swatches == drawn == {k: COLORS[k] for k in ("event", "period", "managed", "unmanaged")}
    # the legend sits above the day labels, clear of the time axis, inside the picture
    layout = Layout(MONDAY, "Europe/London")
    for item in shown.iter(f"{NS}g"):
        if item.get("class") == "legend-item":
            rect = next(item.iter(f"{NS}rect"))
            assert float(rect.get("y", "0")) + float(rect.get("height", "0")) < layout.axis_top
    assert "unmanaged" not in render_week([], week_start=MONDAY, tzid="UTC")


def test_the_summary_and_times_are_inside_the_block_and_in_its_hover_text() -> None:
    root = _render([Bar("e", "event", _local(1, 9), _local(1, 12), "Open for calls")])
    [event] = _bars(root, "event")
    [label] = [t for t in root.iter(f"{NS}text") if t.get("data-for") == "e"]
    lines = [s.text for s in label.iter(f"{NS}tspan")]
    assert lines == ["Open for calls", "09:00\u201312:00"]
    assert label.get("pointer-events") == "none"  # a click on the text is a click on the block
    x0, y0, x1, y1 = _box(event)
    for span in label.iter(f"{NS}tspan"):
        assert x0 < float(span.get("x", "0")) < x1
        assert y0 < float(span.get("y", "0")) < y1
    hover = event.findtext(f"{NS}title") or ""
    assert hover.splitlines()[:2] == [
        "Open for calls",
        "Tue 01 Dec 09:00\u201312:00 (Europe/London)",
    ]


def test_a_short_block_gets_one_line_and_a_narrow_one_a_cut_summary() -> None:
    short = [Bar("q", "event", _local(0, 8), _local(0, 8, 30), "Quick chat")]
    [label] = [t for t in _render(short).iter(f"{NS}text") if t.get("data-for") == "q"]
    assert [s.text for s in label.iter(f"{NS}tspan")] == ["08:00 Quick chat"]
    same = [
        Bar(f"m{i}", "event", _local(0, 10), _local(0, 11), "Morning meeting") for i in range(3)
    ]
    root = _render(same)
    for t in root.iter(f"{NS}text"):
        if t.get("data-for"):
            first = next(t.iter(f"{NS}tspan")).text or ""
            assert first.endswith("\u2026")
            assert len(first) < len("Morning meeting")
    # the tooltip still has all of it
    assert all("Morning meeting" in (b.findtext(f"{NS}title") or "") for b in _bars(root))


def test_overlapping_and_identical_events_sit_side_by_side() -> None:
    bars = [
        Bar(f"same-{i}", "event", _local(0, 10), _local(0, 11), "Morning") for i in range(3)
    ] + [
        Bar("later", "event", _local(0, 10, 30), _local(0, 12), "Overlaps the last hour"),
        Bar("alone", "event", _local(0, 14), _local(0, 15), "After them"),
    ]
    root = _render(bars)
    boxes = {r.get("data-id"): _box(r) for r in _bars(root, "event")}
    crowd = sorted(boxes[k] for k in ("same-0", "same-1", "same-2", "later"))
    for left, right in itertools.pairwise(crowd):
        assert left[2] <= right[0]  # no two drawn on top of each other
    widths = {round(b[2] - b[0], 3) for b in crowd}
    assert len(widths) == 1  # four columns, equal
    assert boxes["same-0"][1] == boxes["same-1"][1] == boxes["same-2"][1]
    alone = boxes["alone"]
    assert alone[2] - alone[0] > 3.5 * (crowd[0][2] - crowd[0][0])  # on its own: full width
    # the same data in another order: the same columns
    again = _render(list(reversed(bars)))
    assert {r.get("data-id"): _box(r) for r in _bars(again, "event")} == boxes


def test_each_period_band_stays_behind_its_own_event() -> None:
    bars = [
        *_event_and_period("a", _local(2, 13), _local(2, 15), "Workshop"),
        *_event_and_period("b", _local(2, 14), _local(2, 17), "Session"),
        # an all-day event's period: no timed block that day, it washes the whole day
        Bar("whole", "event", date(2026, 12, 3), date(2026, 12, 4), "Whole day free"),
        Bar(period_id_for("whole"), "period", _local(3, 0), _local(4, 0), "Whole day free"),
    ]
    root = _render(bars)
    events = {r.get("data-id"): _box(r) for r in _bars(root, "event")}
    rails = {r.get("data-id"): _box(r) for r in _bars(root, "period")}
    for uid in ("a", "b"):
        ex0, ey0, _ex1, ey1 = events[uid]
        _rx0, ry0, rx1, ry1 = rails[period_id_for(uid)]
        assert rx1 <= ex0 < rx1 + 3  # its rail touches its own block
        assert (ry0, ry1) == (ey0, ey1)
    assert events["a"][2] <= rails[period_id_for("b")][0]  # b's rail is right of a's block
    layout = Layout(MONDAY, "Europe/London", allday_rows=1)
    wx0, wy0, _wx1, wy1 = rails[period_id_for("whole")]
    thursday = layout.day_x(3)
    assert thursday <= wx0 < thursday + 4  # at the column's left edge
    assert (wy0, wy1) == pytest.approx((layout.y_of(0), layout.y_of(24 * 60)))
    bands = [_box(r) for r in root.iter(f"{NS}rect") if r.get("class") == "band"]
    assert any(b[0] <= wx0 and b[2] > thursday + 0.8 * DAY_W for b in bands)


def test_times_are_drawn_in_the_users_zone() -> None:
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 09:00 in New York
    bars = [Bar("e", "event", start, start + timedelta(hours=1), "Call")]
    ny = render_week(bars, week_start=MONDAY, tzid="America/New_York")
    [rect] = _bars(_parse(ny))
    layout = Layout(MONDAY, "America/New_York")
    assert float(rect.get("y", "0")) == pytest.approx(layout.axis_top + 9 * HOUR_H)
    assert "Tue 01 Dec 09:00\u201310:00 (America/New_York)" in (rect.findtext(f"{NS}title") or "")
    assert rect.get("aria-label") == "Call, Tue 01 Dec 09:00\u201310:00"
    tokyo = _bars(_parse(render_week(bars, week_start=MONDAY, tzid="Asia/Tokyo")))[0]
    assert "Tue 01 Dec 23:00\u201300:00 (Asia/Tokyo)" in (tokyo.findtext(f"{NS}title") or "")


def test_bars_outside_the_week_are_left_out_and_midnight_crossers_split() -> None:
    bars = [
        Bar("before", "event", _local(-3, 9), _local(-3, 10)),
        Bar("after", "event", _local(8, 9), _local(8, 10)),
        Bar("night", "event", _local(2, 22), _local(3, 2), "Night shift"),
    ]
    root = _render(bars)
    drawn = _bars(root)
    assert {r.get("data-id") for r in drawn} == {"night"}
    assert [r.get("data-part") for r in drawn] == ["0", "1"]
    assert float(drawn[0].get("height", "0")) == pytest.approx(2 * HOUR_H)
    assert float(drawn[1].get("height", "0")) == pytest.approx(2 * HOUR_H)
    # both halves say when the whole thing runs
    for r in drawn:
        assert "Wed 02 Dec 22:00 \u2013 Thu 03 Dec 02:00" in (r.findtext(f"{NS}title") or "")
    labels = [t for t in root.iter(f"{NS}text") if t.get("data-for") == "night"]
    assert [[s.text for s in t.iter(f"{NS}tspan")][-1] for t in labels] == ["22:00\u201302:00"] * 2


def test_all_day_and_multi_day_events_in_the_band_stacked_when_overlapping() -> None:
    bars = [
        Bar("whole", "event", date(2026, 12, 2), date(2026, 12, 3), "Whole day free"),
        Bar("trip", "event", date(2026, 12, 1), date(2026, 12, 4), "Three days"),
        Bar("spill", "event", date(2026, 12, 5), date(2026, 12, 9)),  # runs past Sunday
    ]
    svg = render_week(bars, week_start=MONDAY, tzid="Europe/London")
    root = _parse(svg)
    drawn = {r.get("data-id"): r for r in _bars(root)}
    assert set(drawn) == {"whole", "trip", "spill"}
    assert all(r.get("data-part") == "allday" for r in drawn.values())
    assert float(drawn["trip"].get("width", "0")) > 2.5 * DAY_W
    assert drawn["trip"].get("y") != drawn["whole"].get("y")  # stacked, not hidden
    assert root.get("data-allday-rows") == "2"
    assert allday_row_count(bars, MONDAY) == 2
    spill_end = float(drawn["spill"].get("x", "0")) + float(drawn["spill"].get("width", "0"))
    assert spill_end <= GUTTER + 7 * DAY_W  # clipped at the end of the week
    assert "Tue 01 Dec \u2013 Thu 03 Dec, all day" in (drawn["trip"].findtext(f"{NS}title") or "")
    assert drawn["trip"].get("tabindex") == "0"


def test_now_is_red_and_the_selection_a_blue_outline_not_red() -> None:
    now = _local(3, 12)
    bars = [Bar("a", "event", _local(0, 9), _local(0, 10))]
    root = _render(bars, now=now)
    lines = [x for x in root.iter(f"{NS}line") if x.get("class") == "now"]
    assert len(lines) == 1
    assert float(lines[0].get("x1", "0")) == GUTTER + 3 * DAY_W
    assert lines[0].get("stroke") == COLORS["now"]
    later = render_week(bars, week_start=MONDAY + timedelta(days=7), tzid="Europe/London", now=now)
    assert 'class="now"' not in later
    chosen = _render(bars, selected="event:a")
    [bar] = _bars(chosen)
    assert bar.get("fill") == _bars(root)[0].get("fill") == COLORS["event"]  # not recoloured
    assert bar.get("data-selected") == "true"
    assert bar.get("aria-pressed") == "true"
    [outline] = [r for r in chosen.iter(f"{NS}rect") if r.get("class") == "selection"]
    assert outline.get("stroke") == COLORS["selected"] != COLORS["now"]
    assert outline.get("fill") == "none"
    assert outline.get("pointer-events") == "none"
    ox0, oy0, ox1, oy1 = _box(outline)
    bx0, by0, bx1, by1 = _box(bar)
    assert ox0 < bx0
    assert oy0 < by0
    assert bx1 < ox1
    assert by1 < oy1
    assert [r for r in root.iter(f"{NS}rect") if r.get("class") == "selection"] == []


def test_it_scales_to_its_container_with_seven_days_in_view() -> None:
    svg = render_week(
        [Bar("e", "event", _local(6, 9), _local(6, 10), "Sunday")],
        week_start=MONDAY,
        tzid="Europe/London",
    )
    root = _parse(svg)
    assert root.get("width") == "100%"
    assert root.get("height") is None  # height follows the width through the viewBox
    assert root.get("preserveAspectRatio", "").startswith("xMidYMin")
    x, y, w, h = (float(v) for v in (root.get("viewBox") or "").split())
    assert (x, y) == (0, 0)
    days = [_box(r) for r in root.iter(f"{NS}rect") if r.get("class") == "day"]
    assert len(days) == 7
    assert max(d[2] for d in days) <= w
    assert all(_box(b)[2] <= w for b in _bars(root))
    # the whole width is drawn at the container's width: at 1000 px a day column is
    # ~130 px and the smallest text 11 px; at 1920 px, twice that
    for px in (1000, 1100, 1920):
        scale = px / w
        assert (days[0][2] - days[0][0]) * scale >= 125
        assert FONT_SMALL * scale >= 11
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert min(sizes) >= FONT_SMALL
    assert 1.1 <= w / h <= 1.8  # not a strip, not a tower: a week on one screen-ish


def test_event_blocks_are_reachable_by_keyboard() -> None:
    bars = [
        *_event_and_period("e", _local(0, 9), _local(0, 10), "Calls"),
        Bar("s", "managed", _local(0, 9), _local(0, 10)),
    ]
    root = _render(bars)
    [event] = _bars(root, "event")
    assert event.get("tabindex") == "0"
    assert event.get("role") == "button"
    assert event.get("aria-label") == "Calls, Mon 30 Nov 09:00\u201310:00"
    assert event.get("aria-pressed") == "false"
    for other in _bars(root, "period") + _bars(root, "managed"):
        assert other.get("tabindex") is None
    # text drawn over the block is not read twice
    assert all(t.get("aria-hidden") == "true" for t in root.iter(f"{NS}text") if t.get("data-for"))


def test_the_same_input_draws_the_same_text() -> None:
    bars = [
        *_event_and_period("a", _local(0, 9), _local(0, 12), "A"),
        Bar("b", "event", _local(0, 10), _local(0, 11), "B"),
        Bar("c", "event", date(2026, 12, 2), date(2026, 12, 3), "C"),
        Bar("s", "managed", _local(0, 9), _local(0, 10)),
    ]
    kw = {"week_start": MONDAY, "tzid": "Europe/London", "now": _local(1, 8), "selected": "event:b"}
    assert render_week(bars, **kw) == render_week(list(bars), **kw)  # type: ignore[arg-type]


def test_user_text_is_escaped() -> None:
    nasty = "<script>&\"'"
    bars = [
        Bar('x"<&>', "event", _local(0, 9), _local(0, 10), nasty),
        Bar(period_id_for('x"<&>'), "period", _local(0, 9), _local(0, 10), nasty),
        Bar("allday", "event", date(2026, 12, 1), date(2026, 12, 2), nasty),
    ]
    svg = render_week(bars, week_start=MONDAY, tzid="Europe/London", title=nasty)
    root = _parse(svg)  # still well-formed XML
    assert "<script" not in svg
    [allday, timed] = _bars(root, "event")  # the all-day band is drawn first
    assert timed.get("data-id") == 'x"<&>'
    assert (timed.findtext(f"{NS}title") or "").startswith(nasty + "\n")
    assert timed.get("aria-label") == f"{nasty}, Mon 30 Nov 09:00\u201310:00"
    assert (allday.findtext(f"{NS}title") or "").startswith(nasty + "\n")
    label = next(t for t in root.iter(f"{NS}text") if t.get("data-for") == 'x"<&>')
    assert next(label.iter(f"{NS}tspan")).text == nasty
    assert root.findtext(f"{NS}title") == nasty


def test_time_at_inverts_the_layout_and_snaps() -> None:
    layout = Layout(MONDAY, "Europe/London")
    y = layout.y_of(10 * 60 + 7)
    at = time_at(MONDAY, "Europe/London", 2, y)
    assert at == datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)
    assert time_at(MONDAY, "Europe/London", 0, layout.y_of(-50)).hour == 0
    days = [
        r.get("data-date") for r in _parse(render_week([], week_start=MONDAY, tzid="UTC")).iter()
    ]
    assert "2026-12-06" in days
    # the day columns span the axis the drag maps from: 00:00 at the top, 24:00 at the bottom
    day = next(r for r in _render([]).iter(f"{NS}rect") if r.get("class") == "day")
    _, top, _, bottom = _box(day)
    assert (top, bottom) == (layout.y_of(0), layout.y_of(24 * 60))
