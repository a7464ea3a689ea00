"""The instants `make test` runs the date-touching tests at: always ahead, always the hard ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.instants import ZONES, _counts, instants, transitions

NOW = datetime.now(UTC)


@pytest.mark.parametrize("days_on", [0, 1, 2, 3, 4, 5, 6, 100, 200, 300, 365 * 3])
def test_every_instant_is_ahead_and_of_its_kind(days_on: int) -> None:
    now = NOW + timedelta(days=days_on)
    found = {i.name: i.at for i in instants(now)}
    assert all(at > now for at in found.values())
    assert all(at.tzinfo is not None for at in found.values())
    sunday = found["sunday-2350"]
    assert (sunday.weekday(), sunday.hour, sunday.minute) == (6, 23, 50)
    assert sunday - now <= timedelta(days=7)
    eve = found["new-years-eve-2359"]
    assert (eve.month, eve.day, eve.hour, eve.minute) == (12, 31, 23, 59)
    assert eve - now <= timedelta(days=366)
    leap = found["leap-day"]
    assert (leap.month, leap.day) == (2, 29)
    assert leap - now <= timedelta(days=366 * 4 + 1)
    assert found["a-year-on"] - now == timedelta(days=365) - timedelta(microseconds=now.microsecond)
    for zone in ("london", "new_york"):
        for kind in ("spring", "autumn"):
            before, after = found[f"{zone}-{kind}-before"], found[f"{zone}-{kind}-after"]
            assert after - before == timedelta(hours=1)
    assert len(found) == 12


@pytest.mark.parametrize("zone", ZONES)
def test_a_transition_is_where_the_offset_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    changes = transitions(zone, NOW)[:2]
    assert len(changes) == 2  # one spring, one autumn: at least two in any 366 days
    assert {bool(c.astimezone(tz).dst()) for c in changes} == {True, False}
    for change in changes:
        before = (change - timedelta(minutes=1)).astimezone(tz).utcoffset()
        assert change.astimezone(tz).utcoffset() != before
        assert change.second == 0
        assert change.microsecond == 0
    # and nowhere else: every hour in between keeps its offset
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    offsets = set()
    while hour < changes[1]:
        offsets.add(hour.astimezone(tz).utcoffset())
        hour += timedelta(hours=1)
    assert len(offsets) == 2  # the offset before the first change, and between the two


def test_the_summary_line_is_counted() -> None:
    assert _counts("238 passed, 878 deselected in 31.20s") == (238, 0)
    assert _counts("2 failed, 236 passed, 878 deselected in 31.20s") == (236, 2)
    assert _counts("1 failed, 3 passed, 1 error in 2.00s") == (3, 2)
    assert _counts("no tests ran in 0.01s") == (0, 0)
