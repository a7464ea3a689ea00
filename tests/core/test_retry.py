"""Retry policy: Retry-After parsing, backoff bounds, budgets (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from cronofy_avail.core.retry import NO_RETRY, RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

NOW = 1_800_000_000.0


def _http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5), ("120", 120.0)],
)
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_http_date_measured_from_now() -> None:
    assert parse_retry_after(_http_date(NOW + 30), now=NOW) == pytest.approx(30.0)
    assert parse_retry_after(_http_date(NOW + 30), now=NOW + 10) == pytest.approx(20.0)


def test_retry_after_date_in_past_is_zero() -> None:
    assert parse_retry_after(_http_date(NOW - 100), now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "nan", "Tomorrow at noon"])
def test_retry_after_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_backoff_within_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=random.Random(42))
    for attempt in range(1, 10):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter spreads over the range rather than sitting on one value.
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


def test_backoff_is_deterministic_with_seed() -> None:
    a = RetryPolicy(rng=random.Random(7))
    b = RetryPolicy(rng=random.Random(7))
    assert [a.backoff(n) for n in range(1, 6)] == [b.backoff(n) for n in range(1, 6)]


def test_delay_prefers_retry_after() -> None:
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(3, 0.0) == 0.0
    assert 0.0 <= policy.delay(3, None) <= 2.0


def test_should_retry_budgets() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed=10.0, max_retry_after=5.0)
    assert policy.should_retry(1, 0.0, 1.0)
    assert policy.should_retry(2, 0.0, 1.0)
    assert not policy.should_retry(3, 0.0, 1.0)
    assert not policy.should_retry(1, 0.0, 5.5)
    assert policy.should_retry(1, 5.0, 5.0)
    assert not policy.should_retry(1, 6.0, 5.0)


def test_max_attempts_validated_and_no_retry() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    assert not NO_RETRY.should_retry(1, 0.0, 0.0)


def test_retryable_statuses() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRYABLE_STATUSES
