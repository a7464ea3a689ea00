"""Notebook 01 as a reader runs it: opened in a real JupyterLab, every cell run in the browser
(up to the teardown), the wizard reaching step 4 and the week view showing the period bars of
the two events the notebook adds. Then the teardown cell stops what the wizard started.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from cronofy_avail.notebook.controller import STEP_KEYS
from tests.support.browser import KERNEL_IDLE, Lab

pytestmark = pytest.mark.slow

WAIT = 120_000
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = "01_walkthrough.ipynb"

RUN_ABOVE = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-all-above');
}"""
RUN_ACTIVE = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def test_notebook_01_runs_in_jupyterlab_to_step_4_with_period_bars(
    jupyterlab: Lab, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    began = time.monotonic()
    shutil.copy(NOTEBOOKS / NOTEBOOK, jupyterlab.root / NOTEBOOK)
    nb = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4)
    teardown = next(i for i, c in enumerate(nb.cells) if "teardown" in c.metadata.get("tags", []))
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{jupyterlab.url}lab/tree/{NOTEBOOK}?reset&token={jupyterlab.token}")
    page.wait_for_function(KERNEL_IDLE, arg=NOTEBOOK, timeout=WAIT)
    page.evaluate(RUN_ABOVE, teardown)  # every cell the reader runs before stopping it
    page.wait_for_function(KERNEL_IDLE, arg=NOTEBOOK, timeout=WAIT)

    wizard = page.locator(".cav-wizard")
    expect(wizard).to_be_visible(timeout=WAIT)
    for key in STEP_KEYS:
        expect(page.locator(f".cav-status-{key} .cav-state-done")).to_be_attached(timeout=WAIT)
    # run_all() leaves step 4 open, with its slots and the busy-calendar note
    expect(page.locator(".cav-status-availability .cav-state-done")).to_be_visible()
    expect(page.locator(".cav-slots-table tbody tr").first).to_be_visible()
    week = page.locator(".cav-week-view")
    expect(week.locator("rect.bar.period")).to_have_count(2, timeout=WAIT)
    expect(week.locator("rect.bar.managed").first).to_be_attached()
    expect(page.locator(".cav-periods")).to_contain_text("Morning")
    expect(page.locator(".cav-periods")).to_contain_text("After lunch")
    # the printed output of the cell that added them
    stdout = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')
    expect(stdout.filter(has_text="Morning")).to_contain_text("slot(s) with managed")
    page.screenshot(path=str(artifacts / "notebook01-step4.png"))

    page.evaluate(RUN_ACTIVE, teardown)
    page.wait_for_function(KERNEL_IDLE, arg=NOTEBOOK, timeout=WAIT)
    expect(page.locator(".jp-OutputArea-output").filter(has_text="Traceback")).to_have_count(0)
    (artifacts / "notebook01-browser-seconds.txt").write_text(f"{time.monotonic() - began:.1f}\n")
