"""The README's Python examples: every block parses and every import in it resolves."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def _tree(block: str) -> ast.Module:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(block, "<README>", "exec", flags=flags, dont_inherit=True)
    assert isinstance(tree, ast.Module)
    return tree


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_readme_block_parses_and_its_imports_resolve(block: str) -> None:
    imports = [
        ast.unparse(node)
        for node in ast.walk(_tree(block))
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    if not imports:
        pytest.skip("no import in this block")
    result = subprocess.run(  # noqa: S603 - our interpreter, the README's own import lines
        [sys.executable, "-c", "\n".join(imports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"{imports}\n{result.stderr}"


def test_the_readme_and_docs_stand_alone() -> None:
    """A clone has no ../shared folder: nothing may point there."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text, page
        assert "shared/cronofy-api.md" not in text, page


def test_every_path_in_the_map_of_the_packages_exists() -> None:
    """The README promises only what is there (a row marked "(planned)" says it is not yet)."""
    rows = re.findall(r"^\| `([\w.-]+/[\w./-]*)` \|(.*)\|$", README, flags=re.M)
    assert len(rows) >= 8
    for path, what in rows:
        if "(planned)" in what:
            continue
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"
    for link in re.findall(r"\]\(((?!https?:)[^)#]+)\)", README):
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
