"""The browser tests' shared parts: where Chromium is, the JupyterLab they drive (its
fixtures are in ``tests/browser/conftest.py``), and the skip-or-fail of a missing browser."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get update && apt-get install -y chromium"
TOKEN = "browser-test-token"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


ZONE = ZoneInfo("Europe/London")
"""The wizard's default zone."""


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    today: date
    """Today in the lab (in :data:`ZONE`), whose clock starts at 08:00."""


def missing(reason: str, install: str = INSTALL) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: {install})")
    pytest.skip(f"{reason}: {install}")


KERNEL_IDLE = """(path) => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.context && w.context.path === path && w.sessionContext.session
            && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
"""A page function: the notebook at ``path`` is open and its kernel is idle."""


def wait_for_server(proc: subprocess.Popen[bytes], runtime: Path, log: Path) -> str:
    """The server's URL once it answers (the real port is in its runtime file)."""
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + 180
    url: str | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited; see {log}")
        if url is None and info.exists():
            try:
                url = str(json.loads(info.read_text())["url"])
            except ValueError:
                url = None  # half written
        if url is not None:
            try:
                urllib.request.urlopen(f"{url}api/status?token={TOKEN}", timeout=2)  # noqa: S310
                return url
            except OSError:
                pass
        time.sleep(0.25)  # polling a subprocess's start-up; no event to wait on
    raise TimeoutError(f"jupyter lab did not answer in 180 s; see {log}")
