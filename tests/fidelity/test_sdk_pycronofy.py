"""The official Python SDK, pycronofy (PyPI, in the ``dev`` extra), against the emulator.

The four steps of the pattern as a pycronofy user writes them: profiles, calendars (create
the sub calendar), create the channel, read events (every page), available periods (pycronofy
has no helper for them: its own request handler posts the documented body) and availability
with managed availability. pycronofy is synchronous (``requests``), so it runs in a thread
while the emulator serves on this test's event loop.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.fidelity.world import World

try:
    import pycronofy
except ImportError:  # pragma: no cover - the dev extra installs it
    pycronofy = None


@pytest.fixture
def sdk_client(world: World) -> Any:
    if pycronofy is None:
        if os.environ.get("CI"):
            pytest.fail("pycronofy is missing: install the dev extra (pip install -e '.[dev]')")
        pytest.skip("pycronofy is not installed: pip install -e '.[dev]'")
    client = pycronofy.Client(
        client_id=world.emulator.client_id,
        client_secret=world.emulator.client_secret,
        access_token=world.account.access_token,
        refresh_token=world.account.refresh_token,
    )
    # The SDK reads settings.API_BASE_URL once, into its request handler.
    client.request_handler.base_url = world.emulator.base_url
    return client


def _flows(client: Any, emu: Emulator, account: EmulatorAccount) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["profiles"] = client.list_profiles()
    out["calendars_before"] = client.list_calendars()
    created = client.create_calendar(account.profile_id, "Availability")
    sub_calendar = created["calendar"]["calendar_id"]
    out["sub_calendar"] = sub_calendar
    # Duplicate name: pycronofy reads the 422's errors.name[0].key and finds the calendar.
    out["again"] = client.create_calendar(
        account.profile_id, "Availability", error_on_duplicate=False
    )
    out["channel"] = client.create_notification_channel(
        "http://127.0.0.1:9/cronofy/callback", calendar_ids=(sub_calendar,)
    )
    out["channels"] = client.list_notification_channels()
    emu.add_event(sub_calendar, start="2026-11-25T09:00:00Z", end="2026-11-25T11:00:00Z")
    emu.add_event(sub_calendar, start="2026-11-26T09:00:00Z", end="2026-11-26T11:00:00Z")
    emu.add_event(sub_calendar, start="2026-11-27T09:00:00Z", end="2026-11-27T11:00:00Z")
    pages = client.read_events(
        calendar_ids=(sub_calendar,),
        from_date="2026-11-20",
        to_date="2026-12-01",
        last_modified="2000-01-01T00:00:00Z",
        include_deleted=True,
        include_moved=True,
        tzid="Europe/London",
    )
    out["events"] = list(pages)  # pycronofy follows next_page itself
    for event in out["events"]:
        client.request_handler.post(
            endpoint="available_periods",
            data={
                "available_period_id": event["event_uid"],
                "start": event["start"],
                "end": event["end"],
            },
        )
    out["periods"] = client.request_handler.get(
        endpoint="available_periods", params={"tzid": "Europe/London"}
    ).json()
    out["availability"] = client.availability(
        participants=[
            {
                "members": [
                    {
                        "sub": account.sub,
                        "managed_availability": True,
                        "calendar_ids": [account.calendar_id],
                    }
                ],
                "required": "all",
            }
        ],
        required_duration=60,
        available_periods=[{"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z"}],
        buffer={"before": {"minimum": 15}},
        max_results=10,
    )
    out["userinfo"] = client.userinfo()
    out["account"] = client.account()
    return out


async def test_pycronofy_flows_against_the_emulator(world: World, sdk_client: Any) -> None:
    emu, account = world.emulator, world.account
    emu.state.page_size = 2  # three events: pycronofy must follow next_page once
    out = await asyncio.to_thread(_flows, sdk_client, emu, account)
    assert [p["profile_id"] for p in out["profiles"]] == [account.profile_id]
    assert account.calendar_id in [c["calendar_id"] for c in out["calendars_before"]]
    assert out["again"]["calendar_id"] == out["sub_calendar"]
    assert out["channel"]["filters"] == {"calendar_ids": [out["sub_calendar"]]}
    assert [c["channel_id"] for c in out["channels"]] == [out["channel"]["channel_id"]]
    assert [e["start"] for e in out["events"]] == [
        "2026-11-25T09:00:00Z",
        "2026-11-26T09:00:00Z",
        "2026-11-27T09:00:00Z",
    ]
    assert len(out["periods"]["available_periods"]) == 2  # page size 2: the first page
    assert out["periods"]["pages"]["total"] == 2
    assert [(p["start"], p["end"]) for p in out["availability"]] == [
        ("2026-11-25T09:00:00Z", "2026-11-25T11:00:00Z")
    ]
    assert out["userinfo"]["sub"] == account.sub
    assert out["account"]["account_id"] == account.account_id
    # Every request the SDK sent was understood: no 4xx/5xx in the emulator's log, apart
    # from the one duplicate-calendar 422 pycronofy asked for.
    failures = [e for e in emu.services.log.entries if e["status"] >= 400]
    assert [(e["endpoint"], e["status"]) for e in failures] == [("POST /v1/calendars", 422)]
