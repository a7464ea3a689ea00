"""The architecture is a contract (``[tool.importlinter]`` in ``pyproject.toml``), checked by
import-linter in ``make test``; these tests show that the check runs and that it can fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():  # pragma: no cover - the dev extra installs it
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (make test does)")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(  # noqa: S603 - our own venv's tool on our own tree
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("cronofy_avail", "webhook_server"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_layering_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        # An upward import: the pure core reaching for the runtime.
        (
            "cronofy_avail/core/hosts.py",
            "import cronofy_avail.runtime.store",
            "Layers: each imports only the layers below it BROKEN",
        ),
        # One edge importing a sibling edge.
        (
            "cronofy_avail/emulator/config.py",
            "import webhook_server",
            "Layers: each imports only the layers below it BROKEN",
        ),
        # The core pulling in an I/O library.
        (
            "cronofy_avail/core/retry.py",
            "import aiohttp",
            "The core is pure: no aiohttp, no widgets, no I/O frameworks BROKEN",
        ),
        # The client's decision reaching for the HTTP library it must stay free of.
        (
            "cronofy_avail/client/decide.py",
            "import aiohttp",
            "The client's answer decision is pure: plain values in, a decision out BROKEN",
        ),
        # The composition root parsing a command line (argparse belongs to cli/).
        (
            "cronofy_avail/app/system.py",
            "import argparse",
            "The app shell builds and configures; it parses no command line BROKEN",
        ),
        # A real-Cronofy command probing the emulator.
        (
            "cronofy_avail/cli/serve.py",
            "import cronofy_avail.emulator.control_client",
            "The real-Cronofy commands know no emulator BROKEN",
        ),
        # Two modules of one package importing each other.
        (
            "cronofy_avail/core/models.py",
            "import cronofy_avail.core.mapping",
            "No import cycles between the modules of a package BROKEN",
        ),
    ],
)
def test_a_deliberate_violation_fails_naming_the_contract(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{statement}  # deliberate violation\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert contract in result.stdout, result.stdout


PROBE = """
import json, sys
import cronofy_avail
heavy = sorted(
    m for m in sys.modules if m.split(".")[0] in ("aiohttp", "ipywidgets", "anywidget", "IPython")
)
print(json.dumps(heavy))
from cronofy_avail import CronofyClient, Emulator, MemoryStore, Playground, SQLiteStore
from cronofy_avail import create_channel, create_sub_calendar, query_availability
from cronofy_avail import SyncEngine, verify_notification
print(json.dumps(sorted(cronofy_avail.__all__)))
"""


def test_import_cronofy_avail_stays_light_and_the_public_face_resolves() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    heavy, names = (json.loads(line) for line in result.stdout.splitlines())
    assert heavy == []
    assert {"Playground", "CronofyClient", "verify_notification", "SQLiteStore"} <= set(names)


def test_the_wizard_controller_imports_no_widget_library() -> None:
    """Its models are ``traitlets`` (the views observe them), which is no widget library:
    the controller still runs, and is tested, without ipywidgets, anywidget or IPython."""
    probe = (
        "import sys, cronofy_avail.notebook.controller\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ipywidgets', 'anywidget', 'IPython')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_an_unknown_public_name_is_an_attribute_error() -> None:
    import cronofy_avail

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = cronofy_avail.Nope
