"""The wizard's layout and its real-Cronofy Authorize, in a real JupyterLab and Chromium.

* At 1,100 and 1,440 px wide no label, button or dropdown of a panel is cut short, and the
  whole week (seven columns) is in view, in real-Cronofy mode and in embedded mode;
  screenshots of each go to ``test-artifacts/``.
* Real-Cronofy mode against an emulator standing in for Cronofy (``CRONOFY_API_BASE_URL``):
  the Authorize button, its link through the emulator's consent page and the redirect back to
  the kernel, which connects; then steps 1-4 clicked through, and an event the user adds in
  their calendar app comes back as a period in the week view.
* Embedded mode: at each width a drag on the week view makes a period.
* ``await wizard.shutdown()``: the output says it stopped, and the saved notebook, closed and
  reopened, shows that again rather than "Error displaying widget: model not found".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cronofy_avail.notebook.controller import STEP_KEYS
from tests.support.browser import KERNEL_IDLE, Lab

pytestmark = pytest.mark.slow

WAIT = 90_000
WIDTHS = (1100, 1440)

CUT_SHORT = """(root) => {
  // Every visible label, button and dropdown under root whose text does not fit.
  const canvas = document.createElement("canvas").getContext("2d");
  const visible = (el) => el.offsetParent !== null && el.getClientRects().length > 0;
  const cut = [];
  for (const el of root.querySelectorAll(".widget-label, .widget-label-basic, button")) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1) {
      cut.push(`${el.tagName.toLowerCase()}.${el.className}: "${el.textContent.trim()}" ` +
               `(${el.scrollWidth} > ${el.clientWidth})`);
    }
  }
  for (const el of root.querySelectorAll("select")) {
    if (!visible(el) || el.selectedIndex < 0) continue;
    const style = getComputedStyle(el);
    canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const text = el.options[el.selectedIndex].text;
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (canvas.measureText(text).width > room) {
      cut.push(`select: "${text}" (${Math.ceil(canvas.measureText(text).width)} > ${room})`);
    }
  }
  return cut;
}"""
"""A page function: what is cut short under ``root`` (empty: nothing)."""


def _write(root: Path, name: str, *sources: str) -> None:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.validate(nb)
    nbformat.write(nb, str(root / name))


def _open_and_run(page: Any, lab: Lab, name: str) -> None:
    # ?reset: no notebook restored from an earlier run becomes the current widget
    page.goto(f"{lab.url}lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_IDLE, arg=name, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def _cut_short(page: Any, selector: str) -> list[str]:
    cut: list[str] = page.locator(selector).evaluate(CUT_SHORT)
    return cut


WEEK_IN_VIEW = """(root) => {
  // The seven day columns of the week view, each wide enough to read and none cut off by the
  // widget, the output area or the window (empty: all in view).
  const outer = root.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  const days = [...root.querySelectorAll("rect.day")];
  if (days.length !== 7) return [`${days.length} day columns`];
  const out = [];
  for (const day of days) {
    const b = day.getBoundingClientRect();
    if (b.width < 80 || b.left < outer.left - 1 || b.right > outer.right + 1 || b.right > width)
      out.push(`${day.dataset.date}: ${Math.round(b.left)}-${Math.round(b.right)} of ` +
               `${Math.round(outer.left)}-${Math.round(outer.right)} (window ${width})`);
  }
  return out;
}"""


def _week_cut(page: Any) -> list[str]:
    cut: list[str] = page.locator(".cav-week-view").evaluate(WEEK_IN_VIEW)
    return cut


def _run_cell(page: Any, code: str) -> None:
    """Type ``code`` into a new cell at the end of the notebook and run it, as a user does."""
    page.evaluate(
        "(() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.activeCellIndex = nb.widgets.length - 1; })()"
    )
    page.evaluate(
        "([code]) => window.jupyterapp.commands.execute('notebook:insert-cell-below')"
        ".then(() => window.jupyterapp.commands.execute('notebook:replace-selection',"
        " {text: code}))"
        ".then(() => window.jupyterapp.commands.execute('notebook:run-cell'))",
        [code],
    )


def _drag(page: Any, day_index: int, hours: tuple[float, float]) -> None:
    """Drag down the week view's column ``day_index`` from ``hours[0]`` to ``hours[1]``."""
    day = page.locator(f'.cav-week-view rect.day[data-day="{day_index}"]')
    day.scroll_into_view_if_needed()
    box = day.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] * 0.6
    page.mouse.move(x, box["y"] + box["height"] * hours[0] / 24)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * sum(hours) / 48, steps=4)
    page.mouse.move(x, box["y"] + box["height"] * hours[1] / 24, steps=4)
    page.mouse.up()


def _open_step(page: Any, key: str) -> None:
    """Open a step's panel (a click on its accordion title) and wait until it shows."""
    from playwright.sync_api import expect

    index = STEP_KEYS.index(key)
    panel = page.locator(f".cav-step-{key}")
    if not panel.is_visible():
        page.locator(".cav-steps .jupyter-widget-Collapse-header").nth(index).click()
    expect(panel).to_be_visible()


def test_real_cronofy_connect_panel_fits_and_authorize_connects(
    jupyterlab: Lab, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    _write(
        jupyterlab.root,
        "real.ipynb",
        # The emulator stands in for Cronofy: real-Cronofy mode pointed at it by
        # CRONOFY_API_BASE_URL, the application's credentials in the environment, no token.
        "import os\n"
        "from cronofy_avail import Emulator, Wizard\n\n"
        "emu = await Emulator().start()\n"
        "os.environ.update(CRONOFY_API_BASE_URL=emu.base_url, CRONOFY_CLIENT_ID=emu.client_id,\n"
        "                  CRONOFY_CLIENT_SECRET=emu.client_secret)\n"
        "for name in ('CRONOFY_ACCESS_TOKEN', 'CRONOFY_REFRESH_TOKEN'):\n"
        "    os.environ.pop(name, None)\n"
        "wizard = Wizard(mode='cronofy')\n"
        "wizard.controller.set_input('redirect_port', 0)  # any free port: the emulator takes it\n"
        "wizard",
    )
    _open_and_run(page, jupyterlab, "real.ipynb")
    panel = page.locator(".cav-step-connect")
    expect(panel).to_be_visible(timeout=WAIT)
    authorize = panel.locator(".cav-authorize")
    expect(authorize).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1200})
        expect(authorize).to_be_visible()
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(artifacts / f"layout-connect-real-{width}.png"))
        assert _cut_short(page, ".cav-step-connect") == [], width

    authorize.click()
    link = panel.locator(".cav-authorize-link a")
    expect(link).to_have_text("Open Cronofy to authorize", timeout=WAIT)
    with page.context.expect_page() as opened:
        link.click()  # target=_blank: Cronofy's consent page in a new tab
    consent = opened.value
    consent.wait_for_load_state()
    # The emulator consents at once and redirects to the kernel's listener, which exchanged
    # the code before answering.
    expect(consent.locator("body")).to_contain_text("Authorized", timeout=WAIT)
    assert consent.url.split("?")[0].endswith("/oauth/callback")
    consent.close()
    expect(page.locator(".cav-status-connect .cav-state-done")).to_be_visible(timeout=WAIT)
    expect(page.locator(".cav-authorize-link")).to_contain_text("Authorized")
    expect(page.locator(".cav-status-connect")).to_contain_text("Connected to")
    panel.screenshot(path=str(artifacts / "authorize-connected.png"))

    # Steps 1-4, clicked. Cronofy (here the emulator) must reach the kernel's receiver; with
    # no ngrok running, its URL goes in step 2's Callback field, as the panel says.
    line = panel.locator(".cav-status-connect li", has_text="webhook receiver in this kernel")
    receiver = line.inner_text().split(": ", 1)[1].strip()
    for key in STEP_KEYS[1:]:
        _open_step(page, key)
        if key == "channel":
            page.locator(".cav-step-channel input[type=text]").fill(receiver)
        page.locator(f".cav-run-{key}").click()
        expect(page.locator(f".cav-status-{key} .cav-state-done")).to_be_visible(timeout=WAIT)
    expect(page.locator(".cav-status-channel")).to_contain_text("verification")
    # The user adds availability in their calendar app (real Cronofy has no "act as the
    # user": here the emulator's own call): notification, sync, and a period in the week.
    _run_cell(
        page,
        "c = wizard.controller\n"
        "emu.add_event(c.calendar.calendar_id, summary='From the phone',\n"
        "              start=c.tomorrow_at(14).isoformat(), end=c.tomorrow_at(16).isoformat())",
    )
    week = page.locator(".cav-week-view")
    expect(week.locator("rect.bar.period")).to_have_count(1, timeout=WAIT)
    expect(page.locator(".cav-periods")).to_contain_text("From the phone")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1200})
        for key in STEP_KEYS:
            _open_step(page, key)
            assert _cut_short(page, f".cav-step-{key}") == [], (key, width)
        assert _week_cut(page) == [], width
        page.locator(".cav-week-box").screenshot(path=str(artifacts / f"week-real-{width}.png"))


def test_no_step_label_is_cut_short_and_a_stopped_wizard_reopens_cleanly(
    jupyterlab: Lab, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    _write(
        jupyterlab.root,
        "steps.ipynb",
        "from cronofy_avail import Wizard\n\nwizard = await Wizard.start()\nwizard",
        "await wizard.run_all()\n"
        "c = wizard.controller\n"
        "await c.add_timed(c.tomorrow_at(10), c.tomorrow_at(12), summary='Morning')\n"
        "await wizard.settle()",
    )
    _open_and_run(page, jupyterlab, "steps.ipynb")
    expect(page.locator(".cav-status-availability .cav-state-done")).to_be_visible(timeout=WAIT)
    expect(page.locator(".cav-periods-table")).to_contain_text("Morning", timeout=WAIT)
    page.wait_for_function(KERNEL_IDLE, arg="steps.ipynb", timeout=WAIT)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1400})
        for key in STEP_KEYS:
            _open_step(page, key)
            panel = page.locator(f".cav-step-{key}")
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(artifacts / f"layout-{key}-{width}.png"))
            assert _cut_short(page, f".cav-step-{key}") == [], (key, width)
        feed = page.locator(".cav-feed-items")
        _open_step(page, "sync")
        box = feed.bounding_box()
        assert box is not None
        assert box["height"] <= 16 * 16 + 20  # bounded: 16em of a 16 px font, and a border
        # The whole week in view, and a drag makes a period (a column and hours per width).
        assert _week_cut(page) == [], width
        periods = page.locator(".cav-week-view rect.bar.period")
        before = periods.count()
        _drag(page, WIDTHS.index(width) + 1, (13, 15))
        expect(periods).to_have_count(before + 1, timeout=WAIT)
        page.locator(".cav-week-box").screenshot(path=str(artifacts / f"week-drag-{width}.png"))

    # Stopped: the output says so; saved, closed and reopened, it still does.
    page.set_viewport_size({"width": 1440, "height": 1400})
    _run_cell(page, "await wizard.shutdown()")
    stopped = page.locator(".cav-stopped-note")
    expect(stopped).to_contain_text("Stopped: the receiver and syncs were shut down", timeout=WAIT)
    page.wait_for_function(KERNEL_IDLE, arg="steps.ipynb", timeout=WAIT)
    page.screenshot(path=str(artifacts / "wizard-stopped.png"))
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=WAIT
    )
    saved = nbformat.read(str(jupyterlab.root / "steps.ipynb"), as_version=4)
    assert "Stopped:" in str(saved.cells[0].outputs)
    page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown')")
    page.evaluate("window.jupyterapp.commands.execute('application:close-all')")
    page.goto(f"{jupyterlab.url}lab/tree/steps.ipynb?reset&token={jupyterlab.token}")
    reopened = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea")
    expect(reopened.locator(".cav-stopped-note")).to_be_visible(timeout=WAIT)
    expect(reopened).to_contain_text("✔ 4. Availability (done)")
    expect(page.locator(".jp-Notebook")).not_to_contain_text("Error displaying widget")
    page.screenshot(path=str(artifacts / "wizard-reopened.png"))
