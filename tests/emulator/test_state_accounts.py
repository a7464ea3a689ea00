"""The accounts resource: creating accounts, profiles connecting and disconnecting, and the
identity views (profiles, userinfo, account, the control API's summary)."""

from __future__ import annotations

from cronofy_avail.emulator.state import DEFAULT_SCOPES
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, error_keys, first_account, new_state


def test_an_account_comes_with_a_profile_a_primary_calendar_and_tokens(
    clock: FakeClock,
) -> None:
    state, _ = new_state(clock)
    created = state.create_account(email="ada.lovelace@example.com", calendars=["Work", "Home"])
    account = state.accounts[created.account_id]
    assert created.sub == created.account_id
    assert account.name == "Ada Lovelace"  # from the email when not given
    assert account.scopes == DEFAULT_SCOPES
    assert created.scope == " ".join(DEFAULT_SCOPES)
    assert created.tzid == account.tzid == "Europe/London"
    (profile,) = account.profiles.values()
    assert (profile.provider_name, profile.provider_service) == ("google", "gsuite")
    assert created.profile_id == profile.profile_id
    names = {c.calendar_id: (c.name, c.primary) for c in account.calendars.values()}
    assert names[created.calendar_id] == ("ada.lovelace@example.com", True)
    assert [names[c] for c in created.calendar_ids] == [
        ("ada.lovelace@example.com", True),
        ("Work", False),
        ("Home", False),
    ]
    assert state.authenticate(created.access_token)[0] is account
    assert created.refresh_token in state.refresh_tokens
    # Secrets stay out of the repr.
    assert created.access_token not in repr(created)
    assert created.refresh_token not in repr(created)


def test_account_options(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    outlook = first_account(
        state, provider_name="live_connect", scope="read_events list_calendars", tzid="Asia/Tokyo"
    )
    assert next(iter(outlook.profiles.values())).provider_service == "outlook_com"
    assert outlook.scopes == ("read_events", "list_calendars")
    assert first_account(state, scope=["read_account"]).scopes == ("read_account",)
    unnamed = state.create_account()
    assert unnamed.email.startswith("user3.")  # numbered by the accounts made so far
    assert unnamed.email.endswith("@example.com")


def test_invalid_accounts_are_a_422(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    error = api_error(lambda: state.create_account(tzid="Mars/Olympus", token_kind="magic"))
    assert set(error_keys(error)) == {"tzid", "token_kind"}
    assert state.accounts == {}


def test_account_lookup_is_a_404_when_unknown(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    assert state.account(account.account_id) is account
    assert api_error(lambda: state.account("acc_nobody")).status == 404


def test_disconnecting_a_profile_tells_the_observer_once(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    account = first_account(state)
    profile_id = next(iter(account.profiles))
    answer = state.set_profile(profile_id, connected=False, base_url="http://emu")
    assert answer["profile_connected"] is False
    assert answer["profile_relink_url"] == f"http://emu/oauth/relink/{profile_id}"
    state.set_profile(profile_id, connected=False)
    state.set_profile(profile_id, locked=True)
    assert observer.calls == [("profile_disconnected", account.account_id, profile_id)]
    assert account.profiles[profile_id].locked
    again = state.set_profile(profile_id, connected=True)
    assert again["profile_connected"] is True
    assert "profile_relink_url" not in again
    assert api_error(lambda: state.set_profile("pro_nobody", connected=False)).status == 404


def test_the_user_adds_a_calendar_to_a_profile(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state)
    profile_id = next(iter(account.profiles))
    added = state.add_calendar(profile_id, "Side project", color="#49BED8")
    assert added["calendar_name"] == "Side project"
    assert added["calendar_color"] == "#49BED8"
    assert added["calendar_id"] in account.calendars
    assert state.calendars.calendar_account(added["calendar_id"]) is account
    assert api_error(lambda: state.add_calendar("pro_nobody", "x")).status == 404


def test_identity_views(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(email="ada@example.com", name="Ada", calendars=["Work"])
    account = state.accounts[created.account_id]
    profiles = state.profiles(account, "http://emu")["profiles"]
    assert [p["profile_id"] for p in profiles] == [created.profile_id]
    assert profiles[0]["profile_initial_sync_required"] is False
    info = state.userinfo(account, "http://emu")
    assert (info["sub"], info["email"], info["name"], info["zoneinfo"]) == (
        created.account_id,
        "ada@example.com",
        "Ada",
        "Europe/London",
    )
    data = info["cronofy.data"]
    assert data["authorization"] == {"scope": created.scope, "status": "active"}
    assert [c["calendar_id"] for c in data["profiles"][0]["profile_calendars"]] == list(
        created.calendar_ids
    )
    assert data["conferencing_profiles"] == []
    assert state.account_json(account)["account"] == {
        "account_id": created.account_id,
        "email": "ada@example.com",
        "name": "Ada",
        "scope": created.scope,
        "default_tzid": "Europe/London",
    }


def test_the_summary_counts_what_the_account_holds(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    account = state.accounts[created.account_id]
    state.external_add_events(
        created.calendar_id, {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    )
    state.upsert_period(
        account,
        {
            "available_period_id": "p1",
            "start": "2026-11-25T09:00:00Z",
            "end": "2026-11-25T17:00:00Z",
        },
    )
    token = state.access_tokens[created.access_token]
    channel = state.create_channel(account, token, {"callback_url": "http://app/hook"})
    state.create_channel(account, token, {"callback_url": "http://app/other"})
    state.close_channel(account, channel["channel"]["channel_id"])
    summary = state.account_summary(account)
    assert (summary["events"], summary["available_periods"], summary["channels"]) == (1, 1, 1)
    assert summary["token_kind"] == "application"
    assert [c["calendar_id"] for c in summary["calendars"]] == [created.calendar_id]


def test_reset_forgets_every_account(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    created = state.create_account()
    state.reset()
    assert state.accounts == {}
    assert api_error(lambda: state.set_profile(created.profile_id, connected=False)).status == 404
    assert api_error(lambda: state.delete_calendar(created.calendar_id)).status == 404
    assert state.observer is observer  # the notifier stays attached
    assert state.create_account().email.startswith("user1.")  # numbering starts again
