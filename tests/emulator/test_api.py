"""Identity, calendars, channels, managed events and error shapes over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from cronofy_avail.core.models import UpsertEventRequest, parse_time
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import auth


async def test_identity(client: CronofyClient, account: EmulatorAccount) -> None:
    profiles = await client.list_profiles()
    assert [p.profile_id for p in profiles] == [account.profile_id]
    assert profiles[0].provider_name == "google"
    assert profiles[0].profile_connected is True
    info = await client.userinfo()
    assert info.sub == account.sub
    assert info.cronofy_type == "account"
    assert info.cronofy_data is not None
    assert info.cronofy_data.profiles[0].profile_calendars[0].calendar_id == account.calendar_id
    acc = await client.account()
    assert acc.account_id == account.account_id
    assert "create_calendar" in acc.scopes
    assert acc.default_tzid == "Europe/London"


async def test_userinfo_raw_has_literal_dotted_keys(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emu.base_url}/v1/userinfo", headers=auth(account.access_token)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await r.json()
    assert body["cronofy.type"] == "account"
    assert body["cronofy.data"]["authorization"]["status"] == "active"


async def test_calendars_create_duplicate_color_and_find(
    client: CronofyClient, account: EmulatorAccount
) -> None:
    calendars = await client.list_calendars()
    assert [c.calendar_id for c in calendars] == [account.calendar_id]
    assert calendars[0].calendar_primary is True
    assert "@" in account.calendar_id
    assert "-" in account.calendar_id
    assert "_" in account.calendar_id
    created = await client.create_calendar(account.profile_id, "Availability", color="#49BED8")
    assert created.calendar_name == "Availability"
    assert created.calendar_color == "#49BED8"
    assert created.profile_id == account.profile_id
    with pytest.raises(InvalidRequestError) as dup:
        await client.create_calendar(account.profile_id, "Availability")
    assert dup.value.error_keys("name") == ["errors.duplicate_calendar_name"]
    found, was_created = await client.find_or_create_calendar(account.profile_id, "Availability")
    assert (found.calendar_id, was_created) == (created.calendar_id, False)
    with pytest.raises(InvalidRequestError) as bad:
        await client.create_calendar(account.profile_id, "Other", color="blue")
    assert bad.value.error_keys("color") == ["errors.invalid"]


async def test_create_calendar_errors(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}/v1/calendars"
    async with http.post(url, json={}, headers=auth(account.access_token)) as r:
        assert r.status == 422
        body = await r.json()
    assert body["errors"]["profile_id"][0]["key"] == "errors.required"
    assert body["errors"]["name"][0]["key"] == "errors.required"
    emu.state.set_profile(account.profile_id, locked=True)
    async with http.post(
        url,
        json={"profile_id": account.profile_id, "name": "X"},
        headers=auth(account.access_token),
    ) as r:
        assert r.status == 423


async def test_provider_without_calendar_creation(emu: Emulator) -> None:
    acc = await emu.create_account(provider_name="apple", can_create_calendars=False)
    async with emu.client(acc) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.create_calendar(acc.profile_id, "Availability")
    assert caught.value.error_keys("profile_id") == ["errors.calendar_creation_not_supported"]


async def test_missing_scope_is_403(emu: Emulator) -> None:
    acc = await emu.create_account(scope="read_account list_calendars read_events")
    async with emu.client(acc) as client:
        with pytest.raises(ForbiddenError):
            await client.create_calendar(acc.profile_id, "Availability")
        assert len(await client.list_calendars()) == 1


async def test_unknown_and_expired_tokens_are_401(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth("nope")) as r:
        assert r.status == 401
    async with http.get(f"{emu.base_url}/v1/profiles") as r:
        assert r.status == 401
    assert emu.expire_tokens(account.account_id) == 1
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(account.access_token)) as r:
        assert r.status == 401
    # A client without refresh credentials surfaces the 401.
    async with CronofyClient(access_token=account.access_token, api_base_url=emu.base_url) as c:
        with pytest.raises(AuthenticationError):
            await c.list_profiles()


async def test_expired_token_is_refreshed_by_the_client(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount
) -> None:
    emu.expire_tokens()
    assert (await client.list_profiles())[0].profile_id == account.profile_id
    assert client.stats.refreshes == 1
    counts = emu.request_counts()
    assert counts["GET /v1/profiles"] == 2
    assert counts["POST /oauth/token"] == 1


async def test_channels_create_list_identical_close(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount
) -> None:
    url = "http://127.0.0.1:9/never-called"
    emu.notifier.debounce = 60.0  # nothing is delivered in this test but the verification
    first = await client.create_channel(url, calendar_ids=[account.calendar_id])
    assert first.channel_id.startswith("chn_")
    assert first.filters.calendar_ids == [account.calendar_id]
    again = await client.create_channel(url, calendar_ids=[account.calendar_id])
    assert again.channel_id == first.channel_id
    other = await client.create_channel(url)
    assert other.channel_id != first.channel_id
    listed = await client.list_channels()
    assert {c.channel_id for c in listed} == {first.channel_id, other.channel_id}
    await client.close_channel(first.channel_id)
    assert [c.channel_id for c in await client.list_channels()] == [other.channel_id]
    with pytest.raises(NotFoundError):
        await client.close_channel(first.channel_id)
    with pytest.raises(InvalidRequestError) as bad:
        await client.create_channel("ftp://nowhere")
    assert bad.value.error_keys("callback_url") == ["errors.invalid"]
    with pytest.raises(InvalidRequestError):
        await client.create_channel(url, calendar_ids=["cal_not_mine"])


async def test_channel_limit_128(emu: Emulator, account: EmulatorAccount) -> None:
    state = emu.state
    acc = state.accounts[account.account_id]
    token = state.access_tokens[account.access_token]
    emu.notifier._stopped = True  # no verification deliveries for this bulk setup
    for i in range(128):
        state.create_channel(acc, token, {"callback_url": f"http://127.0.0.1:9/{i}"})
    emu.notifier._stopped = False
    async with emu.client(account) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.create_channel("http://127.0.0.1:9/one-more")
        assert caught.value.error_keys("channel") == ["errors.too_many_channels"]
        # An identical channel still answers with the existing id.
        same = await client.create_channel("http://127.0.0.1:9/0")
        assert same.channel_id in acc.channels


async def test_personal_token_cannot_create_channels(emu: Emulator) -> None:
    acc = await emu.create_account(token_kind="personal")
    async with emu.client(acc) as client:
        with pytest.raises(ForbiddenError):
            await client.create_channel("http://127.0.0.1:9/x")


async def test_managed_events_upsert_delete_and_visibility(
    emu: Emulator, client: CronofyClient, account: EmulatorAccount
) -> None:
    cal = account.calendar_id
    request = UpsertEventRequest(
        event_id="booking-1",
        summary="Booked",
        start=parse_time("2026-12-01T09:00:00Z"),
        end=parse_time("2026-12-01T10:00:00Z"),
    )
    await client.upsert_event(cal, request)
    window = {"tzid": "Europe/London", "from_": parse_time("2026-11-30T00:00:00Z").date()}
    assert await client.read_events(**window) == []
    managed = await client.read_events(**window, include_managed=True)
    assert [(e.event_id, e.summary) for e in managed] == [("booking-1", "Booked")]
    assert (await client.read_events(**window, only_managed=True))[0].event_id == "booking-1"
    await client.upsert_event(cal, request.model_copy(update={"summary": "Renamed"}))
    managed = await client.read_events(**window, include_managed=True)
    assert [e.summary for e in managed] == ["Renamed"]
    await client.delete_event(cal, "booking-1")
    assert await client.read_events(**window, include_managed=True) == []
    gone = await client.read_events(**window, include_managed=True, include_deleted=True)
    assert [e.deleted for e in gone] == [True]
    with pytest.raises(NotFoundError):
        await client.upsert_event("cal_unknown", request)


async def test_managed_event_validation(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}/v1/calendars/{account.calendar_id}/events"
    body = {
        "event_id": "é" * 3,
        "start": "2026-12-01T10:00:00Z",
        "end": "2026-12-01T09:00:00Z",
    }
    async with http.post(url, json=body, headers=auth(account.access_token)) as r:
        assert r.status == 422
        errors = (await r.json())["errors"]
    assert errors["event_id"][0]["key"] == "errors.invalid"
    assert errors["summary"][0]["key"] == "errors.required"
    assert errors["end"][0]["key"] == "errors.invalid"


async def test_accounts_are_isolated(
    emu_on_clock: Emulator, account_on_clock: EmulatorAccount
) -> None:
    emu, account = emu_on_clock, account_on_clock  # fixed dates near the clock's day
    other = await emu.create_account(email="bob@example.com")
    emu.add_event(account.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
    async with emu.client(other) as bob:
        assert [c.calendar_id for c in await bob.list_calendars()] == [other.calendar_id]
        with pytest.raises(InvalidRequestError):
            await bob.read_events(tzid="Europe/London", calendar_ids=[account.calendar_id])
        assert await bob.read_events(tzid="Europe/London") == []
        with pytest.raises(NotFoundError):
            await bob.delete_event(account.calendar_id, "x")
        await bob.upsert_available_period(
            "p1", parse_time("2026-11-25T09:00:00Z"), parse_time("2026-11-25T10:00:00Z")
        )
    async with emu.client(account) as jane:
        assert await jane.list_available_periods() == []
        assert len(await jane.read_events(tzid="Europe/London")) == 1


async def test_sdk_quirks_on_plain_endpoints(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    headers = auth(account.access_token)
    # {} bodies on GET and DELETE, trailing slashes, Python-style booleans.
    async with http.get(f"{emu.base_url}/v1/calendars/", json={}, headers=headers) as r:
        assert r.status == 200
    async with http.get(
        f"{emu.base_url}/v1/events",
        params={
            "tzid": "Etc/UTC",
            "include_deleted": "True",
            "include_managed": "False",
            "unknown_param": "x",
        },
        json={},
        headers=headers,
    ) as r:
        assert r.status == 200
    async with http.get(
        f"{emu.base_url}/v1/events",
        params={"tzid": "Etc/UTC", "include_deleted": "maybe"},
        headers=headers,
    ) as r:
        assert r.status == 422
        assert (await r.json())["errors"]["include_deleted"][0]["key"] == "errors.invalid"
    async with http.post(
        f"{emu.base_url}/v1/channels",
        json={"callback_url": "http://127.0.0.1:9/q", "filters": {}},
        headers=headers,
    ) as r:
        assert r.status == 200
        channel_id = (await r.json())["channel"]["channel_id"]
    async with http.delete(
        f"{emu.base_url}/v1/channels/{channel_id}", json={}, headers=headers
    ) as r:
        assert r.status == 202
        assert await r.read() == b""


async def test_error_bodies_and_unknown_json(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{emu.base_url}/v1/available_periods",
        data=b"{not json",
        headers={**auth(account.access_token), "Content-Type": "application/json"},
    ) as r:
        assert r.status == 422
    async with http.get(f"{emu.base_url}/v1/events", headers=auth(account.access_token)) as r:
        assert r.status == 422
        assert (await r.json()) == {
            "errors": {
                "tzid": [{"key": "errors.required", "description": "tzid must be specified"}]
            }
        }
