"""The views, driven as a user drives them (``.click()``, ``.value``, the week view's traits),
against the emulator over real HTTP; no browser, no kernel."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import ipywidgets.widgets.widget as widget_registry

from cronofy_avail import Wizard
from cronofy_avail.core.week import Layout
from cronofy_avail.emulator import Emulator
from cronofy_avail.notebook.controller import STEP_KEYS, WizardError


@pytest.fixture
async def wizard() -> AsyncIterator[Wizard]:
    wz = Wizard()
    try:
        yield wz
    finally:
        await wz.shutdown()


async def click(wz: Wizard, button: object) -> None:
    button.click()  # type: ignore[attr-defined]
    await wz.controller.wait_tasks()


async def click_through(wz: Wizard) -> None:
    for key in STEP_KEYS:
        assert not wz.run_buttons[key].disabled, key
        await click(wz, wz.run_buttons[key])
        assert wz.controller.steps[key].state == "done", wz.controller.steps[key].error
        if key != "availability":
            await click(wz, wz.next_buttons[key])
            assert wz.accordion.selected_index == STEP_KEYS.index(key) + 1


def all_widget_state() -> str:
    """Every value of every live widget, as the front end would receive it."""
    states = [w.get_state() for w in list(widget_registry._instances.values())]
    return json.dumps(states, default=str)


async def test_titles_show_each_state_and_next_opens_only_on_success(wizard: Wizard) -> None:
    titles = wizard.accordion.titles
    assert titles[0].startswith("▶ 0. Connect")
    assert titles[1].startswith("○ 1. Sub calendar")
    assert wizard.run_buttons["calendar"].disabled
    assert wizard.next_buttons["connect"].disabled
    await click(wizard, wizard.run_buttons["connect"])
    assert wizard.accordion.titles[0].startswith("✔")
    assert not wizard.next_buttons["connect"].disabled
    assert not wizard.run_buttons["calendar"].disabled
    assert "embedded emulator" in wizard.status["connect"].value
    assert wizard.profile.options  # the profile picker is filled


async def test_click_through_to_availability_and_act_as_the_user(wizard: Wizard) -> None:
    await click_through(wizard)
    assert "verification" in wizard.status["channel"].value
    await click(wizard, wizard.act_buttons["timed"])
    await click(wizard, wizard.act_buttons["all_day"])
    await wizard.settle()
    assert "Open for calls" in wizard.periods_table.value
    assert wizard.periods_table.value.count("<tr>") == 3  # header + 2 periods
    assert 'data-kind="period"' in wizard.week.svg
    assert "change" in wizard.feed.value
    assert "signature ok" in wizard.feed.value
    assert "with managed availability" in wizard.slots_table.value
    assert "Busy-calendar trap" in wizard.slots_table.value
    # select the timed event in the week view, then move and delete it
    timed = next(e for e in wizard.controller.events if e.summary == "Open for calls")
    wizard.week.selected = f"event:{timed.event_uid}"
    assert "Open for calls" in wizard.details.value
    assert wizard.week_move.layout.display == ""
    await click(wizard, wizard.week_move)  # the same action as step 3's "Move selected +1h"
    await wizard.settle()
    assert "10:00" in wizard.periods_table.value
    await click(wizard, wizard.act_buttons["delete"])
    await wizard.settle()
    assert "Open for calls" not in wizard.periods_table.value
    assert wizard.periods_table.value.count("<tr>") == 2
    wizard.week.hovered = f"period:{wizard.controller.periods[0].available_period_id}"
    assert "period" in wizard.hover.value


async def test_a_drag_in_the_week_view_becomes_a_period_bar(wizard: Wizard) -> None:
    assert await wizard.run_all()
    c = wizard.controller
    start = c.tomorrow_at(13)
    day = (start.date() - c.week_start).days
    assert day == 1  # the view starts today: tomorrow is in view on every day of the week
    layout = Layout(c.week_start, c.inputs.tzid)
    wizard.week.drag = {"day": day, "y0": layout.y_of(13 * 60), "y1": layout.y_of(15 * 60), "n": 1}
    await c.wait_tasks()
    await wizard.settle()
    assert wizard.week.svg.count('data-kind="period"') == 1
    assert "Dragged in the week view" in wizard.periods_table.value


async def test_a_failing_step_is_explained_in_its_panel(wizard: Wizard) -> None:
    await click(wizard, wizard.run_buttons["connect"])
    control = wizard.controller.backend.control  # type: ignore[union-attr]
    assert control is not None
    await control.add_fault(endpoint="POST /v1/calendars", error_status=403, error_count=1)
    await click(wizard, wizard.run_buttons["calendar"])
    html = wizard.status["calendar"].value
    assert 'class="cav-error"' in html
    assert "403" in html
    assert "Fix:" in html
    assert "Traceback" not in html
    assert wizard.accordion.titles[1].startswith("✘")
    assert wizard.next_buttons["calendar"].disabled
    await click(wizard, wizard.run_buttons["calendar"])
    assert "cav-error" not in wizard.status["calendar"].value


async def test_changing_the_callback_url_reopens_step_two(wizard: Wizard) -> None:
    await click_through(wizard)
    wizard.callback_url.value = wizard.controller.backend.receiver_url + "/"  # type: ignore[union-attr]
    assert wizard.accordion.titles[2].startswith("▶")
    assert wizard.accordion.titles[3].startswith("○")
    assert wizard.run_buttons["sync"].disabled
    assert wizard.next_buttons["channel"].disabled


async def test_no_token_reaches_any_widget_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real-Cronofy mode (pointed at an emulator) with tokens typed in password fields, and
    the embedded emulator: no token or secret in any widget's state."""
    async with Emulator(debounce=0.05, retry_initial_delay=0.05) as emu:
        account = await emu.create_account()
        for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET", "CRONOFY_ACCESS_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CRONOFY_API_BASE_URL", emu.base_url)
        monkeypatch.chdir(tmp_path)
        real = Wizard(mode="cronofy")
        embedded = Wizard()
        try:
            real.secret_fields["client_id"].value = emu.client_id
            real.secret_fields["client_secret"].value = emu.client_secret
            real.secret_fields["access_token"].value = account.access_token
            real.secret_fields["refresh_token"].value = account.refresh_token
            assert all(f.value == "" for f in real.secret_fields.values())
            await click(real, real.run_buttons["connect"])
            assert real.controller.steps["connect"].state == "done"
            backend = real.controller.backend
            assert backend is not None
            real.callback_url.value = backend.receiver_url  # no ngrok here: paste the URL
            assert await real.run_all(), [s.error for s in real.steps.values()]
            c = real.controller
            with pytest.raises(WizardError, match="calendar app"):
                await c.add_timed(c.tomorrow_at(9), c.tomorrow_at(10))
            assert c.calendar is not None
            emu.add_event(
                c.calendar.calendar_id,
                summary="Open for calls",
                start=c.tomorrow_at(9).isoformat(),
                end=c.tomorrow_at(10).isoformat(),
            )
            await emu.wait_notifications()
            await real.settle()
            assert len(c.periods) == 1
            assert await embedded.run_all()
            await click(embedded, embedded.act_buttons["timed"])
            await embedded.settle()
            emb = embedded.controller.backend
            assert emb is not None
            assert emb.client.tokens is not None
            secrets = [
                emu.client_secret,
                account.access_token,
                account.refresh_token,
                emb.client.tokens.access_token,
                emb.client.tokens.refresh_token or "",
            ]
            state = all_widget_state()
            assert "Open for calls" in state  # the scan does see the values
            leaked = [s for s in secrets if s and s in state]
            assert leaked == []
        finally:
            await real.shutdown()
            await embedded.shutdown()


async def test_wizard_start_connects_in_the_running_loop() -> None:
    wz = await Wizard.start()
    try:
        assert wz.steps["connect"].state == "done"
        assert wz.accordion.selected_index == 1
        assert wz.week_svg().startswith("<svg")
    finally:
        await wz.shutdown()


async def test_authorize_runs_the_oauth_code_flow_without_showing_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real-Cronofy mode pointed at an emulator, whose authorize page consents at once: the
    link leads back to the local redirect, the code becomes tokens, Connect and the rest run,
    and no token appears in any widget value."""
    import aiohttp

    async with Emulator(debounce=0.05, retry_initial_delay=0.05) as emu:
        for name in ("CRONOFY_ACCESS_TOKEN", "CRONOFY_REFRESH_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CRONOFY_API_BASE_URL", emu.base_url)
        monkeypatch.setenv("CRONOFY_CLIENT_ID", emu.client_id)
        monkeypatch.setenv("CRONOFY_CLIENT_SECRET", emu.client_secret)
        monkeypatch.chdir(tmp_path)
        wz = Wizard(mode="cronofy")
        wz.controller.set_input("redirect_port", 0)  # any free port: the emulator takes any
        try:
            await click(wz, wz.authorize)
            link = wz.authorize_link.value
            assert "Open Cronofy to authorize" in link
            url = link.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                assert response.status == 200  # followed the redirect to our callback
                assert "Authorized" in await response.text()
            assert wz.controller.authorized.is_set()
            await wz.controller.authorization_done()  # the redirect connects by itself
            assert "Authorized" in wz.authorize_link.value
            assert "Open Cronofy" not in wz.authorize_link.value
            assert wz.steps["connect"].state == "done", wz.steps["connect"].error
            backend = wz.controller.backend
            assert backend is not None
            wz.callback_url.value = backend.receiver_url
            assert await wz.run_all(), [s.error for s in wz.steps.values()]
            tokens = backend.client.tokens
            assert tokens is not None
            state = all_widget_state()
            assert tokens.access_token not in state
            assert (tokens.refresh_token or "-") not in state
            assert emu.client_secret not in state
        finally:
            await wz.shutdown()


async def test_authorize_without_app_credentials_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    wz = Wizard(mode="cronofy")
    try:
        await click(wz, wz.authorize)
        assert "CRONOFY_CLIENT_ID" in wz.status["connect"].value
        assert "Fix:" in wz.status["connect"].value
    finally:
        await wz.shutdown()


def test_the_connect_panel_holds_authorize_in_real_cronofy_mode() -> None:
    """The README's "Authorize" button is in the Connect panel (not only built and toggled),
    shown for real Cronofy, hidden otherwise."""
    from cronofy_avail.app.oauth import REDIRECT_URI, redirect_uri

    wz = Wizard(mode="cronofy")

    def in_panel(widget: object) -> bool:
        stack = list(wz.panels["connect"].children)
        while stack:
            child = stack.pop()
            if child is widget:
                return True
            stack.extend(getattr(child, "children", ()))
        return False

    assert in_panel(wz.authorize)
    assert in_panel(wz.authorize_link)
    assert wz.authorize.layout.display == ""
    assert wz.authorize_link.layout.display == ""
    # one redirect URI for the wizard and `cronofy-avail authorize`
    assert redirect_uri(wz.controller.inputs.redirect_port) == REDIRECT_URI
    assert REDIRECT_URI == "http://127.0.0.1:8765/oauth/callback"
    wz.mode.value = "embedded"
    assert wz.authorize.layout.display == "none"


def test_the_connect_fields_follow_the_mode() -> None:
    wz = Wizard()
    assert wz.emulator_url.layout.display == "none"
    assert wz.authorize.layout.display == "none"
    assert wz.attendee_name.layout.display == "none"
    wz.mode.value = "shared"
    assert wz.emulator_url.layout.display == ""
    assert wz.attendee_name.layout.display == ""
    wz.attendee_name.value = "Ada"
    assert wz.controller.attendee_name() == "Ada"
    assert wz.controller.inputs.mode == "shared"
    wz.mode.value = "cronofy"
    assert wz.emulator_url.layout.display == "none"
    assert wz.authorize.layout.display == ""
    assert all(f.layout.display == "" for f in wz.secret_fields.values())
    assert wz.data_center.layout.display == ""
    wz.data_center.value = "uk"
    assert wz.controller.inputs.data_center == "uk"


async def test_an_action_against_a_stopped_emulator_fails_step_3_in_notebook_words() -> None:
    """The workshop's emulator went away: "Add timed" says so (no "--debug", no class name of
    a connection error) and step 3 no longer shows done; once an action succeeds again, it
    does."""
    emu = await Emulator(debounce=0.05, retry_initial_delay=0.05).start()
    wz = Wizard(mode="shared", emulator_url=emu.base_url)
    try:
        assert await wz.run_all(), [s.error for s in wz.steps.values()]
        assert wz.steps["sync"].state == "done"
        await emu.stop()
        await click(wz, wz.act_buttons["timed"])
        step = wz.steps["sync"]
        assert step.state == "failed"
        assert step.error is not None
        assert step.error.startswith(f"cannot reach the emulator at {emu.base_url}: is it still")
        assert "--debug" not in step.error
        assert "ClientConnectorError" not in step.error
        assert wz.accordion.titles[3].startswith("✘ 3. Sync, live (failed)")
        status = wz.status["sync"].value
        assert "cav-state-failed" in status
        assert "is it still running?" in status
    finally:
        await wz.shutdown()
        await emu.stop()


async def test_an_action_that_succeeds_again_shows_step_3_done_again(wizard: Wizard) -> None:
    assert await wizard.run_all()
    c = wizard.controller
    backend = c.backend
    assert backend is not None
    assert backend.control is not None
    await backend.control.add_fault(endpoint="GET /v1/events", error_count=50, error_status=500)
    await click(wizard, wizard.act_buttons["reconcile"])
    assert wizard.steps["sync"].state == "failed"
    assert "Cronofy answered 500" in (wizard.steps["sync"].error or "")
    await backend.control.clear_faults()
    await click(wizard, wizard.act_buttons["reconcile"])
    assert wizard.steps["sync"].state == "done"
    assert wizard.steps["sync"].error is None


def test_errors_speak_notebook_not_command_line() -> None:
    from cronofy_avail.core.errors import (
        AuthorizationCodeRefusedError,
        NotFoundError,
        ReauthorizationRequiredError,
    )
    from cronofy_avail.notebook.controller import WizardController

    c = WizardController()
    for exc in (
        RuntimeError("boom"),
        NotFoundError("gone", status=404),
        ReauthorizationRequiredError("invalid_grant"),
        AuthorizationCodeRefusedError("invalid_grant", status=400),
    ):
        text = c._explain(exc)
        assert "--debug" not in text, text
        assert "cronofy-avail" not in text, text
    assert "Wizard(debug=True)" in c._explain(RuntimeError("boom"))
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        shown = WizardController(debug=True)._explain(exc)
    assert "Traceback" in shown
    assert "Wizard(debug=True)" not in shown


async def test_shutdown_leaves_a_stopped_wizard_on_screen() -> None:
    from cronofy_avail.notebook.widgets import SAVED_NOTE, STOPPED

    wz = await Wizard.start()
    await wz.shutdown()
    assert wz.controller.backend is None  # the emulator and the receiver are stopped
    assert wz.comm is not None  # ... and the widgets still shown, not closed
    assert all(child.comm is not None for child in wz.children)
    assert STOPPED in wz.stopped_banner.value
    assert wz.stopped_banner.layout.display == ""
    assert all(control.disabled for control in wz.controls())
    assert all(t.endswith("(stopped)") for t in wz.accordion.titles)
    wz.run_buttons["calendar"].click()  # a click that got through does nothing
    await wz.controller.wait_tasks()
    assert wz.controller.backend is None
    with pytest.raises(WizardError, match="run its cell again"):
        await wz.run_step("connect")
    # Saved in a notebook: where the view cannot be drawn, a message, not ipywidgets' repr.
    bundle = wz._repr_mimebundle_()
    assert bundle is not None
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == wz.model_id
    assert bundle["text/plain"] == SAVED_NOTE
    assert SAVED_NOTE in bundle["text/html"]
    wz.close()


async def test_step_3_shows_the_pages_read_and_the_writes_applied() -> None:
    """A full reconcile of 25 events, 10 to a page: the bar says "Read 1 page" … "Read 3
    pages", then "Writes n/25", as the engine reports them; "Synced" at the end."""
    emu = await Emulator(debounce=0.05, retry_initial_delay=0.05, page_size=10).start()
    wz = Wizard(mode="shared", emulator_url=emu.base_url)
    try:
        assert await wz.run_all(), [s.error for s in wz.steps.values()]
        c = wz.controller
        assert c.backend is not None
        assert c.backend.control is not None
        assert c.calendar is not None
        for n in range(25):
            start = c.tomorrow_at(6 + n % 12, days=1 + n // 12)
            await c.backend.control.add_event(
                c.calendar.calendar_id, summary=f"e{n}", start=start.isoformat(),
                end=(start + timedelta(minutes=30)).isoformat(),
            )  # fmt: skip
        await c.settle()
        for period in list(c.periods):
            await c.backend.client.delete_available_period(period.available_period_id)
        seen: list[tuple[str, int, int]] = []
        wz.progress.observe(
            lambda _ch: seen.append((wz.progress.description, wz.progress.value, wz.progress.max)),
            names="description",
        )
        await click(wz, wz.act_buttons["reconcile"])
        said = [d for d, _, _ in seen]
        assert said[:4] == ["Syncing…", "Read 1 page", "Read 2 pages", "Read 3 pages"]
        writes = [(v, m) for d, v, m in seen if d.startswith("Writes")]
        assert writes[-1] == (25, 25)
        assert said[-1] == "Synced"
        assert wz.progress.value == wz.progress.max == 1
        assert wz.progress.bar_style == "success"
    finally:
        await wz.shutdown()
        await emu.stop()


async def test_the_unmanaged_slots_show_only_when_asked_for(wizard: Wizard) -> None:
    assert await wizard.run_all()
    c = wizard.controller
    assert c.unmanaged_slots
    assert 'data-kind="unmanaged"' not in wizard.week.svg
    assert 'data-legend="unmanaged"' not in wizard.week.svg
    wizard.unmanaged.value = True
    await c.wait_tasks()
    await asyncio.sleep(0)  # the view redraws on the next turn of the loop
    assert c.week.show_unmanaged
    assert 'data-kind="unmanaged"' in wizard.week.svg
    assert 'data-legend="unmanaged"' in wizard.week.svg
    wizard.unmanaged.value = False
    await asyncio.sleep(0)
    assert 'data-legend="unmanaged"' not in wizard.week.svg


async def test_a_second_connect_keeps_step_1_working(wizard: Wizard) -> None:
    """Each Connect of the embedded mode is a new emulator with new profile ids: the profile
    chosen follows the account, and the dropdown shows it."""
    for _ in range(2):
        await click(wizard, wizard.run_buttons["connect"])
        c = wizard.controller
        ids = [p.profile_id for p in c.profiles]
        assert c.inputs.profile_id in ids
        assert wizard.profile.value == c.inputs.profile_id
    await click(wizard, wizard.run_buttons["calendar"])
    assert wizard.steps["calendar"].state == "done", wizard.steps["calendar"].error


async def test_the_mode_fields_follow_a_change_from_another_thread(wizard: Wizard) -> None:
    """JupyterLab 4.6 delivers widget messages on subshell threads: the fields shown follow
    the mode once the change reached the wizard's loop, and so does set_input from code."""
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()
    wizard.controller.on_change(changed.set)
    thread = threading.Thread(target=lambda: setattr(wizard.mode, "value", "cronofy"))
    thread.start()
    await loop.run_in_executor(None, thread.join)
    await changed.wait()
    assert wizard.controller.inputs.mode == "cronofy"
    assert wizard.authorize.layout.display == ""
    assert all(f.layout.display == "" for f in wizard.secret_fields.values())
    wizard.controller.set_input("mode", "shared")
    assert wizard.emulator_url.layout.display == ""
    assert wizard.authorize.layout.display == "none"


async def test_a_stopped_wizard_stays_disabled_and_a_reconnect_forgets_the_last_sync(
    wizard: Wizard,
) -> None:
    assert await wizard.run_all()
    c = wizard.controller
    assert wizard.progress.description == "Synced"
    await click(wizard, wizard.run_buttons["connect"])  # a new connection: nothing synced yet
    assert wizard.progress.description == "No sync yet"
    assert await wizard.run_all()
    c.busy = True
    await wizard.shutdown()
    c.busy = False  # a reconcile's end that lands after the shutdown
    assert all(b.disabled for b in wizard.act_buttons.values())


async def test_the_week_label_follows_the_zone_and_a_deleted_event_leaves_no_buttons(
    wizard: Wizard,
) -> None:
    assert await wizard.run_all()
    c = wizard.controller
    c.set_input("tzid", "America/New_York")
    assert "(America/New_York)" in wizard.week_label.value
    c.set_input("tzid", "Europe/London")
    assert await wizard.run_all()
    uid = await c.add_timed(c.tomorrow_at(9), c.tomorrow_at(10))
    await c.settle()
    c.select(f"event:{uid}")
    assert wizard.week_delete.layout.display == ""
    await c.delete(uid)
    await c.settle()
    assert wizard.week_delete.layout.display == "none"
    assert wizard.details.value == ""
