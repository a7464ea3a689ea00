"""The wizard's state, without any widget: steps, their states, and what each step shows.

The views in :mod:`.widgets` only draw what this holds and call its methods, so everything here
is tested in plain pytest against the emulator over real HTTP. Each step calls the same library
functions as the CLI and the demo (:mod:`cronofy_avail.runtime.steps`, the
:class:`~cronofy_avail.playground.Playground`, the coordinator and the store).

Work runs on the running event loop (the kernel's in Jupyter); nothing here starts a thread.
Views subscribe with :meth:`WizardController.on_change` and update widget traits from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import getpass
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.settings import Settings
from cronofy_avail.core.models import (
    AvailablePeriod,
    Calendar,
    Channel,
    Event,
    Profile,
    TokenResponse,
)
from cronofy_avail.core.week import (
    Bar,
    bars_from,
    render_week,
    span_title,
)
from cronofy_avail.notebook.acting import ActingAsUser
from cronofy_avail.notebook.authorize import application, start_redirect
from cronofy_avail.notebook.availability import query_slots, slots_note
from cronofy_avail.notebook.backends import (
    Backend,
    callback_lines,
    connect,
)
from cronofy_avail.notebook.explaining import explain_in_notebook
from cronofy_avail.notebook.feed import (
    _WIZARD,
    FEED_LIMIT,
    FEED_SHOWN,
    FeedItem,
    _FeedLog,
    add_to_feed,
    new_deliveries,
    sync_item,
)
from cronofy_avail.notebook.steps import (
    _ABOUT,
    ICONS,
    INPUT_STEP,
    MODES,
    STEP_KEYS,
    TRAP,
    Inputs,
    Step,
    StepState,
    WizardError,
    _Secrets,
)
from cronofy_avail.notebook.tasks import Tasks, running_loop
from cronofy_avail.notebook.week_text import MIN_DRAG, describe, drag_span, period_rows
from cronofy_avail.runtime.steps import (
    create_sub_calendar,
    onboard_user,
    query_start,
)
from cronofy_avail.runtime.store import Store
from cronofy_avail.runtime.sync import SyncResult

_LOGGER = logging.getLogger(__name__)


class WizardController:
    """The wizard: ``await run_step("connect")`` … ``await run_all()``; views call the same."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        mode: str = "embedded",
        emulator_url: str = "",
        tzid: str = "Europe/London",
        user_id: str = "notebook",
        name: str = "",
        account_options: dict[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        debug: bool = False,
        receiver_host: str = "127.0.0.1",
    ) -> None:
        self.steps: dict[str, Step] = {key: Step(key, *_ABOUT[key]) for key in STEP_KEYS}
        self.steps["connect"].state = StepState.READY
        self.inputs = Inputs(
            mode=mode, emulator_url=emulator_url, tzid=tzid, user_id=user_id, name=name
        )
        self.secrets = _Secrets()
        self.account_options = dict(account_options or {})
        self.clock = clock or (lambda: datetime.now(UTC))
        self.debug = debug
        self.receiver_host = receiver_host
        """Where the in-kernel receiver listens (shared emulator, real Cronofy). A workshop
        whose emulator runs on another machine needs ``"0.0.0.0"`` and, as the callback URL,
        this machine's address."""
        self._loop = running_loop()
        """The loop the wizard was made on (the kernel's): all its work runs there."""
        """Show the traceback under the explanation (the CLI's ``--debug``)."""
        self._store = store
        self._stack: AsyncExitStack | None = None
        self.backend: Backend | None = None
        self._listeners: list[Callable[[], None]] = []
        # what the steps show
        self.profiles: list[Profile] = []
        self.calendar: Calendar | None = None
        self.channel: Channel | None = None
        self.feed: list[FeedItem] = []
        self.events: list[Event] = []
        self.periods: list[AvailablePeriod] = []
        self.managed_slots: list[tuple[datetime, datetime]] = []
        self.unmanaged_slots: list[tuple[datetime, datetime]] = []
        self.availability_note = ""
        self.last_result: SyncResult | None = None
        self.week_offset = 0
        self._read_window: tuple[str, date, date] | None = None
        """(calendar id, from, to) of the last events read: what counts as new in the next."""
        self.selected: str | None = None
        self.busy = False
        self._seen_delivery = 0
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._tasks = Tasks(lambda: self._loop, self._fail_action, self._action_succeeded)
        self.refreshes = 0
        self.authorization: str = ""
        """What the Authorize flow says (never the tokens)."""
        self._oauth_task: asyncio.Task[None] | None = None
        self._configuration = ""
        self._failed_actions: set[str] = set()
        self.stopped = False
        """:meth:`shutdown` ran: nothing runs here any more."""
        """Steps shown failed because an action of theirs failed after they were done."""
        """Which .env the last real-Cronofy connect read (or where none was found)."""
        self.authorized = asyncio.Event()

    # ------------------------------------------------------------------ observing

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every change of state; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                _LOGGER.exception("wizard view listener failed")

    # ------------------------------------------------------------------ inputs

    def set_input(self, name: str, value: Any) -> None:
        """Change an input; a step already done (and every later one) must run again."""
        if name not in INPUT_STEP:
            raise WizardError(f"unknown input {name!r}; inputs: {', '.join(INPUT_STEP)}")
        if name == "mode" and value not in MODES:
            raise WizardError(f"mode must be one of {', '.join(MODES)}")
        if getattr(self.inputs, name) == value:
            return
        setattr(self.inputs, name, value)
        self.invalidate(INPUT_STEP[name])

    def set_secret(self, name: str, value: str) -> None:
        """A token or the client secret from a password field (real Cronofy)."""
        if name not in _Secrets.__slots__:
            raise WizardError(f"unknown secret {name!r}")
        setattr(self.secrets, name, value or None)
        self.invalidate("connect")

    def invalidate(self, key: str) -> None:
        """``key`` drops from done/failed back to ready; the later steps wait for it again."""
        index = STEP_KEYS.index(key)
        step = self.steps[key]
        before_ok = index == 0 or self.steps[STEP_KEYS[index - 1]].state == StepState.DONE
        if step.state != StepState.RUNNING:
            step.state = StepState.READY if before_ok else StepState.WAITING
        for later in STEP_KEYS[index + 1 :]:
            if self.steps[later].state != StepState.RUNNING:
                self.steps[later].state = StepState.WAITING
        self._changed()

    # ------------------------------------------------------------------ running steps

    @property
    def ok(self) -> bool:
        return all(s.state == StepState.DONE for s in self.steps.values())

    def can_run(self, key: str) -> bool:
        index = STEP_KEYS.index(key)
        return index == 0 or self.steps[STEP_KEYS[index - 1]].state == StepState.DONE

    async def run_step(self, key: str) -> Step:
        """Run one step; its state ends ``done`` or ``failed`` (with cause and fix in
        ``step.error``). Raises :class:`WizardError` only when an earlier step is not done."""
        if key not in self.steps:
            raise WizardError(f"unknown step {key!r}; steps: {', '.join(STEP_KEYS)}")
        if self.stopped:
            raise WizardError("this wizard was shut down: run its cell again to start over")
        if not self.can_run(key):
            earlier = STEP_KEYS[STEP_KEYS.index(key) - 1]
            raise WizardError(f"step {self.steps[earlier].title!r} must be done first")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        step = self.steps[key]
        step.state, step.error = StepState.RUNNING, None
        self._changed()
        try:
            await getattr(self, f"_run_{key}")(step)
        except asyncio.CancelledError:
            step.state = StepState.FAILED
            step.error = "cancelled"
            self._changed()
            raise
        except Exception as exc:
            step.state = StepState.FAILED
            step.error = self._explain(exc)
            _LOGGER.debug("step %s failed", key, exc_info=True)
        else:
            step.state = StepState.DONE
            index = STEP_KEYS.index(key)
            for later in STEP_KEYS[index + 1 :]:
                if self.steps[later].state == StepState.WAITING:
                    self.steps[later].state = StepState.READY
                break
        self._changed()
        return step

    async def run_all(self) -> bool:
        """Run every step not yet done, in order; stop at the first failure. ``True`` if all
        are done."""
        for key in STEP_KEYS:
            if self.steps[key].state == StepState.DONE:
                continue
            step = await self.run_step(key)
            if step.state != StepState.DONE:
                return False
        return True

    def _explain(self, exc: BaseException) -> str:
        """Cause and fix in a notebook's words, without a secret (:mod:`.explaining`)."""
        return explain_in_notebook(
            exc,
            control=self.backend.control if self.backend is not None else None,
            mode=self.inputs.mode,
            debug=self.debug,
            secrets=self._secret_values(),
        )

    def _fail_action(self, key: str, exc: BaseException) -> None:
        """A button's work (or a refresh) failed: the step shows it, and a step that was done
        shows failed until an action of it succeeds again."""
        step = self.steps[key]
        step.error = self._explain(exc)
        if step.state == StepState.DONE:
            step.state = StepState.FAILED
            self._failed_actions.add(key)
        self._changed()

    def _action_succeeded(self, key: str) -> None:
        if key in self._failed_actions:
            self._failed_actions.discard(key)
            step = self.steps[key]
            if step.state == StepState.FAILED:
                step.state, step.error = StepState.DONE, None
                self._changed()

    def _secret_values(self) -> list[str]:
        values = [
            self.secrets.access_token,
            self.secrets.refresh_token,
            self.secrets.client_secret,
        ]
        if self.backend is not None:
            tokens = self.backend.client.tokens
            if tokens is not None:
                values += [tokens.access_token, tokens.refresh_token]
        return [v for v in values if v]

    # ------------------------------------------------------------------ step 0: connect

    async def _run_connect(self, step: Step) -> None:
        """Connect in a task of its own whose context names this wizard: the servers and
        tasks it starts inherit that context, so what they log reaches this wizard's feed
        (:class:`_FeedLog`), never the output of whichever cell happened to start them."""
        context = contextvars.copy_context()
        context.run(_WIZARD.set, self)
        await asyncio.create_task(self._connect(step, asyncio.current_task()), context=context)

    async def _connect(self, step: Step, caller: asyncio.Task[Any] | None) -> None:
        # not the task waiting for this connect, nor a pending Authorize (its redirect connects)
        await self._close_backend(keep=caller)
        self._reset_views()
        stack = AsyncExitStack()
        stack.callback(_FeedLog.attach(self))
        try:
            mode = self.inputs.mode
            backend = await connect(
                stack, self.inputs, self._store, self._settings, self.clock,
                receiver_host=self.receiver_host, account_options=self.account_options,
                attendee_name=self.attendee_name, secrets=self.secrets,
            )  # fmt: skip
            if mode == "cronofy":
                self._configuration = backend.configuration
            account = await backend.client.account()
            self.profiles = await backend.client.list_profiles()
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self.backend = stack, backend
        stack.callback(backend.coordinator.add_listener(self._on_sync))
        connected = [p for p in self.profiles if p.profile_connected]
        if self.inputs.profile_id is None and connected:
            self.inputs.profile_id = connected[0].profile_id
        step.summary = f"Connected to {backend.where} as {backend.account_label}."
        step.lines = [
            f"Cronofy API: {backend.where}",
            *([f"configuration: {self._configuration}"] if mode == "cronofy" else []),
            f"account: {account.email or account.account_id}",
            f"webhook receiver in this kernel: {backend.receiver_url}",
            f"profiles: {', '.join(p.profile_name for p in self.profiles) or '(none)'}",
        ]
        await self._resume()

    @staticmethod
    def _settings() -> Settings:
        """The configuration (the environment, then the ``.env`` of the working directory or
        the nearest one above it, up to the project root: kernels run in ``notebooks/``):
        retries, sync overlap, and for real Cronofy the application and tokens, unless typed
        into the password fields."""
        return Settings.load(search_parents=True)

    def attendee_name(self) -> str:
        """How the instructor page lists this attendee: the name typed, else the login."""
        if self.inputs.name.strip():
            return self.inputs.name.strip()
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return self.inputs.user_id

    async def _resume(self) -> None:
        """A user already in the store: steps 1-3 count as done from what it records.

        Not with the embedded emulator: it starts empty each time, so what the store says about
        an earlier one is stale (the steps then run again and overwrite it)."""
        assert self.backend is not None
        if self.inputs.mode == "embedded":
            return
        user = await self.backend.store.get_user(self.inputs.user_id)
        if user is None or not user.calendar_id:
            return
        self.steps["calendar"].state = StepState.DONE
        self.steps["calendar"].summary = f"Resumed: sub calendar {user.calendar_id}."
        # The buttons that act as the user add events to it.
        calendars = await self.backend.client.list_calendars()
        self.calendar = next((c for c in calendars if c.calendar_id == user.calendar_id), None)
        self.inputs.profile_id = user.profile_id or self.inputs.profile_id
        if not (user.channel_id and user.callback_url):
            self.steps["channel"].state = StepState.READY
            return
        self.steps["channel"].state = StepState.DONE
        self.steps["channel"].summary = f"Resumed: channel {user.channel_id}."
        if user.last_sync_at is None:
            self.steps["sync"].state = StepState.READY
            return
        self.steps["sync"].state = StepState.DONE
        self.steps["sync"].summary = f"Resumed: last sync {user.last_sync_at:%Y-%m-%d %H:%M} UTC."
        self.steps["availability"].state = StepState.READY
        await self.refresh()

    def _reset_views(self) -> None:
        for key in STEP_KEYS[1:]:
            self.steps[key].state = StepState.WAITING
            self.steps[key].summary, self.steps[key].error, self.steps[key].lines = "", None, []
        self.profiles, self.calendar, self.channel = [], None, None
        self.feed, self.events, self.periods = [], [], []
        self._read_window, self.week_offset = None, 0
        self.managed_slots, self.unmanaged_slots, self.availability_note = [], [], ""
        self._seen_delivery = 0

    # ------------------------------------------------------------------ Authorize (OAuth)

    async def authorize_url(self) -> str:
        """Real Cronofy: start the redirect listener and return the page to open.

        The same listener and redirect URI as ``cronofy-avail authorize``
        (:data:`~cronofy_avail.app.oauth.REDIRECT_URI`, ``http://127.0.0.1:8765/oauth/callback``:
        register that one in the Cronofy application). The user signs in and agrees at
        Cronofy, which redirects there with a code; the code is exchanged for tokens before
        the browser hears "Authorized", the tokens are kept with the other secrets (never
        shown), and the wizard connects.
        """
        settings = self._settings()
        data_center = self.inputs.data_center or settings.data_center
        client_id, client_secret, app_settings = application(settings, self.secrets, data_center)
        await self._stop_oauth()
        self.authorized.clear()

        def tokens_received(tokens: TokenResponse) -> None:
            self.secrets.client_id, self.secrets.client_secret = client_id, client_secret
            self.secrets.access_token = tokens.access_token
            self.secrets.refresh_token = tokens.refresh_token
            self.authorization = "Authorized: tokens received and kept hidden. Connecting…"
            self.authorized.set()
            self.invalidate("connect")

        def listening(task: asyncio.Task[None]) -> None:
            self._oauth_task = task

        url, redirect_uri = await start_redirect(
            app_settings, self.inputs.redirect_port, listening=listening,
            on_tokens=tokens_received, explain=self._explain, ended=self._authorization_ended,
        )  # fmt: skip
        self.authorization = (
            f"Open the link, sign in and agree; Cronofy returns to {redirect_uri} "
            "(the redirect URI registered in your Cronofy application)."
        )
        self._changed()
        return url

    def _authorization_ended(self, task: asyncio.Task[None]) -> None:
        """The redirect came back: connect with the tokens, or say why there are none."""
        if task.cancelled() or task is not self._oauth_task:
            return
        self._oauth_task = None
        exc = task.exception()
        if exc is None:
            self.spawn(self.run_step("connect"), step="connect")
            return
        self.authorization = self._explain(exc)
        self.steps["connect"].error = self.authorization
        self._changed()

    @property
    def oauth_pending(self) -> bool:
        """An Authorize listener waits for its redirect."""
        return self._oauth_task is not None and not self._oauth_task.done()

    async def authorization_done(self) -> None:
        """Wait until the pending authorization (and the connect it starts) ended."""
        task = self._oauth_task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await self.wait_tasks()

    async def _stop_oauth(self) -> None:
        task, self._oauth_task = self._oauth_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ step 1: sub calendar

    def _need_backend(self) -> Backend:
        if self.backend is None:
            raise WizardError("connect first (step 0)")
        return self.backend

    async def _run_calendar(self, step: Step) -> None:
        backend = self._need_backend()
        calendar, created = await create_sub_calendar(
            backend.client, profile_id=self.inputs.profile_id
        )
        self.calendar = calendar
        verb = "Created" if created else "Reused"
        step.summary = f'{verb} "{calendar.calendar_name}" ({calendar.calendar_id}).'
        step.lines = [f"profile: {calendar.profile_name or calendar.profile_id}"]

    # ------------------------------------------------------------------ step 2: channel

    async def public_base_url(self) -> str:
        """Where Cronofy must POST: the pasted URL, else the receiver itself (emulator), else
        the ngrok tunnel forwarding to the receiver (real Cronofy)."""
        return await self._need_backend().public_base_url(self.inputs.callback_url)

    async def _run_channel(self, step: Step) -> None:
        backend = self._need_backend()
        base = await self.public_base_url()
        user, channel = await onboard_user(
            backend.store,
            backend.client,
            user_id=self.inputs.user_id,
            public_base_url=base,
            tzid=self.inputs.tzid,
            profile_id=self.inputs.profile_id,
        )
        self.channel = channel
        step.summary = f"Channel {channel.channel_id} filtered to {user.calendar_id}."
        step.lines = callback_lines(user.callback_url, user.callback_key)
        await backend.delivered()
        await self._read_deliveries()
        verified = [f for f in self.feed if f.kind == "delivery" and "verification" in f.text]
        step.lines.append(
            verified[-1].text if verified else "verification notification: not arrived yet"
        )

    # ------------------------------------------------------------------ step 3: sync

    async def _run_sync(self, step: Step) -> None:
        result = await self.sync_now(full=True)
        if not result.ok:
            raise CommandError(
                f"sync failed: {result.error or result.state}.\n"
                "Fix: see the error above; press Full reconcile to try again."
            )
        step.summary = (
            f"Full reconcile: {result.events_read} event(s) read, {result.upserts} upsert(s), "
            f"{result.deletes} delete(s). Changes now sync live."
        )

    async def sync_now(self, *, full: bool = True, dry_run: bool = False) -> SyncResult:
        """A full reconcile (or a dry run of one) right now; the feed shows it."""
        backend = self._need_backend()
        self.busy = True
        self._changed()
        try:
            result = await backend.coordinator.sync_now(
                self.inputs.user_id, full=full, dry_run=dry_run
            )
        finally:
            self.busy = False
        await self.refresh()
        return result

    async def _on_sync(self, user_id: str, result: SyncResult) -> None:
        if user_id != self.inputs.user_id:
            return
        self.last_result = result
        await self._read_deliveries()  # the deliveries this sync answers come first
        item = sync_item(result, self.inputs.tzid)
        self.add_to_feed(item)
        self.request_refresh()

    async def _read_deliveries(self) -> None:
        backend = self._need_backend()
        items, self._seen_delivery = await new_deliveries(
            backend.store, self.inputs.user_id, self._seen_delivery
        )
        for item in items:
            self.add_to_feed(item)

    def add_to_feed(self, item: FeedItem) -> None:
        """A feed line; only the last :data:`FEED_LIMIT` are kept."""
        add_to_feed(self.feed, item)

    def _logged(self, record: logging.LogRecord) -> None:
        """A warning of this wizard's background work (a retry, a refused delivery): a feed
        line, masked, drawn on the next turn of the loop (never inside the logging call)."""
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        for secret in self._secret_values():
            text = text.replace(secret, "…")
        self.add_to_feed(FeedItem("log", " ".join(text.split())))
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._changed)

    def request_refresh(self) -> None:
        """Re-read deliveries, events, periods (and slots once step 4 ran), coalesced."""
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            return
        self._refresh_task = asyncio.ensure_future(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            self._refresh_again = False
            try:
                await self.refresh()
            except Exception as exc:  # nobody awaits this task: shown, never left unretrieved
                self._fail_action("sync", exc)
            if not self._refresh_again:
                return

    async def refresh(self) -> None:
        backend = self.backend
        if backend is None:
            return
        await self._read_deliveries()
        user = await backend.store.get_user(self.inputs.user_id)
        if user is not None and user.calendar_id:
            today = self.today()
            window = (user.calendar_id, today - timedelta(days=28), today + timedelta(days=60))
            known, before = {e.event_uid for e in self.events}, self._read_window
            self.events = await backend.client.read_events(
                tzid=self.inputs.tzid,
                from_=window[1],
                to=window[2],
                calendar_ids=[user.calendar_id],
            )
            self._read_window = window
            if before is not None and before[0] == user.calendar_id:
                # New events inside what the last read covered: not the first read, not a
                # new calendar, and not the days the window slid onto at midnight.
                self._follow(
                    [
                        b
                        for b in bars_from(self.events)
                        if b.id not in known and before[1] <= self._day_of(b.start) < before[2]
                    ]
                )
        self.periods = await backend.client.list_available_periods()
        if self.steps["availability"].state == StepState.DONE:
            await self._query_slots()
        self.refreshes += 1
        self._changed()

    async def settle(self, within: float = 30.0) -> None:
        """Wait until deliveries, the syncs they start and the views' refresh are done."""
        backend = self._need_backend()
        async with asyncio.timeout(within):
            for _ in range(3):
                await backend.delivered(within)
                await backend.coordinator.wait_idle()
                task = self._refresh_task
                if task is not None:
                    await task
        await self.refresh()

    # ------------------------------------------------------------------ acting as the user

    def _control(self) -> ActingAsUser:
        backend = self._need_backend()
        if backend.control is None:
            raise WizardError("acting as the user needs an emulator (real Cronofy: use your "
                              "calendar app)")  # fmt: skip
        if self.calendar is None and not self.steps["calendar"].state == StepState.DONE:
            raise WizardError("create the sub calendar first (step 1)")
        return ActingAsUser(backend.control, self._calendar_id())

    def _calendar_id(self) -> str:
        if self.calendar is not None:
            return self.calendar.calendar_id
        raise WizardError("create the sub calendar first (step 1)")

    async def add_timed(self, start: datetime, end: datetime, summary: str = "Available") -> str:
        uid = await self._control().add_timed(start, end, summary)
        self.show(start)
        return uid

    async def add_all_day(self, day: date, days: int = 1, summary: str = "Free all day") -> str:
        uid = await self._control().add_all_day(day, days, summary)
        self.show(day)
        return uid

    async def add_recurring(
        self, start: datetime, end: datetime, count: int = 3, summary: str = "Office hours"
    ) -> list[str]:
        uids = await self._control().add_recurring(start, end, count, summary)
        self.show(start)
        return uids

    async def move(self, event_uid: str, start: datetime, end: datetime) -> None:
        await self._control().move(event_uid, start, end)
        self.show(start)

    async def delete(self, event_uid: str) -> None:
        await self._control().delete(event_uid)

    def tomorrow_at(self, hour: int, minute: int = 0, *, days: int = 1) -> datetime:
        """Local ``hour:minute`` ``days`` from today in the user's zone (for the buttons)."""
        zone = ZoneInfo(self.inputs.tzid)
        return datetime.combine(self.today() + timedelta(days=days), time(hour, minute), zone)

    async def create_from_drag(
        self,
        day_index: int,
        y0: float,
        y1: float,
        *,
        day: date | None = None,
        allday_rows: int | None = None,
    ) -> str | None:
        """A drag across empty time in the week view: an availability event there, as the
        user. The notification → sync → period path does the rest. ``None`` for a drag shorter
        than half the snap step (a click that moved a little).

        ``day`` and ``allday_rows`` are those of the picture the drag was made on (the
        column's ``data-date``, the SVG's ``data-allday-rows``): a picture drawn before
        midnight and dragged on after it still means the day it showed."""
        span = drag_span(
            self.week_bars(), self.week_start, self.inputs.tzid, day_index, y0, y1,
            day=day, allday_rows=allday_rows,
        )  # fmt: skip
        if span is None:
            return None
        return await self.add_timed(*span, summary="Dragged in the week view")

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the wizard's event loop, now if already there (widget
        handlers may come in on another thread: see :meth:`.tasks.Tasks.call_soon`)."""
        self._tasks.call_soon(fn, *args)

    def spawn(self, coro: Any, *, step: str = "sync") -> None:
        """Run ``coro`` on the wizard's loop (for button handlers); an error lands in the
        panel of ``step``, explained, never as a traceback."""
        self._tasks.spawn(coro, step)

    async def wait_tasks(self) -> None:
        """Wait for everything the buttons scheduled (tests, scripted cells)."""
        await self._tasks.wait()

    # ------------------------------------------------------------------ step 4: availability

    async def _run_availability(self, step: Step) -> None:
        if self.inputs.minutes <= 0 or self.inputs.days <= 0:
            raise WizardError("duration and window must be positive")
        await self._query_slots()

    def query_window(self) -> tuple[datetime, datetime]:
        """From now (rounded up to the next quarter hour), ``days`` long: availability made
        for later today is offered today."""
        start = query_start(self.clock())
        return start, start + timedelta(days=self.inputs.days)

    async def _query_slots(self) -> None:
        backend = self._need_backend()
        user = await backend.store.get_user(self.inputs.user_id)
        if user is None or user.sub is None or user.calendar_id is None:
            raise WizardError("run steps 1 and 2 first")
        window, minutes = self.query_window(), self.inputs.minutes
        self.managed_slots, self.unmanaged_slots = await query_slots(
            backend.client, sub=user.sub, calendar_id=user.calendar_id, window=window,
            minutes=minutes,
        )  # fmt: skip
        self.availability_note = slots_note(
            self.managed_slots, self.periods, window, minutes, self.inputs.tzid
        )
        step = self.steps["availability"]
        step.summary = (
            f"{len(self.managed_slots)} slot(s) with managed availability, "
            f"{len(self.unmanaged_slots)} without (updated after every sync)."
        )

    # ------------------------------------------------------------------ the week view

    def today(self) -> date:
        """Today in the user's zone, on the wizard's clock."""
        return self.clock().astimezone(ZoneInfo(self.inputs.tzid)).date()

    @property
    def week_start(self) -> date:
        """The first of the seven days the week view shows: today, or whole weeks from it.

        A rolling week rather than the calendar week: on a Sunday, "tomorrow" is in view, and
        so is everything the buttons and notebooks add (tomorrow to four days on).
        """
        return self.today() + timedelta(days=7 * self.week_offset)

    def _follow(self, new: list[Bar]) -> None:
        """Events that appeared since the last refresh (added as the user anywhere: a button,
        a notebook cell, the CLI): when none of them is in view, show the first of them."""
        days = [self._day_of(b.start) for b in new]
        if days and not any(self._in_view(d) for d in days):
            self.show(min(days))

    def shift_week(self, weeks: int) -> None:
        self.week_offset += weeks
        self._changed()

    def show(self, moment: date | datetime) -> None:
        """Move the week view to the seven days that hold ``moment`` (a local day, or an
        instant shown in the user's zone), unless they are already in view."""
        day = self._day_of(moment)
        if not self._in_view(day):
            self.week_offset = (day - self.today()).days // 7
            self._changed()

    def _day_of(self, moment: date | datetime) -> date:
        if isinstance(moment, datetime):
            return moment.astimezone(ZoneInfo(self.inputs.tzid)).date()
        return moment

    def _in_view(self, day: date) -> bool:
        return 0 <= (day - self.week_start).days < 7

    def select(self, key: str | None) -> None:
        """Select the bar ``"<kind>:<id>"`` (a click in the week view)."""
        self.selected = key or None
        self._changed()

    def week_bars(self) -> list[Bar]:
        return bars_from(self.events, self.periods, self.managed_slots, self.unmanaged_slots)

    def week_svg(self) -> str:
        return render_week(
            self.week_bars(),
            week_start=self.week_start,
            tzid=self.inputs.tzid,
            now=self.clock(),
            selected=self.selected,
            title=f"{self.week_title()} ({self.inputs.tzid})",
        )

    def week_title(self) -> str:
        """The seven days in view, e.g. "Sun 06 Dec - Sat 12 Dec 2026"."""
        return span_title(self.week_start)

    def period_rows(self) -> list[tuple[str, str, str, str]]:
        """(period id, start, end, event summary) in the user's zone, by start."""
        return period_rows(self.events, self.periods, self.inputs.tzid)

    def describe(self, key: str) -> str:
        """What the bar ``"<kind>:<id>"`` is (hover text, the details panel)."""
        return describe(self.week_bars(), key, self.inputs.tzid)

    # ------------------------------------------------------------------ lifecycle

    async def shutdown(self) -> None:
        """Stop for good (:meth:`close`); the views then say so, and no step runs again: the
        wizard's cell, run again, makes a new one."""
        await self.close()
        self.stopped = True
        self._changed()

    async def close(self) -> None:
        """Stop the emulator, receiver and background work this wizard started."""
        await self._close_backend()
        await self._stop_oauth()

    async def _close_backend(self, keep: asyncio.Task[Any] | None = None) -> None:
        spared = {asyncio.current_task(), keep}
        self._tasks.cancel(spared)  # a Connect button re-connecting closes the old backend
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh_task
        stack, self._stack, self.backend = self._stack, None, None
        if stack is not None:
            await stack.aclose()


__all__ = [
    "FEED_LIMIT",
    "FEED_SHOWN",
    "ICONS",
    "INPUT_STEP",
    "MIN_DRAG",
    "MODES",
    "STEP_KEYS",
    "TRAP",
    "FeedItem",
    "Inputs",
    "Step",
    "StepState",
    "WizardController",
    "WizardError",
]
