"""Rate windows: "at most ``limit`` requests per ``period`` seconds", and their written form.

Cronofy limits requests per application (every user together): 50 per second and 500 per
minute unless Cronofy raised the application's limit. The limiters
(:mod:`cronofy_avail.client.ratelimit`, the cluster's shared one) enforce a tuple of
:class:`RateWindow`; :func:`parse_rate_windows` reads one from the written form a setting
holds (``CRONOFY_AVAIL_RATE_LIMIT``), ``"50/s,500/min"``, and :func:`format_rate_windows`
writes it back.

Pure: no I/O, so the settings can check a value without importing the client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateWindow:
    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period > 0 or math.isinf(self.period):
            raise ValueError("a rate window needs limit >= 1 and a finite period > 0")


CRONOFY_DEFAULT_WINDOWS: tuple[RateWindow, ...] = (RateWindow(50, 1.0), RateWindow(500, 60.0))
"""Cronofy's default application-wide limit: 50 requests a second and 500 a minute."""

RATE_LIMIT_EXAMPLE = "50/s,500/min"
"""The written form of :data:`CRONOFY_DEFAULT_WINDOWS`."""

MAX_LIMIT = 1_000_000
"""The most requests one window may admit (far above any Cronofy plan; the limiters keep a
start per request)."""
MAX_PERIOD = 86_400.0
"""The longest window, in seconds (a day)."""

_UNITS: dict[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
}
_WINDOW = re.compile(
    r"^(?P<limit>\d{1,9})\s*/\s*(?P<count>\d{1,6}(?:\.\d{1,6})?)?\s*(?P<unit>[a-z]+)$"
)


def parse_rate_windows(text: str) -> tuple[RateWindow, ...]:
    """``"50/s,500/min"`` → ``(RateWindow(50, 1.0), RateWindow(500, 60.0))``.

    Comma-separated ``<requests>/<period>``; a period is a unit (``s``, ``min``, ``h``; also
    ``sec``, ``second(s)``, ``minute(s)``, ``hour(s)``; not ``m``, which could be read as
    milliseconds or months) with an optional
    count before it (``100/10s``). Each window once per period; their order does not matter
    (they are returned shortest period first). A :class:`ValueError` says what is wrong in
    words a person can act on (it does not repeat the whole value).
    """
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise ValueError("it needs one or more windows separated by commas, none empty")
    windows: dict[float, RateWindow] = {}
    for part in parts:
        match = _WINDOW.match(part.lower())
        unit = _UNITS.get(match["unit"]) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{part!r} is not <requests>/<period> with a period of s, min or h "
                "(e.g. 50/s, 500/min, 100/10s)"
            )
        limit = int(match["limit"])
        count = float(match["count"]) if match["count"] else 1.0
        period = count * unit
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"{part!r} must allow from 1 to {MAX_LIMIT} requests")
        if not 0 < period <= MAX_PERIOD:
            raise ValueError(f"{part!r} needs a period longer than 0 and at most a day")
        if period in windows:
            raise ValueError(f"{part!r} repeats the period of another window")
        windows[period] = RateWindow(limit, period)
    return tuple(windows[p] for p in sorted(windows))


def format_rate_windows(windows: Sequence[RateWindow]) -> str:
    """The written form :func:`parse_rate_windows` reads: ``"50/s,500/min"``."""
    return ",".join(f"{w.limit}/{_period_text(w.period)}" for w in windows)


def _period_text(period: float) -> str:
    for name, seconds in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        count = period / seconds
        if count == int(count) and count >= 1:
            return name if count == 1 else f"{int(count)}{name}"
    return f"{period:g}s"


__all__ = [
    "CRONOFY_DEFAULT_WINDOWS",
    "RATE_LIMIT_EXAMPLE",
    "RateWindow",
    "format_rate_windows",
    "parse_rate_windows",
]
