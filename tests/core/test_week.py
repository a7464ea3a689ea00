"""The week picture as XML: exactly the bars given, in the right day, lane and height."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.core.week import (
    DAY_W,
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


def test_each_kind_in_its_own_lane_of_the_right_day_at_the_right_height() -> None:
    bars = [
        Bar("evt-1", "event", _local(1, 9), _local(1, 12), "Open for calls"),
        Bar("evt-1", "period", _local(1, 9), _local(1, 12)),
        Bar("s1", "managed", _local(1, 9), _local(1, 10)),
        Bar("u1", "unmanaged", _local(2, 13), _local(2, 14)),
    ]
    root = _parse(render_week(bars, week_start=MONDAY, tzid="Europe/London"))
    layout = Layout(MONDAY, "Europe/London")
    assert [r.get("data-kind") for r in _bars(root)] == ["event", "period", "managed", "unmanaged"]
    event = _bars(root, "event")[0]
    x = float(event.get("x", "0"))
    assert GUTTER + DAY_W <= x < GUTTER + 2 * DAY_W  # Tuesday
    assert float(event.get("y", "0")) == pytest.approx(layout.axis_top + 9 * HOUR_H)
    assert float(event.get("height", "0")) == pytest.approx(3 * HOUR_H)
    period = _bars(root, "period")[0]
    assert float(period.get("x", "0")) > x  # next lane
    unmanaged = _bars(root, "unmanaged")[0]
    assert GUTTER + 2 * DAY_W <= float(unmanaged.get("x", "0")) < GUTTER + 3 * DAY_W
    # hover text names the event
    assert event.find(f"{NS}title") is not None
    assert "Open for calls" in (event.findtext(f"{NS}title") or "")


def test_times_are_drawn_in_the_users_zone() -> None:
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 09:00 in New York
    bars = [Bar("e", "event", start, start + timedelta(hours=1))]
    ny = render_week(bars, week_start=MONDAY, tzid="America/New_York")
    rect = _bars(_parse(ny))[0]
    layout = Layout(MONDAY, "America/New_York")
    assert float(rect.get("y", "0")) == pytest.approx(layout.axis_top + 9 * HOUR_H)


def test_bars_outside_the_week_are_left_out_and_midnight_crossers_split() -> None:
    bars = [
        Bar("before", "event", _local(-3, 9), _local(-3, 10)),
        Bar("after", "event", _local(8, 9), _local(8, 10)),
        Bar("night", "period", _local(2, 22), _local(3, 2)),
    ]
    root = _parse(render_week(bars, week_start=MONDAY, tzid="Europe/London"))
    drawn = _bars(root)
    assert {r.get("data-id") for r in drawn} == {"night"}
    assert [r.get("data-part") for r in drawn] == ["0", "1"]
    assert float(drawn[0].get("height", "0")) == pytest.approx(2 * HOUR_H)
    assert float(drawn[1].get("height", "0")) == pytest.approx(2 * HOUR_H)


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


def test_now_is_marked_only_in_its_week_and_selection_recolours() -> None:
    now = _local(3, 12)
    bars = [Bar("a", "event", _local(0, 9), _local(0, 10))]
    root = _parse(render_week(bars, week_start=MONDAY, tzid="Europe/London", now=now))
    lines = [x for x in root.iter(f"{NS}line") if x.get("class") == "now"]
    assert len(lines) == 1
    assert float(lines[0].get("x1", "0")) == GUTTER + 3 * DAY_W
    later = render_week(bars, week_start=MONDAY + timedelta(days=7), tzid="Europe/London", now=now)
    assert 'class="now"' not in later
    chosen = render_week(bars, week_start=MONDAY, tzid="Europe/London", selected="event:a")
    assert _bars(_parse(chosen))[0].get("fill") != _bars(root)[0].get("fill")


def test_labels_are_escaped() -> None:
    bars = [Bar('x"<&>', "event", _local(0, 9), _local(0, 10), "<script>alert(1)</script>")]
    svg = render_week(bars, week_start=MONDAY, tzid="Europe/London")
    root = _parse(svg)  # still well-formed XML
    assert "<script>" not in svg
    assert _bars(root)[0].get("data-id") == 'x"<&>'


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
