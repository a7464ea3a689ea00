"""Fault injection and rate limiting, seen by raw requests and by the project's client."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import CronofyTransportError, RateLimitedError, ServerError
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator, EmulatorAccount, EmulatorControl
from tests.support.emulator import auth
from tests.support.wait import until


async def _no_sleep(_: float) -> None:
    return None


async def test_error_count_is_retried_by_the_client(
    emu: Emulator, client: CronofyClient, control: EmulatorControl
) -> None:
    await control.add_fault(endpoint="GET /v1/profiles", error_count=2, error_status=503)
    assert len(await client.list_profiles()) == 1
    counts = await control.request_counts()
    assert counts["GET /v1/profiles"] == 3
    assert client.stats.retries == 2
    # Other endpoints are untouched.
    await client.list_calendars()
    assert (await control.request_counts())["GET /v1/calendars"] == 1


async def test_error_rate_one_fails_every_time(
    emu: Emulator, account: EmulatorAccount, control: EmulatorControl
) -> None:
    fault = await control.add_fault(endpoint="/v1/calendars", error_rate=1.0, error_status=502)
    async with emu.client(account, sleep=_no_sleep, retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_calendars()
    assert caught.value.status == 502
    (listed,) = await control.faults()
    assert listed["hits"] == 3
    await control.clear_faults()
    await control.add_fault(endpoint="/v1/calendars", error_rate=1.0)  # 500: not retried
    async with emu.client(account, sleep=_no_sleep) as client:
        with pytest.raises(ServerError):
            await client.list_calendars()
    assert (await control.faults())[0]["hits"] == 1
    await control.remove_fault((await control.faults())[0]["fault_id"])
    assert fault["fault_id"] not in {f["fault_id"] for f in await control.faults()}
    async with emu.client(account) as client:
        assert len(await client.list_calendars()) == 1


async def test_429_burst_with_and_without_retry_after(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, control: EmulatorControl
) -> None:
    await control.add_fault(endpoint="*", rate_limit_count=1, retry_after=7)
    await control.add_fault(endpoint="*", rate_limit_count=1)
    url = f"{emu.base_url}/v1/profiles"
    async with http.get(url, headers=auth(account.access_token)) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "7"
    async with http.get(url, headers=auth(account.access_token)) as r:
        assert r.status == 429
        assert "Retry-After" not in r.headers
    async with http.get(url, headers=auth(account.access_token)) as r:
        assert r.status == 200
    await control.clear_faults()
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    await control.add_fault(endpoint="GET /v1/profiles", rate_limit_count=1, retry_after=2)
    async with emu.client(account, sleep=record) as client:
        await client.list_profiles()
    assert delays == [2.0]


async def test_connection_drop(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, control: EmulatorControl
) -> None:
    # aiohttp itself retries an idempotent request once after a drop: drop two.
    await control.add_fault(endpoint="GET /v1/profiles", drop_count=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(account.access_token)) as r:
            await r.read()
    await control.add_fault(endpoint="GET /v1/account", drop_rate=1.0)
    async with emu.client(account, sleep=_no_sleep, retry=RetryPolicy(max_attempts=2)) as client:
        assert len(await client.list_profiles()) == 1
        with pytest.raises(CronofyTransportError):
            await client.account()
    log = await control.request_log()
    dropped = [e["endpoint"] for e in log["requests"] if e["dropped"]]
    assert dropped.count("GET /v1/profiles") == 2
    assert dropped.count("GET /v1/account") >= 2  # two client attempts (aiohttp may add one)


async def test_latency_and_bad_rules(control: EmulatorControl, client: CronofyClient) -> None:
    rule = await control.add_fault(endpoint="GET /v1/profiles", latency_ms=20)
    await client.list_profiles()
    assert (await control.faults())[0]["hits"] == 1
    assert rule["latency_ms"] == 20
    with pytest.raises(Exception, match="422"):
        await control.add_fault(error_rate=2)
    with pytest.raises(Exception, match="422"):
        await control.add_fault(error_status=302)
    # 4xx faults are allowed: a 402 (plan) or 423 (locked profile) is worth rehearsing.
    locked = await control.add_fault(endpoint="GET /v1/profiles", error_status=423, error_count=1)
    assert locked["error_status"] == 423
    with pytest.raises(Exception, match="422"):
        await control.add_fault(nonsense=1)


async def test_faults_do_not_touch_the_control_api(
    control: EmulatorControl, client: CronofyClient
) -> None:
    await control.add_fault(endpoint="*", error_rate=1.0)
    assert len(await control.accounts()) == 1  # still answered


async def test_rate_limit_per_application(
    emu: Emulator, http: aiohttp.ClientSession, control: EmulatorControl
) -> None:
    await control.set_rate_limit(enabled=True, per_second=1000, per_minute=3, retry_after=1)
    a = await emu.create_account()
    b = await emu.create_account()
    statuses = []
    for token in (a.access_token, b.access_token, a.access_token, b.access_token):
        async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(token)) as r:
            statuses.append(r.status)
            retry_after = r.headers.get("Retry-After")
    assert statuses == [200, 200, 200, 429]  # both accounts count against one application
    assert retry_after == "1"
    assert (await control.rate_limit())["rejected"] == 1
    async with emu.client(a, sleep=_no_sleep, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.list_profiles()
    assert caught.value.retry_after == 1.0
    await control.set_rate_limit(enabled=False)
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(a.access_token)) as r:
        assert r.status == 200


async def test_default_rate_limit_is_cronofys() -> None:
    async with Emulator() as emu:
        limit = emu.rate_limit.json()
    assert (limit["enabled"], limit["per_second"], limit["per_minute"]) == (True, 50, 500)


async def test_a_write_delayed_past_the_client_timeout_is_still_applied(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    """Cronofy applies a write whose client gave up waiting. The emulator
    reads the body before the injected latency, so the write lands after the client left."""
    rule = emu.add_fault(endpoint="POST /v1/available_periods", latency_ms=300)
    url = f"{emu.base_url}/v1/available_periods"
    data = {
        "available_period_id": "late-1",
        "start": "2030-01-07T09:00:00Z",
        "end": "2030-01-07T10:00:00Z",
    }
    # The client gives up once the whole request has reached the emulator (the fault rule
    # has seen it), not after a wall-clock timeout that a loaded machine could outrun.
    sending = asyncio.create_task(http.post(url, json=data, headers=auth(account.access_token)))
    await until(lambda: rule.hits > 0, within=5, what="the request at the emulator")
    assert rule.hits == 1
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    periods = emu.state.accounts[account.account_id].periods
    await until(lambda: "late-1" in periods, within=5, what="the late write applied")
    assert "late-1" in periods
