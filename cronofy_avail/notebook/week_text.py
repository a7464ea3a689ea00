"""The week view's words and times, without any widget: the periods table's rows, a bar's
description (hover, details) and the span a drag in the picture means."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event, utc_instant
from cronofy_avail.core.week import HOUR_H, SNAP_MINUTES, Bar, allday_row_count, time_at

MIN_DRAG = HOUR_H * SNAP_MINUTES / 60 / 2
"""The shortest drag (SVG units) that creates an event."""


def period_rows(
    events: Sequence[Event], periods: Sequence[AvailablePeriod], tzid: str
) -> list[tuple[str, str, str, str]]:
    """(period id, start, end, event summary) in the user's zone, by start."""
    zone = ZoneInfo(tzid)
    summaries = {period_id_for(e.event_uid): e.summary or "" for e in events}
    rows = sorted(
        (utc_instant(p.start), utc_instant(p.end), p.available_period_id) for p in periods
    )
    return [
        (
            pid,
            a.astimezone(zone).strftime("%a %d %b %H:%M"),
            b.astimezone(zone).strftime("%a %d %b %H:%M"),
            summaries.get(pid, ""),
        )
        for a, b, pid in rows
    ]


def describe(bars: Sequence[Bar], key: str, tzid: str) -> str:
    """What the bar ``"<kind>:<id>"`` is (hover text, the details panel)."""
    zone = ZoneInfo(tzid)
    kind, _, bar_id = key.partition(":")
    for bar in bars:
        if bar.id == bar_id and bar.kind == kind:
            if isinstance(bar.start, datetime) and isinstance(bar.end, datetime):
                when = (
                    f"{bar.start.astimezone(zone):%a %d %b %H:%M} - "
                    f"{bar.end.astimezone(zone):%a %d %b %H:%M}"
                )
            else:
                when = f"{bar.start} - {bar.end} (all day)"
            return f"{bar.kind} {bar.id}: {bar.label or ''} {when}".replace("  ", " ")
    return ""


def drag_span(
    bars: Sequence[Bar],
    week: date,
    tzid: str,
    day_index: int,
    y0: float,
    y1: float,
    *,
    day: date | None,
    allday_rows: int | None,
) -> tuple[datetime, datetime] | None:
    """The times a drag from ``y0`` to ``y1`` (SVG units) in column ``day_index`` covers, on
    the picture of the week starting ``week`` (or the one whose column shows ``day``); ``None``
    for a drag shorter than half the snap step (a click that moved a little)."""
    if abs(y1 - y0) < MIN_DRAG:
        return None
    if day is not None:
        week = day - timedelta(days=day_index)
    rows = allday_row_count(bars, week) if allday_rows is None else allday_rows
    a = time_at(week, tzid, day_index, min(y0, y1), allday_rows=rows)
    b = time_at(week, tzid, day_index, max(y0, y1), allday_rows=rows)
    if b <= a:
        return None
    return a, b


__all__ = ["MIN_DRAG", "describe", "drag_span", "period_rows"]
