"""A sync costs what changed, not what the calendar holds: counted, not timed (the timing is
figure G in ``make bench``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from cronofy_avail.core.planner import KnownPeriod, Plan
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.store import MemoryStore
from cronofy_avail.runtime.sync import SyncResult


class RecordingStore(MemoryStore):
    """A real in-memory store that records which periods each read asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Collection[str] | None] = []

    async def get_periods(
        self, user_id: str, event_uids: Collection[str] | None = None
    ) -> dict[str, KnownPeriod]:
        self.asked.append(None if event_uids is None else set(event_uids))
        return await super().get_periods(user_id, event_uids)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_incremental_sync_loads_only_the_periods_of_the_events_read() -> None:
    store = RecordingStore()
    async with Playground.running(store=store, tzid="UTC") as pg:
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        uids = [
            pg.emulator.add_event(
                pg.calendar_id, start=iso(base + timedelta(hours=i)),
                end=iso(base + timedelta(hours=i, minutes=30)),
            )["event_uid"]
            for i in range(6)
        ]  # fmt: skip
        first = await pg.coordinator.sync_now(pg.user_id, full=True)
        assert first.ok
        assert len(await store.get_periods(pg.user_id)) == 6
        pg.emulator.update_event(uids[0], summary="changed")
        store.asked.clear()
        result = await pg.coordinator.sync_now(pg.user_id, full=False)
        assert result.ok
        assert result.kind == "incremental"
        # The overlap may re-read a few recent events, never the whole calendar blindly.
        assert len(store.asked) == 1
        asked = store.asked[0]
        assert asked is not None
        assert uids[0] in asked
        assert len(asked) == result.events_read


class NoCopy:
    def __deepcopy__(self, memo: object) -> NoCopy:
        raise AssertionError("the plan must not be copied to summarise a sync")


def test_sync_summary_does_not_copy_the_plan() -> None:
    now = datetime(2026, 11, 24, 9, tzinfo=UTC)
    plan = Plan(actions=(), previous={"x": NoCopy()}, target={})  # type: ignore[dict-item]
    result = SyncResult(kind="incremental", ok=True, started_at=now, finished_at=now, plan=plan)
    data = result.as_dict()
    assert "plan" not in data
    assert data["started_at"] == now.isoformat()


async def test_idle_users_leave_no_per_user_state_behind() -> None:
    """Per-user coordinator and receiver state lives only while there is work: after a
    notification is synced and credited, nothing of the user is left in memory."""
    import json

    import aiohttp

    from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign

    async with Playground.running(tzid="UTC") as pg:
        await pg.settle()
        user = await pg.store.get_user(pg.user_id)
        assert user is not None
        body = json.dumps(
            {"notification": {"type": "change", "changes_since": iso(datetime.now(UTC))}}
        ).encode()
        headers = {SIGNATURE_HEADER: sign(body, pg.emulator.client_secret)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{pg.webhook_url}/notifications/{user.callback_key}", data=body, headers=headers
            ) as resp,
        ):
            assert resp.status == 202
        await pg.settle()
        assert pg.coordinator._slots == {}
        assert pg.server.handle._awaiting == {}
        deliveries = await pg.store.list_deliveries(1)
        assert deliveries[0].outcome == "synced"
        # And a sync made right away (CLI, notebook) leaves none either.
        assert (await pg.coordinator.sync_now(pg.user_id)).ok
        assert pg.coordinator._slots == {}
