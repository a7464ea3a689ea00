"""The official Node SDK, ``cronofy`` from npm, against the emulator (``node_flows.js``).

The package is installed from the npm registry into ``.sdk/node`` (git-ignored) on first use.
Where the registry or Node cannot be reached the test is skipped with the reason, except in
CI (``CI`` set), where it fails: the SDK flows are part of ``make test``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fidelity.world import World

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".sdk" / "node"
PACKAGE = "cronofy@3.8.4"
"""Pinned: the fixtures in cases.py were read from this version's test suite."""
SCRIPT = Path(__file__).with_name("node_flows.js")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"cronofy-node must run in CI: {reason}")
    pytest.skip(f"{reason} (install: npm install --prefix .sdk/node {PACKAGE})")


async def _install() -> Path:
    modules = PREFIX / "node_modules"
    if (modules / "cronofy" / "package.json").exists():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _unavailable("node and npm are not installed")
    assert npm is not None
    PREFIX.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        npm,
        "install",
        "--prefix",
        str(PREFIX),
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        PACKAGE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        _unavailable(f"npm install {PACKAGE} failed: {output.decode(errors='replace')[-400:]}")
    return modules


async def test_cronofy_node_flows_against_the_emulator(world: World) -> None:
    modules = await _install()
    emu, account = world.emulator, world.account
    emu.state.page_size = 2  # three events: the script must follow next_page once
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        env={
            "PATH": os.environ.get("PATH", ""),
            "CRONOFY_NODE_MODULES": str(modules),
            "EMULATOR_URL": emu.base_url,
            "CLIENT_ID": emu.client_id,
            "CLIENT_SECRET": emu.client_secret,
            "ACCESS_TOKEN": account.access_token,
            "REFRESH_TOKEN": account.refresh_token,
            "PROFILE_ID": account.profile_id,
            "SUB": account.sub,
            "CALENDAR_ID": account.calendar_id,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode(errors="replace")
    out: dict[str, Any] = json.loads(stdout)
    sub = out["sub_calendar"]
    assert [p["profile_id"] for p in out["profiles"]] == [account.profile_id]
    assert account.calendar_id in [c["calendar_id"] for c in out["calendars"]]
    assert out["channel"]["filters"] == {"calendar_ids": [sub]}
    assert [c["channel_id"] for c in out["channels"]] == [out["channel"]["channel_id"]]
    starts = ["2026-11-25T09:00:00Z", "2026-11-26T09:00:00Z", "2026-11-27T09:00:00Z"]
    assert [e["start"] for e in out["events"]] == starts
    assert [p["start"] for p in out["periods"]] == starts
    assert out["periods_after_delete"] == 1  # two periods left: one page of two
    assert [(s["start"], s["end"]) for s in out["availability"]] == [
        ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"),
        ("2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"),
        ("2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z"),
        ("2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"),
    ]
    after = {e["event_uid"]: e for e in out["events_after"]}
    assert after[out["events"][0]["event_uid"]]["summary"] == "Renamed by cronofy-node"
    assert after[out["events"][1]["event_uid"]]["deleted"] is True
    assert [entry["status"] for entry in out["batch"]["batch"]] == [202, 422]
    assert out["batch"]["batch"][1]["data"]["errors"]["summary"][0]["key"] == "errors.required"
    assert out["userinfo"]["sub"] == account.sub
    assert out["account"]["account"]["account_id"] == account.account_id
    assert out["token"]["token_type"] == "bearer"
    assert out["profiles_after_refresh"] == 1  # the refreshed token works
