"""Each place the emulator once diverged from Cronofy's docs or its SDKs, over real HTTP.

Sources: "Cronofy docs (docs/api-contract.md)" where that page states what the
docs say; otherwise the SDK file and test or function named in the test.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import auth

DAY = [{"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T11:00:00Z"}]


async def post(http: aiohttp.ClientSession, url: str, token: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=auth(token)) as r:
        raw = await r.read()
        return r.status, (await r.json() if raw.strip() else None)


async def get(
    http: aiohttp.ClientSession, url: str, token: str, params: Any = None
) -> tuple[int, Any]:
    async with http.get(url, params=params, headers=auth(token)) as r:
        return r.status, await r.json()


async def delete(http: aiohttp.ClientSession, url: str, token: str, body: Any) -> int:
    async with http.delete(url, json=body, headers=auth(token)) as r:
        return r.status


# ------------------------------------------------------------------ 1. N of M


async def test_1_n_of_m_one_slot_per_time_every_free_member_time_order(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    # Cronofy docs (docs/api-contract.md): "any 1 of these 3 rooms" answers one slot per
    # time naming every free member, in time order; max_results truncates that list.
    rooms = [await emu.create_account(email=f"room{i}@example.com") for i in range(3)]
    emu.add_event(rooms[0].calendar_id, start="2026-11-25T10:00:00Z", end="2026-11-25T11:00:00Z")
    emu.add_event(rooms[1].calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    body = {
        "participants": [{"members": [{"sub": r.sub} for r in rooms], "required": 1}],
        "required_duration": {"minutes": 60},
        "query_periods": DAY,
        "response_format": "slots",
    }
    status, answer = await post(http, f"{emu.base_url}/v1/availability", emu.client_secret, body)
    assert status == 200
    slots = [
        (s["start"], sorted(p["sub"] for p in s["participants"])) for s in answer["available_slots"]
    ]
    assert slots == [
        ("2026-11-25T09:00:00Z", sorted([rooms[0].sub, rooms[2].sub])),
        ("2026-11-25T10:00:00Z", sorted([rooms[1].sub, rooms[2].sub])),
    ]
    status, answer = await post(
        http, f"{emu.base_url}/v1/availability", emu.client_secret, body | {"max_results": 1}
    )
    assert [s["start"] for s in answer["available_slots"]] == ["2026-11-25T09:00:00Z"]


# ------------------------------------------------------------------ 2. {time, tzid} is UTC


async def test_2_time_inside_time_tzid_is_utc(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # Cronofy docs (docs/api-contract.md); pycronofy/datetime_utils.py format_event_time
    # formats the `time` of a {time, tzid} dict as UTC.
    token = account.access_token
    period = {
        "available_period_id": "p",
        "start": {"time": "2026-11-25T09:00:00", "tzid": "America/New_York"},
        "end": {"time": "2026-11-25T10:00:00", "tzid": "America/New_York"},
    }
    assert (await post(http, f"{emu.base_url}/v1/available_periods", token, period))[0] == 202
    _, listed = await get(http, f"{emu.base_url}/v1/available_periods", token)
    (stored,) = listed["available_periods"]
    assert (stored["start"], stored["end"]) == ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    event = {
        "event_id": "e",
        "summary": "s",
        "start": {"time": "2026-11-25T09:00:00", "tzid": "Asia/Tokyo"},
        "end": {"time": "2026-11-25T10:00:00", "tzid": "Asia/Tokyo"},
    }
    url = f"{emu.base_url}/v1/calendars/{account.calendar_id}/events"
    assert (await post(http, url, token, event))[0] == 202
    _, read = await get(
        http,
        f"{emu.base_url}/v1/events",
        token,
        {"tzid": "Etc/UTC", "include_managed": "true"},
    )
    (found,) = read["events"]
    assert (found["start"], found["end"]) == ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")


# ------------------------------------------------------------------ 3. managed events' window


async def test_3_managed_events_are_not_subject_to_the_default_window(
    emu_on_clock: Emulator, account_on_clock: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    emu, account = emu_on_clock, account_on_clock  # fixed dates near the clock's day
    # Cronofy docs (docs/api-contract.md): managed events are not subject to the default
    # from/to window. The emulator's clock is 2026-11-24: 2099 is far outside its 201 days.
    token = account.access_token
    url = f"{emu.base_url}/v1/calendars/{account.calendar_id}/events"
    far = {
        "event_id": "far",
        "summary": "far away",
        "start": "2099-01-01T09:00:00Z",
        "end": "2099-01-01T10:00:00Z",
    }
    assert (await post(http, url, token, far))[0] == 202
    emu.add_event(account.calendar_id, start="2099-01-01T09:00:00Z", end="2099-01-01T10:00:00Z")
    events_url = f"{emu.base_url}/v1/events"
    _, read = await get(http, events_url, token, {"tzid": "Etc/UTC", "include_managed": "true"})
    assert [e.get("event_id") for e in read["events"]] == ["far"]  # the external one is not
    _, read = await get(http, events_url, token, {"tzid": "Etc/UTC", "only_managed": "true"})
    assert [e.get("event_id") for e in read["events"]] == ["far"]
    # An explicit window still applies.
    _, read = await get(
        http,
        events_url,
        token,
        {"tzid": "Etc/UTC", "include_managed": "true", "from": "2098-01-01", "to": "2098-02-01"},
    )
    assert read["events"] == []


# ------------------------------------------------------------------ 4. empty calendar_ids


async def test_4_channel_with_empty_calendar_ids_is_refused(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # Cronofy docs (docs/api-contract.md): at least one id when calendar_ids is given.
    body = {"callback_url": "https://example.com/cb", "filters": {"calendar_ids": []}}
    status, answer = await post(http, f"{emu.base_url}/v1/channels", account.access_token, body)
    assert status == 422
    assert answer["errors"]["filters"][0]["key"] == "errors.invalid"
    _, listed = await get(http, f"{emu.base_url}/v1/channels", account.access_token)
    assert listed["channels"] == []


# ------------------------------------------------------------------ 6. .NET time format


async def test_6_dotnet_time_format_in_upserts_and_last_modified(
    emu_on_clock: Emulator, account_on_clock: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    emu, account = emu_on_clock, account_on_clock  # fixed dates near the clock's day
    # cronofy/cronofy-csharp formats times as "yyyy-MM-dd HH:mm:ssZ"; availability
    # already took it, so events, periods and last_modified must too.
    token = account.access_token
    url = f"{emu.base_url}/v1/calendars/{account.calendar_id}/events"
    event = {
        "event_id": "net",
        "summary": ".NET",
        "start": "2026-11-25 09:00:00Z",
        "end": "2026-11-25 10:00:00Z",
    }
    assert await post(http, url, token, event) == (202, None)
    period = {
        "available_period_id": "net",
        "start": "2026-11-25 09:00:00Z",
        "end": "2026-11-25 10:00:00Z",
    }
    assert (await post(http, f"{emu.base_url}/v1/available_periods", token, period))[0] == 202
    # last_modified in the .NET format: the user's own (external) edit is returned; the
    # application's managed write above is not an external modification (house rule 1).
    emu.add_event(account.calendar_id, start="2026-11-26T09:00:00Z", end="2026-11-26T10:00:00Z")
    status, read = await get(
        http,
        f"{emu.base_url}/v1/events",
        token,
        {"tzid": "Etc/UTC", "include_managed": "true", "last_modified": "2000-01-01 00:00:00Z"},
    )
    assert status == 200
    assert [e["start"] for e in read["events"]] == ["2026-11-26T09:00:00Z"]


# ------------------------------------------------------------------ 7. external events by uid


@pytest.mark.parametrize("via_batch", [False, True])
async def test_7_edit_and_delete_external_events_by_event_uid(
    emu_on_clock: Emulator,
    account_on_clock: EmulatorAccount,
    http: aiohttp.ClientSession,
    via_batch: bool,
) -> None:
    emu, account = emu_on_clock, account_on_clock  # fixed dates near the clock's day
    # pycronofy/tests/test_client.py test_delete_external_event: DELETE
    # /v1/calendars/{id}/events {"event_uid"} → 202; cronofy-node src/index.js
    # updateExternalEvent: POST /v1/calendars/{id}/events with event_uid.
    token = account.access_token
    cal = account.calendar_id
    ext = emu.add_event(cal, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    uid = ext["event_uid"]
    url = f"{emu.base_url}/v1/calendars/{cal}/events"
    edit = {"event_uid": uid, "summary": "renamed", "start": "2026-11-25T11:00:00Z",
            "end": "2026-11-25T12:00:00Z"}  # fmt: skip
    if via_batch:
        batch = {
            "batch": [
                {"method": "POST", "relative_url": f"/v1/calendars/{cal}/events", "data": edit}
            ]
        }
        status, answer = await post(http, f"{emu.base_url}/v1/batch", token, batch)
        assert (status, answer) == (207, {"batch": [{"status": 202}]})
    else:
        assert (await post(http, url, token, edit))[0] == 202
    events_url = f"{emu.base_url}/v1/events"
    query = {"tzid": "Etc/UTC", "include_deleted": "true"}
    _, read = await get(http, events_url, token, query)
    (event,) = read["events"]
    assert (event["summary"], event["start"]) == ("renamed", "2026-11-25T11:00:00Z")
    assert "event_id" not in event  # still an external event
    if via_batch:
        batch = {
            "batch": [
                {
                    "method": "DELETE",
                    "relative_url": f"/v1/calendars/{cal}/events",
                    "data": {"event_uid": uid},
                }
            ]
        }
        status, answer = await post(http, f"{emu.base_url}/v1/batch", token, batch)
        assert (status, answer) == (207, {"batch": [{"status": 202}]})
    else:
        assert await delete(http, url, token, {"event_uid": uid}) == 202
    _, read = await get(http, events_url, token, query)
    assert [e["deleted"] for e in read["events"]] == [True]
    # House rule: editing an event_uid the calendar does not hold is a 422 on event_uid.
    status, answer = await post(http, url, token, {"event_uid": "evt_nope", "summary": "x"})
    assert status == 422
    assert "event_uid" in answer["errors"]


# ------------------------------------------------------------------ 8, 9, max_results


async def test_8_buffer_with_minimum(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # pycronofy/tests/test_availability.py test_availablity_with_fully_specified_options
    # sends buffer {"before": {"minimum": {"minutes": 30}}, "after": {"minimum": ...}}.
    emu.add_event(account.calendar_id, start="2026-11-25T10:00:00Z", end="2026-11-25T10:30:00Z")
    body = {
        "participants": [{"members": [{"sub": account.sub}], "required": "all"}],
        "required_duration": {"minutes": 30},
        "query_periods": [{"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T12:00:00Z"}],
        "buffer": {
            "before": {"minimum": {"minutes": 30}, "maximum": {"minutes": 45}},
            "after": {"minimum": {"minutes": 15}},
        },
    }
    status, answer = await post(http, f"{emu.base_url}/v1/availability", emu.client_secret, body)
    assert status == 200
    # Busy 10:00-10:30 widened by 15 before (after-buffer of a slot) and 30 after.
    assert [(p["start"], p["end"]) for p in answer["available_periods"]] == [
        ("2026-11-25T09:00:00Z", "2026-11-25T09:45:00Z"),
        ("2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z"),
    ]


async def test_9_query_slots(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # pycronofy/client.py Client.availability(query_slots=...) sends
    # "query_slots": [{"start": Time}] in place of query_periods.
    emu.add_event(account.calendar_id, start="2026-11-25T10:00:00Z", end="2026-11-25T11:00:00Z")
    body = {
        "participants": [{"members": [{"sub": account.sub}], "required": "all"}],
        "required_duration": {"minutes": 60},
        "query_slots": [
            {"start": "2026-11-25T10:00:00Z"},
            {"start": "2026-11-25T09:00:00Z"},
            {"start": {"time": "2026-11-25T11:00:00Z", "tzid": "Europe/London"}},
        ],
        "response_format": "slots",
    }
    status, answer = await post(http, f"{emu.base_url}/v1/availability", emu.client_secret, body)
    assert status == 200
    assert [(s["start"], s["end"]) for s in answer["available_slots"]] == [
        ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"),
        ("2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z"),
    ]
    both = body | {"query_periods": DAY}
    assert (await post(http, f"{emu.base_url}/v1/availability", emu.client_secret, both))[0] == 422


@pytest.mark.parametrize(("max_results", "status"), [(0, 422), (1, 200), (512, 200), (513, 422)])
async def test_max_results_bounds(
    emu: Emulator,
    account: EmulatorAccount,
    http: aiohttp.ClientSession,
    max_results: int,
    status: int,
) -> None:
    # The .NET SDK (cronofy/cronofy-csharp) enforces 1..512.
    body = {
        "participants": [{"members": [{"sub": account.sub}], "required": "all"}],
        "required_duration": {"minutes": 30},
        "query_periods": DAY,
        "max_results": max_results,
    }
    got, answer = await post(http, f"{emu.base_url}/v1/availability", emu.client_secret, body)
    assert got == status
    if status == 422:
        assert "max_results" in answer["errors"]


# ------------------------------------------------------------------ missing fields


async def test_events_carry_an_organizer(
    emu_on_clock: Emulator, account_on_clock: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    emu, account = emu_on_clock, account_on_clock  # fixed dates near the clock's day
    # cronofy-node test/index.spec.js "returns read events information": events carry
    # organizer {email, display_name}.
    emu.add_event(account.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    _, read = await get(
        http, f"{emu.base_url}/v1/events", account.access_token, {"tzid": "Etc/UTC"}
    )
    (event,) = read["events"]
    assert event["organizer"] == {"email": account.email, "display_name": account.name}
    someone = {"email": "boss@example.com", "display_name": "The Boss"}
    emu.update_event(event["event_uid"], organizer=someone)
    _, read = await get(
        http, f"{emu.base_url}/v1/events", account.access_token, {"tzid": "Etc/UTC"}
    )
    assert read["events"][0]["organizer"] == someone


async def test_userinfo_has_attachments_and_conferencing_profiles(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # /v1/userinfo carries calendar_attachments_available and conferencing_profiles.
    _, info = await get(http, f"{emu.base_url}/v1/userinfo", account.access_token)
    data = info["cronofy.data"]
    assert data["conferencing_profiles"] == []
    (profile,) = data["profiles"]
    assert all(c["calendar_attachments_available"] is False for c in profile["profile_calendars"])


@pytest.mark.parametrize(("length", "status"), [(128, 200), (129, 422)])
async def test_callback_url_at_most_128_characters(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, length: int, status: int
) -> None:
    # pycronofy/client.py Client.create_notification_channel docstring: "Must not be longer
    # than 128 characters".
    base = "http://127.0.0.1:9/"  # nothing listens: the verification fails fast
    url = base + "x" * (length - len(base))
    got, answer = await post(
        http, f"{emu.base_url}/v1/channels", account.access_token, {"callback_url": url}
    )
    assert got == status
    if status == 422:
        assert answer["errors"]["callback_url"][0]["key"] == "errors.too_long"


# ------------------------------------------------------------------ bulk delete, token caching


async def _managed_and_external(
    emu: Emulator,
    account: EmulatorAccount,
    http: aiohttp.ClientSession,
    calendar_id: str,
    ours: str,
) -> str:
    """A managed event ``ours`` (its ``event_id``) in ``calendar_id`` and one the user made
    there; returns the user's event's uid."""
    body = {"event_id": ours, "summary": "ours", **DAY[0]}
    url = f"{emu.base_url}/v1/calendars/{calendar_id}/events"
    assert (await post(http, url, account.access_token, body))[0] == 202
    return str(emu.add_event(calendar_id, summary="theirs", **DAY[0])["event_uid"])


async def _live(emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession) -> set[str]:
    # the events' own dates lie on the emulator's injected clock's days (account_on_clock)
    query = {"tzid": "Etc/UTC", "from": "2026-11-20", "to": "2026-11-30", "include_managed": "true"}
    _, read = await get(http, f"{emu.base_url}/v1/events", account.access_token, query)
    events = list(read["events"])
    while read["pages"].get("next_page"):  # the test emulator's pages hold 3
        _, read = await get(http, read["pages"]["next_page"], account.access_token)
        events += read["events"]
    return {str(e.get("event_id") or e["event_uid"]) for e in events}


@pytest.mark.parametrize("form", ["delete_all", "calendar_ids"])
async def test_bulk_delete_removes_the_applications_events_and_keeps_the_users(
    emu_on_clock: Emulator,
    account_on_clock: EmulatorAccount,
    http: aiohttp.ClientSession,
    form: str,
) -> None:
    # cronofy-ruby spec/lib/cronofy/client_spec.rb #delete_all_events: DELETE /v1/events with
    # {"delete_all": true} or {"calendar_ids": [...]} → 202; cronofy-csharp BulkDelete.cs;
    # cronofy-node bulkDelete.spec.js. The emulator answered 405.
    emu, account = emu_on_clock, account_on_clock
    token = account.access_token
    other = await post(
        http,
        f"{emu.base_url}/v1/calendars",
        token,
        {"profile_id": account.profile_id, "name": "Other"},
    )
    other_id = other[1]["calendar"]["calendar_id"]
    theirs = await _managed_and_external(emu, account, http, account.calendar_id, "ours-1")
    theirs_too = await _managed_and_external(emu, account, http, other_id, "ours-2")
    assert len(await _live(emu, account, http)) == 4
    body: dict[str, Any] = (
        {"delete_all": True} if form == "delete_all" else {"calendar_ids": [other_id]}
    )
    assert await delete(http, f"{emu.base_url}/v1/events", token, body) == 202
    kept = {theirs, theirs_too} | (set() if form == "delete_all" else {"ours-1"})
    assert await _live(emu, account, http) == kept


@pytest.mark.parametrize(
    "body", [{}, {"delete_all": True, "calendar_ids": []}, {"calendar_ids": "cal_x"}]
)
async def test_bulk_delete_needs_exactly_one_form(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, body: Any
) -> None:
    # House rule (Cronofy documents the two forms only): anything else is a 422.
    assert await delete(http, f"{emu.base_url}/v1/events", account.access_token, body) == 422


async def test_token_answers_are_never_cached(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    # RFC 6749 §5.1 and Cronofy's refresh-token docs example: Cache-Control: no-store and
    # Pragma: no-cache on every token answer. The emulator sent no Pragma.
    body = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": account.refresh_token,
    }
    async with http.post(f"{emu.base_url}/oauth/token", json=body) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["Pragma"] == "no-cache"
