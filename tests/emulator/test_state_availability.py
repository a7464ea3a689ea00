"""The availability resource: what counts as busy, which calendars are consulted, managed
availability from the account's periods, and unknown participants. The interval arithmetic
is ``test_pure.py``'s; the HTTP answers ``test_availability.py``'s."""

from __future__ import annotations

from typing import Any

from cronofy_avail.emulator.state import EmulatorState
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, new_state

DAY = [{"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T18:00:00Z"}]


def _periods(state: EmulatorState, members: list[dict[str, Any]]) -> list[tuple[str, str]]:
    answer = state.availability(
        {
            "participants": [{"members": members, "required": "all"}],
            "required_duration": {"minutes": 60},
            "query_periods": DAY,
            "response_format": "periods",
        }
    )
    return [(p["start"][11:16], p["end"][11:16]) for p in answer["available_periods"]]


def _hour(hour: int, **extra: Any) -> dict[str, Any]:
    return {
        "start": f"2026-11-25T{hour:02}:00:00Z",
        "end": f"2026-11-25T{hour + 1:02}:00:00Z",
    } | extra


def test_only_what_makes_the_person_busy_counts(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    cal = created.calendar_id
    state.external_add_events(cal, _hour(9))
    state.external_add_events(cal, _hour(11, transparency="transparent"))
    state.external_add_events(cal, _hour(12, status="cancelled"))
    state.external_add_events(cal, _hour(13, participation_status="declined"))
    (gone,) = state.external_add_events(cal, _hour(15))
    state.external_delete_event(gone["event_uid"])
    assert _periods(state, [{"sub": created.sub}]) == [("08:00", "09:00"), ("10:00", "18:00")]


def test_calendar_ids_narrow_what_is_consulted(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(calendars=["Work"])
    primary, work = created.calendar_ids
    state.external_add_events(primary, _hour(9))
    state.external_add_events(work, _hour(14))
    every = [("08:00", "09:00"), ("10:00", "14:00"), ("15:00", "18:00")]
    assert _periods(state, [{"sub": created.sub}]) == every  # house rule: every calendar
    assert _periods(state, [{"sub": created.sub, "calendar_ids": [work]}]) == [
        ("08:00", "14:00"),
        ("15:00", "18:00"),
    ]
    state.delete_calendar(work)
    assert _periods(state, [{"sub": created.sub}]) == [("08:00", "09:00"), ("10:00", "18:00")]
    other = state.create_account()
    foreign = api_error(
        lambda: _periods(state, [{"sub": created.sub, "calendar_ids": [other.calendar_id]}])
    )
    assert error_keys(foreign) == {"participants": ["errors.invalid"]}


def test_managed_availability_reads_the_accounts_periods(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    account = state.accounts[created.account_id]
    state.upsert_period(
        account,
        {
            "available_period_id": "p",
            "start": "2026-11-25T10:00:00Z",
            "end": "2026-11-25T13:00:00Z",
        },
    )
    state.external_add_events(created.calendar_id, _hour(11))
    member = {"sub": created.sub, "managed_availability": True}
    assert _periods(state, [member]) == [("10:00", "11:00"), ("12:00", "13:00")]
    assert _periods(state, [{"sub": created.sub}]) == [("08:00", "11:00"), ("12:00", "18:00")]


def test_an_unknown_participant_is_a_422(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    error = api_error(lambda: _periods(state, [{"sub": "acc_nobody"}]))
    assert error_keys(error) == {"participants": ["errors.invalid"]}


def test_slots_and_max_results(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    answer = state.availability(
        {
            "participants": [{"members": [{"sub": created.sub}], "required": "all"}],
            "required_duration": {"minutes": 60},
            "query_periods": DAY,
            "response_format": "slots",
            "max_results": 2,
        }
    )
    assert answer == {
        "available_slots": [
            {
                "start": "2026-11-25T08:00:00Z",
                "end": "2026-11-25T09:00:00Z",
                "participants": [{"sub": created.sub}],
            },
            {
                "start": "2026-11-25T09:00:00Z",
                "end": "2026-11-25T10:00:00Z",
                "participants": [{"sub": created.sub}],
            },
        ]
    }
