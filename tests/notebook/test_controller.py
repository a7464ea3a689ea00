"""The wizard's controller, without any widget, against the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.week import Layout
from cronofy_avail.emulator import Emulator
from cronofy_avail.notebook.controller import StepState, WizardController, WizardError
from cronofy_avail.runtime.store import MemoryStore

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def wizard() -> AsyncIterator[WizardController]:
    c = WizardController()
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def shared() -> AsyncIterator[Emulator]:
    async with Emulator(debounce=0.05, retry_initial_delay=0.05) as emu:
        yield emu


def states(c: WizardController) -> dict[str, str]:
    return {k: str(s.state) for k, s in c.steps.items()}


def ids_in_weeks(c: WizardController, kind: str, weeks: int = 2) -> dict[str, list[str]]:
    """data-id -> data-part of every bar of ``kind`` drawn in this week and the next."""
    found: dict[str, list[str]] = {}
    offset = c.week_offset
    for c.week_offset in range(weeks):
        root = ET.fromstring(c.week_svg())  # noqa: S314 - our own output
        for r in root.iter(f"{NS}rect"):
            if r.get("data-kind") == kind:
                found.setdefault(r.get("data-id", ""), []).append(r.get("data-part", ""))
    c.week_offset = offset
    return found


def test_the_controller_imports_no_widget_library() -> None:
    import subprocess

    probe = (
        "import sys, cronofy_avail.notebook.controller\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ipywidgets', 'anywidget', 'traitlets', 'IPython')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


async def test_steps_run_in_order_through_every_state(wizard: WizardController) -> None:
    seen: list[tuple[str, str]] = []
    wizard.on_change(lambda: seen.append(("connect", wizard.steps["connect"].state)))
    assert states(wizard) == {
        "connect": "ready",
        "calendar": "waiting",
        "channel": "waiting",
        "sync": "waiting",
        "availability": "waiting",
    }
    with pytest.raises(WizardError, match="Connect"):
        await wizard.run_step("calendar")
    step = await wizard.run_step("connect")
    assert step.state == StepState.DONE
    assert ("connect", "running") in seen
    assert states(wizard)["calendar"] == "ready"
    assert states(wizard)["channel"] == "waiting"
    assert await wizard.run_all()
    assert set(states(wizard).values()) == {"done"}
    assert "verification, signature ok, verified" in " ".join(wizard.steps["channel"].lines)
    assert wizard.unmanaged_slots
    assert not wizard.managed_slots  # no periods yet
    assert "Busy-calendar trap" in wizard.availability_note


async def test_a_failing_step_shows_cause_and_fix_and_can_be_retried(
    wizard: WizardController,
) -> None:
    await wizard.run_step("connect")
    assert wizard.backend is not None
    assert wizard.backend.control is not None
    await wizard.backend.control.add_fault(
        endpoint="POST /v1/calendars", error_status=403, error_count=1
    )
    step = await wizard.run_step("calendar")
    assert step.state == StepState.FAILED
    assert step.error is not None
    assert "403" in step.error
    assert "Fix:" in step.error
    assert "Traceback" not in step.error
    assert states(wizard)["channel"] == "waiting"
    step = await wizard.run_step("calendar")  # the fault was for one request only
    assert step.state == StepState.DONE
    assert step.error is None


async def test_a_personal_token_fails_the_channel_step(shared: Emulator) -> None:
    c = WizardController(
        mode="shared", emulator_url=shared.base_url, account_options={"token_kind": "personal"}
    )
    try:
        assert not await c.run_all()
        assert states(c)["calendar"] == "done"
        assert states(c)["channel"] == "failed"
        assert states(c)["sync"] == "waiting"
        error = c.steps["channel"].error or ""
        assert "Cronofy" in error
        assert "Traceback" not in error
    finally:
        await c.close()


async def test_shared_emulator_gives_an_isolated_account(shared: Emulator) -> None:
    a = WizardController(mode="shared", emulator_url=shared.base_url, user_id="ann")
    b = WizardController(mode="shared", emulator_url=shared.base_url, user_id="bob")
    try:
        assert await a.run_all()
        assert await b.run_all()
        assert a.calendar is not None
        assert b.calendar is not None
        assert a.calendar.calendar_id != b.calendar.calendar_id
        await a.add_timed(a.tomorrow_at(9), a.tomorrow_at(10), "Ann's")
        await a.settle()
        await b.settle()
        assert len(a.periods) == 1
        assert b.periods == []
    finally:
        await a.close()
        await b.close()


async def test_a_workshop_receiver_can_listen_on_every_interface(shared: Emulator) -> None:
    anywhere = "0.0.0.0"  # noqa: S104 - what a workshop attendee's receiver needs
    c = WizardController(mode="shared", emulator_url=shared.base_url, receiver_host=anywhere)
    try:
        assert await c.run_all()
        assert c.backend is not None
        assert c.backend.server.host == anywhere
        await c.add_timed(c.tomorrow_at(9), c.tomorrow_at(10))
        await c.settle()
        assert len(c.periods) == 1
    finally:
        await c.close()


async def test_a_bad_shared_url_is_explained() -> None:
    c = WizardController(mode="shared", emulator_url="not a url")
    try:
        step = await c.run_step("connect")
        assert step.state == StepState.FAILED
        assert "give its URL" in (step.error or "")
    finally:
        await c.close()


async def test_an_upstream_change_drops_later_steps_back(wizard: WizardController) -> None:
    assert await wizard.run_all()
    wizard.set_input("minutes", 60)  # unchanged: nothing happens
    assert set(states(wizard).values()) == {"done"}
    wizard.set_input("minutes", 30)
    assert states(wizard)["availability"] == "ready"
    assert states(wizard)["sync"] == "done"
    await wizard.run_step("availability")
    assert wizard.backend is not None
    wizard.set_input("callback_url", wizard.backend.receiver_url + "/")
    assert states(wizard) == {
        "connect": "done",
        "calendar": "done",
        "channel": "ready",
        "sync": "waiting",
        "availability": "waiting",
    }
    with pytest.raises(WizardError):
        await wizard.run_step("sync")
    assert await wizard.run_all()
    assert set(states(wizard).values()) == {"done"}
    with pytest.raises(WizardError, match="unknown input"):
        wizard.set_input("nope", 1)


async def test_reopening_for_a_user_in_the_store_resumes(shared: Emulator) -> None:
    store = MemoryStore()
    first = WizardController(mode="shared", emulator_url=shared.base_url, store=store)
    try:
        assert await first.run_all()
        await first.add_timed(first.tomorrow_at(9), first.tomorrow_at(10))
        await first.settle()
    finally:
        await first.close()
    accounts = len(shared.state.accounts)
    again = WizardController(mode="shared", emulator_url=shared.base_url, store=store)
    try:
        await again.run_step("connect")
        assert states(again) == {
            "connect": "done",
            "calendar": "done",
            "channel": "done",
            "sync": "done",
            "availability": "ready",
        }
        assert len(shared.state.accounts) == accounts  # no new account: the stored user
        assert len(again.periods) == 1
        assert await again.run_all()
        assert again.managed_slots
    finally:
        await again.close()


async def test_the_embedded_emulator_never_resumes_a_stale_user() -> None:
    store = MemoryStore()
    first = WizardController(store=store)
    try:
        assert await first.run_all()
    finally:
        await first.close()
    again = WizardController(store=store)  # a new, empty emulator: redo the steps
    try:
        await again.run_step("connect")
        assert states(again)["calendar"] == "ready"
        assert await again.run_all()
    finally:
        await again.close()


async def test_the_week_svg_holds_exactly_the_events_periods_and_slots(
    wizard: WizardController,
) -> None:
    assert await wizard.run_all()
    timed = await wizard.add_timed(wizard.tomorrow_at(9), wizard.tomorrow_at(12), "Calls")
    all_day = await wizard.add_all_day(wizard.tomorrow_at(0, days=2).date())
    series = await wizard.add_recurring(
        wizard.tomorrow_at(14, days=3), wizard.tomorrow_at(16, days=3), count=3
    )
    await wizard.settle()
    await wizard.delete(series[1])
    await wizard.settle()
    live = {timed, all_day, series[0], series[2]}
    events = ids_in_weeks(wizard, "event")
    assert set(events) == live
    assert events[all_day] == ["allday"]
    assert events[timed] == ["0"]
    periods = ids_in_weeks(wizard, "period")
    assert set(periods) == {period_id_for(uid) for uid in live}
    assert periods[period_id_for(all_day)] == ["0"]  # a whole local day, on the axis
    managed = ids_in_weeks(wizard, "managed")
    unmanaged = ids_in_weeks(wizard, "unmanaged")
    assert len(managed) == len(wizard.managed_slots) > 0
    assert len(unmanaged) == len(wizard.unmanaged_slots) > len(managed)
    spans = [(p.start, p.end) for p in wizard.periods]
    for a, b in wizard.managed_slots:
        assert any(s <= a <= b <= e for s, e in spans)  # type: ignore[operator]
    # the table shows the event's summary next to its period
    rows = {row[0]: row[3] for row in wizard.period_rows()}
    assert rows[period_id_for(timed)] == "Calls"


async def test_a_drag_on_empty_time_becomes_a_period(wizard: WizardController) -> None:
    assert await wizard.run_all()
    start = wizard.tomorrow_at(10)
    if start.date() >= wizard.week_start + timedelta(days=7):
        wizard.shift_week(1)
    day = (start.date() - wizard.week_start).days
    # two overlapping all-day events push the time axis down by a second band row
    await wizard.add_all_day(start.date())
    await wizard.add_all_day(start.date())
    await wizard.settle()
    layout = Layout(wizard.week_start, wizard.inputs.tzid, allday_rows=2)
    periods_before = len(wizard.periods)
    uid = await wizard.create_from_drag(day, layout.y_of(11 * 60 + 2), layout.y_of(10 * 60 - 3))
    assert uid is not None
    await wizard.settle()
    zone = ZoneInfo(wizard.inputs.tzid)
    assert len(wizard.periods) == periods_before + 1
    [period] = [p for p in wizard.periods if p.available_period_id == period_id_for(uid)]
    got = (period.start, period.end)
    assert [x.astimezone(zone) for x in got] == [start, start + timedelta(hours=1)]  # type: ignore[union-attr]
    root = ET.fromstring(wizard.week_svg())  # noqa: S314 - our own output
    bars = [
        r
        for r in root.iter(f"{NS}rect")
        if r.get("data-kind") == "period" and r.get("data-id") == period_id_for(uid)
    ]
    assert len(bars) == 1
    assert float(bars[0].get("y", "0")) == pytest.approx(layout.y_of(10 * 60))
    assert await wizard.create_from_drag(day, 100.0, 101.0) is None  # too short: nothing


async def test_a_delivery_updates_the_views_without_anyone_waiting(
    wizard: WizardController,
) -> None:
    assert await wizard.run_all()
    arrived = asyncio.Event()
    wizard.on_change(lambda: arrived.set() if wizard.periods else None)
    assert wizard.backend is not None
    assert wizard.backend.control is not None
    # The user edits their calendar elsewhere; nobody calls settle() or refresh().
    assert wizard.calendar is not None
    await wizard.backend.control.add_event(
        wizard.calendar.calendar_id,
        summary="From the phone",
        start=wizard.tomorrow_at(8).isoformat(),
        end=wizard.tomorrow_at(9).isoformat(),
    )
    async with asyncio.timeout(30):
        await arrived.wait()
    kinds = [f.text.split(" ")[1].rstrip(",") for f in wizard.feed if f.kind == "delivery"]
    assert kinds[-1] == "change"
    assert any("1 upsert" in f.text for f in wizard.feed if f.kind == "sync")
    assert wizard.managed_slots  # step 4 was done: the slots follow too


async def test_dry_run_plans_without_writing(wizard: WizardController) -> None:
    assert await wizard.run_all()
    await wizard.add_timed(wizard.tomorrow_at(9), wizard.tomorrow_at(10))
    await wizard.settle()
    assert wizard.backend is not None
    [period] = wizard.periods
    await wizard.backend.client.delete_available_period(period.available_period_id)
    result = await wizard.sync_now(dry_run=True)
    assert result.dry_run
    assert result.upserts == 1
    assert wizard.periods == []
    assert wizard.feed[-1].text.startswith("sync (dry run)")
    assert any("upsert" in line for line in wizard.feed[-1].detail)
    result = await wizard.sync_now()
    assert result.upserts == 1
    assert len(wizard.periods) == 1


async def test_real_cronofy_without_credentials_explains_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET", "CRONOFY_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))
    c = WizardController(mode="cronofy")
    try:
        step = await c.run_step("connect")
        assert step.state == StepState.FAILED
        assert "CRONOFY_ACCESS_TOKEN" in (step.error or "")
        assert "Fix:" in (step.error or "")
    finally:
        await c.close()


def test_now_is_in_the_current_week() -> None:
    c = WizardController(clock=lambda: datetime(2026, 12, 3, 12, tzinfo=ZoneInfo("UTC")))
    assert str(c.week_start) == "2026-11-30"
    assert 'class="now"' in c.week_svg()
    c.shift_week(1)
    assert str(c.week_start) == "2026-12-07"
    assert 'class="now"' not in c.week_svg()
