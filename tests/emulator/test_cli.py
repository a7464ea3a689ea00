"""``cronofy-avail emulator`` as a real process: the JSON line, HTTP, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp

from cronofy_avail.cli.main import build_parser
from tests.support.emulator import WAIT, auth


async def _start(*extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cronofy_avail.cli.main",
        "emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        return await process.wait()


async def test_json_line_then_http_then_sigterm() -> None:
    process = await _start("--json", "--page-size", "2")
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT):
            line = await process.stdout.readline()
        info = json.loads(line)
        for key in (
            "base_url",
            "client_id",
            "client_secret",
            "access_token",
            "refresh_token",
            "sub",
            "profile_id",
        ):
            assert info[key], key
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert not info["base_url"].endswith(":0")
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{info['base_url']}/v1/profiles", headers=auth(info["access_token"])
            ) as r:
                assert r.status == 200
                assert (await r.json())["profiles"][0]["profile_id"] == info["profile_id"]
            async with http.get(f"{info['base_url']}/_emulator/settings") as r:
                assert (await r.json())["page_size"] == 2
    finally:
        code = await _stop(process)
    assert code == 0


async def test_human_output() -> None:
    process = await _start("--no-rate-limit")
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT):
            first = (await process.stdout.readline()).decode()
            lines = [first]
            while "Control API:" not in lines[-1]:
                lines.append((await process.stdout.readline()).decode())
    finally:
        code = await _stop(process)
    text = "".join(lines)
    assert first.startswith("Cronofy emulator running at http://127.0.0.1:")
    assert "client_secret:" in text
    assert "access_token:" in text
    assert "Control API:" in text
    assert code == 0


def test_parser_has_the_emulator_command() -> None:
    args = build_parser().parse_args(["emulator", "--port", "0", "--json"])
    assert (args.command, args.port, args.json, args.host) == ("emulator", 0, True, "127.0.0.1")


def test_own_changes_switch() -> None:
    from cronofy_avail.cli.emulator import config_from_args

    default = build_parser().parse_args(["emulator"])
    assert config_from_args(default).own_changes_count is False
    switched = build_parser().parse_args(["emulator", "--own-changes-count"])
    assert config_from_args(switched).own_changes_count is True
