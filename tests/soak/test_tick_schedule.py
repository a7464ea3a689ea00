"""The cluster soak's tick runs every 2 seconds, as procrastinate's periodic deferrer reads
its schedule (croniter: a 6th field counts seconds).

``*/2 * * * * *`` reads as every second of every *even minute*: recovery of a killed worker's
jobs and the re-enqueue of pending intents then stopped for a whole minute in two, and the
soak's wait for everything to settle after its run took up to a minute longer. Fast: no
database, no clock (fixed instants)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import procrastinate
from procrastinate.periodic import PeriodicDeferrer
from procrastinate.testing import InMemoryConnector

from .cluster import TICK

START = int(datetime(2031, 3, 4, 5, 6, 59, tzinfo=UTC).timestamp())
"""Just before an odd minute: the half of the time the old schedule never ticked."""


def test_the_soaks_tick_is_every_two_seconds_in_every_minute() -> None:
    app = procrastinate.App(connector=InMemoryConnector())

    async def tick(timestamp: int) -> None:
        del timestamp

    app.periodic(cron=TICK, periodic_id="tick")(app.task(name="tick")(tick))
    (periodic,) = app.periodic_registry.periodic_tasks.values()
    deferrer = PeriodicDeferrer(app.periodic_registry)
    stamps = list(deferrer.get_timestamps(periodic, since=START, until=START + 240))
    assert len(stamps) == 120
    assert {later - earlier for earlier, later in pairwise(stamps)} == {2}
