"""Push notifications: verification, debounced change, signatures, retries, closure."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp
import pytest

from cronofy_avail.core.models import UpsertEventRequest, parse_time
from cronofy_avail.core.signatures import is_valid, verify, verify_notification
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import FAST, WAIT, FakeClock, Receiver


async def settle(emu: Emulator) -> None:
    async with asyncio.timeout(WAIT):
        await emu.wait_notifications()


@pytest.mark.parametrize("own_changes_count", [True, False])
async def test_verification_then_change(receiver: Receiver, own_changes_count: bool) -> None:
    async with Emulator(**(FAST | {"own_changes_count": own_changes_count})) as emu:  # type: ignore[arg-type]
        account = await emu.create_account()
        acc = await emu.create_account(calendars=["Availability"])
        primary, sub = acc.calendar_ids
        async with emu.client(acc) as client:
            channel = await client.create_channel(receiver.url, calendar_ids=[sub])
            await settle(emu)
            (verification,) = receiver.received
            envelope = verify_notification(
                verification.body, verification.headers, emu.client_secret
            )
            assert envelope.type == "verification"
            assert envelope.changes_since is None
            assert envelope.channel is not None
            assert envelope.channel.channel_id == channel.channel_id
            assert envelope.channel.filters.calendar_ids == [sub]
            assert verification.headers["Content-Type"] == "application/json; charset=utf-8"
            # A change in another calendar is not notified.
            emu.add_event(primary, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
            await settle(emu)
            assert len(receiver.received) == 1
            # A change the application makes is notified by default (the channel filter
            # only_managed exists to receive exactly those); not under the old house rule.
            await client.upsert_event(
                sub,
                UpsertEventRequest(
                    event_id="app",
                    summary="app",
                    start=parse_time("2026-11-25T09:00:00Z"),
                    end=parse_time("2026-11-25T10:00:00Z"),
                ),
            )
            await settle(emu)
            assert len(receiver.received) == (2 if own_changes_count else 1)
            emu.add_event(sub, start="2026-11-25T11:00:00Z", end="2026-11-25T12:00:00Z")
            await settle(emu)
        types = [json.loads(r.body)["notification"]["type"] for r in receiver.received]
        assert types == ["verification", "change", "change"][: 3 if own_changes_count else 2]
        # The first account's channel-less calendar produced nothing for it either.
        assert emu.state.accounts[account.account_id].channels == {}


async def test_changes_are_debounced_with_earliest_changes_since(
    clock: FakeClock, receiver: Receiver
) -> None:
    async with Emulator(clock=clock, **(FAST | {"debounce": 0.2})) as emu:  # type: ignore[arg-type]
        acc = await emu.create_account()
        async with emu.client(acc) as client:
            await client.create_channel(receiver.url)
        await settle(emu)
        clock.now = datetime(2026, 11, 24, 9, 0, 5, 750000, tzinfo=UTC)
        first = emu.add_event(
            acc.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z"
        )
        clock.advance(seconds=3)
        emu.update_event(first["event_uid"], summary="edited")
        clock.advance(seconds=3)
        emu.delete_event(first["event_uid"])
        await settle(emu)
        changes = receiver.of_type("change")
        assert len(changes) == 1
        body = json.loads(changes[0].body)
        assert body["notification"] == {"type": "change", "changes_since": "2026-11-24T09:00:05Z"}
        # A later change is a new delivery with its own changes_since.
        clock.advance(seconds=60)
        emu.add_event(acc.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
        await settle(emu)
        changes = receiver.of_type("change")
        assert len(changes) == 2
        assert json.loads(changes[1].body)["notification"]["changes_since"] == (
            "2026-11-24T09:01:11Z"
        )
        # The reading side sees what changed since changes_since.
        async with emu.client(acc) as client:
            events = await client.read_changed_events(
                tzid="Etc/UTC",
                calendar_id=acc.calendar_id,
                changes_since=parse_time("2026-11-24T09:00:05Z"),
            )
        assert len(events) == 2
        assert sorted(e.deleted for e in events) == [False, True]


async def test_signatures_during_secret_rotation(
    emu: Emulator, account: EmulatorAccount, receiver: Receiver
) -> None:
    old = emu.client_secret
    new = emu.rotate_client_secret()
    async with emu.client(account) as client:
        await client.create_channel(receiver.url)
    await settle(emu)
    (delivery,) = receiver.received
    header = delivery.headers["Cronofy-HMAC-SHA256"]
    assert len(header.split(",")) == 2
    verify(delivery.body, header, old)
    verify(delivery.body, header, new)
    assert not is_valid(delivery.body, header, "some-other-secret")
    emu.state.retire_previous_secrets()
    emu.disconnect_profile(account.profile_id)
    await settle(emu)
    latest = receiver.received[-1]
    assert json.loads(latest.body)["notification"]["type"] == "profile_disconnected"
    assert is_valid(latest.body, latest.headers["Cronofy-HMAC-SHA256"], new)
    assert not is_valid(latest.body, latest.headers["Cronofy-HMAC-SHA256"], old)


async def test_retries_until_success(
    emu: Emulator, account: EmulatorAccount, receiver: Receiver
) -> None:
    receiver.script = [500, 503, 404]
    async with emu.client(account) as client:
        channel = await client.create_channel(receiver.url)
    await settle(emu)
    assert len(receiver.received) == 4
    record = emu.state.channel(channel.channel_id)
    assert [(d.attempt, d.status, d.ok) for d in record.deliveries] == [
        (1, 500, False),
        (2, 503, False),
        (3, 404, False),
        (4, 200, True),
    ]
    assert record.active


async def test_timeout_counts_as_failure(
    emu: Emulator, account: EmulatorAccount, receiver: Receiver
) -> None:
    emu.notifier.delivery_timeout = 0.05
    receiver.delays = [0.3]
    async with emu.client(account) as client:
        channel = await client.create_channel(receiver.url)
    await settle(emu)
    record = emu.state.channel(channel.channel_id)
    assert [(d.error, d.ok) for d in record.deliveries] == [("timeout", False), (None, True)]


async def test_channel_closed_after_failure_window(
    emu: Emulator, account: EmulatorAccount, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.status = 500
    emu.notifier.failure_window = 0.05
    emu.notifier.retry_initial_delay = 0.02
    emu.notifier.retry_max_delay = 0.02
    async with emu.client(account) as client:
        channel = await client.create_channel(receiver.url)
        await settle(emu)
        record = emu.state.channel(channel.channel_id)
        assert not record.active
        assert record.closed_reason == "delivery failed for longer than the failure window"
        attempts = len(record.deliveries)
        assert attempts >= 2
        assert attempts == len(receiver.received)
        assert all(not d.ok for d in record.deliveries)
        assert await client.list_channels() == []
        # Closed: no more deliveries for later changes.
        emu.add_event(account.calendar_id, start="2026-11-25T09:00:00Z", end="2026-11-25T10:00:00Z")
        await settle(emu)
        assert len(receiver.received) == attempts
    async with http.get(f"{emu.base_url}/_emulator/channels/{channel.channel_id}") as r:
        view = await r.json()
    assert view["active"] is False
    assert len(view["deliveries"]) == attempts


async def test_stop_cancels_pending_deliveries(receiver: Receiver) -> None:
    receiver.status = 500
    emu = Emulator(**(FAST | {"retry_initial_delay": 30.0, "retry_max_delay": 30.0}))  # type: ignore[arg-type]
    await emu.start()
    acc = await emu.create_account()
    async with emu.client(acc) as client:
        await client.create_channel(receiver.url)
    await receiver.wait_for(lambda: len(receiver.received) == 1)
    assert emu.notifier.pending_tasks == 1  # waiting 30 s to retry
    await emu.stop()
    assert emu.notifier.pending_tasks == 0


async def test_profile_disconnected(
    emu: Emulator, account: EmulatorAccount, receiver: Receiver
) -> None:
    async with emu.client(account) as client:
        await client.create_channel(receiver.url)
        await settle(emu)
        emu.disconnect_profile(account.profile_id)
        await settle(emu)
        assert [json.loads(r.body)["notification"]["type"] for r in receiver.received] == [
            "verification",
            "profile_disconnected",
        ]
        (profile,) = await client.list_profiles()
        assert profile.profile_connected is False
        assert profile.profile_relink_url is not None
        async with aiohttp.ClientSession() as http, http.get(profile.profile_relink_url) as r:
            assert r.status == 200
        (profile,) = await client.list_profiles()
        assert profile.profile_connected is True
