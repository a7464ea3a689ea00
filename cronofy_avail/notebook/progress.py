"""Notebook 04's checks report to the workshop by themselves: a check decorated with
:func:`reports` sends its verdict to the instructor page when this user joined a workshop
(the wizard keeps the seat, see :mod:`cronofy_avail.workshop.seat`), and does nothing
otherwise. No attendee has to remember a call.

Reporting never changes a verdict and never raises: without a seat nothing is sent and
nothing is said; a workshop that does not answer (or no longer knows the seat) adds one line
to the check's note, after a few seconds at most.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

from cronofy_avail.workshop.page import EXERCISES
from cronofy_avail.workshop.seat import Seat, load_seat, report_progress


class Verdict(Protocol):
    @property
    def ok(self) -> bool: ...

    note: str


P = ParamSpec("P")
V = TypeVar("V", bound=Verdict)


async def report(verdict: V, exercise: str, seat: Seat | None = None) -> V:
    """Send ``verdict`` for ``exercise`` to the workshop of ``seat`` (default: the kept one,
    if any); a failure is a line in ``verdict.note``. Returns ``verdict``."""
    seat = seat or load_seat()
    if seat is None:
        return verdict
    try:
        note = await report_progress(seat, exercise, verdict.ok)
    except Exception:  # a report must never fail a check
        note = "(the check's result could not be sent to the workshop)"
    if note:
        verdict.note = note
    return verdict


def reports(exercise: str) -> Callable[[Callable[P, Awaitable[V]]], Callable[P, Awaitable[V]]]:
    """Decorate the check of ``exercise`` (one of
    :data:`~cronofy_avail.workshop.page.EXERCISES`): its verdict goes to the workshop."""
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}")

    def decorate(check: Callable[P, Awaitable[V]]) -> Callable[P, Awaitable[V]]:
        @functools.wraps(check)
        async def reported(*args: P.args, **kwargs: P.kwargs) -> V:
            return await report(await check(*args, **kwargs), exercise)

        return reported

    return decorate


__all__ = ["Verdict", "report", "reports"]
