"""The one way a test waits for state another component owns: :func:`until`.

Waits that have an event to await (an ``asyncio.Event``, ``emulator.wait_notifications()``,
``coordinator.wait_idle()``, a line read from a child process) await it instead; this is for
the rest, where the only way to know is to look again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

WITHIN = 15.0
"""The default bound of a wait, in seconds: never reached when things work."""

TICK = 0.01
"""How long to let the other side run between two looks."""


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = WITHIN,
    what: str = "",
) -> None:
    """Return once ``condition()`` (a plain or an async predicate) is true; fail with an
    ``AssertionError`` naming ``what`` (or the predicate) if it is still false after
    ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                outcome = condition()
                if inspect.isawaitable(outcome):
                    outcome = await outcome
                if outcome:
                    return
                await asyncio.sleep(TICK)
    except TimeoutError:
        name = what or getattr(condition, "__qualname__", repr(condition))
        raise AssertionError(f"still not true after {within:g} s: {name}") from None
