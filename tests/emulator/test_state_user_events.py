"""The user's side of events (what the control API plays): new events and recurring series,
edits, moves and deletes, each notifying the channels' observer."""

from __future__ import annotations

from functools import partial

from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, new_state

NINE = {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}


def test_a_new_event_is_external_and_notifies(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    cal = created.calendar_id
    (made,) = state.external_add_events(
        cal, {"summary": "Dentist", "location": "High St", "event_uid": "evt_mine", **NINE}
    )
    assert made["event_uid"] == "evt_mine"
    assert made["location"] == {"description": "High St"}
    assert "event_id" not in made
    event = state.accounts[created.account_id].events["evt_mine"]
    assert (event.created, event.external_updated) == (clock.now, clock.now)
    assert event.positions == [(event.start, event.end)]
    assert observer.calls == [("calendar_changed", created.account_id, cal, False, clock.now)]
    taken = api_error(lambda: state.external_add_events(cal, {"event_uid": "evt_mine", **NINE}))
    assert error_keys(taken) == {"event_uid": ["errors.invalid"]}
    assert api_error(lambda: state.external_add_events("cal_nobody", NINE)).status == 404


def test_local_times_read_in_the_accounts_zone(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(tzid="America/New_York")
    wall_clock = {"start": {"time": "2026-11-25T09:00:00"}, "end": {"time": "2026-11-25T10:00:00"}}
    (made,) = state.external_add_events(created.calendar_id, wall_clock)
    assert made["start"] == "2026-11-25T14:00:00Z"


def test_a_recurring_series_and_deleting_it(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    cal = created.calendar_id
    weekly = {"frequency": "weekly", "interval": 2, "count": 3}
    made = state.external_add_events(
        cal, {"summary": "1:1", "event_uid": "one", "recurrence": weekly, **NINE}
    )
    assert [m["event_uid"] for m in made] == ["one", "one_1", "one_2"]
    assert [m["start"] for m in made] == [
        "2026-11-25T09:00:00Z",
        "2026-12-09T09:00:00Z",
        "2026-12-23T09:00:00Z",
    ]
    series = {m["series_identifier"] for m in made}
    assert len(series) == 1
    assert all(m["recurring"] for m in made)
    assert len(observer.calls) == 1  # one change for the whole series
    deleted = state.external_delete_series(series.pop())
    assert [d["deleted"] for d in deleted] == [True, True, True]
    assert api_error(lambda: state.external_delete_series("series_none")).status == 404


def test_recurrence_validation(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    cal = state.create_account().calendar_id
    for recurrence in (
        "daily",
        {"frequency": "monthly"},
        {"count": "2"},
        {"count": 0},
        {"count": 367},
        {"interval": 0},
    ):
        spec = {"recurrence": recurrence, **NINE}
        error = api_error(partial(state.external_add_events, cal, spec))
        assert error_keys(error) == {"recurrence": ["errors.invalid"]}, recurrence


def test_field_validation(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    cal = state.create_account().calendar_id
    spec = {
        "status": "maybe",
        "summary": 3,
        "organizer": {"name": "no email"},
        "attendees": ["x"],
        "start": "2026-11-25T10:00:00Z",
        "end": "2026-11-25T09:00:00Z",
    }
    keys = error_keys(api_error(lambda: state.external_add_events(cal, spec)))
    assert {"status", "summary", "organizer", "attendees"} <= set(keys)


def test_an_update_moves_and_edits_and_notifies(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    (made,) = state.external_add_events(created.calendar_id, {"summary": "a", **NINE})
    uid = made["event_uid"]
    clock.advance(minutes=3)
    updated = state.external_update_event(uid, {"participation_status": "declined"})
    assert updated["participation_status"] == "declined"
    assert updated["updated"] == "2026-11-24T08:03:00Z"
    event = state.accounts[created.account_id].events[uid]
    assert len(event.positions) == 1  # the times did not change
    backwards = api_error(
        lambda: state.external_update_event(uid, {"start": "2026-11-26T09:00:00Z"})
    )
    assert backwards.status == 422  # the start would be after the end
    moved = state.external_update_event(
        uid, {"start": "2026-11-26T09:00:00Z", "end": "2026-11-26T10:00:00Z"}
    )
    assert (moved["start"], moved["end"]) == ("2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    assert len(event.positions) == 2
    assert event.external_updated == clock.now
    assert len(observer.calls) == 3  # the add and two updates
    assert api_error(lambda: state.external_update_event("evt_nobody", {})).status == 404


def test_deleting_is_once_and_then_final(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    (made,) = state.external_add_events(created.calendar_id, NINE)
    uid = made["event_uid"]
    assert state.external_delete_event(uid)["deleted"] is True
    state.external_delete_event(uid)
    assert len(observer.calls) == 2  # the add and one delete
    error = api_error(lambda: state.external_update_event(uid, {"summary": "x"}))
    assert error_keys(error) == {"event_uid": ["errors.invalid"]}


def test_calendar_events_lists_everything_of_one_calendar(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(calendars=["Work"])
    account = state.accounts[created.account_id]
    primary, work = created.calendar_ids
    (theirs,) = state.external_add_events(primary, NINE)
    state.external_add_events(work, NINE)
    state.upsert_managed_event(account, primary, {"event_id": "m", "summary": "m", **NINE})
    state.external_delete_event(theirs["event_uid"])
    listed = state.calendar_events(primary)
    assert [(e.get("event_id"), e["deleted"]) for e in listed] == [(None, True), ("m", False)]
    assert api_error(lambda: state.calendar_events("cal_nobody")).status == 404
