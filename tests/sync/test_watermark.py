"""The incremental watermark is Cronofy's clock, not this machine's.

Cronofy's ``last_modified`` compares against Cronofy's clock, so the next read starts from
the ``Date`` Cronofy answered the last read with, less a small overlap: a change right after
a burst reads the change, not the burst again. Counted, not timed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.retry import parse_http_date
from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from cronofy_avail.runtime.sync import SyncEngine
from tests.support.clock import SetClock, iso


@dataclass
class World:
    emulator: Emulator
    cronofy: SetClock
    ours: SetClock
    engine: SyncEngine
    store: MemoryStore
    client: CronofyClient
    calendar_id: str

    async def user(self) -> UserRecord:
        user = await self.store.get_user("u")
        assert user is not None
        return user

    def add(self, hours: int) -> str:
        start = self.cronofy.now.replace(minute=0, second=0) + timedelta(days=1, hours=hours)
        event = self.emulator.add_event(
            self.calendar_id, start=iso(start), end=iso(start + timedelta(minutes=30))
        )
        return str(event["event_uid"])


class Ticks:
    """A monotonic clock that moves 0.1 s a reading: every request's round trip is 0.1 s,
    whatever the machine is doing."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


ROUND_TRIP = timedelta(seconds=0.1)


@asynccontextmanager
async def world(
    *, skew: timedelta, overlap: timedelta = timedelta(seconds=2), real_time: bool = False
) -> AsyncIterator[World]:
    """An emulator on Cronofy's clock and an engine on ours, ``skew`` apart. Round trips take
    :data:`ROUND_TRIP` unless ``real_time``."""
    cronofy = SetClock(datetime(2026, 12, 2, 9, 0, 0, 400_000, tzinfo=UTC))
    ours = SetClock(cronofy.now + skew)
    async with Emulator(rate_limit_enabled=False, clock=cronofy, page_size=10) as emu:
        account = await emu.create_account()
        store = MemoryStore()
        user = UserRecord(user_id="u", calendar_id=account.calendar_id, state=UserState.IDLE)
        user.credentials = StoredCredentials(account.access_token, account.refresh_token)
        await store.save_user(user)
        engine = SyncEngine(store, clock=ours, reconcile_every=None, served_overlap=overlap)
        async with emu.client(account, **({} if real_time else {"monotonic": Ticks()})) as client:
            yield World(emu, cronofy, ours, engine, store, client, account.calendar_id)


def test_http_dates_parse_to_utc_and_junk_to_none() -> None:
    assert parse_http_date("Wed, 02 Dec 2026 09:00:05 GMT") == datetime(
        2026, 12, 2, 9, 0, 5, tzinfo=UTC
    )
    assert parse_http_date("Wed, 02 Dec 2026 10:00:05 +0100") == datetime(
        2026, 12, 2, 9, 0, 5, tzinfo=UTC
    )
    assert parse_http_date("Wed, 02 Dec 2026 09:00:05 -0000") == datetime(
        2026, 12, 2, 9, 0, 5, tzinfo=UTC
    )
    for junk in (None, "", "   ", "yesterday", "Wed, 99 Foo 2026"):
        assert parse_http_date(junk) is None


def test_served_at_is_the_date_less_the_round_trip() -> None:
    from cronofy_avail.client.api import _served_at

    date = "Wed, 02 Dec 2026 09:00:05 GMT"
    assert _served_at(date, 2.5) == datetime(2026, 12, 2, 9, 0, 2, 500_000, tzinfo=UTC)
    assert _served_at(date, 0.0) == datetime(2026, 12, 2, 9, 0, 5, tzinfo=UTC)
    assert _served_at(None, 0.1) is None
    assert _served_at("not a date", 0.1) is None


async def test_a_slow_answer_moves_the_watermark_back_by_its_round_trip() -> None:
    """Cronofy may read at any moment between our request and its ``Date``: a change made
    while a slow answer was on its way must be read next time."""
    async with world(skew=timedelta(0), real_time=True) as w:
        w.emulator.add_fault(endpoint="GET /v1/events", latency_ms=300)
        full = await w.engine.sync(await w.user(), w.client, full=True)
        assert full.ok
        date = w.cronofy.now.replace(microsecond=0)  # the emulator's clock stood still
        assert full.served_at is not None
        assert full.served_at <= date - timedelta(seconds=0.3)


def test_without_a_date_the_watermark_falls_back_to_our_clock_and_a_generous_overlap() -> None:
    engine = SyncEngine(MemoryStore())
    started = datetime(2026, 12, 2, 9, tzinfo=UTC)
    served = datetime(2026, 12, 2, 8, 30, 7, tzinfo=UTC)
    assert engine.next_watermark(served, started) == served - timedelta(seconds=2)
    assert engine.next_watermark(None, started) == started - timedelta(minutes=2)


async def test_the_watermark_is_cronofys_clock_whatever_ours_says() -> None:
    # Our clock is an hour ahead: a watermark from it would skip every change of that hour.
    async with world(skew=timedelta(hours=1)) as w:
        w.add(0)
        w.cronofy.now += timedelta(seconds=10)
        w.ours.now += timedelta(seconds=10)
        full = await w.engine.sync(await w.user(), w.client, full=True)
        assert full.ok
        # The Date (whole seconds) less the round trip: Cronofy read after we asked.
        assert full.served_at == w.cronofy.now.replace(microsecond=0) - ROUND_TRIP
        user = await w.user()
        assert user.watermark == full.served_at - timedelta(seconds=2)
        w.cronofy.now += timedelta(minutes=5)
        w.ours.now += timedelta(minutes=5)
        uid = w.add(1)
        result = await w.engine.sync(await w.user(), w.client)
        assert result.ok
        assert result.kind == "incremental"
        assert result.since == user.watermark
        assert result.upserts == 1
        assert result.events_read == 1
        assert uid in {p.event_uid for p in (await w.store.get_periods("u")).values()}


async def test_a_change_right_after_a_burst_reads_the_change_not_the_burst() -> None:
    async with world(skew=timedelta(0)) as w:
        await w.engine.sync(await w.user(), w.client, full=True)
        w.cronofy.now += timedelta(minutes=10)
        w.ours.now += timedelta(minutes=10)
        burst = [w.add(i) for i in range(40)]  # 4 pages of 10
        # Notified and synced a few seconds later, as a debounced notification is.
        w.cronofy.now += timedelta(seconds=5)
        w.ours.now += timedelta(seconds=5)
        synced = await w.engine.sync(await w.user(), w.client)
        assert synced.ok
        assert synced.events_read == 40
        w.cronofy.now += timedelta(seconds=20)
        w.ours.now += timedelta(seconds=20)
        moved = w.cronofy.now.replace(minute=0, second=0) + timedelta(days=2)
        w.emulator.update_event(burst[0], start=iso(moved), end=iso(moved + timedelta(minutes=45)))
        w.cronofy.now += timedelta(seconds=1)
        w.ours.now += timedelta(seconds=1)
        after = await w.engine.sync(await w.user(), w.client)
        assert after.ok
        assert after.kind == "incremental"
        assert after.events_read == 1
        assert after.api_calls == 2  # one page read, one batch write


@pytest.mark.parametrize(("overlap", "read"), [(timedelta(seconds=2), True), (timedelta(0), False)])
async def test_a_change_stamped_just_before_a_read_but_not_in_it_is_read_next_time(
    overlap: timedelta, read: bool
) -> None:
    """What the overlap is for: a change Cronofy stamped 1.5 s before it answered a read but
    that the read did not return (committed late). With the 2-second overlap the next read
    returns it; without one (the control) it would be lost until the daily reconcile."""
    async with world(skew=timedelta(0), overlap=overlap) as w:
        w.cronofy.now = w.cronofy.now.replace(microsecond=0)
        full = await w.engine.sync(await w.user(), w.client, full=True)
        assert full.ok
        # Stamped 1.5 s before the read, visible only after it.
        w.cronofy.now -= timedelta(seconds=1.5)
        uid = w.add(3)
        w.cronofy.now += timedelta(seconds=31.5)
        w.ours.now += timedelta(seconds=30)
        result = await w.engine.sync(await w.user(), w.client)
        assert result.ok
        assert result.kind == "incremental"
        periods = {p.event_uid for p in (await w.store.get_periods("u")).values()}
        assert (uid in periods) is read
