"""The week view's controls: the unmanaged-slots checkbox is ``render_week``'s
``show_unmanaged``, and the legend follows the same flag."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("ipywidgets")

from cronofy_avail.core.week import Bar, render_week
from cronofy_avail.notebook.week_controls import UNMANAGED_CLASS, unmanaged_toggle

MONDAY = date(2026, 11, 30)


def test_the_checkbox_is_off_and_its_value_is_show_unmanaged() -> None:
    toggle = unmanaged_toggle()
    assert toggle.value is False
    assert toggle.description == "Show slots without managed availability"
    assert UNMANAGED_CLASS == "cav-week-unmanaged"
    assert UNMANAGED_CLASS in toggle._dom_classes
    start = datetime(2026, 12, 1, 13, tzinfo=ZoneInfo("Europe/London"))
    bars = [Bar("u0", "unmanaged", start, start + timedelta(hours=1))]

    def draw() -> str:
        return render_week(
            bars, week_start=MONDAY, tzid="Europe/London", show_unmanaged=toggle.value
        )

    assert "unmanaged" not in draw()  # neither the slot nor its swatch
    toggle.value = True
    svg = draw()
    assert 'class="bar unmanaged"' in svg
    assert '<g class="legend-item" data-legend="unmanaged">' in svg
    assert unmanaged_toggle(value=True).value is True
