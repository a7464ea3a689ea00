"""The database going away and coming back, as a cluster worker lives through it.

PostgreSQL restarts (an upgrade, ``pg_ctl restart``), fails over to a standby, or the network
between drops for a while. A worker does not exit then: it waits for the database, probing it
with a capped exponential backoff, and resumes. It gives up (exits non-zero, so a supervisor
or a person notices) only when the database stays away longer than its limit
(``CRONOFY_AVAIL_DB_GIVE_UP`` / ``worker --give-up-after``).

:class:`DatabaseWatch` is that one outage clock, shared by the worker's job queue loop and the
jobs it runs: the outage starts when the first of them loses the database and ends once the
queue has run well again.

Needs the ``postgres`` extra; imported only by :mod:`cronofy_avail.runtime.cluster`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import psycopg

from cronofy_avail.core.dburl import redact_db_url
from cronofy_avail.runtime.store.postgres import error_reason, with_connect_timeout

DEFAULT_GIVE_UP = 300.0
"""Seconds a worker waits for its database by default (``CRONOFY_AVAIL_DB_GIVE_UP``)."""
FIRST_DELAY = 0.25
"""Seconds before the first probe of an outage; each next one waits twice as long, up to
:data:`MAX_DELAY`."""
MAX_DELAY = 5.0
PROBE_TIMEOUT = 5.0
"""Seconds one probe may take (a server that moved away may not even refuse)."""


class DatabaseGone(Exception):
    """The database did not answer for longer than the worker's limit: it gives up."""


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error in ``exc``'s causes (a wrapper's text says less: procrastinate's
    is "Database error."), else ``exc``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.Error):
            return current
        current = current.__cause__ or current.__context__
    return exc


async def _stopped_within(stop: asyncio.Event | None, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` as soon as ``stop`` is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class DatabaseWatch:
    """Since when the database at ``url`` has been away, and a bounded wait for it to answer.

    :meth:`lost` starts an outage (a later call during the same one keeps its start),
    :meth:`recovered` ends it, :meth:`wait` probes until the database answers, or raises
    :class:`DatabaseGone` once the outage is older than ``give_up_after`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        give_up_after: float = DEFAULT_GIVE_UP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not give_up_after > 0:  # NaN too
            raise ValueError("give_up_after must be a number of seconds above 0")
        self.url = url
        self.give_up_after = give_up_after
        self.clock = clock
        self.down_since: float | None = None
        self.reason = ""
        """The last error seen, as a user may read it (one line, never the password)."""
        self.outages = 0
        """Outages begun so far (tests, status)."""

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def elapsed(self) -> float:
        """Seconds since the outage began (0 when there is none)."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def lost(self, exc: BaseException | None = None) -> None:
        """The database went away (``exc``: what said so)."""
        if exc is not None:
            self.reason = error_reason(self.url, _driver_error(exc))
        if self.down_since is None:
            self.down_since = self.clock()
            self.outages += 1

    def recovered(self) -> None:
        """The database answers again and the worker has run well since."""
        self.down_since = None
        self.reason = ""

    async def answers(self) -> bool:
        """One probe: ``SELECT 1`` on a new connection (not a pool's: one may still hold
        connections the server closed, or be between two attempts to reconnect)."""
        try:
            async with (
                asyncio.timeout(PROBE_TIMEOUT),
                await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, **with_connect_timeout(self.url)
                ) as conn,
            ):
                await conn.execute("SELECT 1")
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self.reason = error_reason(self.url, exc) if str(exc) else "no answer in time"
            return False
        return True

    def gone(self) -> DatabaseGone:
        return DatabaseGone(
            f"the database {redact_db_url(self.url)} did not answer for "
            f"{self.elapsed():.1f} s (the limit is {self.give_up_after:g} s); last error: "
            f"{self.reason or 'none'}"
        )

    async def wait(self, stop: asyncio.Event | None = None, *, delay: float = FIRST_DELAY) -> bool:
        """Probe until the database answers (``True``) or ``stop`` is set (``False``), the
        first probe after ``delay`` seconds and each next one twice as late (at most
        :data:`MAX_DELAY`). :class:`DatabaseGone` once the outage is older than the limit."""
        self.lost()
        while True:
            remaining = self.give_up_after - self.elapsed()
            if remaining <= 0:
                raise self.gone()
            if await _stopped_within(stop, min(delay, remaining)):
                return False
            if await self.answers():
                return True
            delay = min(delay * 2, MAX_DELAY)
