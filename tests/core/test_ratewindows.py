"""Rate windows and their written form (``CRONOFY_AVAIL_RATE_LIMIT``)."""

from __future__ import annotations

import pytest

from cronofy_avail.core.ratewindows import (
    CRONOFY_DEFAULT_WINDOWS,
    RATE_LIMIT_EXAMPLE,
    RateWindow,
    format_rate_windows,
    parse_rate_windows,
)


def test_the_example_is_cronofys_default() -> None:
    assert parse_rate_windows(RATE_LIMIT_EXAMPLE) == CRONOFY_DEFAULT_WINDOWS
    assert format_rate_windows(CRONOFY_DEFAULT_WINDOWS) == RATE_LIMIT_EXAMPLE


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("500/min,50/s", "50/s,500/min"),
        ("100 / 10 s, 3000/hour", "100/10s,3000/h"),
        ("7/90sec", "7/90s"),
        ("7/1.5s", "7/1.5s"),
        ("1/24h", "1/24h"),
        ("9/2mins", "9/2min"),
    ],
)
def test_written_forms_are_read_shortest_period_first_and_written_back(
    text: str, written: str
) -> None:
    windows = parse_rate_windows(text)
    assert [w.period for w in windows] == sorted(w.period for w in windows)
    assert format_rate_windows(windows) == written
    assert parse_rate_windows(written) == windows


@pytest.mark.parametrize(
    "text", ["", " ", ",", "50/s,,500/min", "50/", "/s", "50/25h", "50/ms", "50 per s", "0/min"]
)
def test_bad_forms_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_rate_windows(text)


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (1, 0.0), (1, float("inf"))])
def test_a_window_needs_a_request_and_a_finite_period(limit: int, period: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        RateWindow(limit, period)
