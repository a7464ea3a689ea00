"""A clock a test sets by hand (an injected "now"), and the UTC timestamp text Cronofy uses."""

from __future__ import annotations

from datetime import datetime


class SetClock:
    """``clock()`` is ``clock.now``, which only the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def iso(value: datetime) -> str:
    """``2031-03-05T09:00:00Z`` (an aware UTC datetime)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["SetClock", "iso"]
