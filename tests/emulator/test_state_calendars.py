"""The calendars resource: listing, creating (``POST /v1/calendars``) with its rules, and the
user deleting a calendar."""

from __future__ import annotations

from typing import Any

import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccountRecord, ProfileRecord
from cronofy_avail.emulator.state.calendars import Calendars, calendar_json
from cronofy_avail.emulator.state.shared import StateContext
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, first_account, new_state


def _standalone(clock: FakeClock) -> tuple[Calendars, AccountRecord, ProfileRecord]:
    """Calendars on a context of its own, with one account made by hand."""
    ctx = StateContext(EmulatorConfig(), clock)
    account = AccountRecord("acc_1", "ada@example.com", "Ada", "Europe/London", ("read_events",))
    profile = ProfileRecord("pro_1", "acc_1", "google", "gsuite", "ada@example.com")
    account.profiles[profile.profile_id] = profile
    ctx.accounts[account.account_id] = account
    return Calendars(ctx), account, profile


def test_calendar_ids_hold_the_awkward_characters(clock: FakeClock) -> None:
    calendars, account, profile = _standalone(clock)
    calendar = calendars.add(account, profile, "Work")
    assert all(ch in calendar.calendar_id for ch in "@-_")
    assert calendars.calendar_account(calendar.calendar_id) is account
    assert calendars.own_calendar(account, calendar.calendar_id) is calendar
    assert api_error(lambda: calendars.calendar_account("cal_nobody")).status == 404


def test_calendar_json(clock: FakeClock) -> None:
    calendars, account, profile = _standalone(clock)
    plain = calendar_json(account, calendars.add(account, profile, "Work", primary=True))
    assert plain["calendar_primary"] is True
    assert plain["permission_level"] == "unrestricted"
    assert "calendar_color" not in plain
    coloured = calendars.add(account, profile, "Home", color="#FFFFFF")
    coloured.readonly = True
    shown = calendar_json(account, coloured)
    assert (shown["calendar_color"], shown["permission_level"]) == ("#FFFFFF", "sandbox")
    assert calendars.list_calendars(account)["calendars"] == [plain, shown]


def test_create_calendar(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    profile_id = next(iter(account.profiles))
    made = state.create_calendar(account, {"profile_id": profile_id, "name": "Rota"})
    assert made["calendar"]["calendar_name"] == "Rota"
    assert made["calendar"]["calendar_id"] in account.calendars


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"profile_id": ["errors.required"], "name": ["errors.required"]}),
        ({"profile_id": "pro_other", "name": 3}, {"profile_id": ["errors.invalid"]}),
        ({"name": "x", "color": "blue"}, {"profile_id": ["errors.required"]}),
    ],
)
def test_create_calendar_validation(
    clock: FakeClock, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    keys = error_keys(api_error(lambda: state.create_calendar(account, body)))
    assert {k: v for k, v in keys.items() if k in expected} == expected
    if "color" in body:
        assert keys["color"] == ["errors.invalid"]
    if body.get("name") == 3:
        assert keys["name"] == ["errors.invalid"]


def test_create_calendar_profile_rules(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    profile_id = next(iter(account.profiles))
    profile = account.profiles[profile_id]
    body = {"profile_id": profile_id, "name": "Rota"}
    state.create_calendar(account, body)
    duplicate = error_keys(api_error(lambda: state.create_calendar(account, body)))
    assert duplicate == {"name": ["errors.duplicate_calendar_name"]}
    profile.allows_duplicate_names = True
    state.create_calendar(account, body)
    profile.can_create_calendars = False
    unsupported = error_keys(api_error(lambda: state.create_calendar(account, body)))
    assert unsupported == {"profile_id": ["errors.calendar_creation_not_supported"]}
    state.set_profile(profile_id, connected=False)
    disconnected = error_keys(api_error(lambda: state.create_calendar(account, body)))
    assert disconnected == {"profile_id": ["errors.profile_disconnected"]}
    state.set_profile(profile_id, locked=True)
    assert api_error(lambda: state.create_calendar(account, body)).status == 423


def test_create_calendar_needs_its_scope(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state, scope="read_events")
    error = api_error(lambda: state.create_calendar(account, {"name": "x"}))
    assert error.status == 403
    assert 'scope="create_calendar"' in error.headers["WWW-Authenticate"]


def test_a_deleted_calendar_stays_listed_and_notifies_once(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account(calendars=["Work"])
    account = state.accounts[created.account_id]
    work = created.calendar_ids[1]
    shown = state.delete_calendar(work)
    assert shown["calendar_deleted"] is True
    state.delete_calendar(work)
    assert observer.calls == [("calendar_changed", created.account_id, work, False, clock.now)]
    listed = {
        c["calendar_id"]: c["calendar_deleted"] for c in state.list_calendars(account)["calendars"]
    }
    assert listed == {created.calendar_id: False, work: True}
    # Gone for the application's writes; the owner is still known to the control API.
    assert api_error(lambda: state.calendars.own_calendar(account, work)).status == 404
    assert state.calendars.calendar_account(work) is account
    # A new calendar may take the deleted one's name.
    profile_id = created.profile_id
    state.create_calendar(account, {"profile_id": profile_id, "name": "Work"})
