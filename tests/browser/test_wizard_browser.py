"""The wizard in a real JupyterLab in a real browser: open a notebook, click through the four
steps to availability, drag on the week view to create an event, and watch it come back as a
period bar after notification → sync. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cronofy_avail.notebook.controller import STEP_KEYS
from tests.support.browser import KERNEL_IDLE, Lab

pytestmark = pytest.mark.slow

WAIT = 90_000
NOTEBOOK = "wizard.ipynb"


MEASURE = """(week) => {
  const box = (el) => { const b = el.getBoundingClientRect();
                        return {x: b.x, y: b.y, width: b.width, height: b.height}; };
  return {day: box(week.querySelector('rect.day[data-day="0"]')),
          period: box(week.querySelector("rect.bar.period")),
          managed: box(week.querySelector("rect.bar.managed"))};
}"""
"""Today's column, the period and the first managed slot, measured in the same DOM."""


def write_notebook(root: Path) -> None:
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Available Periods from a sub calendar"),
            new_code_cell(
                "from cronofy_avail import Wizard\n\nwizard = Wizard(debug=True)\nwizard"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.validate(nb)
    nbformat.write(nb, str(root / NOTEBOOK))


def test_click_through_to_availability_then_drag_a_period(
    jupyterlab: Lab, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    began = time.monotonic()
    write_notebook(jupyterlab.root)
    page.set_viewport_size({"width": 1400, "height": 2400})
    # ?reset: no notebook restored from an earlier run becomes the current widget
    page.goto(f"{jupyterlab.url}lab/tree/{NOTEBOOK}?reset&token={jupyterlab.token}")
    page.wait_for_function(KERNEL_IDLE, arg=NOTEBOOK, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    wizard = page.locator(".cav-wizard")
    expect(wizard).to_be_visible(timeout=WAIT)

    for key in STEP_KEYS:
        page.locator(f".cav-run-{key}").click()
        expect(page.locator(f".cav-status-{key} .cav-state-done")).to_be_visible(timeout=WAIT)
        if key != "availability":
            page.locator(f".cav-next-{key}").click()
    expect(page.locator(".cav-status-channel")).to_contain_text("verification")
    expect(page.locator(".cav-slots-table tbody tr").first).to_be_visible()
    expect(page.locator(".cav-slots")).to_contain_text("Busy-calendar trap")
    week = page.locator(".cav-week-view")
    expect(week.locator("rect.day")).to_have_count(7)
    # the unmanaged slots are listed in step 4, not drawn: they would cover the week
    expect(week.locator("rect.bar.unmanaged")).to_have_count(0)
    expect(week.locator("rect.bar.period")).to_have_count(0)

    # Drag across empty time today 10:00-12:00 (the lab's clock says 08:00 in the user's
    # zone, Europe/London): the week view starts today, so today is the first column.
    day = week.locator('rect.day[data-day="0"]')
    expect(day).to_have_attribute("data-date", jupyterlab.today.isoformat())
    day.scroll_into_view_if_needed()
    box = day.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] * 0.6
    page.mouse.move(x, box["y"] + box["height"] * 10 / 24)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 11 / 24, steps=4)
    page.mouse.move(x, box["y"] + box["height"] * 12 / 24, steps=4)
    page.mouse.up()

    # notification -> sync -> the period bar, the event bar and the table row
    expect(week.locator("rect.bar.period")).to_have_count(1, timeout=WAIT)
    expect(week.locator("rect.bar.event")).to_have_count(1)
    expect(page.locator(".cav-periods")).to_contain_text("Dragged in the week view")
    expect(page.locator(".cav-feed")).to_contain_text("signature ok")
    # managed slots today, inside the new period: the query starts now, not tomorrow
    managed = week.locator("rect.bar.managed")
    expect(managed.first).to_be_attached(timeout=WAIT)
    expect(page.locator(".cav-slots-table tbody tr").first).to_contain_text(
        f"{jupyterlab.today:%a %d %b} 10:00-11:00"
    )
    # Measured in one go: a later refresh (the "now" line moves each minute) redraws the SVG,
    # and an element measured in between would be gone.
    boxes = week.evaluate(MEASURE)
    day_box, period_box, first_slot = boxes["day"], boxes["period"], boxes["managed"]
    hours = (period_box["y"] - day_box["y"]) / day_box["height"] * 24
    assert round(hours * 4) / 4 == 10.0  # starts at 10:00 on the axis
    assert round(period_box["height"] / day_box["height"] * 24 * 4) / 4 == 2.0  # two hours
    assert day_box["x"] <= first_slot["x"] < day_box["x"] + day_box["width"]  # today's column
    period = week.locator("rect.bar.period")

    # hover shows what a bar is; a click selects it
    period.hover()
    expect(page.locator(".cav-hover")).to_contain_text("period")
    week.locator("rect.bar.event").click()
    expect(page.locator(".cav-details")).to_contain_text("Dragged in the week view")
    # the block says what it is, also to the keyboard: focusable, labelled with its times
    event = week.locator("rect.bar.event")
    when = f"{jupyterlab.today:%a %d %b} 10:00\u201312:00"  # an en dash, as drawn
    expect(event).to_have_attribute("aria-label", f"Dragged in the week view, {when}")
    event.focus()
    expect(event).to_be_focused()
    # ... and selectable by keyboard: Escape clears the selection, Enter and Space select the
    # focused block; each redraws the SVG (aria-pressed flips), and the new block has the focus
    details = page.locator(".cav-details")
    expect(event).to_have_attribute("aria-pressed", "true")  # the click above
    page.keyboard.press("Escape")
    expect(event).to_have_attribute("aria-pressed", "false")
    expect(details).to_have_text("")
    expect(week.locator("rect.selection")).to_have_count(0)
    expect(event).to_be_focused()
    page.keyboard.press("Enter")
    expect(event).to_have_attribute("aria-pressed", "true")
    expect(details).to_contain_text("Dragged in the week view")
    expect(week.locator("rect.selection")).to_have_count(1)
    expect(event).to_be_focused()
    page.keyboard.press("Escape")
    expect(details).to_have_text("")
    page.keyboard.press("Space")
    expect(event).to_have_attribute("aria-pressed", "true")
    expect(details).to_contain_text("Dragged in the week view")
    expect(event).to_be_focused()

    page.screenshot(path=str(artifacts / "wizard-drag.png"))

    # Step 3's buttons act as the user: an all-day slot and a daily series arrive live.
    page.get_by_text("3. Sync, live").click()
    page.locator(".cav-add-all-day").click()
    page.locator(".cav-add-recurring").click()
    expect(page.locator(".cav-periods-table tbody tr")).to_have_count(5, timeout=WAIT)
    expect(page.locator(".cav-feed")).to_contain_text("upsert")
    page.get_by_text("4. Availability").click()
    expect(page.locator(".cav-status-availability .cav-state-done")).to_be_visible()
    page.screenshot(path=str(artifacts / "wizard-step4.png"))
    wizard.screenshot(path=str(artifacts / "wizard-step4-widget.png"))
    week.screenshot(path=str(artifacts / "week-view.png"))
    (artifacts / "browser-test-seconds.txt").write_text(f"{time.monotonic() - began:.1f}\n")
