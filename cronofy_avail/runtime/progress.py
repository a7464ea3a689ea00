"""How far a running sync has got: pages of events read, then writes applied.

:class:`SyncProgress` is what a view shows ("reading events: page 3 (250 events)", "applying:
12 of 40 writes"). The engine reports one after each page of events read, once when the plan
is known, after each write call answered, and once at the end (``done``, whatever the outcome:
the result itself goes to :meth:`SyncCoordinator.add_listener`'s listeners). Nothing of this is
made when nobody listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_LOGGER = logging.getLogger(__name__)

Phase = Literal["reading", "applying", "done"]


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """One report of a running sync of ``user_id``; every count is the sync's total so far."""

    user_id: str
    kind: str
    """``"full"`` (a reconcile) or ``"incremental"``, as :attr:`SyncResult.kind`."""
    phase: Phase
    """``reading`` events, ``applying`` writes, or ``done`` (last report of the sync)."""
    pages_read: int = 0
    """Pages of events read (Cronofy answers a read in pages)."""
    events_read: int = 0
    writes_planned: int = 0
    """Upserts and deletes the plan holds; known from the first ``applying`` report on (a dry
    run's ``done`` carries it too, with nothing applied)."""
    writes_applied: int = 0
    """Writes Cronofy accepted (a batch call answers up to 50 at once, so this can jump)."""
    writes_rejected: int = 0
    """Writes Cronofy refused for good (a 4xx for that entry): done with, never retried."""
    dry_run: bool = False

    @property
    def writes_done(self) -> int:
        """Writes answered one way or the other: equals ``writes_planned`` once all are."""
        return self.writes_applied + self.writes_rejected


ProgressCallback = Callable[[SyncProgress], None]
"""Called synchronously in the sync's own task: it must return quickly."""


class ProgressReport:
    """Counts one sync's progress and hands each report to ``callback``. Made per sync only
    when somebody listens; a callback that raises is logged and never fails the sync."""

    __slots__ = (
        "_applied",
        "_callback",
        "_dry_run",
        "_kind",
        "_rejected",
        "_user_id",
        "events",
        "pages",
        "planned",
    )

    def __init__(
        self, callback: ProgressCallback, user_id: str, kind: str, *, dry_run: bool
    ) -> None:
        self._callback = callback
        self._user_id = user_id
        self._kind = kind
        self._dry_run = dry_run
        self.pages = 0
        self.events = 0
        self.planned = 0
        self._applied = 0
        self._rejected = 0

    def page(self, events: int) -> None:
        """A page of ``events`` events was read."""
        self.pages += 1
        self.events += events
        self._emit("reading")

    def planning_done(self, writes: int) -> None:
        """The plan holds ``writes`` writes; applying starts (not reported by a dry run)."""
        self.planned = writes
        if not self._dry_run:
            self._emit("applying")

    def writes(self, applied: int, rejected: int) -> None:
        """The totals so far (from the runner's result, so a retry from scratch resets them)."""
        self._applied, self._rejected = applied, rejected
        self._emit("applying")

    def done(self) -> None:
        self._emit("done")

    def _emit(self, phase: Phase) -> None:
        report = SyncProgress(
            self._user_id,
            self._kind,
            phase,
            self.pages,
            self.events,
            self.planned,
            self._applied,
            self._rejected,
            self._dry_run,
        )
        try:
            self._callback(report)
        except Exception:
            _LOGGER.debug("sync progress callback failed", exc_info=True)
