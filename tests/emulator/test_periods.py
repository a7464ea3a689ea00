"""Available Periods (upsert, paginated read, delete, delete_all) and batch."""

from __future__ import annotations

from datetime import date, timedelta

import aiohttp
import pytest

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import RateLimitedError
from cronofy_avail.core.models import (
    AvailablePeriodsResponse,
    BatchEntry,
    LocalizedTime,
    format_time,
    parse_time,
)
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import auth

START = parse_time("2026-11-25T09:00:00Z")


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


async def test_upsert_list_update_delete(emu: Emulator, client: CronofyClient) -> None:
    for i in range(7):
        await client.upsert_available_period(f"p{i}", START + hours(i), START + hours(i + 0.5))
    periods = await client.list_available_periods()
    assert [p.available_period_id for p in periods] == [f"p{i}" for i in range(7)]
    assert emu.request_counts()["GET /v1/available_periods/pages/{token}"] == 2
    await client.upsert_available_period("p0", START - hours(1), START)
    periods = await client.list_available_periods()
    assert periods[0].available_period_id == "p0"
    assert format_time(periods[0].start) == "2026-11-25T08:00:00Z"  # type: ignore[arg-type]
    assert len(periods) == 7
    assert await client.delete_available_period("p3") is True
    assert await client.delete_available_period("never-existed") is True  # house rule: 202
    assert len(await client.list_available_periods()) == 6
    await client.delete_all_available_periods()
    assert await client.list_available_periods() == []


async def test_list_with_window_and_localized(client: CronofyClient) -> None:
    await client.upsert_available_period("a", START, START + hours(1))
    await client.upsert_available_period("b", START + hours(48), START + hours(49))
    day = await client.list_available_periods(
        tzid="Europe/Paris", from_=date(2026, 11, 25), to=date(2026, 11, 26), localized_times=True
    )
    assert [p.available_period_id for p in day] == ["a"]
    assert isinstance(day[0].start, LocalizedTime)
    assert day[0].start.time.isoformat() == "2026-11-25T10:00:00+01:00"


async def test_localized_input_and_validation(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, client: CronofyClient
) -> None:
    url = f"{emu.base_url}/v1/available_periods"
    headers = auth(account.access_token)
    ok = {
        "available_period_id": "loc",
        "start": {"time": "2026-11-25T10:00:00+01:00", "tzid": "Europe/Paris"},
        # Cronofy's docs: `time` inside {time, tzid} is always UTC, whatever the tzid.
        "end": {"time": "2026-11-25T11:00:00", "tzid": "Europe/Paris"},
    }
    async with http.post(url, json=ok, headers=headers) as r:
        assert r.status == 202
        assert await r.read() == b""
    (period,) = await client.list_available_periods()
    assert format_time(period.end) == "2026-11-25T11:00:00Z"  # type: ignore[arg-type]
    bad_cases = [
        (
            {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"},
            "available_period_id",
            "errors.required",
        ),
        (
            {
                "available_period_id": "x" * 65,
                "start": "2026-11-25T09:00:00Z",
                "end": "2026-11-25T10:00:00Z",
            },
            "available_period_id",
            "errors.too_long",
        ),
        (
            {
                "available_period_id": "naïve",
                "start": "2026-11-25T09:00:00Z",
                "end": "2026-11-25T10:00:00Z",
            },
            "available_period_id",
            "errors.invalid",
        ),
        (
            {"available_period_id": "d", "start": "2026-11-25", "end": "2026-11-26"},
            "start",
            "errors.invalid",
        ),
        (
            {
                "available_period_id": "o",
                "start": "2026-11-25T10:00:00Z",
                "end": "2026-11-25T10:00:00Z",
            },
            "end",
            "errors.invalid",
        ),
        ({"available_period_id": "m", "end": "2026-11-25T10:00:00Z"}, "start", "errors.required"),
    ]
    for body, param, key in bad_cases:
        async with http.post(url, json=body, headers=headers) as r:
            assert r.status == 422, body
            errors = (await r.json())["errors"]
            assert errors[param][0]["key"] == key, body
    # tzid is required with from/to.
    async with http.get(url, params={"from": "2026-11-25"}, headers=headers) as r:
        assert r.status == 422
        assert (await r.json())["errors"]["tzid"][0]["key"] == "errors.required"
    # Trailing slash and Python-style booleans, delete_all as "True".
    async with http.delete(url + "/", json={"delete_all": "True"}, headers=headers) as r:
        assert r.status == 202
    assert await client.list_available_periods() == []
    async with http.delete(url, json={}, headers=headers) as r:
        assert r.status == 422


async def test_pages_extra_params(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, client: CronofyClient
) -> None:
    for i in range(4):
        await client.upsert_available_period(f"p{i}", START + hours(i), START + hours(i + 1))
    headers = auth(account.access_token)
    async with http.get(f"{emu.base_url}/v1/available_periods/", headers=headers) as r:
        first = AvailablePeriodsResponse.model_validate(await r.json())
    assert first.pages.total == 2
    assert first.pages.next_page is not None
    async with http.get(first.pages.next_page + "?localized_times=true", headers=headers) as r:
        second = AvailablePeriodsResponse.model_validate(await r.json())
    assert [p.available_period_id for p in second.available_periods] == ["p3"]
    assert second.pages.next_page is None


async def test_batch(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, client: CronofyClient
) -> None:
    entries = [
        BatchEntry(
            method="POST",
            relative_url="/v1/available_periods",
            data={
                "available_period_id": f"b{i}",
                "start": format_time(START + hours(i)),
                "end": format_time(START + hours(i + 1)),
            },
        )
        for i in range(55)
    ]
    entries.insert(
        1,
        BatchEntry(
            method="POST",
            relative_url="/v1/available_periods",
            data={"available_period_id": "bad", "start": "2026-11-25T10:00:00Z"},
        ),
    )
    entries.append(
        BatchEntry(
            method="DELETE",
            relative_url="/v1/available_periods/",
            data={"available_period_id": "b0"},
        )
    )
    results = await client.batch(entries)
    assert len(results) == 57
    assert [r.status for r in results][:3] == [202, 422, 202]
    assert results[1].errors["end"][0].key == "errors.required"
    assert all(r.ok for i, r in enumerate(results) if i != 1)
    assert emu.request_counts()["POST /v1/batch"] == 2
    assert len(await client.list_available_periods()) == 54
    # More than 50 entries in one call: 422.
    body = {"batch": [e.model_dump() for e in entries[:51]]}
    async with http.post(
        f"{emu.base_url}/v1/batch", json=body, headers=auth(account.access_token)
    ) as r:
        assert r.status == 422
        assert (await r.json())["errors"]["batch"][0]["key"] == "errors.too_many_entries"
    # A managed-event entry and an unknown URL.
    body = {
        "batch": [
            {
                "method": "POST",
                "relative_url": f"/v1/calendars/{account.calendar_id}/events",
                "data": {
                    "event_id": "e1",
                    "summary": "s",
                    "start": "2026-11-25T09:00:00Z",
                    "end": "2026-11-25T10:00:00Z",
                },
            },
            {"method": "POST", "relative_url": "/v1/nothing", "data": {}},
        ]
    }
    async with http.post(
        f"{emu.base_url}/v1/batch", json=body, headers=auth(account.access_token)
    ) as r:
        assert r.status == 207
        assert [e["status"] for e in (await r.json())["batch"]] == [202, 404]


async def test_batch_counts_once_against_the_rate_limit(
    emu: Emulator, client: CronofyClient
) -> None:
    emu.rate_limit.enabled = True
    emu.rate_limit.per_minute = 2
    emu.rate_limit.per_second = 100
    entries = [
        BatchEntry(
            method="POST",
            relative_url="/v1/available_periods",
            data={
                "available_period_id": f"r{i}",
                "start": format_time(START + hours(i)),
                "end": format_time(START + hours(i + 1)),
            },
        )
        for i in range(50)
    ]
    results = await client.batch(entries)
    assert all(r.ok for r in results)
    assert emu.rate_limit.rejected == 0
    assert emu.request_counts()["POST /v1/batch"] == 1
    await client.list_profiles()  # the second request of the minute
    with pytest.raises(RateLimitedError):
        await client.list_profiles()
    assert emu.rate_limit.rejected >= 1
