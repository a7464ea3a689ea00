"""Days relative to today and events added to a playground's emulator, for the tests that
run the sync end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cronofy_avail.playground import Playground

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""Midnight UTC of the day this module was imported: one base for every call of ``at``, so a
test that runs across midnight still names the same days at its end as at its start."""


def at(days: int, hour: int, minute: int = 0) -> datetime:
    return TODAY + timedelta(days=days, hours=hour, minutes=minute)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def add(pg: Playground, start: datetime | str, end: datetime | str, **extra: Any) -> str:
    spec: dict[str, Any] = {
        "summary": "Available",
        "start": iso(start) if isinstance(start, datetime) else start,
        "end": iso(end) if isinstance(end, datetime) else end,
        **extra,
    }
    uid: str = pg.emulator.add_event(pg.calendar_id, **spec)["event_uid"]
    return uid
