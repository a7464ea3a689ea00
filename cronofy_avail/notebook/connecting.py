"""Step 0 for one wizard: connect to a backend (:mod:`.backends`), then pick up where a user
already in the store left off. What it finds goes to the models the views observe."""

from __future__ import annotations

import asyncio
import contextvars
import getpass
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, cast

from cronofy_avail.app.settings import Settings
from cronofy_avail.notebook.backends import connect
from cronofy_avail.notebook.feed import _WIZARD, _FeedLog
from cronofy_avail.notebook.models import StepModel
from cronofy_avail.notebook.steps import StepState

if TYPE_CHECKING:
    from cronofy_avail.notebook.authorize import Authorizer
    from cronofy_avail.notebook.backends import Backend
    from cronofy_avail.notebook.host import WizardHost
    from cronofy_avail.notebook.steps import Inputs


async def connect_wizard(w: WizardHost, step: StepModel, caller: Any) -> None:
    """Close what an earlier connect opened (not the task waiting for this one, nor a pending
    Authorize: its redirect connects), open the backend the inputs name, read the account."""
    await w._close_backend(keep=caller)
    _reset(w)
    stack = AsyncExitStack()
    stack.callback(_FeedLog.attach(w))
    model = w.model.connect
    try:
        mode = w.inputs.mode
        backend = await connect(
            stack, w.inputs, w._store, w._settings, w.clock,
            receiver_host=w.receiver_host, account_options=w.account_options,
            attendee_name=w.attendee_name, secrets=w.secrets,
        )  # fmt: skip
        account = await backend.client.account()
        profiles = await backend.client.list_profiles()
    except BaseException:
        await stack.aclose()
        raise
    w._stack, w.backend = stack, backend
    stack.callback(backend.coordinator.add_listener(w._refresher.on_sync))
    stack.callback(backend.coordinator.add_progress_listener(w._on_progress))
    # A profile of this account: the one chosen before, if this account has it (a new
    # embedded emulator, or another account, has other profile ids), else its first connected.
    connected = [p for p in profiles if p.profile_connected]
    if w.inputs.profile_id not in {p.profile_id for p in profiles}:
        w.inputs.profile_id = connected[0].profile_id if connected else None
    model.profiles = profiles
    step.summary = f"Connected to {backend.where} as {backend.account_label}."
    step.lines = [
        f"Cronofy API: {backend.where}",
        *([f"configuration: {backend.configuration}"] if mode == "cronofy" else []),
        f"account: {account.email or account.account_id}",
        f"webhook receiver in this kernel: {backend.receiver_url}",
        f"profiles: {', '.join(p.profile_name for p in model.profiles) or '(none)'}",
    ]
    await _resume(w)


async def _resume(w: WizardHost) -> None:
    """A user already in the store: steps 1-3 count as done from what it records.

    Not with the embedded emulator: it starts empty each time, so what the store says about an
    earlier one is stale (the steps then run again and overwrite it)."""
    assert w.backend is not None
    if w.inputs.mode == "embedded":
        return
    user = await w.backend.store.get_user(w.inputs.user_id)
    if user is None or not user.calendar_id:
        return
    m = w.model
    m.calendar.summary = f"Resumed: sub calendar {user.calendar_id}."
    m.calendar.state = StepState.DONE
    # The buttons that act as the user add events to it.
    calendars = await w.backend.client.list_calendars()
    m.calendar.calendar = next((c for c in calendars if c.calendar_id == user.calendar_id), None)
    w.inputs.profile_id = user.profile_id or w.inputs.profile_id
    if not (user.channel_id and user.callback_url):
        m.channel.state = StepState.READY
        return
    m.channel.summary = f"Resumed: channel {user.channel_id}."
    m.channel.state = StepState.DONE
    if user.last_sync_at is None:
        m.sync.state = StepState.READY
        return
    m.sync.summary = f"Resumed: last sync {user.last_sync_at:%Y-%m-%d %H:%M} UTC."
    m.sync.state = StepState.DONE
    m.availability.state = StepState.READY
    await w.refresh()


def _reset(w: WizardHost) -> None:
    """A new connection: the later steps wait again, and nothing of the old one is shown."""
    m = w.model
    m.reset_after("connect")
    m.connect.profiles, m.calendar.calendar, m.channel.channel = [], None, None
    m.sync.last_result = None
    m.sync.feed.clear()
    m.sync.fed += 1
    m.sync.events, m.sync.periods, m.sync.progress = [], [], None
    m.availability.managed_slots, m.availability.unmanaged_slots = [], []
    m.availability.note = ""
    w.week.offset = 0
    w._refresher.reset()


async def close_backend(w: WizardHost, keep: asyncio.Task[Any] | None = None) -> None:
    """Cancel the buttons' work (but ``keep`` and the caller), stop refreshing, close what the
    connect opened."""
    w._tasks.cancel({asyncio.current_task(), keep})
    await w._refresher.stop()
    stack, w._stack, w.backend = w._stack, None, None
    if stack is not None:
        await stack.aclose()


class Connects:
    """Step 0 on the wizard (a mixin of
    :class:`~cronofy_avail.notebook.controller.WizardController`): connecting, the Authorize
    flow (:class:`~.authorize.Authorizer`) and closing."""

    if TYPE_CHECKING:
        inputs: Inputs
        _authorizer: Authorizer

        def _need_backend(self) -> Backend: ...

    async def _run_connect(self, step: StepModel) -> None:
        """Connect in a task of its own whose context names this wizard: the servers and
        tasks it starts inherit that context, so what they log reaches this wizard's feed
        (:class:`~.feed._FeedLog`), never the output of whichever cell started them."""
        context = contextvars.copy_context()
        wizard = cast("WizardHost", self)
        context.run(_WIZARD.set, wizard)
        caller = asyncio.current_task()
        await asyncio.create_task(connect_wizard(wizard, step, caller), context=context)

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

    # Authorize (real Cronofy): :class:`~.authorize.Authorizer`.

    async def authorize_url(self) -> str:
        """Start the redirect listener and return the page to open (see
        :meth:`.authorize.Authorizer.url`)."""
        return await self._authorizer.url()

    @property
    def oauth_pending(self) -> bool:
        return self._authorizer.pending

    async def authorization_done(self) -> None:
        """Wait until the pending authorization (and the connect it starts) ended."""
        await self._authorizer.done()

    async def public_base_url(self) -> str:
        """Where Cronofy must POST: the pasted URL, else the receiver itself (emulator), else
        the ngrok tunnel forwarding to the receiver (real Cronofy)."""
        return await self._need_backend().public_base_url(self.inputs.callback_url)

    # ------------------------------------------------------------------ step 3: sync

    async def _close_backend(self, keep: asyncio.Task[Any] | None = None) -> None:
        await close_backend(cast("WizardHost", self), keep)


__all__ = ["Connects", "close_backend", "connect_wizard"]
