"""The ``/_emulator`` control API through ``EmulatorControl``, the request log, redaction, and
the four steps driven with nothing but HTTP."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest

from cronofy_avail.core.signatures import verify_notification
from cronofy_avail.emulator import Emulator, EmulatorControl
from cronofy_avail.emulator.control_client import EmulatorControlError
from tests.support.emulator import FAST, Receiver, auth


async def test_accounts_events_and_views(
    emu_on_clock: Emulator, http: aiohttp.ClientSession
) -> None:
    # On the fake clock: the events of late November 2026 are inside the default window
    # whatever day the test runs, so the read after the calendar's deletion means something.
    emu = emu_on_clock
    control = EmulatorControl(emu.base_url, session=http)
    info = await control.info()
    assert (info.base_url, info.client_id, info.client_secret) == (
        emu.base_url,
        emu.client_id,
        emu.client_secret,
    )
    assert info.client_secret not in repr(info)
    acc = await control.create_account(
        email="ann@example.com", tzid="Europe/Paris", calendars=["Availability"]
    )
    assert acc.access_token not in repr(acc)
    assert acc.sub == acc.account_id
    assert len(acc.calendar_ids) == 2
    (listed,) = await control.accounts()
    assert listed["email"] == "ann@example.com"
    assert "access_token" not in listed
    sub = acc.calendar_ids[1]
    timed = await control.add_event(
        sub,
        summary="Open",
        start={"time": "2026-11-25T09:00:00", "tzid": "Europe/Paris"},
        end="2026-11-25T10:00:00Z",
    )
    assert timed["start"] == "2026-11-25T08:00:00Z"
    all_day = await control.add_event(sub, start="2026-11-26", end="2026-11-27")
    assert all_day["start"] == "2026-11-26"
    series = await control.add_events(
        sub,
        {
            "start": "2026-11-25T12:00:00Z",
            "end": "2026-11-25T13:00:00Z",
            "recurrence": {"frequency": "weekly", "count": 3},
        },
    )
    assert [e["start"] for e in series] == [
        "2026-11-25T12:00:00Z",
        "2026-12-02T12:00:00Z",
        "2026-12-09T12:00:00Z",
    ]
    moved = await control.move_event(
        timed["event_uid"], "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z"
    )
    assert (moved["event_uid"], moved["start"]) == (timed["event_uid"], "2026-11-25T14:00:00Z")
    declined = await control.update_event(all_day["event_uid"], participation_status="declined")
    assert declined["participation_status"] == "declined"
    deleted = await control.delete_event(timed["event_uid"])
    assert deleted["deleted"] is True
    gone = await control.delete_series(series[0]["series_identifier"])
    assert len(gone) == 3
    events = await control.calendar_events(sub)
    assert sum(e["deleted"] for e in events) == 4
    new_cal = await control.add_calendar(acc.profile_id, "Made in the app", color="#112233")
    assert new_cal["calendar_color"] == "#112233"
    # The user deletes the sub calendar: a client finds none and may create it again.
    await control.delete_calendar(sub)
    async with emu.client(acc) as client:
        listed_cals = {c.calendar_id: c for c in await client.list_calendars()}
        assert listed_cals[sub].calendar_deleted is True
        assert await client.read_events(tzid="Etc/UTC") == []
        again, created = await client.find_or_create_calendar(acc.profile_id, "Availability")
        assert created is True
        assert again.calendar_id != sub
    with pytest.raises(EmulatorControlError) as caught:
        await control.add_event(sub, start="2026-11-25T10:00:00Z", end="2026-11-25T09:00:00Z")
    assert caught.value.status == 422
    assert caught.value.body["errors"]["end"][0]["key"] == "errors.invalid"
    with pytest.raises(EmulatorControlError) as missing:
        await control.delete_event("evt_external_nope")
    assert missing.value.status == 404


async def test_tokens_secrets_profiles_reset(
    emu: Emulator, control: EmulatorControl, http: aiohttp.ClientSession
) -> None:
    acc = await control.create_account()
    assert await control.expire_tokens(acc.account_id) == 1
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(acc.access_token)) as r:
        assert r.status == 401
    fresh = await control.new_tokens(acc.account_id)
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(fresh["access_token"])) as r:
        assert r.status == 200
    assert await control.revoke_refresh_tokens(acc.account_id) == 2  # original + new_tokens
    async with http.post(
        f"{emu.base_url}/oauth/token",
        json={
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": acc.refresh_token,
        },
    ) as r:
        assert r.status == 400
    code = await control.authorization_code(acc.account_id, "http://127.0.0.1:9/cb")
    assert code
    old = emu.client_secret
    new = await control.rotate_client_secret()
    assert emu.client_secrets == [new, old]
    assert await control.retire_previous_secrets() == new
    assert emu.client_secrets == [new]
    profile = await control.disconnect_profile(acc.profile_id)
    assert profile["profile_connected"] is False
    assert (await control.reconnect_profile(acc.profile_id))["profile_connected"] is True
    assert (await control.set_profile(acc.profile_id, locked=True))["profile_id"] == acc.profile_id
    settings = await control.update_settings(page_size=10, rotate_refresh_tokens=True)
    assert (settings["page_size"], settings["rotate_refresh_tokens"]) == (10, True)
    with pytest.raises(EmulatorControlError):
        await control.update_settings(page_size=0)
    await control.reset()
    assert await control.accounts() == []
    assert (await control.request_counts()) == {  # the log restarts at the reset
        "POST /_emulator/reset": 1,
        "GET /_emulator/accounts": 1,
    }
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(fresh["access_token"])) as r:
        assert r.status == 401


async def test_request_log_counts_and_redaction(
    emu: Emulator,
    control: EmulatorControl,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    acc = await control.create_account()
    async with emu.client(acc) as client:
        await client.list_profiles()
        await client.list_profiles()
        emu.expire_tokens()
        await client.list_calendars()
    counts = await control.request_counts()
    assert counts == {
        "POST /_emulator/accounts": 1,
        "GET /v1/profiles": 2,
        "GET /v1/calendars": 2,
        "POST /oauth/token": 1,
    }  # the log request itself is counted once it has answered
    log = await control.request_log()
    text = json.dumps(log)
    secrets = [acc.access_token, acc.refresh_token, emu.client_secret]
    assert not any(s in text for s in secrets)
    assert {e["authorization"] for e in log["requests"] if e["path"] == "/v1/profiles"} == {
        "[redacted]"
    }
    for record in caplog.records:
        message = record.getMessage()
        assert not any(s in message for s in secrets), message
    await control.clear_request_log()
    after = (await control.request_log())["requests"]
    assert [e["endpoint"] for e in after] == ["DELETE /_emulator/requests"]


async def test_wait_notifications_and_channel_views(
    emu: Emulator, control: EmulatorControl, receiver: Receiver
) -> None:
    acc = await control.create_account()
    async with emu.client(acc) as client:
        channel = await client.create_channel(receiver.url)
    await control.add_event(
        acc.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z"
    )
    assert await control.wait_notifications(5.0) is True
    view = await control.channel(channel.channel_id)
    assert [d["notification_type"] for d in view["deliveries"]] == ["verification", "change"]
    assert [c["channel_id"] for c in await control.channels()] == [channel.channel_id]
    assert len(receiver.received) == 2


async def test_control_api_can_be_switched_off(http: aiohttp.ClientSession) -> None:
    async with Emulator(control_api=False, **FAST) as emu:  # type: ignore[arg-type]
        async with http.get(f"{emu.base_url}/_emulator/info") as r:
            assert r.status == 404
        acc = await emu.create_account()
        async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(acc.access_token)) as r:
            assert r.status == 200


async def test_four_steps_with_nothing_but_http(
    emu_on_clock: Emulator, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    emu = emu_on_clock  # the event's fixed date is near the clock's day, inside the window
    base = emu.base_url
    async with http.post(f"{base}/_emulator/accounts", json={"email": "w@example.com"}) as r:
        acc = await r.json()
    headers = auth(acc["access_token"])
    # 1. the sub calendar
    async with http.post(
        f"{base}/v1/calendars",
        json={"profile_id": acc["profile_id"], "name": "Availability"},
        headers=headers,
    ) as r:
        sub = (await r.json())["calendar"]["calendar_id"]
    # 2. the channel, filtered to it
    async with http.post(
        f"{base}/v1/channels",
        json={"callback_url": receiver.url, "filters": {"calendar_ids": [sub]}},
        headers=headers,
    ) as r:
        assert r.status == 200
    # the user adds availability in their calendar app
    async with http.post(
        f"{base}/_emulator/calendars/{sub}/events",
        json={"summary": "Free", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T12:00:00Z"},
    ) as r:
        assert r.status == 201
    async with http.post(f"{base}/_emulator/notifications/wait", json={"timeout": 5}) as r:
        assert (await r.json())["idle"] is True
    change = receiver.of_type("change")[0]
    envelope = verify_notification(change.body, change.headers, emu.client_secret)
    assert envelope.changes_since is not None
    # 3. read what changed and upsert periods
    async with http.get(
        f"{base}/v1/events",
        params={
            "tzid": "Etc/UTC",
            "last_modified": envelope.changes_since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "include_deleted": "true",
            "include_moved": "true",
            "calendar_ids[]": sub,
        },
        headers=headers,
    ) as r:
        (event,) = (await r.json())["events"]
    async with http.post(
        f"{base}/v1/available_periods",
        json={"available_period_id": "p1", "start": event["start"], "end": event["end"]},
        headers=headers,
    ) as r:
        assert r.status == 202
    # 4. availability with managed availability, the sub calendar not consulted
    primary = acc["calendar_id"]
    async with http.post(
        f"{base}/v1/availability",
        json={
            "participants": [
                {
                    "members": [
                        {"sub": acc["sub"], "managed_availability": True, "calendar_ids": [primary]}
                    ],
                    "required": "all",
                }
            ],
            "required_duration": {"minutes": 60},
            "query_periods": [{"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z"}],
        },
        headers=auth(emu.client_secret),
    ) as r:
        answer = await r.json()
    assert answer["available_periods"] == [
        {
            "start": "2026-11-25T09:00:00Z",
            "end": "2026-11-25T12:00:00Z",
            "participants": [{"sub": acc["sub"]}],
        }
    ]
