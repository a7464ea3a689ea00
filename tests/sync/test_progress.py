"""A running sync reports its progress: pages of events read, then writes applied, then done
(issue 23: step 3's progress bar). Against the emulator over real HTTP, on a fixed clock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.coordinator import SyncCoordinator
from cronofy_avail.runtime.progress import SyncProgress
from cronofy_avail.runtime.store import MemoryStore, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine
from tests.support.clock import SetClock, iso

PAGE = 10
EVENTS = 60  # six pages of events; two batch calls (50 + 10), or 60 single calls
NOW = datetime(2031, 3, 5, 9, 0, tzinfo=UTC)  # an injected clock: any day will do


@dataclass
class World:
    emulator: Emulator
    clock: SetClock
    coordinator: SyncCoordinator
    store: MemoryStore
    calendar_id: str
    seen: list[SyncProgress] = field(default_factory=list)

    def add(self, count: int, *, offset: int = 0) -> list[str]:
        first = self.clock.now + timedelta(days=1)
        uids = []
        for i in range(offset, offset + count):
            start = first + timedelta(minutes=30 * i)
            event = self.emulator.add_event(
                self.calendar_id, start=iso(start), end=iso(start + timedelta(minutes=15))
            )
            uids.append(str(event["event_uid"]))
        return uids

    def reads(self) -> int:
        """Pages of events the emulator answered: the first, and each ``next_page``."""
        counts = self.emulator.request_counts()
        return counts.get("GET /v1/events", 0) + counts.get("GET /v1/events/pages/{token}", 0)


@asynccontextmanager
async def world(*, use_batch: bool = True) -> AsyncIterator[World]:
    """An emulator paging events by :data:`PAGE`, and a coordinator whose engine shares its
    fixed clock."""
    clock = SetClock(NOW)
    async with Emulator(rate_limit_enabled=False, clock=clock, page_size=PAGE) as emu:
        account = await emu.create_account()
        store = MemoryStore()
        user = UserRecord(user_id="u", calendar_id=account.calendar_id, state=UserState.IDLE)
        await store.save_user(user)
        engine = SyncEngine(store, clock=clock, reconcile_every=None, use_batch=use_batch)
        coordinator = SyncCoordinator(
            store, engine, lambda _: emu.client(account), schedule_every=None
        )
        yield World(emu, clock, coordinator, store, account.calendar_id)
        await coordinator.stop()


def phases(seen: list[SyncProgress]) -> list[str]:
    """The phases in order, each run of one phase written once."""
    runs: list[str] = []
    for report in seen:
        if not runs or runs[-1] != report.phase:
            runs.append(report.phase)
    return runs


@pytest.mark.parametrize("use_batch", [True, False])
async def test_a_full_reconcile_reports_each_page_then_each_write_then_done(
    use_batch: bool,
) -> None:
    async with world(use_batch=use_batch) as w:
        w.add(EVENTS)
        w.coordinator.add_progress_listener(w.seen.append)
        reads_before = w.reads()
        result = await w.coordinator.sync_now("u", full=True)
        assert result.ok
        assert result.upserts == EVENTS
        seen = w.seen
        assert phases(seen) == ["reading", "applying", "done"]
        assert {(r.user_id, r.kind, r.dry_run) for r in seen} == {("u", "full", False)}
        reading = [r for r in seen if r.phase == "reading"]
        pages = EVENTS // PAGE
        assert [r.pages_read for r in reading] == list(range(1, pages + 1))
        assert [r.events_read for r in reading] == [PAGE * n for n in range(1, pages + 1)]
        assert pages == w.reads() - reads_before  # one report per page Cronofy answered
        applying = [r for r in seen if r.phase == "applying"]
        assert {r.writes_planned for r in applying} == {EVENTS}
        # Planning known (nothing applied yet), then one report per write call answered.
        expected = [0, 50, 60] if use_batch else list(range(EVENTS + 1))
        assert [r.writes_applied for r in applying] == expected
        done = seen[-1]
        assert done.phase == "done"
        assert (done.pages_read, done.events_read) == (pages, EVENTS)
        assert done.writes_applied == done.writes_planned == done.writes_done == EVENTS
        assert done.writes_rejected == 0
        assert len(await w.store.get_periods("u")) == EVENTS


async def test_dry_runs_and_incremental_syncs_report_too() -> None:
    async with world() as w:
        w.add(25)
        w.clock.now += timedelta(seconds=10)  # the reconcile reads after they were made
        w.coordinator.add_progress_listener(w.seen.append)
        dry = await w.coordinator.sync_now("u", full=True, dry_run=True)
        assert dry.ok
        # A dry run reads and plans, and applies nothing: no "applying".
        assert phases(w.seen) == ["reading", "done"]
        assert [r.pages_read for r in w.seen] == [1, 2, 3, 3]
        assert w.seen[-1] == SyncProgress(
            "u", "full", "done", pages_read=3, events_read=25, writes_planned=25, dry_run=True
        )
        assert await w.store.get_periods("u") == {}

        assert (await w.coordinator.sync_now("u", full=True)).ok
        w.clock.now += timedelta(minutes=10)
        w.add(12, offset=25)  # two pages of changes
        w.clock.now += timedelta(seconds=5)
        w.seen.clear()
        incremental = await w.coordinator.sync_now("u")
        assert incremental.ok
        assert incremental.kind == "incremental"
        assert phases(w.seen) == ["reading", "applying", "done"]
        assert {r.kind for r in w.seen} == {"incremental"}
        assert [r.pages_read for r in w.seen if r.phase == "reading"] == [1, 2]
        done = w.seen[-1]
        assert (done.events_read, done.writes_planned, done.writes_applied) == (12, 12, 12)


async def test_counts_start_again_when_batch_is_unavailable_and_single_calls_take_over() -> None:
    async with world() as w:
        w.add(30)
        w.emulator.add_fault(endpoint="POST /v1/batch", error_count=1, error_status=404)
        w.coordinator.add_progress_listener(w.seen.append)
        assert (await w.coordinator.sync_now("u", full=True)).ok
        applied = [r.writes_applied for r in w.seen if r.phase == "applying"]
        assert applied == list(range(31))  # nothing counted for the refused batch call
        assert w.seen[-1].writes_applied == 30


async def test_a_sync_that_fails_while_writing_still_ends_with_done() -> None:
    async with world(use_batch=False) as w:
        w.add(5)
        w.emulator.add_fault(endpoint="POST /v1/available_periods", error_count=1, error_status=423)
        w.coordinator.add_progress_listener(w.seen.append)
        result = await w.coordinator.sync_now("u", full=True)
        assert not result.ok
        assert w.seen[-1].phase == "done"
        assert (w.seen[-1].writes_planned, w.seen[-1].writes_applied) == (5, 0)


async def test_a_raising_listener_fails_no_sync_and_other_listeners_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def broken(_: SyncProgress) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the view is gone")

    async with world() as w:
        w.add(EVENTS)
        w.coordinator.add_progress_listener(broken)
        w.coordinator.add_progress_listener(w.seen.append)
        with caplog.at_level(logging.DEBUG, logger="cronofy_avail.runtime.coordinator"):
            result = await w.coordinator.sync_now("u", full=True)
        assert result.ok
        assert len(await w.store.get_periods("u")) == EVENTS
        assert calls == len(w.seen) > 2
        assert w.seen[-1].phase == "done"
        failures = [r for r in caplog.records if "progress listener failed" in r.getMessage()]
        assert len(failures) == calls
        # Its first failure is shown with the traceback; the rest are kept out of the way.
        assert [r.levelno for r in failures] == [logging.ERROR] + [logging.DEBUG] * (calls - 1)
        assert all(r.exc_info is not None for r in failures)


async def test_a_removed_listener_is_not_called_again() -> None:
    async with world() as w:
        w.add(15)
        remove = w.coordinator.add_progress_listener(w.seen.append)
        assert (await w.coordinator.sync_now("u", full=True)).ok
        heard = len(w.seen)
        assert heard > 0
        remove()
        remove()  # harmless twice
        w.clock.now += timedelta(minutes=10)
        w.add(3, offset=15)
        assert (await w.coordinator.sync_now("u", full=True)).ok
        assert len(w.seen) == heard


async def test_the_engine_reports_to_a_callback_given_to_one_sync() -> None:
    """Without a coordinator: ``SyncEngine.sync(..., progress=...)``; what it raises is
    ignored too."""
    async with world() as w:
        w.add(12)
        user = await w.store.get_user("u")
        assert user is not None
        seen: list[SyncProgress] = []

        def record(report: SyncProgress) -> None:
            seen.append(report)
            raise ValueError("ignored")

        account_client = w.coordinator.client_factory(user)
        async with account_client as client:
            result = await w.coordinator.engine.sync(user, client, full=True, progress=record)
        assert result.ok
        assert [r.pages_read for r in seen if r.phase == "reading"] == [1, 2]
        assert seen[-1].phase == "done"
        assert seen[-1].writes_applied == 12
