"""Step 3, live: what the views show kept current after every delivery and sync.

:class:`Refresher` re-reads the deliveries (feed lines), the sub calendar's events, the
Available Periods and, once step 4 ran, the slots; requests coalesce into one running refresh.
What it reads goes to the models (:mod:`.models`), which the views observe.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import TYPE_CHECKING

from cronofy_avail.core.week import bars_from
from cronofy_avail.notebook.feed import new_deliveries, sync_item
from cronofy_avail.notebook.steps import StepState
from cronofy_avail.runtime.sync import SyncResult

if TYPE_CHECKING:
    from cronofy_avail.notebook.host import WizardHost


class Refresher:
    """Keeps one wizard's step 3 (and the week view) current."""

    def __init__(self, wizard: WizardHost) -> None:
        self._wizard = wizard
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.seen_delivery = 0
        """Deliveries already in the feed."""
        self.read_window: tuple[str, date, date] | None = None
        """(calendar id, from, to) of the last events read: what counts as new in the next."""

    def reset(self) -> None:
        self.seen_delivery, self.read_window = 0, None

    def request(self) -> None:
        """Re-read deliveries, events, periods (and slots once step 4 ran), coalesced."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh()
            except Exception as exc:  # nobody awaits this task: shown, never left unretrieved
                self._wizard._fail_action("sync", exc)
            if not self._again:
                return

    async def refresh(self) -> None:
        w = self._wizard
        backend = w.backend
        if backend is None:
            return
        model = w.model.sync
        await self.read_deliveries()
        user = await backend.store.get_user(w.inputs.user_id)
        if user is not None and user.calendar_id:
            today = w.today()
            window = (user.calendar_id, today - timedelta(days=28), today + timedelta(days=60))
            known, before = {e.event_uid for e in model.events}, self.read_window
            model.events = await backend.client.read_events(
                tzid=w.inputs.tzid,
                from_=window[1],
                to=window[2],
                calendar_ids=[user.calendar_id],
            )
            self.read_window = window
            if before is not None and before[0] == user.calendar_id:
                # New events inside what the last read covered: not the first read, not a
                # new calendar, and not the days the window slid onto at midnight.
                bars = bars_from(model.events)
                fresh = [w.week.day_of(b.start) for b in bars if b.id not in known]
                w.week.follow([d for d in fresh if before[1] <= d < before[2]])
        model.periods = await backend.client.list_available_periods()
        if w.steps["availability"].state == StepState.DONE:
            await w._query_slots()
        model.refreshes += 1
        w._changed()

    async def read_deliveries(self) -> None:
        w = self._wizard
        items, self.seen_delivery = await new_deliveries(
            w._need_backend().store, w.inputs.user_id, self.seen_delivery
        )
        for item in items:
            w.add_to_feed(item)

    async def on_sync(self, user_id: str, result: SyncResult) -> None:
        """A sync of this wizard's user ended (the coordinator's listener): its deliveries,
        then its line, in the feed; then everything read again."""
        w = self._wizard
        if user_id != w.inputs.user_id:
            return
        w.model.sync.last_result = result
        w.model.sync.progress = None
        await self.read_deliveries()  # the deliveries this sync answers come first
        w.add_to_feed(sync_item(result, w.inputs.tzid))
        self.request()

    async def settle(self, within: float) -> None:
        """Wait until deliveries, the syncs they start and this refresh are done."""
        backend = self._wizard._need_backend()
        async with asyncio.timeout(within):
            for _ in range(3):
                await backend.delivered(within)
                await backend.coordinator.wait_idle()
                task = self._task
                if task is not None:
                    await task
        await self.refresh()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


__all__ = ["Refresher"]
