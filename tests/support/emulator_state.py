"""Helpers for the state-level tests (``test_state_*.py``): no server, a fake clock, and an
observer that records what the state tells the notifier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccountRecord, ChannelRecord, EmulatorState
from cronofy_avail.emulator.validation import ApiError
from tests.support.emulator import FakeClock


@dataclass
class RecordingObserver:
    """A :class:`~cronofy_avail.emulator.state.StateObserver` that keeps every call."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def channel_created(self, channel: ChannelRecord) -> None:
        self.calls.append(("channel_created", channel.channel_id))

    def channel_closed(self, channel: ChannelRecord) -> None:
        self.calls.append(("channel_closed", channel.channel_id, channel.closed_reason))

    def calendar_changed(
        self, account_id: str, calendar_id: str, *, managed: bool, at: datetime
    ) -> None:
        self.calls.append(("calendar_changed", account_id, calendar_id, managed, at))

    def profile_disconnected(self, account_id: str, profile_id: str) -> None:
        self.calls.append(("profile_disconnected", account_id, profile_id))


def new_state(clock: FakeClock, **config: Any) -> tuple[EmulatorState, RecordingObserver]:
    state = EmulatorState(EmulatorConfig(**config), clock=clock)
    observer = RecordingObserver()
    state.observer = observer
    return state, observer


def first_account(state: EmulatorState, **kwargs: Any) -> AccountRecord:
    """A new account's record (``create_account`` hands back only its ids and tokens)."""
    return state.accounts[state.create_account(**kwargs).account_id]


def api_error(call: Callable[[], object]) -> ApiError:
    """The :class:`ApiError` ``call`` raises."""
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def error_keys(error: ApiError) -> dict[str, list[str]]:
    """A 422's ``{"param": [key, …]}``."""
    assert error.status == 422
    assert error.body is not None
    return {name: [e["key"] for e in found] for name, found in error.body["errors"].items()}
