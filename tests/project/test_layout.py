"""The tests' own layout: a folder per package (``tests/core/``, ``tests/client/``, …), the
end-to-end journeys, the soak and the browser apart, and what tests share in
``tests/support/``. Little at the top of ``tests/`` (the package marker, the suite's
``conftest.py``), and no test module that depends on another one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MOST_AT_THE_TOP = 10


def test_few_python_files_at_the_top_of_tests() -> None:
    top = sorted(p.name for p in TESTS.glob("*.py"))
    assert len(top) <= MOST_AT_THE_TOP, f"tests/ holds {top}: move them into a package's folder"


def imports_in(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, as an absolute dotted name:
    relative imports resolved, and ``from a import b`` counted as ``a`` and as ``a.b`` (which
    may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return name.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_test_module_or_conftest_imports_another() -> None:
    """What test modules share lives in tests/support/: a test module that imports another
    test module (or a conftest) runs its fixtures and breaks with it."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if not (path.name.startswith("test_") or path.name == "conftest.py"):
            continue
        package = ".".join(path.relative_to(ROOT).parent.parts)
        imported = imports_in(path.read_text(encoding="utf-8"), package)
        offenders += [
            f"{path.relative_to(ROOT)}: {n}" for n in sorted(imported) if is_test_module(n)
        ]
    assert offenders == []


def test_the_import_check_sees_relative_and_absolute_imports() -> None:
    source = (
        "from .test_runner import add\n"
        "from ..conftest import pg_url\n"
        "from tests.browser import conftest\n"
        "import tests.cli.test_serve\n"
        "from tests.support.wait import until\n"
        "from . import helpers\n"
    )
    found = {n for n in imports_in(source, "tests.sync") if is_test_module(n)}
    assert found == {
        "tests.sync.test_runner",
        "tests.conftest",
        "tests.browser.conftest",
        "tests.cli.test_serve",
    }
