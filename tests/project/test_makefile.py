"""The Makefile's set-up: each target installs only its extras, and a ``.venv`` left by a failed
first run is rebuilt rather than reused. Runs ``make`` on a copy of the Makefile (dry runs and
fast failures: nothing is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed (apt-get install make)")


def make(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(  # noqa: S603 - make, on a copy of our own Makefile
        [MAKE, "--no-print-directory", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_demo_installs_the_package_alone_and_test_the_extras(project: Path) -> None:
    demo = make(project, "-n", "demo")
    assert demo.returncode == 0, demo.stderr
    assert 'pip install --quiet -e "."' in demo.stdout
    assert "notebook" not in demo.stdout
    assert "jupyter" not in demo.stdout
    test = make(project, "-n", "pytest")
    assert 'pip install --quiet -e ".[dev,notebook,postgres]"' in test.stdout


def test_a_venv_without_a_usable_python_is_rebuilt(project: Path) -> None:
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed-base").touch()  # a stamp from the broken run must not be trusted
    broken = venv / "bin" / "python"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    result = make(project, "-n", "demo")
    assert ".venv is unusable (no Python 3.11+ with pip in it); rebuilding it" in result.stdout
    assert not venv.exists()
    assert "-m venv .venv" in result.stdout


def test_a_python_older_than_3_11_is_refused_before_any_venv(project: Path) -> None:
    old = project / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n")  # fails the version check as an old one would
    old.chmod(0o755)
    result = make(project, "demo", f"PYTHON={old}")
    assert result.returncode != 0
    assert f"make: {old} is not Python 3.11 or newer; run e.g. make PYTHON=python3.11" in (
        result.stderr
    )
    assert not (project / ".venv").exists()


def test_make_test_builds_the_docs_strictly_after_lint(project: Path) -> None:
    """``make test`` builds the documentation site with --strict (a broken link or a page
    missing from the nav fails it), into the git-ignored site/, after lint and before pytest."""
    result = make(project, "-n", "test")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    build = out.index("mkdocs build --strict")
    assert out.index("lint-imports") < build < out.index("-m pytest")
    assert "--site-dir site" in out
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "site/" in ignored
    assert "site_dir: site" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
