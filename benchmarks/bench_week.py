"""The week view's full redraw: what turning data into the SVG costs, against building the
bare SVG string of the same rectangles.

Baseline: 400 ``<rect>`` elements with precomputed coordinates joined into one ``<svg>`` (no
time arithmetic, no zones, no escaping, no hover text): the least any picture of 400 bars can
cost in Python. Measured: :func:`cronofy_avail.core.week.render_week` for a week with 200
events (timed, some crossing midnight, some all-day) and 200 Available Periods, and the same
redraw as the notebook does it (the controller turning Cronofy models into bars first). A
redraw that fits in one 60 Hz frame (16.7 ms) keeps the live week view smooth.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from cronofy_avail.core.models import AvailablePeriod, Event
from cronofy_avail.core.week import Bar, render_week

N_EVENTS = 200
N_PERIODS = 200
REPEAT = 60
FRAME = 1 / 60
TZID = "Europe/London"
MONDAY = date(2026, 11, 30)


def _bars(rng: random.Random) -> list[Bar]:
    zone = ZoneInfo(TZID)
    bars: list[Bar] = []
    for i in range(N_EVENTS):
        day = MONDAY + timedelta(days=rng.randrange(7))
        if i % 20 == 0:  # all-day, sometimes several days
            bars.append(Bar(f"evt-{i}", "event", day, day + timedelta(days=1 + i % 3), "Free"))
            continue
        start = datetime.combine(day, dtime(rng.randrange(24), 15 * rng.randrange(4)), zone)
        length = timedelta(minutes=30 * rng.randrange(1, 8))
        bars.append(Bar(f"evt-{i}", "event", start, start + length, f"Slot <{i}> & more"))
    for i in range(N_PERIODS):
        day = MONDAY + timedelta(days=rng.randrange(7))
        start = datetime.combine(day, dtime(rng.randrange(24)), zone)
        bars.append(Bar(f"per-{i}", "period", start, start + timedelta(hours=2), f"Slot {i}"))
    return bars


def _bare(coords: list[tuple[float, float, float, float]]) -> str:
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="968" height="475">']
    parts.extend(f'<rect x="{x}" y="{y}" width="{w}" height="{h}"/>' for x, y, w, h in coords)
    parts.append("</svg>")
    return "".join(parts)


def _models(bars: list[Bar]) -> tuple[list[Event], list[AvailablePeriod]]:
    events, periods = [], []
    for b in bars:
        start, end = b.start.isoformat(), b.end.isoformat()
        if b.kind == "event":
            events.append(
                Event.model_validate(
                    {"calendar_id": "cal", "event_uid": b.id, "summary": b.label,
                     "start": start, "end": end}
                )
            )  # fmt: skip
        else:
            periods.append(
                AvailablePeriod.model_validate(
                    {"available_period_id": b.id, "start": start, "end": end}
                )
            )
    return events, periods


def _per_call(fn: Callable[[], object]) -> float:
    for _ in range(5):
        fn()
    start = time.perf_counter()
    for _ in range(REPEAT):
        fn()
    return (time.perf_counter() - start) / REPEAT


async def run() -> None:
    from cronofy_avail.notebook.controller import WizardController

    rng = random.Random(11)
    bars = _bars(rng)
    coords = [(rng.uniform(0, 900), rng.uniform(0, 400), 30.0, 20.0) for _ in bars]
    base = _per_call(lambda: _bare(coords))
    now = datetime.combine(MONDAY + timedelta(days=2), dtime(12), ZoneInfo(TZID))
    pure = _per_call(lambda: render_week(bars, week_start=MONDAY, tzid=TZID, now=now))
    controller = WizardController(tzid=TZID, clock=lambda: now)
    controller.events, controller.periods = _models(bars)
    notebook = _per_call(controller.week_svg)
    svg = controller.week_svg()
    drawn = svg.count('class="bar ')
    rows = [
        ("bare SVG string of 400 rects (baseline)", base),
        ("render_week: 200 events + 200 periods", pure),
        ("controller.week_svg (models -> bars -> SVG)", notebook),
    ]
    print(f"week view full redraw, {REPEAT} redraws each; {drawn} rects drawn, {len(svg)} chars")
    print(f"  {'case':46s} {'per redraw':>12s} {'x baseline':>11s} {'of a 60 Hz frame':>17s}")
    for name, seconds in rows:
        print(
            f"  {name:46s} {seconds * 1e3:9.3f} ms {seconds / base:10.1f}x {seconds / FRAME:16.0%}"
        )
