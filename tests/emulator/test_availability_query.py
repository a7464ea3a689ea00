"""The emulator's own reading of availability queries and times (pure, table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.emulator.availability_query import parse_availability
from cronofy_avail.emulator.validation import Errors, time_value

BASE: dict[str, Any] = {
    "participants": [{"members": [{"sub": "acc_1"}], "required": "all"}],
    "required_duration": {"minutes": 30},
    "query_periods": [{"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}],
}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"participants": None}, "participants"),
        ({"participants": {"members": [{"sub": "acc_1"}]}}, "participants"),
        ({"participants": [{"members": ["acc_1"]}]}, "participants"),
        ({"participants": [{"members": [{"sub": "acc_1"}], "required": 2}]}, "participants"),
        ({"participants": [{"members": [{"sub": "acc_1"}], "required": True}]}, "participants"),
        ({"required_duration": {"minutes": 0}}, "required_duration"),
        ({"required_duration": None}, "required_duration"),
        ({"query_periods": None}, "query_periods"),
        ({"query_periods": []}, "query_periods"),
        ({"query_slots": [{"start": "2026-11-25T09:00:00Z"}]}, "query_slots"),
        ({"buffer": {"before": {"minimum": {"minutes": -1}}}}, "buffer.before.minimum"),
        ({"buffer": {"after": 30}}, "buffer"),
        ({"response_format": "blocks"}, "response_format"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": 513}, "max_results"),
        ({"max_results": "5"}, "max_results"),
    ],
)
def test_invalid_queries_name_the_parameter(change: dict[str, Any], param: str) -> None:
    body = {k: v for k, v in (BASE | change).items() if v is not None}
    errors = Errors()
    assert parse_availability(body, errors) is None
    assert param in errors.errors


def test_query_slots_buffers_and_old_name() -> None:
    body = {k: v for k, v in BASE.items() if k != "query_periods"} | {
        "query_slots": [{"start": "2026-11-25 09:00:00Z"}],
        "buffer": {"before": {"minutes": 10}, "after": {"minimum": {"minutes": 5}}},
        "max_results": 512,
    }
    errors = Errors()
    query = parse_availability(body, errors)
    assert query is not None, errors.errors
    start = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert query.query_periods == [(start, start + timedelta(minutes=30))]
    assert (query.buffer_before, query.buffer_after) == (
        timedelta(minutes=10),
        timedelta(minutes=5),
    )
    old = {k: v for k, v in BASE.items() if k != "query_periods"}
    old["available_periods"] = BASE["query_periods"]
    old_query = parse_availability(old, Errors())
    assert old_query is not None
    assert old_query.query_periods == [(start, start + timedelta(hours=1))]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25T09:00:00Z", datetime(2026, 11, 25, 9, tzinfo=UTC)),
        ("2026-11-25 09:00:00Z", datetime(2026, 11, 25, 9, tzinfo=UTC)),  # .NET SDK
        ("2026-11-25T09:00:00UTC", datetime(2026, 11, 25, 9, tzinfo=UTC)),  # pycronofy docs
        ("2026-11-25T10:00:00+01:00", datetime(2026, 11, 25, 9, tzinfo=UTC)),
        (
            {"time": "2026-11-25T09:00:00", "tzid": "Asia/Tokyo"},
            datetime(2026, 11, 25, 9, tzinfo=UTC),
        ),
        (
            {"time": "2026-11-25 09:00:00Z", "tzid": "Asia/Tokyo"},
            datetime(2026, 11, 25, 9, tzinfo=UTC),
        ),
    ],
)
def test_cronofy_times(value: Any, expected: datetime) -> None:
    errors = Errors()
    assert time_value(errors, "start", value, allow_date=False) == expected
    assert not errors


def test_control_api_reads_wall_clock_times_in_the_zone() -> None:
    errors = Errors()
    value = {"time": "2026-11-25T09:00:00", "tzid": "Asia/Tokyo"}
    got = time_value(errors, "start", value, allow_date=False, local_tz=ZoneInfo("Europe/London"))
    assert got == datetime(2026, 11, 25, 0, tzinfo=UTC)
