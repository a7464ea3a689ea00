"""The instants `make test` runs the date-touching tests at: always ahead, always the hard ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.instants import (
    DATE_TOUCHING,
    ROOT,
    ZONES,
    _counts,
    instants,
    next_sunday_night,
    transitions,
)

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


@pytest.mark.parametrize("days_on", [0, 90, 180, 270])
@pytest.mark.parametrize("zone", ["UTC", *ZONES, "Pacific/Kiritimati"])
def test_sunday_night_is_sunday_night_in_its_own_zone(zone: str, days_on: int) -> None:
    now = NOW + timedelta(days=days_on)
    local = next_sunday_night(now, zone).astimezone(ZoneInfo(zone))
    assert (local.weekday(), local.hour, local.minute) == (6, 23, 50)
    assert timedelta(0) < local - now <= timedelta(days=7)


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


CLOCK = re.compile(r"datetime\.now\(|date\.today\(|utcnow\(|time\.time\(|\btoday\b|\btomorrow\b")
NOT_DATE_TOUCHING = {
    "tests/browser/test_wizard_browser.py": "slow; its JupyterLab runs at 08:00 today, always",
    "tests/cli/test_serve_scale.py": "now only as the seeded users' watermarks, on any day",
    "tests/e2e/test_user_settings_and_errors.py": "'today'/'tomorrow' only in a usage message",
    "tests/notebook/test_models.py": "its 'today' is injected: a fixed day in 2031",
    "tests/notebook/test_kernel_idle.py": "one event a day ahead (a real kernel: slow to repeat)",
    "tests/notebook/test_notebooks.py": "slow; notebook 01 runs again at a Sunday night of its own",
    "tests/sync/test_cluster.py": "PostgreSQL keeps the real clock; jobs are due by the database's",
    "tests/sync/test_cost.py": "events a day ahead, on any day",
    "tests/sync/test_runner.py": "events a day ahead, on any day",
    "tests/sync/test_pending.py": "watermarks of now and no events: counts, on any day",
    "tests/sync/test_scheduler.py": "its dates come from an injected clock",
    "tests/webhook/test_ack_cost.py": "a changes_since of now, on any day",
    "tests/workshop/test_workshop.py": "events a day ahead, on any day",
    "tests/workshop/test_boundaries.py": "events a day ahead, on any day",
}
"""Test files that read the clock but are not run again at the instants, and why. The whole
fast suite passed at every instant when checked by hand (python -m tests.support.instants --
-m "not slow" tests): this list says why that need not be repeated in every make test."""


def test_each_test_file_that_reads_the_clock_runs_at_the_instants_or_says_why() -> None:
    listed = {entry.split("::")[0] for entry in DATE_TOUCHING}
    assert all((ROOT / path).is_file() for path in listed | set(NOT_DATE_TOUCHING))
    reading = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        if CLOCK.search(path.read_text(encoding="utf-8"))
    }
    assert reading - listed - set(NOT_DATE_TOUCHING) == set()  # add it to one of the two
    assert set(NOT_DATE_TOUCHING) <= reading  # no stale excuse
    assert not listed & set(NOT_DATE_TOUCHING)
