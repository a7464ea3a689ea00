"""The pure core must not pull in aiohttp or ipywidgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import cronofy_avail.models, cronofy_avail.signatures, cronofy_avail.errors
import cronofy_avail.hosts, cronofy_avail.retry, cronofy_avail.mapping, cronofy_avail.planner
import cronofy_avail.emulator.state, cronofy_avail.emulator.availability
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("aiohttp", "ipywidgets"))))
print(json.dumps("cronofy_avail.models" in sys.modules and "cronofy_avail.retry" in sys.modules))
"""


def test_pure_modules_do_not_import_io_libraries() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    leaked, imported = (json.loads(line) for line in result.stdout.splitlines())
    assert imported is True
    assert leaked == []


def test_the_check_can_fail() -> None:
    """The same probe sees aiohttp once the client is imported."""
    script = SCRIPT.replace(
        "import cronofy_avail.hosts", "import cronofy_avail.client, cronofy_avail.hosts"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    leaked = json.loads(result.stdout.splitlines()[0])
    assert "aiohttp" in leaked
