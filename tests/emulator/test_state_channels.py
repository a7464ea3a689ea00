"""The channels resource: creating with filters (validated, compared as sets), the limit per
account, closing by the application or for failed deliveries, and the observer told."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccessToken, AccountRecord, EmulatorState
from cronofy_avail.emulator.state.channels import CALLBACK_URL_MAX_LENGTH, Channels, same_filters
from cronofy_avail.emulator.state.shared import StateContext
from tests.support.emulator import FakeClock
from tests.support.emulator_state import RecordingObserver, api_error, error_keys, new_state

HOOK = "http://app/hook"


def _account(state: EmulatorState, **kwargs: Any) -> tuple[AccountRecord, AccessToken]:
    created = state.create_account(**kwargs)
    return state.accounts[created.account_id], state.access_tokens[created.access_token]


def test_filters_compare_as_sets_of_calendars() -> None:
    assert same_filters({"calendar_ids": ["a", "b"]}, {"calendar_ids": ["b", "a", "a"]})
    assert not same_filters({"calendar_ids": ["a"]}, {"calendar_ids": ["a"], "only_managed": True})
    assert same_filters({}, {})


def test_the_same_channel_twice_is_one_channel(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    account, token = _account(state, calendars=["Work"])
    a, b = list(account.calendars)
    first = state.create_channel(
        account, token, {"callback_url": HOOK, "filters": {"calendar_ids": [a, b]}}
    )
    again = state.create_channel(
        account, token, {"callback_url": HOOK, "filters": {"calendar_ids": [b, a]}}
    )
    assert again == first
    other = state.create_channel(
        account, token, {"callback_url": HOOK, "filters": {"only_managed": "true"}}
    )
    assert other["channel"]["filters"] == {"only_managed": True}
    ids = [first["channel"]["channel_id"], other["channel"]["channel_id"]]
    assert observer.calls == [("channel_created", i) for i in ids]
    assert [c["channel_id"] for c in state.list_channels(account)["channels"]] == ids
    channel = state.channel(ids[0])
    assert (channel.account_id, channel.created) == (account.account_id, clock.now)


@pytest.mark.parametrize(
    ("body", "param", "key"),
    [
        ({}, "callback_url", "errors.required"),
        ({"callback_url": "ftp://app"}, "callback_url", "errors.invalid"),
        (
            {"callback_url": "http://a/" + "x" * CALLBACK_URL_MAX_LENGTH},
            "callback_url",
            "errors.too_long",
        ),
        ({"callback_url": HOOK, "filters": []}, "filters", "errors.invalid"),
        ({"callback_url": HOOK, "filters": {"calendar_ids": []}}, "filters", "errors.invalid"),
        ({"callback_url": HOOK, "filters": {"calendar_ids": "x"}}, "filters", "errors.invalid"),
        (
            {"callback_url": HOOK, "filters": {"calendar_ids": ["cal_x"]}},
            "filters",
            "errors.invalid",
        ),
        ({"callback_url": HOOK, "filters": {"only_managed": "maybe"}}, "filters", "errors.invalid"),
    ],
)
def test_invalid_channels(clock: FakeClock, body: dict[str, Any], param: str, key: str) -> None:
    state, observer = new_state(clock)
    account, token = _account(state)
    assert error_keys(api_error(partial(state.create_channel, account, token, body))) == {
        param: [key]
    }
    assert observer.calls == []


def test_a_personal_token_cannot_create_channels(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account, token = _account(state, token_kind="personal")
    error = api_error(lambda: state.create_channel(account, token, {"callback_url": HOOK}))
    assert error.status == 403


def test_at_most_max_channels_open_per_account(clock: FakeClock) -> None:
    state, _ = new_state(clock, max_channels=2)
    account, token = _account(state)
    first = state.create_channel(account, token, {"callback_url": f"{HOOK}/1"})
    state.create_channel(account, token, {"callback_url": f"{HOOK}/2"})
    third = api_error(lambda: state.create_channel(account, token, {"callback_url": f"{HOOK}/3"}))
    assert error_keys(third) == {"channel": ["errors.too_many_channels"]}
    state.close_channel(account, first["channel"]["channel_id"])
    state.create_channel(account, token, {"callback_url": f"{HOOK}/3"})


def test_closing_is_once_and_says_why(clock: FakeClock) -> None:
    state, observer = new_state(clock)
    account, token = _account(state)
    first = state.create_channel(account, token, {"callback_url": f"{HOOK}/1"})["channel"]
    second = state.create_channel(account, token, {"callback_url": f"{HOOK}/2"})["channel"]
    state.close_channel(account, first["channel_id"])
    assert api_error(lambda: state.close_channel(account, first["channel_id"])).status == 404
    assert api_error(lambda: state.close_channel(account, "chn_nobody")).status == 404
    failing = state.channel(second["channel_id"])
    state.close_channel_for_failures(failing)
    state.close_channel_for_failures(failing)  # already closed: nothing more
    assert observer.calls[2:] == [
        ("channel_closed", first["channel_id"], "closed by the application"),
        (
            "channel_closed",
            second["channel_id"],
            "delivery failed for longer than the failure window",
        ),
    ]
    assert state.list_channels(account) == {"channels": []}
    # Closed channels are still known (the control API shows them).
    assert [c.active for c in state.all_channels()] == [False, False]


def test_channels_of_every_account_and_unknown_ids(clock: FakeClock) -> None:
    ctx = StateContext(EmulatorConfig(), clock)
    observer = RecordingObserver()
    ctx.observer = observer
    channels = Channels(ctx)
    accounts = [AccountRecord(f"acc_{n}", f"{n}@example.com", "N", "UTC", ()) for n in (1, 2)]
    for account in accounts:
        ctx.accounts[account.account_id] = account
    token = AccessToken("t", "acc_1", clock.now)
    made = [
        channels.create_channel(a, token, {"callback_url": HOOK})["channel"]["channel_id"]
        for a in accounts
    ]
    assert [c.channel_id for c in channels.all_channels()] == made
    assert observer.calls == [("channel_created", i) for i in made]
    assert channels.channel(made[1]).account_id == "acc_2"
    assert api_error(lambda: channels.channel("chn_nobody")).status == 404
    channels.reset()
    assert api_error(lambda: channels.channel(made[0])).status == 404
