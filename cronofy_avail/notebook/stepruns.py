"""What steps 1 to 4 do, one coroutine each (step 0 is :mod:`.connecting`): each calls the
library function the CLI calls and writes what happened to its step's model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from cronofy_avail.app.explain import CommandError
from cronofy_avail.notebook.availability import query_slots, slots_note
from cronofy_avail.notebook.backends import callback_lines
from cronofy_avail.notebook.models import StepModel
from cronofy_avail.notebook.steps import WizardError
from cronofy_avail.runtime.steps import create_sub_calendar, onboard_user

if TYPE_CHECKING:
    from cronofy_avail.notebook.host import WizardHost


async def run_calendar(w: WizardHost, step: StepModel) -> None:
    backend = w._need_backend()
    calendar, created = await create_sub_calendar(backend.client, profile_id=w.inputs.profile_id)
    w.calendar = calendar
    verb = "Created" if created else "Reused"
    step.summary = f'{verb} "{calendar.calendar_name}" ({calendar.calendar_id}).'
    step.lines = [f"profile: {calendar.profile_name or calendar.profile_id}"]


async def run_channel(w: WizardHost, step: StepModel) -> None:
    backend = w._need_backend()
    user, channel = await onboard_user(
        backend.store, backend.client, user_id=w.inputs.user_id,
        public_base_url=await w.public_base_url(), tzid=w.inputs.tzid,
        profile_id=w.inputs.profile_id,
    )  # fmt: skip
    w.channel = channel
    step.summary = f"Channel {channel.channel_id} filtered to {user.calendar_id}."
    lines = callback_lines(user.callback_url, user.callback_key)
    await backend.delivered()
    await w._refresher.read_deliveries()
    verified = [f for f in w.feed if f.kind == "delivery" and "verification" in f.text]
    step.lines = [
        *lines,
        verified[-1].text if verified else "verification notification: not arrived yet",
    ]


async def run_sync(w: WizardHost, step: StepModel) -> None:
    result = await w.sync_now(full=True)
    if not result.ok:
        raise CommandError(
            f"sync failed: {result.error or result.state}.\n"
            "Fix: see the error above; press Full reconcile to try again."
        )
    step.summary = (
        f"Full reconcile: {result.events_read} event(s) read, {result.upserts} upsert(s), "
        f"{result.deletes} delete(s). Changes now sync live."
    )


async def run_availability(w: WizardHost, step: StepModel) -> None:
    if w.inputs.minutes <= 0 or w.inputs.days <= 0:
        raise WizardError("duration and window must be positive")
    await read_slots(w)


async def read_slots(w: WizardHost) -> None:
    """Step 4's two availability queries, asked again (after every sync once it ran)."""
    backend = w._need_backend()
    user = await backend.store.get_user(w.inputs.user_id)
    if user is None or user.sub is None or user.calendar_id is None:
        raise WizardError("run steps 1 and 2 first")
    window, minutes = w.query_window(), w.inputs.minutes
    managed, unmanaged = await query_slots(
        backend.client, sub=user.sub, calendar_id=user.calendar_id, window=window,
        minutes=minutes,
    )  # fmt: skip
    model = w.model.availability
    model.note = slots_note(managed, w.periods, window, minutes, w.inputs.tzid)
    model.managed_slots, model.unmanaged_slots = managed, unmanaged
    model.summary = (
        f"{len(managed)} slot(s) with managed availability, "
        f"{len(unmanaged)} without (updated after every sync)."
    )


RUNNERS: dict[str, Callable[[WizardHost, StepModel], Awaitable[None]]] = {
    "calendar": run_calendar,
    "channel": run_channel,
    "sync": run_sync,
    "availability": run_availability,
}
"""Steps 1-4 (step 0 runs in a context of its own: the controller's ``_run_connect``)."""

__all__ = ["RUNNERS", "read_slots"]
