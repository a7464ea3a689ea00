"""Retry policy: which failures are retried, how long to wait, when to give up.

Pure: no I/O, no sleeping. The client asks this module for a delay and sleeps with its own
injectable ``sleep``, so tests check every delay without waiting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date (a ``Date`` or ``Retry-After`` header) as an aware UTC datetime, or
    ``None`` when absent or not a date."""
    if value is None or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000" and obsolete forms: the RFC says GMT
    return when.astimezone(UTC)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    ``now`` is the wall-clock time (epoch seconds) an HTTP-date is measured from. A value that is
    neither form is ignored (``None``); a date in the past means "now" (``0``).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = parse_http_date(value)
        if when is None:
            return None
        return max(0.0, when.timestamp() - now)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    * ``max_attempts``: total tries of one request, the first included.
    * ``max_elapsed``: seconds from the first try after which no retry starts.
    * ``base_delay`` * 2**(attempt-1), capped at ``max_delay``, then full jitter.
    * ``max_retry_after``: a server-requested wait longer than this is not waited out; the
      error is raised with ``retry_after`` so a scheduler can come back later.
    """

    max_attempts: int = 5
    max_elapsed: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Delay before try ``attempt + 1`` after ``attempt`` failed tries (full jitter)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(0.0, ceiling)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next try: the server's ``Retry-After`` when given, else backoff."""
        if retry_after is not None:
            return retry_after
        return self.backoff(attempt)

    def should_retry(self, attempt: int, elapsed: float, delay: float) -> bool:
        """Whether another try fits within the attempt and time budgets."""
        if attempt >= self.max_attempts:
            return False
        if delay > self.max_retry_after:
            return False
        return elapsed + delay <= self.max_elapsed


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries (for callers that schedule their own retries)."""
