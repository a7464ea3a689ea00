"""End to end over real HTTP: emulator → signed notifications → webhook → coordinator → periods.

Every scenario the sync engine must handle, against the emulator on 127.0.0.1. Counts (event
reads, retries, API calls) are asserted; wall-clock time never is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from cronofy_avail.core.mapping import HASHED_ID_PREFIX, period_id_for
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.emulator.faults import FaultRule
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import MemoryStore, SQLiteStore, UserState
from cronofy_avail.runtime.sync import SyncEngine
from tests.support.playground import TODAY, add, at, iso
from tests.support.wait import until

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, max_elapsed=5.0)


@pytest.fixture
async def pg() -> AsyncIterator[Playground]:
    async with Playground.running(
        emulator_settings={"page_size": 2}, retry=FAST, tzid="Europe/Paris"
    ) as playground:
        yield playground


async def period_map(pg: Playground) -> dict[str, tuple[datetime, datetime]]:
    return {
        p.available_period_id: (p.start, p.end)  # type: ignore[misc]
        for p in await pg.periods()
    }


async def test_create_move_delete_all_day_recurring_and_long_uid_converge(
    pg: Playground,
) -> None:
    timed = add(pg, at(1, 9), at(1, 11))
    moved = add(pg, at(2, 9), at(2, 10))
    doomed = add(pg, at(3, 9), at(3, 10))
    day = (TODAY + timedelta(days=4)).date()
    all_day = add(pg, day.isoformat(), (day + timedelta(days=1)).isoformat())
    series = pg.emulator.add_events(
        pg.calendar_id,
        {
            "summary": "Weekly office hours",
            "start": iso(at(5, 14)),
            "end": iso(at(5, 15)),
            "recurrence": {"frequency": "weekly", "count": 3},
        },
    )
    long_uid = "evt_external_" + "9" * 80
    add(pg, at(6, 9), at(6, 12), event_uid=long_uid)
    await pg.settle()

    pg.emulator.update_event(moved, start=iso(at(2, 13)), end=iso(at(2, 15)))
    pg.emulator.delete_event(doomed)
    await pg.settle()

    periods = await period_map(pg)
    # The all-day event covers the day in the user's zone: from Paris midnight to the next
    # Paris midnight, 23 or 25 hours apart across a daylight-saving change.
    paris = ZoneInfo("Europe/Paris")
    expected = {
        timed: (at(1, 9), at(1, 11)),
        moved: (at(2, 13), at(2, 15)),
        all_day: (
            datetime.combine(day, time(0), tzinfo=paris).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=paris).astimezone(UTC),
        ),
        period_id_for(long_uid): (at(6, 9), at(6, 12)),
    }
    for week, occurrence in enumerate(series):
        start = at(5 + 7 * week, 14)
        expected[occurrence["event_uid"]] = (start, start + timedelta(hours=1))
    assert periods == expected
    assert period_id_for(long_uid).startswith(HASHED_ID_PREFIX)
    user = await pg.user()
    assert user.state == UserState.IDLE
    assert set(await pg.store.get_periods(pg.user_id)) == {
        timed,
        moved,
        all_day,
        long_uid,
        *(o["event_uid"] for o in series),
    }


async def test_cancelled_and_declined_events_make_no_period(pg: Playground) -> None:
    keep = add(pg, at(1, 9), at(1, 10))
    add(pg, at(1, 11), at(1, 12), status="cancelled")
    add(pg, at(1, 13), at(1, 14), participation_status="declined")
    await pg.settle()
    assert set(await period_map(pg)) == {keep}


class HeldStore(MemoryStore):
    """A real in-memory store that, once armed, holds the next sync in its planning step
    (``get_claims`` is read only there) until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def get_claims(self, user_id: str) -> dict[str, str | None]:
        gate, self.gate = self.gate, None
        if gate is not None:
            self.entered.set()
            await gate.wait()
        return await super().get_claims(user_id)


async def test_many_notifications_during_a_sync_give_at_most_two_reads() -> None:
    store = HeldStore()
    async with Playground.running(
        store=store, emulator_settings={"page_size": 2}, retry=FAST, tzid="Europe/Paris"
    ) as pg:
        user = await pg.user()
        pg.emulator.clear_request_log()
        body = json.dumps(
            {
                "notification": {"type": "change", "changes_since": iso(datetime.now(UTC))},
                "channel": {"channel_id": pg.channel_id},
            }
        ).encode()
        headers = {SIGNATURE_HEADER: sign(body, pg.emulator.client_secret)}
        url = f"{pg.webhook_url}/notifications/{user.callback_key}"
        release = asyncio.Event()
        store.gate = release
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 202
            # The first sync is now running and held: every other notification lands in it.
            async with asyncio.timeout(10):
                await store.entered.wait()
            for _ in range(9):
                async with session.post(url, data=body, headers=headers) as resp:
                    assert resp.status == 202
        release.set()
        await pg.settle()
        reads = pg.emulator.request_counts().get("GET /v1/events", 0)
        # The held sync, then exactly one follow-up for the nine that arrived meanwhile.
        assert reads == 2
        assert pg.coordinator.stats.syncs[pg.user_id] == 3  # the onboarding reconcile + 2


async def test_duplicate_delivery_is_idempotent(pg: Playground) -> None:
    uid = add(pg, at(1, 9), at(1, 10))
    await pg.settle()
    before = await period_map(pg)
    (delivery, *_) = await pg.store.list_deliveries()
    outcome = await pg.server.handle.replay(delivery.delivery_id)
    assert outcome == "accepted"
    await pg.settle()
    assert await period_map(pg) == before
    assert uid in before


async def test_page_two_failure_leaves_watermark_and_next_sync_completes(pg: Playground) -> None:
    await pg.settle()
    syncs = (await pg.user()).counts.get("syncs", 0)
    uids = [add(pg, at(1, h), at(1, h, 30)) for h in range(8, 13)]  # 5 events, pages of 2
    # Page 2 and later fail more often than the client retries: the sync must not apply page 1.
    rule = pg.emulator.add_fault(endpoint="GET /v1/events/pages", error_count=3, error_status=503)
    await pg.settle()
    assert rule.hits == 3
    user = await pg.user()
    # The coordinator's retry completed it (the watermark is Cronofy's clock in whole
    # seconds, so it may not have moved: the count of completed syncs has).
    assert user.counts.get("syncs", 0) > syncs
    assert user.last_result is not None
    assert user.last_result["ok"]
    assert set(uids) <= set(await period_map(pg))
    assert pg.coordinator.stats.retries[pg.user_id] >= 1


async def test_watermark_unmoved_while_pages_keep_failing(pg: Playground) -> None:
    await pg.settle()
    before = await pg.user()
    [add(pg, at(1, h), at(1, h, 30)) for h in range(8, 13)]
    pg.emulator.add_fault(endpoint="GET /v1/events/pages", error_rate=1.0, error_status=503)
    pg.coordinator.retry_delays = ()  # give up after the first failure: visible state
    await pg.settle()
    user = await pg.user()
    assert user.watermark == before.watermark
    assert user.state == UserState.FAILED
    assert user.pending_since is not None  # the intent survives for a later attempt
    assert await period_map(pg) == {}  # page 1 was read but nothing was applied


async def test_rate_limits_and_server_errors_are_ridden_out(pg: Playground) -> None:
    pg.emulator.add_fault(endpoint="POST /v1/batch", rate_limit_count=2, retry_after=0)
    pg.emulator.add_fault(endpoint="GET /v1/events", error_count=2, error_status=502)
    uids = [add(pg, at(2, h), at(2, h, 45)) for h in (9, 11, 13)]
    await pg.settle()
    assert set(await period_map(pg)) == set(uids)
    assert (await pg.user()).state == UserState.IDLE


async def test_token_expiry_mid_flow_refreshes_and_persists(pg: Playground) -> None:
    old = (await pg.user()).credentials
    assert old is not None
    pg.emulator.expire_tokens(pg.account.account_id)
    uid = add(pg, at(1, 9), at(1, 10))
    await pg.settle()
    assert uid in await period_map(pg)
    new = (await pg.user()).credentials
    assert new is not None
    assert new.access_token != old.access_token


async def test_revoked_grant_ends_in_needs_reauth(pg: Playground) -> None:
    pg.emulator.state.revoke_refresh_tokens(pg.account.account_id)
    pg.emulator.expire_tokens(pg.account.account_id)
    add(pg, at(1, 9), at(1, 10))
    await pg.settle()
    user = await pg.user()
    assert user.state == UserState.NEEDS_REAUTH
    assert user.last_error is not None
    assert "authorize" in user.last_error


async def test_reconcile_deletes_only_owned_periods(pg: Playground) -> None:
    keep = add(pg, at(1, 9), at(1, 10))
    gone = add(pg, at(1, 11), at(1, 12))
    await pg.settle()
    # Someone else's period on the same account, and an owned one whose event vanished
    # without a notification (Cronofy does not notify events sliding out of the window).
    await pg.client.upsert_available_period("someone-elses", at(3, 9), at(3, 10))
    pg.emulator.state.accounts[pg.account.account_id].events.pop(gone)
    result = await pg.coordinator.sync_now(pg.user_id, full=True)
    assert result.ok
    assert result.kind == "full"
    assert set(await period_map(pg)) == {keep, "someone-elses"}


async def test_dry_run_plans_without_writing(pg: Playground) -> None:
    uid = add(pg, at(1, 9), at(1, 10))
    await pg.emulator.wait_notifications()
    await pg.coordinator.wait_idle()
    await pg.client.delete_available_period(uid)
    before = pg.emulator.request_counts().get("POST /v1/batch", 0)
    result = await pg.coordinator.sync_now(pg.user_id, full=True, dry_run=True)
    assert result.dry_run
    assert result.plan is not None
    assert [a.period_id for a in result.plan.upserts] == [uid]
    assert "upsert" in result.plan.explain()
    assert pg.emulator.request_counts().get("POST /v1/batch", 0) == before
    assert uid not in await period_map(pg)


async def test_batch_unavailable_falls_back_to_single_calls(pg: Playground) -> None:
    pg.emulator.add_fault(endpoint="POST /v1/batch", error_rate=1.0, error_status=404)
    uids = [add(pg, at(1, h), at(1, h, 30)) for h in (9, 10)]
    await pg.settle()
    assert set(await period_map(pg)) == set(uids)
    assert pg.emulator.request_counts().get("POST /v1/available_periods", 0) >= 2


async def test_restart_after_crash_between_ack_and_sync_converges(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = await SQLiteStore.open(db)
    async with Playground.running(store=store, retry=FAST) as pg:
        # Simulate the crash: the webhook records the intent and answers 202, then the
        # process dies before the sync runs (here: the coordinator is stopped first).
        await pg.coordinator.stop()
        uid = add(pg, at(1, 9), at(1, 10))
        await pg.emulator.wait_notifications()
        assert uid not in await period_map(pg)
        pending = await pg.user()
        assert pending.pending_since is not None
        await store.close()

        # The process comes back with the same database file.
        store2 = await SQLiteStore.open(db)
        clients = UserClients(
            store2,
            client_id=pg.emulator.client_id,
            client_secret=pg.emulator.client_secret,
            api_base_url=pg.emulator.base_url,
            session=pg.session,
            retry=FAST,
        )
        coordinator = SyncCoordinator(
            store2, SyncEngine(store2), clients.for_user, schedule_every=None
        )
        await coordinator.start()
        async with asyncio.timeout(10):
            await coordinator.wait_idle()
        assert uid in await period_map(pg)
        user = await store2.get_user(pg.user_id)
        assert user is not None
        assert user.pending_since is None
        await coordinator.stop()
        await store2.close()


async def test_no_secret_in_any_log_record_or_status(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Playground.running(retry=FAST) as pg:
        pg.emulator.expire_tokens(pg.account.account_id)
        pg.emulator.add_fault(endpoint="POST /v1/batch", rate_limit_count=1, retry_after=0)
        add(pg, at(1, 9), at(1, 10))
        await pg.settle()
        user = await pg.user()
        assert user.credentials is not None
        secrets = [
            pg.account.access_token,
            pg.account.refresh_token,
            user.credentials.access_token,
            pg.emulator.client_secret,
        ]
        if user.credentials.refresh_token:
            secrets.append(user.credentials.refresh_token)
        status = json.dumps(await pg.server.handle.status())
        diagnostics = json.dumps(await pg.server.handle.async_get_diagnostics())
        deliveries = [d.body + json.dumps(d.headers) for d in await pg.store.list_deliveries()]
    assert caplog.records
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in text
        assert secret not in status
        assert secret not in diagnostics
        assert all(secret not in d for d in deliveries)


async def test_token_expiring_in_the_middle_of_a_sync(pg: Playground) -> None:
    old = (await pg.user()).credentials
    assert old is not None
    slow = pg.emulator.add_fault(endpoint="GET /v1/events", latency_ms=200)
    uid = add(pg, at(1, 9), at(1, 10))
    # The read has reached the emulator with the old token and waits there (latency comes
    # before authentication): expiring now makes that very request answer 401.
    await until(lambda: slow.hits > 0)
    pg.emulator.expire_tokens(pg.account.account_id)
    await pg.settle()
    assert pg.emulator.request_counts()["POST /oauth/token"] == 1  # the sync renewed once
    user = await pg.user()
    assert user.state == UserState.IDLE
    assert user.credentials is not None
    assert user.credentials.access_token != old.access_token
    assert uid in await period_map(pg)


async def test_graceful_shutdown_lets_a_running_sync_finish(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    async with Playground.running(store=store, retry=FAST) as pg:
        pg.emulator.add_fault(endpoint="GET /v1/events", latency_ms=200)
        uid = add(pg, at(1, 9), at(1, 10))
        await until(lambda: pg.coordinator.is_syncing(pg.user_id))
        await pg.server.stop()  # stops accepting, waits for the running sync
        assert not pg.coordinator.is_busy(pg.user_id)
        assert uid in await period_map(pg)
        user = await pg.user()
        assert user.pending_since is None
    await store.close()


async def test_users_are_served_in_turn_and_a_busy_user_cannot_starve_others() -> None:
    from cronofy_avail.runtime.steps import onboard_user

    async with Playground.running(retry=FAST, max_concurrent=1) as pg:
        for name in ("b", "c"):
            account = await pg.emulator.create_account(tzid="Europe/London")
            async with pg.emulator.client(account, session=pg.session) as client:
                await onboard_user(pg.store, client, user_id=name, public_base_url=pg.webhook_url)
            pg.coordinator.request(name, full=True)
        await pg.settle()
        order: list[str] = []
        pg.coordinator.add_listener(lambda user_id, result: order.append(user_id))
        pg.emulator.add_fault(endpoint="GET /v1/events", latency_ms=60)
        pg.coordinator.request(pg.user_id)
        await until(lambda: pg.coordinator.is_syncing(pg.user_id))
        for _ in range(5):
            pg.coordinator.request(pg.user_id)  # folds into one follow-up
        pg.coordinator.request("b")
        pg.coordinator.request("c")
        await pg.settle()
        assert order == [pg.user_id, "b", "c", pg.user_id]


async def _post_notification(pg: Playground, kind: str, **extra: Any) -> None:
    user = await pg.user()
    note: dict[str, Any] = {"type": kind, **extra}
    body = json.dumps({"notification": note, "channel": {"channel_id": pg.channel_id}}).encode()
    headers = {SIGNATURE_HEADER: sign(body, pg.emulator.client_secret)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{pg.webhook_url}/notifications/{user.callback_key}", data=body, headers=headers
        ) as resp,
    ):
        assert resp.status == 202


def _hold_reads(pg: Playground) -> FaultRule:
    """A gate on ``GET /v1/events``: the next sync is parked in its read until released."""
    return pg.emulator.add_fault(endpoint="GET /v1/events", hold=True)


async def _parked(pg: Playground, gate: FaultRule) -> None:
    """Wait until a sync is parked at ``gate``: it is in flight, and stays so."""
    async with asyncio.timeout(10):
        await pg.emulator.wait_held(gate.fault_id)
    assert pg.coordinator.is_syncing(pg.user_id)


async def test_disconnect_during_a_sync_is_not_undone_by_its_commit(pg: Playground) -> None:
    gate = _hold_reads(pg)
    add(pg, at(1, 9), at(1, 10))  # its notification starts a sync, parked in its read
    await _parked(pg, gate)
    await _post_notification(pg, "profile_disconnected")
    # The race happened: the disconnect is stored while that sync is still reading.
    assert (await pg.user()).state == UserState.DISCONNECTED
    assert pg.coordinator.is_syncing(pg.user_id)
    assert gate.held == 1
    pg.emulator.release_fault(gate.fault_id)
    await pg.settle()
    assert pg.coordinator.stats.syncs[pg.user_id] == 2  # the onboarding reconcile + that one
    user = await pg.user()
    assert user.state == UserState.DISCONNECTED
    assert user.channel_id == pg.channel_id  # fields the sync does not own are intact


async def test_sync_now_and_a_notification_never_run_two_syncs_of_one_user(
    pg: Playground,
) -> None:
    active = peak = 0
    original = pg.engine.sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await original(*args, **kwargs)
        finally:
            active -= 1

    arrived = asyncio.Event()

    async def worker_arrives(user_id: str) -> None:
        # Awaited by the notification's worker right before it asks for the user's turn.
        arrived.set()

    pg.engine.sync = counting  # type: ignore[method-assign]
    pg.coordinator.before_sync = worker_arrives
    gate = _hold_reads(pg)
    manual = asyncio.create_task(pg.coordinator.sync_now(pg.user_id))
    await _parked(pg, gate)
    uid = add(pg, at(1, 9), at(1, 10))  # its notification asks for a sync meanwhile
    async with asyncio.timeout(10):
        await arrived.wait()
    # The race happened: the notification's worker came while sync_now was still reading.
    assert not manual.done()
    assert gate.held == 1
    pg.emulator.release_fault(gate.fault_id)
    await manual
    await pg.settle()
    assert peak == 1
    assert pg.coordinator.stats.syncs[pg.user_id] == 3  # onboarding, sync_now, the follow-up
    assert uid in await period_map(pg)


async def test_reonboarding_recovers_a_disconnected_user(pg: Playground) -> None:
    await _post_notification(pg, "profile_disconnected")
    assert (await pg.user()).state == UserState.DISCONNECTED
    uid = add(pg, at(1, 9), at(1, 10))
    await pg.settle()
    assert uid not in await period_map(pg)  # not synced while disconnected
    await pg.onboard()  # setup run again once the profile is relinked
    assert (await pg.user()).state == UserState.IDLE
    assert uid in await period_map(pg)


async def test_initial_sync_completed_clears_disconnected(pg: Playground) -> None:
    await _post_notification(pg, "profile_disconnected")
    uid = add(pg, at(1, 9), at(1, 10))
    await pg.settle()
    await _post_notification(pg, "profile_initial_sync_completed")
    await pg.settle()
    assert (await pg.user()).state == UserState.IDLE
    assert uid in await period_map(pg)


async def test_a_delivery_is_credited_only_to_a_sync_that_covered_it(pg: Playground) -> None:
    gate = _hold_reads(pg)
    first = add(pg, at(1, 9), at(1, 10))
    await _parked(pg, gate)  # the first sync is reading
    second = add(pg, at(1, 11), at(1, 12))
    await pg.emulator.wait_notifications()
    deliveries = [d for d in await pg.store.list_deliveries() if d.notification_type == "change"]
    newest = deliveries[0]
    # The race happened: the second delivery was received while the first sync was reading.
    assert len(deliveries) == 2
    assert newest.sync_result is None
    assert pg.coordinator.is_syncing(pg.user_id)
    assert gate.held == 1
    pg.emulator.release_fault(gate.fault_id)
    await pg.settle()
    deliveries = [d for d in await pg.store.list_deliveries() if d.notification_type == "change"]
    assert deliveries[0].delivery_id == newest.delivery_id
    newest = deliveries[0]
    assert newest.sync_result is not None
    assert newest.outcome == "synced"
    # The sync credited to the newest delivery started after it arrived and wrote its event.
    assert datetime.fromisoformat(newest.sync_result["started_at"]) >= newest.received_at
    assert {first, second} <= set(await period_map(pg))
