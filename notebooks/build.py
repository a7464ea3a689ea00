"""Derive the notebooks in this folder from their sources in ``notebooks/src/``.

The sources (Jupytext percent-format ``.py`` files, checked by ruff and mypy) are the only
hand-edited notebook files. Each ``.ipynb`` here is derived from one: stable cell ids
(``nb<nn>-<index>``), no outputs, only the cells' tags kept; ``04_exercises`` and
``04_solutions`` come from one source, leaving out its ``solution`` or ``exercise`` cells.

``python notebooks/build.py`` writes every notebook afresh (outputs gone: run it before
committing). ``--check`` compares the cells' sources and tags only, so a notebook that was run
and saved with its outputs still passes; ``tests/notebook/test_notebooks.py`` runs it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbformat import NotebookNode

_nbf: Any = nbformat  # untyped libraries: keep mypy --strict honest about them in one place
_jupytext: Any = jupytext

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


@dataclass(frozen=True)
class Target:
    name: str
    """The notebook's file name without ``.ipynb``."""
    source: str
    """Its source's file name in ``notebooks/src/`` without ``.py``."""
    ids: str
    """Cell ids are ``nb<ids>-<index>``."""
    leave_out: str | None = None
    """Cells with this tag are not in this notebook."""


TARGETS = [
    Target("01_walkthrough", "01_walkthrough", "01"),
    Target("02_under_the_hood", "02_under_the_hood", "02"),
    Target("03_live_with_real_cronofy", "03_live_with_real_cronofy", "03"),
    Target("04_exercises", "04_exercises", "04", leave_out="solution"),
    Target("04_solutions", "04_exercises", "04s", leave_out="exercise"),
]


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


def derive(target: Target, sources: Path = SOURCES) -> NotebookNode:
    path = sources / f"{target.source}.py"
    text = path.read_text(encoding="utf-8")
    # As Jupyter compiles a cell: await, async with and async for may stand at the top level
    # (mypy does not report those there; a SyntaxError elsewhere, e.g. in a def, is raised).
    compile(text, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    source = _jupytext.reads(text, fmt="py:percent")
    nb: NotebookNode = _nbf.v4.new_notebook(metadata=METADATA)
    kept = [c for c in source.cells if target.leave_out not in _tags(c)]
    for index, item in enumerate(kept):
        make = _nbf.v4.new_markdown_cell if item.cell_type == "markdown" else _nbf.v4.new_code_cell
        cell = make(item.source, id=f"nb{target.ids}-{index:02d}")
        if tags := _tags(item):
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    _nbf.validate(nb)
    return nb


def render(nb: NotebookNode) -> str:
    text: str = _nbf.writes(nb)
    return text + "\n"


def cells(nb: NotebookNode) -> list[tuple[str, str, str, list[str]]]:
    """What the check compares: each cell's type, id, source and tags (never outputs,
    execution counts or other metadata, which running and saving a notebook changes)."""
    return [(c.cell_type, c.get("id", ""), c.source, _tags(c)) for c in nb.cells]


def stale(folder: Path = HERE, sources: Path = SOURCES) -> list[str]:
    """What is wrong with the notebooks in ``folder`` (empty: each is what its source derives)."""
    names = {f"{t.name}.ipynb" for t in TARGETS}
    problems = [
        f"{p.name}: no source derives it (delete it, or add it to TARGETS)"
        for p in sorted(folder.glob("*.ipynb"))
        if p.name not in names
    ]
    for target in TARGETS:
        path = folder / f"{target.name}.ipynb"
        origin = f"notebooks/src/{target.source}.py"
        if not path.exists():
            problems.append(f"{path.name}: missing (derived from {origin})")
            continue
        want = cells(derive(target, sources))
        have = cells(_nbf.read(path, as_version=4))
        if have != want:
            at = next((w[1] for h, w in zip(have, want, strict=False) if h != w), None)
            where = f"cell {at}" if at else f"{len(have)} cells, {len(want)} expected"
            problems.append(f"{path.name}: differs from {origin} ({where})")
    return problems


def main(argv: list[str] | None = None, folder: Path = HERE, sources: Path = SOURCES) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare sources only; exit 1")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(folder, sources)
        for problem in problems:
            print(f"notebooks/{problem}: run python notebooks/build.py")
        return 1 if problems else 0
    for target in TARGETS:
        path = folder / f"{target.name}.ipynb"
        text = render(derive(target, sources))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"notebooks/{path.name}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
