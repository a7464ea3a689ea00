"""``GET /v1/events``: window, filters, deleted/moved visibility, last_modified, pagination."""

from __future__ import annotations

from datetime import date

import aiohttp
import pytest

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import InvalidRequestError
from cronofy_avail.core.models import (
    EventsResponse,
    LocalizedTime,
    UpsertEventRequest,
    format_time,
    parse_time,
)
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import FAST, FakeClock, auth

TZ = "Europe/London"


async def test_default_window_and_explicit_dates(clock: FakeClock) -> None:
    async with Emulator(clock=clock, **FAST) as emu:  # type: ignore[arg-type]
        acc = await emu.create_account()
        cal = acc.calendar_id
        inside = emu.add_event(cal, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
        emu.add_event(cal, start="2026-10-01T09:00:00Z", end="2026-10-01T10:00:00Z")  # -54 d
        emu.add_event(cal, start="2027-07-01T09:00:00Z", end="2027-07-01T10:00:00Z")  # +219 d
        back = emu.add_event(cal, start="2026-11-09T09:00:00Z", end="2026-11-09T10:00:00Z")
        async with emu.client(acc) as client:
            default = await client.read_events(tzid=TZ)
            assert {e.event_uid for e in default} == {inside["event_uid"], back["event_uid"]}
            explicit = await client.read_events(
                tzid=TZ, from_=date(2026, 11, 25), to=date(2026, 11, 26)
            )
            assert [e.event_uid for e in explicit] == [inside["event_uid"]]
            # ``to`` is exclusive.
            assert (
                await client.read_events(tzid=TZ, from_=date(2026, 11, 24), to=date(2026, 11, 25))
                == []
            )
            with pytest.raises(InvalidRequestError) as bad:
                await client.read_events(tzid=TZ, from_=date(2026, 11, 26), to=date(2026, 11, 25))
            assert bad.value.error_keys("to") == ["errors.invalid"]
            with pytest.raises(InvalidRequestError) as zone:
                await client.read_events(tzid="Mars/Olympus")
            assert zone.value.error_keys("tzid") == ["errors.invalid"]


async def test_all_day_recurring_and_fields(emu: Emulator, client: CronofyClient) -> None:
    acc = next(iter(emu.state.accounts.values()))
    cal = next(iter(acc.calendars))
    emu.add_event(cal, summary="Holiday", start="2026-11-26", end="2026-11-27")
    series = emu.add_events(
        cal,
        {
            "summary": "Standup",
            "start": "2026-11-25T09:00:00Z",
            "end": "2026-11-25T09:15:00Z",
            "recurrence": {"frequency": "daily", "count": 3},
        },
    )
    emu.add_event(
        cal,
        summary="Declined",
        start="2026-11-25T11:00:00Z",
        end="2026-11-25T12:00:00Z",
        participation_status="declined",
        status="cancelled",
        transparency="transparent",
    )
    events = await client.read_events(tzid=TZ, from_=date(2026, 11, 25), to=date(2026, 11, 28))
    holiday = next(e for e in events if e.summary == "Holiday")
    assert holiday.is_all_day
    assert (holiday.start, holiday.end) == (date(2026, 11, 26), date(2026, 11, 27))
    standups = [e for e in events if e.summary == "Standup"]
    assert len(standups) == 3
    assert len({e.event_uid for e in standups}) == 3
    assert {e.series_identifier for e in standups} == {series[0]["series_identifier"]}
    assert all(e.recurring for e in standups)
    declined = next(e for e in events if e.summary == "Declined")
    assert (declined.status, declined.participation_status, declined.transparency) == (
        "cancelled",
        "declined",
        "transparent",
    )
    assert declined.event_id is None
    assert declined.event_uid.startswith("evt_external_")


async def test_localized_times(emu: Emulator, client: CronofyClient) -> None:
    acc = next(iter(emu.state.accounts.values()))
    emu.add_event(
        next(iter(acc.calendars)), start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z"
    )
    events = await client.read_events(
        tzid="Europe/Paris", localized_times=True, from_=date(2026, 11, 25), to=date(2026, 11, 26)
    )
    assert isinstance(events[0].start, LocalizedTime)
    assert events[0].start.tzid == "Europe/Paris"
    assert events[0].start.time.isoformat() == "2026-11-25T10:00:00+01:00"


async def test_calendar_ids_filter(emu: Emulator) -> None:
    acc = await emu.create_account(calendars=["Availability"])
    primary, sub = acc.calendar_ids
    emu.add_event(primary, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    in_sub = emu.add_event(sub, start="2026-11-25T11:00:00Z", end="2026-11-25T12:00:00Z")
    async with emu.client(acc) as client:
        only = await client.read_events(
            tzid=TZ, calendar_ids=[sub], from_=date(2026, 11, 25), to=date(2026, 11, 26)
        )
        assert [e.event_uid for e in only] == [in_sub["event_uid"]]
        both = await client.read_events(
            tzid=TZ, calendar_ids=[primary, sub], from_=date(2026, 11, 25), to=date(2026, 11, 26)
        )
        assert len(both) == 2
    # PHP's http_build_query indexes arrays: calendar_ids[0]=…&calendar_ids[1]=…
    async with aiohttp.ClientSession() as http:
        params = [
            ("tzid", TZ),
            ("from", "2026-11-25"),
            ("to", "2026-11-26"),
            ("calendar_ids[0]", sub),
        ]
        async with http.get(
            f"{emu.base_url}/v1/events", params=params, headers=auth(acc.access_token)
        ) as r:
            assert [e["event_uid"] for e in (await r.json())["events"]] == [in_sub["event_uid"]]


async def test_deleted_and_moved_visibility(emu: Emulator, client: CronofyClient) -> None:
    acc = next(iter(emu.state.accounts.values()))
    cal = next(iter(acc.calendars))
    moved = emu.add_event(cal, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    gone = emu.add_event(cal, start="2026-11-25T11:00:00Z", end="2026-11-25T12:00:00Z")
    emu.update_event(moved["event_uid"], start="2026-12-10T09:00:00Z", end="2026-12-10T10:00:00Z")
    emu.delete_event(gone["event_uid"])
    day = {"tzid": TZ, "from_": date(2026, 11, 25), "to": date(2026, 11, 26)}
    assert await client.read_events(**day) == []
    with_deleted = await client.read_events(**day, include_deleted=True)
    assert [(e.event_uid, e.deleted) for e in with_deleted] == [(gone["event_uid"], True)]
    with_moved = await client.read_events(**day, include_moved=True)
    assert [e.event_uid for e in with_moved] == [moved["event_uid"]]
    # A moved event keeps its uid and shows its new times.
    assert format_time(with_moved[0].start) == "2026-12-10T09:00:00Z"  # type: ignore[arg-type]
    both = await client.read_events(**day, include_moved=True, include_deleted=True)
    assert {e.event_uid for e in both} == {moved["event_uid"], gone["event_uid"]}


async def test_last_modified_over_http(clock: FakeClock) -> None:
    async with Emulator(clock=clock, **FAST) as emu:  # type: ignore[arg-type]
        acc = await emu.create_account(calendars=["Availability"])
        sub = acc.calendar_ids[1]
        old = emu.add_event(sub, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
        untouched = emu.add_event(sub, start="2026-11-25T13:00:00Z", end="2026-11-25T14:00:00Z")
        async with emu.client(acc) as client:
            await client.upsert_event(
                sub,
                UpsertEventRequest(
                    event_id="mine",
                    summary="by the app",
                    start=parse_time("2026-11-25T15:00:00Z"),
                    end=parse_time("2026-11-25T16:00:00Z"),
                ),
            )
            since = clock.advance(seconds=90.5)
            emu.update_event(
                old["event_uid"], start="2026-11-27T09:00:00Z", end="2026-11-27T10:00:00Z"
            )
            clock.advance(seconds=1)
            new = emu.add_event(sub, start="2026-11-26T09:00:00Z", end="2026-11-26T10:00:00Z")
            changed = await client.read_changed_events(
                tzid=TZ, calendar_id=sub, changes_since=since.replace(microsecond=0)
            )
            assert {e.event_uid for e in changed} == {old["event_uid"], new["event_uid"]}
            assert untouched["event_uid"] not in {e.event_uid for e in changed}
            managed_too = await client.read_events(
                tzid=TZ, last_modified=since.replace(microsecond=0), include_managed=True
            )
            assert "mine" not in {e.event_id for e in managed_too}


async def test_pagination_across_pages(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    uids = [
        emu.add_event(
            account.calendar_id,
            start=f"2026-11-25T{h:02d}:00:00Z",
            end=f"2026-11-25T{h:02d}:30:00Z",
        )["event_uid"]
        for h in range(8)
    ]
    pages = [
        p
        async for p in client.iter_event_pages(
            tzid=TZ, from_=date(2026, 11, 25), to=date(2026, 11, 26)
        )
    ]
    assert [(p.pages.current, p.pages.total) for p in pages] == [(1, 3), (2, 3), (3, 3)]
    assert [e.event_uid for p in pages for e in p.events] == uids
    assert pages[-1].pages.next_page is None
    assert emu.request_counts()["GET /v1/events/pages/{token}"] == 2
    # Raw: next_page is absolute on the emulator's host and tolerates extra query parameters.
    headers = auth(account.access_token)
    params = {"tzid": TZ, "from": "2026-11-25", "to": "2026-11-26"}
    async with http.get(f"{emu.base_url}/v1/events", params=params, headers=headers) as r:
        first = EventsResponse.model_validate(await r.json())
    assert first.pages.next_page is not None
    assert first.pages.next_page.startswith(f"{emu.base_url}/v1/events/pages/")
    async with http.get(
        f"{first.pages.next_page}?tzid=Europe/London&include_deleted=True", headers=headers
    ) as r:
        assert r.status == 200
        second = EventsResponse.model_validate(await r.json())
    assert [e.event_uid for e in second.events] == uids[3:6]
    # Another account cannot read this page.
    other = await emu.create_account()
    async with http.get(first.pages.next_page, headers=auth(other.access_token)) as r:
        assert r.status == 404
    async with http.get(f"{emu.base_url}/v1/events/pages/unknown", headers=headers) as r:
        assert r.status == 404


async def test_control_api_accepts_long_event_uids(emu: Emulator, client: CronofyClient) -> None:
    acc = next(iter(emu.state.accounts.values()))
    long_uid = "evt_external_" + "x" * 90
    emu.add_event(
        next(iter(acc.calendars)),
        event_uid=long_uid,
        start="2026-11-25T09:00:00Z",
        end="2026-11-25T10:00:00Z",
    )
    events = await client.read_events(tzid=TZ, from_=date(2026, 11, 25), to=date(2026, 11, 26))
    assert [e.event_uid for e in events] == [long_uid]


async def test_next_page_follows_the_host_the_client_used(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    for h in range(4):
        emu.add_event(
            account.calendar_id,
            start=f"2026-11-25T{h:02d}:00:00Z",
            end=f"2026-11-25T{h:02d}:30:00Z",
        )
    # Connect to 127.0.0.1 but name the emulator differently, as a client configured with
    # another host name would: next_page stays on that name.
    headers = {**auth(account.access_token), "Host": f"cronofy.test:{emu.port}"}
    params = {"tzid": TZ, "from": "2026-11-25", "to": "2026-11-26"}
    async with http.get(f"{emu.base_url}/v1/events", params=params, headers=headers) as r:
        first = EventsResponse.model_validate(await r.json())
    assert first.pages.next_page is not None
    assert first.pages.next_page.startswith(f"http://cronofy.test:{emu.port}/v1/events/pages/")
