"""The README's wizard cell, run as written (top-level await, as in a kernel)."""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


async def test_the_readme_cell_runs_the_wizard_through() -> None:
    section = README.split("### The wizard", 1)[1]
    match = re.search(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert match is not None
    code = compile(
        match.group(1),
        "<README>",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    namespace: dict[str, Any] = {}
    result = eval(code, namespace)  # noqa: S307 - the README's own example
    if isinstance(result, types.CoroutineType):
        await result
    wizard = namespace["wizard"]
    try:
        assert wizard.controller.ok
        assert wizard.week_svg().startswith("<svg")
    finally:
        await wizard.shutdown()
