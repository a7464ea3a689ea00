"""The wizard's "shared emulator" option against ``cronofy-avail workshop``, as an attendee.

The instructor's command runs in its own process (real HTTP, as in the room). The wizard must
join the workshop (an isolated account the instructor page lists) and receive every delivery
through the attendee's relay box: the emulator is never given the kernel's address, as on
conference Wi-Fi where it could not reach it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cronofy_avail.notebook.controller import STEP_KEYS, StepState, WizardController
from cronofy_avail.runtime.store import MemoryStore
from cronofy_avail.workshop.page import WORKSHOP_PATH
from cronofy_avail.workshop.relay import RELAY_PATH

pytest.importorskip("ipywidgets", reason="pip install -e '.[notebook]'")

from cronofy_avail.notebook.widgets import Wizard


@dataclass(frozen=True)
class Workshop:
    url: str
    """What attendees paste: the base URL and the join code."""
    base: str
    """The instructor's (this machine's) view of it."""
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + path) as response:
            assert response.status == 200, path
            if response.content_type == "application/json":
                return await response.json()
            return await response.text()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard keeps the attendee's seat in ``HOME`` when it joins: the test's, never the
    developer's."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CRONOFY_AVAIL_SEAT", raising=False)


@pytest.fixture
async def workshop(tmp_path: Path) -> AsyncIterator[Workshop]:
    """``cronofy-avail workshop`` in its own process, as the instructor starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONOFY_")}
    env["HOME"] = str(tmp_path)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "cronofy-avail"),
        *("workshop", "--host", "127.0.0.1", "--port", "0", "--json", "--debounce", "0.05"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert process.stdout is not None
        info = json.loads(await process.stdout.readline())
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{info['port']}"
            yield Workshop(info["attendee_url"], base, http)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await process.communicate()
        assert process.returncode == 0, err
        assert b"Traceback" not in err


async def test_a_wizard_on_the_workshop_url_reaches_step_4_through_the_relay(
    workshop: Workshop,
) -> None:
    wizard = Wizard(mode="shared", emulator_url=workshop.url)
    wizard.attendee_name.value = "Ada Lovelace"  # typed in the Connect panel
    try:
        assert await wizard.run_all()
        c = wizard.controller
        backend = c.backend
        assert backend is not None
        assert backend.pump is not None
        assert "relay" in c.steps["connect"].summary
        assert "verification" in " ".join(c.steps["channel"].lines)
        assert "reach this kernel through the workshop" in wizard.status["channel"].value
        # A relay box's id lets whoever knows it read the box: no widget shows it whole.
        assert backend.public_url is not None
        relay_id = backend.public_url.rsplit("/", 1)[1]
        shown = [wizard.status[k].value for k in STEP_KEYS] + [wizard.feed.value]
        assert all(relay_id not in value for value in shown)

        # Play the user: the notification goes to the relay box, the pump feeds it in.
        uid = await c.add_timed(c.tomorrow_at(10), c.tomorrow_at(12))
        await wizard.settle()
        assert [p.available_period_id for p in c.periods] != []
        assert "Available" in [row[3] for row in c.period_rows()]
        assert c.managed_slots
        assert "rect" in wizard.week.svg
        assert 'data-kind="period"' in wizard.week.svg
        assert all(c.steps[k].state == StepState.DONE for k in STEP_KEYS)

        # The emulator was only ever given the relay box, never the kernel's receiver.
        channels = (await workshop.get("/_emulator/channels"))["channels"]
        mine = [ch for ch in channels if ch["active"]]
        assert len(mine) == 1
        assert mine[0]["callback_url"].startswith(workshop.base + RELAY_PATH + "/")
        assert backend.receiver_url.split("/")[2] not in json.dumps(channels)
        received = [
            d for d in await backend.store.list_deliveries() if d.user_id == c.inputs.user_id
        ]
        assert {d.notification_type for d in received} == {"verification", "change"}
        assert backend.pump.stats.forwarded == len(received)

        # The instructor page lists the attendee at step 4, in sync, fed by the relay.
        status = await workshop.get(WORKSHOP_PATH + "/status")
        (ada,) = status["attendees"]
        assert ada["name"] == "Ada Lovelace"
        assert ada["step"] == 4
        assert ada["in_sync"] is True
        assert ada["periods_in_sync"] == ada["periods_expected"] == 1
        assert ada["relay"]["received"] == len(received)
        assert ada["relay"]["held"] == 0
        page = await workshop.get(WORKSHOP_PATH)
        assert "Ada Lovelace" in page
        assert "4 availability" in page

        # Deleting the event as the user flows through the relay too.
        await c.delete(uid)
        await wizard.settle()
        assert c.periods == []
    finally:
        await wizard.shutdown()


async def test_a_resumed_workshop_wizard_keeps_its_relay(workshop: Workshop) -> None:
    """Re-opening the wizard on the same store (same kernel) resumes the attendee: no second
    join, and deliveries still come through the same relay box."""
    store = MemoryStore()
    first = WizardController(mode="shared", emulator_url=workshop.url, store=store, name="Grace")
    try:
        assert await first.run_all()
    finally:
        await first.close()
    again = WizardController(mode="shared", emulator_url=workshop.url, store=store)
    try:
        await again.run_step("connect")
        assert again.steps["sync"].state == StepState.DONE
        assert again.backend is not None
        assert again.backend.pump is not None
        await again.add_timed(again.tomorrow_at(9), again.tomorrow_at(10))
        await again.settle()
        assert len(again.periods) == 1
        status = await workshop.get(WORKSHOP_PATH + "/status")
        assert [a["name"] for a in status["attendees"]] == ["Grace"]
        assert status["attendees"][0]["in_sync"] is True
    finally:
        await again.close()


async def test_a_429_burst_for_everyone_is_survived_by_the_wizard(workshop: Workshop) -> None:
    """What the README promises the instructor's "429 burst" button teaches: the attendee's
    wizard retries (honouring Retry-After) and still reaches step 4, in sync."""
    async with workshop.http.post(
        workshop.base + WORKSHOP_PATH + "/fault", json={"kind": "429_burst"}
    ) as response:
        assert response.status == 200
    wizard = Wizard(mode="shared", emulator_url=workshop.url, name="Grace")
    try:
        assert await wizard.run_all(), {k: s.error for k, s in wizard.steps.items()}
        c = wizard.controller
        await c.add_timed(c.tomorrow_at(9), c.tomorrow_at(11))
        await wizard.settle()
        assert len(c.periods) == 1
        status = await workshop.get(WORKSHOP_PATH + "/status")
        assert status["faults"] == []  # the burst was met in full, and left
        assert status["active"] == []
        (grace,) = status["attendees"]
        assert (grace["step"], grace["in_sync"]) == (4, True)
    finally:
        await wizard.shutdown()


async def test_an_unreachable_workshop_url_is_explained_in_the_panel() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        c = WizardController(mode="shared", emulator_url=url)
        try:
            step = await c.run_step("connect")
        finally:
            await c.close()
    assert step.state == StepState.FAILED
    assert step.error is not None
    assert step.error.startswith(f"cannot reach the shared emulator at {url}")
    assert "Fix: paste the whole URL the instructor shows" in step.error
    assert "Traceback" not in step.error
    assert "unexpected" not in step.error
