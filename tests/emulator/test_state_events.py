"""The events resource as the application uses it: reads (the default window, ``from``/``to``,
``last_modified``, deleted, moved and managed events) and writes (managed events, edits by
``event_uid``, deletes, bulk deletes) with the ``own_changes_count`` switch."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccountRecord, EmulatorState
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, first_account, new_state

BASE = "http://x"


def _query(**params: str) -> dict[str, list[str]]:
    return {"tzid": ["Europe/London"], **{k: [v] for k, v in params.items()}}


def _summaries(state: EmulatorState, account: AccountRecord, **params: str) -> list[str]:
    return [e["summary"] for e in state.read_events(account, _query(**params), BASE)["events"]]


def _managed(event_id: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "summary": event_id, "start": start, "end": end, **extra}


@pytest.mark.parametrize("own_changes_count", [True, False])
def test_last_modified_and_the_applications_own_changes(
    clock: FakeClock, own_changes_count: bool
) -> None:
    # Default (True): "modified on or after" (pycronofy/client.py, Client.read_events
    # docstring), so the application's own writes are returned too. False: the earlier
    # house rule, only external changes.
    state = EmulatorState(EmulatorConfig(own_changes_count=own_changes_count), clock=clock)
    created = state.create_account()
    account = state.accounts[created.account_id]
    cal = created.calendar_id
    external = state.external_add_events(
        cal, {"summary": "ext", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    )[0]
    state.upsert_managed_event(
        account,
        cal,
        {
            "event_id": "m1",
            "summary": "mine",
            "start": "2026-11-25T11:00:00Z",
            "end": "2026-11-25T12:00:00Z",
        },
    )
    since = clock.advance(minutes=5)
    state.upsert_managed_event(
        account,
        cal,
        {
            "event_id": "m1",
            "summary": "mine, moved",
            "start": "2026-11-25T13:00:00Z",
            "end": "2026-11-25T14:00:00Z",
        },
    )
    query = {
        "tzid": ["Europe/London"],
        "last_modified": [since.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "include_managed": ["true"],
    }
    found = [e["summary"] for e in state.read_events(account, query, "http://x")["events"]]
    assert found == (["mine, moved"] if own_changes_count else [])
    # An edit of the external event by event_uid is the application's own change too.
    state.upsert_managed_event(
        account, cal, {"event_uid": external["event_uid"], "summary": "ext, edited by app"}
    )
    found = [e["summary"] for e in state.read_events(account, query, "http://x")["events"]]
    assert found == (["ext, edited by app", "mine, moved"] if own_changes_count else [])
    clock.advance(minutes=1)
    state.external_update_event(external["event_uid"], {"summary": "ext edited"})
    events = state.read_events(account, query, "http://x")["events"]
    assert "ext edited" in [e["summary"] for e in events]
    assert events[0]["updated"] == "2026-11-24T08:06:00Z"


def test_the_default_window_follows_the_clock(clock: FakeClock) -> None:
    state, _ = new_state(clock, events_days_back=1, events_days_ahead=2)
    created = state.create_account()
    account = state.accounts[created.account_id]
    for day in (22, 23, 25, 26):
        state.external_add_events(
            created.calendar_id,
            {"summary": f"day {day}", "start": f"2026-11-{day}", "end": f"2026-11-{day + 1}"},
        )
    # The clock says 24 November: [23, 26) in the account's zone.
    assert _summaries(state, account) == ["day 23", "day 25"]
    clock.advance(days=1)
    assert _summaries(state, account) == ["day 25", "day 26"]
    assert _summaries(state, account, **{"from": "2026-11-20", "to": "2026-11-23"}) == ["day 22"]
    error = api_error(
        lambda: state.read_events(
            account, _query(**{"from": "2026-11-24", "to": "2026-11-24"}), BASE
        )
    )
    assert error_keys(error) == {"to": ["errors.invalid"]}


def test_managed_events_escape_only_the_default_window(clock: FakeClock) -> None:
    state, _ = new_state(clock, events_days_back=1, events_days_ahead=2)
    created = state.create_account()
    account = state.accounts[created.account_id]
    state.upsert_managed_event(
        account,
        created.calendar_id,
        _managed("far", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"),
    )
    assert _summaries(state, account) == []  # managed events need include_managed
    assert _summaries(state, account, include_managed="true") == ["far"]
    assert _summaries(state, account, only_managed="true") == ["far"]
    window = {"from": "2026-11-24", "to": "2026-11-26"}
    assert _summaries(state, account, include_managed="true", **window) == []


def test_deleted_moved_and_filtered_reads(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(calendars=["Work"])
    account = state.accounts[created.account_id]
    primary, work = created.calendar_ids
    (moved,) = state.external_add_events(
        primary,
        {"summary": "moved", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"},
    )
    (gone,) = state.external_add_events(
        work, {"summary": "gone", "start": "2026-11-25T11:00:00Z", "end": "2026-11-25T12:00:00Z"}
    )
    state.external_update_event(
        moved["event_uid"], {"start": "2026-12-10T09:00:00Z", "end": "2026-12-10T10:00:00Z"}
    )
    state.external_delete_event(gone["event_uid"])
    day = {"from": "2026-11-25", "to": "2026-11-26"}
    assert _summaries(state, account, **day) == []
    assert _summaries(state, account, include_moved="true", **day) == ["moved"]
    assert _summaries(state, account, include_deleted="true", **day) == ["gone"]
    both = {"include_moved": "true", "include_deleted": "true", **day}
    # In order of their current start: the moved event now starts on 10 December.
    assert _summaries(state, account, **both) == ["gone", "moved"]
    assert _summaries(state, account, **both, **{"calendar_ids[]": work}) == ["gone"]
    unknown = api_error(lambda: state.read_events(account, _query(calendar_ids="cal_x"), BASE))
    assert error_keys(unknown) == {"calendar_ids": ["errors.invalid"]}
    # A deleted calendar's events leave every read.
    state.delete_calendar(work)
    assert _summaries(state, account, **both) == ["moved"]


def test_localized_times_and_all_day_dates(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    account = state.accounts[created.account_id]
    state.external_add_events(
        created.calendar_id,
        {"summary": "timed", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"},
    )
    state.external_add_events(
        created.calendar_id, {"summary": "all day", "start": "2026-11-26", "end": "2026-11-27"}
    )
    query = {"tzid": ["America/New_York"], "localized_times": ["true"]}
    timed, all_day = state.read_events(account, query, BASE)["events"]
    assert timed["start"] == {"time": "2026-11-25T04:00:00-05:00", "tzid": "America/New_York"}
    assert (all_day["start"], all_day["end"]) == ("2026-11-26", "2026-11-27")
    plain = state.read_events(account, _query(), BASE)["events"][0]
    assert plain["start"] == "2026-11-25T09:00:00Z"
    # House rule: nobody set an organizer, so the calendar's owner organizes it.
    assert plain["organizer"] == {"email": account.email, "display_name": account.name}


def test_reading_and_writing_need_their_scopes(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(scope="read_account")
    account = state.accounts[created.account_id]
    cal = created.calendar_id
    assert api_error(lambda: state.read_events(account, _query(), BASE)).status == 403
    write = _managed("m", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert api_error(lambda: state.upsert_managed_event(account, cal, write)).status == 403
    assert (
        api_error(lambda: state.delete_managed_event(account, cal, {"event_id": "m"})).status == 403
    )
    assert api_error(lambda: state.bulk_delete_events(account, {"delete_all": True})).status == 403


def test_managed_events_upsert_by_event_id(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    account = state.accounts[created.account_id]
    cal = created.calendar_id
    state.upsert_managed_event(
        account, cal, _managed("m", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    )
    clock.advance(minutes=1)
    state.upsert_managed_event(
        account,
        cal,
        _managed("m", "2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z", transparency="transparent"),
    )
    (event,) = account.events.values()
    assert event.event_id == "m"
    assert event.transparency == "transparent"
    assert event.positions[-1] == (event.start, event.end)
    assert len(event.positions) == 2
    assert event.updated == clock.now
    assert observer.calls == []  # own changes do not count (the default switch)
    error = api_error(lambda: state.upsert_managed_event(account, cal, {"event_id": "x"}))
    assert set(error_keys(error)) == {"summary", "start", "end"}
    assert api_error(lambda: state.upsert_managed_event(account, "cal_x", {})).status == 404
    account.calendars[cal].readonly = True
    readonly = api_error(
        lambda: state.upsert_managed_event(
            account, cal, _managed("n", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
        )
    )
    assert error_keys(readonly) == {"calendar_id": ["errors.read_only"]}


@pytest.mark.parametrize("own_changes_count", [True, False])
def test_own_writes_notify_only_when_they_count(clock: FakeClock, own_changes_count: bool) -> None:
    state, observer = new_state(clock, own_changes_count=own_changes_count)
    created = state.create_account()
    account = state.accounts[created.account_id]
    cal = created.calendar_id
    state.upsert_managed_event(
        account, cal, _managed("m", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    )
    state.delete_managed_event(account, cal, {"event_id": "m"})
    expected = ("calendar_changed", created.account_id, cal, True, clock.now)
    assert observer.calls == ([expected, expected] if own_changes_count else [])


def test_edits_and_deletes_by_event_uid(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(calendars=["Work"])
    account = state.accounts[created.account_id]
    primary, work = created.calendar_ids
    (theirs,) = state.external_add_events(
        primary,
        {"summary": "theirs", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"},
    )
    uid = theirs["event_uid"]
    state.upsert_managed_event(account, primary, {"event_uid": uid, "description": "noted"})
    event = account.events[uid]
    assert (event.summary, event.description, event.managed) == ("theirs", "noted", False)
    wrong_calendar = api_error(
        lambda: state.upsert_managed_event(account, work, {"event_uid": uid, "summary": "x"})
    )
    assert error_keys(wrong_calendar) == {"event_uid": ["errors.invalid"]}
    state.delete_managed_event(account, work, {"event_uid": uid})  # not that calendar's
    assert not event.deleted
    state.delete_managed_event(account, primary, {"event_uid": "evt_unknown"})  # accepted
    state.delete_managed_event(account, primary, {"event_uid": uid})
    assert event.deleted
    bad = api_error(lambda: state.delete_managed_event(account, primary, {"event_uid": 3}))
    assert error_keys(bad) == {"event_uid": ["errors.invalid"]}
    state.delete_managed_event(account, primary, {"event_id": "never-made"})  # accepted


def test_bulk_delete_takes_the_applications_events_only(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(calendars=["Work"])
    account = state.accounts[created.account_id]
    primary, work = created.calendar_ids
    for event_id, cal in (("a", primary), ("b", work)):
        state.upsert_managed_event(
            account, cal, _managed(event_id, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
        )
    (theirs,) = state.external_add_events(
        primary, {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    )

    def deleted() -> dict[str, bool]:
        return {e.event_id or "theirs": e.deleted for e in account.events.values()}

    state.bulk_delete_events(account, {"calendar_ids": [work]})
    assert deleted() == {"a": False, "b": True, "theirs": False}
    state.bulk_delete_events(account, {"delete_all": True})
    assert deleted() == {"a": True, "b": True, "theirs": False}
    for body in ({}, {"delete_all": True, "calendar_ids": [work]}):
        error = api_error(partial(state.bulk_delete_events, account, body))
        assert error_keys(error) == {"delete_all": ["errors.invalid"]}
    not_a_list = api_error(lambda: state.bulk_delete_events(account, {"calendar_ids": "x"}))
    assert error_keys(not_a_list) == {"calendar_ids": ["errors.invalid"]}
    unknown = api_error(lambda: state.bulk_delete_events(account, {"calendar_ids": ["cal_x"]}))
    assert unknown.status == 404
    assert theirs["event_uid"] in account.events


def test_events_of_other_accounts_stay_apart(clock: FakeClock) -> None:
    state = EmulatorState(EmulatorConfig(), clock=clock)
    ada, bob = first_account(state), first_account(state)
    bob_cal = next(iter(bob.calendars))
    write = _managed("m", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert api_error(lambda: state.upsert_managed_event(ada, bob_cal, write)).status == 404
    assert bob.events == {}
    stamp: datetime = clock.now
    state.upsert_managed_event(bob, bob_cal, write)
    assert next(iter(bob.events.values())).created == stamp
    assert ada.events == {}
