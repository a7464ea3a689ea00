"""The pure layers: interval arithmetic, validation and faults, without a server (the state's
rules, resource by resource: ``test_state_*.py``)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronofy_avail.emulator import availability as av
from cronofy_avail.emulator.validation import ApiError, Errors, check_id, parse_bool, time_value


def t(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_pure_modules_do_not_import_aiohttp() -> None:
    code = (
        "import sys\n"
        "import cronofy_avail.emulator.state, cronofy_avail.emulator.availability\n"
        "import cronofy_avail.emulator.validation, cronofy_avail.emulator.faults\n"
        "import cronofy_avail.emulator.config\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    # The probe can fail: the server does pull aiohttp in.
    probe = code.replace("config\n", "config, cronofy_avail.emulator.server\n")
    loaded = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "aiohttp" in loaded.stdout


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([(t(9), t(12))], [(t(10), t(11))], [(t(9), t(10)), (t(11), t(12))]),
        ([(t(9), t(12))], [(t(8), t(13))], []),
        ([(t(9), t(12))], [], [(t(9), t(12))]),
        (
            [(t(9), t(10)), (t(10), t(11))],
            [(t(10), t(10, 30))],
            [(t(9), t(10)), (t(10, 30), t(11))],
        ),
    ],
)
def test_subtract(a: list[av.Interval], b: list[av.Interval], expected: list[av.Interval]) -> None:
    assert av.subtract(a, b) == expected


def test_intersect_and_normalise() -> None:
    assert av.normalise([(t(10), t(11)), (t(9), t(10)), (t(12), t(12))]) == [(t(9), t(11))]
    assert av.intersect([(t(9), t(12))], [(t(8), t(10)), (t(11), t(13))]) == [
        (t(9), t(10)),
        (t(11), t(12)),
    ]


def test_periods_required_all_and_n() -> None:
    query = [(t(9), t(17))]
    a = av.MemberInput("a", busy=[(t(10), t(11))])
    b = av.MemberInput("b", busy=[(t(12), t(13))])
    all_ = av.compute_periods(
        [av.GroupInput([a, b], 2)], query, required_duration=timedelta(minutes=30)
    )
    assert [(r.start, r.end) for r in all_] == [(t(9), t(10)), (t(11), t(12)), (t(13), t(17))]
    one = av.compute_periods(
        [av.GroupInput([a, b], 1)], query, required_duration=timedelta(minutes=30)
    )
    # Each maximal period in which one of them is free throughout, once, in time order,
    # naming every member free throughout it; a period inside a longer one is not repeated.
    assert [(r.start, r.end, r.participants) for r in one] == [
        (t(9), t(12), ("b",)),
        (t(11), t(17), ("a",)),
    ]


def test_one_of_two_free_long_enough_is_found_where_free_sets_keep_changing() -> None:
    # A free 9-11, B free 10-12, one of them needed for 90 minutes: A alone has two hours.
    a = av.MemberInput("a", busy=[(t(11), t(17))])
    b = av.MemberInput("b", busy=[(t(9), t(10)), (t(12), t(17))])
    found = av.compute_periods(
        [av.GroupInput([a, b], 1)], [(t(9), t(17))], required_duration=timedelta(minutes=90)
    )
    assert [(r.start, r.end, r.participants) for r in found] == [
        (t(9), t(11), ("a",)),
        (t(10), t(12), ("b",)),
    ]
    # Free 9-10 and 10-11 by different people is no 90-minute period for one person.
    c = av.MemberInput("c", busy=[(t(10), t(17))])
    d = av.MemberInput("d", busy=[(t(9), t(10)), (t(11), t(17))])
    assert (
        av.compute_periods(
            [av.GroupInput([c, d], 1)], [(t(9), t(17))], required_duration=timedelta(minutes=90)
        )
        == []
    )


def test_managed_periods_duration_and_buffer() -> None:
    member = av.MemberInput(
        "a", busy=[(t(12), t(13))], managed_periods=[(t(9), t(10)), (t(11), t(15))]
    )
    periods = av.compute_periods(
        [av.GroupInput([member], 1)],
        [(t(8), t(18))],
        required_duration=timedelta(minutes=90),
        buffer_before=timedelta(minutes=15),
    )
    # 9-10 is too short; 11-12 too short; after the busy hour + 15 min buffer: 13:15-15.
    assert [(r.start, r.end) for r in periods] == [(t(13, 15), t(15))]


def test_slots_alignment() -> None:
    a = av.MemberInput("a", busy=[])
    query = [(t(9, 10), t(11))]
    plain = av.compute_slots(
        [av.GroupInput([a], 1)],
        query,
        duration=timedelta(minutes=30),
        start_interval=timedelta(minutes=15),
        overlapping=False,
    )
    assert [s.start for s in plain] == [t(9, 15), t(9, 45), t(10, 15)]
    overlapping = av.compute_slots(
        [av.GroupInput([a], 1)],
        query,
        duration=timedelta(minutes=30),
        start_interval=timedelta(minutes=15),
        overlapping=True,
    )
    assert [s.start for s in overlapping] == [
        t(9, 15),
        t(9, 30),
        t(9, 45),
        t(10),
        t(10, 15),
        t(10, 30),
    ]


def test_n_of_m_slots_one_per_time_naming_every_free_member_in_time_order() -> None:
    # Cronofy docs (docs/api-contract.md): a group whose required is below its member
    # count gives one slot per time naming every free member, in time order.
    rooms = [
        av.MemberInput("r1", busy=[(t(10), t(11))]),
        av.MemberInput("r2", busy=[(t(9), t(10))]),
        av.MemberInput("r3", busy=[]),
    ]
    slots = av.compute_slots(
        [av.GroupInput(rooms, 1)],
        [(t(9), t(11))],
        duration=timedelta(minutes=60),
        start_interval=timedelta(minutes=60),
        overlapping=False,
    )
    assert [(s.start, s.participants) for s in slots] == [
        (t(9), ("r1", "r3")),
        (t(10), ("r2", "r3")),
    ]


def test_validation_helpers() -> None:
    assert parse_bool("True") is True
    assert parse_bool("false") is False
    assert parse_bool("maybe") is None
    errors = Errors()
    check_id(errors, "available_period_id", "x" * 65)
    check_id(errors, "other", "café")
    assert time_value(errors, "start", "2026-11-24", allow_date=False) is None
    assert errors.errors["available_period_id"][0]["key"] == "errors.too_long"
    assert errors.errors["other"][0]["key"] == "errors.invalid"
    assert errors.errors["start"][0]["key"] == "errors.invalid"
    with pytest.raises(ApiError) as caught:
        errors.raise_if_any()
    assert caught.value.status == 422


def test_rate_limit_windows_with_an_injected_clock() -> None:
    from cronofy_avail.emulator.faults import RateLimit

    now = [100.0]
    limit = RateLimit(per_second=2, per_minute=3, monotonic=lambda: now[0])
    assert [limit.admit() for _ in range(3)] == [True, True, False]  # 2 per second
    now[0] += 1.0
    assert [limit.admit() for _ in range(2)] == [True, False]  # 3 per minute
    now[0] += 59.5
    assert limit.admit() is True  # the first two left the minute window
    assert limit.rejected == 2
    limit.enabled = False
    assert all(limit.admit() for _ in range(10))


def test_fault_rules_match_and_count() -> None:
    from cronofy_avail.emulator.faults import FaultInjector, FaultRule, parse_rule

    faults = FaultInjector(seed=1)
    faults.add(FaultRule(endpoint="GET /v1/events", error_count=1, error_status=503))
    faults.add(parse_rule({"endpoint": "/v1/available_periods", "rate_limit_count": 1}))
    assert faults.decide("GET", "/v1/events").status == 503
    assert faults.decide("GET", "/v1/events").status is None
    assert faults.decide("POST", "/v1/events").status is None
    decision = faults.decide("DELETE", "/v1/available_periods/")
    assert (decision.status, decision.retry_after) == (429, None)
    assert faults.decide("GET", "/v1/available_periods/pages/x").status is None
    assert [r.hits for r in faults.rules] == [1, 1]
    with pytest.raises(ApiError):
        parse_rule({"drop_rate": -1})


def test_n_of_m_slots_never_overlap_where_members_periods_do() -> None:
    a = av.MemberInput("a", busy=[(t(11), t(17))])
    b = av.MemberInput("b", busy=[(t(9), t(9, 30)), (t(11, 30), t(17))])
    kwargs: dict[str, Any] = {
        "duration": timedelta(minutes=60),
        "start_interval": timedelta(minutes=30),
    }
    group = [av.GroupInput([a, b], 1)]
    plain = av.compute_slots(group, [(t(9), t(17))], overlapping=False, **kwargs)
    assert [(s.start, s.participants) for s in plain] == [(t(9), ("a",)), (t(10), ("a", "b"))]
    both = av.compute_slots(group, [(t(9), t(17))], overlapping=True, **kwargs)
    assert [(s.start, s.participants) for s in both] == [
        (t(9), ("a",)),
        (t(9, 30), ("a", "b")),
        (t(10), ("a", "b")),
        (t(10, 30), ("b",)),
    ]
