"""The wizard's controller, without any widget, against the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cronofy_avail.core.errors import CronofyError
from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.models import LocalizedTime, utc_instant
from cronofy_avail.core.week import Layout
from cronofy_avail.emulator import Emulator
from cronofy_avail.emulator.control_client import EmulatorControl
from cronofy_avail.notebook.controller import StepState, WizardController, WizardError
from cronofy_avail.runtime.store import MemoryStore
from tests.support.instants import next_sunday_night

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
    assert len(managed) == len(wizard.managed_slots) > 0
    # the unmanaged answer is queried (step 4 lists it) but not drawn: it would cover the week
    assert len(wizard.unmanaged_slots) > len(managed)
    assert ids_in_weeks(wizard, "unmanaged") == {}
    spans = [(p.start, p.end) for p in wizard.periods]
    for a, b in wizard.managed_slots:
        assert any(s <= a <= b <= e for s, e in spans)  # type: ignore[operator]
    # the table shows the event's summary next to its period
    rows = {row[0]: row[3] for row in wizard.period_rows()}
    assert rows[period_id_for(timed)] == "Calls"


async def test_a_drag_on_empty_time_becomes_a_period(wizard: WizardController) -> None:
    assert await wizard.run_all()
    start = wizard.tomorrow_at(10)
    day = (start.date() - wizard.week_start).days
    assert day == 1  # the view starts today: tomorrow is always the second column
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


async def test_a_kernel_in_notebooks_reads_the_projects_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared: Emulator
) -> None:
    """Kernels run in notebooks/; the README's .env sits at the project's top: the wizard
    finds it there, and says which file it read (or where it looked when none was)."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(root / "notebooks")
    for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET", "CRONOFY_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    c = WizardController(mode="cronofy")
    try:
        step = await c.run_step("connect")
        assert step.state == StepState.FAILED
        assert "(no .env file found; tried ./.env, ../.env)" in (step.error or "")
        assert "Traceback" not in (step.error or "")
        account = await shared.create_account(tzid="Europe/London")
        (root / ".env").write_text(
            f"CRONOFY_CLIENT_ID={shared.client_id}\n"
            f"CRONOFY_CLIENT_SECRET={shared.client_secret}\n"
            f"CRONOFY_ACCESS_TOKEN={account.access_token}\n"
            f"CRONOFY_API_BASE_URL={shared.base_url}\n"
        )
        step = await c.run_step("connect")
        assert step.state == StepState.DONE, step.error
        assert f"configuration: read {root / '.env'}; tried ./.env, ../.env" in step.lines
    finally:
        await c.close()


async def test_real_cronofy_mode_runs_on_the_configured_retries_and_overlap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, shared: Emulator
) -> None:
    """CRONOFY_AVAIL_MAX_ATTEMPTS and CRONOFY_AVAIL_SYNC_OVERLAP reach the wizard's client,
    its syncs' clients and its engine, as they reach every command's (one composition root).
    "Real Cronofy" here is the emulator, named by CRONOFY_API_BASE_URL."""
    account = await shared.create_account(tzid="Europe/London")
    monkeypatch.chdir(str(tmp_path))
    for name, value in {
        "CRONOFY_CLIENT_ID": shared.client_id,
        "CRONOFY_CLIENT_SECRET": shared.client_secret,
        "CRONOFY_ACCESS_TOKEN": account.access_token,
        "CRONOFY_REFRESH_TOKEN": account.refresh_token,
        "CRONOFY_API_BASE_URL": shared.base_url,
        "CRONOFY_AVAIL_MAX_ATTEMPTS": "2",
        "CRONOFY_AVAIL_SYNC_OVERLAP": "7",
    }.items():
        monkeypatch.setenv(name, value)
    c = WizardController(mode="cronofy")
    try:
        assert (await c.run_step("connect")).state == StepState.DONE
        assert c.backend is not None
        assert c.backend.coordinator.engine.served_overlap == timedelta(seconds=7)
        control = EmulatorControl(shared.base_url)
        try:
            # The wizard's own client: a request failing with 503 is tried twice, not 5 times.
            rule = await control.add_fault(
                endpoint="GET /v1/calendars", error_count=10, error_status=503
            )
            with pytest.raises(CronofyError):
                await c.backend.client.list_calendars()
            hits = {f["fault_id"]: f["hits"] for f in await control.faults()}
            assert hits[rule["fault_id"]] == 2
            await control.clear_faults()
            c.inputs.callback_url = c.backend.receiver_url  # the emulator reaches it directly
            assert await c.run_all()
            for _ in range(3):  # the syncs the steps' notifications started, all finished
                await shared.wait_notifications()
                await c.backend.coordinator.wait_idle()
            # A sync's client (built per user from the store's tokens): the same.
            rule = await control.add_fault(
                endpoint="GET /v1/events", error_count=10, error_status=503
            )
            result = await c.backend.coordinator.sync_now(c.inputs.user_id, full=True)
            assert result.error
            hits = {f["fault_id"]: f["hits"] for f in await control.faults()}
            assert hits[rule["fault_id"]] == 2
        finally:
            await control.clear_faults()
            await control.close()
    finally:
        await c.close()


class Ticking:
    """A clock that starts at ``start`` and runs at real speed: the wizard's, and through it
    the embedded emulator's and the sync engine's (one clock for the whole playground)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return (self.start + timedelta(seconds=time.monotonic() - self.t0)).astimezone(UTC)

    def shift(self, delta: timedelta) -> None:
        self.start += delta


def _days_from_today(days: int, clock: time_of_day, tzid: str = "Europe/London") -> datetime:
    """``clock`` on the day ``days`` from today in ``tzid`` (today from the real clock)."""
    zone = ZoneInfo(tzid)
    today = datetime.now(zone).date()
    return datetime.combine(today + timedelta(days=days), clock, zone)


@asynccontextmanager
async def wizard_at(start: datetime) -> AsyncIterator[WizardController]:
    """A wizard whose whole embedded system runs on a clock from ``start``, steps 0-4 done."""
    c = WizardController(clock=Ticking(start))
    try:
        assert await c.run_all()
        yield c
    finally:
        await c.close()


@pytest.mark.parametrize("days", range(7))
def test_the_view_starts_today_on_every_day_of_the_week(days: int) -> None:
    now = _days_from_today(days, time_of_day(12))
    c = WizardController(clock=lambda: now.astimezone(UTC))
    assert c.week_start == now.date()
    root = ET.fromstring(c.week_svg())  # noqa: S314 - our own output
    [line] = [x for x in root.iter(f"{NS}line") if x.get("class") == "now"]
    assert float(line.get("x1", "-1")) == Layout(c.week_start, c.inputs.tzid).day_x(0)
    first_label = next(t.text for t in root.iter(f"{NS}text") if t.get("class") == "day-label")
    assert first_label == f"{now:%a %d %b}"
    assert c.week_title() == f"{now:%a %d %b} - {now + timedelta(days=6):%a %d %b %Y}"
    c.shift_week(1)
    assert c.week_start == now.date() + timedelta(days=7)
    assert 'class="now"' not in c.week_svg()
    c.show(now + timedelta(days=3))
    assert c.week_start == now.date()  # back to the seven days that hold it


def test_the_query_starts_now_on_the_next_quarter_hour() -> None:
    now = _days_from_today(1, time_of_day(13, 7, 30))
    c = WizardController(clock=lambda: now.astimezone(UTC))
    start, end = c.query_window()
    assert start == now.replace(minute=15, second=0)
    assert end - start == timedelta(days=c.inputs.days)
    on_the_dot = now.replace(minute=30, second=0)
    c.clock = lambda: on_the_dot.astimezone(UTC)
    assert c.query_window()[0] == on_the_dot


async def test_on_a_sunday_night_what_the_buttons_add_is_in_view() -> None:
    async with wizard_at(next_sunday_night(datetime.now(UTC), "Europe/London")) as c:
        assert c.week_start == c.clock().astimezone(ZoneInfo(c.inputs.tzid)).date()
        timed = await c.add_timed(c.tomorrow_at(9), c.tomorrow_at(12), "Calls")
        all_day = await c.add_all_day(c.tomorrow_at(0, days=2).date())
        series = await c.add_recurring(c.tomorrow_at(14, days=3), c.tomorrow_at(16, days=3))
        await c.settle()
        assert c.week_offset == 0  # nothing had to be followed: all of it is in view
        live = {timed, all_day, *series}
        assert set(ids_in_weeks(c, "event", weeks=1)) == live
        assert set(ids_in_weeks(c, "period", weeks=1)) == {period_id_for(u) for u in live}
        assert ids_in_weeks(c, "managed", weeks=1)  # Monday's slots, from midnight on


async def test_availability_dragged_onto_today_gives_managed_slots_today() -> None:
    async with wizard_at(_days_from_today(0, time_of_day(9))) as c:
        zone = ZoneInfo(c.inputs.tzid)
        today = c.clock().astimezone(zone).date()
        assert c.managed_slots == []
        layout = Layout(c.week_start, c.inputs.tzid)
        # mostly passed (the clock says 09:00): a period, but no free hour left in it, and
        # the note says why
        passed = await c.create_from_drag(0, layout.y_of(8 * 60), layout.y_of(9 * 60 + 30))
        await c.settle()
        assert [p.available_period_id for p in c.periods] == [period_id_for(str(passed))]
        assert c.managed_slots == []
        assert "none of the 1 Available Period(s) holds 60 free minutes" in c.availability_note
        assert f"from {today:%a %d %b} 09:15" in c.availability_note  # the next quarter hour
        uid = await c.create_from_drag(0, layout.y_of(14 * 60), layout.y_of(16 * 60))
        assert uid is not None
        await c.settle()
        assert period_id_for(uid) in {p.available_period_id for p in c.periods}
        want = [
            (
                datetime.combine(today, time_of_day(h), zone),
                datetime.combine(today, time_of_day(h + 1), zone),
            )
            for h in (14, 15)
        ]
        assert c.managed_slots == want  # today's, not from tomorrow on
        assert "2 slot(s) with managed availability" in (c.steps["availability"].summary or "")


async def test_the_view_follows_a_new_event_out_of_view() -> None:
    async with wizard_at(_days_from_today(0, time_of_day(9))) as c:
        later = c.tomorrow_at(10, days=16)
        uid = await c.add_timed(later, later + timedelta(hours=1), "Far ahead")
        await c.settle()
        assert c.week_offset == 2
        assert uid in ids_in_weeks(c, "event", weeks=3)
        root = ET.fromstring(c.week_svg())  # noqa: S314 - our own output
        assert {
            r.get("data-id") for r in root.iter(f"{NS}rect") if r.get("data-kind") == "event"
        } == {uid}
        # Added as the user elsewhere (a phone, the CLI, a notebook cell): followed too.
        assert c.backend is not None
        assert c.backend.control is not None
        assert c.calendar is not None
        back = c.tomorrow_at(8)
        await c.backend.control.add_event(
            c.calendar.calendar_id,
            summary="From the phone",
            start=back.isoformat(),
            end=(back + timedelta(hours=1)).isoformat(),
        )
        await c.settle()
        assert c.week_offset == 0
        # Paging away on purpose is left alone while nothing new arrives.
        c.shift_week(1)
        await c.sync_now()
        await c.settle()
        assert c.week_offset == 1


async def test_midnight_sliding_the_read_onto_far_events_does_not_move_the_view() -> None:
    async with wizard_at(_days_from_today(0, time_of_day(23))) as c:
        assert c.backend is not None
        assert c.backend.control is not None
        assert c.calendar is not None
        far = c.tomorrow_at(10, days=60)  # beyond the 60 days the wizard reads
        event = await c.backend.control.add_event(
            c.calendar.calendar_id,
            summary="Far",
            start=far.isoformat(),
            end=(far + timedelta(hours=1)).isoformat(),
        )
        await c.settle()
        assert event["event_uid"] not in {e.event_uid for e in c.events}
        assert isinstance(c.clock, Ticking)
        c.clock.shift(timedelta(days=2))  # two midnights later the read reaches it
        await c.refresh()
        assert event["event_uid"] in {e.event_uid for e in c.events}
        assert c.week_offset == 0  # not new, just newly in the window: the view stays


async def test_a_drag_means_the_day_of_the_picture_it_was_made_on() -> None:
    async with wizard_at(_days_from_today(0, time_of_day(9))) as c:
        shown = c.today() - timedelta(days=1)  # drawn before midnight, dropped after
        layout = Layout(shown, c.inputs.tzid)
        uid = await c.create_from_drag(
            0, layout.y_of(10 * 60), layout.y_of(11 * 60), day=shown, allday_rows=1
        )
        assert uid is not None
        await c.settle()
        [event] = [e for e in c.events if e.event_uid == uid]
        zone = ZoneInfo(c.inputs.tzid)
        assert isinstance(event.start, datetime | LocalizedTime)  # a timed event
        assert utc_instant(event.start).astimezone(zone) == datetime.combine(
            shown, time_of_day(10), zone
        )


async def test_background_warnings_reach_the_feed_not_a_cell(wizard: WizardController) -> None:
    """The engine's retries run in background tasks started at connect: their warnings are
    lines of this wizard's feed (in a kernel, Python's last-resort handler would print them
    into whichever cell started the receiver)."""
    import logging

    assert await wizard.run_all()
    backend = wizard.backend
    assert backend is not None
    assert backend.control is not None
    other = WizardController()  # another wizard in the same kernel sees none of it
    try:
        assert (await other.run_step("connect")).state == StepState.DONE
        await backend.control.add_fault(endpoint="POST /v1/batch", error_count=2, error_status=503)
        await wizard.add_timed(wizard.tomorrow_at(9), wizard.tomorrow_at(10))
        await wizard.settle()
        logs = [f.text for f in wizard.feed if f.kind == "log"]
        assert any(t.startswith("warning: POST /v1/batch failed") for t in logs), logs
        assert not [f for f in other.feed if f.kind == "log"]
        assert logging.getLogger("cronofy_avail").handlers[0].__class__ is logging.NullHandler
    finally:
        await other.close()
    await wizard.close()
    assert [type(h).__name__ for h in logging.getLogger("cronofy_avail").handlers] == [
        "NullHandler"
    ]  # closed wizards leave no handler behind


def test_the_feed_keeps_the_last_lines_only() -> None:
    from cronofy_avail.notebook.controller import FEED_LIMIT, FeedItem

    c = WizardController()
    for n in range(FEED_LIMIT + 25):
        c.add_to_feed(FeedItem("delivery", f"line {n}"))
    assert len(c.feed) == FEED_LIMIT
    assert c.feed[0].text == "line 25"
    assert c.feed[-1].text == f"line {FEED_LIMIT + 24}"
