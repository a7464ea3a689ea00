"""The sync engine under both settings of ``own_changes_count`` (docs/api-contract.md, rule 1).

With the default (``False``: only external changes are returned by ``last_modified`` and
notified, as Cronofy's docs say) and with ``True`` (the application's own event writes count
too, as pycronofy's docstring could be read), the end-to-end sync over real HTTP must converge
and must not loop on writes: its own period writes never notify, and an application write to an
event causes at most one sync, which plans no further writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.playground import Playground

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, max_elapsed=5.0)


TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""Midnight UTC of the day this module was imported: one base for every call of ``at``, so a
test that runs across midnight still names the same days at its end as at its start."""


def at(days: int, hour: int) -> datetime:
    return TODAY + timedelta(days=days, hours=hour)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(params=[True, False], ids=["own-changes-count", "own-changes-ignored"])
async def pg(request: pytest.FixtureRequest) -> AsyncIterator[Playground]:
    async with Playground.running(
        emulator_settings={"own_changes_count": request.param}, retry=FAST
    ) as playground:
        yield playground


async def periods(pg: Playground) -> dict[str, tuple[str, str]]:
    return {
        p.available_period_id: (iso(p.start), iso(p.end))  # type: ignore[arg-type]
        for p in await pg.periods()
    }


async def syncs(pg: Playground) -> int:
    return (await pg.user()).counts.get("syncs", 0)


async def app_post(pg: Playground, body: dict[str, object]) -> None:
    """The application itself writes to the sub calendar (as a program would, by REST)."""
    url = f"{pg.emulator.base_url}/v1/calendars/{pg.calendar_id}/events"
    headers = {"Authorization": f"Bearer {pg.account.access_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as r,
    ):
        assert r.status == 202


async def test_sync_is_correct_and_quiet_under_both_settings(pg: Playground) -> None:
    counts_own = pg.emulator.state.config.own_changes_count
    uid = pg.emulator.add_event(pg.calendar_id, start=iso(at(1, 9)), end=iso(at(1, 10)))[
        "event_uid"
    ]
    await pg.settle()
    assert await periods(pg) == {uid: (iso(at(1, 9)), iso(at(1, 10)))}

    # The sync's own writes (periods) never notify: settling again starts no sync.
    before = await syncs(pg)
    await pg.settle()
    assert await syncs(pg) == before

    # The application writes a managed event into the sub calendar: notified only when own
    # changes count; read_changed_events leaves managed events out, so no period either way,
    # and nothing loops.
    await app_post(
        pg,
        {
            "event_id": "app-made",
            "summary": "written by the application",
            "start": iso(at(2, 9)),
            "end": iso(at(2, 10)),
        },
    )
    await pg.settle()
    assert await syncs(pg) == before + (1 if counts_own else 0)
    assert set(await periods(pg)) == {uid}
    if counts_own:
        last = (await pg.user()).last_result
        assert last is not None
        assert (last["kind"], last["upserts"], last["deletes"]) == ("incremental", 0, 0)

    # The application moves the user's event (edit by event_uid).
    before = await syncs(pg)
    await app_post(pg, {"event_uid": uid, "start": iso(at(1, 13)), "end": iso(at(1, 14))})
    await pg.settle()
    moved = {uid: (iso(at(1, 13)), iso(at(1, 14)))}
    if counts_own:
        # Notified and returned by last_modified: exactly one sync moves the period.
        assert await syncs(pg) == before + 1
        assert await periods(pg) == moved
    else:
        # Neither notified nor returned: only the full reconcile (scheduled daily) sees it.
        assert await syncs(pg) == before
        assert await periods(pg) == {uid: (iso(at(1, 9)), iso(at(1, 10)))}
        pg.coordinator.request(pg.user_id, full=True)
        await pg.settle()
        assert await periods(pg) == moved

    # Converged and quiet: one more incremental sync plans no write, and starts nothing.
    before = await syncs(pg)
    pg.coordinator.request(pg.user_id)
    await pg.settle()
    assert await syncs(pg) == before + 1
    last = (await pg.user()).last_result
    assert last is not None
    assert (last["upserts"], last["deletes"], last["ok"]) == (0, 0, True)
    await pg.settle()
    assert await syncs(pg) == before + 1


@pytest.mark.parametrize("own_changes_count", [True, False])
async def test_settings_show_which_rule_is_in_force(own_changes_count: bool) -> None:
    from cronofy_avail.emulator import Emulator, EmulatorControl

    async with Emulator(own_changes_count=own_changes_count) as emu, aiohttp.ClientSession() as s:
        settings = await EmulatorControl(emu.base_url, session=s).settings()
    assert settings["own_changes_count"] is own_changes_count
