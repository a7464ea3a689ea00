"""The seeded world the fidelity cases replay against: a real emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.emulator import Emulator
from tests.fidelity.world import World


@pytest.fixture
async def world() -> AsyncIterator[World]:
    settings = {
        "page_size": 1,  # every events fixture shows a next_page
        "rate_limit_enabled": False,
        "debounce": 0.01,
        "retry_initial_delay": 60.0,
    }
    async with Emulator(**settings) as emu:  # type: ignore[arg-type]
        account = await emu.create_account(email="janed@company.com", name="Jane Doe")
        other = await emu.create_account(email="john@company.com")
        day = datetime.now(UTC).date() + timedelta(days=3)
        people = [
            {
                "email": "example@cronofy.com",
                "display_name": "Example Person",
                "status": "needs_action",
            }
        ]
        retreat = emu.add_event(
            account.calendar_id,
            summary="Company Retreat",
            start=day.isoformat(),
            end=(day + timedelta(days=2)).isoformat(),
            location="Beach",
            attendees=people,
            participation_status="needs_action",
        )
        emu.add_event(
            account.calendar_id,
            summary="Planning",
            start=f"{day + timedelta(days=3)}T09:00:00Z",
            end=f"{day + timedelta(days=3)}T10:00:00Z",
            location="Board room",
            attendees=people,
        )
        emu.state.upsert_managed_event(
            emu.state.accounts[account.account_id],
            account.calendar_id,
            {
                "event_id": "example_event_id",
                "summary": "managed",
                "start": "2014-10-01T08:00:00Z",
                "end": "2014-10-01T09:00:00Z",
            },
        )
        yield World(emu, account, other, retreat["event_uid"])
