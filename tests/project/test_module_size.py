"""The notebook package in modules small enough to read at once (issue 23): no module under
``cronofy_avail/notebook/`` over about 400 lines. A wizard that grows gets a module of its own
for the new part (a backend, a panel, a step), not a longer controller or view."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "cronofy_avail" / "notebook"
MOST_LINES = 400

STILL_LONGER: dict[str, int] = {}
"""Modules not yet down to :data:`MOST_LINES`, with the most lines they may have (the figures
only go down): none left."""


def lines_of(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_notebook_module_over_400_lines() -> None:
    too_long = {
        path.name: lines_of(path)
        for path in sorted(NOTEBOOK.rglob("*.py"))
        if lines_of(path) > STILL_LONGER.get(path.name, MOST_LINES)
    }
    assert too_long == {}, f"split these (at most {MOST_LINES} lines a module): {too_long}"
