"""The README and the documentation site (``docs/``, ``mkdocs.yml``) hold to the code: every
Python block parses and its imports resolve, every ``cronofy-avail`` command line parses with
the CLI's own parser, every relative link and every path in the map of the packages exists, the
README stays short, and every page is in the site's navigation."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cronofy_avail.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
TEXTS = [ROOT / "README.md", *PAGES]
README_MAX_LINES = 250


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _blocks(language: str) -> list[tuple[str, str]]:
    """``(file, code)`` of every fenced block in that language, README and pages alike."""
    found: list[tuple[str, str]] = []
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        pattern = rf"^```{language}\n(.*?)^```"
        found += [(_name(path), code) for code in re.findall(pattern, text, flags=re.S | re.M)]
    return found


BLOCKS = _blocks("python")


def _tree(block: str) -> ast.Module:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(block, "<README>", "exec", flags=flags, dont_inherit=True)
    assert isinstance(tree, ast.Module)
    return tree


def test_the_readme_and_docs_have_python_examples() -> None:
    assert sum(1 for name, _ in BLOCKS if name == "README.md") >= 2
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize(
    ("where", "block"), BLOCKS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(BLOCKS)]
)
def test_every_python_block_parses_and_its_imports_resolve(where: str, block: str) -> None:
    imports = [
        ast.unparse(node)
        for node in ast.walk(_tree(block))
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    if not imports:
        pytest.skip("no import in this block")
    result = subprocess.run(  # noqa: S603 - our interpreter, the page's own import lines
        [sys.executable, "-c", "\n".join(imports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"{where}: {imports}\n{result.stderr}"


def _command_lines() -> list[tuple[str, list[str]]]:
    """``cronofy-avail …`` lines of the shell blocks (by path or by name), argv without it."""
    found: list[tuple[str, list[str]]] = []
    for where, block in _blocks("sh"):
        for line in block.splitlines():
            if not line.startswith(("cronofy-avail ", ".venv/bin/cronofy-avail ")):
                continue
            words = shlex.split(line, comments=True)
            if words[-1] == "&":
                words = words[:-1]
            found.append((where, words[1:]))
    return found


COMMANDS = _command_lines()


def test_the_docs_give_commands() -> None:
    assert len(COMMANDS) >= 40


def test_every_documented_command_line_parses() -> None:
    """A renamed command or option fails here, not on a reader's machine."""
    wrong: list[str] = []
    for where, argv in COMMANDS:
        parser = build_parser()
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code != 0:  # --help ends with 0
                wrong.append(f"{where}: cronofy-avail {shlex.join(argv)}\n{quiet.getvalue()}")
    assert not wrong, "\n".join(wrong)


def test_the_readme_and_docs_stand_alone() -> None:
    """A clone has no ../shared folder: nothing may point there."""
    for page in TEXTS:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text, page
        assert "shared/cronofy-api.md" not in text, page


def test_every_path_in_the_map_of_the_packages_exists() -> None:
    """The map promises only what is there (a row marked "(planned)" says it is not yet)."""
    packages = (DOCS / "reference" / "packages.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.-]+/[\w./-]*)` \|(.*)\|$", packages, flags=re.M)
    assert len(rows) >= 8
    for path, what in rows:
        if "(planned)" in what:
            continue
        assert (ROOT / path).exists(), f"the map names {path}, which does not exist"
    for folder in re.findall(r"^\s*(cronofy_avail/[\w/.]+|webhook_server/)", README, re.M):
        assert (ROOT / folder).exists(), f"the README's map names {folder}"


def test_every_relative_link_of_the_readme_exists() -> None:
    """The README's links into docs/ work on GitHub too (the site's own links, anchors
    included, are checked by ``mkdocs build --strict``)."""
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", README)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_the_readme_is_the_short_way_in() -> None:
    lines = README.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move reference to docs/"
    for section in ("## Quick start", "## The first hour", "## Notebooks", "## Running a workshop"):
        assert section in README


def _nav_pages() -> list[str]:
    """The pages ``mkdocs.yml``'s nav names (``Title: path.md`` entries)."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)$", nav, flags=re.M)


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = _nav_pages()
    pages = [str(page.relative_to(DOCS)) for page in PAGES]
    assert sorted(nav) == sorted(pages)
    assert len(nav) == len(set(nav)), "a page is twice in the nav"
    assert "api-contract.md" in nav  # the emulator's contract and house rules
