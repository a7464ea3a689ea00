"""The ``hold`` fault: a gate that parks matching requests until it is released, so a test can
know a request is in flight (and keep it there) instead of hoping a latency is long enough."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from cronofy_avail.emulator import Emulator, EmulatorAccount, EmulatorControl
from cronofy_avail.emulator.control_client import EmulatorControlError
from tests.support.emulator import FAST, WAIT, auth


async def _get(
    http: aiohttp.ClientSession, emu: Emulator, account: EmulatorAccount, path: str
) -> int:
    async with http.get(emu.base_url + path, headers=auth(account.access_token)) as resp:
        await resp.read()
        return resp.status


async def test_a_hold_parks_matching_requests_until_it_is_released(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    gate = emu.add_fault(endpoint="GET /v1/calendars", hold=True)
    parked = [asyncio.create_task(_get(http, emu, account, "/v1/calendars")) for _ in range(2)]
    async with asyncio.timeout(WAIT):
        assert (await emu.wait_held(gate.fault_id, 2)) is gate
    # Both are in flight: no answer yet, nothing logged; other endpoints are not held.
    assert not any(task.done() for task in parked)
    assert await _get(http, emu, account, "/v1/profiles") == 200
    assert "GET /v1/calendars" not in emu.request_counts()
    assert (gate.held, gate.hits, gate.released) == (2, 2, False)
    emu.release_fault(gate.fault_id)
    async with asyncio.timeout(WAIT):
        assert await asyncio.gather(*parked) == [200, 200]
    assert (gate.held, gate.released) == (0, True)
    # A released gate stays open: later requests are not parked.
    assert await _get(http, emu, account, "/v1/calendars") == 200
    assert gate.hits == 2
    assert emu.request_counts()["GET /v1/calendars"] == 3


async def test_the_control_api_reports_waits_for_and_releases_held_requests(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, control: EmulatorControl
) -> None:
    rule = await control.add_fault(endpoint="/v1/calendars", hold=True)
    assert (rule["hold"], rule["held"], rule["released"]) == (True, 0, False)
    parked = asyncio.create_task(_get(http, emu, account, "/v1/calendars"))
    waited = await control.wait_held(rule["fault_id"], 1)
    assert waited["held"] == 1
    (listed,) = await control.faults()
    assert (listed["held"], listed["hits"]) == (1, 1)
    assert not parked.done()
    # Two are never parked here: the wait answers 408 once its timeout is over.
    with pytest.raises(TimeoutError):
        await control.wait_held(rule["fault_id"], 2, seconds=0.01)
    released = await control.release_fault(rule["fault_id"])
    assert released["released"] is True
    async with asyncio.timeout(WAIT):
        assert await parked == 200
    assert (await control.faults())[0]["held"] == 0


async def test_hold_settings_are_checked_and_unknown_gates_are_404(
    control: EmulatorControl,
) -> None:
    with pytest.raises(EmulatorControlError) as caught:
        await control.add_fault(endpoint="*", hold="yes")
    assert caught.value.status == 422
    for call in (control.release_fault("flt_missing"), control.wait_held("flt_missing")):
        with pytest.raises(EmulatorControlError) as caught:
            await call
        assert caught.value.status == 404


async def test_removing_or_clearing_a_hold_releases_what_it_parks(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession, control: EmulatorControl
) -> None:
    first = await control.add_fault(endpoint="GET /v1/calendars", hold=True)
    parked = asyncio.create_task(_get(http, emu, account, "/v1/calendars"))
    await control.wait_held(first["fault_id"])
    await control.remove_fault(first["fault_id"])
    async with asyncio.timeout(WAIT):
        assert await parked == 200

    second = await control.add_fault(endpoint="GET /v1/calendars", hold=True)
    parked = asyncio.create_task(_get(http, emu, account, "/v1/calendars"))
    await control.wait_held(second["fault_id"])
    await control.clear_faults()
    async with asyncio.timeout(WAIT):
        assert await parked == 200


async def test_waiting_on_a_gate_that_is_removed_raises(emu: Emulator) -> None:
    gate = emu.add_fault(endpoint="GET /v1/calendars", hold=True)
    waiting = asyncio.create_task(emu.wait_held(gate.fault_id))
    await asyncio.sleep(0)  # one turn of the loop (no timing): the waiter is now waiting
    emu.faults.remove(gate.fault_id)
    async with asyncio.timeout(WAIT):
        with pytest.raises(KeyError):
            await waiting


async def test_stopping_the_emulator_releases_held_requests(
    http: aiohttp.ClientSession,
) -> None:
    emu = Emulator(**FAST)  # type: ignore[arg-type]
    await emu.start()
    try:
        account = await emu.create_account()
        gate = emu.add_fault(endpoint="GET /v1/calendars", hold=True)
        parked = asyncio.create_task(_get(http, emu, account, "/v1/calendars"))
        async with asyncio.timeout(WAIT):
            await emu.wait_held(gate.fault_id)
    finally:
        async with asyncio.timeout(WAIT):
            await emu.stop()  # would wait for the parked handler without the release
    assert gate.released
    async with asyncio.timeout(WAIT):
        assert await parked == 200
