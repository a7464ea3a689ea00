"""``POST /v1/availability``: periods, slots, required, buffers, managed availability."""

from __future__ import annotations

from typing import Any

import aiohttp

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.models import AvailabilityRequest, format_time, parse_time, utc_instant
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import auth

DAY = [{"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T18:00:00Z"}]


def request(members: list[dict[str, Any]], **extra: Any) -> AvailabilityRequest:
    body: dict[str, Any] = {
        "participants": [{"members": members, "required": "all"}],
        "required_duration": {"minutes": 60},
        "query_periods": DAY,
    }
    body.update(extra)
    return AvailabilityRequest.model_validate(body)


def spans(response: Any) -> list[tuple[str, str]]:
    return [
        (format_time(utc_instant(r.start)), format_time(utc_instant(r.end)))
        for r in response.results
    ]


async def test_plain_availability_subtracts_busy_time(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount
) -> None:
    cal = account.calendar_id
    emu.add_event(cal, start="2026-11-25T10:00:00Z", end="2026-11-25T11:00:00Z")
    emu.add_event(
        cal, start="2026-11-25T12:00:00Z", end="2026-11-25T13:00:00Z", transparency="transparent"
    )
    emu.add_event(cal, start="2026-11-25T14:00:00Z", end="2026-11-25T15:00:00Z", status="cancelled")
    emu.add_event(
        cal,
        start="2026-11-25T15:00:00Z",
        end="2026-11-25T16:00:00Z",
        participation_status="declined",
    )
    emu.add_event(cal, start="2026-11-25T16:30:00Z", end="2026-11-25T17:00:00Z")
    answer = await client.availability(request([{"sub": account.sub}]))
    assert spans(answer) == [
        ("2026-11-25T08:00:00Z", "2026-11-25T10:00:00Z"),
        ("2026-11-25T11:00:00Z", "2026-11-25T16:30:00Z"),
        ("2026-11-25T17:00:00Z", "2026-11-25T18:00:00Z"),
    ]
    assert [p.sub for p in answer.results[0].participants] == [account.sub]


async def test_managed_availability_and_the_busy_calendar_trap(emu: Emulator) -> None:
    acc = await emu.create_account(calendars=["Availability"])
    primary, sub_calendar = acc.calendar_ids
    # The user marks 09-12 as available in the sub calendar; the app made a period from it.
    emu.add_event(sub_calendar, start="2026-11-25T09:00:00Z", end="2026-11-25T12:00:00Z")
    emu.add_event(primary, start="2026-11-25T10:00:00Z", end="2026-11-25T10:30:00Z")
    async with emu.client(acc) as client:
        await client.upsert_available_period(
            "sub-1", parse_time("2026-11-25T09:00:00Z"), parse_time("2026-11-25T12:00:00Z")
        )
        trap = await client.availability(request([{"sub": acc.sub, "managed_availability": True}]))
        assert spans(trap) == []  # the sub calendar's own event cancels its period
        right = await client.availability(
            request(
                [{"sub": acc.sub, "managed_availability": True, "calendar_ids": [primary]}],
                required_duration={"minutes": 30},
            )
        )
        assert spans(right) == [
            ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"),
            ("2026-11-25T10:30:00Z", "2026-11-25T12:00:00Z"),
        ]
        no_busy = await client.availability(
            request([{"sub": acc.sub, "managed_availability": True, "calendar_ids": []}])
        )
        assert spans(no_busy) == [("2026-11-25T09:00:00Z", "2026-11-25T12:00:00Z")]
        await client.delete_all_available_periods()
        none = await client.availability(
            request([{"sub": acc.sub, "managed_availability": True, "calendar_ids": []}])
        )
        assert spans(none) == []


async def test_required_n_slots_buffer_and_client_secret(emu: Emulator) -> None:
    a = await emu.create_account()
    b = await emu.create_account()
    emu.add_event(a.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T17:00:00Z")
    emu.add_event(b.calendar_id, start="2026-11-25T08:00:00Z", end="2026-11-25T09:00:00Z")
    body = {
        "participants": [{"members": [{"sub": a.sub}, {"sub": b.sub}], "required": 1}],
        "required_duration": {"minutes": 30},
        "available_periods": [{"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T10:00:00Z"}],
        "buffer": {"before": {"minutes": 15}},
        "response_format": "slots",
        "start_interval": {"minutes": 30},
    }
    async with emu.client(a) as client:
        answer = await client.availability(
            AvailabilityRequest.model_validate(body), use_client_secret=True
        )
    assert answer.available_slots is not None
    # a is free 08-09 only; b is free from 09:15 (buffer after its 08-09 event).
    assert [
        (format_time(utc_instant(s.start)), [p.sub for p in s.participants]) for s in answer.results
    ] == [
        ("2026-11-25T08:00:00Z", [a.sub]),
        ("2026-11-25T08:30:00Z", [a.sub]),
        ("2026-11-25T09:30:00Z", [b.sub]),
    ]


async def test_availability_errors_and_raw_quirks(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}/v1/availability"
    async with http.post(url, json={}, headers=auth("wrong")) as r:
        assert r.status == 401
    async with http.post(url, json={}, headers=auth(emu.client_secret)) as r:
        assert r.status == 422
        errors = (await r.json())["errors"]
    assert {"participants", "required_duration", "query_periods"} <= set(errors)
    body: dict[str, Any] = {
        "participants": [{"members": [{"sub": "acc_unknown"}], "required": "all"}],
        "required_duration": {"minutes": 30},
        "query_periods": DAY,
    }
    async with http.post(url, json=body, headers=auth(account.access_token)) as r:
        assert r.status == 422
        assert "participants" in (await r.json())["errors"]
    body["participants"] = [{"members": [{"sub": account.sub}], "required": "all"}]
    body["query_periods"] = [{"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z"}]
    async with http.post(url, json=body, headers=auth(account.access_token)) as r:
        assert r.status == 422
    body["query_periods"] = DAY
    body["max_results"] = 1
    body["response_format"] = "overlapping_slots"
    async with http.post(url + "/", json=body, headers=auth(account.access_token)) as r:
        assert r.status == 200
        assert len((await r.json())["available_slots"]) == 1


async def test_member_available_periods_restrict(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount
) -> None:
    member = {
        "sub": account.sub,
        "available_periods": [
            {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:30:00Z"},
            {
                "start": {"time": "2026-11-25T15:00:00+01:00", "tzid": "Europe/Paris"},
                "end": "2026-11-25T16:00:00Z",
            },
        ],
    }
    answer = await client.availability(request([member]))
    assert spans(answer) == [
        ("2026-11-25T09:00:00Z", "2026-11-25T10:30:00Z"),
        ("2026-11-25T14:00:00Z", "2026-11-25T16:00:00Z"),
    ]


async def test_events_of_a_deleted_calendar_are_not_busy_time() -> None:
    from datetime import UTC, datetime, timedelta

    from cronofy_avail.core.models import AvailabilityRequest
    from cronofy_avail.emulator import Emulator

    async with Emulator() as emu:
        account = await emu.create_account(calendars=["Old"])
        old = next(c for c in account.calendar_ids if c != account.calendar_id)
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = day + timedelta(days=1, hours=8)
        emu.add_event(
            old,
            start=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            end=(start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        emu.state.accounts[account.account_id].calendars[old].deleted = True
        request = AvailabilityRequest.model_validate(
            {
                "participants": [{"members": [{"sub": account.sub}], "required": "all"}],
                "required_duration": {"minutes": 60},
                "query_periods": [{"start": start, "end": start + timedelta(hours=5)}],
            }
        )
        async with emu.client(account) as client:
            for member_calendars in (None, [old, account.calendar_id]):
                request.participants[0].members[0].calendar_ids = member_calendars
                found = (await client.availability(request)).results
                assert [(r.start, r.end) for r in found] == [(start, start + timedelta(hours=5))]


async def test_channel_filters_in_another_order_are_the_same_channel() -> None:
    from cronofy_avail.emulator import Emulator

    async with Emulator() as emu:
        account = await emu.create_account(calendars=["Two"])
        a, b = account.calendar_ids[:2]
        async with emu.client(account) as client:
            first = await client.create_channel("http://127.0.0.1:9/x", calendar_ids=[a, b])
            again = await client.create_channel("http://127.0.0.1:9/x", calendar_ids=[b, a])
            assert again.channel_id == first.channel_id
            assert len(await client.list_channels()) == 1
