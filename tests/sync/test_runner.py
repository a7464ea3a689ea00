"""PlanRunner and the engine's failure states, against the emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cronofy_avail.core.errors import ProfileLockedError
from cronofy_avail.core.planner import Action, ActionKind, KnownPeriod, Plan
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.store import UserState
from cronofy_avail.runtime.sync import PlanRunner, rejects_entry
from tests.support.playground import add, at
from tests.support.wait import until

FAST = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
T = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def upsert(pid: str, start: datetime = T, end: datetime = T + timedelta(hours=1)) -> Action:
    return Action(ActionKind.UPSERT, "timed", pid, pid, start, end)


def plan(*actions: Action) -> Plan:
    return Plan(tuple(actions), {}, {})


@pytest.fixture
async def emu() -> AsyncIterator[tuple[Emulator, EmulatorAccount]]:
    async with Emulator(rate_limit_enabled=False) as emulator:
        yield emulator, await emulator.create_account()


@pytest.mark.parametrize("use_batch", [True, False])
async def test_an_entry_cronofy_rejects_is_reported_and_the_rest_applied(
    emu: tuple[Emulator, EmulatorAccount], use_batch: bool
) -> None:
    emulator, account = emu
    bad = upsert("backwards", T + timedelta(hours=2), T)  # end before start: Cronofy's 422
    async with emulator.client(account, retry=FAST) as client:
        result = await PlanRunner(client, use_batch=use_batch).apply(
            plan(upsert("a"), bad, upsert("b"))
        )
        assert result.complete  # nothing left to retry: the rejection is final
        assert [a.period_id for a in result.applied] == ["a", "b"]
        assert [a.period_id for a, _ in result.rejected] == ["backwards"]
        assert ("422" if use_batch else "end must be after start") in result.rejected[0][1]
        ids = {p.available_period_id for p in await client.list_available_periods()}
        assert ids == {"a", "b"}


async def test_a_locked_profile_stops_the_run_for_a_retry(
    emu: tuple[Emulator, EmulatorAccount],
) -> None:
    emulator, account = emu
    emulator.add_fault(endpoint="POST /v1/available_periods", error_count=1, error_status=423)
    async with emulator.client(account, retry=FAST) as client:
        result = await PlanRunner(client, use_batch=False).apply(plan(upsert("a"), upsert("b")))
    assert not result.complete
    assert isinstance(result.error, ProfileLockedError)
    assert [a.period_id for a in result.not_applied] == ["a", "b"]
    assert result.rejected == []


async def test_delete_of_a_missing_period_counts_as_done(
    emu: tuple[Emulator, EmulatorAccount],
) -> None:
    emulator, account = emu
    gone = Action(ActionKind.DELETE, "deleted", "x", "never-existed")
    async with emulator.client(account, retry=FAST) as client:
        for use_batch in (True, False):
            result = await PlanRunner(client, use_batch=use_batch).apply(plan(gone))
            assert result.complete
            assert result.applied == [gone]


def test_which_statuses_reject_an_entry() -> None:
    assert [s for s in (400, 401, 402, 403, 404, 409, 422, 423, 429, 500) if rejects_entry(s)] == [
        400,
        404,
        409,
        422,
    ]


async def test_auth_lost_while_writing_ends_in_needs_reauth() -> None:
    async with Playground.running(retry=FAST) as pg:
        slow = pg.emulator.add_fault(endpoint="POST /v1/batch", latency_ms=200)
        add(pg, at(1, 9), at(1, 10))
        await until(lambda: slow.hits > 0)  # the write is in flight with the old token
        pg.emulator.state.revoke_refresh_tokens(pg.account.account_id)
        pg.emulator.expire_tokens(pg.account.account_id)
        watermark = (await pg.user()).watermark
        await pg.settle()
        user = await pg.user()
        assert user.state == UserState.NEEDS_REAUTH
        assert pg.coordinator.stats.retries[pg.user_id] == 0  # a person must act: no retry
        assert user.watermark == watermark
        assert user.pending_since is not None  # kept for after the user authorizes again
        known: dict[str, KnownPeriod] = await pg.store.get_periods(pg.user_id)
        assert known == {}
