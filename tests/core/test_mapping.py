"""The event → Available Period policy and the period id rule (pure, no event loop)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronofy_avail.core.mapping import (
    HASHED_ID_PREFIX,
    MappingPolicy,
    Reason,
    period_id_for,
)
from cronofy_avail.core.models import AVAILABLE_PERIOD_ID_MAX, Event, UpsertAvailablePeriodRequest

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def event(**overrides: Any) -> Event:
    data: dict[str, Any] = {
        "calendar_id": "cal_sub",
        "event_uid": "evt_external_1",
        "summary": "Available",
        "start": "2026-11-25T09:00:00Z",
        "end": "2026-11-25T11:00:00Z",
        "deleted": False,
    }
    data.update(overrides)
    return Event.model_validate(data)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "policy", "reason", "times"),
    [
        ({}, MappingPolicy(), Reason.TIMED, (utc(2026, 11, 25, 9), utc(2026, 11, 25, 11))),
        ({"deleted": True}, MappingPolicy(), Reason.DELETED, None),
        ({"status": "cancelled"}, MappingPolicy(), Reason.CANCELLED, None),
        ({"event_status": "cancelled"}, MappingPolicy(), Reason.CANCELLED, None),
        ({"status": "cancelled"}, MappingPolicy(skip_cancelled=False), Reason.TIMED, ...),
        ({"participation_status": "declined"}, MappingPolicy(), Reason.DECLINED, None),
        (
            {"participation_status": "declined"},
            MappingPolicy(skip_declined=False),
            Reason.TIMED,
            ...,
        ),
        ({"status": "tentative"}, MappingPolicy(), Reason.TIMED, ...),
        ({"status": "tentative"}, MappingPolicy(skip_tentative=True), Reason.TENTATIVE, None),
        ({"transparency": "transparent"}, MappingPolicy(), Reason.TIMED, ...),
        (
            {"transparency": "transparent"},
            MappingPolicy(skip_transparent=True),
            Reason.TRANSPARENT,
            None,
        ),
        ({"status": "some_future_status"}, MappingPolicy(), Reason.TIMED, ...),
        (
            {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T09:00:00Z"},
            MappingPolicy(),
            Reason.ZERO_LENGTH,
            None,
        ),
        (
            {"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z"},
            MappingPolicy(),
            Reason.INVALID_TIMES,
            None,
        ),
        (
            {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T12:00:00Z"},
            MappingPolicy(),
            Reason.ENDED,
            None,
        ),
        (
            {"start": "2026-11-24T11:00:00Z", "end": "2026-11-24T13:00:00Z"},
            MappingPolicy(),
            Reason.TIMED,
            (utc(2026, 11, 24, 11), utc(2026, 11, 24, 13)),
        ),
        (
            {"start": "2027-06-14T09:00:00Z", "end": "2027-06-14T10:00:00Z"},
            MappingPolicy(),
            Reason.BEYOND_HORIZON,
            None,
        ),
        (
            {"start": "2027-06-14T09:00:00Z", "end": "2027-06-14T10:00:00Z"},
            MappingPolicy(horizon=None),
            Reason.TIMED,
            ...,
        ),
        # All-day: whole local days, end exclusive, in the user's zone.
        (
            {"start": "2026-11-25", "end": "2026-11-26"},
            MappingPolicy(tzid="Europe/Paris"),
            Reason.ALL_DAY,
            (utc(2026, 11, 24, 23), utc(2026, 11, 25, 23)),
        ),
        (
            {"start": "2026-11-25", "end": "2026-11-27"},
            MappingPolicy(tzid="America/New_York"),
            Reason.ALL_DAY,
            (utc(2026, 11, 25, 5), utc(2026, 11, 27, 5)),
        ),
        (
            {"start": "2026-11-25", "end": "2026-11-26"},
            MappingPolicy(include_all_day=False),
            Reason.ALL_DAY_SKIPPED,
            None,
        ),
        # An all-day event of today has not ended yet at noon.
        (
            {"start": "2026-11-24", "end": "2026-11-25"},
            MappingPolicy(),
            Reason.ALL_DAY,
            (utc(2026, 11, 24), utc(2026, 11, 25)),
        ),
        # Localized times are converted to the UTC instant.
        (
            {
                "start": {"time": "2026-11-25T10:00:00+01:00", "tzid": "Europe/Paris"},
                "end": {"time": "2026-11-25T12:00:00+01:00", "tzid": "Europe/Paris"},
            },
            MappingPolicy(),
            Reason.TIMED,
            (utc(2026, 11, 25, 9), utc(2026, 11, 25, 11)),
        ),
    ],
)
def test_policy(
    overrides: dict[str, Any],
    policy: MappingPolicy,
    reason: str,
    times: tuple[datetime, datetime] | Any | None,
) -> None:
    decision = policy.decide(event(**overrides), NOW)
    assert decision.reason == reason
    if times is None:
        assert decision.period is None
        return
    assert decision.period is not None
    assert decision.period.period_id == "evt_external_1"
    if times is not ...:
        assert (decision.period.start, decision.period.end) == times


def test_all_day_across_daylight_saving_change_keeps_local_midnights() -> None:
    # Europe/London leaves summer time on 2026-10-25: that local day lasts 25 hours.
    decision = MappingPolicy(tzid="Europe/London").decide(
        event(start="2026-10-25", end="2026-10-26"), datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert decision.period is not None
    assert decision.period.start == utc(2026, 10, 24, 23)
    assert decision.period.end == utc(2026, 10, 26, 0)


def test_unknown_time_zone_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        MappingPolicy(tzid="Mars/Olympus_Mons")


def test_period_id_is_the_event_uid_when_cronofy_accepts_it() -> None:
    assert period_id_for("evt_external_54008b1a4a41730f8d5c6037") == (
        "evt_external_54008b1a4a41730f8d5c6037"
    )
    assert period_id_for("a" * 64) == "a" * 64


@pytest.mark.parametrize(
    "uid",
    [
        "a" * 65,
        "evt_external_" + "f" * 80,
        "événement",
        "has space",
        "slash/in/it",
        "abc@google.com",
        f"{HASHED_ID_PREFIX}0123",  # looks like a hashed id: must not be taken as one
    ],
)
def test_period_id_hashes_what_cronofy_would_reject_or_could_collide(uid: str) -> None:
    pid = period_id_for(uid)
    assert pid.startswith(HASHED_ID_PREFIX)
    assert pid == period_id_for(uid)  # deterministic
    assert len(pid) <= AVAILABLE_PERIOD_ID_MAX
    # Cronofy's own rule as the request model enforces it.
    UpsertAvailablePeriodRequest(
        available_period_id=pid, start=utc(2026, 11, 25, 9), end=utc(2026, 11, 25, 10)
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=120), min_size=2, max_size=40, unique=True))
def test_period_id_is_injective_and_always_valid(uids: list[str]) -> None:
    ids = [period_id_for(uid) for uid in uids]
    assert len(set(ids)) == len(ids)
    for pid in ids:
        assert pid.isascii()
        assert 0 < len(pid) <= AVAILABLE_PERIOD_ID_MAX
