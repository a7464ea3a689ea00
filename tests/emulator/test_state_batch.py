"""The batch resource: each entry a period or managed event upsert or delete, answered one
status per entry; the batch itself validated first."""

from __future__ import annotations

from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, first_account, new_state

PERIOD = {
    "available_period_id": "p",
    "start": "2026-11-25T09:00:00Z",
    "end": "2026-11-25T17:00:00Z",
}


def test_each_entry_gets_its_own_status(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    cal = next(iter(account.calendars))
    event = {"event_id": "m", "summary": "m", "start": PERIOD["start"], "end": PERIOD["end"]}
    answer = state.batch(
        account,
        {
            "batch": [
                {"method": "post", "relative_url": "/v1/available_periods", "data": PERIOD},
                {"method": "POST", "relative_url": "/v1/available_periods/", "data": {}},
                {
                    "method": "POST",
                    "relative_url": f"/v1/calendars/{cal.replace('@', '%40')}/events?x=1",
                    "data": event,
                },
                {"method": "DELETE", "relative_url": "/v1/available_periods", "data": PERIOD},
                {"method": "GET", "relative_url": "/v1/events"},
                {"method": "POST", "relative_url": "/v1/available_periods", "data": "x"},
                "not an entry",
            ]
        },
    )
    statuses = [r["status"] for r in answer["batch"]]
    assert statuses == [202, 422, 202, 202, 404, 422, 422]
    assert "available_period_id" in answer["batch"][1]["data"]["errors"]
    assert "data" not in answer["batch"][4]  # a 404 has no body
    assert account.periods == {}
    assert [e.event_id for e in account.events.values()] == ["m"]


def test_the_batch_itself_is_checked_first(clock: FakeClock) -> None:
    state, _ = new_state(clock, batch_max_entries=1)
    account = first_account(state)
    assert error_keys(api_error(lambda: state.batch(account, {}))) == {"batch": ["errors.required"]}
    assert error_keys(api_error(lambda: state.batch(account, {"batch": {}}))) == {
        "batch": ["errors.invalid"]
    }
    entry = {"method": "POST", "relative_url": "/v1/available_periods", "data": PERIOD}
    too_many = api_error(lambda: state.batch(account, {"batch": [entry, entry]}))
    assert error_keys(too_many) == {"batch": ["errors.too_many_entries"]}
    assert account.periods == {}
