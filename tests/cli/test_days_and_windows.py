"""The days the CLI names and the windows availability queries cover, at whatever instant this
runs (`make test` runs it again at a Sunday night, the daylight-saving changes, New Year's
Eve, a leap day and a year on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.cli.events import resolve_day
from cronofy_avail.runtime.steps import SLOT_BOUNDARY, query_start

NOW = datetime.now(UTC)
ZONES = (
    "Pacific/Kiritimati",  # UTC+14: already tomorrow for most of the UTC day
    "Pacific/Pago_Pago",  # UTC-11: still yesterday
    "Europe/London",
    "America/New_York",
    "Asia/Kathmandu",  # UTC+5:45
    "Australia/Lord_Howe",  # a half-hour daylight-saving shift
)


@pytest.mark.parametrize("tzid", ZONES)
def test_relative_days_are_days_in_the_users_zone(tzid: str) -> None:
    tz = ZoneInfo(tzid)
    today = NOW.astimezone(tz).date()
    assert resolve_day("today", tz, NOW) == today
    assert resolve_day("tomorrow", tz, NOW) == today + timedelta(days=1)
    assert resolve_day("+0", tz, NOW) == today
    assert resolve_day("+366", tz, NOW) == today + timedelta(days=366)
    assert resolve_day(str(today), tz, NOW) == today


def test_kiritimati_is_fourteen_hours_ahead_all_year() -> None:
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    assert resolve_day("today", kiritimati, NOW) == (NOW + timedelta(hours=14)).date()
    assert (
        resolve_day("today", ZoneInfo("Pacific/Pago_Pago"), NOW)
        == (NOW - timedelta(hours=11)).date()
    )


@pytest.mark.parametrize("seconds", [0, 1, 59, 60 * 14 + 59, 60 * 15, 60 * 60 * 24 - 1])
@pytest.mark.parametrize("tzid", ZONES)
def test_a_query_starts_at_the_next_quarter_hour_in_every_zone(seconds: int, tzid: str) -> None:
    now = NOW + timedelta(seconds=seconds)
    start = query_start(now)
    assert now <= start < now + SLOT_BOUNDARY
    local = start.astimezone(ZoneInfo(tzid))
    assert (local.minute % 15, local.second, local.microsecond) == (0, 0, 0)
    assert query_start(start) == start  # on a boundary already: unchanged
