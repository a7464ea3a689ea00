"""``EmulatorState`` composes the resources: one context shared by all, the run-time settings
(the house-rule switches) reaching the resource that reads them, and reset."""

from __future__ import annotations

import cronofy_avail.emulator.state as state_package
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import EmulatorState
from tests.support.emulator import FakeClock
from tests.support.emulator_state import RecordingObserver, first_account, new_state


def test_every_resource_shares_one_context(clock: FakeClock) -> None:
    state = EmulatorState(EmulatorConfig(own_changes_count=True), clock=clock)
    ctx = state.context
    for resource in (
        state.tokens,
        state.calendars,
        state.users,
        state.events,
        state.user_events,
        state.channels,
        state.availability_queries,
        state.batches,
    ):
        assert resource.ctx is ctx
    assert state.config is ctx.config
    assert state.config.own_changes_count
    assert state.clock is clock
    assert state.accounts is ctx.accounts
    observer = RecordingObserver()
    state.observer = observer
    assert ctx.observer is observer


def test_settings_start_from_the_config_and_change_at_run_time(clock: FakeClock) -> None:
    config = EmulatorConfig(page_size=7, access_token_ttl=60, rotate_refresh_tokens=True)
    state = EmulatorState(config, clock=clock)
    assert (state.page_size, state.access_token_ttl, state.rotate_refresh_tokens) == (7, 60, True)
    # What the control API's PUT /_emulator/settings does (setattr by name).
    for name, value in (("page_size", 2), ("access_token_ttl", 30)):
        setattr(state, name, value)
    state.rotate_refresh_tokens = False
    assert (state.pages.page_size, state.tokens.access_token_ttl) == (2, 30)
    assert state.tokens.rotate_refresh_tokens is False
    created = state.create_account()
    assert created.expires_in == 30
    assert state.access_tokens[created.access_token].expires_at == clock.now.replace(second=30)


def test_client_credentials_given_or_made_up(clock: FakeClock) -> None:
    given = EmulatorState(client_id="emu_x", client_secret="CRN_y", clock=clock)
    assert (given.client_id, given.client_secret, given.client_secrets) == (
        "emu_x",
        "CRN_y",
        ["CRN_y"],
    )
    made = EmulatorState(clock=clock)
    assert made.client_id.startswith("emu_")
    assert made.client_secret.startswith("CRN_")
    new = made.rotate_client_secret()
    assert made.client_secrets[0] == new
    made.retire_previous_secrets()
    assert made.client_secrets == [new]


def test_reset_forgets_every_resources_data_but_keeps_the_application(clock: FakeClock) -> None:
    state, _ = new_state(clock, page_size=1)
    account = first_account(state)
    cal = next(iter(account.calendars))
    token = next(iter(state.access_tokens.values()))
    state.create_channel(account, token, {"callback_url": "http://app/hook"})
    state.external_add_events(cal, {"start": "2026-11-25", "end": "2026-11-26", "event_uid": "u"})
    state.external_add_events(cal, {"start": "2026-11-25", "end": "2026-11-26"})
    state.read_events(account, {"tzid": ["UTC"]}, "http://x")
    state.authorization_code(account, "http://app/cb")
    before = (state.client_id, state.client_secrets, state.page_size, state.observer)
    old_accounts = state.accounts
    state.reset()
    assert (state.client_id, state.client_secrets, state.page_size, state.observer) == before
    assert state.accounts == {}
    assert old_accounts  # replaced, not cleared: a holder of the old mapping keeps it
    assert (state.access_tokens, state.refresh_tokens, state.codes) == ({}, {}, {})
    assert len(state.cursors) == 0
    assert state.all_channels() == []
    assert not state.events.known("u")
    again = state.create_account()
    state.external_add_events(
        again.calendar_id, {"start": "2026-11-25", "end": "2026-11-26", "event_uid": "u"}
    )


def test_the_package_keeps_every_name_callers_import() -> None:
    for name in (
        "AccountRecord",
        "ChannelRecord",
        "Clock",
        "Delivery",
        "EmulatorAccount",
        "EmulatorState",
        "Json",
        "Query",
        "StateObserver",
        "parse_form",
        "utc_now",
    ):
        assert name in state_package.__all__
        assert hasattr(state_package, name)
    assert state_package.parse_form(b"a=1&b=") == {"a": "1", "b": ""}
