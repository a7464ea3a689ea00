"""Run ``cronofy-avail`` the way a user does: the installed console script in a child process,
a clean ``HOME`` and an empty working directory, configured by environment variables only.

Async, so an emulator can serve from the test's own event loop meanwhile. A test module uses
the fixture ``shell`` (a fresh user's terminal under the test's ``tmp_path``) by importing it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.instants import FAKED

SCRIPT = Path(sys.executable).with_name("cronofy-avail")
CHECKOUT = Path(__file__).resolve().parents[2]
"""The project these tests belong to: the child imports its code, not that of whichever
checkout the environment's editable install points at (a git worktree shares the ``.venv``)."""
TIMEOUT = 60.0


@dataclass
class UserShell:
    """A user's terminal: ``HOME``, a working directory, and the exported variables."""

    root: Path
    exported: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cwd(self) -> Path:
        return self.root / "work"

    def environ(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(CHECKOUT),
        }
        # The machine's clock, not configuration: under tests/support/instants.py the CLI runs at
        # the tests' instant.
        if "FAKETIME" in os.environ:
            env.update({k: os.environ[k] for k in FAKED if k in os.environ})
        env.update(self.exported)
        env.update(extra)
        return env

    async def run(self, *argv: str, within: float = TIMEOUT, **extra: str) -> tuple[int, str]:
        """``cronofy-avail ARGV``: the exit code and stdout+stderr together."""
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            *argv,
            cwd=self.cwd,
            env=self.environ(**extra),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(within):
                output, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode is not None
        return process.returncode, output.decode("utf-8", "replace")


@pytest.fixture
def shell(tmp_path: Path) -> UserShell:
    """A fresh user's terminal: ``HOME`` and working directory under the test's ``tmp_path``."""
    return UserShell(tmp_path)
