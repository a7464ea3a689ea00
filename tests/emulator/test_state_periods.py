"""The available periods resource: upserts by id, deletes (one or all), listing in a window
with localized times, paged."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from cronofy_avail.emulator.state import AccountRecord, EmulatorState
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, first_account, new_state


def _period(period_id: str, day: int, start: int = 9, end: int = 17) -> dict[str, Any]:
    return {
        "available_period_id": period_id,
        "start": f"2026-11-{day}T{start:02}:00:00Z",
        "end": f"2026-11-{day}T{end:02}:00:00Z",
    }


def _ids(state: EmulatorState, account: AccountRecord, **params: str) -> list[str]:
    query = {k: [v] for k, v in params.items()}
    listed = state.list_periods(account, query, "http://x")["available_periods"]
    return [p["available_period_id"] for p in listed]


def test_upsert_replaces_by_id_and_lists_in_time_order(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    account = first_account(state)
    state.upsert_period(account, _period("late", 26))
    state.upsert_period(account, _period("early", 27))
    state.upsert_period(account, _period("early", 25))  # moved, same id
    assert _ids(state, account) == ["early", "late"]
    assert account.periods["early"].start.day == 25
    assert observer.calls == []  # periods never notify


def test_listing_in_a_window_and_localized(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    for day in (24, 25, 26):
        state.upsert_period(account, _period(f"p{day}", day))
    window = {"from": "2026-11-25", "to": "2026-11-26", "tzid": "Europe/London"}
    assert _ids(state, account, **window) == ["p25"]
    no_zone = api_error(lambda: state.list_periods(account, {"from": ["2026-11-25"]}, "x"))
    assert error_keys(no_zone) == {"tzid": ["errors.required"]}
    query = {"tzid": ["Asia/Tokyo"], "localized_times": ["true"]}
    first = state.list_periods(account, query, "http://x")["available_periods"][0]
    assert first["start"] == {"time": "2026-11-24T18:00:00+09:00", "tzid": "Asia/Tokyo"}
    assert state.list_periods(account, {}, "x")["available_periods"][0]["start"] == (
        "2026-11-24T09:00:00Z"
    )


def test_listing_is_paged(clock: FakeClock) -> None:
    state, _ = new_state(clock, page_size=2)
    account = first_account(state)
    for day in (24, 25, 26):
        state.upsert_period(account, _period(f"p{day}", day))
    page = state.list_periods(account, {}, "http://x")
    assert page["pages"]["total"] == 2
    token = page["pages"]["next_page"].rsplit("/", 1)[1]
    rest = state.next_page(account, "available_periods", token, "http://x")
    assert [p["available_period_id"] for p in rest["available_periods"]] == ["p26"]


def test_delete_one_unknown_or_all(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    for day in (24, 25, 26):
        state.upsert_period(account, _period(f"p{day}", day))
    state.delete_period(account, {"available_period_id": "p25"})
    state.delete_period(account, {"available_period_id": "never"})  # 202 (house rule)
    assert _ids(state, account) == ["p24", "p26"]
    both = api_error(
        lambda: state.delete_period(account, {"delete_all": True, "available_period_id": "p24"})
    )
    assert error_keys(both) == {"delete_all": ["errors.invalid"]}
    state.delete_period(account, {"delete_all": True})
    assert account.periods == {}


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({}, {"available_period_id", "start", "end"}),
        ({**_period("p", 25), "available_period_id": "x" * 65}, {"available_period_id"}),
        ({**_period("p", 25, start=17, end=9)}, {"end"}),
        ({**_period("p", 25), "start": "2026-11-25"}, {"start"}),
        ({**_period("p", 25), "tzid": "Mars/Olympus"}, {"tzid"}),
    ],
)
def test_invalid_periods(clock: FakeClock, body: dict[str, Any], params: set[str]) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    assert set(error_keys(api_error(partial(state.upsert_period, account, body)))) == params
    assert account.periods == {}
