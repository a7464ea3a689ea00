"""The wizard's behaviour, without any widget: it runs the steps and moves their models.

The state lives in small ``traitlets`` models (:mod:`.models`): one per step, the week's, and
the wizard's order. The views in :mod:`.widgets` and :mod:`.views` only link widgets to those
models and call the methods here, so everything is tested in plain pytest against the emulator
over real HTTP. Each step calls the same library functions as the CLI and the demo
(:mod:`cronofy_avail.runtime.steps`, the composition root, the coordinator and the store).
Step 0 is :mod:`.connecting`, Authorize :mod:`.authorize`, step 3's live refresh
:mod:`.refreshing`, acting as the user :mod:`.acting`.

Work runs on the running event loop (the kernel's); nothing here starts a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from cronofy_avail.core.models import AvailablePeriod, Calendar, Channel, Event, Profile
from cronofy_avail.notebook.acting import ActsAsUser
from cronofy_avail.notebook.authorize import Authorizer
from cronofy_avail.notebook.availability import Slots
from cronofy_avail.notebook.backends import Backend
from cronofy_avail.notebook.connecting import Connects
from cronofy_avail.notebook.explaining import explain_in_notebook
from cronofy_avail.notebook.feed import (
    FEED_LIMIT,
    FEED_SHOWN,
    FeedItem,
    FeedsLines,
)
from cronofy_avail.notebook.models import Alias, StepModel, WeekModel, WizardModel
from cronofy_avail.notebook.refreshing import Refresher
from cronofy_avail.notebook.stepruns import RUNNERS, read_slots
from cronofy_avail.notebook.steps import (
    ICONS,
    INPUT_STEP,
    MODES,
    STEP_KEYS,
    TRAP,
    Inputs,
    StepState,
    WizardError,
    _Secrets,
)
from cronofy_avail.notebook.tasks import Tasks, running_loop
from cronofy_avail.notebook.viewing import WeekViewing
from cronofy_avail.notebook.week_text import MIN_DRAG
from cronofy_avail.runtime.progress import SyncProgress
from cronofy_avail.runtime.steps import query_start
from cronofy_avail.runtime.store import Store
from cronofy_avail.runtime.sync import SyncResult

_LOGGER = logging.getLogger(__name__)

Step = StepModel
"""A step's model (the name the wizard's API has always used)."""


class WizardController(Connects, WeekViewing, ActsAsUser, FeedsLines):
    """The wizard: ``await run_step("connect")`` … ``await run_all()``; views call the same."""

    # The models' state under the names the wizard's API has always had.
    profiles: Alias[list[Profile]] = Alias("model.connect", "profiles")
    authorization: Alias[str] = Alias("model.connect", "authorization")
    calendar: Alias[Calendar | None] = Alias("model.calendar", "calendar")
    channel: Alias[Channel | None] = Alias("model.channel", "channel")
    busy: Alias[bool] = Alias("model.sync", "busy")
    events: Alias[list[Event]] = Alias("model.sync", "events")
    periods: Alias[list[AvailablePeriod]] = Alias("model.sync", "periods")
    last_result: Alias[SyncResult | None] = Alias("model.sync", "last_result")
    refreshes: Alias[int] = Alias("model.sync", "refreshes")
    managed_slots: Alias[Slots] = Alias("model.availability", "managed_slots")
    unmanaged_slots: Alias[Slots] = Alias("model.availability", "unmanaged_slots")
    availability_note: Alias[str] = Alias("model.availability", "note")
    week_offset: Alias[int] = Alias("week", "offset")
    selected: Alias[str | None] = Alias("week", "selected")
    stopped: Alias[bool] = Alias("model", "stopped")

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
        self.model = WizardModel()
        self.steps: dict[str, StepModel] = self.model.steps
        self.inputs = Inputs(
            mode=mode, emulator_url=emulator_url, tzid=tzid, user_id=user_id, name=name
        )
        self.week = WeekModel(self.today, lambda: self.inputs.tzid)
        self.secrets = _Secrets()
        self.account_options = dict(account_options or {})
        self.clock = clock or (lambda: datetime.now(UTC))
        self.debug = debug
        """Show the traceback under the explanation (the CLI's ``--debug``)."""
        self.receiver_host = receiver_host
        """Where the in-kernel receiver listens (shared emulator, real Cronofy). A workshop
        whose emulator runs on another machine needs ``"0.0.0.0"`` and, as the callback URL,
        this machine's address."""
        self._loop = running_loop()
        """The loop the wizard was made on (the kernel's): all its work runs there."""
        self._store = store
        self._stack: AsyncExitStack | None = None
        self.backend: Backend | None = None
        self._listeners: list[Callable[[], None]] = []
        self._refresher = Refresher(self)
        self._tasks = Tasks(lambda: self._loop, self._fail_action, self._action_succeeded)
        self._authorizer = Authorizer(self)
        self.authorized = self._authorizer.authorized
        self._failed_actions: set[str] = set()
        """Steps shown failed because an action of theirs failed after they were done."""

    # ------------------------------------------------------------------ observing

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each operation that changed state (a step started or
        ended, a refresh, a feed line, the week moved); returns a remover. The views observe
        the models' traits instead."""
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
        self.model.invalidate(key)
        self._changed()

    # ------------------------------------------------------------------ running steps

    @property
    def ok(self) -> bool:
        return self.model.ok

    def can_run(self, key: str) -> bool:
        return self.model.can_run(key)

    async def run_step(self, key: str) -> StepModel:
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
            await self._run(key, step)
        except asyncio.CancelledError:
            step.error, step.state = "cancelled", StepState.FAILED
            self._changed()
            raise
        except Exception as exc:
            step.error, step.state = self._explain(exc), StepState.FAILED
            _LOGGER.debug("step %s failed", key, exc_info=True)
        else:
            self.model.finished(key)
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
                step.error, step.state = None, StepState.DONE
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

    async def _run(self, key: str, step: StepModel) -> None:
        if key == "connect":
            await self._run_connect(step)
        else:
            await RUNNERS[key](self, step)

    async def _query_slots(self) -> None:
        await read_slots(self)

    def _need_backend(self) -> Backend:
        if self.backend is None:
            raise WizardError("connect first (step 0)")
        return self.backend

    # ------------------------------------------------------------------ step 2: channel

    async def sync_now(self, *, full: bool = True, dry_run: bool = False) -> SyncResult:
        """A full reconcile (or a dry run of one) right now; the feed shows it."""
        backend = self._need_backend()
        self.busy = True
        try:
            result = await backend.coordinator.sync_now(
                self.inputs.user_id, full=full, dry_run=dry_run
            )
        finally:
            self.busy = False
        await self.refresh()
        return result

    def _on_progress(self, progress: SyncProgress) -> None:
        """A sync's progress report (pages read, writes applied): step 3's bar shows it
        while the sync runs."""
        if progress.user_id == self.inputs.user_id:
            self.model.sync.progress = None if progress.phase == "done" else progress

    def request_refresh(self) -> None:
        """Re-read deliveries, events, periods (and slots once step 4 ran), coalesced."""
        self._refresher.request()

    async def refresh(self) -> None:
        await self._refresher.refresh()

    async def settle(self, within: float = 30.0) -> None:
        """Wait until deliveries, the syncs they start and the views' refresh are done."""
        await self._refresher.settle(within)

    # ------------------------------------------------------------------ acting as the user

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

    def query_window(self) -> tuple[datetime, datetime]:
        """From now (rounded up to the next quarter hour), ``days`` long: availability made
        for later today is offered today."""
        start = query_start(self.clock())
        return start, start + timedelta(days=self.inputs.days)

    # ------------------------------------------------------------------ the week view

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
        await self._authorizer.stop()


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
