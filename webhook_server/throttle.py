"""Warnings a client causes, counted instead of repeated.

A receiver on the internet meets malformed requests, refused signatures and clients that hang
up mid-body; each is worth a line, a flood of them is not worth a flood of lines.
:class:`WarningThrottle` lets the first ``burst`` warnings of a kind through, counts the rest,
and while they keep coming lets one through per ``interval`` that says how many it stood for
(``suppressed K similar warnings in the last Ns``). An interval with none counted ends the
flood: the next one of that kind starts a fresh burst. :meth:`WarningThrottle.flush` hands
over what is still counted (the receiver logs it when it stops), so no count is lost.

The clock is injected (``time.monotonic`` by default), so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_BURST = 5
DEFAULT_INTERVAL = 60.0
MAX_KINDS = 64
OTHER_KIND = "(other warnings)"


@dataclass(frozen=True, slots=True)
class Admitted:
    """A warning let through, and what its line should add."""

    suppressed: int = 0
    """Similar warnings counted, not logged, since the previous one of its kind."""
    elapsed: float = 0.0
    """Seconds over which they were counted."""
    last_of_burst: bool = False
    """The last one let through before counting starts."""
    interval: float = DEFAULT_INTERVAL

    @property
    def note(self) -> str:
        """The text to append to the warning's line ("" when there is nothing to add)."""
        if self.suppressed:
            return (
                f" (suppressed {self.suppressed} similar warning"
                f"{'s' if self.suppressed != 1 else ''} in the last {self.elapsed:.0f}s)"
            )
        if self.last_of_burst:
            return (
                f" (more like this are counted, and summarized once per {self.interval:g}s "
                "while they last)"
            )
        return ""


@dataclass(slots=True)
class _Kind:
    window_start: float
    passed: int = 0
    suppressed: int = 0


class WarningThrottle:
    """At most ``burst`` warnings of a kind at first, then one per ``interval`` with the count
    of those it stands for. Kinds are short, fixed texts (an exception name, a refusal reason);
    beyond ``MAX_KINDS`` of them, the rest share one count."""

    def __init__(
        self,
        *,
        burst: int = DEFAULT_BURST,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or interval <= 0:
            raise ValueError("burst must be at least 1 and interval positive")
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()  # log records may come from several threads

    def admit(self, kind: str) -> Admitted | None:
        """Whether a warning of ``kind`` is logged now (with what its line adds), or ``None``:
        it is counted, and reported by a later one."""
        now = self.clock()
        with self._lock:
            if kind not in self._kinds and len(self._kinds) >= MAX_KINDS:
                kind = OTHER_KIND
            state = self._kinds.get(kind)
            if state is not None and now - state.window_start < self.interval:
                if state.passed < self.burst:
                    state.passed += 1
                    return Admitted(
                        last_of_burst=state.passed == self.burst, interval=self.interval
                    )
                state.suppressed += 1
                return None
            if state is not None and state.suppressed:
                # Still coming after an interval: one line stands for all of them, and the
                # next interval counts again.
                admitted = Admitted(
                    suppressed=state.suppressed,
                    elapsed=now - state.window_start,
                    interval=self.interval,
                )
                state.window_start, state.suppressed = now, 0
                return admitted
            # The first of its kind, or the first after a quiet interval: a fresh burst.
            self._kinds[kind] = _Kind(window_start=now, passed=1)
            return Admitted(last_of_burst=self.burst == 1, interval=self.interval)

    def flush(self) -> list[tuple[str, int, float]]:
        """What is still counted: (kind, how many, over how many seconds), then forgotten."""
        now = self.clock()
        with self._lock:
            pending = [
                (kind, state.suppressed, now - state.window_start)
                for kind, state in self._kinds.items()
                if state.suppressed
            ]
            self._kinds.clear()
        return pending


__all__ = ["DEFAULT_BURST", "DEFAULT_INTERVAL", "Admitted", "WarningThrottle"]
