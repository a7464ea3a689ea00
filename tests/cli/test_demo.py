"""The main job: the demo runs the four steps against the embedded emulator and proves it."""

from __future__ import annotations

import io
import json
import re

import pytest

from cronofy_avail.cli.demo import run_demo
from tests.support.wait import until


@pytest.mark.parametrize("tzid", ["Europe/London", "America/New_York"])
async def test_demo_converges_and_shows_the_effect_of_managed_availability(tzid: str) -> None:
    out = io.StringIO()
    report = await run_demo(out, tzid=tzid)
    text = out.getvalue()

    assert report.ok, text
    # timed (moved), all-day, and two of three recurring occurrences (one deleted)
    assert report.periods_expected == 4
    assert report.periods_in_sync == 4
    assert report.periods_extra == 0
    assert report.notifications_by_type == {"verification": 1, "change": 5}
    assert report.notifications == 6
    # the onboarding reconcile plus one sync per user action
    assert report.syncs == 6
    assert 0 < report.managed_slots < report.unmanaged_slots
    assert report.api_calls > report.syncs
    # Counted by the emulator and, independently, by our clients: the same number.
    assert report.api_calls == report.client_api_calls

    for heading in ("Step 1", "Step 2", "Step 3", "Step 4", "Summary"):
        assert f"== {heading}" in text
    assert "Traceback" not in text
    assert "busy-calendar trap" in text
    # Times are shown in the user's zone: the moved slot reads 10:00-13:00 local.
    assert re.search(r"evt_external_\w+\s+\w{3} \d\d \w{3} 10:00\s+\w{3} \d\d \w{3} 13:00", text)
    assert "periods in sync" in text
    assert "4/4" in text


async def test_demo_output_holds_no_secret() -> None:
    out = io.StringIO()
    report = await run_demo(out)
    assert report.ok
    text = out.getvalue()
    # Emulator secrets (CRN_ + 40 characters) and tokens (43 URL-safe characters) have
    # recognisable shapes; nothing printed is that long (ids are at most 37 characters).
    assert not re.search(r"CRN_[A-Za-z0-9_-]{20,}", text)
    assert not re.search(r"[A-Za-z0-9_-]{40,}", text)
    assert "access_token" not in text
    assert "refresh_token" not in text
    summary = json.dumps(report.__dict__)
    assert "CRN_" not in summary


async def test_keep_running_prints_instructions_that_work() -> None:
    import asyncio
    import shlex

    import aiohttp

    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(run_demo(out, keep_running=True, stop=stop))
    await until(lambda: "Still running" in out.getvalue(), within=30, what="'Still running'")
    lines = out.getvalue().splitlines()
    add = shlex.split(next(x for x in lines if "curl -X POST" in x).strip())
    url, body = add[3], add[-1]
    status = next(x for x in lines if "webhook status" in x).split()[-1]
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status in (200, 201), await r.text()
        async with session.get(status) as r:
            assert r.status == 200
            before = (await r.json())["users"][0]["counts"]["syncs"]

        async def synced() -> bool:
            async with session.get(status) as r:
                syncs: int = (await r.json())["users"][0]["counts"]["syncs"]
            return bool(syncs > before)

        await until(synced, within=10, what="a sync of the added event")
    stop.set()
    report = await asyncio.wait_for(task, 10)
    assert report.ok
    after = out.getvalue().split("Still running", 1)[1]
    # The delivery and the sync of the poke each printed one line as they happened.
    assert re.search(r"^delivery \d+: change for \S+, signature ok, accepted$", after, re.M)
    assert re.search(r"^sync \S+: \w+ ok: upserted .*as period \S+ .*\(1 upsert,", after, re.M)
