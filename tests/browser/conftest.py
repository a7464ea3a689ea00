"""A real JupyterLab on 127.0.0.1 and Debian's Chromium driven by Playwright.

* ``jupyterlab`` (session): ``python -m jupyterlab`` on a free port in a temp root, with its
  config, runtime, data and settings dirs isolated and everything that calls home switched off.
  Its clock (and its kernels', under libfaketime) starts at 08:00 today in Europe/London, the
  wizard's zone: a drag onto today's column has the rest of the day ahead of it, whenever the
  test runs.
* ``browser`` (module, never session: while Playwright's sync API is open the main thread looks
  like it runs an event loop, which breaks later async tests), ``page`` (per test).

The browser is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it). Where it is missing
the tests skip with the install command; in CI (``CI`` set) they fail instead, so a missing
install step cannot pass green.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import pytest

from tests.support import instants
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    ZONE,
    Lab,
    missing,
    wait_for_server,
)


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pytest.importorskip("jupyterlab")
    base = tmp_path_factory.mktemp("lab")
    root, config, runtime, data = (base / n for n in ("root", "config", "runtime", "data"))
    for d in (root, config, runtime, data):
        d.mkdir()
    settings = base / "settings"
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "IdentityProvider": {"token": TOKEN},
                "ServerApp": {
                    "ip": "127.0.0.1",
                    "port": 0,
                    "open_browser": False,
                    "allow_root": True,
                    "root_dir": str(root),
                },
                "LabApp": {
                    "expose_app_in_browser": True,
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                    "user_settings_dir": str(settings),
                    "workspaces_dir": str(base / "workspaces"),
                },
            }
        )
    )
    lib = instants.libfaketime()
    if lib is None:
        missing("libfaketime is not installed", "apt-get update && apt-get install -y faketime")
    assert lib is not None
    today = datetime.now(ZONE).date()
    morning = instants.Instant("lab", datetime.combine(today, time_of_day(8), ZONE).astimezone(UTC))
    env = dict(
        instants.env_at(morning, lib),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_DATA_DIR=str(data),
    )
    log_path = base / "jupyterlab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield Lab(wait_for_server(proc, runtime, log_path), TOKEN, root, log_path, today)
        finally:
            proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # our own process group only
                proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev,notebook]')")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Screenshots kept after the run (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
