"""Notebook 04's checks on the instructor page: the wizard keeps the attendee's seat when it
joins (an owner-only file), a lab in another "kernel" reports each check with it, and the
page's live part shows "1 ✔ 2 ✘ 3 - 4 -". Nobody reports for anyone else, only known
exercises are accepted, and reporting never fails a check.

All over real HTTP against a real :class:`WorkshopServer` on 127.0.0.1; ``HOME`` is the test's
directory, as a kernel of the attendee sees it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.notebook.exercises import (
    Check,
    Lab,
    SlotMystery,
    check_slot_mystery,
    check_thursday_afternoon,
)
from cronofy_avail.notebook.progress import report
from cronofy_avail.workshop import WorkshopServer, join_workshop
from cronofy_avail.workshop.classroom import MAX_PROGRESS_BODY
from cronofy_avail.workshop.page import PROGRESS_PATH
from cronofy_avail.workshop.seat import ENV_SEAT, Seat, load_seat, save_seat, seat_path

FAST = EmulatorConfig(debounce=0.05, retry_initial_delay=0.05, rate_limit_enabled=False)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The attendee's home: where the seat is kept (never the developer's own)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(ENV_SEAT, raising=False)
    return tmp_path


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _main_part(http: aiohttp.ClientSession, workshop: WorkshopServer) -> str:
    """What the instructor's page fetches every two seconds (from this machine: theirs)."""
    async with http.get(workshop.instructor_url, params={"part": "main"}) as r:
        assert r.status == 200
        return await r.text()


async def _report(
    http: aiohttp.ClientSession, workshop: WorkshopServer, token: str | None, body: Any
) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    async with http.post(workshop.base_url + PROGRESS_PATH, data=data, headers=headers) as r:
        await r.read()
        return r.status


def _exercises(workshop: WorkshopServer, name: str) -> dict[str, bool]:
    (attendee,) = [a for a in workshop.classroom.attendees.values() if a.name == name]
    return attendee.exercises


# --------------------------------------------------------------------------- end to end


async def test_the_wizard_keeps_the_seat_and_lab_checks_show_on_the_instructor_page(
    home: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    from cronofy_avail.notebook.controller import WizardController

    caplog.set_level(logging.DEBUG)
    async with WorkshopServer(config=FAST) as workshop:
        # Notebook 01's kernel: the wizard joins the workshop.
        wizard = WizardController(mode="shared", emulator_url=workshop.attendee_url, name="Ada")
        try:
            await wizard.run_step("connect")
            assert wizard.backend is not None, wizard.steps["connect"].error
        finally:
            await wizard.close()
        (ada,) = workshop.classroom.attendees.values()
        secret = workshop.emulator.state.applications[ada.client_id].client_secret
        path = home / ".cronofy_avail" / "workshop.json"
        assert seat_path() == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kept = json.loads(path.read_text("utf-8"))
        assert set(kept) == {"base_url", "attendee_token", "account_id", "name"}
        assert kept["name"] == "Ada"
        assert kept["account_id"] == ada.account_id
        assert secret not in path.read_text("utf-8")
        token = kept["attendee_token"]
        assert "1 - 2 - 3 - 4 -" in await _main_part(http, workshop)

        # Notebook 04's kernel: a lab of its own, its checks report by themselves.
        lab = await Lab.start()
        try:
            day = lab.next_weekday(3)
            await lab.add_availability(lab.at(day, time(13)), lab.at(day, time(17)))
            await lab.settle()
            one = await check_thursday_afternoon(lab)
        finally:
            await lab.close()
        two = await check_slot_mystery(_mystery(), None)
        assert (one.ok, one.note) == (True, "")
        assert (two.ok, two.note) == (False, "")
        assert str(one) == "✔ Make Thursday afternoon available — solved"

        main = await _main_part(http, workshop)
        assert "1 ✔ 2 ✘ 3 - 4 -" in main
        assert "Ada" in main
        async with http.get(workshop.instructor_url + "/status") as r:
            (shown,) = (await r.json())["attendees"]
        assert shown["exercises"] == {"thursday_afternoon": True, "slot_mystery": False}

        # Solved on a second try: the page shows the last result.
        assert (await check_slot_mystery(_mystery(), "blocker")).ok
        assert "1 ✔ 2 ✔ 3 - 4 -" in await _main_part(http, workshop)

        async with http.get(workshop.instructor_url) as r:
            page = await r.text()
    for text in (main, page, caplog.text):
        assert secret not in text
        assert token not in text


def _mystery() -> SlotMystery:
    """Exercise 2's verdict needs no lab: only which uid is the blocker."""
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    return SlotMystery(day, datetime.combine(day, time(10), UTC), "availability", "blocker")


# --------------------------------------------------------------------------- boundaries


async def test_an_attendee_reports_only_for_itself(http: aiohttp.ClientSession) -> None:
    # trust_loopback=False: every request here comes from 127.0.0.1, and must not pass as
    # the instructor's browser.
    async with WorkshopServer(config=FAST, trust_loopback=False) as workshop:
        victim = await join_workshop(http, workshop.attendee_url, "Victim")
        other = await join_workshop(http, workshop.attendee_url, "Other")
        body = {"exercise": "recovered", "ok": True}
        assert await _report(http, workshop, victim.attendee_token, body) == 200
        assert _exercises(workshop, "Victim") == {"recovered": True}

        # The other attendee's token records for the other attendee, whatever the body says.
        claim = {"exercise": "recovered", "ok": False, "account_id": victim.data["account_id"]}
        assert await _report(http, workshop, other.attendee_token, claim) == 422
        failed = {"exercise": "recovered", "ok": False}
        assert await _report(http, workshop, other.attendee_token, failed) == 200
        assert _exercises(workshop, "Victim") == {"recovered": True}
        assert _exercises(workshop, "Other") == {"recovered": False}

        # No token, a made-up one, the client secret, or the instructor's: 403.
        assert await _report(http, workshop, None, failed) == 403
        assert await _report(http, workshop, "wsa_" + "x" * 32, failed) == 403
        assert await _report(http, workshop, victim.client_secret, failed) == 403
        async with http.post(
            workshop.base_url + PROGRESS_PATH,
            json=failed,
            headers=workshop.instructor_headers(),
        ) as r:
            assert r.status == 403
        # A rejoin's token replaces the old one: the old stops reporting.
        async with http.post(
            workshop.base_url + "/_emulator/workshop/rejoin",
            json={"refresh_token": victim.account.refresh_token},
        ) as r:
            assert r.status == 200
        assert await _report(http, workshop, victim.attendee_token, failed) == 403
        assert _exercises(workshop, "Victim") == {"recovered": True}


@pytest.mark.parametrize(
    "body",
    [
        {"exercise": "exercise_5", "ok": True},
        {"exercise": "../thursday_afternoon", "ok": True},
        {"exercise": "THURSDAY_AFTERNOON", "ok": True},
        {"exercise": ["thursday_afternoon"], "ok": True},
        {"exercise": "thursday_afternoon", "ok": "yes"},
        {"exercise": "thursday_afternoon", "ok": 1},
        {"exercise": "thursday_afternoon"},
        {"ok": True},
        [{"exercise": "thursday_afternoon", "ok": True}],
        b"not json",
        b'{"exercise": "thursday_afternoon", "ok": true, "pad": "' + b"x" * 300 + b'"}',
    ],
    ids=lambda b: repr(b)[:40],
)
async def test_a_forged_or_oversized_report_is_refused(
    http: aiohttp.ClientSession, body: Any
) -> None:
    async with WorkshopServer(config=FAST, trust_loopback=False) as workshop:
        joined = await join_workshop(http, workshop.attendee_url, "Ada")
        status = await _report(http, workshop, joined.attendee_token, body)
        too_big = isinstance(body, bytes) and len(body) > MAX_PROGRESS_BODY
        assert status == (413 if too_big else 422)
        assert _exercises(workshop, "Ada") == {}


# --------------------------------------------------------------------------- the seat file


async def test_the_seat_file_is_owner_only_even_over_an_older_file(
    home: Path, http: aiohttp.ClientSession
) -> None:
    async with WorkshopServer(config=FAST) as workshop:
        joined = await join_workshop(http, workshop.attendee_url, "Ada")
    path = seat_path()
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    os.chmod(path, 0o644)
    assert load_seat() is None  # not a seat
    save_seat(workshop.base_url, joined, "Ada")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert joined.client_secret not in path.read_text("utf-8")
    seat = load_seat()
    assert seat is not None
    assert seat.attendee_token == joined.attendee_token
    assert joined.attendee_token not in repr(seat)
    assert [p.name for p in path.parent.iterdir()] == ["workshop.json"]  # no partial left

    # Another file, named by the environment, for a second attendee on one machine.
    os.environ[ENV_SEAT] = str(home / "grace.json")
    try:
        assert load_seat() is None
        save_seat(workshop.base_url, joined, "Grace")
        assert stat.S_IMODE((home / "grace.json").stat().st_mode) == 0o600
    finally:
        del os.environ[ENV_SEAT]


# --------------------------------------------------------------------------- never fails


async def test_without_a_seat_nothing_is_sent_and_nothing_said(home: Path) -> None:
    check = await check_slot_mystery(_mystery(), "blocker")
    assert check.ok
    assert check.note == ""
    assert str(check) == "✔ Why did this slot disappear? — solved"
    assert not (home / ".cronofy_avail").exists()


async def test_an_unreachable_or_forgetful_workshop_costs_one_line(
    http: aiohttp.ClientSession,
) -> None:
    with socket.socket() as s:  # bound, never listening: connection refused at once
        s.bind(("127.0.0.1", 0))
        gone = Seat(f"http://127.0.0.1:{s.getsockname()[1]}", "wsa_" + "x" * 32)
        check = await report(Check("Why did this slot disappear?"), "slot_mystery", gone)
    assert check.ok
    assert check.note == (
        "(the workshop did not answer: the instructor page does not show this check)"
    )
    assert "Traceback" not in str(check)
    assert "wsa_" not in str(check)
    assert str(check).splitlines()[-1] == check.note

    async with WorkshopServer(config=FAST, trust_loopback=False) as workshop:
        unknown = Seat(workshop.base_url, "wsa_" + "y" * 32)
        failed = Check("Make an all-day event count", ["still skipped"])
        check = await report(failed, "all_day", unknown)
    assert not check.ok
    assert "join again in notebook 01" in check.note
